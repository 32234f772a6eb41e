"""Sweepers: the hub's periodic jobs, each a named loop in a task of its own.

The hub registers its own (``ttl``, ``expectations``, ``snapshots``,
``decisions``, ``retention``) when it starts; operators add theirs with
:meth:`Hub.register_sweeper`. A sweeper that raises is logged and runs again at
its next interval.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable

from hubbub.network.errors import InvalidValueError

__all__ = ["SweepFn", "Sweepers"]

log = logging.getLogger("hubbub.hub")

SweepFn = Callable[[], Awaitable[object]]


class Sweepers:
    """The registered sweepers (name → interval and function) and the tasks running them.

    Before :meth:`start` a registration is only recorded; after it, registering
    starts (or restarts) that sweeper's task at once.
    """

    def __init__(self) -> None:
        self._jobs: dict[str, tuple[float, SweepFn]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._started = False

    @property
    def started(self) -> bool:
        """True once :meth:`start` ran."""
        return self._started

    def names(self) -> list[str]:
        """The registered sweepers' names, in registration order."""
        return list(self._jobs)

    def register(self, name: str, interval_seconds: float, fn: SweepFn) -> None:
        """Run ``fn`` every ``interval_seconds`` (replaces a sweeper of the same name).

        Raises:
            InvalidValueError: ``interval_seconds`` is not a positive finite number,
                or ``fn`` is not callable.
        """
        if (
            isinstance(interval_seconds, bool)
            or not isinstance(interval_seconds, int | float)
            or not math.isfinite(interval_seconds)
            or interval_seconds <= 0
        ):
            raise InvalidValueError(
                f"register_sweeper: interval_seconds must be a positive number, got {interval_seconds!r}"
            )
        if not callable(fn):
            raise InvalidValueError(f"register_sweeper: fn must be callable, got {fn!r}")
        self._jobs[name] = (interval_seconds, fn)
        if self._started:
            old = self._tasks.pop(name, None)
            if old is not None:
                old.cancel()
            self._spawn(name)

    def register_default(self, name: str, interval_seconds: float, fn: SweepFn) -> None:
        """Record a built-in sweeper unless one of that name is registered already."""
        self._jobs.setdefault(name, (interval_seconds, fn))

    async def unregister(self, name: str) -> None:
        """Stop and forget a sweeper; unknown names are ignored."""
        self._jobs.pop(name, None)
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def start(self) -> None:
        """Start a task for every registered sweeper (idempotent)."""
        if self._started:
            return
        self._started = True
        for name in list(self._jobs):
            self._spawn(name)

    async def stop(self) -> None:
        """Cancel every sweeper task and wait for them to end."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _spawn(self, name: str) -> None:
        interval, fn = self._jobs[name]

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await fn()
                except Exception:
                    log.exception("sweeper %s failed", name)

        self._tasks[name] = asyncio.create_task(loop(), name=f"hubbub-sweeper-{name}")
