"""Pure expectation evaluators (spec §13.2, §29.1 item 17) and ``SessionActivity``.

Evaluators read a ``SessionActivity`` record (epoch seconds), the metadata and the
adapter state; the hub passes ``now``. Times below are seconds after T0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from hubbub.network.envelope import (
    EV_EXPECTATION_VIOLATED,
    EV_PACKET,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_OPENED,
    EV_TASK_PROGRESS,
    EV_TEXT,
    Envelope,
)
from hubbub.network.expectations import (
    AcksWithin,
    ExpectationContext,
    ExpectationEvaluator,
    MaxSilence,
    ReplyWithin,
    SessionActivity,
    TurnWithin,
    Violation,
    default_evaluators,
)
from hubbub.network.session import (
    Expectation,
    Participant,
    ParticipantRole,
    SessionManifest,
    SessionMetadata,
    SessionState,
)

ALICE, BOB, CAROL = "alice", "bob", "carol"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def meta(
    state: SessionState = SessionState.ACTIVE,
    pending: list[str] | None = None,
    ids: tuple[str, ...] = (ALICE, BOB),
) -> SessionMetadata:
    roles = [ParticipantRole.INITIATOR] + [
        ParticipantRole.RESPONDENT if len(ids) == 2 else ParticipantRole.PARTICIPANT
    ] * (len(ids) - 1)
    return SessionMetadata(
        session_id="s1",
        manifest=SessionManifest("consulting"),
        creator_id=ids[0],
        participants=[
            Participant(a, r, i) for i, (a, r) in enumerate(zip(ids, roles, strict=True))
        ],
        state=state,
        pending_acks=list(pending or []),
    )


def ctx(
    metadata: SessionMetadata,
    activity: SessionActivity,
    at: float,
    state: Any = None,
) -> ExpectationContext:
    return ExpectationContext(
        metadata=metadata,
        state=state,
        activity=activity,
        now_iso="(unused)",
        now_seconds=T0 + at,
    )


def fresh() -> SessionActivity:
    return SessionActivity(created_at=T0, last_content_at=T0)


def text(sender: str, audience: list[str] | None = None) -> Envelope:
    return Envelope("s1", sender, audience, EV_TEXT, {"text": "hi"})


def observe(
    activity: SessionActivity, env: Envelope, at: float, ids: tuple[str, ...] = (ALICE, BOB)
) -> None:
    activity.observe(env, T0 + at, list(ids))


# --- acks_within -----------------------------------------------------------------------

ACKS = Expectation("acks_within", "auto_close", {"seconds": 30})


def test_acks_within_fires_for_pending_invitee_after_threshold() -> None:
    v = AcksWithin().evaluate(ACKS, ctx(meta(SessionState.PENDING, [BOB]), fresh(), 60))
    assert v == Violation(ACKS, [BOB], {"elapsed_seconds": 60.0, "threshold_seconds": 30.0})


def test_acks_within_fires_at_exactly_the_threshold() -> None:
    v = AcksWithin().evaluate(ACKS, ctx(meta(SessionState.PENDING, [BOB]), fresh(), 30))
    assert v is not None
    assert v.violator_ids == [BOB]


def test_acks_within_violators_sorted() -> None:
    m = meta(SessionState.PENDING, [CAROL, BOB], ids=(ALICE, BOB, CAROL))
    v = AcksWithin().evaluate(ACKS, ctx(m, fresh(), 31))
    assert v is not None
    assert v.violator_ids == [BOB, CAROL]


@pytest.mark.parametrize(
    ("state", "pending", "at"),
    [
        (SessionState.PENDING, [BOB], 29.9),  # within threshold
        (SessionState.PENDING, [], 600),  # nobody pending
        (SessionState.ACTIVE, [BOB], 600),  # already active
        (SessionState.CLOSED, [BOB], 600),
    ],
)
def test_acks_within_silent(state: SessionState, pending: list[str], at: float) -> None:
    assert AcksWithin().evaluate(ACKS, ctx(meta(state, pending), fresh(), at)) is None


def test_acks_within_default_threshold_is_30() -> None:
    e = Expectation("acks_within", "audit", {})
    m = meta(SessionState.PENDING, [BOB])
    assert AcksWithin().evaluate(e, ctx(m, fresh(), 29)) is None
    assert AcksWithin().evaluate(e, ctx(m, fresh(), 30)) is not None


# --- reply_within ----------------------------------------------------------------------

REPLY = Expectation("reply_within", "auto_close", {"seconds": 600})


def test_reply_within_flags_addressed_but_silent_party_only() -> None:
    act = fresh()
    observe(act, text(ALICE), 0)  # alice asks bob (broadcast)
    v = ReplyWithin().evaluate(REPLY, ctx(meta(), act, 700))
    assert v == Violation(REPLY, [BOB], {"threshold_seconds": 600.0})


def test_reply_within_not_the_one_who_replied() -> None:
    act = fresh()
    observe(act, text(ALICE), 0)
    observe(act, text(BOB), 100)  # bob replied; now alice is addressed (at 100)
    assert ReplyWithin().evaluate(REPLY, ctx(meta(), act, 650)) is None
    v = ReplyWithin().evaluate(REPLY, ctx(meta(), act, 700))
    assert v is not None
    assert v.violator_ids == [ALICE]


def test_reply_within_honours_audience() -> None:
    ids = (ALICE, BOB, CAROL)
    act = fresh()
    observe(act, text(ALICE, audience=[CAROL]), 0, ids)
    v = ReplyWithin().evaluate(REPLY, ctx(meta(ids=ids), act, 601))
    assert v is not None
    assert v.violator_ids == [CAROL]


@pytest.mark.parametrize("state", [SessionState.PENDING, SessionState.CLOSED, SessionState.EXPIRED])
def test_reply_within_silent_when_not_active(state: SessionState) -> None:
    act = fresh()
    observe(act, text(ALICE), 0)
    assert ReplyWithin().evaluate(REPLY, ctx(meta(state), act, 10_000)) is None


def test_reply_within_silent_within_threshold_and_without_texts() -> None:
    act = fresh()
    assert ReplyWithin().evaluate(REPLY, ctx(meta(), act, 10_000)) is None
    observe(act, text(ALICE), 0)
    assert ReplyWithin().evaluate(REPLY, ctx(meta(), act, 599)) is None


# --- max_silence -----------------------------------------------------------------------

SILENCE = Expectation("max_silence", "audit", {"seconds": 3600})


def test_max_silence_fires_session_wide_after_silence() -> None:
    v = MaxSilence().evaluate(SILENCE, ctx(meta(), fresh(), 3700))
    assert v == Violation(SILENCE, [], {"elapsed_seconds": 3700.0, "threshold_seconds": 3600.0})


def test_max_silence_anchor_moves_with_content_not_protocol_events() -> None:
    act = fresh()
    observe(act, text(BOB), 1000)
    assert MaxSilence().evaluate(SILENCE, ctx(meta(), act, 3700)) is None
    # Protocol events and violations do not count as content.
    for et in (EV_SESSION_OPENED, EV_TASK_PROGRESS, EV_EXPECTATION_VIOLATED):
        observe(act, Envelope("s1", ALICE, None, et, {}), 4000)
    v = MaxSilence().evaluate(SILENCE, ctx(meta(), act, 4600))
    assert v is not None
    assert v.detail["elapsed_seconds"] == 3600.0


@pytest.mark.parametrize("state", [SessionState.PENDING, SessionState.CLOSED])
def test_max_silence_silent_when_not_active(state: SessionState) -> None:
    assert MaxSilence().evaluate(SILENCE, ctx(meta(state), fresh(), 99_999)) is None


# --- turn_within -----------------------------------------------------------------------

TURN = Expectation("turn_within", "warn", {"seconds": 120})


@dataclass(frozen=True)
class _DiscussionLike:
    expected_next_speaker: str | None


def test_turn_within_names_the_expected_speaker() -> None:
    v = TurnWithin().evaluate(TURN, ctx(meta(), fresh(), 130, _DiscussionLike(BOB)))
    assert v is not None
    assert v.violator_ids == [BOB]
    assert v.detail == {
        "elapsed_seconds": 130.0,
        "threshold_seconds": 120.0,
        "expected_speaker": BOB,
    }


@pytest.mark.parametrize("state", [None, _DiscussionLike(None), _DiscussionLike("")])
def test_turn_within_falls_back_to_session_wide(state: Any) -> None:
    v = TurnWithin().evaluate(TURN, ctx(meta(), fresh(), 130, state))
    assert v is not None
    assert v.violator_ids == []


def test_turn_within_silent_within_threshold_and_when_not_active() -> None:
    act = fresh()
    observe(act, text(ALICE), 100)
    assert TurnWithin().evaluate(TURN, ctx(meta(), act, 219, _DiscussionLike(BOB))) is None
    assert TurnWithin().evaluate(TURN, ctx(meta(), act, 220, _DiscussionLike(BOB))) is not None
    for state in (SessionState.PENDING, SessionState.CLOSING, SessionState.CLOSED):
        assert (
            TurnWithin().evaluate(TURN, ctx(meta(state), act, 9999, _DiscussionLike(BOB))) is None
        )


# --- params / registry -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"seconds": 5}, 5.0),
        ({"seconds": 2.5}, 2.5),
        ({"seconds": True}, 3600.0),
        ({"seconds": "x"}, 3600.0),
        ({"seconds": "-5s"}, 3600.0),
        ({"seconds": None}, 3600.0),
        ({}, 3600.0),
        ({"seconds": "90s"}, 90.0),  # duration strings, as in rules
        ({"seconds": "15m"}, 900.0),
        ({"seconds": "2h"}, 7200.0),
        ({"seconds": "45"}, 45.0),
    ],
)
def test_seconds_param_takes_numbers_and_durations_else_default(
    params: dict[str, Any], expected: float
) -> None:
    v = MaxSilence().evaluate(Expectation("max_silence", params=params), ctx(meta(), fresh(), 1e6))
    assert v is not None
    assert v.detail["threshold_seconds"] == expected


def test_default_evaluators() -> None:
    evs = default_evaluators()
    assert [e.name for e in evs] == ["acks_within", "reply_within", "max_silence", "turn_within"]
    assert all(isinstance(e, ExpectationEvaluator) for e in evs)
    assert default_evaluators()[0] is not evs[0]


# --- SessionActivity.observe -----------------------------------------------------------


def test_observe_text_broadcast_addresses_everyone_but_sender() -> None:
    act = fresh()
    observe(act, text(ALICE), 5, (ALICE, BOB, CAROL))
    assert act.last_content_at == T0 + 5
    assert act.text_from == {ALICE: T0 + 5}
    assert act.text_to == {BOB: T0 + 5, CAROL: T0 + 5}


def test_idle_sessions_share_nothing_once_written() -> None:
    """Fresh records start on one shared empty dict; the first text gives each its own."""
    a, b = fresh(), fresh()
    observe(a, text(ALICE), 5, (ALICE, BOB))
    assert (a.text_from, a.text_to) == ({ALICE: T0 + 5}, {BOB: T0 + 5})
    assert (b.text_from, b.text_to) == ({}, {})
    observe(b, text(BOB, audience=[]), 7, (ALICE, BOB))  # addresses nobody
    assert (b.text_from, b.text_to) == ({BOB: T0 + 7}, {})
    assert fresh().text_from == {} and fresh().text_to == {}


def test_observe_text_with_audience_addresses_only_audience() -> None:
    act = fresh()
    observe(act, text(ALICE, audience=[BOB, ALICE]), 5, (ALICE, BOB, CAROL))
    assert act.text_to == {BOB: T0 + 5}  # the sender is never addressed by itself
    observe(act, text(BOB, audience=[]), 9, (ALICE, BOB, CAROL))
    assert act.text_to == {}  # any text from bob answers what was addressed to him
    assert act.text_from == {ALICE: T0 + 5, BOB: T0 + 9}
    assert act.last_content_at == T0 + 9


@pytest.mark.parametrize(
    "event_type",
    [EV_SESSION_OPENED, EV_SESSION_INVITE_ACK, EV_TASK_PROGRESS, EV_EXPECTATION_VIOLATED],
)
def test_observe_protocol_events_are_not_content(event_type: str) -> None:
    act = fresh()
    observe(act, Envelope("s1", ALICE, None, event_type, {"text": "x"}), 50)
    assert act == fresh()


def test_observe_custom_event_is_content_but_not_text() -> None:
    act = fresh()
    observe(act, Envelope("s1", ALICE, None, EV_PACKET, {"body": "x"}), 50)
    observe(act, Envelope("s1", BOB, None, "app.custom", {}), 60)
    assert act.last_content_at == T0 + 60
    assert act.text_from == {}
    assert act.text_to == {}


def test_reply_within_uses_admission_order_not_timestamps() -> None:
    """Under a frozen clock, bob's text and alice's later question share a timestamp."""
    act = fresh()
    observe(act, text(BOB), 0)
    observe(act, text(ALICE), 0)  # admitted after bob's: bob has not answered it
    v = ReplyWithin().evaluate(REPLY, ctx(meta(), act, 600))
    assert v is not None
    assert v.violator_ids == [BOB]
    observe(act, text(BOB), 600)  # now he has (and alice is addressed)
    assert act.text_to == {ALICE: T0 + 600}
    v = ReplyWithin().evaluate(REPLY, ctx(meta(), act, 600))
    assert v is None
