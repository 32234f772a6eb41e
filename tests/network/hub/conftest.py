"""Fixtures for hub tests: a hub on a real store and raw peers speaking the link protocol."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hubbub.knowledge import DiskKnowledgeStore, KnowledgeStore, MemoryKnowledgeStore
from hubbub.network import (
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_INVITE_REJECT,
    Envelope,
    Hub,
    LocalLink,
    MockClock,
    Passport,
    Resume,
    Rule,
)
from hubbub.network.transport.client import ClientConnection


class RawPeer:
    """A minimal client: registers through its own LocalLink connection and records what arrives."""

    def __init__(
        self,
        hub: Hub,
        name: str,
        *,
        ack: bool = True,
        reject: bool = False,
        rule: Rule | None = None,
        receipts: bool = True,
    ) -> None:
        self.receipts = receipts
        self.hub = hub
        self.name = name
        self.ack = ack
        self.reject = reject
        self.rule = rule
        self.connection = ClientConnection(LocalLink(hub).client())
        self.received: list[Envelope] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.agent_id = ""

    async def start(self) -> RawPeer:
        await self.connection.open()
        registered = await self.connection.register(
            Passport(name=self.name), Resume(), rule=self.rule
        )
        passport = registered.passport
        assert passport.agent_id
        self.agent_id = passport.agent_id
        self._task = asyncio.create_task(self._loop())
        return self

    async def _loop(self) -> None:
        async for _, env in self.connection.deliveries():
            if env.event_type == EV_SESSION_INVITE and (self.ack or self.reject):
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
            if self.receipts:
                self.connection.receipt(self.agent_id, env)
            async with self._changed:
                self.received.append(env)
                self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[Envelope], bool], timeout: float = 5.0
    ) -> Envelope:
        async def _wait() -> Envelope:
            async with self._changed:
                while True:
                    for env in self.received:
                        if predicate(env):
                            return env
                    await self._changed.wait()

        return await asyncio.wait_for(_wait(), timeout)

    async def send(self, session_id: str, text: str, **kwargs: object) -> Envelope:
        return await self.connection.post(
            Envelope(
                session_id,
                self.agent_id,
                kwargs.pop("audience", None),
                "ag2.msg.text",
                {"text": text},
                **kwargs,
            )
        )  # type: ignore[arg-type]

    async def stop(self) -> None:
        await self.connection.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture
def clock() -> MockClock:
    return MockClock("2026-01-01T00:00:00+00:00")


@pytest.fixture(params=["memory", "disk"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> KnowledgeStore:
    if request.param == "memory":
        return MemoryKnowledgeStore()
    return DiskKnowledgeStore(tmp_path / "store")


@pytest.fixture
async def hub(store: KnowledgeStore, clock: MockClock) -> AsyncIterator[Hub]:
    hub = await Hub.open(
        store, clock=clock, ttl_sweep_interval=0, expectation_sweep_interval=0, invite_ack_timeout=5
    )
    yield hub
    await hub.close()


@pytest.fixture
def peers(hub: Hub) -> Callable[..., object]:
    made: list[RawPeer] = []

    async def make(name: str, **kwargs: object) -> RawPeer:
        peer = await RawPeer(hub, name, **kwargs).start()  # type: ignore[arg-type]
        made.append(peer)
        return peer

    yield make  # type: ignore[misc]
    # peers are stopped by hub.close() closing their endpoints


@pytest.fixture
def raw_peer() -> type[RawPeer]:
    """The RawPeer class, for tests that build their own hub."""
    return RawPeer
