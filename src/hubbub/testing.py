"""Offline model configs for tests: scripted replies and call tracking (no network, no SDK)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Union

from hubbub.config.base import LLMClient, ModelConfig, ModelProvider, Serializer
from hubbub.context import ConversationContext
from hubbub.events import (
    BaseEvent,
    ModelMessage,
    ModelResponse,
    ToolCallEvent,
    ToolCallsEvent,
    ToolErrorEvent,
    ToolResultsEvent,
    Usage,
)
from hubbub.exceptions import ScriptExhaustedError
from hubbub.tool_schema import FunctionToolSchema

if TYPE_CHECKING:
    from unittest.mock import MagicMock

__all__ = [
    "ModelCall",
    "ScriptExhaustedError",
    "TestClient",
    "TestConfig",
    "TrackingClient",
    "TrackingConfig",
    "Turn",
    "TurnsConfig",
]

Turn = Union[str, ToolCallEvent, Iterable[ToolCallEvent], ModelResponse, BaseEvent, BaseException]  # noqa: UP007
"""One script item of a :class:`TestConfig`."""


_TOOL_OUTCOMES = (ToolErrorEvent, ToolResultsEvent)


def _first_tool_error(messages: Sequence[BaseEvent]) -> ToolErrorEvent | None:
    for e in messages:
        if not isinstance(e, _TOOL_OUTCOMES):  # most of a history: one test per event
            continue
        if isinstance(e, ToolErrorEvent):
            return e
        for r in e.results:
            if isinstance(r, ToolErrorEvent):
                return r
    return None


class TestClient:
    """A client consuming one :class:`TestConfig` script from its start."""

    __test__ = False

    __slots__ = ("_consumed", "_it", "config")

    def __init__(self, config: TestConfig) -> None:
        self.config = config
        self._it: Iterator[Turn] = iter(config.events)
        self._consumed = 0

    async def __call__(
        self,
        messages: Sequence[BaseEvent],
        context: ConversationContext,
        *,
        tools: Iterable[FunctionToolSchema] = (),
        response_schema: Any = None,
        serializer: Serializer | None = None,
    ) -> ModelResponse:
        """Answer with the next script item (publishing non-consuming events on the way).

        Raises:
            ScriptExhaustedError: no item is left.
            BaseException: a scripted exception, or (``raise_tool_errors``) a tool's error.
        """
        if self.config.raise_tool_errors:
            failed = _first_tool_error(messages)
            if failed is not None:
                raise failed.error
        for item in self._it:
            if isinstance(item, str):
                self._consumed += 1
                message = ModelMessage(item)
                await context.send(message)
                config = self.config
                return ModelResponse(message, usage=config.usage, model=config._model)
            if isinstance(item, ModelResponse):
                self._consumed += 1
                return dataclasses.replace(item)
            if isinstance(item, ToolCallEvent):
                self._consumed += 1
                return ModelResponse(
                    tool_calls=ToolCallsEvent([dataclasses.replace(item)]),
                    usage=self.config.usage,
                    model=self.config._model,
                )
            if isinstance(item, BaseException):
                self._consumed += 1
                raise item
            if isinstance(item, BaseEvent):
                await context.send(dataclasses.replace(item))
                continue
            calls = [dataclasses.replace(c) for c in item]
            self._consumed += 1
            return ModelResponse(
                tool_calls=ToolCallsEvent(calls), usage=self.config.usage, model=self.config._model
            )
        raise ScriptExhaustedError(
            f"TestConfig script exhausted: all {self._consumed} scripted model turn(s) were "
            "consumed and the agent asked for another model call"
        )


class TestConfig:
    """A scripted model: each item answers one model call, in order.

    Items: ``str`` (say that text), ``ToolCallEvent`` (request one call), an iterable of
    ToolCallEvents (several calls, run concurrently), ``ModelResponse`` (returned as is),
    an exception (raised), any other event (published without consuming a call).
    Every ``ask`` replays the script from the start (the agent calls ``create()`` per
    turn); tool rounds within a turn and ``reply.ask`` continuations consume successive items.

    Args:
        events: The script.
        provider: Value of ``provider`` (else the property raises NotImplementedError).
        model: Value of ``model`` (else the property raises NotImplementedError).
        raise_tool_errors: Re-raise the first ToolErrorEvent found in the history.
        usage: Token usage every scripted model call reports (text and tool-call
            items; a scripted ``ModelResponse`` carries its own), as a provider's
            would — so usage accounting can be tested offline. Default: none.
    """

    __test__ = False

    def __init__(
        self,
        *events: Turn,
        provider: ModelProvider | str | None = None,
        model: str | None = None,
        raise_tool_errors: bool = True,
        usage: Usage | None = None,
    ) -> None:
        self.events: tuple[Turn, ...] = events
        self.usage: Usage = usage if usage is not None else Usage()
        self._provider = provider
        self._model = model
        self.raise_tool_errors = raise_tool_errors

    @property
    def provider(self) -> ModelProvider | str:
        """The configured provider; NotImplementedError when not given."""
        if self._provider is None:
            raise NotImplementedError("TestConfig has no provider; pass provider=")
        return self._provider

    @property
    def model(self) -> str:
        """The configured model; NotImplementedError when not given."""
        if self._model is None:
            raise NotImplementedError("TestConfig has no model; pass model=")
        return self._model

    def copy(self, **overrides: Any) -> TestConfig:
        """Return self (a script is shared, not copied)."""
        return self

    def create(self) -> TestClient:
        """Return a fresh client replaying the script from its first item."""
        return TestClient(self)

    def create_files_client(self) -> Any:
        """Not supported offline."""
        raise NotImplementedError("TestConfig has no files client")


class TurnsConfig(TestConfig):
    """A scripted model with one script per ``ask``: the first ask plays ``turns[0]``,
    the next ``turns[1]`` and so on; the last script repeats once the others are used.

    Each script is a tuple of :class:`TestConfig` items (or one item on its own)::

        TurnsConfig((ToolCallEvent("ask_bob"), "Asking bob."), "Done.")
    """

    __test__ = False

    def __init__(self, *turns: Turn | tuple[Turn, ...], **kw: Any) -> None:
        if not turns:
            raise ValueError("TurnsConfig needs at least one turn script")
        super().__init__(**kw)
        self.turns: tuple[tuple[Turn, ...], ...] = tuple(
            t if isinstance(t, tuple) else (t,) for t in turns
        )
        self.asks = 0

    def create(self) -> TestClient:
        """A client playing the next turn's script."""
        script = self.turns[min(self.asks, len(self.turns) - 1)]
        self.asks += 1
        return TestClient(TestConfig(*script, raise_tool_errors=self.raise_tool_errors))


