"""Fuzzing the frame decoder, and a live WebSocket server with what a hostile peer sends.

Against one running server per test, each Hypothesis example opens a raw socket and
sends bad input — malformed or truncated JSON, values that are not objects, unknown
or server-only kinds, fields of the wrong type, oversized messages, frames before
the hello, bad or expired credentials, sends with a spoofed ``sender_id``, requests
with garbage params. Every message gets an error frame (or a refusing response), or
the connection is closed; afterwards a well-behaved client on another connection
still completes a request, and the session WAL and the registry are as they were.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from typing import Any

import orjson
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubbub.agent import Agent
from hubbub.knowledge.memory import MemoryKnowledgeStore
from hubbub.network import EV_SESSION_INVITE, EV_TEXT, Envelope, Hub, HubClient, Passport, Resume
from hubbub.network.auth import BearerTokens, ServerAuth, SignedTokens
from hubbub.network.client import default_handler
from hubbub.network.client.agent_client import AgentClient
from hubbub.network.errors import ProtocolError
from hubbub.network.protocol import frames as frames_module
from hubbub.network.protocol.frames import Frame, decode_frame
from hubbub.network.protocol.ops import OPS
from hubbub.network.transport.ws import WsLink, serve_ws
from hubbub.testing import TestConfig

TOKENS = {"ta": "owner-a", "tb": "owner-b", "tm": "owner-m"}
SECRET = b"k" * 32
MAX_FRAME = 4096
DEADLINE = 10.0
NOW = 1_900_000_000.0

FRAME_CLASSES: list[type[Frame]] = [
    cls
    for cls in vars(frames_module).values()
    if isinstance(cls, type) and issubclass(cls, Frame) and cls is not Frame
]
KINDS = sorted(cls.kind for cls in FRAME_CLASSES)
#: Kinds only the hub sends: a client sending one is refused (bad_frame).
SERVER_KINDS = ["welcome", "accept", "error", "notify", "response", "event"]
#: Operations that only read: a well-formed request for one may succeed.
READ_ONLY = {"get_agent", "get_resume", "get_skill", "list_agents"}


# ================================================================ decode_frame

_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _frame_dicts() -> st.SearchStrategy[dict[str, Any]]:
    """Dicts that look like frames: a real kind, its real field names (and some others),
    values of any JSON type — the envelope field often an envelope-like object."""

    def for_class(cls: type[Frame]) -> st.SearchStrategy[dict[str, Any]]:
        names = [f.name for f in fields(cls)] + ["bogus"]
        envelope_like = st.fixed_dictionaries(
            {"session_id": _json, "event_type": _json},
            optional={
                "sender_id": _json,
                "sequence": _json,
                "audience": _json,
                "event_data": _json,
            },
        )
        value = st.one_of(_json, envelope_like)
        body = st.dictionaries(st.sampled_from(names), value, max_size=len(names))
        return body.map(lambda d: {"kind": cls.kind, **d})

    return st.one_of(*(for_class(cls) for cls in FRAME_CLASSES))


@settings(max_examples=500, deadline=None)
@given(data=st.one_of(_json, _frame_dicts()))
def test_decode_frame_takes_any_json_value(data: Any) -> None:
    """Any JSON value decodes to a Frame or raises a ProtocolError — never anything else."""
    try:
        frame = decode_frame(data)
    except ProtocolError as exc:
        # A bad nested envelope keeps the envelope's own code, naming its field.
        assert exc.code in {"bad_frame", "bad_envelope"}, exc
    else:
        assert isinstance(frame, Frame)
        assert type(frame).kind == data["kind"]


# ================================================================ the live server


@dataclass(repr=False)
class Live:
    """One server and the state a refused frame must not change."""

    hub: Hub
    url: str
    alice: AgentClient
    bob: AgentClient
    alice_hc: HubClient
    session_id: str
    wal: list[dict[str, Any]]
    agents: list[dict[str, Any]]

    def __repr__(self) -> str:
        return f"Live({self.url})"

    async def unchanged(self) -> None:
        """A well-behaved client is still served, and nothing was written."""
        found = await asyncio.wait_for(self.alice_hc.get_agent("bob"), DEADLINE)
        assert found.agent_id == self.bob.agent_id
        assert [e.to_dict() for e in await self.hub.read_wal(self.session_id)] == self.wal
        assert [p.to_dict() for p in await self.hub.list_agents(limit=1000)] == self.agents


async def _ack_only(envelope: Envelope, client: AgentClient) -> None:
    if envelope.event_type == EV_SESSION_INVITE:
        await default_handler(envelope, client)


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0, expectation_sweep_interval=0)
    auth = ServerAuth([BearerTokens(TOKENS), SignedTokens(SECRET, clock=lambda: NOW)])
    async with serve_ws(hub, port=0, auth=auth, max_frame_bytes=MAX_FRAME) as url:
        alice_hc = HubClient(WsLink(url, token="ta", reconnect=0))
        bob_hc = HubClient(WsLink(url, token="tb", reconnect=0))
        try:
            alice = await alice_hc.register(
                Agent("alice", config=TestConfig("x")), Passport(name="alice"), Resume()
            )
            bob = await bob_hc.register(
                Agent("bob", config=TestConfig("x")), Passport(name="bob"), Resume()
            )
            alice.on_envelope(lambda e: _ack_only(e, alice))
            bob.on_envelope(lambda e: _ack_only(e, bob))
            session = await alice.open(type="conversation", target="bob")
            await session.send("private")
            wal = [e.to_dict() for e in await hub.read_wal(session.session_id)]
            agents = [p.to_dict() for p in await hub.list_agents(limit=1000)]
            yield Live(hub, url, alice, bob, alice_hc, session.session_id, wal, agents)
        finally:
            await alice_hc.close()
            await bob_hc.close()
    await hub.close()


@dataclass(frozen=True)
class Bad:
    """One message to send, and what must answer it on an open connection."""

    message: str
    #: "error": an error frame with one of ``codes``; "response": a response with ok
    #: false (or, for a read-only op, its answer); "closed": the connection closes.
    expect: str
    codes: frozenset[str] = frozenset()
    request_id: str | None = None  # the id the answer must carry
    read_only: bool = False


BAD_FRAME = frozenset({"bad_frame"})


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _bad_frame(value: Any, codes: frozenset[str] = BAD_FRAME) -> Bad:
    return Bad(value if isinstance(value, str) else _dumps(value), "error", codes)


_ids = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8)
_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),  # what JSON carries here (orjson's range)
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.lists(st.integers(-9, 9), max_size=3),
)
_not_str = _junk.filter(lambda v: not isinstance(v, str))
_valid_frames = st.sampled_from(
    [
        {"kind": "ping"},
        {"kind": "request", "request_id": "r1", "op": "list_agents", "params": {}},
        {"kind": "hello", "name": "x", "auth_scheme": "bearer", "auth_claim": {"token": "tm"}},
    ]
)
_param_names = sorted({p for spec in OPS.values() for p in spec.params} | {"zz"})


def _truncated(frame: dict[str, Any], at: int) -> Bad:
    text = _dumps(frame)
    return _bad_frame(text[: min(at, len(text) - 1)])  # a proper prefix: never JSON


def _oversized(char: str, factor: float) -> Bad:
    """A request over the frame limit in bytes (of 1-, 2- or 3-byte characters)."""
    n = int(MAX_FRAME / len(char.encode()) * factor) + 1
    request = {"kind": "request", "request_id": "big", "op": "list_agents", "params": {}}
    request["params"] = {"query": char * n}
    return _bad_frame(request, frozenset({"frame_too_large"}))


def _spoofed(session_id: str, sender: str, rid: str, text: str) -> Bad:
    envelope = {
        "session_id": session_id,
        "sender_id": sender,
        "audience": None,
        "event_type": EV_TEXT,
        "event_data": {"text": text},
    }
    message = _dumps({"kind": "send", "request_id": rid, "envelope": envelope})
    return Bad(message, "error", frozenset({"access_denied"}), rid)


def _garbage_request(op: str, params: dict[str, Any], rid: str) -> Bad:
    message = _dumps({"kind": "request", "request_id": rid, "op": op, "params": params})
    return Bad(message, "response", request_id=rid, read_only=op in READ_ONLY)


def _bad_messages(ctx: dict[str, str]) -> st.SearchStrategy[Bad]:
    """Messages a server must refuse, each with what answers it on an open connection."""
    known = st.sampled_from([ctx["alice"], ctx["bob"], ctx["session_id"]])
    wrong_types = st.one_of(
        _not_str.map(lambda v: {"kind": "request", "request_id": v, "op": "list_agents"}),
        _not_str.map(lambda v: {"kind": "request", "request_id": "r", "op": v}),
        _junk.map(lambda v: {"kind": "request", "request_id": "r", "op": "get_agent", "params": v}),
        _not_str.map(lambda v: {"kind": "receipt", "recipient_id": v}),
        _junk.map(lambda v: {"kind": "ping", "extra": v}),
        _not_str.map(lambda v: {"kind": "hello", "name": v}),
    )
    return st.one_of(
        # malformed JSON
        st.text(max_size=40).filter(lambda t: not _is_json(t)).map(_bad_frame),
        st.builds(_truncated, _valid_frames, st.integers(1, 200)),
        # JSON that is not an object, or not a frame a client may send
        st.one_of(st.lists(_junk, max_size=3), _junk).map(_bad_frame),
        st.one_of(st.text(max_size=8).filter(lambda k: k not in KINDS), _not_str).map(
            lambda k: _bad_frame({"kind": k})
        ),
        st.sampled_from(SERVER_KINDS).map(lambda k: _bad_frame({"kind": k})),
        wrong_types.map(_bad_frame),
        # a send whose envelope is not one (its own code names the field)
        _junk.filter(lambda v: v is not None).map(
            lambda v: _bad_frame(
                {"kind": "send", "request_id": "r", "envelope": v},
                frozenset({"bad_frame", "bad_envelope"}),
            )
        ),
        st.builds(_oversized, st.sampled_from(["x", "é", "€"]), st.floats(1.0, 3.5)),
        st.builds(lambda: Bad("y" * (4 * MAX_FRAME + 1), "closed")),  # over 4x: closed
        st.builds(
            _spoofed,
            st.just(ctx["session_id"]),
            st.one_of(st.sampled_from([ctx["alice"], ctx["bob"], ""]), _ids),
            _ids,
            st.text(max_size=20),
        ),
        st.builds(
            _garbage_request,
            st.one_of(st.sampled_from(sorted(OPS)), st.text(max_size=8)),
            st.dictionaries(st.sampled_from(_param_names), st.one_of(_junk, known), max_size=4),
            _ids,
        ),
    )


def _is_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


class _Peer:
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def next(self) -> dict[str, Any] | None:
        """The next frame, or None once the server closed the connection."""
        try:
            message = await asyncio.wait_for(self.ws.recv(), DEADLINE)
        except websockets.ConnectionClosed:
            return None
        frame: dict[str, Any] = orjson.loads(message)
        return frame

    async def closed(self) -> bool:
        while True:
            if await self.next() is None:
                return True


def _check_answer(bad: Bad, answer: dict[str, Any] | None) -> bool:
    """Whether ``answer`` is an acceptable reply to ``bad``; returns False once closed."""
    if answer is None:  # once welcomed, only a message far over the limit ends it
        assert bad.expect == "closed", bad.message[:200]
        return False
    assert bad.expect != "closed", (bad.message[:80], answer)
    if answer["kind"] == "error":
        assert bad.expect == "error", (bad.message[:200], answer)
        assert answer["code"] in bad.codes, (bad.message[:200], answer)
        if bad.request_id is not None:
            assert answer["request_id"] == bad.request_id, (bad.message[:200], answer)
        return True
    assert answer["kind"] == "response", (bad.message[:200], answer)
    assert bad.expect == "response", (bad.message[:200], answer)
    assert answer["request_id"] == bad.request_id
    assert answer["ok"] is False or bad.read_only, (bad.message[:200], answer)
    return True


_settings = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _context(live: Live) -> dict[str, str]:
    return {"alice": live.alice.agent_id, "bob": live.bob.agent_id, "session_id": live.session_id}


@_settings
@given(data=st.data())
async def test_bad_frames_on_an_open_connection_are_refused(
    live: Live, data: st.DataObject
) -> None:
    messages = data.draw(st.lists(_bad_messages(_context(live)), min_size=1, max_size=6))
    async with websockets.connect(live.url, open_timeout=DEADLINE) as ws:
        peer = _Peer(ws)
        await ws.send(
            _dumps({"kind": "hello", "auth_scheme": "bearer", "auth_claim": {"token": "tm"}})
        )
        welcome = await peer.next()
        assert welcome is not None and welcome["kind"] == "welcome", welcome
        for bad in messages:
            await ws.send(bad.message)
            if not _check_answer(bad, await peer.next()):
                break
    await live.unchanged()


_hellos = st.one_of(
    st.builds(lambda t: {"auth_scheme": "bearer", "auth_claim": {"token": t}}, st.text(max_size=12).filter(lambda t: t not in TOKENS)),
    st.builds(lambda c: {"auth_scheme": "bearer", "auth_claim": c}, _junk),
    st.just({"auth_scheme": "none", "auth_claim": {}}),
    st.builds(lambda s: {"auth_scheme": s, "auth_claim": {"token": "ta"}}, st.text(max_size=8).filter(lambda s: s != "bearer")),
    st.builds(lambda t: {"auth_scheme": "hmac", "auth_claim": {"token": t}}, st.text(max_size=40)),
    st.just("expired"),
    st.just("forged"),
)  # fmt: skip


@_settings
@given(data=st.data())
async def test_bad_hellos_and_frames_before_hello_end_the_connection(
    live: Live, data: st.DataObject
) -> None:
    first: Any = data.draw(st.one_of(_hellos, _bad_messages(_context(live))))
    if first == "expired":  # signed for a subject, ran out a second ago (by the hub's clock)
        token = SignedTokens(SECRET, clock=lambda: NOW - 61).issue("owner-a", 60)
        first = {"auth_scheme": "hmac", "auth_claim": {"token": token}}
    elif first == "forged":  # signed with another secret
        token = SignedTokens(b"z" * 32, clock=lambda: NOW).issue("owner-a", 600)
        first = {"auth_scheme": "hmac", "auth_claim": {"token": token}}
    async with websockets.connect(live.url, open_timeout=DEADLINE) as ws:
        peer = _Peer(ws)
        if isinstance(first, Bad):
            await ws.send(first.message)
            expected = {"hello_required", "bad_frame", "bad_envelope", "frame_too_large"}
        else:
            await ws.send(_dumps({"kind": "hello", "name": "fuzz", **first}))
            expected = {"unauthenticated", "bad_frame"}
        answer = await peer.next()
        if answer is not None:  # an error frame with a refusing code, then the close
            assert answer["kind"] == "error", (first, answer)
            assert answer["code"] in expected, (first, answer)
            token = first.get("auth_claim", {}).get("token") if isinstance(first, dict) and isinstance(first.get("auth_claim"), dict) else None  # fmt: skip
            if isinstance(token, str) and len(token) > 3:
                assert token not in answer["message"]  # a credential is never echoed
        assert await peer.closed()
    await live.unchanged()


async def test_a_fresh_signed_token_is_welcomed(live: Live) -> None:
    """The control for the expired and forged tokens above: the scheme itself works."""
    token = SignedTokens(SECRET, clock=lambda: NOW).issue("owner-a", 60)
    async with websockets.connect(live.url, open_timeout=DEADLINE) as ws:
        hello = {"kind": "hello", "auth_scheme": "hmac", "auth_claim": {"token": token}}
        await ws.send(_dumps(hello))
        welcome = await _Peer(ws).next()
        assert welcome is not None and (welcome["kind"], welcome["principal"]) == (
            "welcome",
            "owner-a",
        )
