"""Workflow: a transition graph decides who speaks next; one turn = one ``EV_PACKET``.

Knobs: ``graph`` (required: ``TransitionGraph.to_dict()``) and ``context_vars``
(optional initial context). The creator's seed is usually an ``EV_TEXT``; every
default-handler turn posts one ``EV_PACKET`` ``{"routing", "context_updates",
"body"}`` built from the round's events: a tool that returned a ``Handoff`` routes
the turn to its target, else the first tool named by a ``ToolCalled`` rule routes
it through the graph, else it is plain text.

After each substantive envelope (``EV_TEXT`` or ``EV_PACKET``) the fold applies the
packet's context updates, then a handoff target or the graph's decision becomes
``expected_next_speaker``; None closes the session with the decision's reason
(``workflow_terminated`` when it has none), and ``max_turns`` closes it with
``max_turns``. ``EV_CONTEXT_SET`` (any participant, any time) only changes
``context_vars``.

Every ACTIVE workflow session has exactly one participant allowed to speak: a send
whose outcome would name a speaker who is not a participant (a handoff to an unknown
name, a custom target gone wrong) is refused when it is sent, with a
``ProtocolError`` naming the target, so it can never wedge the session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hubbub.network.adapters.base import (
    STAY,
    AdapterResult,
    BaseAdapter,
    check_turn_failed,
    text_of,
)
from hubbub.network.envelope import EV_CONTEXT_SET, EV_PACKET, EV_TEXT, EV_TURN_FAILED, Envelope
from hubbub.network.errors import NetworkError, ProtocolError, WorkflowGraphError
from hubbub.network.session import (
    Expectation,
    ParticipantSchema,
    SessionManifest,
    SessionMetadata,
    SessionState,
)
from hubbub.network.transitions import (
    TransitionGraph,
    TransitionRegistry,
    agent_targets,
    graph_is_builtin,
)

if TYPE_CHECKING:
    from hubbub.network.views import ViewPolicy

__all__ = ["WORKFLOW_TYPE", "WorkflowAdapter", "WorkflowState"]

WORKFLOW_TYPE = "workflow"

_SUBSTANTIVE = (EV_TEXT, EV_PACKET)
_GRAPH_CACHE_MAX = 4096


@dataclass(slots=True, frozen=True)
class WorkflowState:
    """Whose turn it is, who spoke, the turn count, the graph and the context variables.

    ``graph_data`` and ``context_vars`` are never mutated in place (a fold builds new
    dicts), so treat them as read-only.
    """

    participant_order: tuple[str, ...] = ()
    expected_next_speaker: str | None = None
    last_speaker_id: str | None = None
    last_envelope_id: str | None = None
    turn_count: int = 0
    pending_close_reason: str = ""
    creator_id: str = ""
    graph_data: dict[str, Any] = field(default_factory=dict)
    context_vars: dict[str, Any] = field(default_factory=dict)


def _check_updates(where: str, data: Any, session_id: str) -> None:
    """Raise ProtocolError (``bad_envelope``) unless ``data`` is ``{"set": {...}, "delete": [...]}``."""
    if not isinstance(data, dict):
        raise ProtocolError(
            f"workflow session {session_id}: {where} must be an object", code="bad_envelope"
        )
    sets = data.get("set", {})
    if not isinstance(sets, dict):
        raise ProtocolError(
            f"workflow session {session_id}: {where}.set must be an object", code="bad_envelope"
        )
    deletes = data.get("delete", [])
    if not isinstance(deletes, list) or not all(isinstance(k, str) for k in deletes):
        raise ProtocolError(
            f"workflow session {session_id}: {where}.delete must be a list of strings",
            code="bad_envelope",
        )


def _apply_updates(context: dict[str, Any], data: Any) -> dict[str, Any]:
    """A new context: ``data["delete"]`` removed, then ``data["set"]`` applied."""
    if not isinstance(data, dict):
        return context
    deletes = data.get("delete") or []
    sets = data.get("set") or {}
    if not deletes and not sets:
        return context
    out = dict(context)
    for key in deletes:
        out.pop(key, None)
    out.update(sets)
    return out


def _routing(envelope: Envelope) -> dict[str, Any] | None:
    if envelope.event_type != EV_PACKET:
        return None
    routing = envelope.event_data.get("routing")
    return routing if isinstance(routing, dict) else None


def _handoff_target(envelope: Envelope) -> str | None:
    routing = _routing(envelope)
    if routing is None or routing.get("kind") != "handoff":
        return None
    target = routing.get("target")
    return target if isinstance(target, str) and target else None


class WorkflowAdapter(BaseAdapter):
    """Graph-routed multi-party sessions (see the module doc)."""

    def __init__(self, registry: TransitionRegistry | None = None) -> None:
        self.manifest = SessionManifest(
            type=WORKFLOW_TYPE,
            version=1,
            participants=ParticipantSchema(min=2, max=None, roles=["initiator", "participant"]),
            knobs_schema={"graph": "TransitionGraph", "context_vars": "dict"},
            default_view_policy="windowed_summary",
            expectations=[
                Expectation("turn_within", "warn", {"seconds": 120}),
                Expectation("turn_within", "auto_close", {"seconds": 600}),
            ],
        )
        self._registry = registry
        # id(graph_data) → (graph_data, loaded graph): the graph is data in the state,
        # loaded once per dict instead of on every fold.
        self._graphs: dict[int, tuple[dict[str, Any], TransitionGraph]] = {}
        self._trust: dict[int, bool] = {}  # id(graph) → graph_is_builtin(graph)

    # ------------------------------------------------------------------ graph

    def graph(self, state: WorkflowState) -> TransitionGraph:
        """The state's graph (loaded from ``graph_data``, cached per dict)."""
        data = state.graph_data
        hit = self._graphs.get(id(data))
        if hit is not None and hit[0] is data:
            return hit[1]
        graph = TransitionGraph.loads(data, registry=self._registry)
        if len(self._graphs) >= _GRAPH_CACHE_MAX:
            self._graphs.clear()
            self._trust.clear()
        self._graphs[id(data)] = (data, graph)
        return graph

    def _trusted(self, state: WorkflowState) -> bool:
        """True when the graph uses only built-in targets and conditions.

        Those never raise, and their decisions name a participant or end the session
        (agent targets are checked against the participants at open), so a send needs
        no dry run of the graph.
        """
        graph = self.graph(state)
        trusted = self._trust.get(id(graph))
        if trusted is None:
            trusted = graph_is_builtin(graph)
            self._trust[id(graph)] = trusted
        return trusted

    def _load_graph(self, metadata: SessionMetadata) -> TransitionGraph:
        data = metadata.knobs.get("graph")
        if not isinstance(data, dict):
            raise ProtocolError(
                f"workflow session: knobs.graph is required and must be an object "
                f"(TransitionGraph.to_dict()), got {type(data).__name__}"
            )
        try:
            return TransitionGraph.loads(data, registry=self._registry)
        except WorkflowGraphError as exc:
            raise WorkflowGraphError(f"invalid workflow graph: {exc}") from exc

    # ------------------------------------------------------------------ contract

    def initial_state(self, metadata: SessionMetadata) -> WorkflowState:
        """The graph's initial speaker is expected; context from ``knobs["context_vars"]``."""
        graph_data = metadata.knobs.get("graph")
        if not isinstance(graph_data, dict):
            graph_data = {}
        initial = graph_data.get("initial_speaker")
        context = metadata.knobs.get("context_vars")
        order = tuple(p.agent_id for p in sorted(metadata.participants, key=lambda p: p.order))
        return WorkflowState(
            participant_order=order,
            expected_next_speaker=initial if isinstance(initial, str) and initial else None,
            creator_id=metadata.creator_id,
            graph_data=graph_data,
            context_vars=dict(context) if isinstance(context, dict) else {},
        )

    def validate_create(self, metadata: SessionMetadata) -> None:
        """At least two participants; a loadable graph whose initial speaker and agent
        targets are participants; ``context_vars`` an object when given.

        Raises:
            ProtocolError: too few participants, ``knobs.graph`` missing or not an
                object, ``knobs.context_vars`` not an object.
            WorkflowGraphError: the graph does not load, or names a non-participant
                (the message names the field).
        """
        super().validate_create(metadata)
        graph = self._load_graph(metadata)
        members = set(metadata.participant_ids())
        if graph.initial_speaker not in members:
            raise WorkflowGraphError(
                f"invalid workflow graph: graph.initial_speaker {graph.initial_speaker!r:.80} "
                "is not a participant"
            )
        for where, agent_id in agent_targets(graph):
            if agent_id not in members:
                raise WorkflowGraphError(
                    f"invalid workflow graph: {where} {agent_id!r:.80} is not a participant"
                )
        context = metadata.knobs.get("context_vars")
        if context is not None and not isinstance(context, dict):
            raise ProtocolError(
                f"workflow session: knobs.context_vars must be an object, got {type(context).__name__}"
            )

    def validate_send(self, metadata: SessionMetadata, envelope: Envelope, state: Any) -> None:
        """Context writes from any participant; turns only from the expected speaker, and
        only when the turn's outcome names a participant (or ends the session)."""
        et = envelope.event_type
        sid = metadata.session_id
        if et == EV_CONTEXT_SET:
            if not metadata.is_participant(envelope.sender_id):
                raise ProtocolError(
                    f"workflow session {sid}: {envelope.sender_id} is not a participant"
                )
            _check_updates("event_data", envelope.event_data, sid)
            return
        if et == EV_TURN_FAILED:
            check_turn_failed(metadata, envelope)
            return
        if et not in _SUBSTANTIVE:
            return
        sender = envelope.sender_id
        expected = state.expected_next_speaker
        if sender != expected:
            if not metadata.is_participant(sender):
                raise ProtocolError(f"workflow session {sid}: {sender} is not a participant")
            raise ProtocolError(f"workflow {sid} expects {expected} to speak, got {sender}")
        if et == EV_PACKET:
            self._check_packet(sid, envelope.event_data)
        target = _handoff_target(envelope)
        if target is not None:
            if target not in state.participant_order:
                raise ProtocolError(
                    f"workflow session {sid}: handoff target {target!r:.80} (routing.target) "
                    "is not a participant"
                )
            return
        if self._trusted(state):
            return  # built-in targets only ever name participants (checked at open) or end it
        try:
            after = self._advance(state, envelope)
        except NetworkError:
            raise
        except Exception as exc:
            raise ProtocolError(
                f"workflow session {sid}: the transition graph failed on this envelope: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        nxt = after.expected_next_speaker
        if nxt is not None and nxt not in state.participant_order:
            raise ProtocolError(
                f"workflow session {sid}: the graph hands the turn to {nxt!r:.80}, "
                "who is not a participant"
            )

    def _check_packet(self, sid: str, data: dict[str, Any]) -> None:
        routing = data.get("routing", {"kind": "text"})
        if not isinstance(routing, dict) or routing.get("kind") not in ("handoff", "text"):
            raise ProtocolError(
                f"workflow session {sid}: event_data.routing must be an object with kind "
                "'handoff' or 'text'",
                code="bad_envelope",
            )
        for key in ("tool", "reason", "target"):
            value = routing.get(key)
            if value is not None and not isinstance(value, str):
                raise ProtocolError(
                    f"workflow session {sid}: event_data.routing.{key} must be a string",
                    code="bad_envelope",
                )
        if "context_updates" in data:
            _check_updates("event_data.context_updates", data["context_updates"], sid)
        body = data.get("body", "")
        if not isinstance(body, str):
            raise ProtocolError(
                f"workflow session {sid}: event_data.body must be a string", code="bad_envelope"
            )

    def _advance(self, state: WorkflowState, envelope: Envelope) -> WorkflowState:
        """The state after one turn (context updates, counters, then the next speaker).

        Built with the constructor, not ``dataclasses.replace``: this runs for every
        turn the hub admits.
        """
        context = state.context_vars
        if envelope.event_type == EV_PACKET:
            context = _apply_updates(context, envelope.event_data.get("context_updates"))
        after = WorkflowState(
            participant_order=state.participant_order,
            expected_next_speaker=state.expected_next_speaker,
            last_speaker_id=envelope.sender_id,
            last_envelope_id=envelope.envelope_id or None,
            turn_count=state.turn_count + 1,
            pending_close_reason="",
            creator_id=state.creator_id,
            graph_data=state.graph_data,
            context_vars=context,
        )
        target = _handoff_target(envelope)
        close_reason = ""
        if target is None:
            decision = self.graph(after).select(after, envelope)
            target = decision.next_speaker
            if target is None:
                close_reason = decision.close_reason
        return WorkflowState(
            participant_order=after.participant_order,
            expected_next_speaker=target,
            last_speaker_id=after.last_speaker_id,
            last_envelope_id=after.last_envelope_id,
            turn_count=after.turn_count,
            pending_close_reason=close_reason,
            creator_id=after.creator_id,
            graph_data=after.graph_data,
            context_vars=context,
        )

    def fold(self, envelope: Envelope, state: Any) -> WorkflowState:
        """Context writes change the context; turns advance (see the module doc)."""
        et = envelope.event_type
        if et == EV_CONTEXT_SET:
            context = _apply_updates(state.context_vars, envelope.event_data)
            new: WorkflowState = replace(state, context_vars=context)
            return new
        if et in _SUBSTANTIVE:
            return self._advance(state, envelope)
        return state  # type: ignore[no-any-return]

    def on_accepted(
        self, metadata: SessionMetadata, envelope: Envelope, state: Any
    ) -> AdapterResult:
        """After a turn: nobody next → close with the decision's reason; turn cap → ``max_turns``."""
        if envelope.event_type not in _SUBSTANTIVE:
            return STAY
        if state.expected_next_speaker is None:
            return AdapterResult(
                SessionState.CLOSED, state.pending_close_reason or "workflow_terminated"
            )
        max_turns = self.graph(state).max_turns
        if max_turns is not None and state.turn_count >= max_turns:
            return AdapterResult(SessionState.CLOSED, "max_turns")
        return STAY

    def default_view_policy(self, metadata: SessionMetadata, participant_id: str) -> ViewPolicy:
        """The last max(2N, 4) messages plus a summary line."""
        from hubbub.network.views import WindowedSummary

        return WindowedSummary(recent_n=max(2 * len(metadata.participants), 4))

    # ------------------------------------------------------------------ turns

    def extract_turn_input(self, envelope: Envelope) -> str | None:
        """A text's text; a packet's handoff line and body."""
        if envelope.event_type == EV_PACKET:
            return self.render_envelope(envelope)
        return text_of(envelope)

    def render_envelope(self, envelope: Envelope) -> str | None:
        """A packet → "[Handed off via <tool>] <reason>" (when routed by a tool) and its body."""
        if envelope.event_type != EV_PACKET:
            return text_of(envelope)
        data = envelope.event_data
        lines = []
        routing = _routing(envelope)
        if routing is not None and routing.get("kind") == "handoff":
            tool = routing.get("tool") or routing.get("target") or "handoff"
            reason = routing.get("reason") or ""
            lines.append(f"[Handed off via {tool}] {reason}".rstrip())
        body = data.get("body")
        if isinstance(body, str) and body:
            lines.append(body)
        return "\n".join(lines) or None

    def build_round_envelope(
        self,
        metadata: SessionMetadata,
        sender_id: str,
        reply: Any,
        events: Any,
        state: Any,
        hub: Any,
    ) -> Envelope | None:
        """One ``EV_PACKET`` for the round: routing from its tool calls, the reply as body.

        Routing: the first tool call whose result is a ``Handoff`` (target = its
        ``target``), else the first call of a tool a ``ToolCalled`` rule names (reason =
        the call's ``reason`` argument), else text. Text routing and an empty body →
        None (nothing is posted).
        """
        body = getattr(reply, "body", reply)
        if not isinstance(body, str):
            body = ""
        routing = self._round_routing(events or (), state)
        if routing["kind"] == "text" and not body.strip():
            return None
        return Envelope(
            session_id=metadata.session_id,
            sender_id=sender_id,
            audience=None,
            event_type=EV_PACKET,
            event_data={
                "routing": routing,
                "context_updates": {"set": {}, "delete": []},
                "body": body,
            },
        )

    def _round_routing(self, events: Any, state: Any) -> dict[str, Any]:
        from hubbub.network.handoff import Handoff

        calls, results = _tool_calls(events)
        for call in calls:
            handoff = _handoff_in(results.get(call.id), Handoff)
            if handoff is not None:
                out = {"kind": "handoff", "tool": call.name, "target": handoff.target}
                if handoff.reason:
                    out["reason"] = handoff.reason
                return out
        names: set[str] = set()
        if isinstance(state, WorkflowState) and state.graph_data:
            try:
                names = self.graph(state).tool_names()
            except WorkflowGraphError:
                names = set()
        for call in calls:
            if call.name in names:
                out = {"kind": "handoff", "tool": call.name}
                reason = _reason_argument(call.arguments)
                if reason:
                    out["reason"] = reason
                return out
        return {"kind": "text"}

    # ------------------------------------------------------------------ snapshots

    def dump_state(self, state: Any) -> dict[str, Any]:
        """JSON-ready fields (the order as a list)."""
        return {
            "participant_order": list(state.participant_order),
            "expected_next_speaker": state.expected_next_speaker,
            "last_speaker_id": state.last_speaker_id,
            "last_envelope_id": state.last_envelope_id,
            "turn_count": state.turn_count,
            "pending_close_reason": state.pending_close_reason,
            "creator_id": state.creator_id,
            "graph_data": state.graph_data,
            "context_vars": dict(state.context_vars),
        }

    def load_state(self, metadata: SessionMetadata, data: dict[str, Any]) -> WorkflowState:
        """The inverse of ``dump_state``."""
        return WorkflowState(
            tuple(data["participant_order"]),
            data["expected_next_speaker"],
            data["last_speaker_id"],
            data["last_envelope_id"],
            data["turn_count"],
            data["pending_close_reason"],
            data["creator_id"],
            data["graph_data"],
            data["context_vars"],
        )


def _tool_calls(events: Any) -> tuple[list[Any], dict[str, Any]]:
    """The round's tool calls in emission order (deduplicated by id) and results by call id."""
    from hubbub.events import (
        ModelResponse,
        ToolCallEvent,
        ToolCallsEvent,
        ToolResultEvent,
        ToolResultsEvent,
    )

    calls: list[Any] = []
    seen: set[str] = set()
    results: dict[str, Any] = {}

    def add_call(call: Any) -> None:
        if call.id not in seen:
            seen.add(call.id)
            calls.append(call)

    for event in events:
        if isinstance(event, ModelResponse):
            for call in event.tool_calls.calls:
                add_call(call)
        elif isinstance(event, ToolCallsEvent):
            for call in event.calls:
                add_call(call)
        elif isinstance(event, ToolCallEvent):
            add_call(event)
        elif isinstance(event, ToolResultsEvent):
            for result in event.results:
                results.setdefault(result.parent_id, result)
        elif isinstance(event, ToolResultEvent):
            results.setdefault(event.parent_id, event)
    return calls, results


def _handoff_in(result: Any, handoff_type: type) -> Any:
    """The ``Handoff`` a tool result carries, or None (errors never carry one)."""
    from hubbub.events import DataInput, ToolErrorEvent

    if result is None or isinstance(result, ToolErrorEvent):
        return None
    for part in result.result.parts:
        if isinstance(part, DataInput) and isinstance(part.data, handoff_type):
            return part.data
    return None


def _reason_argument(arguments: Any) -> str:
    if not isinstance(arguments, str):
        return ""
    try:
        args = json.loads(arguments)
    except ValueError:
        return ""
    reason = args.get("reason") if isinstance(args, dict) else None
    return reason if isinstance(reason, str) else ""
