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

``on_change`` is not supported (``NoopChangeSubscription``). One process should
own a root at a time; reads run in the default thread pool.
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
from hubbub.knowledge.base import (
    ChangeCallback,
    ChangeSubscription,
    InvalidPathError,
    KnowledgeStoreError,
    NoopChangeSubscription,
    PathConflictError,
    StoreClosedError,
    check_line_requests,
    check_range,
    normalize_file_path,
    normalize_path,
)

__all__ = ["DiskKnowledgeStore"]

_TMP_PREFIX = ".hubbub-tmp-"
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


def _wrap(exc: OSError, what: str) -> KnowledgeStoreError:
    if isinstance(exc, IsADirectoryError | NotADirectoryError):
        err: KnowledgeStoreError = PathConflictError(f"{what}: {exc.strerror}")
    else:
        err = KnowledgeStoreError(f"{what}: {exc}")
    err.__cause__ = exc
    return err


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
        """
        self._root = os.path.realpath(os.fspath(root))
        os.makedirs(self._root, exist_ok=True)
        self._fsync = fsync
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

    def _abs(self, norm: str) -> str:
        if "/" + _TMP_PREFIX in norm:
            raise InvalidPathError(f"names starting with {_TMP_PREFIX!r} are reserved: {norm!r}")
        return self._root if norm == "/" else self._root + norm

    # -- reads (thread pool) --------------------------------------------

    async def read(self, path: str) -> str | None:
        """Return the file's content, or ``None`` if missing or a directory."""
        full = self._check(path)
        return await asyncio.to_thread(self._read_sync, full)

    def _read_sync(self, full: str) -> str | None:
        try:
            with open(full, "rb") as f:
                return f.read().decode()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        except OSError as exc:
            raise _wrap(exc, f"read {full}") from exc

    async def read_range(self, path: str, start: int, end: int | None = None) -> str:
        """Return UTF-8 bytes ``[start, end)`` of the file; ``""`` if missing."""
        check_range(start, end)
        full = self._check(path)
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
        return await asyncio.to_thread(lambda: [self._read_sync(f) for f in fulls])

    async def read_lines_many(
        self, requests: Sequence[tuple[str, int]]
    ) -> builtins.list[builtins.list[str]]:
        """Return ``read_lines(path, start_line)`` for every request, in one thread-pool trip."""
        fulls = [(self._check(p), s) for p, s in check_line_requests(requests)]
        return await asyncio.to_thread(
            lambda: [self._read_lines_sync(f, s, None) for f, s in fulls]
        )

    async def list(self, path: str = "/") -> builtins.list[str]:
        """Return sorted child names, directories suffixed with "/"."""
        full = self._check(path)
        return await asyncio.to_thread(self._list_sync, full)

    @staticmethod
    def _list_sync(full: str) -> builtins.list[str]:
        try:
            with os.scandir(full) as it:
                names = [
                    e.name + "/" if e.is_dir(follow_symlinks=False) else e.name
                    for e in it
                    if not e.name.startswith(_TMP_PREFIX)
                ]
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(names)

    async def exists(self, path: str) -> bool:
        """Return whether the path is a file or a directory."""
        full = self._check(path)
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
        results: builtins.list[object] = []
        dirs: set[str] = set()
        dirty: builtins.list[_Handle] = []
        for kind, norm, data in batch:
            try:
                if kind == _APPEND:
                    results.append(self._do_append(norm, data, dirs, dirty))
                elif kind == _WRITE:
                    self._do_write(norm, data, dirs)
                    results.append(None)
                else:
                    self._do_delete(norm, dirs)
                    results.append(None)
            except KnowledgeStoreError as exc:
                results.append(exc)
            except OSError as exc:
                results.append(_wrap(exc, f"{('append', 'write', 'delete')[kind]} {norm}"))
            except BaseException as exc:  # a bug must not leave callers hanging forever
                results.append(exc)
        if self._fsync:
            try:
                for handle in dirty:
                    if handle.fd >= 0 and handle.dirty:
                        _fdatasync(handle.fd)
                        handle.dirty = False
                for d in sorted(dirs, key=len, reverse=True):
                    self._fsync_dir(d)
            except OSError as exc:
                failure = _wrap(exc, "fsync")
                results = [r if isinstance(r, BaseException) else failure for r in results]
        else:
            for handle in dirty:
                handle.dirty = False
        return results

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
        self, norm: str, data: bytes, dirs: set[str], dirty: builtins.list[_Handle]
    ) -> int:
        handle = self._handles.get(norm)
        if handle is None:
            handle = self._open_append(norm, dirs)
        else:
            self._handles.move_to_end(norm)
        offset = handle.size
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(handle.fd, view) :]
        except OSError:
            try:
                os.ftruncate(handle.fd, offset)  # no torn record left behind
            except OSError:
                handle.size = os.fstat(handle.fd).st_size
            raise
        handle.size = offset + len(data)
        if data and not handle.dirty:
            handle.dirty = True
            dirty.append(handle)
        return offset

    def _open_append(self, norm: str, dirs: set[str]) -> _Handle:
        full = self._abs(norm)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
        try:
            fd = os.open(full, flags)
        except FileNotFoundError:
            parent = os.path.dirname(full)
            if parent != self._root:
                self._makedirs(parent, dirs)
            fd = os.open(full, flags | os.O_CREAT, 0o644)
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
        return handle

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
        cur = os.path.dirname(full)
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

    async def close(self) -> None:
        """Finish queued mutations, close descriptors; idempotent."""
        await self._worker.close()
