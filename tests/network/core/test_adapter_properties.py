"""Hypothesis properties of the built-in adapters, driven through a pure admission harness.

The harness is the post pipeline without I/O (architecture.md, "the post
pipeline"): ``validate_send`` on the state before the fold → stamp sequence /
envelope_id / created_at → ``fold`` → ``on_accepted`` → a terminal (or CLOSING,
spec §8.6) ``next_state`` closes the session, after which the hub refuses every
send.

Properties, for every adapter in ``CASES`` (add later adapters there):

(a) any sequence of envelopes raises nothing but ``ProtocolError``;
(b) replaying the admitted log through a *fresh* adapter (``initial_state`` +
    ``fold`` of every admitted envelope) gives exactly the live state, and
    ``on_accepted`` makes the same close decision at the same envelope;
(c) nothing is admitted after the adapter decided to close, and adapters that
    close themselves also refuse further texts on their own (defence in depth);
plus one adapter-specific invariant per case (consulting: at most one initiator
text then one respondent text; conversation: ``turn_count`` == admitted texts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubbub.network.adapters import (
    AdapterResult,
    ConsultingAdapter,
    ConsultingState,
    ConversationAdapter,
    ConversationState,
    SessionAdapter,
)
from hubbub.network.envelope import (
    EV_CONTEXT_SET,
    EV_EXPECTATION_VIOLATED,
    EV_PACKET,
    EV_SESSION_CLOSED,
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_OPENED,
    EV_TASK_STARTED,
    EV_TEXT,
    Envelope,
)
from hubbub.network.errors import ProtocolError
from hubbub.network.session import (
    Participant,
    ParticipantRole,
    SessionMetadata,
    SessionState,
)

SESSION = "s-1"
ALICE = "alice"  # creator / initiator
BOB = "bob"  # respondent
OUTSIDER = "mallory"

_CLOSING_STATES = frozenset({SessionState.CLOSING, SessionState.CLOSED, SessionState.EXPIRED})


def two_party_metadata(adapter: SessionAdapter) -> SessionMetadata:
    """An ACTIVE session of ``adapter``'s type between alice (initiator) and bob."""
    return SessionMetadata(
        session_id=SESSION,
        manifest=adapter.manifest,
        creator_id=ALICE,
        participants=[
            Participant(ALICE, ParticipantRole.INITIATOR, 0),
            Participant(BOB, ParticipantRole.RESPONDENT, 1),
        ],
        state=SessionState.ACTIVE,
        created_at="2026-01-01T00:00:00+00:00",
    )


# --- the harness -----------------------------------------------------------------------


@dataclass
class Harness:
    """Pure admission pipeline for one session; records everything the properties need."""

    adapter: SessionAdapter
    metadata: SessionMetadata
    state: Any = None
    log: list[Envelope] = field(default_factory=list)
    results: list[AdapterResult] = field(default_factory=list)
    close_result: AdapterResult | None = None
    refused_after_close: int = 0
    #: texts that the adapter itself would still have accepted after it closed
    texts_adapter_accepted_after_close: list[Envelope] = field(default_factory=list)
    #: index, in the driven input, of the envelope whose admission closed the session
    close_input_index: int | None = None

    def __post_init__(self) -> None:
        self.state = self.adapter.initial_state(self.metadata)

    @property
    def closed(self) -> bool:
        return self.close_result is not None

    def post(self, envelope: Envelope) -> Envelope:
        """Admit ``envelope`` or raise ProtocolError (what the hub would send back)."""
        if self.closed:
            self.refused_after_close += 1
            if envelope.event_type == EV_TEXT:
                try:
                    self.adapter.validate_send(self.metadata, envelope, self.state)
                except ProtocolError:
                    pass
                else:
                    self.texts_adapter_accepted_after_close.append(envelope)
            raise ProtocolError(f"session {SESSION} is closed")
        self.adapter.validate_send(self.metadata, envelope, self.state)
        n = len(self.log) + 1
        stamped = dataclasses.replace(
            envelope,
            envelope_id=f"{n:032x}",
            sequence=n,
            created_at=f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}+00:00",
        )
        self.state = self.adapter.fold(stamped, self.state)
        self.log.append(stamped)
        result = self.adapter.on_accepted(self.metadata, stamped, self.state)
        assert isinstance(result, AdapterResult)
        self.results.append(result)
        if result.next_state in _CLOSING_STATES:
            self.close_result = result
            self.metadata.state = SessionState.CLOSED
            self.metadata.close_reason = result.auto_close_reason
        return stamped

    def drive(self, envelopes: list[Envelope]) -> None:
        """Post every envelope; ProtocolError is a refusal, anything else propagates."""
        for i, env in enumerate(envelopes):
            was_closed = self.closed
            try:
                self.post(env)
            except ProtocolError:
                pass
            if self.closed and not was_closed:
                self.close_input_index = i


