"""Per-session runtime record kept by the hub for every live session."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from hubbub.network.adapters.base import SessionAdapter
from hubbub.network.expectations import SessionActivity
from hubbub.network.hub.layout import wal_path
from hubbub.network.machine import SessionMachine
from hubbub.network.session import SessionMetadata

if TYPE_CHECKING:
    from hubbub.network.hub.appends import Append

__all__ = ["LiveSession"]


class LiveSession(SessionActivity):
    """One session as the hub runs it: its machine, plus what only the live hub needs.

    The :class:`SessionMachine` owns metadata, lifecycle, sequence and adapter
    state (and is all recovery needs). Around it: the session's traffic record
    (it is its own ``SessionActivity``, what the evaluators read), the durable
    sequence, the append chain, TTL, fired expectations and the opener's waiter.
    Small on purpose (``__slots__``): the hub keeps one per open session.
    """

    __slots__ = (
        "appending",
        "durable",
        "expires_at_s",
        "fired",
        "machine",
        "queued",
        "resync",
        "snap_seq",
        "waiter",
        "wal",
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
        self.machine = SessionMachine(meta, adapter, state)
        # the WAL's path, built once (a memory store's hot-log table keys on this same string)
        self.wal = wal_path(meta.session_id)
        self.durable = 0  # last sequence whose append is durable
        self.snap_seq = 0  # sequence covered by the stored snapshot
        self.expires_at_s = expires_at_s
        self.fired: set[tuple[int, str, str]] | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.appending: Append | None = None  # the append in flight
        self.queued: Append | None = None  # envelopes waiting for the next append
        # After a failed append: the store may hold lines past ``durable`` (a commit
        # whose reply was lost). True until read back; a future while being read.
        self.resync: bool | asyncio.Future[None] | None = None

    def __repr__(self) -> str:
        return f"<LiveSession {self.meta.session_id} {self.meta.state.value} seq={self.seq}>"

    # The machine's fields, read-only here (only the machine changes them).
    @property
    def meta(self) -> SessionMetadata:
        """The session's metadata."""
        return self.machine.meta

    @property
    def adapter(self) -> SessionAdapter | None:
        """The session type's adapter (None if its type is not registered)."""
        return self.machine.adapter

    @property
    def state(self) -> Any:
        """The adapter state after the last admitted envelope."""
        return self.machine.state

    @property
    def seq(self) -> int:
        """The sequence number of the last admitted envelope."""
        return self.machine.seq

    @property
    def pids(self) -> tuple[str, ...]:
        """Participant ids in order."""
        return self.machine.pids

    @property
    def closing(self) -> str | None:
        """The reason of a decided or applied end (the session accepts nothing more)."""
        return self.machine.closing

    @property
    def activity(self) -> SessionActivity:
        """The session's traffic record, as the expectation evaluators see it."""
        return self
