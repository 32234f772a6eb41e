"""Provider-neutral helpers shared by the provider clients (no SDK imports here)."""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from hubbub.config.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    status_error,
)
from hubbub.events import (
    BaseEvent,
    BinaryInput,
    DataInput,
    Input,
    ModelResponse,
    TextInput,
    ToolCallEvent,
    ToolResult,
    ToolResultEvent,
    ToolResultsEvent,
)

__all__ = [
    "LoopLocal",
    "wrap_sdk_error",
    "ToolPairing",
    "binary_base64",
    "join_prompt",
    "parse_arguments",
    "part_text",
    "result_text",
]

T = TypeVar("T")

Serializer = Callable[[Any], str]


def join_prompt(prompt: Sequence[str]) -> str:
    """Join system-prompt fragments with newlines; ``""`` when there is nothing but blanks."""
    text = "\n".join(prompt)
    return text if text.strip() else ""


def part_text(part: Input, serializer: Serializer | None) -> str:
    """Render a non-binary part as wire text (data parts JSON-encoded)."""
    if isinstance(part, TextInput):
        return part.content
    if isinstance(part, DataInput):
        return serializer(part.data) if serializer is not None else part.to_json()
    raise TypeError(f"cannot render {type(part).__name__} as text")


def result_text(result: ToolResult, serializer: Serializer | None) -> str:
    """Render a tool result's text/data parts as one wire string (joined by newlines)."""
    return "\n".join(
        part_text(p, serializer) for p in result.parts if not isinstance(p, BinaryInput)
    )


def binary_base64(part: BinaryInput) -> str:
    """Return the part's bytes base64-encoded."""
    return base64.b64encode(part.data).decode("ascii")


def parse_arguments(arguments: str) -> dict[str, Any]:
    """Parse a tool call's JSON arguments; anything not a JSON object becomes ``{}``."""
    try:
        value = json.loads(arguments) if arguments else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(slots=True)
class ToolPairing:
    """Which tool calls and results of a history can be sent without orphans.

    Providers reject a tool call without its result and a result without its call, so
    both are dropped. Results are normally rendered from their ``ToolResultsEvent``
    wrapper; a loose ``ToolResultEvent`` is used only when no wrapper carries it.
    """

    called: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)
    wrapped: set[str] = field(default_factory=set)
    _sent: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, events: Iterable[BaseEvent]) -> ToolPairing:
        """Scan a history."""
        pairing = cls()
        for ev in events:
            if isinstance(ev, ModelResponse):
                pairing.called.update(c.id for c in ev.tool_calls.calls)
            elif isinstance(ev, ToolResultsEvent):
                ids = {r.parent_id for r in ev.results}
                pairing.answered.update(ids)
                pairing.wrapped.update(ids)
            elif isinstance(ev, ToolResultEvent):
                pairing.answered.add(ev.parent_id)
        return pairing

    def calls(self, response: ModelResponse) -> list[ToolCallEvent]:
        """The calls of ``response`` that have a result."""
        return [c for c in response.tool_calls.calls if c.id in self.answered]

    def results(self, event: ToolResultsEvent | ToolResultEvent) -> list[ToolResultEvent]:
        """The results of ``event`` to render (each call answered once, calls must exist)."""
        if isinstance(event, ToolResultsEvent):
            candidates = list(event.results)
        elif event.parent_id in self.wrapped:
            return []
        else:
            candidates = [event]
        out: list[ToolResultEvent] = []
        for r in candidates:
            if r.parent_id in self.called and r.parent_id not in self._sent:
                self._sent.add(r.parent_id)
                out.append(r)
        return out


