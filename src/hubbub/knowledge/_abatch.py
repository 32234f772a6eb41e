"""Group commit on the event loop, for stores with an async client (Redis, PostgreSQL).

Mutations are queued in call order; one flusher task at a time sends everything
queued so far as one batch (a pipeline, a transaction) and resolves the
batch's futures together. Mutations issued while a batch is in flight form
the next batch, so concurrent callers share round trips and commits, and
mutations are applied in exactly the order they were called.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from hubbub.knowledge.base import StoreClosedError

__all__ = ["AsyncBatcher"]

T = TypeVar("T")


class AsyncBatcher(Generic[T]):
    """Collects items and flushes them in FIFO batches through one flusher task."""

    def __init__(self, flush: Callable[[list[T]], Awaitable[Sequence[object]]]) -> None:
        """Create the batcher.

        Args:
            flush: applies a batch, returns one result per item (an exception
                instance fails that item); if it raises, the whole batch fails.
        """
        self._flush = flush
        self._pending: list[tuple[T, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def submit(self, item: T) -> asyncio.Future[Any]:
        """Queue ``item``; the future resolves when its batch has been applied.

        Raises:
            StoreClosedError: the batcher was closed.
        """
        if self._closed:
            raise StoreClosedError("store is closed")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return fut

    async def _run(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                results: Sequence[object]
                try:
                    results = await self._flush([item for item, _ in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(
                            f"flush returned {len(results)} results for {len(batch)}"
                        )
                except Exception as exc:
                    results = [exc] * len(batch)
                for (_, fut), result in zip(batch, results, strict=True):
                    if fut.done():
                        continue
                    if isinstance(result, BaseException):
                        fut.set_exception(result)
                    else:
                        fut.set_result(result)
        finally:
            self._task = None

    async def drain(self) -> None:
        """Wait until everything queued so far has been flushed."""
        while self._task is not None:
            await asyncio.shield(self._task)

    async def close(self) -> None:
        """Refuse new items and wait for queued ones; idempotent."""
        self._closed = True
        await self.drain()
