"""Identity, rules, auth, the session model, the lifecycle table and the mock clock."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from hubbub.network.auth import ApiKeyAuth, AuthAdapter, AuthRegistry, NoAuth
from hubbub.network.clock import MockClock, iso_to_seconds, system_clock
from hubbub.network.envelope import (
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_INVITE_REJECT,
    EV_SESSION_OPENED,
    EV_TEXT,
    Envelope,
)
from hubbub.network.errors import AuthError, ProtocolError
from hubbub.network.identity import (
    AuthBlock,
    CostProfile,
    ObservedStat,
    Passport,
    Resume,
    ResumeExample,
)
from hubbub.network.lifecycle import (
    ALLOWED_TRANSITIONS,
    LIFECYCLE_EVENTS,
    apply_lifecycle_event,
    can_transition,
    check_transition,
    terminal_envelope,
)
from hubbub.network.rule import (
    AccessBlock,
    InboxBlock,
    LimitsBlock,
    RateBlock,
    Rule,
    SessionTypeAccess,
    parse_duration,
)
from hubbub.network.session import (
    NO_ENTRIES,
    NO_IDS,
    TERMINAL_SESSION_STATES,
    Expectation,
    Participant,
    ParticipantRole,
    ParticipantSchema,
    SessionManifest,
    SessionMetadata,
    SessionState,
    is_terminal_session_state,
    own_entries,
    own_ids,
)

S = SessionState

# --- Passport / Resume -----------------------------------------------------------------


@pytest.mark.parametrize("kind", [None, "agent", "human", "remote_agent"])
def test_passport_accepts_known_kinds(kind: str | None) -> None:
    p = Passport("alice", kind=kind)  # type: ignore[arg-type]
    assert p.effective_kind == (kind or "agent")


@pytest.mark.parametrize("kind", ["robot", "", "Agent", 1])
def test_passport_rejects_unknown_kind(kind: object) -> None:
    with pytest.raises(ValueError, match="kind"):
        Passport("alice", kind=kind)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["", None, 3])
def test_passport_needs_a_name(name: object) -> None:
    with pytest.raises(ValueError, match="name"):
        Passport(name)  # type: ignore[arg-type]


def test_passport_round_trip_with_nested_records() -> None:
    p = Passport(
        "alice",
        owner="acme",
        provider="anthropic",
        model="claude",
        cost=CostProfile(3.0, 15.0, "deep"),
        region="eu",
        auth=AuthBlock(
            "api_key", issuer="me", audience="hub", key_fingerprint="fp", claim={"token": "t"}
        ),
        kind="human",
        version=2,
        agent_id="a" * 32,
        created_at="2026-01-01T00:00:00+00:00",
    )
    d = p.to_dict()
    assert d["cost"] == {"input_per_mtok": 3.0, "output_per_mtok": 15.0, "latency_tier": "deep"}
    assert d["auth"]["claim"] == {"token": "t"}
    back = Passport.from_dict(d)
    assert back == p
    assert isinstance(back.cost, CostProfile)
    assert isinstance(back.auth, AuthBlock)


def test_passport_from_minimal_dict() -> None:
    p = Passport.from_dict({"name": "bob"})
    assert p == Passport("bob")
    assert p.auth == AuthBlock(scheme="none")
    assert p.cost is None
    assert p.kind is None
    with pytest.raises(ValueError, match="kind"):
        Passport.from_dict({"name": "bob", "kind": "cat"})


def test_passport_auth_default_not_shared() -> None:
    a, b = Passport("a"), Passport("b")
    a.auth.claim["token"] = "x"
    assert b.auth.claim == {}


def test_resume_round_trip() -> None:
    r = Resume(
        claimed_capabilities=["sql", "python"],
        domains=["finance"],
        summary="does numbers",
        examples=[ResumeExample("q1 report", "completed", "t1", "s1", "2026-01-01", "fine")],
        observed={"sql": ObservedStat(n=3, completed=2, failed=1, expired=0, p50_latency_ms=120)},
        version=4,
        last_updated="2026-01-02T00:00:00+00:00",
    )
    back = Resume.from_dict(r.to_dict())
    assert back == r
    assert isinstance(back.examples[0], ResumeExample)
    assert isinstance(back.observed["sql"], ObservedStat)
    assert r.capabilities() == {"sql", "python"}
    assert Resume(observed={"go": ObservedStat()}).capabilities() == {"go"}
    assert Resume.from_dict({}) == Resume()


# --- Rule / parse_duration -------------------------------------------------------------


def test_rule_defaults_are_permissive() -> None:
    r = Rule()
    assert r.access.inbound_from == ["*"]
    assert r.access.outbound_to == ["*"]
    assert r.access.session_types == SessionTypeAccess(["*"], ["*"])
    assert r.limits == LimitsBlock()
    assert (r.limits.max_concurrent_sessions, r.limits.delegation_depth) == (0, 5)
    assert r.limits.session_ttl_default == "2h"
    assert r.limits.inbox == InboxBlock(1000, "reject", None)
    assert (r.limits.rate.per_minute, r.limits.rate.burst) == (0, 0)


def test_rule_round_trip() -> None:
    r = Rule(
        version=3,
        access=AccessBlock(
            inbound_from=["team-*"],
            outbound_to=["bob", "carol"],
            session_types=SessionTypeAccess(initiate=["consulting"], accept=["*"]),
        ),
        limits=LimitsBlock(
            max_concurrent_sessions=4,
            max_concurrent_tasks=2,
            session_ttl_default="4h",
            task_ttl_default=900,
            rate=RateBlock(per_minute=60, burst=10),
            delegation_depth=2,
            inbox=InboxBlock(max_pending=100, overflow="drop_oldest", high_water=50),
        ),
    )
    d = r.to_dict()
    assert set(d) == {"version", "access", "limits"}
    assert d["limits"]["rate"] == {"per_minute": 60, "burst": 10}
    back = Rule.from_dict(d)
    assert back.to_dict() == d
    assert back.access.session_types.initiate == ["consulting"]
    assert back.limits.inbox.high_water == 50
    assert Rule.from_dict(None).to_dict() == Rule().to_dict()
    assert Rule.from_dict({}).to_dict() == Rule().to_dict()


def test_rule_doc_aliases() -> None:
    r = Rule(
        access=AccessBlock(
            outbound_to=["bob"], session_types_allowed=["consulting", "conversation"]
        ),
        limits=LimitsBlock(session_ttl_default="4h", delegation_depth=2),
        rate=RateBlock(envelopes_per_minute=60),
        inbox=InboxBlock(max_pending=100),
    )
    assert r.access.session_types.initiate == ["consulting", "conversation"]
    assert r.access.session_types.accept == ["consulting", "conversation"]
    assert r.access.session_types.initiate is not r.access.session_types.accept
    assert r.limits.rate.per_minute == 60
    assert r.limits.inbox.max_pending == 100
    assert r.limits.session_ttl_default == "4h"  # the explicit limits block is kept
    assert r.to_dict()["limits"]["rate"]["per_minute"] == 60
    assert RateBlock(per_minute=5).per_minute == 5


@pytest.mark.parametrize(
    ("max_pending", "high_water", "effective"),
    [(1000, None, 800), (100, None, 80), (0, None, 0), (100, 10, 10), (100, 0, 0)],
)
def test_inbox_high_water(max_pending: int, high_water: int | None, effective: int) -> None:
    assert (
        InboxBlock(max_pending=max_pending, high_water=high_water).effective_high_water()
        == effective
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("2h", 7200),
        ("1d", 86400),
        ("45", 45),
        (" 5 m ", 300),
        ("0", 0),
        ("", 0),
        (None, 0),
        (0, 0),
        (120, 120),
        (2.9, 2),
    ],
)
def test_parse_duration(value: str | int | float | None, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value", ["5w", "1.5h", "-5", "-5s", "h", "5 minutes", "S", "5S", -1, True]
)
def test_parse_duration_errors(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)  # type: ignore[arg-type]


# --- auth ------------------------------------------------------------------------------


async def test_noauth_accepts_everything() -> None:
    assert await NoAuth().validate(Passport("x"), {}) is None
    assert NoAuth.scheme == "none"
    assert isinstance(NoAuth(), AuthAdapter)


async def test_api_key_auth() -> None:
    auth = ApiKeyAuth({"alice": "s3cret"})
    assert auth.scheme == "api_key"
    assert isinstance(auth, AuthAdapter)
    await auth.validate(Passport("alice"), {"token": "s3cret"})
    with pytest.raises(AuthError, match="invalid token") as info:
        await auth.validate(Passport("alice"), {"token": "wrong"})
    assert info.value.code == "auth_failed"
    with pytest.raises(AuthError, match="invalid token"):
        await auth.validate(Passport("alice"), {"token": "s3cret-but-longer"})
    with pytest.raises(AuthError, match="invalid token"):  # no key issued to this name
        await auth.validate(Passport("mallory"), {"token": "s3cret"})
    for claim in ({}, {"token": ""}, {"token": None}, {"token": 123}):
        with pytest.raises(AuthError, match="no token"):
            await auth.validate(Passport("alice"), claim)


async def test_api_key_auth_resolver() -> None:
    calls: list[str] = []

    async def resolver(name: str) -> str | None:
        calls.append(name)
        return {"bob": "rotated"}.get(name)

    auth = ApiKeyAuth({"alice": "static"}, resolver=resolver)
    await auth.validate(Passport("alice"), {"token": "static"})
    assert calls == []  # static keys win without asking
    await auth.validate(Passport("bob"), {"token": "rotated"})
    with pytest.raises(AuthError):
        await auth.validate(Passport("carol"), {"token": "rotated"})
    assert calls == ["bob", "carol"]


def test_auth_registry() -> None:
    key = ApiKeyAuth({})
    reg = AuthRegistry([NoAuth()])
    assert reg.schemes() == ["none"]
    with pytest.raises(AuthError, match="unknown auth scheme 'api_key'") as info:
        reg.get("api_key")
    assert info.value.code == "auth_failed"
    assert reg.register(key) is reg
    assert reg.get("api_key") is key
    # The docs' argument order, and an explicit scheme name.
    other = ApiKeyAuth({})
    reg.register("hmac", other)  # type: ignore[arg-type]
    assert reg.get("hmac") is other
    third = NoAuth()
    reg.register(third, "open")
    assert reg.get("open") is third
    assert reg.schemes() == ["api_key", "hmac", "none", "open"]


def test_auth_registry_default_is_a_noauth_singleton() -> None:
    default = AuthRegistry.default()
    assert default is AuthRegistry.default()
    assert default.schemes() == ["none"]
    assert isinstance(default.get("none"), NoAuth)
    assert AuthRegistry().schemes() == []


# --- lifecycle -------------------------------------------------------------------------

ALLOWED = {
    (S.PENDING, S.ACTIVE),
    (S.PENDING, S.CLOSED),
    (S.PENDING, S.EXPIRED),
    (S.ACTIVE, S.CLOSED),
    (S.ACTIVE, S.EXPIRED),
    (S.CLOSING, S.CLOSED),
    (S.CLOSING, S.EXPIRED),
}


@pytest.mark.parametrize(("current", "new"), list(itertools.product(S, S)))
def test_transition_table(current: SessionState, new: SessionState) -> None:
    allowed = (current, new) in ALLOWED
    assert can_transition(current, new) is allowed
    if allowed:
        check_transition(current, new)
    else:
        with pytest.raises(ProtocolError, match=f"from {current.value} to {new.value}"):
            check_transition(current, new)


def test_table_covers_every_state_and_terminals_are_dead_ends() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(S)
    assert {S.CLOSED, S.EXPIRED} == TERMINAL_SESSION_STATES
    for state in TERMINAL_SESSION_STATES:
        assert ALLOWED_TRANSITIONS[state] == frozenset()
    assert [is_terminal_session_state(s) for s in S] == [False, False, False, True, True]
    assert is_terminal_session_state("closed") is True
    with pytest.raises(ValueError):
        is_terminal_session_state("gone")


def metadata(state: SessionState = S.PENDING, pending: list[str] | None = None) -> SessionMetadata:
    return SessionMetadata(
        session_id="s1",
        manifest=SessionManifest("consulting", participants=ParticipantSchema(2, 2)),
        creator_id="alice",
        participants=[
            Participant("alice", ParticipantRole.INITIATOR, 0),
            Participant("bob", ParticipantRole.RESPONDENT, 1),
        ],
        state=state,
        pending_acks=["bob"] if pending is None else pending,
    )


def ev(event_type: str, sender: str = "bob", **data: object) -> Envelope:
    return Envelope(
        "s1", sender, None, event_type, dict(data), created_at="2026-01-01T00:01:00+00:00"
    )


def test_lifecycle_events_set() -> None:
    assert {
        EV_SESSION_INVITE_ACK,
        EV_SESSION_INVITE_REJECT,
        EV_SESSION_OPENED,
        EV_SESSION_CLOSED,
        EV_SESSION_EXPIRED,
    } == LIFECYCLE_EVENTS


def test_fold_handshake_then_close() -> None:
    m = metadata()
    assert apply_lifecycle_event(m, ev(EV_SESSION_INVITE_ACK)) is S.PENDING
    assert (m.state, m.pending_acks) == (S.PENDING, [])
    assert apply_lifecycle_event(m, ev(EV_SESSION_OPENED, "alice")) is S.ACTIVE
    assert m.state is S.ACTIVE
    assert (
        apply_lifecycle_event(m, ev(EV_SESSION_CLOSED, "alice", reason="consulting_complete"))
        is S.CLOSED
    )
    assert (m.state, m.close_reason, m.closed_at) == (
        S.CLOSED,
        "consulting_complete",
        "2026-01-01T00:01:00+00:00",
    )
    # Terminal is final: a later expiry, close or open is refused and changes nothing.
    for late in (
        ev(EV_SESSION_EXPIRED, "alice", reason="ttl_expired"),
        ev(EV_SESSION_CLOSED, "alice", reason="again"),
        ev(EV_SESSION_OPENED, "alice"),
        ev(EV_TEXT),
    ):
        with pytest.raises(ProtocolError) as info:
            apply_lifecycle_event(m, late)
        assert info.value.code == "session_closed"
    assert (m.state, m.close_reason) == (S.CLOSED, "consulting_complete")


def test_fold_opened_clears_pending_acks() -> None:
    m = metadata(pending=["bob", "carol"])
    apply_lifecycle_event(m, ev(EV_SESSION_OPENED, "alice"))
    assert (m.state, m.pending_acks) == (S.ACTIVE, [])


def test_shared_empties_refuse_writes_and_copies_are_private() -> None:
    """The hub's sessions share one empty dict and one empty list; writing into them
    would change every session, so it raises instead."""
    assert own_entries(None) is NO_ENTRIES and own_entries({}) is NO_ENTRIES
    assert own_ids(None) is NO_IDS and own_ids(iter([])) is NO_IDS
    given = {"k": "v"}
    mine = own_entries(given)
    assert mine == given and mine is not given
    assert own_ids(("a", "b")) == ["a", "b"]
    writes_to_dict = [
        lambda d: d.__setitem__("k", 1),
        lambda d: d.__delitem__("k"),
        lambda d: d.update(k=1),
        lambda d: d.setdefault("k", 1),
        lambda d: d.pop("k"),
        lambda d: d.popitem(),
        lambda d: d.clear(),
        lambda d: d.__ior__({"k": 1}),
    ]
    for write in writes_to_dict:
        with pytest.raises(TypeError, match="shared"):
            write(NO_ENTRIES)
    writes_to_list = [
        lambda ids: ids.append("x"),
        lambda ids: ids.extend(["x"]),
        lambda ids: ids.insert(0, "x"),
        lambda ids: ids.remove("x"),
        lambda ids: ids.pop(),
        lambda ids: ids.clear(),
        lambda ids: ids.sort(),
        lambda ids: ids.reverse(),
        lambda ids: ids.__setitem__(slice(0, 0), ["x"]),
        lambda ids: ids.__delitem__(slice(0, 1)),
        lambda ids: ids.__iadd__(["x"]),
        lambda ids: ids.__imul__(2),
    ]
    for write in writes_to_list:
        with pytest.raises(TypeError, match="shared"):
            write(NO_IDS)
    assert NO_ENTRIES == {} and NO_IDS == []
    # The metadata a caller gets is its own.
    m = metadata(S.ACTIVE, NO_IDS)
    m.knobs = m.labels = NO_ENTRIES
    m.rejected_by = NO_IDS
    c = m.copy()
    c.knobs["k"] = 1
    c.labels["l"] = "v"
    c.pending_acks.append("x")
    c.rejected_by.append("y")
    assert NO_ENTRIES == {} and NO_IDS == []


def test_fold_reject_and_open_with_shared_empties() -> None:
    """Lifecycle folds assign new lists instead of writing into the shared empty one."""
    m = metadata(pending=["bob", "carol"])
    m.rejected_by = NO_IDS
    apply_lifecycle_event(m, ev(EV_SESSION_INVITE_REJECT, "carol"))
    assert m.rejected_by == ["carol"] and NO_IDS == []
    with pytest.raises(ProtocolError, match="no pending invite"):
        apply_lifecycle_event(m, ev(EV_SESSION_INVITE_REJECT, "carol"))
    assert m.rejected_by == ["carol"]
    m = metadata(pending=["bob"])
    apply_lifecycle_event(m, ev(EV_SESSION_OPENED, "alice"))
    assert m.pending_acks is NO_IDS


def test_fold_expired() -> None:
    m = metadata(S.ACTIVE, [])
    apply_lifecycle_event(m, ev(EV_SESSION_EXPIRED, "alice", reason="ttl_expired"))
    assert (m.state, m.close_reason) == (S.EXPIRED, "ttl_expired")


def test_fold_close_from_pending_and_closing() -> None:
    m = metadata()
    apply_lifecycle_event(m, ev(EV_SESSION_CLOSED, "alice", reason="invite_timeout"))
    assert (m.state, m.close_reason) == (S.CLOSED, "invite_timeout")
    m = metadata(S.CLOSING, [])
    apply_lifecycle_event(m, ev(EV_SESSION_CLOSED, "alice", reason="x"))
    assert m.state is S.CLOSED


def test_fold_close_with_junk_reason_and_unstamped_time() -> None:
    m = metadata(S.ACTIVE, [])
    env = Envelope("s1", "alice", None, EV_SESSION_CLOSED, {"reason": 5})
    apply_lifecycle_event(m, env)
    assert (m.state, m.close_reason, m.closed_at) == (S.CLOSED, "", None)


def test_fold_reject_records_once_while_pending() -> None:
    m = metadata()
    apply_lifecycle_event(m, ev(EV_SESSION_INVITE_REJECT))
    with pytest.raises(ProtocolError, match="no pending invite"):
        apply_lifecycle_event(m, ev(EV_SESSION_INVITE_REJECT))
    assert (m.state, m.rejected_by) == (S.PENDING, ["bob"])
    active = metadata(S.ACTIVE, [])
    with pytest.raises(ProtocolError, match="not accepted now"):
        apply_lifecycle_event(active, ev(EV_SESSION_INVITE_REJECT))
    assert active.rejected_by == []


def test_fold_refuses_illegal_and_foreign_acks() -> None:
    """A miss in the (state, event) table is a ProtocolError and changes nothing."""
    m = metadata()
    with pytest.raises(ProtocolError, match="no pending invite"):
        apply_lifecycle_event(m, ev(EV_SESSION_INVITE_ACK, "mallory"))  # not invited
    assert m.pending_acks == ["bob"]
    active = metadata(S.ACTIVE, ["bob"])
    with pytest.raises(ProtocolError, match="not accepted now"):
        apply_lifecycle_event(active, ev(EV_SESSION_INVITE_ACK))  # too late
    assert active.pending_acks == ["bob"]
    closing = metadata(S.CLOSING, [])
    with pytest.raises(ProtocolError):
        apply_lifecycle_event(closing, ev(EV_SESSION_OPENED, "alice"))  # CLOSING → ACTIVE
    assert closing.state is S.CLOSING


@pytest.mark.parametrize(
    ("state", "event_type", "code"),
    [
        (S.PENDING, EV_TEXT, "not_active"),
        (S.ACTIVE, EV_SESSION_INVITE, "not_active"),
        (S.PENDING, "ag2.task.progress", "not_active"),
        (S.ACTIVE, "ag2.session.bogus", "unknown_event"),
        (S.CLOSED, EV_TEXT, "session_closed"),
    ],
)
def test_fold_refuses_events_the_table_has_no_row_for(
    state: SessionState, event_type: str, code: str
) -> None:
    m = metadata(state, [] if state is not S.PENDING else ["bob"])
    before = m.to_dict()
    with pytest.raises(ProtocolError) as info:
        apply_lifecycle_event(m, ev(event_type, reason="x"))
    assert info.value.code == code
    assert m.to_dict() == before


@pytest.mark.parametrize("event_type", [EV_TEXT, "app.custom", "ag2.task.progress"])
def test_content_and_task_events_keep_an_active_session_active(event_type: str) -> None:
    m = metadata(S.ACTIVE, [])
    before = m.to_dict()
    assert apply_lifecycle_event(m, ev(event_type)) is S.ACTIVE
    assert m.to_dict() == before


@pytest.mark.parametrize(
    ("state", "event_type"), [(S.CLOSED, EV_SESSION_CLOSED), (S.EXPIRED, EV_SESSION_EXPIRED)]
)
def test_terminal_envelope(state: SessionState, event_type: str) -> None:
    env = terminal_envelope(metadata(S.ACTIVE), state, "why")
    assert env == Envelope(
        "s1", "alice", ["alice", "bob"], event_type, {"reason": "why", "session_id": "s1"}
    )
    # Folding it through the lifecycle gives exactly that terminal state.
    m = metadata(S.ACTIVE, [])
    apply_lifecycle_event(m, env)
    assert (m.state, m.close_reason) == (state, "why")


# --- session model ---------------------------------------------------------------------


def full_metadata() -> SessionMetadata:
    manifest = SessionManifest(
        type="discussion",
        version=2,
        participants=ParticipantSchema(min=2, max=None, roles=["initiator", "participant"]),
        knobs_schema={"ordering": "str"},
        default_view_policy="windowed_summary",
        expectations=[
            Expectation("turn_within", "warn", {"seconds": 120}),
            Expectation("max_silence", "audit", {}, applies_to=["participant"]),
        ],
        ttl_default="4h",
    )
    return SessionMetadata(
        session_id="s9",
        manifest=manifest,
        creator_id="alice",
        participants=[
            Participant("alice", ParticipantRole.INITIATOR, 0, "t0"),
            Participant("bob", ParticipantRole.PARTICIPANT, 1, "t0"),
            Participant("carol", ParticipantRole.PARTICIPANT, 2, "t0"),
        ],
        state=S.CLOSED,
        created_at="t0",
        expires_at="t9",
        closed_at="t5",
        close_reason="explicit_close",
        parent_session_id="s0",
        knobs={"ordering": "round_robin"},
        labels={"intent": "plan"},
        required_acks=2,
        pending_acks=["carol"],
        rejected_by=["bob"],
    )


def test_manifest_round_trip() -> None:
    m = full_metadata().manifest
    back = SessionManifest.from_dict(m.to_dict())
    assert back == m
    assert isinstance(back.expectations[0], Expectation)
    assert back.participants == ParticipantSchema(2, None, ["initiator", "participant"])
    assert SessionManifest.from_dict({"type": "x"}) == SessionManifest("x")


def test_metadata_round_trip() -> None:
    m = full_metadata()
    d = m.to_dict()
    assert d["state"] == "closed"
    assert d["participants"][1] == {
        "agent_id": "bob",
        "role": "participant",
        "order": 1,
        "joined_at": "t0",
    }
    back = SessionMetadata.from_dict(d)
    assert back == m
    assert back.state is S.CLOSED
    assert back.participants[0].role is ParticipantRole.INITIATOR


def test_metadata_helpers() -> None:
    m = full_metadata()
    assert m.participant_ids() == ["alice", "bob", "carol"]
    assert m.is_participant("carol") and not m.is_participant("mallory")
    assert m.role_of("alice") is ParticipantRole.INITIATOR
    assert m.role_of("mallory") is None
    assert m.is_terminal()
    m.state = S.CLOSING
    assert not m.is_terminal()


def test_metadata_copy_is_independent() -> None:
    m = full_metadata()
    c = m.copy()
    assert c == m
    c.pending_acks.append("x")
    c.knobs["k"] = 1
    c.labels["l"] = "v"
    c.participants.append(Participant("x", ParticipantRole.PARTICIPANT, 3))
    c.rejected_by.clear()
    assert m == full_metadata()


def test_expectation_round_trip() -> None:
    e = Expectation("reply_within", "auto_close", {"seconds": 5}, ["respondent"])
    assert Expectation.from_dict(e.to_dict()) == e
    assert Expectation.from_dict({"name": "x"}) == Expectation("x", "audit", {}, None)


# --- clock -----------------------------------------------------------------------------


def test_mock_clock_only_moves_when_told() -> None:
    clock = MockClock()
    assert clock() == "2026-01-01T00:00:00+00:00"
    assert clock() == clock()
    assert clock.advance(45) == "2026-01-01T00:00:45+00:00"
    assert clock() == "2026-01-01T00:00:45+00:00"
    clock.advance(0.5)
    assert iso_to_seconds(clock()) - iso_to_seconds("2026-01-01T00:00:00+00:00") == 45.5


def test_mock_clock_start_and_set_are_utc() -> None:
    assert MockClock("2026-03-01T12:00:00")() == "2026-03-01T12:00:00+00:00"
    assert MockClock(datetime(2026, 3, 1, tzinfo=UTC))() == "2026-03-01T00:00:00+00:00"
    clock = MockClock()
    clock.set("2026-02-01T00:00:00+00:00")
    assert clock() == "2026-02-01T00:00:00+00:00"
    # A naive value is UTC, as in the constructor (ISO strings must stay comparable).
    clock.set("2026-02-02T00:00:00")
    assert clock() == "2026-02-02T00:00:00+00:00"
    clock.set(datetime(2026, 2, 3))
    assert clock() == "2026-02-03T00:00:00+00:00"


def test_iso_to_seconds_and_system_clock() -> None:
    assert iso_to_seconds("1970-01-01T00:01:00+00:00") == 60.0
    assert iso_to_seconds("1970-01-01T00:01:00") == 60.0
    assert iso_to_seconds("1970-01-01T01:01:00+01:00") == 60.0
    now = system_clock()
    assert now.endswith("+00:00")
    assert abs(iso_to_seconds(now) - datetime.now(UTC).timestamp()) < 60