class LoopLocal(Generic[T]):
    """One lazily built value per running event loop, closed when that loop shuts down.

    An SDK client's connection pool belongs to the loop that opened it, so a config
    reused across ``asyncio.run`` calls (or pytest tests) gets a fresh client per loop,
    and the same client for every turn within a loop. Each value is paired with a
    suspended async generator whose ``finally`` closes it: ``loop.shutdown_asyncgens()``
    (run by ``asyncio.run``/``asyncio.Runner`` before closing the loop) thus closes the
    value's connections inside its own loop instead of leaking them. Entries vanish
    with their loop. Copies (``copy``/``deepcopy``/pickle) start empty.
    """

    __slots__ = ("__weakref__", "_items", "_lock")

    def __init__(self) -> None:
        self._items: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[T, AsyncGenerator[None, None] | None]
        ] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    async def get(
        self,
        factory: Callable[[], T],
        close: Callable[[T], Awaitable[object]] | None = None,
    ) -> T:
        """Return the running loop's value, building it with ``factory`` the first time.

        Args:
            factory: Builds the value (synchronously).
            close: Closes the value at loop shutdown or :meth:`aclose`; None = never.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._items.get(loop)
            if entry is not None:
                return entry[0]
            item = factory()
            guard = _close_at_shutdown(item, close) if close is not None else None
            self._items[loop] = (item, guard)
        if guard is not None:
            # The first step registers the generator with the loop's asyncgen hooks.
            await guard.__anext__()
        return item

    async def aclose(self) -> None:
        """Close and forget the running loop's value, if any."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._items.pop(loop, None)
        if entry is not None and entry[1] is not None:
            await entry[1].aclose()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __copy__(self) -> LoopLocal[T]:
        return LoopLocal()

    def __deepcopy__(self, memo: dict[int, Any]) -> LoopLocal[T]:
        return LoopLocal()

    def __reduce__(self) -> tuple[type[LoopLocal[Any]], tuple[()]]:
        return (LoopLocal, ())


async def _close_at_shutdown(
    item: T, close: Callable[[T], Awaitable[object]]
) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await close(item)


def wrap_sdk_error(exc: Exception, sdk: Any, *, provider: str, model: str) -> ProviderError:
    """Translate an ``anthropic``/``openai`` SDK exception into a :class:`ProviderError`.

    Both SDKs share the class names used here (``APITimeoutError`` ⊂
    ``APIConnectionError``, ``APIStatusError``). The caller raises the result
    ``from exc`` so the SDK exception remains the ``__cause__``.
    """
    label = {"anthropic": "Anthropic", "openai": "OpenAI"}.get(provider, provider)
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderTimeoutError(
            f"{label} request for model {model!r} timed out", provider=provider, model=model
        )
    if isinstance(exc, sdk.APIConnectionError):
        return ProviderConnectionError(
            f"could not reach the {label} API for model {model!r}: {exc}",
            provider=provider,
            model=model,
        )
    if isinstance(exc, sdk.APIStatusError):
        status = int(exc.status_code)
        return status_error(
            f"{label} API returned HTTP {status} for model {model!r}: {getattr(exc, 'message', exc)}",
            provider=provider,
            model=model,
            status_code=status,
        )
    return ProviderError(
        f"{label} call for model {model!r} failed: {exc}", provider=provider, model=model
    )


def require_sdk(module: str, config_name: str, extra: str) -> None:
    """Raise a helpful ImportError when a provider SDK is not installed."""
    try:
        importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{config_name} needs the {module!r} package: pip install 'hubbub[{extra}]'"
        ) from exc


def sdk_kwargs(
    *,
    max_retries: int,
    api_key: str | None,
    base_url: str | None,
    timeout: Any,
    default_headers: Any,
    http_client: Any,
) -> dict[str, Any]:
    """Constructor arguments shared by both SDK clients (unset values are left to the SDK)."""
    kwargs: dict[str, Any] = {"max_retries": max_retries}
    if api_key is not None:
        kwargs["api_key"] = api_key
    if base_url is not None:
        kwargs["base_url"] = base_url
    if timeout is not None:
        kwargs["timeout"] = timeout
    if default_headers:
        kwargs["default_headers"] = dict(default_headers)
    if http_client is not None:
        kwargs["http_client"] = http_client
    return kwargs
