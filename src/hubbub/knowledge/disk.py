"""``DiskKnowledgeStore``: one real file per path under a root directory.

Durability guarantees:

* ``fsync=True`` (the default): when ``write``/``append``/``delete`` returns,
  the change is on stable storage (file data via ``fdatasync``, new or removed
  directory entries via an ``fsync`` of the parent directory). It survives a
  kill -9 of the process and a power loss, on hardware that honours flushes.
* ``fsync=False``: the bytes are handed to the kernel (``os.write``, no
  user-space buffer) before the call returns, so a kill -9 of the process
  loses nothing; an OS crash or power loss may lose recent changes and, for
  ``write``, leave an empty file.
* ``write`` is always atomic: a temporary file in the same directory is written
  (and fsynced), then ``os.replace``-d over the target; readers and crashes see
  the old or the new content, never a mix. Leftover temporaries (names starting
  with ``.hubbub-tmp-``) are invisible to ``list`` and such names are reserved.

Group commit: all mutations go through one writer thread in call order. It
takes every mutation queued so far, applies them (appends through ``O_APPEND``
descriptors kept in a small LRU, so an append costs O(record)), then syncs
each touched file and directory once and resolves the whole batch. Appends
issued while an fsync is in flight share the next one. A cancelled caller does
not cancel its mutation.

``on_change`` is not supported (``NoopChangeSubscription``). Reads run in the
default thread pool.

Failures: an ``OSError`` of the file system (``ENOSPC``, ``EIO``, ``EACCES``...)
becomes ``StoreUnavailableError(store="disk:<root>")`` naming the operation, the
path and the reason. Appends are all-or-nothing per batch: if one append of a
batch fails, or syncing the batch fails, every append of the batch is undone
(each file truncated back to its size before the batch, a file the batch
created removed) and fails with that error, so a failed append leaves no
partial line. A ``write`` is atomic on its own (a failed one leaves the old
content; one whose directory sync failed is reported failed but may be
visible). A root that cannot be created or read raises ``StoreUnavailableError``
from the constructor, naming the root.

Writer lock: ``acquire_lock(holder)`` takes an exclusive ``flock`` on
``<root>/.hubbub.lock`` (kept open while held, so it dies with the process,
kill -9 included) and writes ``holder`` into it; a second taker gets
``StoreLockedError`` naming that holder.

Foreign data: the root is this store's if it holds the marker file
``.hubbub-store``, is empty or new, or holds only the hub's top-level
directories (``agents``, ``sessions``, ``audit``, ``manifests``, ``index``: a
store from before the marker); the constructor then writes the marker. Any
other non-empty directory is refused with ``StoreLockedError(code="foreign_store")``
naming the root and what it holds. Names starting with ``.hubbub`` (marker,
lock, temporaries) are reserved: invisible to ``list``, kept by ``delete("/")``.
"""

from __future__ import annotations

import asyncio
import builtins
import itertools
import os
import shutil
import stat
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from hubbub.knowledge._batch import BatchThread
from hubbub.knowledge._filelock import FileLock
from hubbub.knowledge.base import (
    ChangeCallback,
    ChangeSubscription,
    InvalidPathError,
    IOBoundary,
    KnowledgeStoreError,
    NoopChangeSubscription,
    PathConflictError,
    StoreClosedError,
    StoreUnavailableError,
    check_line_requests,
    check_range,
    foreign_store,
    normalize_file_path,
    normalize_path,
)

__all__ = ["DiskKnowledgeStore"]

_RESERVED = ".hubbub"  # names starting with this are the store's own
_TMP_PREFIX = ".hubbub-tmp-"
_MARKER = ".hubbub-store"
_MARKER_TEXT = b"hubbub knowledge store (DiskKnowledgeStore); do not put other files here\n"
_LOCK = ".hubbub.lock"
# Top-level directories of the hub's layout (hubbub.network.hub.layout): a root holding
# only these is a store written before the marker existed.
_HUB_NAMES = frozenset({"agents", "sessions", "audit", "manifests", "index", "lost+found"})
_APPEND, _WRITE, _DELETE = 0, 1, 2
_fdatasync: Callable[[int], None] = getattr(os, "fdatasync", os.fsync)
_CHUNK = 1 << 20


class _Handle:
    """An open ``O_APPEND`` descriptor and the file size it has tracked since opening."""

    __slots__ = ("dirty", "fd", "size")

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size
        self.dirty = False


