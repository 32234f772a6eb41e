"""Fixtures for the client tests: an in-process hub, a network builder and a handler tap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest

from hubbub.agent import Agent
from hubbub.knowledge.memory import MemoryKnowledgeStore
from hubbub.network.client import AgentClient, HubClient, default_handler
from hubbub.network.clock import MockClock
from hubbub.network.envelope import Envelope, is_protocol_event
from hubbub.network.hub import Hub
from hubbub.network.identity import Passport, Resume
from hubbub.network.transport.local import LocalLink
from hubbub.testing import TestConfig


class Net:
    """Builds HubClients and registered agents on one hub; closes them all at the end."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.link = LocalLink(hub)
        self.hub_clients: list[HubClient] = []

    def hub_client(self) -> HubClient:
        hc = HubClient(self.link, hub=self.hub)
        self.hub_clients.append(hc)
        return hc

    async def agent(
        self,
        name: str,
        *replies: Any,
        config: Any = None,
        hc: HubClient | None = None,
        tools: Iterable[Any] = (),
        attach_plugin: bool = True,
        resume: Resume | None = None,
    ) -> AgentClient:
        cfg = config if config is not None else TestConfig(*(replies or ("ok",)))
        agent = Agent(name, prompt=f"Be {name}.", config=cfg, tools=tools)
        return await (hc or self.hub_client()).register(
            agent, Passport(name=name), resume or Resume(), attach_plugin=attach_plugin
        )

    async def close(self) -> None:
        for hc in self.hub_clients:
            await hc.close()


class Tap:
    """Wraps a client's handler (default unless given) and records what it finished handling."""

    def __init__(
        self,
        client: AgentClient,
        inner: Callable[[Envelope], Any] | None = None,
        *,
        quiet: bool = False,
    ) -> None:
        """``quiet``: only protocol envelopes get the default handling (invites are acked),
        substantive ones are recorded but not answered."""
        self.client = client
        self.seen: list[Envelope] = []
        self._cond = asyncio.Condition()
        self._inner = inner

        async def handler(envelope: Envelope) -> None:
            try:
                if quiet and not is_protocol_event(envelope.event_type):
                    pass
                elif self._inner is None:
                    await default_handler(envelope, client)
                else:
                    await self._inner(envelope)
            finally:
                self.seen.append(envelope)
                async with self._cond:
                    self._cond.notify_all()

        client.on_envelope(handler)

    async def wait(self, predicate: Callable[[Envelope], bool], timeout: float = 10.0) -> Envelope:
        """Wait until an envelope matching ``predicate`` was fully handled; return it."""
        async with self._cond:
            await asyncio.wait_for(
                self._cond.wait_for(lambda: any(predicate(e) for e in self.seen)), timeout
            )
        return next(e for e in self.seen if predicate(e))


@pytest.fixture
def clock() -> MockClock:
    return MockClock()


@pytest.fixture
async def hub(clock: MockClock) -> AsyncIterator[Hub]:
    h = await Hub.open(
        MemoryKnowledgeStore(),
        clock=clock,
        ttl_sweep_interval=0,
        expectation_sweep_interval=0,
        invite_ack_timeout=5.0,
    )
    yield h
    await h.close()


@pytest.fixture
async def net(hub: Hub) -> AsyncIterator[Net]:
    n = Net(hub)
    yield n
    await n.close()


@pytest.fixture
def tap() -> type[Tap]:
    return Tap
