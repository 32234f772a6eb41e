"""Events: the typed records that flow through a stream and make up its history.

Every event is a slotted dataclass deriving from :class:`BaseEvent`. Events compare by
field values; ``created_at`` (a ``time.time()`` stamp) is excluded from equality and repr.
Class flags: ``__transient__`` (not persisted to history by default) and
``__conversational__`` (False for telemetry such as :class:`UsageEvent`).

Inputs (:class:`TextInput`, :class:`DataInput`) and :class:`ToolResult` are plain
dataclasses, not events: they are parts carried by requests and tool results.
"""

from __future__ import annotations

import dataclasses
import enum
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import orjson

if TYPE_CHECKING:
    from hubbub.stream import Stream
    from hubbub.task import TaskSpec

__all__ = [
    "BaseEvent",
    "BinaryInput",
    "CompactionSummary",
    "Condition",
    "DataInput",
    "Field",
    "HaltEvent",
    "HumanInputRequest",
    "HumanMessage",
    "Input",
    "ModelMessage",
    "ModelMessageChunk",
    "ModelReasoning",
    "ModelRequest",
    "ModelResponse",
    "ObserverAlert",
    "Severity",
    "TaskCancelled",
    "TaskCompleted",
    "TaskExpired",
    "TaskFailed",
    "TaskProgress",
    "TaskStarted",
    "TextInput",
    "ToolCallEvent",
    "ToolCallsEvent",
    "ToolErrorEvent",
    "ToolNotFoundEvent",
    "ToolResult",
    "ToolResultEvent",
    "ToolResultsEvent",
    "Usage",
    "UsageEvent",
]

E = TypeVar("E", bound="BaseEvent")


def _new_id() -> str:
    return str(uuid.uuid4())


def _plain(value: Any) -> Any:
    """Convert a value to JSON-friendly builtins (dataclasses become dicts)."""
    if isinstance(value, BaseEvent):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, BaseException):
        return repr(value)
    return value


