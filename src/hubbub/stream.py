"""Streams: publish/subscribe over events, with a persisted history per stream id.

Delivery is synchronous and in order: ``await stream.send(event)`` first runs interrupters,
then persists the event (unless transient), then awaits each matching subscriber. So an
event is always in history before anything reacting to it (e.g. the next model call) runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

from hubbub.context import ConversationContext
from hubbub.di import CallPlan
from hubbub.events import BaseEvent, Condition, _AllOf, as_condition

__all__ = ["History", "MemoryStorage", "MemoryStream", "Storage", "Stream", "Subscription"]

ConditionLike = Condition | type[BaseEvent] | tuple[type[BaseEvent], ...]
_sub_ids = itertools.count(1)


@runtime_checkable
class Storage(Protocol):
    """Where a stream's history lives, keyed by stream id."""

    async def save_event(self, event: BaseEvent, ctx: ConversationContext | None) -> None:
        """Append one event to its stream's history (``ctx.stream.id``)."""
        ...

    async def get_history(self, stream_id: Any) -> list[BaseEvent]:
        """Return the events of ``stream_id`` in order (a copy)."""
        ...

    async def set_history(self, stream_id: Any, events: Iterable[BaseEvent]) -> None:
        """Replace the history of ``stream_id``."""
        ...

    async def drop_history(self, stream_id: Any) -> None:
        """Forget the history of ``stream_id``."""
        ...


class MemoryStorage:
    """In-process storage: a dict of event lists."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: dict[Any, list[BaseEvent]] = {}

    def append(self, stream_id: Any, event: BaseEvent) -> None:
        """Append synchronously (the fast path used by :class:`MemoryStream`)."""
        lst = self._data.get(stream_id)
        if lst is None:
            self._data[stream_id] = [event]
        else:
            lst.append(event)

    async def save_event(self, event: BaseEvent, ctx: ConversationContext | None) -> None:
        """Append ``event`` to the history of ``ctx.stream.id``."""
        if ctx is None:
            raise ValueError("MemoryStorage.save_event needs a context naming the stream")
        self.append(ctx.stream.id, event)

    async def get_history(self, stream_id: Any) -> list[BaseEvent]:
        """Return a copy of the events of ``stream_id``."""
        return list(self._data.get(stream_id, ()))

    async def set_history(self, stream_id: Any, events: Iterable[BaseEvent]) -> None:
        """Replace the history of ``stream_id`` with ``events``."""
        self._data[stream_id] = list(events)

    async def drop_history(self, stream_id: Any) -> None:
        """Forget the history of ``stream_id``."""
        self._data.pop(stream_id, None)


class History:
    """The history view of one stream: read and replace its persisted events."""

    __slots__ = ("storage", "stream_id")

    def __init__(self, stream_id: Any, storage: Storage) -> None:
        self.stream_id = stream_id
        self.storage = storage

    async def get_events(self) -> list[BaseEvent]:
        """Return every persisted event of the stream, oldest first."""
        return await self.storage.get_history(self.stream_id)

    async def replace(self, events: Iterable[BaseEvent]) -> None:
        """Replace the stream's history with ``events``."""
        await self.storage.set_history(self.stream_id, events)

    async def clear(self) -> None:
        """Drop the stream's history."""
        await self.storage.drop_history(self.stream_id)


class Subscription:
    """One registered callback with its condition and DI call plan."""

    __slots__ = ("condition", "fn", "id", "interrupt", "plan", "simple", "sync_to_thread")

    def __init__(
        self,
        fn: Callable[..., Any],
        condition: Condition | None,
        *,
        interrupt: bool,
        sync_to_thread: bool,
    ) -> None:
        self.id = next(_sub_ids)
        self.fn = fn
        self.condition = condition
        self.interrupt = interrupt
        self.sync_to_thread = sync_to_thread
        self.plan = CallPlan(fn)
        self.simple = not self.plan.hidden and len(self.plan.visible) <= 1

    async def call(self, event: BaseEvent, ctx: ConversationContext) -> Any:
        """Invoke the callback with the event (first visible parameter) and DI values."""
        plan = self.plan
        if self.simple:
            args: list[Any] = [event] if plan.visible else []
            kwargs: dict[str, Any] = {}
        else:
            kwargs = await plan.resolve_hidden(ctx)
            if plan.visible:
                kwargs[plan.visible[0].name] = event
            args, kwargs = plan.bind(kwargs)
        if plan.is_async:
            return await self.fn(*args, **kwargs)
        if self.sync_to_thread:
            return await asyncio.to_thread(self.fn, *args, **kwargs)
        return self.fn(*args, **kwargs)


