"""Per-session runtime record kept by the hub for every live session."""

from __future__ import annotations

import asyncio
from typing import Any

from hubbub.network.adapters.base import SessionAdapter
from hubbub.network.expectations import SessionActivity
from hubbub.network.hub.layout import wal_path
from hubbub.network.session import SessionMetadata

__all__ = ["LiveSession"]


class LiveSession(SessionActivity):
    """Metadata + adapter state + admission counters of one session.

    Small on purpose (``__slots__``, lazily created extras): the hub keeps one
    per open session and the target is a few KiB of memory each. It is its own
    activity record (what the evaluators read) rather than holding one.
    """

    __slots__ = (
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

    # One record per session: compared and hashed by identity, not by activity fields.
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __init__(
        self,
        meta: SessionMetadata,
        adapter: SessionAdapter | None,
        state: Any,
        created_s: float,
        expires_at_s: float | None,
    ) -> None:
        SessionActivity.__init__(self, created_s, created_s)
        self.meta = meta
        # Participants never change after creation: cache them for the post path.
        self.pids: tuple[str, ...] = tuple(meta.participant_ids())
        self.adapter = adapter
        self.state = state
        self.seq = 0
        self.durable = 0  # last sequence whose append is durable
        self.snap_seq = 0  # sequence covered by the stored snapshot
        self.expires_at_s = expires_at_s
        self.closing: str | None = None
        self.fired: set[tuple[int, str, str]] | None = None
        self.waiter: asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<LiveSession {self.meta.session_id} {self.meta.state.value} seq={self.seq}>"

    @property
    def activity(self) -> SessionActivity:
        """The session's traffic record, as the expectation evaluators see it."""
        return self

    @property
    def wal(self) -> str:
        """The session's WAL path (built when needed: one string less per live session)."""
        return wal_path(self.meta.session_id)
