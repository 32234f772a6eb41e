"""A hub that accepts a connection and drops it at once is not hammered with reconnects."""

from __future__ import annotations

import asyncio

from hubbub.network.protocol.frames import Frame, HelloFrame, WelcomeFrame
from hubbub.network.transport.client import ClientConnection
from hubbub.network.transport.mock import Answer, MockLink


async def test_a_connection_that_keeps_dropping_right_after_the_welcome_backs_off() -> None:
    link: MockLink

    def hub(frame: Frame) -> Answer:
        if isinstance(frame, HelloFrame):
            # Welcome, then drop the link just after: every reconnect "succeeds" and fails.
            asyncio.get_running_loop().call_later(0.01, link.clients[-1].lose)
            return WelcomeFrame("ep", "", "owner")
        return None

    link = MockLink(hub)
    conn = ClientConnection(link.client(), reconnect=link.client, reconnect_for=30)
    await conn.open()
    try:
        await asyncio.sleep(1.5)
        # Backing off 0.05 s, 0.1 s, 0.2 s, … between the reconnects that do not hold:
        # a handful in 1.5 s. Without the backoff it would be one every 10 ms (~150).
        assert 3 <= len(link.clients) <= 15, len(link.clients)
    finally:
        await conn.close()