def replay(make: Callable[[], SessionAdapter], log: list[Envelope]) -> tuple[Any, list[Any]]:
    """Fold ``log`` through a fresh adapter; return the state and every on_accepted result."""
    adapter = make()
    metadata = two_party_metadata(adapter)
    state = adapter.initial_state(metadata)
    results = []
    for env in log:
        state = adapter.fold(env, state)
        results.append(adapter.on_accepted(metadata, env, state))
    return state, results


# --- per-adapter invariants ------------------------------------------------------------


def texts(h: Harness) -> list[Envelope]:
    return [e for e in h.log if e.event_type == EV_TEXT]


def check_consulting(h: Harness) -> None:
    admitted = texts(h)
    assert len(admitted) <= 2
    if admitted:
        assert admitted[0].sender_id == ALICE
    if len(admitted) == 2:
        assert admitted[1].sender_id == BOB
    assert h.state == ConsultingState(
        initiator_sent=len(admitted) >= 1,
        respondent_replied=len(admitted) == 2,
        last_envelope_id=admitted[-1].envelope_id if admitted else None,
    )
    # Consulting closes exactly when the reply is in, with its documented reason.
    if len(admitted) == 2:
        assert h.close_result == AdapterResult(SessionState.CLOSED, "consulting_complete")
        assert h.log[-1] is admitted[1]
    else:
        assert h.close_result is None


def check_conversation(h: Harness) -> None:
    admitted = texts(h)
    assert isinstance(h.state, ConversationState)
    assert h.state.turn_count == len(admitted)
    assert h.state.last_speaker_id == (admitted[-1].sender_id if admitted else None)
    assert h.state.last_envelope_id == (admitted[-1].envelope_id if admitted else None)
    assert {e.sender_id for e in admitted} <= {ALICE, BOB}
    assert h.close_result is None  # a plain conversation never auto-closes


KEYWORD = "TERMINATE"


class SentinelConversation(ConversationAdapter):
    """The documented sentinel pattern: close when a text contains a keyword."""

    def on_accepted(
        self, metadata: SessionMetadata, envelope: Envelope, state: Any
    ) -> AdapterResult:
        text = envelope.event_data.get("text") if envelope.event_type == EV_TEXT else None
        if isinstance(text, str) and KEYWORD in text:
            return AdapterResult(SessionState.CLOSING, f"terminate_keyword:{KEYWORD}")
        return super().on_accepted(metadata, envelope, state)


def check_sentinel(h: Harness) -> None:
    admitted = texts(h)
    assert h.state.turn_count == len(admitted)
    hits = [
        i
        for i, e in enumerate(admitted)
        if isinstance(e.event_data.get("text"), str) and KEYWORD in e.event_data["text"]
    ]
    if hits:
        assert hits == [len(admitted) - 1]  # the keyword text is the last text admitted
        assert h.close_result == AdapterResult(SessionState.CLOSING, f"terminate_keyword:{KEYWORD}")
    else:
        assert h.close_result is None


@dataclass(frozen=True)
class AdapterCase:
    """One adapter under test: how to build it and what must always hold for it."""

    name: str
    make: Callable[[], SessionAdapter]
    invariant: Callable[[Harness], None]
    #: True when the adapter itself refuses texts once it has decided to close
    #: (False when it relies on the hub's closed-session gate alone).
    refuses_text_after_close: bool


CASES: list[AdapterCase] = [
    AdapterCase("consulting", ConsultingAdapter, check_consulting, refuses_text_after_close=True),
    AdapterCase(
        "conversation", ConversationAdapter, check_conversation, refuses_text_after_close=True
    ),
    # The sentinel relies on the hub gate: documents that subclasses need not re-check.
    AdapterCase(
        "sentinel_conversation",
        SentinelConversation,
        check_sentinel,
        refuses_text_after_close=False,
    ),
]