@dataclass(slots=True, frozen=True)
class ModelCall:
    """What reached the model in one call (recorded by :class:`TrackingConfig`)."""

    prompt: tuple[str, ...]
    tools: tuple[FunctionToolSchema, ...]
    dependencies: Mapping[Any, Any]
    variables: Mapping[str, Any]
    messages: tuple[BaseEvent, ...] = field(default=())


class TrackingClient:
    """Wraps a client, recording each call into its config's ``calls``."""

    __slots__ = ("_inner", "_tracker")

    def __init__(self, tracker: TrackingConfig, inner: LLMClient) -> None:
        self._tracker = tracker
        self._inner = inner

    async def __call__(
        self,
        messages: Sequence[BaseEvent],
        context: ConversationContext,
        *,
        tools: Iterable[FunctionToolSchema] = (),
        response_schema: Any = None,
        serializer: Serializer | None = None,
    ) -> ModelResponse:
        """Record the call, then delegate to the wrapped client."""
        tools = tuple(tools)
        self._tracker.calls.append(
            ModelCall(
                tuple(context.prompt),
                tools,
                MappingProxyType(dict(context.dependencies)),
                MappingProxyType(dict(context.variables)),
                tuple(messages),
            )
        )
        if self._tracker._mock is not None:
            self._tracker._mock(messages[-1] if messages else None)
        return await self._inner(
            messages, context, tools=tools, response_schema=response_schema, serializer=serializer
        )


class TrackingConfig:
    """Wraps any model config and records every model call as a :class:`ModelCall`."""

    __test__ = False

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.calls: list[ModelCall] = []
        self._mock: MagicMock | None = None

    @property
    def mock(self) -> MagicMock:
        """A MagicMock called with the last history event of each later model call."""
        if self._mock is None:
            from unittest.mock import MagicMock

            self._mock = MagicMock()
        return self._mock

    @property
    def provider(self) -> ModelProvider | str:
        """The wrapped config's provider."""
        return self.config.provider

    @property
    def model(self) -> str:
        """The wrapped config's model."""
        return self.config.model

    def copy(self, **overrides: Any) -> TrackingConfig:
        """Return self (calls are shared)."""
        return self

    def create(self) -> TrackingClient:
        """Create a tracking client around a fresh client of the wrapped config."""
        return TrackingClient(self, self.config.create())
