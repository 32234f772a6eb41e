"""The WebSocket transport end to end: a real server on 127.0.0.1 (port 0), real client sockets.

Clients are ``HubClient(WsLink(url, token=...))`` — the code a remote agent runs —
and, where a test is about the wire, raw ``websockets`` clients that write frames
by hand. Nothing here sleeps to synchronise: waits are on events, answers, or a
bounded poll with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets
from tests._certificates import self_signed
from websockets.asyncio.client import ClientConnection as RawSocket

from hubbub.agent import Agent
from hubbub.cli.serve import client_ssl_context, server_ssl_context
from hubbub.events import ToolCallEvent
from hubbub.knowledge.memory import MemoryKnowledgeStore
from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_TEXT,
    Envelope,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
)
from hubbub.network.auth import BearerTokens, ServerAuth, SignedTokens
from hubbub.network.client import AgentClientInject, HubInject, default_handler
from hubbub.network.client.agent_client import AgentClient
from hubbub.network.errors import AccessDeniedError, NameTakenError, NetworkError
from hubbub.network.transport.ws import WsLink, serve_ws
from hubbub.testing import TestConfig

TOKENS = {"ta": "owner-a", "tb": "owner-b", "tm": "owner-m"}
SECRET = b"s" * 32
DEADLINE = 10.0  # seconds any single wait here may take before the test fails


class Clock:
    """The signed tokens' clock (unix seconds), moved by the test."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(clock: Clock) -> ServerAuth:
    return ServerAuth([BearerTokens(TOKENS), SignedTokens(SECRET, clock=clock)])


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    h = await Hub.open(
        MemoryKnowledgeStore(),
        ttl_sweep_interval=0,
        expectation_sweep_interval=0,
        invite_ack_timeout=5.0,
    )
    yield h
    await h.close()


Serve = Callable[..., Awaitable[str]]


@pytest.fixture
async def serve(hub: Hub, auth: ServerAuth) -> AsyncIterator[Serve]:
    """``await serve(**serve_ws_kwargs)`` → the URL of a server that stops after the test."""
    async with AsyncExitStack() as stack:

        async def start(**kw: Any) -> str:
            kw.setdefault("auth", auth)
            return await stack.enter_async_context(serve_ws(hub, host="127.0.0.1", port=0, **kw))

        yield start


@pytest.fixture
async def url(serve: Serve) -> str:
    return await serve()


class Clients:
    """HubClients made by a test, closed at its end (before the server stops)."""

    def __init__(self) -> None:
        self.made: list[HubClient] = []

    def __call__(self, url: str, token: str | None = "ta", **kw: Any) -> HubClient:
        kw.setdefault("reconnect", 0)  # a refused or cut connection ends: nothing to retry here
        hc = HubClient(WsLink(url, token=token, **kw))
        self.made.append(hc)
        return hc

    async def close(self) -> None:
        for hc in self.made:
            await hc.close()


@pytest.fixture
async def clients(url: str) -> AsyncIterator[Clients]:
    c = Clients()
    yield c
    await c.close()


async def register(hc: HubClient, name: str, *replies: Any, **kw: Any) -> AgentClient:
    agent = Agent(name, prompt=f"Be {name}.", config=TestConfig(*(replies or ("ok",))), **kw)
    return await hc.register(agent, Passport(name=name), Resume())


def texts(wal: list[Envelope]) -> list[tuple[str, str]]:
    return [(e.sender_id, e.event_data["text"]) for e in wal if e.event_type == EV_TEXT]


