"""One worker thread that runs queued store operations in batches (group commit).

Callers on any event loop submit an item and await a future. The thread takes
the items queued so far (at most ``max_batch``), hands the list to ``process``
(which applies them in order and makes them durable once, e.g. one fsync or
one COMMIT), and resolves all futures of the batch together with one callback
per event loop. Items submitted while a batch is being made durable form the
next batch, so concurrent callers share the cost.

``max_batch`` keeps two batches in flight when many callers wait: without it
the callers of one batch resubmit together and the next batch is again all of
them, so the event loop idles while the thread commits and the thread idles
while the loop runs the callers (lock-step). With a cap the thread commits one
part while the loop runs the callers of the other.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from hubbub.knowledge.base import StoreClosedError

__all__ = ["BatchThread"]

T = TypeVar("T")
_Pairs = list[tuple["asyncio.Future[Any]", object]]


def _resolve(pairs: _Pairs) -> None:
    for fut, result in pairs:
        if fut.done():
            continue  # the caller was cancelled; the operation happened anyway
        if isinstance(result, BaseException):
            fut.set_exception(result)
        else:
            fut.set_result(result)


class BatchThread(Generic[T]):
    """A lazily started daemon thread applying submitted items in FIFO batches."""

    def __init__(
        self,
        name: str,
        process: Callable[[list[T]], Sequence[object]],
        *,
        setup: Callable[[], None] | None = None,
        teardown: Callable[[], None] | None = None,
        max_batch: int | None = None,
    ) -> None:
        """Create the worker; nothing runs before the first ``submit``.

        Args:
            name: thread name.
            process: applies a batch, returns one result per item (an exception
                instance means that item failed). It must not raise.
            setup: runs first on the thread; if it raises, every item fails with it.
            teardown: runs last on the thread, after the final batch.
            max_batch: most items per batch (``None``: everything queued).
        """
        if max_batch is not None and max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self._name = name
        self._process = process
        self._setup = setup
        self._teardown = teardown
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[Any]]] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._sleeping = False  # the thread waits on ``_wake`` (guarded by ``_lock``)
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def submit(self, item: T) -> asyncio.Future[Any]:
        """Queue ``item`` now; the returned future resolves after its batch is processed.

        Raises:
            StoreClosedError: the worker was closed.
        """
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._closed:
                raise StoreClosedError("store is closed")
            self._pending.append((item, fut))
            if self._sleeping:
                self._sleeping = False
                self._wake.notify()
            elif self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        return fut

    def _take(self) -> list[tuple[T, asyncio.Future[Any]]]:
        """Wait for queued items and take the next batch; empty once closed and drained."""
        with self._lock:
            while not self._pending and not self._closed:
                self._sleeping = True
                self._wake.wait()
            self._sleeping = False
            queued = self._pending
            cap = self._max_batch
            if cap is not None and len(queued) > cap:
                self._pending = queued[cap:]
                return queued[:cap]
            self._pending = []
            return queued

    def _run(self) -> None:
        failure: BaseException | None = None
        if self._setup is not None:
            try:
                self._setup()
            except BaseException as exc:
                failure = exc
        while True:
            batch = self._take()
            if not batch:
                break
            items = [item for item, _ in batch]
            results: Sequence[object]
            if failure is not None:
                results = [failure] * len(items)
            else:
                try:
                    results = self._process(items)
                except BaseException as exc:  # a bug must not leave callers hanging
                    results = [exc] * len(items)
            by_loop: dict[asyncio.AbstractEventLoop, _Pairs] = {}
            for (_, fut), result in zip(batch, results, strict=True):
                loop = fut.get_loop()
                pairs = by_loop.get(loop)
                if pairs is None:
                    pairs = by_loop[loop] = []
                pairs.append((fut, result))
            for loop, pairs in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_resolve, pairs)
                except RuntimeError:  # that loop is closed; nobody is waiting
                    pass
        if self._teardown is not None and failure is None:
            self._teardown()

    async def close(self) -> None:
        """Process what is queued, run ``teardown`` and stop the thread; idempotent."""
        with self._lock:
            self._closed = True
            self._sleeping = False
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join)
