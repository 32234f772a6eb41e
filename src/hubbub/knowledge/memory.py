"""``MemoryKnowledgeStore``: the in-process reference store (tests, demos, benchmarks).

Durability: none. Everything lives in the process and is gone when it exits.

Design: the file system is a tree of plain dicts (a directory is a ``dict``
from child name to node), so an open session costs one small dict plus its
files, and ``list``/``delete`` touch only the subtree involved. A written file
is stored as the ``str`` itself; a file that has been appended to is a
:class:`_Log` holding its UTF-8 bytes packed in one ``bytearray`` plus a line
count, so ``append`` is O(record), ``line_count`` is O(1), and a line-indexed
read builds the line offsets once and keeps them.

Concurrency: no operation awaits, so each one is atomic with respect to the
event loop and no lock is needed; the store must be used from one event loop.

Writer lock and foreign data: none. The store belongs to the one process (and
the one object) that made it, so ``acquire_lock``/``release_lock`` do nothing
(``acquire_lock`` still refuses a closed store), and it never fails for I/O.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import sys
from array import array
from collections.abc import Sequence
from typing import TypeAlias

from hubbub.knowledge.base import (
    ChangeCallback,
    ChangeSubscription,
    PathConflictError,
    StoreClosedError,
    check_line_requests,
    check_range,
    normalize_file_path,
    normalize_path,
    split_lines,
)

__all__ = ["MemoryKnowledgeStore"]

_log = logging.getLogger(__name__)


class _Log:
    """An appended-to file, packed: its UTF-8 bytes in one ``bytearray``.

    One object per file however many lines it has (a list of ``str`` lines costs
    ~57 bytes of object header per line). ``nl`` counts the ``"\\n"``-terminated
    lines; ``starts`` (the byte offset of every line, the open last line
    included) is built on the first read that needs it and kept up to date after.
    """

    __slots__ = ("buf", "nl", "starts")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.nl = 0
        self.starts: array[int] | None = None

    @classmethod
    def from_text(cls, text: str) -> _Log:
        """Convert a written file so that it can be appended to."""
        log = cls()
        log.add(text)
        return log

    @property
    def nbytes(self) -> int:
        return len(self.buf)

    def add(self, content: str) -> int:
        """Append ``content`` and return its starting byte offset."""
        buf = self.buf
        offset = len(buf)
        if not content:
            return offset
        data = content.encode()
        starts = self.starts
        if starts is not None:
            pos = offset
            if offset and buf[-1] != 10:  # continues the open last line
                pos = data.find(b"\n") + 1 + offset
                if pos == offset:  # no newline: still the same open line
                    pos = -1
            end = offset + len(data)
            while 0 <= pos < end:
                starts.append(pos)
                nxt = data.find(b"\n", pos - offset)
                pos = -1 if nxt < 0 else nxt + 1 + offset
        buf += data
        self.nl += 1 if content.find("\n") == len(content) - 1 else data.count(b"\n")
        return offset

    def text(self) -> str:
        """Return the whole file."""
        return self.buf.decode()

    def line_count(self) -> int:
        """Return the number of lines, the open last line included."""
        buf = self.buf
        return self.nl + (1 if buf and buf[-1] != 10 else 0)

    def _starts(self) -> array[int]:
        starts = self.starts
        if starts is None:
            starts = self.starts = array("q")
            buf = self.buf
            pos, end = 0, len(buf)
            while pos < end:
                starts.append(pos)
                pos = buf.find(b"\n", pos) + 1 or end
        return starts

    def read_lines(self, start: int, end: int | None) -> list[str]:
        """Return lines ``[start, end)`` without terminators (one decode, one split)."""
        buf = self.buf
        count = self.line_count()
        stop = count if end is None else min(end, count)
        if start >= stop:
            return []
        if start == 0 and stop == count:
            lo, hi = 0, len(buf)
        else:
            starts = self._starts()
            lo = starts[start]
            hi = starts[stop] if stop < count else len(buf)
        if buf[hi - 1] == 10:
            hi -= 1
        return buf[lo:hi].decode().split("\n")

    def read_range(self, start: int, end: int | None) -> str:
        """Return bytes ``[start, end)`` decoded (a multi-byte character cut by a bound is replaced)."""
        if start >= len(self.buf) or (end is not None and end <= start):
            return ""
        return self.buf[start:end].decode("utf-8", "replace")


_Node: TypeAlias = "dict[str, _Node] | str | _Log"
_Dir: TypeAlias = "dict[str, _Node]"


class _Subscription:
    """Handle for one memory-store change callback."""

    __slots__ = ("_callback", "_key", "_store")

    def __init__(self, store: MemoryKnowledgeStore, key: str, callback: ChangeCallback) -> None:
        self._store: MemoryKnowledgeStore | None = store
        self._key = key
        self._callback = callback

    async def close(self) -> None:
        """Stop delivery; idempotent."""
        store, self._store = self._store, None
        if store is not None:
            store._unsubscribe(self._key, self._callback)


class MemoryKnowledgeStore:
    """In-memory ``KnowledgeStore``: O(record) appends, change callbacks, no durability."""

    def __init__(self) -> None:
        self._root: _Dir = {}
        self._closed = False
        # path (as the caller spelled it) -> its log, so a hot append skips the tree
        # walk; cleared by every write/delete so it can never point at a stale node.
        self._hot: dict[str, _Log] = {}
        self._subs: dict[str, list[ChangeCallback]] = {}
        self._tasks: set[asyncio.Future[None]] = set()

    def describe(self) -> str:
        """A short description of the store for messages: ``"memory"``."""
        return "memory"

    async def acquire_lock(self, holder: str) -> None:
        """Do nothing: no other hub can reach this store.

        Raises:
            StoreClosedError: the store was closed.
        """
        self._check_open()

    async def release_lock(self) -> None:
        """Do nothing (there is no lock)."""
        return None

    # -- navigation -----------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError("store is closed")

    def _lookup(self, norm: str) -> _Node | None:
        node: _Node = self._root
        if norm == "/":
            return node
        for seg in norm[1:].split("/"):
            if type(node) is not dict:
                return None
            child = node.get(seg)
            if child is None:
                return None
            node = child
        return node

    def _parent(self, norm: str) -> tuple[_Dir, str]:
        """Return (parent dict, name) for a file path, creating missing directories."""
        segs = norm[1:].split("/")
        node = self._root
        for seg in segs[:-1]:
            child = node.get(seg)
            if child is None:
                new: _Dir = {}
                # Interned: a directory named by an id the caller interned too (the
                # hub's session ids) shares that string instead of holding a copy.
                node[sys.intern(seg)] = new
                node = new
            elif type(child) is dict:
                node = child
            else:
                raise PathConflictError(f"{norm!r} lies below a file")
        return node, segs[-1]

    # -- reads ----------------------------------------------------------

    async def read(self, path: str) -> str | None:
        """Return the file's content, or ``None`` if missing or a directory."""
        self._check_open()
        node = self._lookup(normalize_path(path))
        if type(node) is str:
            return node
        if type(node) is _Log:
            return node.text()
        return None

    async def read_range(self, path: str, start: int, end: int | None = None) -> str:
        """Return UTF-8 bytes ``[start, end)`` of the file; ``""`` if missing."""
        self._check_open()
        check_range(start, end)
        node = self._lookup(normalize_path(path))
        if type(node) is _Log:
            return node.read_range(start, end)
        if type(node) is str:
            return node.encode()[start:end].decode("utf-8", "replace")
        return ""

    async def read_lines(
        self, path: str, start_line: int = 0, end_line: int | None = None
    ) -> builtins.list[str]:
        """Return lines ``[start_line, end_line)`` without ``"\\n"``; ``[]`` if missing."""
        self._check_open()
        check_range(start_line, end_line)
        node = self._lookup(normalize_path(path))
        if type(node) is _Log:
            return node.read_lines(start_line, end_line)
        if type(node) is str:
            return split_lines(node)[start_line:end_line]
        return []

    async def line_count(self, path: str) -> int:
        """Return the number of lines; 0 if missing."""
        self._check_open()
        node = self._lookup(normalize_path(path))
        if type(node) is _Log:
            return node.line_count()
        if type(node) is str:
            return len(split_lines(node))
        return 0

    async def read_many(self, paths: Sequence[str]) -> builtins.list[str | None]:
        """Return ``read(path)`` for every path, in order (one pass, nothing awaited)."""
        self._check_open()
        out: builtins.list[str | None] = []
        for node in [self._lookup(normalize_path(p)) for p in paths]:
            if type(node) is str:
                out.append(node)
            elif type(node) is _Log:
                out.append(node.text())
            else:
                out.append(None)
        return out

    async def read_lines_many(
        self, requests: Sequence[tuple[str, int]]
    ) -> builtins.list[builtins.list[str]]:
        """Return ``read_lines(path, start_line)`` for every request, in order."""
        self._check_open()
        out: builtins.list[builtins.list[str]] = []
        for norm, start in check_line_requests(requests):
            node = self._lookup(norm)
            if type(node) is _Log:
                out.append(node.read_lines(start, None))
            elif type(node) is str:
                out.append(split_lines(node)[start:])
            else:
                out.append([])
        return out

    async def list(self, path: str = "/") -> builtins.list[str]:
        """Return sorted child names, directories suffixed with "/"."""
        self._check_open()
        node = self._lookup(normalize_path(path))
        if type(node) is not dict:
            return []
        return sorted(name + "/" if type(child) is dict else name for name, child in node.items())

    async def exists(self, path: str) -> bool:
        """Return whether the path is a file or a directory."""
        self._check_open()
        return self._lookup(normalize_path(path)) is not None

    # -- mutations ------------------------------------------------------

    async def write(self, path: str, content: str) -> None:
        """Replace the file's content."""
        self._check_open()
        self._hot.clear()
        if type(content) is not str:
            raise TypeError(f"content must be a str, got {type(content).__name__}")
        norm = normalize_file_path(path)
        parent, name = self._parent(norm)
        if type(parent.get(name)) is dict:
            raise PathConflictError(f"{norm!r} is a directory")
        parent[sys.intern(name)] = content
        if self._subs:
            self._notify(norm, subtree=False)

    async def append(self, path: str, content: str) -> int:
        """Append ``content``; return the byte offset where it starts."""
        return self._append(path, content)

    def append_now(self, path: str, content: str) -> int:
        """Append at once and return the offset (a memory append is immediate).

        The hub starts appends this way (``hubbub.network.hub.appends``): no future,
        no task, and nothing a caller's cancellation could interrupt.
        """
        return self._append(path, content)

    def _append(self, path: str, content: str) -> int:
        if self._closed:
            raise StoreClosedError("store is closed")
        if type(content) is not str:
            raise TypeError(f"content must be a str, got {type(content).__name__}")
        hot = self._hot.get(path)
        if hot is not None and not self._subs:
            return hot.add(content)
        norm = normalize_file_path(path)
        parent, name = self._parent(norm)
        node = parent.get(name)
        if type(node) is _Log:
            log = node
        elif node is None:
            log = parent[sys.intern(name)] = _Log()
        elif type(node) is str:
            log = parent[name] = _Log.from_text(node)
        else:
            raise PathConflictError(f"{norm!r} is a directory")
        offset = log.add(content)
        if len(self._hot) >= 4096:
            self._hot.clear()
        self._hot[path] = log
        if self._subs:
            self._notify(norm, subtree=False)
        return offset

    async def delete(self, path: str) -> None:
        """Delete the file or tree; prune empty parents; no-op if absent."""
        self._check_open()
        self._hot.clear()
        norm = normalize_path(path)
        if norm == "/":
            if self._root:
                self._root = {}
                if self._subs:
                    self._notify(norm, subtree=True)
            return
        chain: list[tuple[_Dir, str]] = []
        node: _Node = self._root
        for seg in norm[1:].split("/"):
            if type(node) is not dict or seg not in node:
                return
            chain.append((node, seg))
            node = node[seg]
        parent, name = chain.pop()
        del parent[name]
        while not parent and chain:
            parent, name = chain.pop()
            del parent[name]
        if self._subs:
            self._notify(norm, subtree=True)

    # -- change notification --------------------------------------------

    async def on_change(self, path: str, callback: ChangeCallback) -> ChangeSubscription:
        """Call ``callback(path)`` (as a task) after each mutation at or below ``path``."""
        self._check_open()
        key = normalize_path(path)
        self._subs.setdefault(key, []).append(callback)
        return _Subscription(self, key, callback)

    def _unsubscribe(self, key: str, callback: ChangeCallback) -> None:
        callbacks = self._subs.get(key)
        if callbacks and callback in callbacks:
            callbacks.remove(callback)
            if not callbacks:
                del self._subs[key]

    def _notify(self, norm: str, *, subtree: bool) -> None:
        keys = ["/"]
        if norm != "/":
            segs = norm[1:].split("/")
            keys.extend("/" + "/".join(segs[: i + 1]) for i in range(len(segs)))
        if subtree:
            prefix = "/" if norm == "/" else norm + "/"
            keys.extend(k for k in self._subs if k.startswith(prefix) and k != "/")
        for key in keys:
            for callback in tuple(self._subs.get(key, ())):
                task = asyncio.ensure_future(callback(norm))
                self._tasks.add(task)
                task.add_done_callback(self._callback_done)

    def _callback_done(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error("knowledge change callback failed", exc_info=task.exception())

    async def close(self) -> None:
        """Drop all data and callbacks; idempotent. Pending callback tasks still run."""
        self._closed = True
        self._root = {}
        self._subs.clear()
