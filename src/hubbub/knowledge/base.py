"""The ``KnowledgeStore`` protocol: a small virtual file system the hub persists into.

Every store (memory, disk, SQLite, Redis, PostgreSQL) implements the same
contract and passes the same test suite (``tests/knowledge/test_contract.py``).

Model:

* Paths are Unix-like (``/sessions/s1/wal.jsonl``) and normalised by
  :func:`normalize_path`. Directories are implicit: a directory exists while it
  holds at least one file, and disappears with its last file.
* A path is either a file or a directory, never both: writing or appending to
  a path that is a directory, or below a path that is a file, raises
  :class:`PathConflictError`.
* Files are UTF-8 text. ``append`` returns the byte offset at which the record
  starts; ``read_range`` slices by UTF-8 bytes. Appended records are stored
  natively by every backend (list entries, rows, ``O_APPEND`` writes), so an
  append costs O(record), never O(file).
* Lines are ``"\\n"``-terminated; ``read_lines``/``line_count`` see a final
  unterminated fragment as a line. The hub appends one JSON line per envelope.
* Bulk reads: ``read_many`` and ``read_lines_many`` answer many paths in one
  call (one query or pipeline where the backend has them), so reading back
  thousands of sessions costs a handful of round trips instead of one per file.
  Code that accepts any store calls the module functions :func:`read_many` and
  :func:`read_lines_many`, which fall back to concurrent single reads for a
  store that predates the bulk methods.

Durability is per store and documented in each module docstring. The contract
common to all: when an awaited mutation returns, a later read through the same
store sees it, and appends to one path land in call order.

Failures. Every error a store raises on purpose is a
``hubbub.network.errors.StoreError`` (so a ``NetworkError`` with a stable code):

* :class:`KnowledgeStoreError` and its subclasses: the store refused the call
  (bad path, path conflict, closed store);
* ``StoreUnavailableError`` (code ``store_unavailable``): an I/O failure of the
  backing medium (disk full, server down, connection lost). It names the store
  (``describe()``, e.g. ``"sqlite:/var/hub.db"``) and the driver's reason, and
  chains the driver's exception. Nothing of a failed mutation is visible
  afterwards; a failed group-commit batch fails every mutation in it. Server
  stores reconnect by themselves: the next call after the server is back works;
* ``StoreLockedError``: another holder has the store's writer lock (code
  ``store_locked``, the message names the holder), or the location holds
  another application's data (code ``foreign_store``, the message names what
  was found): a store never creates its tables or keys among someone else's.

Each store translates its driver's exceptions at one boundary,
:class:`IOBoundary`.

One writer. ``acquire_lock(holder)`` takes the store's writer lock (a file lock
for SQLite and disk, an advisory lock for PostgreSQL, a lease key for Redis;
the memory store has none) and records ``holder`` (see :func:`lock_holder`) so
that a second taker is refused naming it; ``release_lock()`` and ``close()``
give it back. The lock is advisory: a store that never takes it (a read-only
tool) still reads and writes. :func:`acquire_lock`/:func:`release_lock` call
the methods of a store that has them and do nothing for one that predates them.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Protocol, runtime_checkable

from hubbub.network.errors import (
    NetworkError,
    StoreError,
    StoreLockedError,
    StoreUnavailableError,
)

__all__ = [
    "store_failure",
    "ChangeCallback",
    "check_line_requests",
    "check_range",
    "ChangeSubscription",
    "IOBoundary",
    "InvalidPathError",
    "KnowledgeStore",
    "KnowledgeStoreError",
    "NoopChangeSubscription",
    "PathConflictError",
    "StoreClosedError",
    "StoreError",
    "StoreLockedError",
    "StoreUnavailableError",
    "acquire_lock",
    "foreign_store",
    "lock_holder",
    "release_lock",
    "gather_read_lines_many",
    "gather_read_many",
    "normalize_file_path",
    "normalize_path",
    "read_lines_many",
    "read_many",
    "split_lines",
]

ChangeCallback = Callable[[str], Awaitable[None]]
"""Async callback told the normalised path that changed."""


class KnowledgeStoreError(StoreError):
    """Base class of the refusals a knowledge store raises (a ``StoreError``, code ``store_error``).

    Tree (all under ``hubbub.network.errors.StoreError``)::

        StoreError
        ├── KnowledgeStoreError
        │   ├── InvalidPathError (also ValueError)  malformed path ("..", NUL, root as a file);
        │   │                                       code "invalid_value"
        │   ├── PathConflictError                   file where a directory is needed or vice versa
        │   └── StoreClosedError                    operation after close()
        ├── StoreUnavailableError                   I/O failure: disk full, server down
        └── StoreLockedError                        writer lock held elsewhere; foreign data
    """


class InvalidPathError(KnowledgeStoreError, ValueError):
    """The path is malformed: empty, contains NUL, ``.``/``..`` segments, or names the root."""

    default_code = "invalid_value"


class PathConflictError(KnowledgeStoreError):
    """The path names a directory where a file is needed, or lies below a file."""


class StoreClosedError(KnowledgeStoreError):
    """The store was closed; no further operation is accepted."""


def store_failure(store: object, exc: BaseException) -> NetworkError:
    """``exc`` raised by ``store`` as the error the hub's caller gets.

    A ``NetworkError`` (``StoreUnavailableError``, ``StoreLockedError``, ...) is
    returned as it is; anything else becomes a ``StoreUnavailableError`` naming
    the store (its ``describe()``) and the reason, with ``exc`` as its cause.
    """
    if isinstance(exc, NetworkError):
        return exc
    describe = getattr(store, "describe", None)
    where = str(describe()) if callable(describe) else type(store).__name__
    error = StoreUnavailableError(store=where, reason=f"{type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


class IOBoundary:
    """``with boundary:`` turns a driver's I/O exceptions into ``StoreUnavailableError``.

    The one place where a store translates its driver's failures (in the style
    of httpx's ``map_httpcore_exceptions``): an exception that is an instance of
    one of ``errors`` and not already a ``StoreError`` leaves the block as
    ``StoreUnavailableError(store=store, reason=str(exc))`` chained to it
    (``raise ... from exc``). Anything else passes through unchanged. On
    success it costs two method calls; it keeps no state, so one instance
    serves every concurrent block of a store.
    """

    __slots__ = ("errors", "store")

    def __init__(self, store: str, errors: tuple[type[BaseException], ...]) -> None:
        self.store = store
        self.errors = errors

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and isinstance(exc, self.errors) and not isinstance(exc, StoreError):
            raise self.error(exc) from exc

    def error(self, exc: BaseException) -> StoreUnavailableError:
        """The ``StoreUnavailableError`` for ``exc`` (not raised; its cause is set)."""
        err = StoreUnavailableError(store=self.store, reason=str(exc) or type(exc).__name__)
        err.__cause__ = exc
        return err


def foreign_store(where: str, found: Sequence[str]) -> StoreLockedError:
    """The refusal for a location holding another application's data (code ``foreign_store``).

    ``where`` names the location (a path, a schema, a key prefix); ``found`` the
    foreign tables, files or keys (the first few are named).
    """
    shown = ", ".join(sorted(found)[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    return StoreLockedError(
        f"{where} holds data that is not a hubbub knowledge store ({shown}); "
        "refusing to write into it: use an empty or new location",
        code="foreign_store",
    )


def lock_holder(name: str = "hubbub") -> str:
    """A holder string for ``acquire_lock``: ``"hubbub pid 123 on myhost"``."""
    return f"{name} pid {os.getpid()} on {socket.gethostname()}"


def normalize_path(path: str) -> str:
    """Return the canonical form of ``path``: leading "/", no empty segments, no trailing "/".

    ``"a"`` → ``"/a"``, ``"//a//b/"`` → ``"/a/b"``, ``"/"`` → ``"/"``.

    Raises:
        InvalidPathError: ``path`` is not a string, is empty, contains NUL, or
            has a ``.`` or ``..`` segment.
    """
    if type(path) is not str:
        raise InvalidPathError(f"path must be a str, got {type(path).__name__}")
    # Fast path: already canonical (the hub's own paths always are).
    if (
        path[:1] == "/"
        and "//" not in path
        and "/." not in path
        and "\x00" not in path
        and (path[-1] != "/" or len(path) == 1)
    ):
        return path
    if not path:
        raise InvalidPathError("empty path (use '/' for the root)")
    if "\x00" in path:
        raise InvalidPathError(f"path contains NUL: {path!r}")
    parts = [p for p in path.split("/") if p]
    for part in parts:
        if part in (".", ".."):
            raise InvalidPathError(f"'.' and '..' segments are not allowed: {path!r}")
    return "/" + "/".join(parts)


def normalize_file_path(path: str) -> str:
    """Return ``normalize_path(path)``, rejecting the root, which can never be a file.

    Raises:
        InvalidPathError: as :func:`normalize_path`, or the path is the root.
    """
    norm = normalize_path(path)
    if norm == "/":
        raise InvalidPathError("the root '/' is a directory, not a file")
    return norm


def split_lines(text: str) -> list[str]:
    """Split ``text`` on ``"\\n"`` only, dropping the terminators (no empty last line)."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def check_range(start: int, end: int | None) -> None:
    """Raise ``ValueError`` if a byte or line range has a negative bound."""
    if start < 0 or (end is not None and end < 0):
        raise ValueError(f"range bounds must be >= 0, got start={start} end={end}")


