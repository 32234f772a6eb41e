"""Arbiter denials and listeners over a real WebSocket server on 127.0.0.1 (port 0).

The clients run ``HubClient(WsLink(url, token=...))`` — the code a remote agent
runs; the arbiter and the listener sit on the hub's side of the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from hubbub.agent import Agent
from hubbub.knowledge.memory import MemoryKnowledgeStore
from hubbub.network import (
    EV_SESSION_CLOSED,
    AccessDeniedError,
    BaseHubListener,
    Deny,
    Envelope,
    Hub,
    HubClient,
    InboxFull,
    Passport,
    Resume,
    RuleBasedArbiter,
)
from hubbub.network.auth import BearerTokens, ServerAuth
from hubbub.network.client.agent_client import AgentClient
from hubbub.network.errors import NetworkError
from hubbub.network.hub import ReportedTurnFailure
from hubbub.network.transport.ws import WsLink, serve_ws
from hubbub.testing import TestConfig

DEADLINE = 10.0
TOKENS = {"ta": "owner-a", "tb": "owner-b"}


class Gate(RuleBasedArbiter):
    """Denies by the text sent, the session type opened, or the name registered."""

    def authorize_register(self, passport: Any, rule: Any, principal: str) -> Any:
        if passport.name == "mallory":
            return Deny(f"{principal} may not register mallory")
        return super().authorize_register(passport, rule, principal)

    def authorize_session_open(self, manifest: Any, creator: Any, *args: Any) -> Any:
        if manifest.type == "conversation":
            return Deny(f"{creator.name} may not open conversations")
        return super().authorize_session_open(manifest, creator, *args)

    def authorize_send(self, envelope: Envelope, sender: Any, rule: Any, recipients: Any) -> Any:
        if envelope.event_data.get("text") == "secret":
            return Deny("no secrets", code="send_denied")
        return super().authorize_send(envelope, sender, rule, recipients)

    def authorize_inbox(self, envelope: Envelope, recipient: Any, rule: Any, pending: int) -> Any:
        if envelope.event_data.get("text") == "flood":
            return Deny(f"{recipient.name} is busy", error=InboxFull)
        return super().authorize_inbox(envelope, recipient, rule, pending)

    def authorize_dispatch(self, envelope: Envelope, sender: Any, recipient: Any, rule: Any) -> Any:
        if envelope.event_data.get("text") == "hidden":
            return Deny("not for bob")
        return super().authorize_dispatch(envelope, sender, recipient, rule)


class Failures:
    def __init__(self) -> None:
        self.dispatch: list[tuple[str, str]] = []
        self.rejected: list[str] = []

    async def on_dispatch_failed(self, envelope: Envelope, recipient_id: str, exc: Any) -> None:
        self.dispatch.append((envelope.event_data.get("text", ""), recipient_id))

    async def on_envelope_rejected(self, envelope: Envelope, reason: str) -> None:
        self.rejected.append(reason)


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    h = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0, expectation_sweep_interval=0)
    h.register_arbiter(Gate())
    yield h
    await h.close()


@pytest.fixture
async def url(hub: Hub) -> AsyncIterator[str]:
    async with AsyncExitStack() as stack:
        auth = ServerAuth([BearerTokens(TOKENS)])
        yield await stack.enter_async_context(serve_ws(hub, host="127.0.0.1", port=0, auth=auth))


@pytest.fixture
async def clients(url: str) -> AsyncIterator[list[HubClient]]:
    made = [HubClient(WsLink(url, token=t, reconnect=0)) for t in ("ta", "tb")]
    yield made
    for hc in made:
        await hc.close()


async def register(hc: HubClient, name: str, *replies: str) -> AgentClient:
    agent = Agent(name, prompt=f"Be {name}.", config=TestConfig(*(replies or ("ok",))))
    return await hc.register(agent, Passport(name=name), Resume())


async def test_arbiter_denials_reach_a_remote_caller_with_their_code(
    hub: Hub, clients: list[HubClient]
) -> None:
    failures = Failures()
    hub.register_listener(failures)
    alice_hc, bob_hc = clients
    with pytest.raises(AccessDeniedError, match="owner-a may not register mallory") as e:
        await register(alice_hc, "mallory")
    assert e.value.code == "access_denied"
    alice = await register(alice_hc, "alice", "unused")
    bob = await register(bob_hc, "bob", "The answer.")

    with pytest.raises(AccessDeniedError, match="alice may not open conversations") as e:
        await alice.open(type="conversation", target="bob")
    assert e.value.code == "access_denied"

    session = await alice.open(type="consulting", target="bob")
    before = await hub.read_wal(session.session_id)
    with pytest.raises(NetworkError, match="no secrets") as e:
        await session.send("secret")
    assert e.value.code == "send_denied"
    with pytest.raises(InboxFull, match="bob is busy") as e:
        await session.send("flood")
    assert e.value.code == "inbox_full"
    assert await hub.read_wal(session.session_id) == before

    # denied at dispatch: logged, not delivered (bob's model never answers it) ...
    hidden = await alice.open(type="consulting", target="bob")
    await hidden.send("hidden")
    # ... while an allowed question is delivered and answered, which closes its session
    await session.send("What matters?")
    await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=DEADLINE,
    )
    await hub.flush_listeners()
    assert failures.dispatch == [("hidden", bob.agent_id)]
    assert failures.rejected == ["send_denied: no secrets", "inbox_full: bob is busy"]

    def texts(wal: list[Envelope]) -> list[str]:
        return [e.event_data["text"] for e in wal if "text" in e.event_data]

    assert texts(await hub.read_wal(session.session_id)) == ["What matters?", "The answer."]
    assert texts(await hub.read_wal(hidden.session_id)) == ["hidden"]
    assert (await hub.get_session(hidden.session_id)).state.value == "active"


async def test_listeners_hear_a_remote_clients_run(hub: Hub, clients: list[HubClient]) -> None:
    heard: list[tuple[str, str]] = []
    failures: list[BaseException] = []

    class Listener(BaseHubListener):
        async def on_session_event(self, session_id: str, kind: str, payload: Any) -> None:
            heard.append(("session", kind))

        async def on_agent_event(self, agent_id: str, kind: str, payload: Any) -> None:
            heard.append(("agent", kind))

        async def on_turn_failed(self, session_id: str, agent_id: str, eid: str, exc: Any) -> None:
            failures.append(exc)

    hub.register_listener(Listener())
    alice_hc, bob_hc = clients
    alice = await register(alice_hc, "alice", "unused")
    bob_agent = Agent("bob", config=TestConfig(RuntimeError("model down")))
    await bob_hc.register(bob_agent, Passport(name="bob"), Resume())
    session = await alice.open(type="consulting", target="bob")
    await session.send("Are you there?")
    for _ in range(int(DEADLINE / 0.01)):
        await hub.flush_listeners()
        if failures:
            break
        await asyncio.sleep(0.01)
    [exc] = failures
    assert isinstance(exc, ReportedTurnFailure)  # over the wire: type name and message
    assert exc.error_type == "RuntimeError" and "model down" in str(exc)
    # the consulting session may close on bob's posted turn failure meanwhile
    assert heard[:4] == [
        ("agent", "registered"),
        ("agent", "registered"),
        ("session", "created"),
        ("session", "opened"),
    ]
    assert heard[4:] in ([], [("session", "closed")])
