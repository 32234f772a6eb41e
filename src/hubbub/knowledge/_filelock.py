"""``FileLock``: the one-writer lock of the file-backed stores (SQLite, disk).

An exclusive ``fcntl.flock`` on a lock file that stays open while the lock is
held. The kernel drops the lock with the last descriptor, so a process that
dies (kill -9 included) frees it; nothing is left to clean up. ``flock`` locks
belong to an open file description, so two store objects in one process
conflict just as two processes do. The holder string is written into the file
so that a refused taker can name who holds it; the file itself is never
deleted (deleting a lock file races with a process about to lock it).
"""

from __future__ import annotations

import fcntl
import os

from hubbub.network.errors import StoreLockedError, StoreUnavailableError

__all__ = ["FileLock"]


class FileLock:
    """An exclusive, non-blocking, process-lifetime lock on ``path``."""

    __slots__ = ("_fd", "path", "store")

    def __init__(self, path: str, store: str) -> None:
        """Prepare the lock; nothing is opened before :meth:`acquire`.

        Args:
            path: the lock file (created if missing).
            store: the store's description, for error messages.
        """
        self.path = path
        self.store = store
        self._fd = -1

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd >= 0

    def acquire(self, holder: str) -> None:
        """Take the lock and write ``holder`` into the file; no-op if already held.

        Raises:
            StoreLockedError: another open description holds it; names its holder.
            StoreUnavailableError: the lock file cannot be opened (names path and reason).
        """
        if self._fd >= 0:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreUnavailableError(
                store=self.store, reason=f"cannot open lock file {self.path}: {exc.strerror}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_holder(fd)
            os.close(fd)
            raise StoreLockedError(
                f"store {self.store} is locked by {other or 'another process'} "
                f"(lock file {self.path})"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StoreUnavailableError(
                store=self.store, reason=f"cannot lock {self.path}: {exc.strerror}"
            ) from exc
        self._fd = fd
        try:
            data = holder.encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        except OSError:
            pass  # the holder text is only for messages (a full disk must not cost the lock)

    def release(self) -> None:
        """Give the lock back (blank the holder text, close the file); idempotent."""
        fd, self._fd = self._fd, -1
        if fd < 0:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)  # closing the last descriptor drops the flock


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 512, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
