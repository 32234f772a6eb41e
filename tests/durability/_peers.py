"""A raw peer for the durability tests and scripts: registers over a LocalLink and acks invites.

Shared by the tests (imported as ``tests.durability._peers``) and by the two
scripts in this folder, which put the repository root on ``sys.path`` first.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from hubbub.network import (
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_INVITE_REJECT,
    Envelope,
    Hub,
    LocalLink,
    Passport,
    Resume,
)
from hubbub.network.transport.client import ClientConnection

__all__ = ["RawPeer", "state_dict", "state_json"]


class RawPeer:
    """A minimal client: its own LocalLink connection; acks (or rejects) every invite it gets."""

    def __init__(self, hub: Hub, name: str, *, reject: bool = False) -> None:
        self.hub = hub
        self.name = name
        self.reject = reject
        self.connection = ClientConnection(LocalLink(hub).client())
        self.agent_id = ""
        self.received: list[Envelope] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> RawPeer:
        """Register through the connection and start the receive loop."""
        await self.connection.open()
        passport = (await self.connection.register(Passport(name=self.name), Resume())).passport
        assert passport.agent_id
        self.agent_id = passport.agent_id
        self._task = asyncio.create_task(self._loop(), name=f"peer-{self.name}")
        return self

    async def _loop(self) -> None:
        async for _, env in self.connection.deliveries():
            if env.event_type == EV_SESSION_INVITE:
                et = EV_SESSION_INVITE_REJECT if self.reject else EV_SESSION_INVITE_ACK
                await self.connection.post(
                    Envelope(
                        env.session_id,
                        self.agent_id,
                        None,
                        et,
                        {"session_id": env.session_id},
                        causation_id=env.envelope_id,
                    )
                )
            self.connection.receipt(self.agent_id, env)
            async with self._changed:
                self.received.append(env)
                self._changed.notify_all()

    async def wait_handled(self, event_type: str, timeout: float = 10.0) -> Envelope:
        """Wait until an envelope of ``event_type`` arrived and was fully handled (ack posted)."""

        async def wait() -> Envelope:
            async with self._changed:
                while True:
                    for env in self.received:
                        if env.event_type == event_type:
                            return env
                    await self._changed.wait()

        return await asyncio.wait_for(wait(), timeout)

    async def stop(self) -> None:
        """Close the link and end the receive loop."""
        await self.connection.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def state_dict(state: Any) -> Any:
    """An adapter state as plain JSON-ready data (dataclass states become dicts)."""
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        return dataclasses.asdict(state)
    return state


def state_json(state: Any) -> str:
    """An adapter state as canonical JSON (sorted keys), comparable across processes."""
    import orjson

    return orjson.dumps(state_dict(state), option=orjson.OPT_SORT_KEYS).decode()