class ChangeSubscription(Protocol):
    """Handle returned by :meth:`KnowledgeStore.on_change`; ``close()`` stops delivery."""

    async def close(self) -> None:
        """Stop delivering change notifications; idempotent."""
        ...


class NoopChangeSubscription:
    """Subscription of a store that cannot observe changes; callers must poll instead."""

    __slots__ = ()

    async def close(self) -> None:
        """Do nothing: there is nothing to stop."""
        return None


@runtime_checkable
class KnowledgeStore(Protocol):
    """Async virtual file system with native appends; see the module docstring for the model."""

    async def read(self, path: str) -> str | None:
        """Return the file's content, or ``None`` if it is missing or a directory."""
        ...

    async def write(self, path: str, content: str) -> None:
        """Replace the file's content atomically, creating parent directories.

        Raises:
            InvalidPathError: bad path or the root.
            PathConflictError: ``path`` is a directory or lies below a file.
        """
        ...

    async def append(self, path: str, content: str) -> int:
        """Append ``content`` and return the UTF-8 byte offset where it starts.

        Creates the file if missing. Appends to one path land in call order.

        Raises:
            InvalidPathError: bad path or the root.
            PathConflictError: ``path`` is a directory or lies below a file.
        """
        ...

    async def read_range(self, path: str, start: int, end: int | None = None) -> str:
        """Return the UTF-8 bytes ``[start, end)`` of the file decoded as text.

        Offsets past the end are clamped; a missing file yields ``""``. Partial
        characters at either edge decode to U+FFFD.

        Raises:
            ValueError: a negative bound.
        """
        ...

    async def read_lines(
        self, path: str, start_line: int = 0, end_line: int | None = None
    ) -> builtins.list[str]:
        """Return lines ``[start_line, end_line)`` without their ``"\\n"``; ``[]`` if missing.

        Raises:
            ValueError: a negative bound.
        """
        ...

    async def line_count(self, path: str) -> int:
        """Return the number of lines (a final unterminated fragment counts); 0 if missing."""
        ...

    async def read_many(self, paths: Sequence[str]) -> builtins.list[str | None]:
        """Return ``read(path)`` for every path, in order, in as few round trips as possible.

        Duplicates are allowed; ``[]`` yields ``[]``. Each result is what ``read``
        returns for that path at some moment during the call (no snapshot across
        paths is promised). :func:`gather_read_many` is a correct implementation
        for any store.

        Raises:
            InvalidPathError: any malformed path (checked before anything is read).
        """
        ...

    async def read_lines_many(
        self, requests: Sequence[tuple[str, int]]
    ) -> builtins.list[builtins.list[str]]:
        """Return ``read_lines(path, start_line)`` for every ``(path, start_line)``, in order.

        As :meth:`read_many`; :func:`gather_read_lines_many` is a correct
        implementation for any store.

        Raises:
            InvalidPathError: any malformed path (checked before anything is read).
            ValueError: a negative ``start_line``.
        """
        ...

    async def list(self, path: str = "/") -> builtins.list[str]:
        """Return the sorted names of the immediate children; directories end with ``"/"``.

        A missing path or a file yields ``[]``.
        """
        ...

    async def delete(self, path: str) -> None:
        """Delete the file or directory tree at ``path``; no-op if absent.

        Empty parent directories vanish with it.
        """
        ...

    async def exists(self, path: str) -> bool:
        """Return whether ``path`` is a file or a (non-empty) directory; the root always exists."""
        ...

    async def on_change(self, path: str, callback: ChangeCallback) -> ChangeSubscription:
        """Call ``callback(changed_path)`` after mutations at or below ``path``.

        Stores that cannot observe changes return :class:`NoopChangeSubscription`.
        """
        ...

    async def acquire_lock(self, holder: str) -> None:
        """Take the store's writer lock for this store object, recording ``holder``.

        Returns once held; does nothing if this object holds it already. Never
        waits for another holder. The lock is advisory (the store works without
        it) and is given back by :meth:`release_lock`, by :meth:`close` and by the
        end of the process.

        Raises:
            StoreLockedError: another holder has it (code ``store_locked``, the
                message names that holder), or the location holds another
                application's data (code ``foreign_store``).
            StoreUnavailableError: the backing store cannot be reached.
            StoreClosedError: the store was closed.
        """
        ...

    async def release_lock(self) -> None:
        """Give back the writer lock if this object holds it; idempotent, never raises."""
        ...

    async def close(self) -> None:
        """Flush, release the lock and resources, and refuse further operations; idempotent."""
        ...


