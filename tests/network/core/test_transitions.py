"""The workflow transition vocabulary (spec §11, §29.1 items 8–10): targets, conditions,
the graph's wire form, the registry and the factories. Pure: no hub."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from hubbub.network import (
    EV_PACKET,
    EV_TEXT,
    AgentTarget,
    Always,
    ContextEquals,
    Envelope,
    FromSpeaker,
    NetworkError,
    RevertToInitiatorTarget,
    RoundRobinTarget,
    StayTarget,
    TerminateTarget,
    ToolCalled,
    Transition,
    TransitionDecision,
    TransitionGraph,
    TransitionRegistry,
    WorkflowGraphError,
    WorkflowState,
    register_target,
)


def state(**kw: Any) -> WorkflowState:
    base: dict[str, Any] = {
        "participant_order": ("alice", "bob", "carol"),
        "creator_id": "alice",
    }
    base.update(kw)
    return WorkflowState(**base)


def text(sender: str) -> Envelope:
    return Envelope("s", sender, None, EV_TEXT, {"text": "hi"})


def packet(sender: str, tool: str | None) -> Envelope:
    routing: dict[str, Any] = (
        {"kind": "text"} if tool is None else {"kind": "handoff", "tool": tool}
    )
    return Envelope("s", sender, None, EV_PACKET, {"routing": routing, "body": ""})


# --------------------------------------------------------------------------- item 8


def test_agent_target_names_its_agent() -> None:
    assert AgentTarget("bob").resolve(state(), text("alice")) == TransitionDecision("bob")


def test_round_robin_target_wraps_from_the_last_speaker() -> None:
    rr = RoundRobinTarget()
    assert rr.resolve(state(last_speaker_id="alice"), text("alice")).next_speaker == "bob"
    assert rr.resolve(state(last_speaker_id="carol"), text("carol")).next_speaker == "alice"


def test_round_robin_target_anchor_outside_the_order_gives_the_first() -> None:
    rr = RoundRobinTarget()
    assert rr.resolve(state(last_speaker_id="zed"), text("zed")).next_speaker == "alice"


def test_round_robin_target_with_nobody_terminates() -> None:
    d = RoundRobinTarget().resolve(state(participant_order=()), text("alice"))
    assert d == TransitionDecision(None, "no_participants")


def test_stay_revert_and_terminate() -> None:
    s = state(last_speaker_id="bob")
    assert StayTarget().resolve(s, text("bob")).next_speaker == "bob"
    assert RevertToInitiatorTarget().resolve(s, text("bob")).next_speaker == "alice"
    assert TerminateTarget("done").resolve(s, text("bob")) == TransitionDecision(None, "done")
    assert TerminateTarget().resolve(s, text("bob")).close_reason == "after_work"


def test_conditions() -> None:
    s = state(context_vars={"route": "security"})
    assert Always().evaluate(s, text("bob"))
    assert FromSpeaker("bob").evaluate(s, text("bob"))
    assert not FromSpeaker("bob").evaluate(s, text("carol"))
    assert ContextEquals("route", "security").evaluate(s, text("bob"))
    assert not ContextEquals("route", "general").evaluate(s, text("bob"))
    assert ContextEquals("missing", None).evaluate(s, text("bob"))


def test_tool_called_matches_only_a_packet_routed_by_that_tool() -> None:
    cond = ToolCalled("transfer_to_eng")
    assert cond.evaluate(state(), packet("alice", "transfer_to_eng"))
    assert not cond.evaluate(state(), packet("alice", "other"))
    assert not cond.evaluate(state(), packet("alice", None))
    text_with_routing = Envelope(
        "s", "alice", None, EV_TEXT, {"text": "x", "routing": {"tool": "transfer_to_eng"}}
    )
    assert not cond.evaluate(state(), text_with_routing)


def test_selection_checks_lower_priority_first_and_keeps_list_order_on_ties() -> None:
    g = TransitionGraph(
        "alice",
        [
            Transition(Always(), AgentTarget("carol"), priority=5),
            Transition(Always(), AgentTarget("bob"), priority=1),
            Transition(Always(), AgentTarget("alice"), priority=1),
        ],
    )
    assert g.select(state(), text("alice")).next_speaker == "bob"


def test_no_rule_fires_falls_through_to_the_default_target() -> None:
    g = TransitionGraph("alice", [Transition(FromSpeaker("bob"), AgentTarget("carol"))])
    assert g.select(state(), text("alice")) == TransitionDecision(None, "after_work")


# --------------------------------------------------------------------------- item 9


def test_graph_round_trips_through_to_dict_loads_and_dumps() -> None:
    g = TransitionGraph(
        "alice",
        [
            Transition(ToolCalled("escalate"), AgentTarget("bob"), priority=2),
            Transition(ContextEquals("done", True), TerminateTarget("approved"), priority=-1),
            Transition(FromSpeaker("bob"), RevertToInitiatorTarget()),
        ],
        default_target=StayTarget(),
        max_turns=10,
    )
    data = g.to_dict()
    assert data["transitions"][0] == {
        "when": {"name": "tool_called", "args": {"tool_name": "escalate"}},
        "then": {"name": "agent", "args": {"agent_id": "bob"}},
        "priority": 2,
    }
    assert TransitionGraph.loads(data) == g
    text_form = g.dumps()
    assert text_form == json.dumps(data, sort_keys=True)
    back = TransitionGraph.loads(text_form)
    assert back == g
    assert [t.priority for t in back.transitions] == [2, -1, 0]
    assert back.tool_names() == {"escalate"}


def test_a_missing_default_target_is_terminate() -> None:
    g = TransitionGraph.loads({"initial_speaker": "alice", "transitions": []})
    assert g.default_target == TerminateTarget()
    assert g.max_turns is None


def test_unknown_names_raise_workflow_graph_error() -> None:
    bad_target = {
        "initial_speaker": "a",
        "transitions": [
            {"when": {"name": "always", "args": {}}, "then": {"name": "nope", "args": {}}}
        ],
    }
    with pytest.raises(WorkflowGraphError, match="no transition target registered for 'nope'"):
        TransitionGraph.loads(bad_target)
    bad_condition = {
        "initial_speaker": "a",
        "transitions": [
            {"when": {"name": "sometimes", "args": {}}, "then": {"name": "stay", "args": {}}}
        ],
    }
    with pytest.raises(
        WorkflowGraphError, match="no transition condition registered for 'sometimes'"
    ):
        TransitionGraph.loads(bad_condition)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "graph"),
        ({}, "graph.initial_speaker"),
        ({"initial_speaker": ""}, "graph.initial_speaker"),
        ({"initial_speaker": "a", "transitions": {}}, "graph.transitions"),
        ({"initial_speaker": "a", "transitions": [3]}, r"graph.transitions\[0\]"),
        (
            {
                "initial_speaker": "a",
                "transitions": [
                    {"when": {"name": "always"}, "then": {"name": "stay"}, "priority": "x"}
                ],
            },
            r"graph.transitions\[0\].priority",
        ),
        (
            {"initial_speaker": "a", "transitions": [{"when": {"name": "always"}, "then": 1}]},
            r"graph.transitions\[0\].then",
        ),
        (
            {
                "initial_speaker": "a",
                "transitions": [
                    {
                        "when": {"name": "from_speaker", "args": {"who": "x"}},
                        "then": {"name": "stay"},
                    }
                ],
            },
            r"graph.transitions\[0\].when.args",
        ),
        ({"initial_speaker": "a", "max_turns": 0}, "graph.max_turns"),
        ({"initial_speaker": "a", "max_turns": True}, "graph.max_turns"),
        ({"initial_speaker": "a", "default_target": "stay"}, "graph.default_target"),
        ("{not json", "graph: not JSON"),
        (
            {
                "initial_speaker": "a",
                "transitions": [
                    {
                        "when": {"name": "context_equals", "args": {"key": [1]}},
                        "then": {"name": "stay"},
                    }
                ],
            },
            r"graph.transitions\[0\].when.args: key must be a string",
        ),
        (
            {"initial_speaker": "a", "default_target": {"name": "agent", "args": {"agent_id": 7}}},
            "graph.default_target.args: agent_id must be a string",
        ),
    ],
)
def test_bad_graph_data_names_the_field(data: Any, field: str) -> None:
    with pytest.raises(WorkflowGraphError, match=field) as info:
        TransitionGraph.loads(data)
    assert isinstance(info.value, NetworkError)
    assert info.value.code == "bad_graph"


def test_a_custom_target_registered_with_register_target_round_trips() -> None:
    @dataclass(frozen=True)
    class TopicRouter:
        name: ClassVar[str] = "test_topic_router"
        table: dict[str, str]

        def resolve(self, state: Any, envelope: Envelope) -> TransitionDecision:
            return TransitionDecision(self.table.get(state.context_vars.get("topic", ""), "alice"))

    register_target(TopicRouter)
    g = TransitionGraph("alice", [Transition(Always(), TopicRouter({"db": "bob"}))])
    back = TransitionGraph.loads(g.dumps())
    assert back == g
    s = state(context_vars={"topic": "db"})
    assert back.select(s, text("alice")).next_speaker == "bob"
    # a private registry does not know it
    with pytest.raises(WorkflowGraphError, match="test_topic_router"):
        TransitionGraph.loads(g.dumps(), registry=TransitionRegistry())


def test_register_target_refuses_a_class_without_a_name() -> None:
    class Nameless:
        pass

    with pytest.raises(WorkflowGraphError, match="name"):
        register_target(Nameless)


# --------------------------------------------------------------------------- item 10


def test_round_robin_factory() -> None:
    g = TransitionGraph.round_robin(["a", "b", "c"], max_turns=6)
    assert g.initial_speaker == "a"
    assert g.transitions == [Transition(Always(), RoundRobinTarget())]
    assert g.default_target == TerminateTarget("round_robin_complete")
    assert g.max_turns == 6
    with pytest.raises(WorkflowGraphError, match="participants"):
        TransitionGraph.round_robin([])


def test_sequence_factory() -> None:
    g = TransitionGraph.sequence("a", "b", "c")
    assert g.initial_speaker == "a"
    assert g.transitions == [
        Transition(FromSpeaker("a"), AgentTarget("b")),
        Transition(FromSpeaker("b"), AgentTarget("c")),
    ]
    assert g.default_target == TerminateTarget("sequence_complete")
    assert g.max_turns == 3
    assert TransitionGraph.sequence(["a", "b", "c"]) == g
    with pytest.raises(WorkflowGraphError, match="steps"):
        TransitionGraph.sequence()


def test_a_turn_carries_every_other_state_field_over() -> None:
    """The workflow fold builds its next state with the constructor (no
    ``dataclasses.replace``): a field added to ``WorkflowState`` must be carried too."""
    import dataclasses

    from hubbub.network import WorkflowAdapter

    graph = TransitionGraph.round_robin(["alice", "bob", "carol"])
    before = state(
        expected_next_speaker="alice",
        last_speaker_id="carol",
        last_envelope_id="e0",
        turn_count=4,
        pending_close_reason="x",
        graph_data=graph.to_dict(),
        context_vars={"k": 1},
    )
    turn = Envelope("s", "alice", None, EV_TEXT, {"text": "hi"}, envelope_id="e1")
    after = WorkflowAdapter().fold(turn, before)
    changed = {
        "expected_next_speaker": "bob",
        "last_speaker_id": "alice",
        "last_envelope_id": "e1",
        "turn_count": 5,
        "pending_close_reason": "",
    }
    for f in dataclasses.fields(WorkflowState):
        want = changed.get(f.name, getattr(before, f.name))
        assert getattr(after, f.name) == want, f.name