@dataclass(slots=True)
class BaseEvent:
    """Base of every stream event; equality by fields, ``created_at`` excluded."""

    __transient__: ClassVar[bool] = False
    __conversational__: ClassVar[bool] = True

    created_at: float = field(default_factory=time.time, compare=False, repr=False, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        """Return a shallow JSON-friendly dict of the fields plus the event ``type``."""
        out: dict[str, Any] = {"type": type(self).__name__}
        for f in dataclasses.fields(self):
            out[f.name] = _plain(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls: type[E], data: dict[str, Any]) -> E:
        """Build an event of this class from a dict produced by :meth:`to_dict` (flat fields)."""
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        return cls(**{k: v for k, v in data.items() if k in names})


# --------------------------------------------------------------------------- conditions


class Condition:
    """A predicate over events, combinable with ``|``, ``&`` and ``~``."""

    __slots__ = ()

    def __call__(self, event: BaseEvent) -> bool:
        """Return whether ``event`` matches."""
        raise NotImplementedError

    def __or__(self, other: Condition | type[BaseEvent]) -> Condition:
        return _AnyOf(self, as_condition(other))

    def __ror__(self, other: Condition | type[BaseEvent]) -> Condition:
        return _AnyOf(as_condition(other), self)

    def __and__(self, other: Condition | type[BaseEvent]) -> Condition:
        return _AllOf(self, as_condition(other))

    def __rand__(self, other: Condition | type[BaseEvent]) -> Condition:
        return _AllOf(as_condition(other), self)

    def __invert__(self) -> Condition:
        return _Not(self)


class TypeCondition(Condition):
    """Matches instances of one or more event classes."""

    __slots__ = ("types",)

    def __init__(self, *types: type[BaseEvent]) -> None:
        self.types = types

    def __call__(self, event: BaseEvent) -> bool:
        return isinstance(event, self.types)


class _AnyOf(Condition):
    __slots__ = ("parts",)

    def __init__(self, *parts: Condition) -> None:
        self.parts = parts

    def __call__(self, event: BaseEvent) -> bool:
        return any(p(event) for p in self.parts)


class _AllOf(Condition):
    __slots__ = ("parts",)

    def __init__(self, *parts: Condition) -> None:
        self.parts = parts

    def __call__(self, event: BaseEvent) -> bool:
        return all(p(event) for p in self.parts)


class _Not(Condition):
    __slots__ = ("inner",)

    def __init__(self, inner: Condition) -> None:
        self.inner = inner

    def __call__(self, event: BaseEvent) -> bool:
        return not self.inner(event)


class _FieldTest(Condition):
    __slots__ = ("cls", "name", "op", "value")

    def __init__(self, cls: type[BaseEvent], name: str, op: str, value: Any) -> None:
        self.cls, self.name, self.op, self.value = cls, name, op, value

    def __call__(self, event: BaseEvent) -> bool:
        if not isinstance(event, self.cls):
            return False
        v = getattr(event, self.name, None)
        op = self.op
        if op == "eq":
            return bool(v == self.value)
        if op == "ne":
            return bool(v != self.value)
        if op == "is":
            return v is self.value
        if v is None:
            return False
        if op == "lt":
            return bool(v < self.value)
        if op == "le":
            return bool(v <= self.value)
        if op == "gt":
            return bool(v > self.value)
        return bool(v >= self.value)


class Field:
    """A field reference for conditions: ``Field(ToolCallEvent, "name") == "search"``."""

    __slots__ = ("cls", "name")

    def __init__(self, cls: type[BaseEvent], name: str) -> None:
        self.cls, self.name = cls, name

    def __eq__(self, value: object) -> Condition:  # type: ignore[override]
        return _FieldTest(self.cls, self.name, "eq", value)

    def __ne__(self, value: object) -> Condition:  # type: ignore[override]
        return _FieldTest(self.cls, self.name, "ne", value)

    def __lt__(self, value: Any) -> Condition:
        return _FieldTest(self.cls, self.name, "lt", value)

    def __le__(self, value: Any) -> Condition:
        return _FieldTest(self.cls, self.name, "le", value)

    def __gt__(self, value: Any) -> Condition:
        return _FieldTest(self.cls, self.name, "gt", value)

    def __ge__(self, value: Any) -> Condition:
        return _FieldTest(self.cls, self.name, "ge", value)

    def is_(self, value: Any) -> Condition:
        """Return a condition testing identity with ``value``."""
        return _FieldTest(self.cls, self.name, "is", value)

    __hash__ = None  # type: ignore[assignment]


def as_condition(cond: Condition | type[BaseEvent] | tuple[type[BaseEvent], ...]) -> Condition:
    """Normalise an event class (or tuple of classes) or a condition to a :class:`Condition`."""
    if isinstance(cond, Condition):
        return cond
    if isinstance(cond, tuple):
        return TypeCondition(*cond)
    return TypeCondition(cond)


# --------------------------------------------------------------------------- inputs


@dataclass(slots=True)
class Input:
    """Base of request/tool-result parts; carries free-form ``metadata``."""

    metadata: dict[str, Any] = field(default_factory=dict, kw_only=True)

    @staticmethod
    def ensure_input(value: Any) -> Input:
        """Wrap a value as a part: ``str`` → TextInput, Input → itself, other → DataInput."""
        if isinstance(value, str):
            return TextInput(value)
        if isinstance(value, Input):
            return value
        return DataInput(value)


@dataclass(slots=True)
class TextInput(Input):
    """A text part."""

    content: str


@dataclass(slots=True)
class DataInput(Input):
    """A structured part holding the original Python object (JSON-encoded on the wire)."""

    data: Any

    def to_json(self) -> str:
        """Return the data encoded as JSON text (dataclasses and pydantic models supported)."""
        return orjson.dumps(self.data, default=_json_default).decode()


@dataclass(slots=True)
class BinaryInput(Input):
    """A binary part (image, audio, document) with a media type."""

    data: bytes
    media_type: str = "application/octet-stream"


def _json_default(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, BaseException):
        return repr(obj)
    return str(obj)


# --------------------------------------------------------------------------- model events


@dataclass(slots=True)
class ModelRequest(BaseEvent):
    """One user turn made of one or more parts."""

    parts: list[Input] = field(default_factory=list)

    @classmethod
    def ensure_request(cls, msgs: Iterable[Any] | Any) -> ModelRequest:
        """Build a request from a request, one part, or an iterable of parts."""
        if isinstance(msgs, ModelRequest):
            return msgs
        if isinstance(msgs, (str, Input)):
            return cls([Input.ensure_input(msgs)])
        return cls([Input.ensure_input(m) for m in msgs])


@dataclass(slots=True)
class ModelMessage(BaseEvent):
    """The text the model said (transient; persisted history keeps ModelResponse)."""

    __transient__: ClassVar[bool] = True

    content: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, kw_only=True)


