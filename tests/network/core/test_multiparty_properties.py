"""Hypothesis properties of the discussion and workflow adapters, through the real
``SessionMachine`` (the one place the live hub and recovery check and fold envelopes).

For random envelope sequences (and, for workflow, random transition graphs built from
every built-in target and condition, naming participants, outsiders and ghosts):

(a) checking and applying never raises anything but a ``NetworkError`` subclass (and
    ``apply`` of an admitted envelope never raises);
(b) replaying the admitted log through a fresh machine gives exactly the live state;
(c) once the adapter decided to close, the session accepts nothing;
(d) while the session is open, exactly the expected speaker may speak, and it is a
    participant (someone is always allowed to speak);
plus per adapter: discussion's turn count equals the admitted texts and the speakers
follow the rotation; a workflow's context equals the fold of its context writes.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hubbub.network.adapters import DiscussionAdapter, WorkflowAdapter
from hubbub.network.envelope import (
    EV_CONTEXT_SET,
    EV_PACKET,
    EV_TASK_STARTED,
    EV_TEXT,
    EV_TURN_FAILED,
    Envelope,
)
from hubbub.network.errors import NetworkError
from hubbub.network.machine import SessionMachine
from hubbub.network.session import Participant, ParticipantRole, SessionMetadata, SessionState
from hubbub.network.transitions import (
    AgentTarget,
    Always,
    ContextEquals,
    FromSpeaker,
    RevertToInitiatorTarget,
    RoundRobinTarget,
    StayTarget,
    TerminateTarget,
    ToolCalled,
    Transition,
    TransitionGraph,
)

SESSION = "s-1"
PEOPLE = ("p0", "p1", "p2", "p3", "p4")
OUTSIDER = "mallory"
GHOST = "ghost"
NOW = "2026-01-01T00:00:00+00:00"
TOOLS = ("t1", "t2", "t3")
KEYS = ("k1", "k2")

json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["a", "b"]))


def metadata(adapter: Any, n: int, knobs: dict[str, Any] | None = None) -> SessionMetadata:
    ids = PEOPLE[:n]
    return SessionMetadata(
        session_id=SESSION,
        manifest=adapter.manifest,
        creator_id=ids[0],
        participants=[
            Participant(
                pid, ParticipantRole.INITIATOR if i == 0 else ParticipantRole.PARTICIPANT, i
            )
            for i, pid in enumerate(ids)
        ],
        state=SessionState.ACTIVE,
        created_at=NOW,
        knobs=knobs or {},
    )


def names(n: int) -> st.SearchStrategy[str]:
    return st.sampled_from((*PEOPLE[:n], OUTSIDER, GHOST))


def targets(n: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(AgentTarget, names(n)),
        st.just(RoundRobinTarget()),
        st.just(StayTarget()),
        st.just(RevertToInitiatorTarget()),
        st.builds(TerminateTarget, st.sampled_from(["done", "after_work", ""])),
    )


def conditions(n: int) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.just(Always()),
        st.builds(FromSpeaker, names(n)),
        st.builds(ToolCalled, st.sampled_from(TOOLS)),
        st.builds(ContextEquals, st.sampled_from(KEYS), json_scalar),
    )


def graphs(n: int) -> st.SearchStrategy[TransitionGraph]:
    return st.builds(
        TransitionGraph,
        names(n),
        st.lists(st.builds(Transition, conditions(n), targets(n), st.integers(-2, 2)), max_size=5),
        targets(n),
        st.one_of(st.none(), st.integers(1, 8)),
    )


def envelopes(n: int) -> st.SearchStrategy[Envelope]:
    sender = names(n)
    routing = st.one_of(
        st.just({"kind": "text"}),
        st.fixed_dictionaries(
            {"kind": st.just("handoff")},
            optional={"tool": st.sampled_from(TOOLS), "target": names(n), "reason": st.just("r")},
        ),
        st.just({"kind": "warp"}),
        st.just("routing"),
    )
    updates = st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "set": st.dictionaries(st.sampled_from(KEYS), json_scalar, max_size=2),
                "delete": st.lists(st.sampled_from(KEYS), max_size=2),
            },
        ),
        st.just({"set": [1]}),
        st.just({"delete": "k1"}),
    )
    text = st.builds(lambda s: Envelope(SESSION, s, None, EV_TEXT, {"text": "hi"}), sender)
    pkt = st.builds(
        lambda s, r, u, b: Envelope(
            SESSION, s, None, EV_PACKET, {"routing": r, "context_updates": u, "body": b}
        ),
        sender,
        routing,
        updates,
        st.one_of(st.just(""), st.just("body"), st.just(3)),
    )
    ctx = st.builds(lambda s, u: Envelope(SESSION, s, [], EV_CONTEXT_SET, u), sender, updates)
    other = st.builds(
        lambda s, et, d: Envelope(SESSION, s, None, et, d),
        sender,
        st.sampled_from([EV_TURN_FAILED, EV_TASK_STARTED, "custom.event"]),
        st.sampled_from([{}, {"code": "x", "message": "m"}, {"code": 1}]),
    )
    return st.one_of(text, text, pkt, pkt, ctx, other)


def run(adapter_cls: type, meta: SessionMetadata, envs: list[Envelope]) -> dict[str, Any]:
    """Drive a machine through ``envs``; check (a), (c), (d) on the way; return what happened."""
    machine = SessionMachine(meta, adapter_cls())
    admitted: list[Envelope] = []
    decided_at: int | None = None
    for env in envs:
        _check_speaker_invariant(machine, decided_at is not None)
        try:
            machine.check(env)
        except NetworkError:
            continue  # (a): refusals are network errors; anything else fails the test
        assert decided_at is None, "(c) a closed session admitted an envelope"
        stamped = machine.stamp(env, f"e{len(admitted) + 1}", NOW)
        decision = machine.apply(stamped)
        admitted.append(stamped)
        if decision is not None:
            decided_at = len(admitted)
    _check_speaker_invariant(machine, decided_at is not None)
    # (b) replay equals live
    replayed = SessionMachine(meta.copy(), adapter_cls())
    for env in admitted:
        replayed.apply(env)
    assert replayed.state == machine.state
    assert replayed.closing == machine.closing
    return {"machine": machine, "admitted": admitted, "decided_at": decided_at}


def _check_speaker_invariant(machine: SessionMachine, decided: bool) -> None:
    state = machine.state
    expected = state.expected_next_speaker
    if decided:
        probe = Envelope(SESSION, machine.pids[0], None, EV_TEXT, {"text": ""})
        try:
            machine.check(probe)
        except NetworkError:
            return
        raise AssertionError("(c) a closed session would admit a text")
    assert expected in machine.pids, f"(d) expected speaker {expected!r} is not a participant"
    for pid in machine.pids:
        probe = Envelope(SESSION, pid, None, EV_TEXT, {"text": ""})
        try:
            machine.check(probe)
            allowed = True
        except NetworkError:
            allowed = False
        assert allowed == (pid == expected), f"(d) {pid} allowed={allowed}, expected {expected}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(2, 5).flatmap(lambda n: st.tuples(st.just(n), st.lists(envelopes(n), max_size=30)))
)
def test_discussion_properties(case: tuple[int, list[Envelope]]) -> None:
    n, envs = case
    meta = metadata(DiscussionAdapter(), n)
    out = run(DiscussionAdapter, meta, envs)
    admitted_texts = [e for e in out["admitted"] if e.event_type == EV_TEXT]
    state = out["machine"].state
    assert out["decided_at"] is None  # a discussion never closes itself
    assert state.turn_count == len(admitted_texts)
    order = list(PEOPLE[:n])
    assert [e.sender_id for e in admitted_texts] == [
        order[i % n] for i in range(len(admitted_texts))
    ]


def _fold_context(initial: dict[str, Any], admitted: list[Envelope]) -> dict[str, Any]:
    context = dict(initial)
    for env in admitted:
        if env.event_type == EV_CONTEXT_SET:
            data = env.event_data
        elif env.event_type == EV_PACKET:
            data = env.event_data.get("context_updates") or {}
        else:
            continue
        for k in data.get("delete", []):
            context.pop(k, None)
        context.update(data.get("set", {}))
    return context


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(2, 5).flatmap(
        lambda n: st.tuples(
            st.just(n),
            graphs(n),
            st.dictionaries(st.sampled_from(KEYS), json_scalar, max_size=2),
            st.lists(envelopes(n), max_size=30),
        )
    )
)
def test_workflow_properties_on_random_graphs(
    case: tuple[int, TransitionGraph, dict[str, Any], list[Envelope]],
) -> None:
    n, graph, context, envs = case
    adapter = WorkflowAdapter()
    meta = metadata(adapter, n, {"graph": graph.to_dict(), "context_vars": context})
    try:
        adapter.validate_create(meta)
    except NetworkError:
        assume(False)  # refused at open (a non-participant in the graph): nothing to run
    out = run(WorkflowAdapter, meta, envs)
    state = out["machine"].state
    turns = [e for e in out["admitted"] if e.event_type in (EV_TEXT, EV_PACKET)]
    assert state.turn_count == len(turns)
    assert state.context_vars == _fold_context(context, out["admitted"])
    if out["decided_at"] is not None and graph.max_turns is not None:
        assert len(turns) <= graph.max_turns


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 5).flatmap(lambda n: st.tuples(st.just(n), graphs(n))))
def test_validate_create_accepts_exactly_graphs_naming_participants(
    case: tuple[int, TransitionGraph],
) -> None:
    n, graph = case
    adapter = WorkflowAdapter()
    meta = metadata(adapter, n, {"graph": graph.to_dict()})
    members = set(PEOPLE[:n])
    named = {graph.initial_speaker}
    named |= {t.then.agent_id for t in graph.transitions if isinstance(t.then, AgentTarget)}
    if isinstance(graph.default_target, AgentTarget):
        named.add(graph.default_target.agent_id)
    try:
        adapter.validate_create(meta)
        ok = True
    except NetworkError:
        ok = False
    assert ok == (named <= members)


json_value = st.recursive(
    json_scalar | st.sampled_from([*PEOPLE, OUTSIDER]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
part_names = st.sampled_from(
    ["agent", "round_robin", "stay", "revert_to_initiator", "terminate", "always",
     "from_speaker", "tool_called", "context_equals", "nope"]
)  # fmt: skip
raw_part = st.one_of(
    json_value,
    st.fixed_dictionaries(
        {"name": part_names},
        optional={
            "args": st.one_of(
                json_value,
                st.dictionaries(
                    st.sampled_from(["agent_id", "reason", "tool_name", "key", "value", "x"]),
                    json_value,
                    max_size=2,
                ),
            )
        },
    ),
)
raw_graph = st.one_of(
    json_value,
    st.fixed_dictionaries(
        {"initial_speaker": json_value},
        optional={
            "transitions": st.one_of(
                json_value,
                st.lists(
                    st.fixed_dictionaries(
                        {"when": raw_part, "then": raw_part},
                        optional={"priority": json_value},
                    ),
                    max_size=4,
                ),
            ),
            "default_target": raw_part,
            "max_turns": json_value,
        },
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_graph, st.lists(envelopes(3), max_size=12))
def test_any_graph_data_is_refused_with_a_network_error_or_runs(
    data: Any, envs: list[Envelope]
) -> None:
    adapter = WorkflowAdapter()
    meta = metadata(adapter, 3, {"graph": data})
    try:
        adapter.validate_create(meta)
    except NetworkError:
        return
    run(WorkflowAdapter, meta, envs)