# -- writer lock --------------------------------------------------------------------


async def acquire_lock(store: KnowledgeStore, holder: str) -> None:
    """``store.acquire_lock(holder)``; nothing for a store without a writer lock."""
    native = getattr(store, "acquire_lock", None)
    if native is not None:
        await native(holder)


async def release_lock(store: KnowledgeStore) -> None:
    """``store.release_lock()``; nothing for a store without a writer lock."""
    native = getattr(store, "release_lock", None)
    if native is not None:
        await native()


# -- bulk reads -------------------------------------------------------------------

_GATHER = 128  # concurrent single reads in flight in the generic fallbacks


def check_line_requests(requests: Sequence[tuple[str, int]]) -> builtins.list[tuple[str, int]]:
    """Normalise the paths of ``read_lines_many`` requests and check their start lines.

    Raises:
        InvalidPathError: a malformed path.
        ValueError: a negative start line.
    """
    out: builtins.list[tuple[str, int]] = []
    for path, start in requests:
        check_range(start, None)
        out.append((normalize_path(path), start))
    return out


async def gather_read_many(
    store: KnowledgeStore, paths: Sequence[str]
) -> builtins.list[str | None]:
    """``read_many`` for any store: its ``read``, up to 128 at a time concurrently."""
    norms = [normalize_path(p) for p in paths]
    out: builtins.list[str | None] = []
    for i in range(0, len(norms), _GATHER):
        out.extend(await asyncio.gather(*(store.read(p) for p in norms[i : i + _GATHER])))
    return out