@dataclass(slots=True)
class ModelMessageChunk(BaseEvent):
    """A streamed piece of model text (transient)."""

    __transient__: ClassVar[bool] = True

    content: str = ""


@dataclass(slots=True)
class ModelReasoning(BaseEvent):
    """Model reasoning/thinking text (transient)."""

    __transient__: ClassVar[bool] = True

    content: str = ""


@dataclass(slots=True, frozen=True)
class Usage:
    """Token counts of one or more model calls; truthy iff any field is non-zero."""

    prompt_tokens: float | None = None
    completion_tokens: float | None = None
    total_tokens: float | None = None
    cache_read_input_tokens: float | None = None
    cache_creation_input_tokens: float | None = None
    thinking_tokens: float | None = None

    def __bool__(self) -> bool:
        return any(
            (
                self.prompt_tokens,
                self.completion_tokens,
                self.total_tokens,
                self.cache_read_input_tokens,
                self.cache_creation_input_tokens,
                self.thinking_tokens,
            )
        )

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(*(_add(getattr(self, n), getattr(other, n)) for n in _USAGE_FIELDS))


_USAGE_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "thinking_tokens",
)


def _add(a: float | None, b: float | None) -> float | None:
    if a is None and b is None:
        return None
    return (a or 0) + (b or 0)


_NO_USAGE = Usage()


@dataclass(slots=True)
class ToolCallEvent(BaseEvent):
    """One tool call requested by the model; ``arguments`` is JSON text."""

    name: str = ""
    id: str = field(default_factory=_new_id, kw_only=True)
    arguments: str = field(default="{}", kw_only=True)
    vendor_metadata: dict[str, Any] = field(default_factory=dict, kw_only=True)
    source: str | None = field(default=None, kw_only=True)

    @property
    def serialized_arguments(self) -> dict[str, Any]:
        """Return the arguments parsed from JSON (``{}`` when empty)."""
        if not self.arguments:
            return {}
        parsed = orjson.loads(self.arguments)
        if not isinstance(parsed, dict):
            raise ValueError(f"tool arguments must be a JSON object, got {self.arguments!r}")
        return parsed


@dataclass(slots=True)
class ToolCallsEvent(BaseEvent):
    """All tool calls of one model response (executed concurrently)."""

    calls: list[ToolCallEvent] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.calls)

    def __iter__(self) -> Iterator[ToolCallEvent]:
        return iter(self.calls)


@dataclass(slots=True)
class ModelResponse(BaseEvent):
    """The result of one model call: optional text message, tool calls, usage."""

    message: ModelMessage | None = None
    tool_calls: ToolCallsEvent = field(default_factory=ToolCallsEvent, kw_only=True)
    usage: Usage = field(default=_NO_USAGE, kw_only=True)
    response_force: bool = field(default=False, kw_only=True)
    files: list[Any] = field(default_factory=list, kw_only=True)
    model: str | None = field(default=None, kw_only=True)
    provider: str | None = field(default=None, kw_only=True)
    finish_reason: str | None = field(default=None, kw_only=True)
    response_id: str | None = field(default=None, kw_only=True)

    @property
    def content(self) -> str | None:
        """Return the message text, or None when the response has no message."""
        return self.message.content if self.message is not None else None

    @property
    def metadata(self) -> dict[str, Any]:
        """Return the message metadata (empty when there is no message)."""
        return self.message.metadata if self.message is not None else {}


@dataclass(slots=True)
class UsageEvent(BaseEvent):
    """Token usage of one model call (or a rollup); persisted, non-conversational."""

    __conversational__: ClassVar[bool] = False

    usage: Usage = _NO_USAGE
    kind: str = field(default="model_call", kw_only=True)
    model: str | None = field(default=None, kw_only=True)
    provider: str | None = field(default=None, kw_only=True)
    finish_reason: str | None = field(default=None, kw_only=True)
    label: str | None = field(default=None, kw_only=True)
    parts: tuple[Any, ...] = field(default=(), kw_only=True)


# --------------------------------------------------------------------------- tool results


