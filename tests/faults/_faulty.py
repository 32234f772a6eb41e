"""``FaultyStore``: a ``KnowledgeStore`` that delegates to a real one and fails on command.

Faults are armed per kind of operation and count only the operations that match
(by default: WAL appends, every read, every write), so a test names exactly which
call fails::

    faulty.fail_append(nth=3)                      # the 3rd WAL append from now fails, once
    faulty.fail_append(nth=1, contains="invite")   # the next WAL line holding "invite"
    faulty.fail_appends_to(path)                   # every append to ``path`` until disarm()
    faulty.fail_read(nth=1)                        # the next read of any kind
    faulty.fail_write(nth=1, path_contains="/agents/")

An injected fault raises ``StoreUnavailableError(store="faulty", reason="injected")``
*before* the inner store sees the call, so the operation did not happen: that is the
failure the hub must treat as clean (nothing applied, no sequence used up).

``hold`` keeps a failing append pending for that many event-loop turns before it
raises, so appends issued behind it are in flight when it fails (a batch that fails
after its I/O started).

Everything not intercepted (``on_change``, ``close``, locks, store-specific extras) is
delegated unchanged through ``__getattr__``.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hubbub.knowledge import KnowledgeStore
from hubbub.network.errors import StoreUnavailableError

__all__ = ["FaultyStore", "injected"]

WAL_SUFFIX = "/wal.jsonl"


def injected() -> StoreUnavailableError:
    """The error every injected fault raises."""
    return StoreUnavailableError(store="faulty", reason="injected")


@dataclass
class _Fault:
    """One armed fault: fail ``count`` matching calls, starting with the ``nth`` from arming."""

    nth: int = 1
    count: int = 1  # 0: every matching call from the nth on, until disarmed
    path_contains: str | None = None
    contains: str | None = None  # appends/writes: the content must contain this
    wal_only: bool = False
    hold: int = 0
    seen: int = 0
    fired: int = 0
    fired_on: list[tuple[str, str]] = field(default_factory=list)

    def matches(self, path: str, content: str | None) -> bool:
        if self.wal_only and not path.endswith(WAL_SUFFIX):
            return False
        if self.path_contains is not None and self.path_contains not in path:
            return False
        return self.contains is None or (content is not None and self.contains in content)

    def trips(self, path: str, content: str | None) -> bool:
        """Count the call if it matches; True if this call must fail."""
        if self.count and self.fired >= self.count:
            return False
        if not self.matches(path, content):
            return False
        self.seen += 1
        if self.seen < self.nth:
            return False
        self.fired += 1
        self.fired_on.append((path, content or ""))
        return True


class FaultyStore:
    """Delegates every ``KnowledgeStore`` call to ``inner``; armed faults fail chosen calls."""

    def __init__(self, inner: KnowledgeStore) -> None:
        self.inner = inner
        self._faults: dict[str, _Fault | None] = {"append": None, "read": None, "write": None}
        self.calls: list[tuple[str, str]] = []  # (operation, path) of every intercepted call
        self.trace = False

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes not found normally: locks, store extras, private helpers.
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"FaultyStore({self.inner!r})"

    # -- arming ------------------------------------------------------------------------

    def fail_append(
        self,
        nth: int = 1,
        *,
        count: int = 1,
        contains: str | None = None,
        path_contains: str | None = None,
        wal_only: bool = True,
        hold: int = 0,
    ) -> _Fault:
        """Fail ``count`` matching appends (WAL appends by default) from the ``nth`` on."""
        fault = _Fault(nth, count, path_contains, contains, wal_only, hold)
        self._faults["append"] = fault
        return fault

    def fail_appends_to(self, path: str, *, hold: int = 0) -> _Fault:
        """Fail every append to ``path`` until :meth:`disarm`."""
        fault = _Fault(1, 0, None, None, False, hold)
        fault.matches = lambda p, c: p == path  # type: ignore[method-assign]
        self._faults["append"] = fault
        return fault

    def fail_read(
        self, nth: int = 1, *, count: int = 1, path_contains: str | None = None
    ) -> _Fault:
        """Fail ``count`` reads of any kind (read, read_lines, read_many, list, ...) from the nth."""
        fault = _Fault(nth, count, path_contains)
        self._faults["read"] = fault
        return fault

    def fail_write(
        self,
        nth: int = 1,
        *,
        count: int = 1,
        path_contains: str | None = None,
        contains: str | None = None,
    ) -> _Fault:
        """Fail ``count`` matching writes (``write``/``delete``) from the ``nth`` on."""
        fault = _Fault(nth, count, path_contains, contains)
        self._faults["write"] = fault
        return fault

    def disarm(self) -> None:
        """Let every call through again."""
        self._faults = {"append": None, "read": None, "write": None}

    # -- the checks --------------------------------------------------------------------

    def _check(self, kind: str, op: str, path: str, content: str | None = None) -> _Fault | None:
        if self.trace:
            self.calls.append((op, path))
        fault = self._faults[kind]
        if fault is not None and fault.trips(path, content):
            return fault
        return None

    def _check_read(self, op: str, path: str) -> None:
        if self._check("read", op, path) is not None:
            raise injected()

    # -- mutations ---------------------------------------------------------------------

    async def append(self, path: str, content: str) -> int:
        fault = self._check("append", "append", path, content)
        if fault is not None:
            for _ in range(fault.hold):
                await asyncio.sleep(0)
            raise injected()
        # No suspension before the inner call: the inner store enqueues the append in
        # call order, exactly as if the hub had called it directly.
        return await self.inner.append(path, content)

    async def write(self, path: str, content: str) -> None:
        if self._check("write", "write", path, content) is not None:
            raise injected()
        await self.inner.write(path, content)

    async def delete(self, path: str) -> None:
        if self._check("write", "delete", path) is not None:
            raise injected()
        await self.inner.delete(path)

    # -- reads -------------------------------------------------------------------------

    async def read(self, path: str) -> str | None:
        self._check_read("read", path)
        return await self.inner.read(path)

    async def read_range(self, path: str, start: int, end: int | None = None) -> str:
        self._check_read("read_range", path)
        return await self.inner.read_range(path, start, end)

    async def read_lines(
        self, path: str, start_line: int = 0, end_line: int | None = None
    ) -> builtins.list[str]:
        self._check_read("read_lines", path)
        return await self.inner.read_lines(path, start_line, end_line)

    async def line_count(self, path: str) -> int:
        self._check_read("line_count", path)
        return await self.inner.line_count(path)

    async def read_many(self, paths: Sequence[str]) -> builtins.list[str | None]:
        for path in paths:
            self._check_read("read_many", path)
        from hubbub.knowledge.base import read_many

        return await read_many(self.inner, paths)

    async def read_lines_many(
        self, requests: Sequence[tuple[str, int]]
    ) -> builtins.list[builtins.list[str]]:
        for path, _ in requests:
            self._check_read("read_lines_many", path)
        from hubbub.knowledge.base import read_lines_many

        return await read_lines_many(self.inner, requests)

    async def list(self, path: str = "/") -> builtins.list[str]:
        self._check_read("list", path)
        return await self.inner.list(path)

    async def exists(self, path: str) -> bool:
        self._check_read("exists", path)
        return await self.inner.exists(path)

    # -- delegated explicitly (part of the protocol) -------------------------------------

    async def on_change(self, path: str, callback: Any) -> Any:
        return await self.inner.on_change(path, callback)

    async def close(self) -> None:
        await self.inner.close()
