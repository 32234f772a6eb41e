"""The hub's usage totals: every durable reply's usage record, per agent and session.

Derived data (see :mod:`hubbub.network.usage`): the pipeline hands every durable
envelope to :meth:`HubUsage.on_durable`. What the WALs held when the hub opened
is counted on first demand (:meth:`HubUsage.ready`, which ``hub.usage()`` awaits
and ``hubbub serve`` calls once at start) — each session's lines up to where it
stood at open, while live traffic after that point is counted as it becomes
durable, so no turn is counted twice or missed. Opening the hub reads no WAL for
this, so a store failure here cannot make the hub unopenable: it reaches the
caller of ``ready()`` and the next call retries. ``hub.health()`` reports what is
counted so far and whether the rebuild is complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from hubbub.knowledge import KnowledgeStore
from hubbub.knowledge.base import read_lines_many
from hubbub.network.envelope import Envelope
from hubbub.network.hub import layout
from hubbub.network.usage import UsageLedger

__all__ = ["HubUsage"]

log = logging.getLogger("hubbub.hub")

#: Sessions whose WALs one bulk read fetches during the rebuild.
_CHUNK = 256


class HubUsage:
    """The usage ledger of one hub, and its rebuild from the store."""

    def __init__(self, store: KnowledgeStore) -> None:
        self._store = store
        self.ledger = UsageLedger()
        self._pending: tuple[list[str], dict[str, int]] | None = None
        self._rebuild: asyncio.Task[None] | None = None

    def on_durable(self, env: Envelope) -> None:
        """Count a durable envelope's usage record, if it carries one."""
        self.ledger.add_envelope(env)

    @property
    def complete(self) -> bool:
        """True once the totals include every WAL that existed at open."""
        return self._pending is None

    async def ready(self) -> None:
        """Count the WALs that existed at open, once (concurrent callers share one pass).

        Raises:
            StoreUnavailableError: the store failed; nothing of the pass is kept and
                the next call tries again.
        """
        if self._pending is None:
            return
        if self._rebuild is None or self._rebuild.done():
            ids, live_seqs = self._pending
            self._rebuild = asyncio.get_running_loop().create_task(self.rebuild(ids, live_seqs))
        task = self._rebuild
        await asyncio.shield(task)
        if self._rebuild is task:
            self._pending = None

    async def start_rebuild(self, live_seqs: dict[str, int]) -> None:
        """Note what the store holds now, to be counted on first demand; ``live_seqs``
        is each live session's last sequence now (later envelopes are counted live,
        as they become durable).

        Call before the hub admits anything: the session list is taken here.
        """
        await self.stop()
        self.ledger = UsageLedger()
        ids = [entry.rstrip("/") for entry in await self._store.list(layout.SESSIONS_DIR)]
        self._pending = (ids, live_seqs) if ids else None

    async def rebuild(self, ids: list[str], live_seqs: dict[str, int]) -> None:
        """Count the usage records in the WALs of ``ids`` (a live session's up to its
        sequence in ``live_seqs``) into the ledger — all of them or, on a failure,
        none."""
        counted = UsageLedger()
        try:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                wals = await read_lines_many(
                    self._store, [(layout.wal_path(sid), 0) for sid in chunk]
                )
                for sid, lines in zip(chunk, wals, strict=True):
                    until = live_seqs.get(sid)
                    counted.add_wal_lines(sid, lines if until is None else lines[:until])
        except Exception:
            log.warning(
                "counting the usage in the WALs failed; the next call retries", exc_info=True
            )
            raise
        self.ledger.merge(counted)

    async def stop(self) -> None:
        """Cancel a rebuild in progress (the hub closes)."""
        task, self._rebuild = self._rebuild, None
        self._pending = None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task

    def query(
        self, *, agent_id: str | None = None, session_id: str | None = None
    ) -> dict[str, Any]:
        """Totals (``UsageTotals.to_dict``) of an agent, a session, both, or everything."""
        return self.ledger.query(agent_id=agent_id, session_id=session_id).to_dict()