class ToolResult:
    """What a tool returned: a list of parts, plus ``final`` (end the turn with it)."""

    __slots__ = ("final", "metadata", "parts")

    def __init__(
        self,
        *inputs: Any,
        parts: Sequence[Any] = (),
        final: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.parts: list[Input] = [Input.ensure_input(p) for p in (*inputs, *parts)]
        self.final = final
        self.metadata: dict[str, Any] = metadata if metadata is not None else {}

    @classmethod
    def ensure_result(cls, value: Any) -> ToolResult:
        """Wrap a tool return value: ToolResult as is, ``str`` → text, other → DataInput."""
        if isinstance(value, ToolResult):
            return value
        if isinstance(value, Input):
            return cls(value)
        if isinstance(value, str):
            return cls(TextInput(value))
        return cls(DataInput(value))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ToolResult):
            return NotImplemented
        return self.parts == other.parts and self.final == other.final

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ToolResult(parts={self.parts!r}, final={self.final!r})"

    def to_text(self) -> str:
        """Return the result as wire text: text parts verbatim, data parts JSON-encoded."""
        out: list[str] = []
        for p in self.parts:
            if isinstance(p, TextInput):
                out.append(p.content)
            elif isinstance(p, DataInput):
                out.append(p.to_json())
            else:
                out.append(repr(p))
        return "\n".join(out)


@dataclass(slots=True)
class ToolResultEvent(BaseEvent):
    """The result of one tool call, linked to it by ``parent_id``."""

    parent_id: str
    name: str
    result: ToolResult

    @classmethod
    def from_call(cls, call: ToolCallEvent, result: ToolResult) -> ToolResultEvent:
        """Build the result event answering ``call``."""
        return cls(call.id, call.name, result)

    @property
    def content(self) -> str:
        """Return the result as wire text."""
        return self.result.to_text()


@dataclass(slots=True)
class ToolErrorEvent(ToolResultEvent):
    """A tool failure; ``result`` holds the formatted traceback, ``error`` the exception."""

    error: BaseException


@dataclass(slots=True)
class ToolNotFoundEvent(ToolErrorEvent):
    """The model called a tool name that is not available in this turn."""


@dataclass(slots=True)
class ToolResultsEvent(BaseEvent):
    """All results of one tool round, in call order (what providers serialise)."""

    results: list[ToolResultEvent] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.results)


# --------------------------------------------------------------------------- tasks


@dataclass(slots=True)
class TaskStarted(BaseEvent):
    """A task entered RUNNING."""

    task_id: str
    agent_name: str = ""
    objective: str = ""
    spec: TaskSpec | None = None
    expires_at: str | None = None


@dataclass(slots=True)
class TaskProgress(BaseEvent):
    """A progress update of a running task (transient)."""

    __transient__: ClassVar[bool] = True

    task_id: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TaskCompleted(BaseEvent):
    """A task completed; ``usage`` is a cumulative snapshot (never sum it)."""

    task_id: str
    result: Any = None
    task_stream: Stream | None = None
    usage: Usage = _NO_USAGE


@dataclass(slots=True)
class TaskFailed(BaseEvent):
    """A task failed with an error message."""

    task_id: str
    error: str = ""


@dataclass(slots=True)
class TaskExpired(BaseEvent):
    """A task ran past its TTL."""

    task_id: str


@dataclass(slots=True)
class TaskCancelled(BaseEvent):
    """A task was cancelled."""

    task_id: str
    reason: str = ""


# --------------------------------------------------------------------------- observers / misc


class Severity(enum.StrEnum):
    """Severity of an observer alert."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    FATAL = "fatal"


@dataclass(slots=True)
class ObserverAlert(BaseEvent):
    """An alert raised by an observer."""

    source: str
    severity: Severity
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class HaltEvent(BaseEvent):
    """Request to halt the conversation (e.g. after a FATAL alert)."""

    reason: str = ""
    source: str = ""
    alerts: list[ObserverAlert] = field(default_factory=list)


@dataclass(slots=True)
class CompactionSummary(BaseEvent):
    """Stands for elided history; rendered to models as a user turn."""

    summary: str
    event_count: int = 0


@dataclass(slots=True)
class HumanInputRequest(BaseEvent):
    """A request for human input (HITL)."""

    content: str = ""


@dataclass(slots=True)
class HumanMessage(BaseEvent):
    """A human's answer to a :class:`HumanInputRequest`."""

    content: str = ""
