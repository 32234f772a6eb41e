"""The workflow vocabulary: who speaks next, as data.

A :class:`TransitionGraph` names the first speaker, a list of :class:`Transition`
rules (a condition and a target, checked in ascending ``priority``, ties in list
order), a default target for when no rule fires, and an optional turn cap. Targets
and conditions are small frozen dataclasses with a registry ``name``; a graph
serialises to plain JSON (``to_dict``/``dumps``) and back (``loads``) through a
:class:`TransitionRegistry`, so it travels in ``knobs["graph"]`` and is re-read on
replay.

Targets resolve to a :class:`TransitionDecision` (the next speaker, or None and a
close reason); conditions return a bool. Both only read the workflow state after the
current envelope was folded and the envelope itself: they are pure.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from hubbub.network.envelope import EV_PACKET, Envelope
from hubbub.network.errors import WorkflowGraphError

__all__ = [
    "AgentTarget",
    "Always",
    "ContextEquals",
    "FromSpeaker",
    "RevertToInitiatorTarget",
    "RoundRobinTarget",
    "StayTarget",
    "TerminateTarget",
    "ToolCalled",
    "Transition",
    "TransitionCondition",
    "TransitionDecision",
    "TransitionGraph",
    "TransitionRegistry",
    "TransitionTarget",
    "register_condition",
    "register_target",
]


@dataclass(slots=True, frozen=True)
class TransitionDecision:
    """The next speaker, or ``None`` to end the session with ``close_reason``."""

    next_speaker: str | None
    close_reason: str = ""


@runtime_checkable
class TransitionTarget(Protocol):
    """Where the turn goes when a rule fires. ``resolve`` must be pure."""

    name: ClassVar[str]

    def resolve(self, state: Any, envelope: Envelope) -> TransitionDecision:
        """The decision for ``envelope`` given the state after folding it."""
        ...


@runtime_checkable
class TransitionCondition(Protocol):
    """When a rule fires. ``evaluate`` must be pure."""

    name: ClassVar[str]

    def evaluate(self, state: Any, envelope: Envelope) -> bool:
        """True when the rule applies to ``envelope`` (state after folding it)."""
        ...


# --------------------------------------------------------------------------- targets


def _require_str(part: Any, field_name: str) -> None:
    value = getattr(part, field_name)
    if not isinstance(value, str):
        raise TypeError(f"{field_name} must be a string, got {value!r:.80}")


@dataclass(slots=True, frozen=True)
class AgentTarget:
    """A fixed agent (by id)."""

    name: ClassVar[str] = "agent"
    agent_id: str

    def __post_init__(self) -> None:
        _require_str(self, "agent_id")

    def resolve(self, state: Any, envelope: Envelope) -> TransitionDecision:
        """That agent."""
        return TransitionDecision(self.agent_id)


@dataclass(slots=True, frozen=True)
class RoundRobinTarget:
    """The participant after the last speaker in ``participant_order``, wrapping."""

    name: ClassVar[str] = "round_robin"

    def resolve(self, state: Any, envelope: Envelope) -> TransitionDecision:
        """Next in order; the first when the anchor is not in the order; end when empty."""
        order: Sequence[str] = state.participant_order
        if not order:
            return TransitionDecision(None, "no_participants")
        anchor = state.last_speaker_id or envelope.sender_id
        try:
            i = order.index(anchor)
        except ValueError:
            return TransitionDecision(order[0])
        return TransitionDecision(order[(i + 1) % len(order)])


@dataclass(slots=True, frozen=True)
class StayTarget:
    """The last speaker again."""

    name: ClassVar[str] = "stay"

    def resolve(self, state: Any, envelope: Envelope) -> TransitionDecision:
        """The last speaker (the envelope's sender when none is recorded)."""
        return TransitionDecision(state.last_speaker_id or envelope.sender_id)


@dataclass(slots=True, frozen=True)
class RevertToInitiatorTarget:
    """The session's creator."""

    name: ClassVar[str] = "revert_to_initiator"

    def resolve(self, state: Any, envelope: Envelope) -> TransitionDecision:
        """``state.creator_id``."""
        return TransitionDecision(
            state.creator_id or None, "" if state.creator_id else "no_initiator"
        )


@dataclass(slots=True, frozen=True)
class TerminateTarget:
    """End the session with ``reason``."""

    name: ClassVar[str] = "terminate"
    reason: str = "after_work"

    def __post_init__(self) -> None:
        _require_str(self, "reason")

    def resolve(self, state: Any, envelope: Envelope) -> TransitionDecision:
        """Nobody; close with ``reason``."""
        return TransitionDecision(None, self.reason)


# --------------------------------------------------------------------------- conditions


@dataclass(slots=True, frozen=True)
class Always:
    """Always fires."""

    name: ClassVar[str] = "always"

    def evaluate(self, state: Any, envelope: Envelope) -> bool:
        """True."""
        return True


@dataclass(slots=True, frozen=True)
class FromSpeaker:
    """Fires when ``agent_id`` sent the envelope."""

    name: ClassVar[str] = "from_speaker"
    agent_id: str

    def __post_init__(self) -> None:
        _require_str(self, "agent_id")

    def evaluate(self, state: Any, envelope: Envelope) -> bool:
        """The sender is ``agent_id``."""
        return envelope.sender_id == self.agent_id


@dataclass(slots=True, frozen=True)
class ToolCalled:
    """Fires when an ``EV_PACKET`` was routed by the tool ``tool_name`` (never on a text)."""

    name: ClassVar[str] = "tool_called"
    tool_name: str

    def __post_init__(self) -> None:
        _require_str(self, "tool_name")

    def evaluate(self, state: Any, envelope: Envelope) -> bool:
        """The packet's ``routing.tool`` is ``tool_name``."""
        if envelope.event_type != EV_PACKET:
            return False
        routing = envelope.event_data.get("routing")
        return isinstance(routing, dict) and routing.get("tool") == self.tool_name


@dataclass(slots=True, frozen=True)
class ContextEquals:
    """Fires while context variable ``key`` equals ``value`` (missing = None; sticky)."""

    name: ClassVar[str] = "context_equals"
    key: str
    value: Any = None

    def __post_init__(self) -> None:
        _require_str(self, "key")

    def evaluate(self, state: Any, envelope: Envelope) -> bool:
        """``state.context_vars.get(key) == value``."""
        value: Any = state.context_vars.get(self.key)
        return bool(value == self.value)


# --------------------------------------------------------------------------- the graph


@dataclass(slots=True, frozen=True)
class Transition:
    """When ``when`` holds, ``then`` decides; lower ``priority`` is checked first."""

    when: Any
    then: Any
    priority: int = 0


def _part_to_dict(part: Any) -> dict[str, Any]:
    args = {f.name: getattr(part, f.name) for f in dataclasses.fields(part)}
    return {"name": type(part).name, "args": args}


@dataclass
class TransitionGraph:
    """Who speaks first, the rules, the fall-through target and an optional turn cap."""

    initial_speaker: str
    transitions: list[Transition] = field(default_factory=list)
    default_target: Any = field(default_factory=TerminateTarget)
    max_turns: int | None = None

    def __post_init__(self) -> None:
        # Ascending priority, stable: ties keep their list order.
        self._ordered = sorted(self.transitions, key=lambda t: t.priority)

    def select(self, state: Any, envelope: Envelope) -> TransitionDecision:
        """The first rule whose condition holds decides; else the default target."""
        for transition in self._ordered:
            if transition.when.evaluate(state, envelope):
                decision: TransitionDecision = transition.then.resolve(state, envelope)
                return decision
        fallback: TransitionDecision = self.default_target.resolve(state, envelope)
        return fallback

    def tool_names(self) -> set[str]:
        """Tool names that ``ToolCalled`` rules route on."""
        return {t.when.tool_name for t in self.transitions if isinstance(t.when, ToolCalled)}

    def to_dict(self) -> dict[str, Any]:
        """The wire form (JSON-ready; see spec §11.4)."""
        return {
            "initial_speaker": self.initial_speaker,
            "transitions": [
                {
                    "when": _part_to_dict(t.when),
                    "then": _part_to_dict(t.then),
                    "priority": t.priority,
                }
                for t in self.transitions
            ],
            "default_target": _part_to_dict(self.default_target),
            "max_turns": self.max_turns,
        }

    def dumps(self) -> str:
        """``to_dict`` as JSON text with sorted keys."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def loads(
        cls, data: str | Mapping[str, Any], *, registry: TransitionRegistry | None = None
    ) -> TransitionGraph:
        """Rebuild a graph from ``dumps`` text or ``to_dict`` data.

        Raises:
            WorkflowGraphError: not a graph (the message names the field), or a
                target/condition name that is not registered.
        """
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError as exc:
                raise WorkflowGraphError(f"graph: not JSON ({exc})") from exc
        return (registry or TransitionRegistry.default()).graph_from_dict(data)

    from_dict = loads

    @classmethod
    def round_robin(
        cls, participants: Sequence[str], *, max_turns: int | None = None
    ) -> TransitionGraph:
        """Everyone in turn from ``participants[0]``; ``max_turns`` caps the session."""
        order = list(participants)
        if not order:
            raise WorkflowGraphError("round_robin: participants must not be empty")
        return cls(
            initial_speaker=order[0],
            transitions=[Transition(Always(), RoundRobinTarget())],
            default_target=TerminateTarget("round_robin_complete"),
            max_turns=max_turns,
        )

    @classmethod
    def sequence(cls, *steps: str | Sequence[str]) -> TransitionGraph:
        """Each step hands to the next; the last one ends it (``sequence_complete``).

        ``sequence("a", "b", "c")`` and ``sequence(["a", "b", "c"])`` are the same.
        """
        flat: list[str] = []
        for step in steps:
            if isinstance(step, str):
                flat.append(step)
            else:
                flat.extend(step)
        if not flat:
            raise WorkflowGraphError("sequence: steps must not be empty")
        return cls(
            initial_speaker=flat[0],
            transitions=[
                Transition(FromSpeaker(a), AgentTarget(b)) for a, b in itertools.pairwise(flat)
            ],
            default_target=TerminateTarget("sequence_complete"),
            max_turns=len(flat),
        )


# --------------------------------------------------------------------------- registry


class TransitionRegistry:
    """Target and condition classes by ``name``; the built-ins are pre-registered."""

    _default: ClassVar[TransitionRegistry | None] = None

    def __init__(self) -> None:
        self.targets: dict[str, type] = {}
        self.conditions: dict[str, type] = {}
        for t in (
            AgentTarget,
            RoundRobinTarget,
            StayTarget,
            RevertToInitiatorTarget,
            TerminateTarget,
        ):
            self.register_target(t)
        for c in (Always, FromSpeaker, ToolCalled, ContextEquals):
            self.register_condition(c)

    @classmethod
    def default(cls) -> TransitionRegistry:
        """The process-wide registry (what ``loads`` uses when given none)."""
        if cls._default is None:
            cls._default = cls()
        return cls._default

    def register_target(self, target_cls: type) -> type:
        """Register (or replace) a target class under its ``name``; returns it (a decorator)."""
        self.targets[_registry_name(target_cls, "target")] = target_cls
        return target_cls

    def register_condition(self, condition_cls: type) -> type:
        """Register (or replace) a condition class under its ``name``; returns it (a decorator)."""
        self.conditions[_registry_name(condition_cls, "condition")] = condition_cls
        return condition_cls

    def target_from_dict(self, data: Any, where: str) -> Any:
        """A target instance from ``{"name", "args"}``."""
        return self._build(self.targets, "target", data, where)

    def condition_from_dict(self, data: Any, where: str) -> Any:
        """A condition instance from ``{"name", "args"}``."""
        return self._build(self.conditions, "condition", data, where)

    def _build(self, table: Mapping[str, type], kind: str, data: Any, where: str) -> Any:
        if not isinstance(data, Mapping):
            raise WorkflowGraphError(f"{where}: must be an object with 'name' and 'args'")
        name = data.get("name")
        if not isinstance(name, str):
            raise WorkflowGraphError(f"{where}.name: must be a string, got {name!r:.80}")
        cls = table.get(name)
        if cls is None:
            raise WorkflowGraphError(f"{where}: no transition {kind} registered for {name!r:.80}")
        args = data.get("args", {})
        if not isinstance(args, Mapping) or not all(isinstance(k, str) for k in args):
            raise WorkflowGraphError(f"{where}.args: must be an object")
        try:
            return cls(**args)
        except Exception as exc:  # a custom class may raise anything from its __init__
            raise WorkflowGraphError(f"{where}.args: {exc}") from exc

    def graph_from_dict(self, data: Any) -> TransitionGraph:
        """A graph from its ``to_dict`` form (see ``TransitionGraph.loads``)."""
        if not isinstance(data, Mapping):
            raise WorkflowGraphError(f"graph: must be an object, got {type(data).__name__}")
        initial = data.get("initial_speaker")
        if not isinstance(initial, str) or not initial:
            raise WorkflowGraphError(
                f"graph.initial_speaker: must be a non-empty string, got {initial!r:.80}"
            )
        raw = data.get("transitions", [])
        if not isinstance(raw, list):
            raise WorkflowGraphError("graph.transitions: must be a list")
        transitions = []
        for i, item in enumerate(raw):
            where = f"graph.transitions[{i}]"
            if not isinstance(item, Mapping):
                raise WorkflowGraphError(f"{where}: must be an object")
            priority = item.get("priority", 0)
            if type(priority) is not int:
                raise WorkflowGraphError(
                    f"{where}.priority: must be an integer, got {priority!r:.80}"
                )
            transitions.append(
                Transition(
                    self.condition_from_dict(item.get("when"), f"{where}.when"),
                    self.target_from_dict(item.get("then"), f"{where}.then"),
                    priority,
                )
            )
        default = data.get("default_target")
        default_target = (
            TerminateTarget()
            if default is None
            else self.target_from_dict(default, "graph.default_target")
        )
        max_turns = data.get("max_turns")
        if max_turns is not None and (type(max_turns) is not int or max_turns < 1):
            raise WorkflowGraphError(
                f"graph.max_turns: must be a positive integer or null, got {max_turns!r:.80}"
            )
        return TransitionGraph(initial, transitions, default_target, max_turns)


def _registry_name(cls: type, kind: str) -> str:
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise WorkflowGraphError(
            f"register_{kind}: {cls!r} needs a non-empty class attribute 'name'"
        )
    if not dataclasses.is_dataclass(cls):
        raise WorkflowGraphError(f"register_{kind}: {cls.__name__} must be a dataclass")
    return name


def register_target(target_cls: type) -> type:
    """Register a target class in the default registry (usable as a decorator)."""
    return TransitionRegistry.default().register_target(target_cls)


def register_condition(condition_cls: type) -> type:
    """Register a condition class in the default registry (usable as a decorator)."""
    return TransitionRegistry.default().register_condition(condition_cls)


def agent_targets(graph: TransitionGraph) -> Iterable[tuple[str, str]]:
    """``(field, agent_id)`` of every ``AgentTarget`` in ``graph`` (for participant checks)."""
    for i, t in enumerate(graph.transitions):
        if isinstance(t.then, AgentTarget):
            yield f"graph.transitions[{i}].then.args.agent_id", t.then.agent_id
    if isinstance(graph.default_target, AgentTarget):
        yield "graph.default_target.args.agent_id", graph.default_target.agent_id


_BUILTIN_TARGETS = (
    AgentTarget,
    RoundRobinTarget,
    StayTarget,
    RevertToInitiatorTarget,
    TerminateTarget,
)
_BUILTIN_CONDITIONS = (Always, FromSpeaker, ToolCalled, ContextEquals)


def graph_is_builtin(graph: TransitionGraph) -> bool:
    """True when every target and condition of ``graph`` is a built-in class (exactly)."""
    return type(graph.default_target) in _BUILTIN_TARGETS and all(
        type(t.then) in _BUILTIN_TARGETS and type(t.when) in _BUILTIN_CONDITIONS
        for t in graph.transitions
    )
