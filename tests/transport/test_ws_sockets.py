"""The WebSocket sockets themselves: bytes on a real TCP connection to a real server.

``hubbub.network.transport.ws`` drives websockets' sans-I/O protocol from an
``asyncio.Protocol`` on both sides. These tests write the wire by hand (a raw TCP
peer speaking through ``websockets.client.ClientProtocol``), so what they check is
what the driver does with what arrives: several frames in one read, a message in
fragments, a peer that goes quiet, an HTTP request that is not a WebSocket
handshake, a server that answers with garbage.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from hubbub.agent import Agent
from hubbub.knowledge.memory import MemoryKnowledgeStore
from hubbub.network import EV_SESSION_INVITE, EV_TEXT, Hub, HubClient, Passport, Resume
from hubbub.network.auth import BearerTokens, ServerAuth
from hubbub.network.client import default_handler
from hubbub.network.errors import NetworkError
from hubbub.network.transport import ws as ws_module
from hubbub.network.transport.server import ServerConnection
from hubbub.network.transport.ws import WsLink, serve_ws
from hubbub.testing import TestConfig

DEADLINE = 10.0


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    opened = await Hub.open(
        MemoryKnowledgeStore(), ttl_sweep_interval=0, expectation_sweep_interval=0
    )
    yield opened
    await opened.close()


def serving(hub: Hub, **kw: Any) -> Any:
    """``serve_ws`` on a free loopback port, for the bearer tokens ``ta`` and ``tb``."""
    auth = ServerAuth([BearerTokens({"ta": "owner-a", "tb": "owner-b"})])
    return serve_ws(hub, host="127.0.0.1", port=0, auth=auth, **kw)


@pytest.fixture
async def url(hub: Hub) -> AsyncIterator[str]:
    async with serving(hub) as served:
        yield served


async def dropped(reader: asyncio.StreamReader) -> bool:
    """True once the server ends the TCP connection, by a close or by an abort."""
    try:
        while await asyncio.wait_for(reader.read(65536), DEADLINE):
            pass
    except ConnectionResetError:
        pass
    return True


class Wire:
    """A TCP connection whose WebSocket bytes the test writes itself."""

    def __init__(self, url: str) -> None:
        self.proto = ClientProtocol(parse_uri(url))
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter
        self.url = url

    async def open(self) -> None:
        uri = parse_uri(self.url)
        self.reader, self.writer = await asyncio.open_connection(uri.host, uri.port)
        self.proto.send_request(self.proto.connect())
        self.flush()
        while self.proto.state is not State.OPEN:
            await self.read()

    def flush(self) -> None:
        for data in self.proto.data_to_send():
            if data:
                self.writer.write(data)

    async def read(self) -> list[Any]:
        """The events of the next chunk the server writes ([] once it closed)."""
        data = await asyncio.wait_for(self.reader.read(65536), DEADLINE)
        if not data:
            self.proto.receive_eof()
            return []
        self.proto.receive_data(data)
        return self.proto.events_received()

    def frame_bytes(self, frame: dict[str, Any]) -> bytes:
        """One text message as it goes on the wire (masked, as a client sends it)."""
        self.proto.send_text(orjson.dumps(frame))
        return b"".join(self.proto.data_to_send())

    async def messages(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` text messages from the server."""
        got: list[dict[str, Any]] = []
        while len(got) < count:
            events = await self.read()
            assert events or self.proto.state is not State.CLOSED, f"closed after {got}"
            got += [
                orjson.loads(e.data)
                for e in events
                if isinstance(e, Frame) and e.opcode is Opcode.TEXT
            ]
        return got

    async def closed(self) -> bool:
        """True once the server ends the TCP connection (what arrives before is read)."""
        return await dropped(self.reader)

    def close(self) -> None:
        self.writer.close()


HELLO = {"kind": "hello", "name": "wire", "auth_scheme": "bearer", "auth_claim": {"token": "ta"}}