_Op = tuple[int, str, bytes]
_WHAT = ("append", "write", "delete")


class DiskKnowledgeStore:
    """``KnowledgeStore`` over a directory tree; atomic writes, group-committed fsynced appends."""

    def __init__(
        self, root: str | os.PathLike[str], *, fsync: bool = True, max_open_files: int = 64
    ) -> None:
        """Open (creating if needed) the store rooted at ``root``.

        Args:
            root: directory holding the files.
            fsync: make every mutation durable before it returns (see module docstring).
            max_open_files: size of the LRU of append descriptors.

        Raises:
            StoreUnavailableError: the root cannot be created, read or marked (names it).
            StoreLockedError: code ``foreign_store``: the root holds other files.
        """
        self._root = os.path.realpath(os.fspath(root))
        self._io = IOBoundary(self.describe(), (OSError,))
        self._fsync = fsync
        self._claim_root()
        self._lock = FileLock(f"{self._root}/{_LOCK}", self.describe())
        self._max_open = max(1, max_open_files)
        self._handles: OrderedDict[str, _Handle] = OrderedDict()
        self._tmp_ids = itertools.count()
        self._worker: BatchThread[_Op] = BatchThread(
            f"hubbub-disk-writer:{self._root}", self._process, teardown=self._close_all
        )

    @property
    def root(self) -> str:
        """The absolute root directory."""
        return self._root

    def describe(self) -> str:
        """A short description of the store for messages: ``"disk:<root>"``."""
        return f"disk:{self._root}"

    def _claim_root(self) -> None:
        """Create the root if needed, refuse a foreign one, write the marker if missing."""
        root = self._root
        try:
            os.makedirs(root, exist_ok=True)
            names = os.listdir(root)
        except OSError as exc:
            what = "is not a directory" if os.path.lexists(root) and not os.path.isdir(root) else ""
            raise StoreUnavailableError(
                store=self.describe(),
                reason=f"cannot open root directory {root}: {what or exc.strerror or exc}",
            ) from exc
        if _MARKER in names:
            return
        foreign = [n for n in names if not n.startswith(_RESERVED) and n not in _HUB_NAMES]
        if foreign:
            raise foreign_store(f"directory {root}", foreign)
        try:
            fd = os.open(f"{root}/{_MARKER}", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, _MARKER_TEXT)
                if self._fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            if self._fsync:
                self._fsync_dir(root)
        except OSError as exc:
            raise StoreUnavailableError(
                store=self.describe(), reason=f"cannot write {root}/{_MARKER}: {exc.strerror}"
            ) from exc

    def _abs(self, norm: str) -> str:
        if "/" + _RESERVED in norm:
            raise InvalidPathError(f"names starting with {_RESERVED!r} are reserved: {norm!r}")
        return self._root if norm == "/" else self._root + norm

    def _error(
        self, exc: OSError, kind: int, norm: str
    ) -> KnowledgeStoreError | StoreUnavailableError:
        """A mutation's ``OSError``: a path conflict, or the store is unavailable."""
        what = f"{_WHAT[kind]} {norm}"
        if isinstance(exc, IsADirectoryError | NotADirectoryError):
            conflict = PathConflictError(f"{what}: {exc.strerror}")
            conflict.__cause__ = exc
            return conflict
        err = StoreUnavailableError(store=self.describe(), reason=f"{what}: {exc.strerror or exc}")
        err.__cause__ = exc
        return err

    # -- reads (thread pool) --------------------------------------------

    async def read(self, path: str) -> str | None:
        """Return the file's content, or ``None`` if missing or a directory."""
        full = self._check(path)
        with self._io:
            return await asyncio.to_thread(self._read_sync, full)

    @staticmethod
    def _read_sync(full: str) -> str | None:
        try:
            with open(full, "rb") as f:
                return f.read().decode()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    async def read_range(self, path: str, start: int, end: int | None = None) -> str:
        """Return UTF-8 bytes ``[start, end)`` of the file; ``""`` if missing."""
        check_range(start, end)
        full = self._check(path)
        with self._io:
            return await asyncio.to_thread(self._read_range_sync, full, start, end)

    def _read_range_sync(self, full: str, start: int, end: int | None) -> str:
        if end is not None and end <= start:
            return ""
        try:
            with open(full, "rb") as f:
                f.seek(start)
                data = f.read(-1 if end is None else end - start)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return ""
        return data.decode("utf-8", "replace")

    async def read_lines(
        self, path: str, start_line: int = 0, end_line: int | None = None
    ) -> builtins.list[str]:
        """Return lines ``[start_line, end_line)`` without ``"\\n"``, streaming the file."""
        check_range(start_line, end_line)
        full = self._check(path)
        with self._io:
            return await asyncio.to_thread(self._read_lines_sync, full, start_line, end_line)

    def _read_lines_sync(self, full: str, start: int, end: int | None) -> builtins.list[str]:
        out: builtins.list[str] = []
        if end is not None and end <= start:
            return out
        try:
            with open(full, "rb") as f:
                for i, raw in enumerate(f):
                    if i < start:
                        continue
                    if end is not None and i >= end:
                        break
                    out.append(raw.decode().removesuffix("\n"))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return []
        return out

    async def line_count(self, path: str) -> int:
        """Return the number of lines (newlines counted in 1 MiB chunks); 0 if missing."""
        full = self._check(path)
        with self._io:
            return await asyncio.to_thread(self._line_count_sync, full)

    def _line_count_sync(self, full: str) -> int:
        count = 0
        last = b"\n"
        try:
            with open(full, "rb") as f:
                while chunk := f.read(_CHUNK):
                    count += chunk.count(b"\n")
                    last = chunk[-1:]
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return 0
        return count if last == b"\n" else count + 1

    async def read_many(self, paths: Sequence[str]) -> builtins.list[str | None]:
        """Return ``read(path)`` for every path, in order, in one trip to the thread pool."""
        fulls = [self._check(p) for p in paths]
        with self._io:
            return await asyncio.to_thread(lambda: [self._read_sync(f) for f in fulls])

    async def read_lines_many(
        self, requests: Sequence[tuple[str, int]]
    ) -> builtins.list[builtins.list[str]]:
        """Return ``read_lines(path, start_line)`` for every request, in one thread-pool trip."""
        fulls = [(self._check(p), s) for p, s in check_line_requests(requests)]
        with self._io:
            return await asyncio.to_thread(
                lambda: [self._read_lines_sync(f, s, None) for f, s in fulls]
            )

    async def list(self, path: str = "/") -> builtins.list[str]:
        """Return sorted child names, directories suffixed with "/"."""
        full = self._check(path)
        with self._io:
            return await asyncio.to_thread(self._list_sync, full)

    @staticmethod
    def _list_sync(full: str) -> builtins.list[str]:
        try:
            with os.scandir(full) as it:
                names = [
                    e.name + "/" if e.is_dir(follow_symlinks=False) else e.name
                    for e in it
                    if not e.name.startswith(_RESERVED)
                ]
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(names)

    async def exists(self, path: str) -> bool:
        """Return whether the path is a file or a directory."""
        full = self._check(path)
        with self._io:
            return await asyncio.to_thread(os.path.lexists, full)

    def _check(self, path: str) -> str:
        if self._worker.closed:
            raise StoreClosedError("store is closed")
        return self._abs(normalize_path(path))

    # -- mutations (writer thread) --------------------------------------

    async def write(self, path: str, content: str) -> None:
        """Atomically replace the file's content (temp file + fsync + rename + dir fsync)."""
        norm = normalize_file_path(path)
        self._abs(norm)
        await self._submit(_WRITE, norm, content.encode())

    async def append(self, path: str, content: str) -> int:
        """Append ``content``; return its byte offset once durable per the fsync policy."""
        norm = normalize_file_path(path)
        self._abs(norm)
        result: int = await self._submit(_APPEND, norm, content.encode())
        return result

    async def delete(self, path: str) -> None:
        """Delete the file or tree, prune empty parents; no-op if absent."""
        norm = normalize_path(path)
        self._abs(norm)
        await self._submit(_DELETE, norm, b"")

    def _submit(self, kind: int, norm: str, data: bytes) -> asyncio.Future[Any]:
        return self._worker.submit((kind, norm, data))

    def _close_all(self) -> None:
        for handle in self._handles.values():
            self._close_handle(handle)
        self._handles.clear()

    def _process(self, batch: builtins.list[_Op]) -> builtins.list[object]:
        """Apply a batch in order, sync it once; an I/O failure undoes and fails its appends."""
        results: builtins.list[object] = []
        dirs: set[str] = set()
        dirty: builtins.list[_Handle] = []
        marks: dict[str, tuple[int, bool]] = {}  # appended path -> (size before, created)
        failure: StoreUnavailableError | None = None  # the first append I/O failure
        for kind, norm, data in batch:
            try:
                if kind == _APPEND:
                    if failure is not None:
                        results.append(failure)  # all-or-nothing: not attempted
                        continue
                    results.append(self._do_append(norm, data, dirs, dirty, marks))
                    continue
                _forget(marks, norm)  # replaced or deleted: nothing of it left to undo
                if kind == _WRITE:
                    self._do_write(norm, data, dirs)
                else:
                    self._do_delete(norm, dirs)
                results.append(None)
            except KnowledgeStoreError as exc:
                results.append(exc)
            except OSError as exc:
                err = self._error(exc, kind, norm)
                if kind == _APPEND and isinstance(err, StoreUnavailableError):
                    failure = err
                results.append(err)
            except BaseException as exc:  # a bug must not leave callers hanging forever
                results.append(exc)
        if failure is None and self._fsync:
            try:
                self._sync(dirty, dirs)
            except OSError as exc:
                failure = self._io.error(exc)
                results = [r if isinstance(r, BaseException) else failure for r in results]
        elif not self._fsync:
            for handle in dirty:
                handle.dirty = False
        if failure is not None:
            self._undo(marks)
            results = [
                failure if kind == _APPEND and not isinstance(r, BaseException) else r
                for (kind, _, _), r in zip(batch, results, strict=True)
            ]
        return results

    @staticmethod
    def _sync(dirty: builtins.list[_Handle], dirs: set[str]) -> None:
        for handle in dirty:
            if handle.fd >= 0 and handle.dirty:
                _fdatasync(handle.fd)
                handle.dirty = False
        for d in sorted(dirs, key=len, reverse=True):
            DiskKnowledgeStore._fsync_dir(d)

    def _undo(self, marks: dict[str, tuple[int, bool]]) -> None:
        """Put every file appended to in a failed batch back as it was before the batch."""
        for norm, (size, created) in marks.items():
            full = self._root + norm
            handle = self._handles.get(norm)
            try:
                if created:
                    if handle is not None:
                        del self._handles[norm]
                        handle.dirty = False
                        self._close_handle(handle)
                    os.unlink(full)
                    self._prune(os.path.dirname(full), set())
                elif handle is not None:
                    os.ftruncate(handle.fd, size)
                    handle.size = size
                else:
                    os.truncate(full, size)
            except OSError:  # best effort; forget the handle so its size is re-read
                if handle is not None and self._handles.get(norm) is handle:
                    del self._handles[norm]
                    handle.dirty = False
                    self._close_handle(handle)

    @staticmethod
    def _fsync_dir(d: str) -> None:
        try:
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            return  # pruned later in the same batch; its parent is synced
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _close_handle(self, handle: _Handle) -> None:
        if handle.fd < 0:
            return
        try:
            if handle.dirty and self._fsync:
                _fdatasync(handle.fd)
            handle.dirty = False
        finally:
            os.close(handle.fd)
            handle.fd = -1

    def _makedirs(self, full_dir: str, dirs: set[str]) -> None:
        cur = self._root
        for part in full_dir[len(self._root) + 1 :].split("/"):
            nxt = cur + "/" + part
            try:
                os.mkdir(nxt)
                dirs.add(cur)
            except FileExistsError:
                if not os.path.isdir(nxt):
                    raise PathConflictError(f"{nxt!r} is a file, not a directory") from None
            except NotADirectoryError:
                raise PathConflictError(f"{cur!r} is a file, not a directory") from None
            cur = nxt

    def _do_append(
        self,
        norm: str,
        data: bytes,
        dirs: set[str],
        dirty: builtins.list[_Handle],
        marks: dict[str, tuple[int, bool]],
    ) -> int:
        """Write ``data`` at the end of the file; ``marks`` records what ``_undo`` restores."""
        handle = self._handles.get(norm)
        created = False
        if handle is None:
            handle, created = self._open_append(norm, dirs)
        else:
            self._handles.move_to_end(norm)
        offset = handle.size
        if norm not in marks:
            marks[norm] = (offset, created)
        view = memoryview(data)
        while view:  # a short write or ENOSPC: ``_undo`` truncates back to the mark
            view = view[os.write(handle.fd, view) :]
        handle.size = offset + len(data)
        if data and not handle.dirty:
            handle.dirty = True
            dirty.append(handle)
        return offset

    def _open_append(self, norm: str, dirs: set[str]) -> tuple[_Handle, bool]:
        """Open (creating if missing) the file for appends; also whether it was created."""
        full = self._abs(norm)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
        created = False
        try:
            fd = os.open(full, flags)
        except FileNotFoundError:
            parent = os.path.dirname(full)
            if parent != self._root:
                self._makedirs(parent, dirs)
            try:
                fd = os.open(full, flags | os.O_CREAT | os.O_EXCL, 0o644)
            except OSError:
                self._prune(parent, dirs)  # no empty directory left by a failed append
                raise
            created = True
            dirs.add(parent)
        except IsADirectoryError:
            raise PathConflictError(f"{norm!r} is a directory") from None
        except NotADirectoryError:
            raise PathConflictError(f"{norm!r} lies below a file") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise PathConflictError(f"{norm!r} is not a regular file")
        while len(self._handles) >= self._max_open:
            _, old = self._handles.popitem(last=False)
            self._close_handle(old)
        handle = self._handles[norm] = _Handle(fd, st.st_size)
        return handle, created

    def _drop_handles(self, norm: str) -> None:
        prefix = "/" if norm == "/" else norm + "/"
        for key in [k for k in self._handles if k == norm or k.startswith(prefix)]:
            handle = self._handles.pop(key)
            handle.dirty = False  # superseded: its bytes are being replaced or deleted
            self._close_handle(handle)

    def _do_write(self, norm: str, data: bytes, dirs: set[str]) -> None:
        full = self._abs(norm)
        parent = os.path.dirname(full)
        self._drop_handles(norm)
        tmp = f"{parent}/{_TMP_PREFIX}{os.getpid()}-{next(self._tmp_ids)}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            fd = os.open(tmp, flags, 0o644)
        except FileNotFoundError:
            self._makedirs(parent, dirs)
            fd = os.open(tmp, flags, 0o644)
        except NotADirectoryError:
            raise PathConflictError(f"{norm!r} lies below a file") from None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self._fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        try:
            os.replace(tmp, full)
        except OSError as exc:
            os.unlink(tmp)
            if isinstance(exc, IsADirectoryError) or os.path.isdir(full):
                raise PathConflictError(f"{norm!r} is a directory") from None
            raise
        dirs.add(parent)

    def _do_delete(self, norm: str, dirs: set[str]) -> None:
        self._drop_handles(norm)
        full = self._abs(norm)
        try:
            st = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            return
        if norm == "/":
            for name in os.listdir(full):
                if name.startswith(_RESERVED):
                    continue  # marker, lock file, temporaries
                child = full + "/" + name
                if os.path.isdir(child) and not os.path.islink(child):
                    shutil.rmtree(child)
                else:
                    os.unlink(child)
            dirs.add(full)
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(full)
        else:
            os.unlink(full)
        self._prune(os.path.dirname(full), dirs)

    def _prune(self, cur: str, dirs: set[str]) -> None:
        """Remove ``cur`` and its parents while they are empty (never the root)."""
        dirs.add(cur)
        while cur != self._root:
            try:
                os.rmdir(cur)
            except OSError:
                break
            cur = os.path.dirname(cur)
            dirs.add(cur)

    async def on_change(self, path: str, callback: ChangeCallback) -> ChangeSubscription:
        """Return ``NoopChangeSubscription``: the disk store does not watch files."""
        self._check(path)
        return NoopChangeSubscription()

    async def acquire_lock(self, holder: str) -> None:
        """``flock`` ``<root>/.hubbub.lock`` and write ``holder`` into it; see the module docstring.

        Raises:
            StoreLockedError: another holder has it (the message names it).
            StoreUnavailableError: the lock file cannot be opened.
            StoreClosedError: the store was closed.
        """
        self._check("/")
        self._lock.acquire(holder)

    async def release_lock(self) -> None:
        """Release the file lock if held; idempotent."""
        self._lock.release()

    async def close(self) -> None:
        """Finish queued mutations, close descriptors, release the lock; idempotent."""
        try:
            await self._worker.close()
        finally:
            self._lock.release()


def _forget(marks: dict[str, tuple[int, bool]], norm: str) -> None:
    """Drop the undo marks of ``norm`` and everything below it (it is being replaced)."""
    if marks:
        prefix = "/" if norm == "/" else norm + "/"
        for key in [k for k in marks if k == norm or k.startswith(prefix)]:
            del marks[key]