# --- strategies ------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=5,
)

texts_with_keyword = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["hello", "TERMINATE", "ok, TERMINATE now", "terminate", ""]),
)

text_event_data = st.one_of(
    st.builds(lambda t: {"text": t}, texts_with_keyword),  # well-formed
    st.just({}),  # missing text
    st.builds(lambda v: {"text": v}, json_values),  # non-str text
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),  # nested junk
    st.builds(lambda t, j: {"text": t, "extra": j}, texts_with_keyword, json_values),
)

event_types = st.one_of(
    st.just(EV_TEXT),
    st.sampled_from(
        [
            EV_PACKET,
            EV_CONTEXT_SET,
            EV_SESSION_INVITE,
            EV_SESSION_INVITE_ACK,
            EV_SESSION_OPENED,
            EV_SESSION_CLOSED,
            EV_TASK_STARTED,
            EV_EXPECTATION_VIOLATED,
            "app.custom",
            "x.note",
        ]
    ),
    st.text(min_size=1, max_size=20),
)

senders = st.sampled_from([ALICE, BOB, OUTSIDER, ""])
audiences = st.one_of(
    st.none(), st.lists(st.sampled_from([ALICE, BOB, OUTSIDER]), max_size=3, unique=True)
)


@st.composite
def envelopes(draw: st.DrawFn) -> Envelope:
    # Texts are drawn often so that sessions actually progress (and close).
    event_type = draw(st.one_of(st.just(EV_TEXT), st.just(EV_TEXT), event_types))
    data = draw(
        text_event_data
        if event_type == EV_TEXT
        else st.dictionaries(st.text(max_size=8), json_values, max_size=3)
    )
    return Envelope(
        session_id=SESSION,
        sender_id=draw(senders),
        audience=draw(audiences),
        event_type=event_type,
        event_data=data,
    )


sequences = st.lists(envelopes(), max_size=20)

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def run(case: AdapterCase, envs: list[Envelope]) -> Harness:
    adapter = case.make()
    h = Harness(adapter, two_party_metadata(adapter))
    h.drive(envs)  # (a): anything but ProtocolError escapes and fails the test
    return h


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@PROPERTY_SETTINGS
@given(envs=sequences)
def test_only_protocol_errors(case: AdapterCase, envs: list[Envelope]) -> None:
    h = run(case, envs)
    assert len(h.log) + h.refused_after_close <= len(envs)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@PROPERTY_SETTINGS
@given(envs=sequences)
def test_replay_of_admitted_log_equals_live_state(case: AdapterCase, envs: list[Envelope]) -> None:
    h = run(case, envs)
    replayed, results = replay(case.make, h.log)
    assert replayed == h.state
    assert results == h.results
    # Replaying twice is the same (fold is deterministic, keeps no hidden state).
    assert replay(case.make, h.log) == (replayed, results)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@PROPERTY_SETTINGS
@given(envs=sequences)
def test_nothing_admitted_after_close(case: AdapterCase, envs: list[Envelope]) -> None:
    h = run(case, envs)
    closing = [i for i, r in enumerate(h.results) if r.next_state in _CLOSING_STATES]
    assert len(closing) <= 1
    if closing:
        # The closing envelope is the last one admitted; every later post was refused.
        assert closing == [len(h.log) - 1]
        assert h.close_input_index is not None
        assert h.refused_after_close == len(envs) - h.close_input_index - 1
        if case.refuses_text_after_close:
            assert h.texts_adapter_accepted_after_close == []
    else:
        assert h.refused_after_close == 0


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@PROPERTY_SETTINGS
@given(envs=sequences)
def test_adapter_invariant(case: AdapterCase, envs: list[Envelope]) -> None:
    case.invariant(run(case, envs))


def test_sequences_reach_the_interesting_states() -> None:
    """Guard against a vacuous generator: the strategy does produce closing sessions."""
    seen_close = []

    @settings(max_examples=200, deadline=None, database=None)
    @given(envs=sequences)
    def probe(envs: list[Envelope]) -> None:
        h = run(CASES[0], envs)
        seen_close.append(h.closed)

    probe()
    assert any(seen_close)
    assert not all(seen_close)
