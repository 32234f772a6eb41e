"""The store's writer lock: one hub per store (``StoreLockedError`` names the holder)."""

from __future__ import annotations

import logging
import os
import socket

from hubbub.knowledge import KnowledgeStore

__all__ = ["StoreLock"]

log = logging.getLogger("hubbub.hub")


class StoreLock:
    """The hub's hold on its store's writer lock (a store without one needs none)."""

    __slots__ = ("_held", "_store")

    def __init__(self, store: KnowledgeStore) -> None:
        self._store = store
        self._held = False

    @property
    def held(self) -> bool:
        """True between a successful :meth:`acquire` and :meth:`release`."""
        return self._held

    async def acquire(self) -> None:
        """Take the lock, naming this process as its holder.

        Raises:
            StoreLockedError: another hub holds it.
        """
        acquire = getattr(self._store, "acquire_lock", None)
        if acquire is None:
            return
        await acquire(f"hubbub pid {os.getpid()} on {socket.gethostname()}")
        self._held = True

    async def release(self) -> None:
        """Let the lock go (idempotent; a failure is logged, not raised)."""
        if not self._held:
            return
        self._held = False
        release = getattr(self._store, "release_lock", None)
        if release is not None:
            try:
                await release()
            except Exception:
                log.warning("releasing the store lock failed", exc_info=True)
