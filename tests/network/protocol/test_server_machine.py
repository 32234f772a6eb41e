"""The hub's protocol machine, with no event loop: frames in → operations and frames out."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hubbub.network.envelope import EV_TEXT, Envelope
from hubbub.network.errors import InvalidValueError, StoreUnavailableError, UnauthenticatedError
from hubbub.network.identity import Passport, Resume
from hubbub.network.protocol.frames import (
    AcceptFrame,
    ErrorFrame,
    EventFrame,
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
    SubscribeFrame,
    UnsubscribeFrame,
    WelcomeFrame,
)
from hubbub.network.protocol.ops import OPS, Registered, encode_result
from hubbub.network.protocol.server import (
    Authenticate,
    Call,
    Close,
    Post,
    Receipt,
    ServerProtocol,
)
from hubbub.network.rule import Rule


def registered(agent_id: str, name: str = "alice") -> Registered:
    return Registered(Passport(name=name, agent_id=agent_id), Resume(), Rule(), False)


def open_protocol(*agent_ids: str) -> ServerProtocol:
    """A protocol past its welcome, with ``agent_ids`` registered through it."""
    p = ServerProtocol("ep-1", {"max_frame_bytes": 100})
    assert p.receive(HelloFrame("client", "bearer", {"token": "t"})) == [
        Authenticate("bearer", {"token": "t"}, "client")
    ]
    p.authenticated("owner-a", "2026-01-01T00:00:00+00:00")
    for n, agent_id in enumerate(agent_ids):
        [call] = p.receive(
            RequestFrame(f"reg-{n}", "register", {"passport": Passport(name=f"a{n}").to_dict()})
        )
        assert isinstance(call, Call)
        p.complete(call, registered(agent_id, f"a{n}"))
    p.data_to_send()
    return p


def text(sender: str, session: str = "s1", **kw: Any) -> Envelope:
    return Envelope(session, sender, None, EV_TEXT, {"text": "hi"}, **kw)


# ---------------------------------------------------------------- the hello


@pytest.mark.parametrize(
    "first",
    [
        RequestFrame("r1", "get_agent", {"name_or_id": "bob"}),
        SendFrame(text("alice"), "r1"),
        PingFrame(),
        ReceiptFrame("e1", "ack", "", "alice", "s1", 1),
        GoodbyeFrame(),
        WelcomeFrame("ep"),
    ],
    ids=lambda f: f.kind,
)
def test_anything_before_the_hello_is_hello_required_and_closes(first: Frame) -> None:
    p = ServerProtocol("ep-1")
    ops = p.receive(first)
    assert ops == [Close("hello_required", "the connection did not start with a hello")]
    [frame] = p.data_to_send()
    assert isinstance(frame, ErrorFrame)
    assert frame.code == "hello_required"
    assert p.state == "closed"
    # Nothing more is taken, not even a hello.
    assert p.receive(HelloFrame("late")) == []
    assert p.data_to_send() == []


def test_an_undecodable_message_before_the_hello_closes() -> None:
    from hubbub.network.errors import ProtocolError

    p = ServerProtocol("ep-1")
    ops = p.receive_invalid(ProtocolError("not JSON", code="bad_frame"))
    assert [type(op) for op in ops] == [Close]
    assert [(f.kind, f.code) for f in p.data_to_send()] == [("error", "bad_frame")]  # type: ignore[attr-defined]
    assert p.state == "closed"


def test_hello_asks_to_authenticate_then_welcome() -> None:
    p = ServerProtocol("ep-1", {"max_frame_bytes": 100})
    ops = p.receive(HelloFrame("cli", "hmac", {"token": "x.y"}))
    assert ops == [Authenticate("hmac", {"token": "x.y"}, "cli")]
    assert p.data_to_send() == []  # nothing until the driver answers
    assert p.state == "hello"
    p.authenticated("owner-a", "T0")
    assert p.data_to_send() == [WelcomeFrame("ep-1", "T0", "owner-a", {"max_frame_bytes": 100})]
    assert p.state == "open"
    assert p.principal == "owner-a"


def test_the_claim_is_copied_out_of_the_frame() -> None:
    claim = {"token": "t"}
    p = ServerProtocol("ep-1")
    [op] = p.receive(HelloFrame("c", "bearer", claim))
    assert isinstance(op, Authenticate)
    claim["token"] = "changed"
    assert op.claim == {"token": "t"}


def test_a_refused_hello_is_an_error_and_a_close() -> None:
    p = ServerProtocol("ep-1")
    p.receive(HelloFrame("c", "bearer", {"token": "bad"}))
    ops = p.refuse(UnauthenticatedError("bearer auth: the token is not accepted"))
    assert ops == [Close("unauthenticated", "bearer auth: the token is not accepted")]
    [frame] = p.data_to_send()
    assert isinstance(frame, ErrorFrame)
    assert (frame.code, frame.request_id) == ("unauthenticated", "")
    assert p.state == "closed"
    assert p.receive(RequestFrame("r1", "get_agent", {"name_or_id": "x"})) == []
    assert p.data_to_send() == []


def test_a_second_hello_is_not_a_frame_a_client_may_send_now() -> None:
    p = open_protocol()
    assert p.receive(HelloFrame("again")) == []
    [frame] = p.data_to_send()
    assert isinstance(frame, ErrorFrame)
    assert frame.code == "bad_frame"
    assert p.state == "open"


@pytest.mark.parametrize(
    "frame",
    [
        WelcomeFrame("x"),
        AcceptFrame("e", 1, "r"),
        ErrorFrame("x"),
        NotifyFrame(text("a"), "a"),
        ResponseFrame("r"),
        EventFrame("s", text("a")),
    ],
    ids=lambda f: f.kind,
)
def test_frames_a_client_does_not_send_are_refused_and_the_connection_stays(frame: Frame) -> None:
    p = open_protocol("A")
    assert p.receive(frame) == []
    [out] = p.data_to_send()
    assert isinstance(out, ErrorFrame)
    assert out.code == "bad_frame"
    assert p.state == "open"
    assert p.counters.refused == 1


# ---------------------------------------------------------------- requests


def test_a_request_becomes_a_call_with_decoded_params_and_defaults() -> None:
    p = open_protocol("A")
    [op] = p.receive(RequestFrame("r7", "list_sessions", {"caller_id": "A"}))
    assert op == Call(
        "r7", "list_sessions", {"caller_id": "A", "include_terminal": False, "limit": 50}
    )
    assert p.data_to_send() == []


def test_records_in_params_are_rebuilt() -> None:
    p = open_protocol("A")
    [op] = p.receive(
        RequestFrame("r1", "set_resume", {"agent_id": "A", "resume": Resume().to_dict()})
    )
    assert isinstance(op, Call)
    assert isinstance(op.params["resume"], Resume)


def test_an_unknown_op_is_answered_unknown_op() -> None:
    p = open_protocol("A")
    assert p.receive(RequestFrame("r1", "drop_tables", {})) == []
    [frame] = p.data_to_send()
    assert isinstance(frame, ResponseFrame)
    assert (frame.request_id, frame.ok, frame.error_code) == ("r1", False, "unknown_op")
    assert "drop_tables" in (frame.error_message or "")


CREATE = {"creator_id": "A", "manifest_type": "conversation", "participants": ["A"]}


@pytest.mark.parametrize(
    ("op", "params", "named"),
    [
        ("get_agent", {}, "name_or_id"),  # missing
        ("get_agent", {"name_or_id": "bob", "shout": True}, "shout"),  # unknown
        ("get_agent", {"name_or_id": 5}, "name_or_id"),  # mistyped
        ("list_agents", {"limit": "10"}, "limit"),
        ("list_agents", {"limit": True}, "limit"),  # a bool is not an int
        ("list_sessions", {"caller_id": "A", "include_terminal": 1}, "include_terminal"),
        ("create_session", {**CREATE, "participants": ["A", 3]}, "participants"),
        ("create_session", {**CREATE, "wait_online": -1}, "wait_online"),
        ("create_session", {**CREATE, "knobs": [1]}, "knobs"),
        ("register", {"passport": "alice"}, "passport"),
        ("register", {"passport": Passport(name="a").to_dict(), "cursors": {"s": -1}}, "cursors"),
        ("read_wal", {"session_id": "s", "caller_id": "A", "since": 1.5}, "since"),
        ("observe_task", {"metadata": {"task_id": "t", "owner_id": "A"}}, "task.spec"),
        ("observe_task", {"metadata": "t1"}, "metadata"),
        ("update_task", {"task_id": "t", "result": float("nan")}, "update_task.result"),
        ("update_task", {"task_id": "t", "progress": [1]}, "progress"),
        ("list_tasks", {"limit": "5"}, "limit"),
        ("record_observation", {"agent_id": "A", "capability": "c"}, "outcome"),
        ("save_checkpoint", {"agent_id": "A", "key": "k", "data": None}, "data"),
    ],
)
def test_bad_params_are_invalid_value_naming_the_param(
    op: str, params: dict[str, Any], named: str
) -> None:
    p = open_protocol("A")
    assert p.receive(RequestFrame("r1", op, params)) == []
    [frame] = p.data_to_send()
    assert isinstance(frame, ResponseFrame)
    assert (frame.request_id, frame.ok, frame.error_code) == ("r1", False, "invalid_value")
    assert named in (frame.error_message or "")


def test_params_that_are_not_an_object_are_invalid_value() -> None:
    p = open_protocol("A")
    bad = RequestFrame("r1", "get_agent", {})
    bad.params = ["name_or_id"]  # type: ignore[assignment]  # as an in-process peer could
    assert p.receive(bad) == []
    [frame] = p.data_to_send()
    assert isinstance(frame, ResponseFrame)
    assert frame.error_code == "invalid_value"


OWN_PARAM_REQUESTS = [
    ("unregister", {"agent_id": "B"}),
    ("set_resume", {"agent_id": "B", "resume": Resume().to_dict()}),
    ("set_skill", {"agent_id": "B", "skill_md": None}),
    ("set_rule", {"agent_id": "B", "rule": Rule().to_dict()}),
    ("create_session", {"creator_id": "B", "manifest_type": "conversation", "participants": ["A"]}),
    ("close_session", {"session_id": "s1", "caller_id": "B"}),
    ("get_session", {"session_id": "s1", "caller_id": "B"}),
    ("list_sessions", {"caller_id": "B"}),
    ("read_wal", {"session_id": "s1", "caller_id": "B"}),
    ("can_send", {"session_id": "s1", "sender_id": "B"}),
    ("adapter_state", {"session_id": "s1", "caller_id": "B"}),
    ("turn_probe", {"session_id": "s1", "caller_id": "B"}),
    ("usage", {"agent_id": "B", "session_id": None}),
    (
        "report_turn_failure",
        {"session_id": "s1", "agent_id": "B", "envelope_id": "e", "error_type": "X"},
    ),
    ("record_observation", {"agent_id": "B", "capability": "c", "outcome": "completed"}),
    ("save_checkpoint", {"agent_id": "B", "key": "k", "data": {}}),
    ("load_checkpoint", {"agent_id": "B", "key": "k"}),
    ("delete_checkpoint", {"agent_id": "B", "key": "k"}),
]


def test_every_op_with_an_agent_param_is_covered() -> None:
    from hubbub.network.protocol.ops import own_params

    assert {op for op in OPS if own_params(op)} == {op for op, _ in OWN_PARAM_REQUESTS}


@pytest.mark.parametrize(("op", "params"), OWN_PARAM_REQUESTS, ids=lambda v: str(v)[:20])
def test_acting_as_an_agent_of_another_connection_is_access_denied(
    op: str, params: dict[str, Any]
) -> None:
    p = open_protocol("A")
    assert p.receive(RequestFrame("r9", op, params)) == []
    [frame] = p.data_to_send()
    assert isinstance(frame, ResponseFrame)
    assert (frame.request_id, frame.ok, frame.error_code) == ("r9", False, "access_denied")
    assert "'B'" in (frame.error_message or "")
    # The same request as its own agent goes through.
    own = {k: ("A" if v == "B" else v) for k, v in params.items()}
    [call] = p.receive(RequestFrame("r10", op, own))
    assert isinstance(call, Call)


def test_register_completes_into_the_identity_and_unregister_takes_it_out() -> None:
    p = open_protocol()
    [call] = p.receive(RequestFrame("r1", "register", {"passport": Passport(name="a").to_dict()}))
    assert isinstance(call, Call)
    assert p.agent_ids == set()  # not before the hub answered
    result = registered("A", "a")
    p.complete(call, result)
    assert p.agent_ids == {"A"}
    assert p.data_to_send() == [ResponseFrame("r1", True, encode_result("register", result))]
    [unreg] = p.receive(RequestFrame("r2", "unregister", {"agent_id": "A"}))
    assert isinstance(unreg, Call)
    p.complete(unreg, None)
    assert p.agent_ids == set()
    assert p.data_to_send() == [ResponseFrame("r2", True, None)]
    p.receive(SendFrame(text("A"), "r3"))
    [frame] = p.data_to_send()
    assert isinstance(frame, ErrorFrame)
    assert frame.code == "access_denied"


def test_a_failed_register_claims_nothing() -> None:
    p = open_protocol()
    [call] = p.receive(RequestFrame("r1", "register", {"passport": Passport(name="a").to_dict()}))
    assert isinstance(call, Call)
    p.fail(call, StoreUnavailableError("disk full"))
    assert p.agent_ids == set()
    [frame] = p.data_to_send()
    assert frame == ResponseFrame("r1", False, None, "store_unavailable", "disk full")


def test_complete_and_fail_answer_with_the_request_id() -> None:
    p = open_protocol("A")
    [a] = p.receive(RequestFrame("first", "get_agent", {"name_or_id": "bob"}))
    [b] = p.receive(RequestFrame("second", "get_agent", {"name_or_id": "carol"}))
    assert isinstance(a, Call) and isinstance(b, Call)
    # Answered out of order: each answer names its own request.
    p.fail(b, InvalidValueError("no carol"))
    p.complete(a, Passport(name="bob", agent_id="B"))
    fail, ok = p.data_to_send()
    assert fail == ResponseFrame("second", False, None, "invalid_value", "no carol")
    assert isinstance(ok, ResponseFrame)
    assert (ok.request_id, ok.ok) == ("first", True)
    assert ok.result == Passport(name="bob", agent_id="B").to_dict()


# ---------------------------------------------------------------- sends


def test_a_send_from_an_own_agent_is_a_post() -> None:
    p = open_protocol("A")
    env = text("A")
    assert p.receive(SendFrame(env, "r1")) == [Post("r1", env)]
    assert p.data_to_send() == []


@pytest.mark.parametrize("sender", ["B", "", None, 5, ["A"]], ids=repr)
def test_a_send_as_someone_else_is_an_error_with_the_request_id_and_no_post(sender: Any) -> None:
    p = open_protocol("A")
    env = text("A")
    env.sender_id = sender
    assert p.receive(SendFrame(env, "r1")) == []
    [frame] = p.data_to_send()
    assert isinstance(frame, ErrorFrame)
    assert (frame.code, frame.request_id) == ("access_denied", "r1")
    assert p.state == "open"


def test_a_send_without_an_envelope_is_a_bad_frame() -> None:
    p = open_protocol("A")
    assert p.receive(SendFrame(None, "r1")) == []
    [frame] = p.data_to_send()
    assert isinstance(frame, ErrorFrame)
    assert (frame.code, frame.request_id) == ("bad_frame", "r1")


def test_a_post_completes_into_an_accept_and_fails_into_an_error() -> None:
    p = open_protocol("A")
    [ok] = p.receive(SendFrame(text("A"), "r1"))
    [bad] = p.receive(SendFrame(text("A"), "r2"))
    assert isinstance(ok, Post) and isinstance(bad, Post)
    stamped = text("A", envelope_id="E1", sequence=4, created_at="T1")
    p.complete(ok, stamped)
    from hubbub.network.errors import ProtocolError

    p.fail(bad, ProtocolError("not now", code="not_your_turn"))
    assert p.data_to_send() == [
        AcceptFrame("E1", 4, "r1", "T1"),
        ErrorFrame("not_your_turn", "not now", None, "r2"),
    ]


def test_answers_after_the_close_are_dropped() -> None:
    p = open_protocol("A")
    [op] = p.receive(SendFrame(text("A"), "r1"))
    assert isinstance(op, Post)
    assert p.goodbye("hub_shutdown", "bye") == [Close("hub_shutdown", "bye")]
    assert p.data_to_send() == [GoodbyeFrame("hub_shutdown", "bye")]
    p.complete(op, text("A", envelope_id="E1", sequence=1))
    assert p.data_to_send() == []
    assert p.goodbye("hub_shutdown", "again") == []


# ---------------------------------------------------------------- receipts, ping, goodbye


def test_receipts_only_for_own_agents() -> None:
    p = open_protocol("A")
    assert p.receive(ReceiptFrame("e1", "ack", "", "A", "s1", 3)) == [Receipt("A", "e1", "s1", 3)]
    assert p.receive(ReceiptFrame("e1", "ack", "", "B", "s1", 3)) == []
    assert p.data_to_send() == []


def test_ping_is_answered_with_pong() -> None:
    p = open_protocol()
    assert p.receive(PingFrame()) == []
    assert p.receive(PongFrame()) == []
    assert p.data_to_send() == [PongFrame()]


def test_a_client_goodbye_closes() -> None:
    p = open_protocol("A")
    assert p.receive(GoodbyeFrame("closing", "done")) == [Close("closing", "done")]
    assert p.state == "closed"
    assert p.receive(SendFrame(text("A"), "r1")) == []
    assert p.notify("A", text("B", sequence=1)) is False
    assert p.data_to_send() == []


# ---------------------------------------------------------------- notify and cursors


def test_notify_only_for_own_agents() -> None:
    p = open_protocol("A")
    env = text("B", envelope_id="E1", sequence=1)
    assert p.notify("B", env) is False
    assert p.data_to_send() == []
    assert p.notify("A", env) is True
    assert p.data_to_send() == [NotifyFrame(env, "A")]


def test_notify_before_the_welcome_sends_nothing() -> None:
    p = ServerProtocol("ep-1")
    assert p.notify("A", text("B", sequence=1)) is False
    assert p.data_to_send() == []


def test_notify_drops_what_is_at_or_below_the_cursor() -> None:
    p = open_protocol("A")
    for seq in (1, 2, 2, 1, 3):
        assert p.notify("A", text("B", envelope_id=f"E{seq}", sequence=seq)) is True
    assert [f.envelope.sequence for f in p.data_to_send()] == [1, 2, 3]  # type: ignore[attr-defined]
    # Cursors are per (agent, session): another session starts at zero.
    assert p.notify("A", text("B", "s2", envelope_id="F1", sequence=1))
    assert len(p.data_to_send()) == 1
    assert p.cursors == {("A", "s1"): 3, ("A", "s2"): 1}


def test_hold_resend_release_sends_each_missed_envelope_once_in_order() -> None:
    p = open_protocol("A")
    p.hold("A", {"s1": 2})
    live = text("B", envelope_id="E5", sequence=5)
    assert p.notify("A", live)  # held while the WAL is read back
    assert p.data_to_send() == []
    for seq in (2, 3, 4, 5):  # the WAL after the cursor (2 is at it: skipped)
        p.resend("A", text("B", envelope_id=f"E{seq}", sequence=seq))
    p.release("A")
    assert [f.envelope.sequence for f in p.data_to_send()] == [3, 4, 5]  # type: ignore[attr-defined]


def test_data_to_send_empties_and_counts() -> None:
    p = open_protocol("A")
    p.receive(PingFrame())
    p.receive(PingFrame())
    assert len(p.data_to_send()) == 2
    assert p.data_to_send() == []
    assert p.counters.frames_in >= 2


# ---------------------------------------------------------------- property

_text = st.text(max_size=6)
_junk: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=True),
    st.text(max_size=4),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
# Agent ids a connection might register, and others it does not.
_ids = st.sampled_from(["A", "B", "C", "", "a"])
_maybe = lambda good: st.one_of(good, _junk)  # noqa: E731 - strategies read better inline


def _envelopes() -> st.SearchStrategy[Any]:
    env = st.builds(
        Envelope,
        session_id=_maybe(st.sampled_from(["s1", "s2"])),
        sender_id=_maybe(_ids),
        audience=_maybe(st.none() | st.lists(_ids, max_size=2)),
        event_type=_maybe(st.just(EV_TEXT)),
        event_data=_maybe(st.just({"text": "x"})),
        sequence=_maybe(st.integers(0, 4)),
    )
    return st.one_of(env, _junk)


def _params() -> st.SearchStrategy[Any]:
    values = st.one_of(_ids, _junk, st.just(Passport(name="n").to_dict()))
    keys = st.sampled_from(
        [
            "passport",
            "agent_id",
            "name_or_id",
            "caller_id",
            "session_id",
            "creator_id",
            "manifest_type",
            "participants",
            "sender_id",
            "limit",
            "cursors",
            "x",
        ]
    )
    return st.one_of(st.dictionaries(keys, values, max_size=4), _junk)


def _frames() -> st.SearchStrategy[Frame]:
    """Frames of every kind with fields of any type (as an in-process peer may hand over)."""
    claims = st.one_of(st.dictionaries(_text, _junk, max_size=2), _junk)
    return st.one_of(
        st.builds(HelloFrame, name=_maybe(_text), auth_scheme=_maybe(_text), auth_claim=claims),
        st.builds(
            RequestFrame,
            request_id=_maybe(_text),
            op=_maybe(st.sampled_from([*OPS, "nope"])),
            params=_params(),
        ),
        st.builds(SendFrame, envelope=_envelopes(), request_id=_maybe(_text)),
        st.builds(
            ReceiptFrame,
            envelope_id=_maybe(_text),
            recipient_id=_maybe(_ids),
            session_id=_maybe(_text),
            sequence=_maybe(st.integers(0, 4)),
        ),
        st.builds(GoodbyeFrame, code=_maybe(_text), reason=_maybe(_text)),
        st.builds(PingFrame),
        st.builds(PongFrame),
        st.builds(WelcomeFrame, endpoint_id=_maybe(_text)),
        st.builds(AcceptFrame, envelope_id=_maybe(_text), sequence=_maybe(st.integers())),
        st.builds(ErrorFrame, code=_maybe(_text), request_id=_maybe(_text)),
        st.builds(NotifyFrame, envelope=_envelopes(), recipient_id=_maybe(_ids)),
        st.builds(ResponseFrame, request_id=_maybe(_text), ok=_maybe(st.booleans())),
        st.builds(SubscribeFrame, subscription_id=_maybe(_text)),
        st.builds(UnsubscribeFrame, subscription_id=_maybe(_text)),
        st.builds(EventFrame, envelope=_envelopes()),
    )


def _drive(frames: list[Frame], welcome: bool, answers: list[str]) -> None:
    """Feed ``frames`` to a fresh machine, answering its ops as a hub would; check that
    it never raises and that the only Posts it yields are for senders registered
    through it (at that moment)."""
    p = ServerProtocol("ep-1")
    own: set[str] = set()
    replies = iter(answers)
    for frame in frames:
        ops = p.receive(frame)
        for op in ops:
            if isinstance(op, Authenticate):
                if welcome:
                    p.authenticated("owner", "T")
                else:
                    p.refuse(UnauthenticatedError("no"))
            elif isinstance(op, Post):
                event("post")
                assert type(op.envelope.sender_id) is str
                assert op.envelope.sender_id in own, op
                p.complete(op, op.envelope)
            elif isinstance(op, Call):
                reply = next(replies, "ok")
                if reply == "fail":
                    p.fail(op, InvalidValueError("refused"))
                elif op.name == "register":
                    agent_id = op.params["passport"].name  # the fake hub's id: the name
                    p.complete(op, registered(agent_id, agent_id))
                    own.add(agent_id)
                elif op.name == "unregister":
                    p.complete(op, None)
                    own.discard(op.params["agent_id"])
                else:
                    p.fail(op, InvalidValueError("not run here"))
            elif isinstance(op, Receipt):
                assert op.recipient_id in own
        assert p.agent_ids == own
        for out in p.data_to_send():
            assert isinstance(out, Frame)
            assert not isinstance(out, NotifyFrame)  # nothing was notified


def _register(name: str) -> RequestFrame:
    return RequestFrame(f"reg-{name}", "register", {"passport": Passport(name=name).to_dict()})


def _send(sender: str) -> SendFrame:
    return SendFrame(Envelope("s1", sender, None, EV_TEXT, {"text": "x"}), f"send-{sender}")


_letters = st.sampled_from(["A", "B", "C"])
# Frames that do something: registering (the fake hub gives the agent its name as id),
# sending as an agent, unregistering — alone, or a register followed by a send.
_useful: st.SearchStrategy[list[Frame]] = st.one_of(
    _letters.map(lambda n: [_register(n)]),
    _letters.map(lambda n: [_send(n)]),
    _letters.map(lambda n: [_register(n), _send(n)]),
    _ids.map(lambda n: [RequestFrame("unreg", "unregister", {"agent_id": n})]),
)


def _sequences() -> st.SearchStrategy[list[Frame]]:
    hello = st.sampled_from([[HelloFrame()], [HelloFrame()], []])  # mostly a hello first
    anything = _frames().map(lambda f: [f])
    # Half useful blocks, half any frame (one_of alone would weigh each frame kind the same).
    block = st.booleans().flatmap(lambda u: _useful if u else anything)
    return st.builds(
        lambda h, bs: h + [f for b in bs for f in b], hello, st.lists(block, max_size=20)
    )


_answers = st.lists(st.sampled_from(["ok", "ok", "fail"]), max_size=25)
_welcome = st.sampled_from([True, True, False])  # mostly welcomed


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=_sequences(), welcome=_welcome, answers=_answers)
def test_any_frames_never_raise_and_never_post_for_a_stranger(
    frames: list[Frame], welcome: bool, answers: list[str]
) -> None:
    _drive(frames, welcome, answers)


@pytest.mark.parametrize("claim", [None, 5, "ab", [1]], ids=repr)
def test_a_hello_whose_claim_is_not_an_object_is_refused_not_raised(claim: Any) -> None:
    p = ServerProtocol("ep-1")
    ops = p.receive(HelloFrame("c", "bearer", claim))
    # Either refused at once, or handed to the authenticator with an object claim.
    if ops and isinstance(ops[0], Authenticate):
        assert isinstance(ops[0].claim, dict)
    else:
        assert [type(op) for op in ops] == [Close]
        assert [type(f) for f in p.data_to_send()] == [ErrorFrame]


@pytest.mark.parametrize("envelope", [5, "ab", {"sender_id": "A"}], ids=repr)
def test_a_send_whose_envelope_is_not_an_envelope_is_a_bad_frame(envelope: Any) -> None:
    p = open_protocol("A")
    assert p.receive(SendFrame(envelope, "r1")) == []
    [frame] = p.data_to_send()
    assert isinstance(frame, ErrorFrame)
    assert (frame.code, frame.request_id) == ("bad_frame", "r1")
