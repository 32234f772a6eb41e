"""Envelope codec (spec §6), frame codec (§22.3) and the error tree (§25)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.network.envelope import (
    EV_EXPECTATION_VIOLATED,
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_INVITE_REJECT,
    EV_SESSION_OPENED,
    EV_TASK_FAILED,
    EV_TEXT,
    Envelope,
    Priority,
    is_protocol_event,
    json_size_ok,
    visible_to,
)
from hubbub.network.errors import (
    AccessDeniedError,
    AuthError,
    InboxFull,
    NetworkError,
    NotFoundError,
    ProtocolError,
    WorkflowGraphError,
    error_from_code,
)
from hubbub.network.protocol.frames import (
    AcceptFrame,
    ErrorFrame,
    EventFrame,
    Frame,
    HelloFrame,
    NotifyFrame,
    PingFrame,
    PongFrame,
    ReceiptFrame,
    RequestFrame,
    ResponseFrame,
    SendFrame,
    SubscribeFrame,
    UnsubscribeFrame,
    WelcomeFrame,
    decode_frame,
    encode_frame,
)

# --- strategies ------------------------------------------------------------------------

ids = st.text(min_size=1, max_size=12)
opt_str = st.one_of(st.none(), st.text(max_size=12))
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=10),
    ),
    lambda c: st.one_of(
        st.lists(c, max_size=3), st.dictionaries(st.text(max_size=6), c, max_size=3)
    ),
    max_leaves=8,
)
envelopes = st.builds(
    Envelope,
    session_id=ids,
    sender_id=st.text(max_size=12),
    audience=st.one_of(st.none(), st.lists(ids, max_size=4)),
    event_type=ids,
    event_data=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    envelope_id=st.text(max_size=32),
    task_id=opt_str,
    causation_id=opt_str,
    trace_id=opt_str,
    priority=st.sampled_from(["background", "normal", "urgent"]),
    depth=st.integers(min_value=0, max_value=100),
    idempotency_key=opt_str,
    created_at=st.text(max_size=32),
    ttl_seconds=st.one_of(st.none(), st.integers(min_value=0, max_value=10**6)),
    sequence=st.integers(min_value=0, max_value=2**40),
)
LIFECYCLE = [
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_INVITE_REJECT,
    EV_SESSION_OPENED,
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
]


@st.composite
def lifecycle_envelopes(draw: st.DrawFn) -> Envelope:
    """Lifecycle events whose data holds what the WAL line may leave out — the implied
    value, another value, or nothing — next to other keys."""
    env = draw(envelopes)
    env.event_type = draw(st.sampled_from(LIFECYCLE))
    implied = {
        "session_id": env.session_id,
        "creator_id": env.sender_id,
        "knobs": {},
        "labels": {},
    }
    data = draw(st.dictionaries(st.sampled_from(["reason", "manifest_type", "x"]), json_values))
    for key, value in implied.items():
        choice = draw(st.sampled_from(["implied", "other", "absent"]))
        if choice == "implied":
            data[key] = value
        elif choice == "other":
            data[key] = draw(json_values)
    env.event_data = data
    return env


# --- envelope --------------------------------------------------------------------------


def test_constructor_order_matches_spec() -> None:
    names = [f.name for f in fields(Envelope)]
    assert names == [
        "session_id",
        "sender_id",
        "audience",
        "event_type",
        "event_data",
        "envelope_id",
        "task_id",
        "causation_id",
        "trace_id",
        "priority",
        "depth",
        "idempotency_key",
        "created_at",
        "ttl_seconds",
        "sequence",
    ]
    env = Envelope("s", "a", None, EV_TEXT)
    assert (env.event_data, env.envelope_id, env.priority, env.depth, env.sequence) == (
        {},
        "",
        "normal",
        0,
        0,
    )


@settings(max_examples=200, deadline=None)
@given(env=envelopes)
def test_envelope_round_trips(env: Envelope) -> None:
    assert Envelope.from_dict(env.to_dict()) == env
    assert Envelope.from_json(env.to_json()) == env
    assert Envelope.from_json(env.to_json().encode()) == env
    # to_json: sorted keys, one line, stable.
    line = env.to_json()
    assert "\n" not in line
    assert list(orjson.loads(line)) == sorted(env.to_dict())
    assert Envelope.from_json(line).to_json() == line
    # The WAL line: one line, no session_id (the WAL's path names it), defaults left out.
    wal = env.to_wal_line()
    assert wal.endswith("\n") and "\n" not in wal[:-1]
    assert "session_id" not in orjson.loads(wal)
    assert Envelope.from_wal_line(wal, env.session_id) == env
    assert Envelope.from_wal_line(wal.encode(), env.session_id).to_wal_line() == wal


@settings(max_examples=300, deadline=None)
@given(env=lifecycle_envelopes())
def test_lifecycle_wal_lines_leave_out_what_they_repeat_and_round_trip(env: Envelope) -> None:
    wal = env.to_wal_line()
    line = orjson.loads(wal)
    data = line.get("event_data", {})
    assert Envelope.from_wal_line(wal, env.session_id) == env
    assert Envelope.from_wal_line(wal.encode(), env.session_id).to_wal_line() == wal
    if "session_id" in line:  # verbatim: an implied key was missing from the data
        assert data == env.event_data
    else:
        if env.event_data.get("session_id") == env.session_id:
            assert "session_id" not in data
        if env.event_type == EV_SESSION_INVITE:
            if env.event_data.get("creator_id") == env.sender_id:
                assert "creator_id" not in data
            assert data.get("knobs", {}) != {} or "knobs" not in data


def test_a_handshake_wal_line_holds_no_repeated_ids() -> None:
    invite = Envelope(
        "S" * 32,
        "A" * 32,
        ["B" * 32],
        EV_SESSION_INVITE,
        {
            "session_id": "S" * 32,
            "manifest_type": "conversation",
            "manifest_version": 1,
            "creator_id": "A" * 32,
            "knobs": {},
            "labels": {"intent": "why"},
        },
    )
    line = invite.to_wal_line()
    assert "S" * 32 not in line and line.count("A" * 32) == 1
    assert orjson.loads(line)["event_data"] == {
        "manifest_type": "conversation",
        "manifest_version": 1,
        "labels": {"intent": "why"},
    }
    assert Envelope.from_wal_line(line, "S" * 32) == invite
    ack = Envelope("S" * 32, "B" * 32, None, EV_SESSION_INVITE_ACK, {"session_id": "S" * 32})
    assert "event_data" not in orjson.loads(ack.to_wal_line())
    assert Envelope.from_wal_line(ack.to_wal_line(), "S" * 32) == ack
    # an ack whose data does not name the session is kept as it was
    odd = Envelope("S" * 32, "B" * 32, None, EV_SESSION_INVITE_ACK, {})
    assert Envelope.from_wal_line(odd.to_wal_line(), "S" * 32) == odd


def test_wal_line_keeps_a_named_session() -> None:
    """A line that names its session (older WALs, foreign lines) keeps that name."""
    line = Envelope("s1", "a", None, EV_TEXT).to_json()
    assert Envelope.from_wal_line(line, "s2").session_id == "s1"
    with pytest.raises(ProtocolError, match="not valid JSON"):
        Envelope.from_wal_line("{", "s1")


def test_to_dict_copies_audience() -> None:
    env = Envelope("s", "a", ["b"], EV_TEXT)
    d = env.to_dict()
    d["audience"].append("c")
    assert env.audience == ["b"]


def test_from_dict_defaults() -> None:
    env = Envelope.from_dict({"session_id": "s", "event_type": EV_TEXT})
    assert env == Envelope("s", "", None, EV_TEXT, {})
    assert (
        Envelope.from_dict({"session_id": "s", "event_type": "x", "event_data": None}).event_data
        == {}
    )


VALID: dict[str, Any] = {
    "session_id": "s",
    "sender_id": "a",
    "audience": None,
    "event_type": EV_TEXT,
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("session_id", ""),
        ("session_id", 5),
        ("session_id", None),
        ("sender_id", None),
        ("sender_id", 3),
        ("event_type", ""),
        ("event_type", ["x"]),
        ("event_data", "text"),
        ("event_data", []),
        ("event_data", 0),
        ("audience", "bob"),
        ("audience", ["bob", 2]),
        ("audience", {"bob": 1}),
        ("priority", "high"),
        ("priority", 1),
        ("depth", -1),
        ("depth", "1"),
        ("depth", True),
        ("depth", 1.0),
        ("task_id", 1),
        ("causation_id", ["x"]),
        ("trace_id", {}),
        ("idempotency_key", 7),
        ("ttl_seconds", -5),
        ("ttl_seconds", "60"),
        ("ttl_seconds", False),
        ("envelope_id", 7),
        ("created_at", 1.5),
        ("sequence", -1),
        ("sequence", "3"),
        ("sequence", None),
    ],
)
def test_check_shape_names_the_bad_field(field: str, value: Any) -> None:
    with pytest.raises(ProtocolError, match=f"envelope.{field}") as info:
        Envelope.from_dict({**VALID, field: value})
    assert info.value.code == "bad_envelope"
    # The same check runs on a constructed envelope.
    env = Envelope("s", "a", None, EV_TEXT)
    setattr(env, field, value)
    with pytest.raises(ProtocolError, match=f"envelope.{field}"):
        env.check_shape()


@pytest.mark.parametrize("missing", ["session_id", "event_type"])
def test_missing_required_field(missing: str) -> None:
    data = dict(VALID)
    del data[missing]
    with pytest.raises(ProtocolError, match=missing) as info:
        Envelope.from_dict(data)
    assert info.value.code == "bad_envelope"


def test_unknown_fields_are_rejected_and_named() -> None:
    with pytest.raises(ProtocolError, match=r"\['id', 'zz'\]") as info:
        Envelope.from_dict({**VALID, "zz": 1, "id": "x"})
    assert info.value.code == "bad_envelope"


@pytest.mark.parametrize("payload", [[], "s", 1, None])
def test_non_object_rejected(payload: Any) -> None:
    with pytest.raises(ProtocolError, match="JSON object") as info:
        Envelope.from_dict(payload)
    assert info.value.code == "bad_envelope"


@pytest.mark.parametrize("text", ["{", "", "nul", b"\xff"])
def test_bad_json_rejected(text: str | bytes) -> None:
    with pytest.raises(ProtocolError, match="not valid JSON") as info:
        Envelope.from_json(text)
    assert info.value.code == "bad_envelope"


def test_priority_aliases() -> None:
    assert Priority.LOW is Priority.BACKGROUND
    assert Priority.HIGH is Priority.URGENT
    assert [p.value for p in Priority] == ["background", "normal", "urgent"]
    Envelope("s", "a", None, EV_TEXT, priority=Priority.HIGH.value).check_shape()


@pytest.mark.parametrize(
    ("sender", "audience", "pid", "visible"),
    [
        ("alice", None, "bob", True),
        ("alice", None, "alice", True),
        ("alice", [], "bob", False),
        ("alice", [], "alice", True),
        ("alice", ["carol"], "bob", False),
        ("alice", ["carol"], "carol", True),
        ("alice", ["bob", "carol"], "bob", True),
    ],
)
def test_visible_to(sender: str, audience: list[str] | None, pid: str, visible: bool) -> None:
    assert visible_to(Envelope("s", sender, audience, EV_TEXT), pid) is visible


@pytest.mark.parametrize(
    ("event_type", "protocol"),
    [
        (EV_SESSION_INVITE, True),
        (EV_TASK_FAILED, True),
        (EV_EXPECTATION_VIOLATED, True),  # the session-docs string (§28 #14)
        (EV_TEXT, False),
        ("ag2.sessions", False),
        ("app.ag2.session.x", False),
    ],
)
def test_is_protocol_event(event_type: str, protocol: bool) -> None:
    assert is_protocol_event(event_type) is protocol


def test_json_size_ok() -> None:
    assert json_size_ok({"a": 1}, 100) == len(b'{"a":1}')
    with pytest.raises(ProtocolError, match="over the 3-byte limit") as info:
        json_size_ok({"a": 1}, 3)
    assert info.value.code == "payload_too_large"
    with pytest.raises(ProtocolError, match="not JSON-serialisable") as info:
        json_size_ok({"a": object()}, 100)
    assert info.value.code == "bad_envelope"


# --- frames ----------------------------------------------------------------------------

ENV = Envelope("s1", "alice", ["bob"], EV_TEXT, {"text": "hi"}, envelope_id="e1", sequence=4)

EVERY_FRAME: list[Frame] = [
    HelloFrame(
        name="alice", auth_scheme="api_key", auth_claim={"token": "t"}, since_envelope_id="e0"
    ),
    WelcomeFrame(endpoint_id="ep1", hub_time="2026-01-01T00:00:00+00:00"),
    PingFrame(),
    PongFrame(),
    SendFrame(envelope=ENV),
    AcceptFrame(envelope_id="e1", sequence=4),
    ErrorFrame(code="inbox_full", message="full", envelope_id="e1"),
    NotifyFrame(envelope=ENV, recipient_id="bob"),
    ReceiptFrame(
        envelope_id="e1",
        status="nack",
        reason="busy",
        recipient_id="bob",
        session_id="s1",
        sequence=4,
    ),
    SubscribeFrame(
        subscription_id="sub",
        session_id="s1",
        task_id="t",
        event_types=[EV_TEXT],
        since_envelope_id="e0",
    ),
    UnsubscribeFrame(subscription_id="sub"),
    EventFrame(subscription_id="sub", envelope=ENV),
    RequestFrame(request_id="r1", op="peers", params={"find": "x"}),
    ResponseFrame(
        request_id="r1", ok=False, result={"a": [1]}, error_code="not_found", error_message="no"
    ),
]


def test_every_frame_kind_is_covered() -> None:
    kinds = [f.kind for f in EVERY_FRAME]
    assert len(set(kinds)) == len(kinds) == 14
    assert set(kinds) == {
        "hello", "welcome", "ping", "pong", "send", "accept", "error", "notify",
        "receipt", "subscribe", "unsubscribe", "event", "request", "response",
    }  # fmt: skip


@pytest.mark.parametrize("frame", EVERY_FRAME, ids=lambda f: f.kind)
def test_frame_round_trip(frame: Frame) -> None:
    data = encode_frame(frame)
    assert data["kind"] == frame.kind
    # JSON-ready: survives an actual wire trip.
    wire = orjson.loads(orjson.dumps(data))
    back = decode_frame(wire)
    assert type(back) is type(frame)
    assert back == frame
    assert decode_frame(data) == frame


def test_nested_envelope_is_flattened_and_rebuilt() -> None:
    data = encode_frame(NotifyFrame(envelope=ENV, recipient_id="bob"))
    assert data == {
        "kind": "notify",
        "envelope": ENV.to_dict(),
        "recipient_id": "bob",
        "probe": None,
    }
    frame = decode_frame(data)
    assert isinstance(frame, NotifyFrame)
    assert isinstance(frame.envelope, Envelope)
    assert frame.envelope == ENV


def test_defaults_decode_from_kind_alone() -> None:
    assert decode_frame({"kind": "hello"}) == HelloFrame()
    assert decode_frame({"kind": "send"}) == SendFrame(envelope=None)


@settings(max_examples=100, deadline=None)
@given(env=envelopes, rid=st.text(max_size=8))
def test_frames_with_arbitrary_envelopes_round_trip(env: Envelope, rid: str) -> None:
    for frame in (
        SendFrame(envelope=env),
        NotifyFrame(envelope=env, recipient_id=rid),
        EventFrame(rid, env),
    ):
        assert decode_frame(orjson.loads(orjson.dumps(encode_frame(frame)))) == frame


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ([], "JSON object"),
        ("hello", "JSON object"),
        ({}, "unknown frame kind None"),
        ({"kind": "shout"}, "unknown frame kind 'shout'"),
        ({"kind": 5}, "unknown frame kind 5"),
        ({"kind": "ping", "x": 1}, r"unknown field\(s\): \['x'\]"),
        ({"kind": "hello", "name": "a", "password": "p"}, "password"),
    ],
)
def test_bad_frames(data: Any, match: str) -> None:
    with pytest.raises(ProtocolError, match=match) as info:
        decode_frame(data)
    assert info.value.code == "bad_frame"


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "hello", "name": 5},
        {"kind": "hello", "auth_claim": "token"},
        {"kind": "accept", "envelope_id": "e", "sequence": "4"},
        {"kind": "accept", "envelope_id": None},
        {"kind": "receipt", "envelope_id": "e", "status": 1},
        {"kind": "subscribe", "subscription_id": "s", "event_types": "ag2.msg.text"},
        {"kind": "subscribe", "subscription_id": "s", "event_types": [1]},
        {"kind": "response", "request_id": "r", "ok": "yes"},
        {"kind": "request", "request_id": "r", "op": "x", "params": []},
        {"kind": "error", "code": None, "message": "m"},
    ],
)
def test_badly_typed_frame_fields_are_bad_frames(data: dict[str, Any]) -> None:
    """A wire peer must not be able to plant a non-string name or id in the hub."""
    with pytest.raises(ProtocolError) as info:
        decode_frame(data)
    assert info.value.code == "bad_frame"


@pytest.mark.parametrize(
    "envelope", ["x", [], {"session_id": "s"}, {"session_id": "s", "event_type": "t", "bogus": 1}]
)
def test_bad_nested_envelope_is_a_protocol_error(envelope: Any) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_frame({"kind": "send", "envelope": envelope})
    assert info.value.code in {"bad_frame", "bad_envelope"}


# --- errors ----------------------------------------------------------------------------

TREE = [
    (NotFoundError, "not_found"),
    (AccessDeniedError, "access_denied"),
    (AuthError, "auth_failed"),
    (ProtocolError, "protocol_error"),
    (InboxFull, "inbox_full"),
    (WorkflowGraphError, "bad_graph"),
]


@pytest.mark.parametrize(("cls", "code"), TREE)
def test_error_tree_codes(cls: type[NetworkError], code: str) -> None:
    assert issubclass(cls, NetworkError)
    err = cls("boom")
    assert (err.code, err.message, str(err)) == (code, "boom", "boom")
    assert cls("boom", code="special").code == "special"
    rebuilt = error_from_code(code, "remote said")
    assert type(rebuilt) is cls
    assert (rebuilt.code, rebuilt.message) == (code, "remote said")


def test_base_error_code() -> None:
    assert NetworkError().code == "error"
    assert NetworkError().message == ""


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("payload_too_large", ProtocolError),
        ("bad_frame", ProtocolError),
        ("bad_envelope", ProtocolError),
        ("error", NetworkError),
        ("something_new", NetworkError),
    ],
)
def test_error_from_code_specialisations(code: str, cls: type[NetworkError]) -> None:
    err = error_from_code(code, "m")
    assert type(err) is cls
    assert err.code == code


@pytest.mark.parametrize("frame", EVERY_FRAME, ids=lambda f: f.kind)
def test_every_frame_decodes_its_defaults(frame: Frame) -> None:
    """Every field annotation is one the decoder can check (a new frame must not crash it)."""
    default = type(frame)()
    assert decode_frame(encode_frame(default)) == default


def test_stamped_is_replace_with_the_hubs_stamp() -> None:
    """``Envelope.stamped`` copies every field (a field added later must be added there)."""
    import dataclasses

    from hubbub.network import Envelope

    values: dict[str, object] = {}
    for number, f in enumerate(dataclasses.fields(Envelope)):
        values[f.name] = {"k": number} if f.name == "event_data" else f"v{number}"
    values["audience"] = ["a", "b"]
    env = Envelope(**values)  # type: ignore[arg-type]
    got = env.stamped("E1", 7, "T1")
    assert got == dataclasses.replace(env, envelope_id="E1", sequence=7, created_at="T1")
    assert got is not env and env.envelope_id != "E1"