def _request(rid: str, op: str, **params: Any) -> dict[str, Any]:
    return {"kind": "request", "request_id": rid, "op": op, "params": params}


async def test_frames_that_arrive_in_one_read_are_each_answered(url: str) -> None:
    wire = Wire(url)
    await wire.open()
    wire.writer.write(wire.frame_bytes(HELLO))
    assert (await wire.messages(1))[0]["kind"] == "welcome"
    batch = b"".join(wire.frame_bytes(_request(f"r{i}", "list_agents")) for i in range(3))
    wire.writer.write(batch)  # one write: the server reads them together
    answers = await wire.messages(3)
    assert [(a["kind"], a["request_id"]) for a in answers] == [
        ("response", "r0"),
        ("response", "r1"),
        ("response", "r2"),
    ]
    wire.close()


async def test_a_message_sent_in_fragments_is_put_together(url: str) -> None:
    wire = Wire(url)
    await wire.open()
    wire.writer.write(wire.frame_bytes(HELLO))
    assert (await wire.messages(1))[0]["kind"] == "welcome"
    data = orjson.dumps(_request("frag", "list_agents"))
    wire.proto.send_text(data[:10], fin=False)
    wire.proto.send_continuation(data[10:20], fin=False)
    wire.flush()
    await asyncio.sleep(0.05)  # the first fragments arrive on their own
    wire.proto.send_continuation(data[20:], fin=True)
    wire.flush()
    [answer] = await wire.messages(1)
    assert (answer["kind"], answer["request_id"]) == ("response", "frag")
    assert answer["ok"] is True
    # one byte per fragment: a message of 20,000 of them in one write
    data = orjson.dumps(_request("bytes", "list_agents", query="x" * 20_000))
    wire.proto.send_text(data[:1], fin=False)
    for i in range(1, len(data) - 1):
        wire.proto.send_continuation(data[i : i + 1], fin=False)
    wire.proto.send_continuation(data[-1:], fin=True)
    wire.flush()
    [answer] = await wire.messages(1)
    assert (answer["kind"], answer["request_id"]) == ("response", "bytes")
    wire.close()


async def test_a_peer_that_answers_no_ping_is_dropped_and_one_that_does_stays(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_module, "PING_INTERVAL", 0.2)
    quiet = Wire(url)  # reads nothing after the handshake: never sees a ping
    await quiet.open()
    quiet.writer.write(quiet.frame_bytes(HELLO))
    async with HubClient(WsLink(url, token="ta", reconnect=0)) as alive:  # answers pings
        await alive.connect()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(0.5)  # let the quiet socket's pings go unanswered
        assert await quiet.closed()
        assert loop.time() - started < 5.0
        # the live client kept its connection through several ping intervals
        assert isinstance(await alive.list_agents(), list)
    quiet.close()


def _get(address: str) -> int:
    try:
        with urllib.request.urlopen(address, timeout=DEADLINE) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_http_that_is_no_handshake_is_refused_and_the_server_goes_on(url: str) -> None:
    http = url.replace("ws://", "http://", 1)
    assert await asyncio.to_thread(_get, f"{http}/") == 426  # Upgrade Required
    reader, writer = await asyncio.open_connection(*http[len("http://") :].split(":"))
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    assert (await asyncio.wait_for(reader.read(), DEADLINE)) == b""  # closed, nothing said
    writer.close()
    async with HubClient(WsLink(url, token="ta", reconnect=0)) as hc:
        await hc.register(_agent("after"), Passport(name="after"), Resume())
        assert [a.name for a in await hc.list_agents()] == ["after"]


def _agent(name: str) -> Agent:
    return Agent(name, prompt=".", config=TestConfig("ok"))