async def poll(predicate: Callable[[], Any], what: str, timeout: float = DEADLINE) -> None:
    """Bounded polling where no event exists to await (state in another task or thread)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


# ---------------------------------------------------------------- raw sockets


class Raw:
    """A hand-driven client socket: frames as dicts, JSON on the wire."""

    def __init__(self, ws: RawSocket) -> None:
        self.ws = ws
        self._n = 0

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(
            frame if isinstance(frame, str | bytes) else orjson.dumps(frame).decode()
        )

    async def recv(self, timeout: float = DEADLINE) -> dict[str, Any]:
        message = await asyncio.wait_for(self.ws.recv(), timeout)
        data: dict[str, Any] = orjson.loads(message)
        return data

    async def recv_until(self, kind: str, timeout: float = DEADLINE) -> dict[str, Any]:
        """The next frame of ``kind`` (frames of other kinds before it are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv()
                if frame["kind"] == kind:
                    return frame

    async def hello(self, token: str | None = "ta", scheme: str = "bearer") -> dict[str, Any]:
        claim = {} if token is None else {"token": token}
        await self.send(
            {"kind": "hello", "name": "raw", "auth_scheme": scheme, "auth_claim": claim}
        )
        return await self.recv()

    async def request(self, op: str, **params: Any) -> dict[str, Any]:
        self._n += 1
        rid = f"raw-{self._n}"
        await self.send({"kind": "request", "request_id": rid, "op": op, "params": params})
        answer = await self.recv_until("response")
        assert answer["request_id"] == rid, answer
        return answer

    async def closed(self, timeout: float = DEADLINE) -> bool:
        """True once the server closed the socket (frames still in flight are skipped)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.ws.recv()
        except websockets.ConnectionClosed:
            return True


@asynccontextmanager
async def raw(url: str, **kw: Any) -> AsyncIterator[Raw]:
    async with websockets.connect(url, open_timeout=DEADLINE, **kw) as ws:
        yield Raw(ws)


# ================================================================ conversations


async def test_quick_start_over_websockets(hub: Hub, url: str, clients: Clients) -> None:
    alice_hc, bob_hc = clients(url, "ta"), clients(url, "tb")
    alice = await register(alice_hc, "alice", "unused")
    bob = await register(bob_hc, "bob", "Fault tolerance.")
    session = await alice.open(type="consulting", target="bob")
    await session.send("What matters most?", audience=[bob.agent_id])
    closed = await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=DEADLINE,
    )
    assert closed.event_data.get("reason") == "consulting_complete"
    wal = await hub.read_wal(session.session_id)
    assert texts(wal) == [
        (alice.agent_id, "What matters most?"),
        (bob.agent_id, "Fault tolerance."),
    ]
    # The remote client reads the same WAL as a participant.
    assert [e.envelope_id for e in await alice_hc.read_wal(session.session_id)] == [
        e.envelope_id for e in wal
    ]
    assert alice_hc.connection.principal == "owner-a"


async def test_two_agents_on_one_connection_open_a_session_with_each_other(
    hub: Hub, url: str, clients: Clients
) -> None:
    """The reference deadlocks here: the open waits for an ack that has to come in on
    the very connection the open is waiting on."""
    hc = clients(url)
    alice = await register(hc, "alice", "unused")
    bob = await register(hc, "bob", "four")
    session = await asyncio.wait_for(alice.open(type="consulting", target="bob"), DEADLINE)
    await session.send("2+2?")
    await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=DEADLINE,
    )
    assert texts(await hub.read_wal(session.session_id)) == [
        (alice.agent_id, "2+2?"),
        (bob.agent_id, "four"),
    ]
    assert hc.connection.endpoint_id  # one connection for both
    assert len({c.agent_id for c in hc.agents.values()}) == 2


async def test_calls_are_pipelined_while_an_open_waits_for_its_ack(
    hub: Hub, url: str, clients: Clients
) -> None:
    alice_hc, bob_hc = clients(url, "ta"), clients(url, "tb")
    alice = await register(alice_hc, "alice")
    bob = await register(bob_hc, "bob")
    invited, release = asyncio.Event(), asyncio.Event()

    async def slow_to_ack(envelope: Envelope) -> None:
        if envelope.event_type == EV_SESSION_INVITE:
            invited.set()
            await release.wait()
        await default_handler(envelope, bob)

    bob.on_envelope(slow_to_ack)
    opening = asyncio.ensure_future(alice.open(type="conversation", target="bob"))
    opening.add_done_callback(lambda f: f.cancelled() or f.exception())  # no stray warning
    await asyncio.wait_for(invited.wait(), DEADLINE)
    # The open is in flight on alice's connection; other calls on it are answered.
    assert (await alice_hc.get_agent("bob")).agent_id == bob.agent_id
    online = await alice_hc.list_agents(online=True)
    assert {p.name for p in online} >= {"alice", "bob"}
    [pending] = await alice_hc.list_sessions()
    assert pending.state.value == "pending"  # waiting for bob's ack
    assert not opening.done()
    release.set()
    session = await asyncio.wait_for(opening, DEADLINE)
    assert session.session_id == pending.session_id
    assert (await alice_hc.get_session(pending.session_id)).state.value == "active"


# ================================================================ outsiders


async def test_an_outsider_cannot_touch_a_session_through_any_client_object(
    hub: Hub, url: str, clients: Clients
) -> None:
    alice_hc, bob_hc, mallory_hc = clients(url, "ta"), clients(url, "tb"), clients(url, "tm")
    alice = await register(alice_hc, "alice")
    bob = await register(bob_hc, "bob")
    bob.on_envelope(lambda e: _ack_only(e, bob))
    alice.on_envelope(lambda e: _ack_only(e, alice))
    session = await alice.open(type="conversation", target="bob")
    await session.send("secret")
    sid = session.session_id
    before = [e.to_dict() for e in await hub.read_wal(sid)]

    tried: list[tuple[str, BaseException | None]] = []

    async def attempt(what: str, call: Callable[[], Awaitable[Any]]) -> None:
        try:
            await call()
        except BaseException as exc:
            tried.append((what, exc))
        else:
            tried.append((what, None))

    async def snoop(hub: HubInject, me: AgentClientInject) -> str:
        """Try to reach alice's session."""
        for label, who in (("HubInject", hub), ("AgentClientInject", me)):
            await attempt(f"{label}.read_wal", lambda w=who: w.read_wal(sid))
            await attempt(f"{label}.get_session", lambda w=who: w.get_session(sid))
            await attempt(f"{label}.close_session", lambda w=who: w.close_session(sid))
            await attempt(f"{label}.adapter_state", lambda w=who: w.adapter_state(sid))
            await attempt(
                f"{label}.send_envelope",
                lambda w=who: w.send_envelope(Envelope(sid, "", None, EV_TEXT, {"text": "x"})),
            )
        assert hub is not None and me is not None
        return "done snooping"

    mallory = await register(
        mallory_hc, "mallory", ToolCallEvent("snoop", arguments="{}"), "ok", tools=[snoop]
    )
    carol_hc = clients(url, "tm")
    carol = await register(carol_hc, "carol")
    carol.on_envelope(lambda e: _ack_only(e, carol))

    # Through the HubClient and the AgentClient:
    await attempt("HubClient.read_wal", lambda: mallory_hc.read_wal(sid))
    await attempt("HubClient.get_session", lambda: mallory_hc.get_session(sid))
    await attempt("HubClient.close_session", lambda: mallory_hc.close_session(sid, reason="x"))
    await attempt("HubClient.adapter_state", lambda: mallory_hc.adapter_state(sid))
    await attempt(
        "HubClient.post_envelope",
        lambda: mallory_hc.post_envelope(Envelope(sid, "", None, EV_TEXT, {"text": "x"})),
    )
    await attempt("AgentClient.read_wal", lambda: mallory.read_wal(sid))
    await attempt("AgentClient.close_session", lambda: mallory.close_session(sid))
    await attempt(
        "AgentClient.send_envelope",
        lambda: mallory.send_envelope(Envelope(sid, "", None, EV_TEXT, {"text": "x"})),
    )
    # ... and from a tool in one of mallory's turns (carol talks to her).
    own = await carol.open(type="conversation", target="mallory")
    await own.send("go")
    await carol.wait_for_session_event(
        session_id=own.session_id,
        predicate=lambda e: e.event_type == EV_TEXT and e.sender_id == mallory.agent_id,
        timeout=DEADLINE,
    )

    labels = [label for label, _ in tried]
    assert sum(1 for label in labels if label.startswith(("HubInject", "AgentClientInject"))) == 10
    for label, exc in tried:
        assert isinstance(exc, AccessDeniedError), (label, exc)
    assert [e.to_dict() for e in await hub.read_wal(sid)] == before
    assert (await hub.get_session(sid)).state.value == "active"


async def _ack_only(envelope: Envelope, client: AgentClient) -> None:
    """Accept invites, answer nothing else."""
    if envelope.event_type == EV_SESSION_INVITE:
        await default_handler(envelope, client)


# ================================================================ hello and identity


async def test_a_refused_hello_raises_unauthenticated_and_the_socket_closes(
    url: str, clients: Clients, clock: Clock
) -> None:
    signer = SignedTokens(SECRET, clock=clock)
    expired = signer.issue("owner-a", 60)
    clock.now += 61
    for token, scheme in (("wrong", "bearer"), (None, None), (expired, "hmac"), ("ta", "hmac")):
        hc = clients(url, token, scheme=scheme)
        with pytest.raises(NetworkError) as info:
            await asyncio.wait_for(register(hc, "alice"), DEADLINE)
        assert info.value.code == "unauthenticated", (token, scheme, info.value)
        assert not hc.connected
        # On the wire: an error frame with that code, then the server closes the socket.
        async with raw(url) as peer:
            answer = await peer.hello(token, scheme or "none")
            assert (answer["kind"], answer["code"]) == ("error", "unauthenticated")
            assert token is None or token not in answer["message"]  # never echoed
            assert await peer.closed()
    # A fresh signed token is accepted.
    hc = clients(url, signer.issue("owner-a", 60), scheme="hmac")
    assert (await register(hc, "alice")).agent_id
    assert hc.connection.principal == "owner-a"


async def test_frames_before_hello_get_hello_required_and_the_socket_closes(url: str) -> None:
    async with raw(url) as peer:
        await peer.send({"kind": "request", "request_id": "1", "op": "list_agents", "params": {}})
        answer = await peer.recv()
        assert (answer["kind"], answer["code"]) == ("error", "hello_required")
        assert await peer.closed()


async def test_a_name_belongs_to_its_principal_and_comes_back_to_it(
    hub: Hub, url: str, clients: Clients
) -> None:
    first = clients(url, "ta")
    alice = await register(first, "alice")
    with pytest.raises(NameTakenError):  # another principal
        await register(clients(url, "tb"), "alice")
    with pytest.raises(NameTakenError):  # the owner, but the name is held by a live connection
        await register(clients(url, "ta"), "alice")
    await first.close()
    await poll(lambda: not hub.is_online(alice.agent_id), "alice to go offline")
    with pytest.raises(NameTakenError):  # offline now, but still not B's
        await register(clients(url, "tb"), "alice")
    again = await register(clients(url, "ta"), "alice")  # the owner reconnecting
    assert again.agent_id == alice.agent_id
    names = [p.name for p in await hub.list_agents(limit=100)]
    assert names.count("alice") == 1


# ================================================================ healthz


async def test_healthz_answers_the_hubs_health_as_json(
    hub: Hub, url: str, clients: Clients
) -> None:
    await register(clients(url, "ta"), "alice")
    http = url.replace("ws://", "http://", 1)
    status, body = await asyncio.to_thread(_get, f"{http}/healthz")
    assert status == 200
    expected = hub.health()
    assert {k: body[k] for k in expected} == json.loads(json.dumps(expected, default=str))
    assert body["registered_agents"] == 1
    assert body["connections"] == 1
    # Any other path is not a health check (and is not served as one).
    status, _ = await asyncio.to_thread(_get, f"{http}/other")
    assert status != 200


async def poll_health(address: str, predicate: Callable[[Any], bool], what: str) -> None:
    """Poll ``/healthz`` (in a thread) until ``predicate(body)``, within the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        status, body = await asyncio.to_thread(_get, address)
        if status == 200 and predicate(body):
            return
        assert loop.time() < deadline, f"timed out waiting for {what}: {body}"
        await asyncio.sleep(0.05)


def _get(address: str, context: ssl.SSLContext | None = None) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(address, timeout=DEADLINE, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None


# ================================================================ TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


async def test_tls_end_to_end(
    hub: Hub, serve: Serve, clients: Clients, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    url = await serve(ssl=server_ssl_context(str(cert), str(key)))
    assert url.startswith("wss://127.0.0.1:")
    trust = client_ssl_context(str(cert))
    alice = await register(clients(url, "ta", ssl=trust), "alice", "unused")
    await register(clients(url, "tb", ssl=trust), "bob", "over TLS")
    session = await alice.open(type="consulting", target="bob")
    await session.send("secure?")
    await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=DEADLINE,
    )
    assert [t for _, t in texts(await hub.read_wal(session.session_id))] == ["secure?", "over TLS"]
    # A client that does not trust the certificate, or speaks plain ws://, gets nowhere.
    with pytest.raises(NetworkError) as untrusted:
        await register(clients(url, "ta"), "carol")
    assert untrusted.value.code == "connection_lost"
    with pytest.raises(NetworkError):
        await register(clients(url.replace("wss://", "ws://"), "ta"), "carol")
    # /healthz is on the same TLS port.
    status, body = await asyncio.to_thread(
        _get, url.replace("wss://", "https://") + "/healthz", trust
    )
    assert status == 200 and body["registered_agents"] == 2


# ================================================================ limits


async def test_a_message_over_the_frame_limit_is_refused_and_the_connection_keeps_working(
    serve: Serve,
) -> None:
    url = await serve(max_frame_bytes=4096)
    async with raw(url) as peer:
        welcome = await peer.hello()
        assert welcome["kind"] == "welcome"
        assert welcome["limits"]["max_frame_bytes"] == 4096
        big = {"kind": "request", "request_id": "big", "op": "list_agents", "params": {}}
        big["params"] = {"query": "x" * 5000}
        await peer.send(big)
        refused = await peer.recv()
        assert (refused["kind"], refused["code"]) == ("error", "frame_too_large")
        assert refused["request_id"] == "big"  # the request it answers fails, not waits
        # Bytes count, not characters: 2000 three-byte characters are 6000 bytes.
        await peer.send({**big, "params": {"query": "€" * 2000}})
        refused = await peer.recv()
        assert (refused["kind"], refused["code"]) == ("error", "frame_too_large")
        answer = await peer.request("list_agents")
        assert answer["ok"] is True
        # Far over the limit (over four times it): the connection is closed.
        await peer.send("x" * (4 * 4096 + 1))
        assert await peer.closed()


async def test_a_send_over_the_frame_limit_fails_the_post(
    hub: Hub, serve: Serve, clients: Clients
) -> None:
    url = await serve(max_frame_bytes=4096)
    alice = await register(clients(url, "ta"), "alice")
    await register(clients(url, "tb"), "bob")
    session = await alice.open(type="conversation", target="bob")
    with pytest.raises(NetworkError) as info:
        await asyncio.wait_for(session.send("x" * 5000), 2.0)
    assert info.value.code == "frame_too_large"
    assert texts(await hub.read_wal(session.session_id)) == []


async def test_a_send_that_gets_the_socket_closed_is_not_resent_forever(
    hub: Hub, serve: Serve, clients: Clients
) -> None:
    url = await serve(max_frame_bytes=4096)
    alice_hc = clients(url, "ta", reconnect=5)
    alice = await register(alice_hc, "alice")
    await register(clients(url, "tb"), "bob")
    session = await alice.open(type="conversation", target="bob")
    with pytest.raises(NetworkError):
        await asyncio.wait_for(session.send("x" * (4 * 4096 + 1)), 3.0)


async def test_a_slow_consumer_is_told_and_dropped_and_others_keep_being_served(
    hub: Hub, serve: Serve, clients: Clients
) -> None:
    url = await serve(max_queued_frames=8, close_timeout=0.5)
    # The sink: a raw client that registers, accepts its invite, then stops reading.
    async with raw(url, max_queue=1) as sink:
        await sink.hello("tb")
        registered = await sink.request("register", passport={"name": "sink"})
        sink_id = registered["result"]["passport"]["agent_id"]
        # The sender is in the hub's process (fast); a bystander is remote, like the sink.
        local = HubClient(LocalLink(hub))
        try:
            alice = await register(local, "alice")
            bystander = clients(url, "ta")
            await register(bystander, "carol")
            opening = asyncio.ensure_future(alice.open(type="conversation", target="sink"))
            invite = await sink.recv_until("notify")
            assert invite["envelope"]["event_type"] == EV_SESSION_INVITE
            ack = {
                "session_id": invite["envelope"]["session_id"],
                "sender_id": sink_id,
                "event_type": EV_SESSION_INVITE_ACK,
                "event_data": {"session_id": invite["envelope"]["session_id"]},
            }
            await sink.send({"kind": "send", "request_id": "ack", "envelope": ack})
            session = await asyncio.wait_for(opening, DEADLINE)
            # From here on the sink reads nothing. Big envelopes fill the socket's buffers.
            payload = "y" * 200_000
            sent = 0
            loop = asyncio.get_running_loop()
            deadline = loop.time() + DEADLINE
            while hub.is_online(sink_id):
                assert loop.time() < deadline, f"still online after {sent} envelopes"
                await session.send(payload)
                sent += 1
            # The bystander is still served, and so is the sender.
            assert (await bystander.get_agent("alice")).agent_id == alice.agent_id
            await session.send("still here")
            # The sink's socket is gone from the server (aborted: it read nothing), though
            # the sink has still not read a byte.
            http = url.replace("ws://", "http://", 1) + "/healthz"
            await poll_health(http, lambda h: h["connections"] == 1, "the sink's socket to go")
            # The sink is told why, after what was already on its way (or just cut off).
            codes = []
            try:
                async with asyncio.timeout(DEADLINE):
                    async for message in sink.ws:
                        frame = orjson.loads(message)
                        if frame["kind"] in ("goodbye", "error"):
                            codes.append(frame["code"])
            except websockets.ConnectionClosed:
                pass
            assert codes in ([], ["slow_consumer"]), codes
            assert sink.ws.state.name == "CLOSED"
        finally:
            await local.close()


async def _stalled_sink(url: str, hub: Hub, local: HubClient) -> Any:
    """A raw client that registers, accepts an invite from a local alice, then reads
    nothing while alice fills its socket; returns the session."""
    sink = await _raw_open(url)
    await sink.hello("tb")
    registered = await sink.request("register", passport={"name": "sink"})
    sink_id = registered["result"]["passport"]["agent_id"]
    alice = await register(local, "alice")
    opening = asyncio.ensure_future(alice.open(type="conversation", target="sink"))
    invite = await sink.recv_until("notify")
    sid = invite["envelope"]["session_id"]
    ack = {
        "session_id": sid,
        "sender_id": sink_id,
        "event_type": EV_SESSION_INVITE_ACK,
        "event_data": {"session_id": sid},
    }
    await sink.send({"kind": "send", "request_id": "ack", "envelope": ack})
    session = await asyncio.wait_for(opening, DEADLINE)
    for _ in range(60):  # ~12 MB: more than the socket buffers hold
        await session.send("y" * 200_000)
    return sink


async def _raw_open(url: str) -> Raw:
    return Raw(await websockets.connect(url, open_timeout=DEADLINE, max_queue=1))


async def test_shutdown_does_not_wait_for_a_client_that_reads_nothing(
    hub: Hub, auth: ServerAuth
) -> None:
    local = HubClient(LocalLink(hub))
    try:
        server = serve_ws(hub, port=0, auth=auth, close_timeout=0.5)
        url = await server.__aenter__()
        try:
            sink = await _stalled_sink(url, hub, local)
        finally:
            # Every other socket is closed at once; the stalled one after the close timeout.
            await asyncio.wait_for(server.__aexit__(None, None, None), DEADLINE)
        assert await sink.closed()  # what was buffered for it, then the end
    finally:
        await local.close()
