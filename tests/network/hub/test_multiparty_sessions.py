"""Discussion and workflow sessions on a real hub (spec §10.5, §10.6, §11.7, §11.8, §29.1
items 11–16), driven by raw peers posting by hand; hydrate on SQLite; turn_within with a
mock clock."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hubbub.knowledge import SqliteKnowledgeStore
from hubbub.network import (
    EV_CONTEXT_SET,
    EV_EXPECTATION_VIOLATED,
    EV_PACKET,
    EV_TEXT,
    AgentTarget,
    Always,
    ContextEquals,
    DiscussionState,
    Envelope,
    FromSpeaker,
    Hub,
    InvalidValueError,
    MockClock,
    ProtocolError,
    RevertToInitiatorTarget,
    SessionState,
    TerminateTarget,
    ToolCalled,
    Transition,
    TransitionDecision,
    TransitionGraph,
    WorkflowGraphError,
    WorkflowState,
    register_target,
)
from hubbub.network.hub.audit import AUDIT_KIND_EXPECTATION_VIOLATED


def packet(
    session_id: str,
    sender: str,
    *,
    tool: str | None = None,
    target: str | None = None,
    body: str = "",
    set_: dict[str, Any] | None = None,
) -> Envelope:
    routing: dict[str, Any] = {"kind": "text"}
    if tool is not None or target is not None:
        routing = {"kind": "handoff"}
        if tool is not None:
            routing["tool"] = tool
        if target is not None:
            routing["target"] = target
    return Envelope(
        session_id,
        sender,
        None,
        EV_PACKET,
        {"routing": routing, "context_updates": {"set": set_ or {}, "delete": []}, "body": body},
    )


async def three(peers: Any, *names: str) -> list[Any]:
    return [await peers(n) for n in (names or ("alice", "bob", "carol"))]


async def workflow(hub: Hub, peers: Any, graph_of: Any, names: tuple[str, ...] = ()) -> Any:
    ps = await three(peers, *names)
    ids = [p.agent_id for p in ps]
    graph = graph_of(*ids)
    meta = await hub.create_session(
        creator_id=ids[0],
        manifest_type="workflow",
        participants=ids[1:],
        knobs={"graph": graph.to_dict() if isinstance(graph, TransitionGraph) else graph},
    )
    return ps, meta.session_id


# --------------------------------------------------------------------------- item 7


async def test_hub_open_registers_the_four_built_in_adapters(hub: Hub) -> None:
    types = set(hub.adapters())
    assert {("consulting", 1), ("conversation", 1), ("discussion", 1), ("workflow", 1)} <= types


# --------------------------------------------------------------------------- discussion


async def test_discussion_rotates_from_the_creator_and_refuses_out_of_turn(
    hub: Hub, peers: Any
) -> None:
    a, b, c = await three(peers)
    meta = await hub.create_session(
        creator_id=a.agent_id, manifest_type="discussion", participants=[b.agent_id, c.agent_id]
    )
    sid = meta.session_id
    st = hub.adapter_state(sid)
    assert isinstance(st, DiscussionState)
    assert st.participant_order == (a.agent_id, b.agent_id, c.agent_id)
    assert st.expected_next_speaker == a.agent_id
    with pytest.raises(ProtocolError, match=f"expects {a.agent_id} to speak, got {b.agent_id}"):
        await b.send(sid, "me first")
    for p in (a, b, c, a):
        await p.send(sid, f"{p.name} speaks")
    st = hub.adapter_state(sid)
    assert st.expected_next_speaker == b.agent_id
    assert st.turn_count == 4
    assert st.last_speaker_id == a.agent_id
    assert hub.can_send(sid, b.agent_id) and not hub.can_send(sid, c.agent_id)
    assert (await hub.get_session(sid)).state is SessionState.ACTIVE


async def test_discussion_ordering_knob(hub: Hub, peers: Any) -> None:
    a, b, c = await three(peers)
    await hub.create_session(
        creator_id=a.agent_id,
        manifest_type="discussion",
        participants=[b.agent_id],
        knobs={"ordering": "round_robin"},
    )
    with pytest.raises(ProtocolError, match=r"knobs.ordering must be 'round_robin', got 'random'"):
        await hub.create_session(
            creator_id=a.agent_id,
            manifest_type="discussion",
            participants=[b.agent_id],
            knobs={"ordering": "random"},
        )


async def test_discussion_needs_two_participants(hub: Hub, peers: Any) -> None:
    (a,) = await three(peers, "alice")
    with pytest.raises(InvalidValueError, match="participants"):
        await hub.create_session(creator_id=a.agent_id, manifest_type="discussion", participants=[])


# --------------------------------------------------------------------------- item 11


async def test_workflow_round_robin_cycles_back_and_refuses_out_of_turn(
    hub: Hub, peers: Any
) -> None:
    (a, b, c), sid = await workflow(hub, peers, lambda *ids: TransitionGraph.round_robin(ids))
    assert hub.adapter_state(sid).expected_next_speaker == a.agent_id
    await a.send(sid, "one")
    await b.send(sid, "two")
    await c.send(sid, "three")
    st = hub.adapter_state(sid)
    assert st.expected_next_speaker == a.agent_id
    assert st.turn_count == 3
    with pytest.raises(ProtocolError, match=f"expects {a.agent_id} to speak, got {c.agent_id}"):
        await c.send(sid, "again")


async def test_workflow_round_robin_max_turns_closes(hub: Hub, peers: Any) -> None:
    (a, b, c), sid = await workflow(
        hub, peers, lambda *ids: TransitionGraph.round_robin(ids, max_turns=4)
    )
    for p in (a, b, c, a):
        await p.send(sid, "x")
    meta = await hub.get_session(sid)
    assert meta.state is SessionState.CLOSED
    assert meta.close_reason == "max_turns"
    with pytest.raises(ProtocolError):
        await b.send(sid, "late")


# --------------------------------------------------------------------------- item 12


async def test_workflow_sequence_closes_with_sequence_complete(hub: Hub, peers: Any) -> None:
    (a, b, c), sid = await workflow(hub, peers, TransitionGraph.sequence)
    await a.send(sid, "research")
    await b.send(sid, "write")
    assert hub.adapter_state(sid).expected_next_speaker == c.agent_id
    await c.send(sid, "edit")
    meta = await hub.get_session(sid)
    assert meta.state is SessionState.CLOSED
    assert meta.close_reason == "sequence_complete"


# --------------------------------------------------------------------------- item 13


async def test_swarm_tool_routed_packet_then_revert_to_initiator(hub: Hub, peers: Any) -> None:
    def graph(triage: str, eng: str, _: str) -> TransitionGraph:
        return TransitionGraph(
            triage,
            [
                Transition(ToolCalled("transfer_to_eng"), AgentTarget(eng)),
                Transition(FromSpeaker(eng), RevertToInitiatorTarget()),
            ],
        )

    (triage, eng, _), sid = await workflow(hub, peers, graph, ("triage", "eng", "sales"))
    await triage.connection.post(packet(sid, triage.agent_id, tool="transfer_to_eng"))
    assert hub.adapter_state(sid).expected_next_speaker == eng.agent_id
    await eng.send(sid, "fixed it")
    assert hub.adapter_state(sid).expected_next_speaker == triage.agent_id
    meta = await hub.close_session(sid, reason="triage_done")
    assert meta.state is SessionState.CLOSED
    assert meta.close_reason == "triage_done"


# --------------------------------------------------------------------------- item 14


async def test_manager_pattern_routes_by_tool_and_reverts(hub: Hub, peers: Any) -> None:
    def graph(mgr: str, alice: str, bob: str) -> TransitionGraph:
        return TransitionGraph(
            mgr,
            [
                Transition(ToolCalled("ask_alice"), AgentTarget(alice)),
                Transition(ToolCalled("ask_bob"), AgentTarget(bob)),
            ],
            default_target=RevertToInitiatorTarget(),
        )

    (mgr, alice, bob), sid = await workflow(hub, peers, graph, ("mgr", "alice", "bob"))
    seen = []
    await mgr.connection.post(packet(sid, mgr.agent_id, tool="ask_alice"))
    seen.append(hub.adapter_state(sid).expected_next_speaker)
    await alice.send(sid, "alice's part")
    seen.append(hub.adapter_state(sid).expected_next_speaker)
    await mgr.connection.post(packet(sid, mgr.agent_id, tool="ask_bob"))
    seen.append(hub.adapter_state(sid).expected_next_speaker)
    await bob.send(sid, "bob's part")
    seen.append(hub.adapter_state(sid).expected_next_speaker)
    assert seen == [alice.agent_id, mgr.agent_id, bob.agent_id, mgr.agent_id]


# --------------------------------------------------------------------------- handoffs


async def test_a_handoff_beats_the_graph(hub: Hub, peers: Any) -> None:
    (a, b, c), sid = await workflow(hub, peers, TransitionGraph.sequence)
    await a.connection.post(packet(sid, a.agent_id, tool="escalate", target=c.agent_id))
    assert hub.adapter_state(sid).expected_next_speaker == c.agent_id


async def test_a_handoff_to_a_non_participant_is_refused_at_send_and_the_turn_stays(
    hub: Hub, peers: Any
) -> None:
    (a, b, c), sid = await workflow(hub, peers, TransitionGraph.sequence)
    outsider = await peers("outsider")
    before = len(await hub.read_wal(sid))
    for target in (outsider.agent_id, "no-such-name"):
        with pytest.raises(ProtocolError, match=f"handoff target '{target}'"):
            await a.connection.post(packet(sid, a.agent_id, tool="go", target=target))
    assert len(await hub.read_wal(sid)) == before
    assert hub.adapter_state(sid).expected_next_speaker == a.agent_id
    assert hub.can_send(sid, a.agent_id)
    await a.send(sid, "fine, normally")
    assert hub.adapter_state(sid).expected_next_speaker == b.agent_id


async def test_malformed_packets_are_refused_naming_the_field(hub: Hub, peers: Any) -> None:
    (a, _, _), sid = await workflow(hub, peers, TransitionGraph.sequence)
    for data, field in [
        ({"routing": "x"}, "event_data.routing"),
        ({"routing": {"kind": "teleport"}}, "event_data.routing"),
        ({"routing": {"kind": "handoff", "target": 3}}, "event_data.routing.target"),
        ({"routing": {"kind": "text"}, "body": 5}, "event_data.body"),
        ({"routing": {"kind": "text"}, "context_updates": []}, "event_data.context_updates"),
        (
            {"routing": {"kind": "text"}, "context_updates": {"set": [], "delete": []}},
            "event_data.context_updates.set",
        ),
    ]:
        with pytest.raises(ProtocolError, match=field) as info:
            await a.connection.post(Envelope(sid, a.agent_id, None, EV_PACKET, data))
        assert info.value.code == "bad_envelope"


# --------------------------------------------------------------------------- context variables


async def test_context_vars_from_knobs_context_set_and_packets(hub: Hub, peers: Any) -> None:
    a, b, c = await three(peers, "triage", "security", "general")
    graph = TransitionGraph(
        a.agent_id,
        [
            Transition(ContextEquals("route", "security"), AgentTarget(b.agent_id)),
            Transition(ContextEquals("route", "general"), AgentTarget(c.agent_id)),
            Transition(ContextEquals("done", True), TerminateTarget("resolved"), priority=-1),
        ],
    )
    meta = await hub.create_session(
        creator_id=a.agent_id,
        manifest_type="workflow",
        participants=[b.agent_id, c.agent_id],
        knobs={"graph": graph.to_dict(), "context_vars": {"queue": ["x"]}},
    )
    sid = meta.session_id
    assert hub.adapter_state(sid).context_vars == {"queue": ["x"]}
    # anyone may write context, at any time; it is not a turn
    await c.connection.post(
        Envelope(
            sid, c.agent_id, [], EV_CONTEXT_SET, {"set": {"route": "security"}, "delete": ["queue"]}
        )
    )
    st = hub.adapter_state(sid)
    assert st.context_vars == {"route": "security"}
    assert st.turn_count == 0 and st.expected_next_speaker == a.agent_id
    await a.send(sid, "routing")
    assert hub.adapter_state(sid).expected_next_speaker == b.agent_id
    # a packet's context updates are applied before the graph decides
    await b.connection.post(packet(sid, b.agent_id, body="handled", set_={"route": "general"}))
    st = hub.adapter_state(sid)
    assert st.context_vars["route"] == "general"
    assert st.expected_next_speaker == c.agent_id
    await c.connection.post(packet(sid, c.agent_id, body="done", set_={"done": True}))
    meta = await hub.get_session(sid)
    assert meta.state is SessionState.CLOSED and meta.close_reason == "resolved"


async def test_context_set_from_an_outsider_or_malformed_is_refused(hub: Hub, peers: Any) -> None:
    (a, _, _), sid = await workflow(hub, peers, TransitionGraph.sequence)
    with pytest.raises(ProtocolError, match=r"event_data.delete"):
        await a.connection.post(Envelope(sid, a.agent_id, [], EV_CONTEXT_SET, {"delete": "k"}))
    with pytest.raises(ProtocolError, match=r"event_data.set"):
        await a.connection.post(Envelope(sid, a.agent_id, [], EV_CONTEXT_SET, {"set": 1}))


# --------------------------------------------------------------------------- item 16 and bad graphs


async def test_workflow_without_a_graph_is_refused(hub: Hub, peers: Any) -> None:
    a, b = await three(peers, "alice", "bob")
    with pytest.raises(ProtocolError, match="graph"):
        await hub.create_session(
            creator_id=a.agent_id, manifest_type="workflow", participants=[b.agent_id], knobs={}
        )


@pytest.mark.parametrize(
    ("graph_of", "field"),
    [
        (lambda a, b: {"initial_speaker": a, "transitions": 1}, "graph.transitions"),
        (lambda a, b: {"initial_speaker": "ghost"}, "graph.initial_speaker 'ghost'"),
        (
            lambda a, b: TransitionGraph(
                a, [Transition(FromSpeaker(a), AgentTarget("ghost"))]
            ).to_dict(),
            r"graph.transitions\[0\].then.args.agent_id 'ghost'",
        ),
        (
            lambda a, b: {
                "initial_speaker": a,
                "default_target": {"name": "agent", "args": {"agent_id": "x"}},
            },
            "graph.default_target.args.agent_id 'x'",
        ),
        (
            lambda a, b: {"initial_speaker": a, "default_target": {"name": "wormhole"}},
            "no transition target registered for 'wormhole'",
        ),
    ],
)
async def test_a_bad_graph_is_refused_at_open_with_workflow_graph_error(
    hub: Hub, peers: Any, graph_of: Any, field: str
) -> None:
    a, b = await three(peers, "alice", "bob")
    with pytest.raises(WorkflowGraphError, match=field) as info:
        await hub.create_session(
            creator_id=a.agent_id,
            manifest_type="workflow",
            participants=[b.agent_id],
            knobs={"graph": graph_of(a.agent_id, b.agent_id)},
        )
    assert info.value.code == "bad_graph"
    assert "invalid workflow graph" in str(info.value)


async def test_context_vars_knob_must_be_an_object(hub: Hub, peers: Any) -> None:
    a, b = await three(peers, "alice", "bob")
    with pytest.raises(ProtocolError, match=r"knobs.context_vars"):
        await hub.create_session(
            creator_id=a.agent_id,
            manifest_type="workflow",
            participants=[b.agent_id],
            knobs={
                "graph": TransitionGraph.sequence(a.agent_id, b.agent_id).to_dict(),
                "context_vars": [1],
            },
        )


# --------------------------------------------------------------------------- item 15: hydrate


async def test_workflow_and_discussion_hydrate_on_sqlite(tmp_path: Path, raw_peer: Any) -> None:
    path = tmp_path / "hub.sqlite"
    hub = await Hub.open(
        SqliteKnowledgeStore(path), ttl_sweep_interval=0, expectation_sweep_interval=0
    )
    ps = [await raw_peer(hub, n).start() for n in ("alice", "bob", "carol")]
    a, b, c = ps
    ids = [p.agent_id for p in ps]
    wf = await hub.create_session(
        creator_id=ids[0],
        manifest_type="workflow",
        participants=ids[1:],
        knobs={"graph": TransitionGraph.round_robin(ids).to_dict(), "context_vars": {"k": 1}},
    )
    dis = await hub.create_session(
        creator_id=ids[0], manifest_type="discussion", participants=ids[1:]
    )
    await a.send(wf.session_id, "one")
    await b.connection.post(packet(wf.session_id, b.agent_id, body="two", set_={"k": 2}))
    await a.connection.post(
        Envelope(wf.session_id, a.agent_id, [], EV_CONTEXT_SET, {"set": {"z": 0}})
    )
    await a.send(dis.session_id, "d1")
    await b.send(dis.session_id, "d2")
    live_wf = hub.adapter_state(wf.session_id)
    live_dis = hub.adapter_state(dis.session_id)
    await hub.close()

    hub2 = await Hub.open(
        SqliteKnowledgeStore(path), ttl_sweep_interval=0, expectation_sweep_interval=0
    )
    try:
        st = hub2.adapter_state(wf.session_id)
        assert isinstance(st, WorkflowState)
        assert st == live_wf
        assert st.expected_next_speaker == ids[2]
        assert st.last_speaker_id == ids[1]
        assert st.turn_count == 2
        assert st.creator_id == ids[0]
        assert st.participant_order == tuple(ids)
        assert st.context_vars == {"k": 2, "z": 0}
        assert hub2.adapter_state(dis.session_id) == live_dis
        assert (await hub2.get_session(wf.session_id)).state is SessionState.ACTIVE
        assert hub2.can_send(wf.session_id, ids[2]) and not hub2.can_send(wf.session_id, ids[0])
    finally:
        await hub2.close()


# --------------------------------------------------------------------------- turn_within


async def test_discussion_turn_within_warns_the_expected_speaker(
    hub: Hub, peers: Any, clock: MockClock
) -> None:
    a, b, c = await three(peers)
    meta = await hub.create_session(
        creator_id=a.agent_id, manifest_type="discussion", participants=[b.agent_id, c.agent_id]
    )
    sid = meta.session_id
    await a.send(sid, "over to bob")
    clock.advance(60)
    await hub.check_expectations()
    assert not [e for e in await hub.read_wal(sid) if e.event_type == EV_EXPECTATION_VIOLATED]
    clock.advance(61)
    await hub.check_expectations()
    await hub.check_expectations()  # deduplicated
    violations = [e for e in await hub.read_wal(sid) if e.event_type == EV_EXPECTATION_VIOLATED]
    assert len(violations) == 1
    assert violations[0].event_data["expectation"] == "turn_within"
    assert violations[0].event_data["violators"] == [b.agent_id]
    audits = [
        r for r in await hub.audit_log.read_all() if r["kind"] == AUDIT_KIND_EXPECTATION_VIOLATED
    ]
    assert [r["expectation"] for r in audits] == ["turn_within"]
    # the "hide" expectation at 600 s has no handler: it is skipped, the session lives on
    clock.advance(1000)
    await hub.check_expectations()
    assert (await hub.get_session(sid)).state is SessionState.ACTIVE


async def test_workflow_turn_within_warns_then_auto_closes(
    hub: Hub, peers: Any, clock: MockClock
) -> None:
    (a, b, c), sid = await workflow(hub, peers, TransitionGraph.sequence)
    await a.send(sid, "over to bob")
    clock.advance(121)
    await hub.check_expectations()
    wal = await hub.read_wal(sid)
    v = [e for e in wal if e.event_type == EV_EXPECTATION_VIOLATED]
    assert len(v) == 1 and v[0].event_data["violators"] == [b.agent_id]
    assert (await hub.get_session(sid)).state is SessionState.ACTIVE
    clock.advance(600)
    await hub.check_expectations()
    meta = await hub.get_session(sid)
    assert meta.state is SessionState.CLOSED
    assert meta.close_reason == "expectation_violated:turn_within"


async def test_turn_within_is_silent_while_turns_keep_coming(
    hub: Hub, peers: Any, clock: MockClock
) -> None:
    a, b, c = await three(peers)
    meta = await hub.create_session(
        creator_id=a.agent_id, manifest_type="discussion", participants=[b.agent_id, c.agent_id]
    )
    sid = meta.session_id
    for p in (a, b, c, a):
        clock.advance(100)
        await p.send(sid, "x")
        await hub.check_expectations()
    assert not [e for e in await hub.read_wal(sid) if e.event_type == EV_EXPECTATION_VIOLATED]
    texts = [e for e in await hub.read_wal(sid) if e.event_type == EV_TEXT]
    assert len(texts) == 4


# --------------------------------------------------------------------------- custom targets


@dataclass(frozen=True)
class _ContextTarget:
    """Hands the turn to whoever ``context_vars["next"]`` names (a test's custom target)."""

    name: ClassVar[str] = "test_context_target"

    def resolve(self, state: Any, envelope: Envelope) -> TransitionDecision:
        nxt = state.context_vars.get("next")
        if nxt == "boom":
            raise RuntimeError("the custom target exploded")
        return TransitionDecision(nxt if isinstance(nxt, str) else None, "no_next")


register_target(_ContextTarget)


async def test_a_custom_target_naming_a_stranger_or_raising_is_refused_at_send(
    hub: Hub, peers: Any
) -> None:
    a, b, c = await three(peers)
    graph = TransitionGraph(a.agent_id, [Transition(Always(), _ContextTarget())])
    meta = await hub.create_session(
        creator_id=a.agent_id,
        manifest_type="workflow",
        participants=[b.agent_id, c.agent_id],
        knobs={"graph": graph.to_dict(), "context_vars": {"next": "stranger"}},
    )
    sid = meta.session_id
    with pytest.raises(
        ProtocolError, match="hands the turn to 'stranger', who is not a participant"
    ):
        await a.send(sid, "go")
    await a.connection.post(
        Envelope(sid, a.agent_id, [], EV_CONTEXT_SET, {"set": {"next": "boom"}})
    )
    with pytest.raises(ProtocolError, match=r"the transition graph failed.*exploded"):
        await a.send(sid, "go")
    assert not hub.can_send(sid, a.agent_id)  # the same dry run answers the probe
    await a.connection.post(
        Envelope(sid, a.agent_id, [], EV_CONTEXT_SET, {"set": {"next": c.agent_id}})
    )
    assert hub.can_send(sid, a.agent_id)
    await a.send(sid, "go")
    assert hub.adapter_state(sid).expected_next_speaker == c.agent_id