@pytest.mark.parametrize(
    "answer",
    [b"garbage that is not HTTP\r\n\r\n", b"HTTP/1.1 500 Internal Server Error\r\n\r\n"],
    ids=["not-http", "http-500"],
)
async def test_a_server_that_is_no_websocket_fails_the_connect(answer: bytes) -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(reply, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        hc = HubClient(WsLink(f"ws://127.0.0.1:{port}", token="ta", reconnect=0))
        with pytest.raises(NetworkError) as caught:
            await hc.connect()
        assert caught.value.code == "connection_lost"
        assert f"127.0.0.1:{port}" in str(caught.value)
        await hc.close()
        # The link itself: the failed connect raises, and no "lost" follows it.
        link = WsLink(f"ws://127.0.0.1:{port}", token="ta").client()
        lost: list[BaseException | None] = []
        with pytest.raises(NetworkError):
            await link.connect(lambda frame: None, lost.append)
        await asyncio.sleep(0.1)  # the server's close arrives after the refusal
        assert lost == []


async def test_a_server_that_never_answers_times_the_connect_out() -> None:
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepts the TCP connection, says nothing

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        hc = HubClient(WsLink(f"ws://127.0.0.1:{port}", token="ta", open_timeout=0.3, reconnect=0))
        with pytest.raises(NetworkError) as caught:
            await hc.connect()
        assert caught.value.code == "connection_lost"
        await hc.close()
        for writer in held:
            writer.close()


# ---------------------------------------------------------------- flow control


class GatedStore(MemoryKnowledgeStore):
    """A memory store whose appends wait while the gate is shut (a slow disk)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()

    async def append(self, path: str, text: str) -> int:
        await self.gate.wait()
        return await super().append(path, text)


async def test_a_client_that_sends_faster_than_the_store_appends_is_held_back_by_tcp(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    in_flight: list[int] = []  # the connection's sends in the hub, as each one starts
    post = ServerConnection._post

    async def watched(self: ServerConnection, op: Any) -> None:
        in_flight.append(self.posts_in_flight)
        await post(self, op)

    monkeypatch.setattr(ServerConnection, "_post", watched)
    store = GatedStore()
    hub = await Hub.open(store, ttl_sweep_interval=0, expectation_sweep_interval=0)
    sends, limit, text = 1_500, 20, "x" * 4_000  # 6 MB of sends; a socket read holds < 70
    try:
        async with serving(hub, max_posts_in_flight=limit) as url:
            alice_hc = HubClient(WsLink(url, token="ta", reconnect=0))
            bob_hc = HubClient(WsLink(url, token="tb", reconnect=0))
            alice = await alice_hc.register(_agent("alice"), Passport(name="alice"), Resume())
            bob = await bob_hc.register(_agent("bob"), Passport(name="bob"), Resume())

            async def ack_only(envelope: Any) -> None:
                if envelope.event_type == EV_SESSION_INVITE:
                    await default_handler(envelope, bob)

            bob.on_envelope(ack_only)
            session = await alice.open(type="conversation", target="bob")
            in_flight.clear()
            store.gate.clear()  # the disk stalls
            try:
                flood = asyncio.gather(*(session.send(f"{i} {text}") for i in range(sends)))
                loop = asyncio.get_running_loop()
                deadline = loop.time() + DEADLINE
                while len(in_flight) < limit:  # the hub takes sends until it holds `limit`
                    assert loop.time() < deadline, f"only {len(in_flight)} sends reached the hub"
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.3)  # time for more to arrive, were the socket still read
                held = len(in_flight)
                assert held < 200, f"{held} of {sends} sends taken in with none answered"
                store.gate.set()  # the disk recovers: every send is written, once
                await asyncio.wait_for(flood, 60)
                assert len(in_flight) == sends
                assert max(in_flight) < 200
                wal = await hub.read_wal(session.session_id)
                written = [
                    e.event_data["text"].split(" ")[0] for e in wal if e.event_type == EV_TEXT
                ]
                assert written == [str(i) for i in range(sends)]
            finally:
                store.gate.set()  # (also when an assertion failed: the server's exit drains)
            await alice_hc.close()
            await bob_hc.close()
    finally:
        await hub.close()


async def test_a_socket_still_in_its_handshake_does_not_hold_up_shutdown(hub: Hub) -> None:
    async with serving(hub, close_timeout=5.0) as url:
        uri = parse_uri(url)
        reader, writer = await asyncio.open_connection(uri.host, uri.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # half a request, then nothing
        await writer.drain()
        loop = asyncio.get_running_loop()
        started = loop.time()
    assert loop.time() - started < 2.0  # not the close timeout, not forever
    assert await dropped(reader)
    writer.close()


async def test_a_connection_not_welcomed_in_time_is_dropped_and_a_welcomed_one_stays(
    hub: Hub,
) -> None:
    async with serving(hub, open_timeout=0.3) as url:
        uri = parse_uri(url)
        silent_reader, silent = await asyncio.open_connection(uri.host, uri.port)  # says nothing
        no_hello = Wire(url)  # completes the WebSocket handshake, never says hello
        await no_hello.open()
        async with HubClient(WsLink(url, token="ta", reconnect=0)) as welcomed:
            await welcomed.connect()
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert await dropped(silent_reader)
            assert await no_hello.closed()
            assert loop.time() - started < 5.0
            await asyncio.sleep(0.3)  # past the open timeout: the welcomed one stays
            assert isinstance(await welcomed.list_agents(), list)
        silent.close()
        no_hello.close()


def test_a_tls_context_for_a_plain_ws_url_is_refused() -> None:
    import ssl

    with pytest.raises(ValueError, match="plain ws://"):
        WsLink("ws://127.0.0.1:1", ssl=ssl.create_default_context())
    assert WsLink("wss://127.0.0.1:1", ssl=ssl.create_default_context()).ssl is not None


async def test_a_peer_that_pings_and_reads_nothing_is_dropped(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_module, "UNREAD_ANSWERS_LIMIT", 64 * 1024)
    wire = Wire(url)
    await wire.open()
    wire.writer.write(wire.frame_bytes(HELLO))
    assert (await wire.messages(1))[0]["kind"] == "welcome"
    wire.proto.send_ping(b"p" * 125)  # the largest ping: each one asks for a 127-byte pong
    ping = b"".join(wire.proto.data_to_send())
    sent = 0
    async with HubClient(WsLink(url, token="ta", reconnect=0)) as other:
        await other.connect()
        with pytest.raises(ConnectionError):  # reset by the hub at last
            for _ in range(100):  # at most 100 MB of pings, reading none of the pongs
                wire.writer.write(ping * 8_000)
                await asyncio.wait_for(wire.writer.drain(), DEADLINE)
                sent += 1
                await asyncio.sleep(0)
        assert sent < 100
        assert isinstance(await other.list_agents(), list)  # the hub serves everyone else
    wire.close()


async def test_a_client_drops_a_hub_that_answers_no_ping(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's own keepalive: a server that completes the handshake and then goes
    silent (no pong, nothing) is reported lost within a few ping intervals."""
    from websockets.server import ServerProtocol

    monkeypatch.setattr(ws_module, "PING_INTERVAL", 0.2)
    held: list[asyncio.StreamWriter] = []

    async def handshake_then_silence(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        proto = ServerProtocol()
        proto.receive_data(await reader.readuntil(b"\r\n\r\n"))
        [request] = proto.events_received()
        proto.send_response(proto.accept(request))
        writer.write(b"".join(proto.data_to_send()))
        held.append(writer)  # reads nothing more, answers nothing

    server = await asyncio.start_server(handshake_then_silence, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        link = WsLink(f"ws://127.0.0.1:{port}", token="ta").client()
        lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        await link.connect(lambda frame: None, lost.set_result)
        await asyncio.wait_for(lost, 5.0)  # two or three intervals, not never
        await link.close()
        for writer in held:
            writer.close()
