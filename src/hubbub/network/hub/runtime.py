"""Per-session runtime record kept by the hub for every live session."""

from __future__ import annotations

import asyncio
from typing import Any

from hubbub.network.adapters.base import SessionAdapter
from hubbub.network.expectations import SessionActivity
from hubbub.network.hub.layout import wal_path
from hubbub.network.session import SessionMetadata

__all__ = ["LiveSession"]


class LiveSession:
    """Metadata + adapter state + admission counters of one session.

    Small on purpose (``__slots__``, lazily created extras): the hub keeps one
    per open session and the target is a few KiB of memory each.
    """

    __slots__ = (
        "activity",
        "adapter",
        "closing",
        "durable",
        "expires_at_s",
        "fired",
        "meta",
        "pids",
        "seq",
        "snap_seq",
        "state",
        "waiter",
    )

    def __init__(
        self,
        meta: SessionMetadata,
        adapter: SessionAdapter | None,
        state: Any,
        activity: SessionActivity,
        expires_at_s: float | None,
    ) -> None:
        self.meta = meta
        # Participants never change after creation: cache them for the post path.
        self.pids: tuple[str, ...] = tuple(meta.participant_ids())
        self.adapter = adapter
        self.state = state
        self.seq = 0
        self.durable = 0  # last sequence whose append is durable
        self.snap_seq = 0  # sequence covered by the stored snapshot
        self.activity = activity
        self.expires_at_s = expires_at_s
        self.closing: str | None = None
        self.fired: set[tuple[int, str, str]] | None = None
        self.waiter: asyncio.Future[None] | None = None

    @property
    def wal(self) -> str:
        """The session's WAL path (built when needed: one string less per live session)."""
        return wal_path(self.meta.session_id)