async def gather_read_lines_many(
    store: KnowledgeStore, requests: Sequence[tuple[str, int]]
) -> builtins.list[builtins.list[str]]:
    """``read_lines_many`` for any store: its ``read_lines``, up to 128 at a time concurrently."""
    checked = check_line_requests(requests)
    out: builtins.list[builtins.list[str]] = []
    for i in range(0, len(checked), _GATHER):
        chunk = checked[i : i + _GATHER]
        out.extend(await asyncio.gather(*(store.read_lines(p, s) for p, s in chunk)))
    return out


async def read_many(store: KnowledgeStore, paths: Sequence[str]) -> builtins.list[str | None]:
    """``store.read_many(paths)``, or :func:`gather_read_many` for a store without it."""
    native = getattr(store, "read_many", None)
    if native is None:
        return await gather_read_many(store, paths)
    result: builtins.list[str | None] = await native(paths)
    return result


async def read_lines_many(
    store: KnowledgeStore, requests: Sequence[tuple[str, int]]
) -> builtins.list[builtins.list[str]]:
    """``store.read_lines_many(requests)``, or :func:`gather_read_lines_many` without it."""
    native = getattr(store, "read_lines_many", None)
    if native is None:
        return await gather_read_lines_many(store, requests)
    result: builtins.list[builtins.list[str]] = await native(requests)
    return result
