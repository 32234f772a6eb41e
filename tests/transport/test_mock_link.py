"""Client code against a MockLink: the hub's side is a function, no Hub runs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hubbub.agent import Agent
from hubbub.network.client import HubClient
from hubbub.network.envelope import EV_TEXT, Envelope
from hubbub.network.errors import AccessDeniedError, NameTakenError, NetworkError
from hubbub.network.identity import Passport, Resume
from hubbub.network.protocol.frames import (
    ErrorFrame,
    Frame,
    GoodbyeFrame,
    HelloFrame,
    NotifyFrame,
    ReceiptFrame,
    RequestFrame,
    ResponseFrame,
    SendFrame,
    WelcomeFrame,
)
from hubbub.network.protocol.ops import Registered, encode_result
from hubbub.network.rule import Rule
from hubbub.network.transport.client import ClientConnection
from hubbub.network.transport.link import LinkClient
from hubbub.network.transport.mock import MockLink, MockLinkClient
from hubbub.testing import TestConfig

BOB = Passport(name="bob", agent_id="B-1")


class ScriptedHub:
    """A handler: welcomes, answers get_agent for bob, refuses the rest; records the frames."""

    def __init__(self, *, welcome: bool = True) -> None:
        self.welcome = welcome
        self.frames: list[Frame] = []
        self.hold: asyncio.Event | None = None  # while set-able, requests wait for it

    async def __call__(self, frame: Frame) -> Frame | list[Frame] | None:
        self.frames.append(frame)
        if isinstance(frame, HelloFrame):
            if not self.welcome:
                return ErrorFrame("unauthenticated", "bearer auth: the token is not accepted")
            return WelcomeFrame("ep-1", "T0", "owner-a", {"max_frame_bytes": 1000})
        if isinstance(frame, RequestFrame):
            if self.hold is not None:
                await self.hold.wait()
            return self.answer(frame)
        if isinstance(frame, SendFrame):
            return ErrorFrame("not_your_turn", "wait for bob", None, frame.request_id)
        return None

    def answer(self, frame: RequestFrame) -> Frame:
        if frame.op == "get_agent" and frame.params == {"name_or_id": "bob"}:
            return ResponseFrame(frame.request_id, True, BOB.to_dict())
        if frame.op == "get_agent":
            return ResponseFrame(frame.request_id, False, None, "not_found", "no such agent")
        if frame.op == "register":
            name = frame.params["passport"]["name"]
            if name == "mallory":
                return ResponseFrame(frame.request_id, False, None, "name_taken", "taken")
            passport = Passport(name=name, agent_id=f"{name[0].upper()}-1")
            result = Registered(passport, Resume(), Rule(), False)
            return ResponseFrame(frame.request_id, True, encode_result("register", result))
        if frame.op == "read_wal":
            return ResponseFrame(frame.request_id, False, None, "access_denied", "not yours")
        return ResponseFrame(frame.request_id, False, None, "unknown_op", frame.op)


def notify(recipient: str, seq: int, text: str = "hi") -> NotifyFrame:
    env = Envelope("s1", "B-1", None, EV_TEXT, {"text": text}, envelope_id=f"E{seq}", sequence=seq)
    return NotifyFrame(env, recipient)


# ---------------------------------------------------------------- the link itself


def test_a_mock_link_client_is_a_link_client() -> None:
    assert isinstance(MockLink(lambda f: None).client(), LinkClient)


async def test_answers_arrive_in_order_and_never_from_inside_send_frame() -> None:
    got: list[Frame] = []
    client = MockLink(lambda f: [f, f] if isinstance(f, RequestFrame) else None).client()
    await client.connect(got.append, lambda exc: None)
    for n in range(3):
        client.send_frame(RequestFrame(str(n), "get_agent", {}))
    assert got == []  # answered later, from the link's task
    for _ in range(10):
        await asyncio.sleep(0)
    assert [f.request_id for f in got] == ["0", "0", "1", "1", "2", "2"]  # type: ignore[attr-defined]
    assert [f.request_id for f in client.sent] == ["0", "1", "2"]  # type: ignore[attr-defined]
    await client.close()
    with pytest.raises(NetworkError) as info:
        client.send_frame(RequestFrame("3", "get_agent", {}))
    assert info.value.code == "connection_lost"


async def test_the_credential_is_the_links() -> None:
    hub = ScriptedHub()
    conn = ClientConnection(MockLink(hub, credential=("bearer", {"token": "t1"})).client())
    await conn.open()
    assert hub.frames[0] == HelloFrame("", "bearer", {"token": "t1"})
    await conn.close()


async def test_a_handler_that_raises_drops_the_link() -> None:
    def broken(frame: Frame) -> Frame:
        if isinstance(frame, HelloFrame):
            return WelcomeFrame("ep", "T", "p")
        raise RuntimeError("handler bug")

    conn = ClientConnection(MockLink(broken).client())
    await conn.open()
    with pytest.raises(NetworkError) as info:
        await asyncio.wait_for(conn.call("get_agent", name_or_id="bob"), 5)
    assert info.value.code == "connection_lost"
    assert "handler bug" in str(info.value)


# ---------------------------------------------------------------- ClientConnection


async def test_client_connection_against_a_scripted_hub() -> None:
    hub = ScriptedHub()
    conn = ClientConnection(MockLink(hub).client())
    await conn.open()
    assert (conn.endpoint_id, conn.principal) == ("ep-1", "owner-a")

    assert await conn.call("get_agent", name_or_id="bob") == BOB
    with pytest.raises(NetworkError) as info:
        await conn.call("get_agent", name_or_id="zed")
    assert info.value.code == "not_found"
    with pytest.raises(AccessDeniedError) as denied:
        await conn.read_wal("s1", caller_id="A-1")
    assert denied.value.code == "access_denied"
    with pytest.raises(NetworkError) as refused:
        await conn.post(Envelope("s1", "A-1", None, EV_TEXT, {"text": "x"}))
    assert refused.value.code == "not_your_turn"
    # What the client put on the wire: the hello, then each call as a request.
    requests = [f for f in hub.frames if isinstance(f, RequestFrame)]
    assert [(r.op, r.params) for r in requests][:2] == [
        ("get_agent", {"name_or_id": "bob"}),
        ("get_agent", {"name_or_id": "zed"}),
    ]
    await conn.close()
    assert isinstance(hub.frames[-1], GoodbyeFrame)  # a frame sent before close reaches the hub


async def test_a_refused_hello_raises_with_its_code() -> None:
    conn = ClientConnection(MockLink(ScriptedHub(welcome=False)).client())
    with pytest.raises(NetworkError) as info:
        await asyncio.wait_for(conn.open(), 5)
    assert info.value.code == "unauthenticated"


async def test_a_pushed_notify_is_delivered_once() -> None:
    link = MockLink(ScriptedHub())
    conn = ClientConnection(link.client())
    await conn.open()
    link.push(notify("A-1", 1))
    link.push(notify("A-1", 1))  # a duplicate (a resume overlapping live delivery)
    link.push(notify("A-1", 2))
    await conn.close()  # ends deliveries()
    got = [(r, e.sequence) async for r, e in conn.deliveries()]
    assert got == [("A-1", 1), ("A-1", 2)]


async def test_calls_are_pipelined_over_the_mock() -> None:
    release = asyncio.Event()

    async def hub(frame: Frame) -> Frame | None:
        if isinstance(frame, HelloFrame):
            return WelcomeFrame("ep", "T", "p")
        assert isinstance(frame, RequestFrame)
        if frame.params["name_or_id"] == "slow":
            await release.wait()
        return ResponseFrame(frame.request_id, False, None, "not_found", frame.params["name_or_id"])

    conn = ClientConnection(MockLink(hub).client())
    await conn.open()
    slow = asyncio.ensure_future(conn.call("get_agent", name_or_id="slow"))
    with pytest.raises(NetworkError, match="fast"):  # answered while the slow one waits
        await asyncio.wait_for(conn.call("get_agent", name_or_id="fast"), 5)
    assert not slow.done()
    release.set()
    with pytest.raises(NetworkError, match="slow"):
        await asyncio.wait_for(slow, 5)
    await conn.close()


async def test_link_lost_fails_every_pending_call_with_connection_lost() -> None:
    hub = ScriptedHub()
    link = MockLink(hub)
    ended: list[NetworkError] = []
    conn = ClientConnection(link.client(), on_end=ended.append)
    await conn.open()
    hub.hold = asyncio.Event()  # the hub never answers
    calls = [
        asyncio.ensure_future(conn.call("get_agent", name_or_id="bob")),
        asyncio.ensure_future(conn.post(Envelope("s1", "A-1", None, EV_TEXT, {"text": "x"}))),
    ]
    while len([f for f in hub.frames if not isinstance(f, HelloFrame)]) < 2:
        await asyncio.sleep(0)
    link.lose(ConnectionResetError("cut"))
    for call in calls:
        with pytest.raises(NetworkError) as info:
            await asyncio.wait_for(call, 5)
        assert info.value.code == "connection_lost"
    assert [e.code for e in ended] == ["connection_lost"]
    assert not conn.connected
    with pytest.raises(NetworkError) as later:
        await conn.call("get_agent", name_or_id="bob")
    assert later.value.code == "connection_lost"
    await conn.close()


# ---------------------------------------------------------------- HubClient


async def _registered_hub_client(hub: ScriptedHub) -> tuple[HubClient, MockLink, Any]:
    link = MockLink(hub)
    hc = HubClient(link)
    alice = await hc.register(
        Agent("alice", config=TestConfig("hi")), Passport(name="alice"), Resume()
    )
    return hc, link, alice


async def test_hub_client_registers_and_looks_up_through_the_mock() -> None:
    hub = ScriptedHub()
    hc, _, alice = await _registered_hub_client(hub)
    assert alice.agent_id == "A-1"
    assert await hc.get_agent("bob") == BOB
    with pytest.raises(NetworkError) as info:
        await hc.get_agent("zed")
    assert info.value.code == "not_found"
    with pytest.raises(AccessDeniedError):
        await hc.read_wal("s1")
    with pytest.raises(NameTakenError):
        await hc.register(Agent("m", config=TestConfig("x")), Passport(name="mallory"), Resume())
    register = next(f for f in hub.frames if isinstance(f, RequestFrame) and f.op == "register")
    assert register.params["passport"]["name"] == "alice"
    await hc.close()


async def test_hub_client_gets_a_pushed_notify_and_receipts_it() -> None:
    hub = ScriptedHub()
    hc, link, alice = await _registered_hub_client(hub)
    handled: list[Envelope] = []

    async def handler(envelope: Envelope) -> None:
        handled.append(envelope)

    alice.on_envelope(handler)
    waiting = asyncio.ensure_future(
        alice.wait_for_session_event(
            session_id="s1", predicate=lambda e: e.event_type == EV_TEXT, timeout=5
        )
    )
    await asyncio.sleep(0)
    link.push(notify("A-1", 1, "hello alice"))
    got = await waiting
    assert got.event_data == {"text": "hello alice"}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not any(isinstance(f, ReceiptFrame) for f in hub.frames):
        assert loop.time() < deadline, "no receipt"
        await asyncio.sleep(0.01)
    receipt = next(f for f in hub.frames if isinstance(f, ReceiptFrame))
    assert (receipt.recipient_id, receipt.envelope_id, receipt.sequence) == ("A-1", "E1", 1)
    assert [e.envelope_id for e in handled] == ["E1"]
    await hc.close()


async def test_hub_client_link_lost_fails_pending_calls() -> None:
    hub = ScriptedHub()
    hc, link, _ = await _registered_hub_client(hub)
    hub.hold = asyncio.Event()
    pending = asyncio.ensure_future(hc.get_agent("bob"))
    while not (isinstance(hub.frames[-1], RequestFrame) and hub.frames[-1].op == "get_agent"):
        await asyncio.sleep(0)
    link.lose()
    with pytest.raises(NetworkError) as info:
        await asyncio.wait_for(pending, 5)
    assert info.value.code == "connection_lost"
    assert not hc.connected
    await hc.close()


async def test_hub_client_told_goodbye_ends() -> None:
    hub = ScriptedHub()
    hc, link, _ = await _registered_hub_client(hub)
    hub.hold = asyncio.Event()
    pending = asyncio.ensure_future(hc.get_agent("bob"))
    await asyncio.sleep(0)
    link.push(GoodbyeFrame("hub_shutdown", "the hub is shutting down"))
    with pytest.raises(NetworkError) as info:
        await asyncio.wait_for(pending, 5)
    assert info.value.code == "hub_shutdown"
    assert not hc.connected
    await hc.close()


def test_mock_link_client_type() -> None:
    assert isinstance(MockLink(lambda f: None).client(), MockLinkClient)