@runtime_checkable
class Stream(Protocol):
    """What the agent needs from a stream."""

    @property
    def id(self) -> Any:
        """The stream identity (history and turn lock are keyed by it)."""
        ...

    @property
    def history(self) -> History:
        """The stream's history."""
        ...

    async def send(self, event: BaseEvent, context: ConversationContext | None = None) -> None:
        """Publish ``event``."""
        ...

    def subscribe(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        interrupt: bool = False,
        sync_to_thread: bool = True,
        condition: ConditionLike | None = None,
    ) -> Any:
        """Register a callback; return its subscription id."""
        ...

    def unsubscribe(self, sub_id: int) -> None:
        """Remove a subscription."""
        ...

    def enqueue(self, *content: Any) -> None:
        """Queue a follow-up user message."""
        ...

    def spawn_background(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a background task owned by the stream."""
        ...


class MemoryStream:
    """An in-memory stream with a persisted history (MemoryStorage by default).

    Args:
        storage: History backend; a private :class:`MemoryStorage` when omitted.
        id: Stream identity (uuid4 by default); history is keyed by it.
        persist_all: Also persist transient events.
    """

    def __init__(
        self,
        storage: Storage | None = None,
        *,
        id: Any = None,
        persist_all: bool = False,
    ) -> None:
        self.id: Any = id if id is not None else uuid.uuid4()
        self.storage: Storage = storage if storage is not None else MemoryStorage()
        self.history = History(self.id, self.storage)
        self.persist_all = persist_all
        self._fast = self.storage if type(self.storage) is MemoryStorage else None
        self._subs: list[Subscription] = []
        self._interrupters: list[Subscription] = []
        self._pending: list[Any] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._lock: asyncio.Lock | None = None

    @property
    def turn_lock(self) -> asyncio.Lock:
        """The lock serialising agent turns on this stream (created lazily)."""
        lock = self._lock
        if lock is None:
            lock = self._lock = asyncio.Lock()
        return lock

    async def send(self, event: BaseEvent, context: ConversationContext | None = None) -> None:
        """Publish ``event``: interrupters, then persistence, then matching subscribers."""
        if self._interrupters:
            ctx = context or ConversationContext(self)
            for sub in tuple(self._interrupters):
                if sub.condition is None or sub.condition(event):
                    replaced = await sub.call(event, ctx)
                    if not replaced:
                        return
                    if isinstance(replaced, BaseEvent):
                        event = replaced
        if self.persist_all or not event.__transient__:
            fast = self._fast
            if fast is not None:
                fast.append(self.id, event)
            else:
                await self.storage.save_event(event, context or ConversationContext(self))
        if self._subs:
            sub_ctx = context
            for sub in tuple(self._subs):
                if sub.condition is None or sub.condition(event):
                    if sub_ctx is None:
                        sub_ctx = ConversationContext(self)
                    await sub.call(event, sub_ctx)

    def subscribe(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        interrupt: bool = False,
        sync_to_thread: bool = True,
        condition: ConditionLike | None = None,
    ) -> Any:
        """Register ``fn`` (or decorate) for events matching ``condition``; return its id.

        The callback gets the event as its first visible parameter; ``Context`` and
        ``Inject``/``Variable``/``Depends`` parameters are resolved by DI. Sync callbacks run in
        a worker thread unless ``sync_to_thread=False``. An interrupter's return value replaces
        the event (a falsy value drops it).
        """
        cond = as_condition(condition) if condition is not None else None
        if fn is None:

            def decorator(f: Callable[..., Any]) -> Callable[..., Any]:
                self.subscribe(
                    f, interrupt=interrupt, sync_to_thread=sync_to_thread, condition=cond
                )
                return f

            return decorator
        sub = Subscription(fn, cond, interrupt=interrupt, sync_to_thread=sync_to_thread)
        (self._interrupters if interrupt else self._subs).append(sub)
        return sub.id

    def unsubscribe(self, sub_id: int) -> None:
        """Remove the subscription ``sub_id`` (no-op when unknown)."""
        for subs in (self._subs, self._interrupters):  # in place: ``send`` iterates a copy
            for i, sub in enumerate(subs):
                if sub.id == sub_id:
                    del subs[i]
                    return

    @contextlib.contextmanager
    def sub_scope(
        self,
        fn: Callable[..., Any],
        *,
        interrupt: bool = False,
        sync_to_thread: bool = True,
        condition: ConditionLike | None = None,
    ) -> Iterator[Any]:
        """Subscribe ``fn`` for the duration of a ``with`` block."""
        sub_id = self.subscribe(
            fn, interrupt=interrupt, sync_to_thread=sync_to_thread, condition=condition
        )
        try:
            yield sub_id
        finally:
            self.unsubscribe(sub_id)

    def where(self, condition: ConditionLike) -> StreamView:
        """Return a filtered view sharing this stream's id, history and inbox."""
        return StreamView(self, as_condition(condition))

    @contextlib.asynccontextmanager
    async def get(self, condition: ConditionLike) -> AsyncIterator[asyncio.Future[BaseEvent]]:
        """Yield a future resolved by the first event matching ``condition``."""
        fut: asyncio.Future[BaseEvent] = asyncio.get_running_loop().create_future()

        def _on(event: BaseEvent) -> None:
            if not fut.done():
                fut.set_result(event)

        with self.sub_scope(_on, sync_to_thread=False, condition=condition):
            yield fut

    @contextlib.asynccontextmanager
    async def join(
        self, *, max_events: int | None = None
    ) -> AsyncIterator[AsyncIterator[BaseEvent]]:
        """Yield an async iterator over events published from now on."""
        queue: asyncio.Queue[BaseEvent] = asyncio.Queue()

        async def _iterate() -> AsyncIterator[BaseEvent]:
            n = 0
            while max_events is None or n < max_events:
                yield await queue.get()
                n += 1

        with self.sub_scope(queue.put_nowait, sync_to_thread=False):
            yield _iterate()

    def enqueue(self, *content: Any) -> None:
        """Queue a follow-up user message drained by the running turn before its next call."""
        if content:
            self._pending.append(content)

    @property
    def pending_messages(self) -> list[Any]:
        """Queued follow-up messages (each a tuple of parts)."""
        return list(self._pending)

    def drain_pending(self) -> list[Any]:
        """Return and clear the queued follow-up parts (flattened)."""
        if not self._pending:
            return []
        parts = [p for content in self._pending for p in content]
        self._pending.clear()
        return parts

    def spawn_background(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a task referenced by the stream until it finishes."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


class StreamView:
    """A filtered view of a stream: subscriptions only see matching events."""

    __slots__ = ("_condition", "_stream")

    def __init__(self, stream: MemoryStream, condition: Condition) -> None:
        self._stream = stream
        self._condition = condition

    @property
    def id(self) -> Any:
        """The underlying stream id."""
        return self._stream.id

    @property
    def history(self) -> History:
        """The underlying stream history."""
        return self._stream.history

    async def send(self, event: BaseEvent, context: ConversationContext | None = None) -> None:
        """Publish on the underlying stream (unfiltered)."""
        await self._stream.send(event, context)

    def subscribe(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        interrupt: bool = False,
        sync_to_thread: bool = True,
        condition: ConditionLike | None = None,
    ) -> Any:
        """Subscribe on the underlying stream, restricted to this view's condition."""
        cond = self._condition
        if condition is not None:
            cond = _AllOf(cond, as_condition(condition))
        return self._stream.subscribe(
            fn, interrupt=interrupt, sync_to_thread=sync_to_thread, condition=cond
        )

    def unsubscribe(self, sub_id: int) -> None:
        """Remove a subscription from the underlying stream."""
        self._stream.unsubscribe(sub_id)

    def where(self, condition: ConditionLike) -> StreamView:
        """Narrow the view further."""
        return StreamView(self._stream, _AllOf(self._condition, as_condition(condition)))

    def enqueue(self, *content: Any) -> None:
        """Queue a follow-up message on the underlying stream."""
        self._stream.enqueue(*content)

    def spawn_background(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a background task owned by the underlying stream."""
        return self._stream.spawn_background(coro)
