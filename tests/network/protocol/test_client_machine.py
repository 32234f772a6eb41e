"""The client's protocol machine, with no event loop: calls → frames, frames in → events."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.network.envelope import EV_TEXT, Envelope
from hubbub.network.errors import (
    AccessDeniedError,
    InvalidValueError,
    NameTakenError,
    NetworkError,
    NotFoundError,
    ProtocolError,
    StoreUnavailableError,
    UnauthenticatedError,
)
from hubbub.network.identity import Passport, Resume
from hubbub.network.protocol.client import (
    Answered,
    ClientProtocol,
    Delivered,
    Ended,
    Event,
    Failed,
    Welcomed,
)
from hubbub.network.protocol.frames import (
    AcceptFrame,
    ErrorFrame,
    Frame,
    GoodbyeFrame,
    HelloFrame,
    NotifyFrame,
    PingFrame,
    PongFrame,
    ReceiptFrame,
    RequestFrame,
    ResponseFrame,
    SendFrame,
    WelcomeFrame,
    decode_frame,
)
from hubbub.network.protocol.ops import Registered, encode_result
from hubbub.network.rule import Rule
from hubbub.network.session import SessionMetadata


def welcomed(**kw: Any) -> ClientProtocol:
    p = ClientProtocol(**kw)
    p.hello("bearer", {"token": "t"}, "me")
    p.data_to_send()
    p.receive(WelcomeFrame("ep-1", "T0", "owner-a", {}))
    return p


def text(sender: str = "B", session: str = "s1", **kw: Any) -> Envelope:
    return Envelope(session, sender, None, EV_TEXT, {"text": "hi"}, **kw)


def request(p: ClientProtocol, op: str, **params: Any) -> RequestFrame:
    rid = p.request(op, params)
    [frame] = p.data_to_send()
    assert isinstance(frame, RequestFrame)
    assert frame.request_id == rid
    return frame


# ---------------------------------------------------------------- hello and welcome


def test_hello_then_welcome() -> None:
    p = ClientProtocol()
    p.hello("bearer", {"token": "t"}, "me")
    assert p.data_to_send() == [HelloFrame("me", "bearer", {"token": "t"})]
    assert p.state == "hello"
    events = p.receive(WelcomeFrame("ep-9", "T0", "owner-a", {"max_frame_bytes": 10}))
    assert events == [Welcomed("ep-9", "owner-a", {"max_frame_bytes": 10})]
    assert (p.state, p.endpoint_id, p.principal) == ("open", "ep-9", "owner-a")


def test_a_refused_hello_ends_with_the_error_rebuilt() -> None:
    p = ClientProtocol()
    p.hello("bearer", {"token": "bad"})
    [event] = p.receive(ErrorFrame("unauthenticated", "bearer auth: the token is not accepted"))
    assert isinstance(event, Ended)
    assert isinstance(event.error, UnauthenticatedError)
    assert event.error.code == "unauthenticated"
    assert p.state == "closed"


# ---------------------------------------------------------------- requests


def test_request_ids_are_unique_and_params_are_encoded() -> None:
    p = welcomed()
    ids = {p.request("get_agent", {"name_or_id": f"a{n}"}) for n in range(50)}
    assert len(ids) == 50
    assert len(p.data_to_send()) == 50
    frame = request(p, "register", passport=Passport(name="alice"), resume=Resume())
    assert frame.op == "register"
    assert frame.params["passport"] == Passport(name="alice").to_dict()
    assert frame.params["resume"] == Resume().to_dict()


def test_a_request_for_an_unknown_op_raises_and_queues_nothing() -> None:
    p = welcomed()
    with pytest.raises(ProtocolError) as info:
        p.request("drop_tables", {})
    assert info.value.code == "unknown_op"
    assert p.data_to_send() == []


def _metadata() -> SessionMetadata:
    from hubbub.network.session import Participant, ParticipantRole, SessionManifest

    return SessionMetadata(
        "s1",
        SessionManifest("conversation"),
        "A",
        [
            Participant("A", ParticipantRole.INITIATOR, 0),
            Participant("B", ParticipantRole.RESPONDENT, 1),
        ],
    )


@pytest.mark.parametrize(
    ("op", "params", "result", "check"),
    [
        (
            "get_agent",
            {"name_or_id": "bob"},
            Passport(name="bob", agent_id="B"),
            lambda r: r == Passport(name="bob", agent_id="B"),
        ),
        (
            "register",
            {"passport": Passport(name="alice")},
            Registered(Passport(name="alice", agent_id="A"), Resume(), Rule(), True),
            lambda r: isinstance(r, Registered) and r.existing and r.passport.agent_id == "A",
        ),
        (
            "list_agents",
            {},
            [Passport(name="a", agent_id="A"), Passport(name="b", agent_id="B")],
            lambda r: [x.agent_id for x in r] == ["A", "B"],
        ),
        (
            "read_wal",
            {"session_id": "s1", "caller_id": "A"},
            [text(envelope_id="E1", sequence=1)],
            lambda r: isinstance(r[0], Envelope) and r[0].envelope_id == "E1",
        ),
        (
            "get_session",
            {"session_id": "s1", "caller_id": "A"},
            _metadata(),
            lambda r: isinstance(r, SessionMetadata) and r.is_participant("B"),
        ),
        ("can_send", {"session_id": "s1", "sender_id": "A"}, True, lambda r: r is True),
        ("unregister", {"agent_id": "A"}, None, lambda r: r is None),
        (
            "adapter_state",
            {"session_id": "s1", "caller_id": "A"},
            {"turn": 2},
            lambda r: r == {"turn": 2},
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_answers_are_decoded_by_their_op(
    op: str, params: dict[str, Any], result: Any, check: Any
) -> None:
    p = welcomed()
    frame = request(p, op, **params)
    wire = ResponseFrame(frame.request_id, True, encode_result(op, result))
    [event] = p.receive(decode_frame(_json_round_trip(wire)))
    assert isinstance(event, Answered)
    assert event.request_id == frame.request_id
    assert check(event.result), event.result


def _json_round_trip(frame: Frame) -> Any:
    import orjson

    from hubbub.network.protocol.frames import encode_frame

    return orjson.loads(orjson.dumps(encode_frame(frame)))


@pytest.mark.parametrize(
    ("op", "result"),
    [
        ("get_agent", {"name": 5}),
        ("get_agent", "bob"),
        ("register", {"passport": {"name": "a"}}),  # no resume/rule/existing
        ("list_agents", [1, 2]),
        ("can_send", "yes"),
    ],
)
def test_an_answer_that_does_not_decode_fails_the_call_as_bad_frame(op: str, result: Any) -> None:
    p = welcomed()
    params = {"name_or_id": "x"} if op == "get_agent" else {}
    if op == "register":
        params = {"passport": Passport(name="a")}
    if op == "can_send":
        params = {"session_id": "s", "sender_id": "A"}
    frame = request(p, op, **params)
    [event] = p.receive(ResponseFrame(frame.request_id, True, result))
    assert isinstance(event, Failed)
    assert event.error.code in {"bad_frame", "invalid_value"}


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("access_denied", AccessDeniedError),
        ("name_taken", NameTakenError),
        ("not_found", NotFoundError),
        ("invalid_value", InvalidValueError),
        ("store_unavailable", StoreUnavailableError),
        ("not_your_turn", ProtocolError),
        ("agent_offline", ProtocolError),
        ("something_new", NetworkError),
    ],
)
def test_errors_are_rebuilt_with_their_class_and_code(code: str, cls: type[NetworkError]) -> None:
    p = welcomed()
    frame = request(p, "get_agent", name_or_id="x")
    [event] = p.receive(ResponseFrame(frame.request_id, False, None, code, "it failed"))
    assert isinstance(event, Failed)
    assert type(event.error) is cls
    assert event.error.code == code
    assert "it failed" in str(event.error)
    # And the same for a send refused with an error frame.
    rid = p.send(text("A"))
    [event] = p.receive(ErrorFrame(code, "refused", None, rid))
    assert isinstance(event, Failed)
    assert (type(event.error), event.error.code, event.request_id) == (cls, code, rid)


def test_answers_for_unknown_or_settled_requests_are_ignored() -> None:
    p = welcomed()
    frame = request(p, "get_agent", name_or_id="x")
    assert p.receive(ResponseFrame("nope", True, None)) == []
    answer = ResponseFrame(frame.request_id, True, Passport(name="x", agent_id="X").to_dict())
    assert len(p.receive(answer)) == 1
    assert p.receive(answer) == []  # a duplicate answer settles nothing twice
    assert p.receive(AcceptFrame("E", 1, frame.request_id)) == []


def test_calls_in_flight_are_answered_in_any_order() -> None:
    p = welcomed()
    a = request(p, "get_agent", name_or_id="a")
    b = request(p, "get_agent", name_or_id="b")
    [eb] = p.receive(ResponseFrame(b.request_id, True, Passport(name="b", agent_id="B").to_dict()))
    [ea] = p.receive(ResponseFrame(a.request_id, False, None, "not_found", "no a"))
    assert isinstance(eb, Answered) and eb.result.agent_id == "B"
    assert isinstance(ea, Failed) and ea.error.code == "not_found"


# ---------------------------------------------------------------- sends


def test_a_send_is_answered_by_its_accept() -> None:
    p = welcomed()
    env = text("A")
    rid = p.send(env)
    assert p.data_to_send() == [SendFrame(env, rid)]
    assert env.idempotency_key is None  # no keys unless the link resends
    [event] = p.receive(AcceptFrame("E1", 7, rid, "T1"))
    assert event == Answered(rid, ("E1", 7, "T1"))


def test_with_keys_every_send_gets_a_unique_idempotency_key_and_keeps_its_own() -> None:
    p = welcomed(key_prefix="cli", keys=True)
    envs = [text("A") for _ in range(3)]
    for env in envs:
        p.send(env)
    keys = [e.idempotency_key for e in envs]
    assert all(k is not None and k.startswith("cli-") for k in keys)
    assert len(set(keys)) == 3
    mine = text("A", idempotency_key="mine")
    p.send(mine)
    assert mine.idempotency_key == "mine"


def test_an_error_without_a_request_id_is_ignored_unless_fatal() -> None:
    p = welcomed()
    rid = p.send(text("A"))
    assert p.receive(ErrorFrame("frame_too_large", "too big")) == []
    assert p.receive(ErrorFrame("bad_frame", "junk")) == []
    [ended] = p.receive(ErrorFrame("slow_consumer", "read faster"))
    assert isinstance(ended, Ended) and ended.error.code == "slow_consumer"
    # The send is still waiting (the driver fails it when the link goes).
    [lost] = p.connection_lost()
    assert lost.request_id == rid


@pytest.mark.parametrize("code", ["hub_shutdown", "slow_consumer", "closing"])
def test_goodbye_ends_with_its_code(code: str) -> None:
    p = welcomed()
    [event] = p.receive(GoodbyeFrame(code, "bye"))
    assert isinstance(event, Ended)
    assert event.error.code == code
    assert p.state == "closed"


def test_ping_is_answered_with_pong() -> None:
    p = welcomed()
    assert p.receive(PingFrame()) == []
    assert p.receive(PongFrame()) == []
    assert p.data_to_send() == [PongFrame()]


def test_receipt_and_goodbye_frames() -> None:
    p = welcomed()
    p.receipt("A", text(envelope_id="E3", sequence=3))
    p.goodbye("leaving")
    assert p.data_to_send() == [
        ReceiptFrame("E3", "ack", "", "A", "s1", 3),
        GoodbyeFrame("closing", "leaving"),
    ]
    assert p.state == "closed"


# ---------------------------------------------------------------- deliveries


def test_deliveries_are_deduplicated_by_cursor() -> None:
    p = welcomed()
    got = []
    for seq in (1, 2, 2, 1, 3, 3):
        for event in p.receive(NotifyFrame(text(envelope_id=f"E{seq}", sequence=seq), "A")):
            assert isinstance(event, Delivered)
            got.append((event.recipient_id, event.envelope.sequence))
    assert got == [("A", 1), ("A", 2), ("A", 3)]
    assert p.cursors == {("A", "s1"): 3}
    assert p.resume_cursors("A") == {"s1": 3}


def test_cursors_are_per_agent_and_session() -> None:
    p = welcomed()
    env = text(envelope_id="E1", sequence=1)
    # Two agents of one connection in one session each get the envelope.
    assert len(p.receive(NotifyFrame(env, "A"))) == 1
    assert len(p.receive(NotifyFrame(env, "C"))) == 1
    assert len(p.receive(NotifyFrame(text("B", "s2", envelope_id="F1", sequence=1), "A"))) == 1
    assert p.resume_cursors("A") == {"s1": 1, "s2": 1}
    assert p.resume_cursors("C") == {"s1": 1}


def test_unsequenced_deliveries_always_pass_and_empty_ones_never() -> None:
    p = welcomed()
    assert len(p.receive(NotifyFrame(text(), "A"))) == 1
    assert len(p.receive(NotifyFrame(text(), "A"))) == 1
    assert p.receive(NotifyFrame(None, "A")) == []
    assert p.cursors == {}


# ---------------------------------------------------------------- connection lost


def test_connection_lost_fails_every_pending_request() -> None:
    p = welcomed()
    rids = [p.request("get_agent", {"name_or_id": "x"}), p.send(text("A")), p.send(text("A"))]
    failed = p.connection_lost()
    assert sorted(f.request_id for f in failed) == sorted(rids)
    assert all(f.error.code == "connection_lost" for f in failed)
    assert all(isinstance(f.error, ProtocolError) for f in failed)
    assert p.state == "closed"
    assert p.connection_lost() == []  # nothing twice
    assert p.receive(AcceptFrame("E", 1, rids[1])) == []


def test_connection_lost_can_keep_keyed_sends_for_a_resend() -> None:
    p = welcomed(key_prefix="k", keys=True)
    call = p.request("close_session", {"session_id": "s", "caller_id": "A"})  # not repeatable
    env = text("A")
    rid = p.send(env)
    p.data_to_send()
    failed = p.connection_lost(keep_sends=True)
    assert [f.request_id for f in failed] == [call]
    assert p.resend() == 1
    [again] = p.data_to_send()
    assert again == SendFrame(env, rid)
    assert again.envelope is not None and again.envelope.idempotency_key == f"k-{rid}"
    assert p.receive(AcceptFrame("E1", 1, rid)) == [Answered(rid, ("E1", 1, ""))]


# ---------------------------------------------------------------- property

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 5), st.text(max_size=4), st.floats(-1, 1)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
_envelope_json = st.fixed_dictionaries(
    {"session_id": st.sampled_from(["s1", "s2"]), "event_type": st.just(EV_TEXT)},
    optional={"sequence": st.integers(0, 4), "sender_id": st.text(max_size=2)},
)
_wire_frames = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(
            [
                "welcome",
                "accept",
                "error",
                "goodbye",
                "notify",
                "response",
                "ping",
                "pong",
                "event",
                "hello",
                "request",
            ]
        )
    },
    optional={
        "request_id": st.sampled_from(["1", "2", "3", "x"]),
        "ok": st.booleans(),
        "result": _json,
        "error_code": st.one_of(st.none(), st.sampled_from(["not_found", "weird", ""])),
        "code": st.sampled_from(["unauthenticated", "slow_consumer", "bad_frame", "zzz"]),
        "envelope": _envelope_json,
        "recipient_id": st.sampled_from(["A", "B"]),
        "sequence": st.integers(-1, 5),
        "envelope_id": st.text(max_size=3),
    },
)


@settings(max_examples=300, deadline=None)
@given(messages=st.lists(_wire_frames, max_size=20))
def test_any_decodable_frame_from_a_hub_never_raises(messages: list[dict[str, Any]]) -> None:
    """A hostile or broken hub can send anything that decodes; the client machine
    turns it into events (or nothing), never an exception."""
    p = ClientProtocol(keys=True)
    p.hello()
    p.request("get_agent", {"name_or_id": "x"})
    p.request("register", {"passport": Passport(name="a")})
    p.send(text("A"))
    for message in messages:
        try:
            frame = decode_frame(message)
        except ProtocolError:
            continue
        for event in p.receive(frame):
            assert isinstance(event, Event)
    p.data_to_send()
    assert all(f.error.code == "connection_lost" for f in p.connection_lost())
