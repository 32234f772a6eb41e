"""Where the live tail's new envelopes come from: the hub's observer frames, or the store.

* :class:`HubFeed` (``hubbub serve --ui``): one ``HubClient.observe()``
  subscription of every session on the operator's in-process connection; each
  durable envelope is handed to the tails watching its session.
* :class:`StoreFeed` (``hubbub inspect``): no hub to ask, so a tail reads the
  WAL lines appended since the last look, twice a second (a hub may be writing
  the store meanwhile).

Both give a tail the envelopes of a session after a sequence number, in order,
without duplicates: what the WAL held at subscription time first, then what
comes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from hubbub.inspector.reader import StoreReader
from hubbub.network.envelope import Envelope

if TYPE_CHECKING:
    from hubbub.network import HubClient

__all__ = ["Feed", "HubFeed", "StoreFeed"]

#: How often a StoreFeed tail looks for new WAL lines (seconds).
POLL_SECONDS = 0.5
#: How long a tail waits for an envelope before yielding None (a keep-alive).
IDLE_SECONDS = 10.0


class Feed(Protocol):
    """New envelopes of a session, for the live tail."""

    def tail(self, session_id: str, after: int) -> AsyncIterator[Envelope | None]:
        """The session's envelopes with a sequence above ``after``, as they come; None
        now and then while nothing comes (so the caller can send a keep-alive)."""
        ...

    @property
    def live(self) -> bool:
        """Whether the envelopes come from a running hub's observer subscription."""
        ...


class StoreFeed:
    """Tails that poll the store's WAL (see the module docstring)."""

    live = False

    def __init__(self, reader: StoreReader, poll: float = POLL_SECONDS) -> None:
        self._reader = reader
        self._poll = poll

    async def tail(self, session_id: str, after: int) -> AsyncIterator[Envelope | None]:
        """See :meth:`Feed.tail`."""
        lines_read = 0
        last = after
        idle = 0.0
        while True:
            lines = await self._reader.wal_lines(session_id, lines_read)
            lines_read += len(lines)
            sent = False
            for env in self._reader.envelopes(session_id, lines):
                if env.sequence > last:
                    last = env.sequence
                    sent = True
                    yield env
            if sent:
                idle = 0.0
            else:
                idle += self._poll
                if idle >= IDLE_SECONDS:
                    idle = 0.0
                    yield None
            await asyncio.sleep(self._poll)


class HubFeed:
    """Tails fed by one observer subscription of every session (see the module docstring).

    Args:
        client: a ``HubClient`` on the operator's in-process link
            (``HubClient(LocalLink(hub))``): only the operator may observe every session.
        reader: the store reader, for what a session's WAL held before the tail began.
    """

    live = True

    def __init__(self, client: HubClient, reader: StoreReader) -> None:
        self._client = client
        self._reader = reader
        self._tails: dict[str, set[asyncio.Queue[Envelope]]] = {}
        self._subscription: str | None = None

    async def start(self) -> None:
        """Subscribe to every session's envelopes."""
        self._subscription = await self._client.observe(self._offer)

    async def close(self) -> None:
        """Stop observing and close the client."""
        if self._subscription is not None:
            try:
                self._client.stop_observing(self._subscription)
            except Exception:  # the hub may be gone already
                pass
            self._subscription = None
        await self._client.close()

    def _offer(self, envelope: Envelope) -> None:
        for queue in self._tails.get(envelope.session_id, ()):
            queue.put_nowait(envelope)

    async def tail(self, session_id: str, after: int) -> AsyncIterator[Envelope | None]:
        """See :meth:`Feed.tail`."""
        queue: asyncio.Queue[Envelope] = asyncio.Queue()
        self._tails.setdefault(session_id, set()).add(queue)
        try:
            last = after
            # Subscribed first, read second: nothing falls between the two.
            lines = await self._reader.wal_lines(session_id)
            for env in self._reader.envelopes(session_id, lines):
                if env.sequence > last:
                    last = env.sequence
                    yield env
            while True:
                try:
                    env = await asyncio.wait_for(queue.get(), IDLE_SECONDS)
                except TimeoutError:
                    yield None
                    continue
                if env.sequence > last:
                    last = env.sequence
                    yield env
        finally:
            waiting = self._tails.get(session_id)
            if waiting is not None:
                waiting.discard(queue)
                if not waiting:
                    del self._tails[session_id]
