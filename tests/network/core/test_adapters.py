"""Unit tests of the built-in adapters (spec §10.1-10.4, §29.1 items 3-4), at adapter level."""

from __future__ import annotations

from typing import Any

import pytest

from hubbub.network.adapters import (
    CONSULTING_TYPE,
    CONVERSATION_TYPE,
    AdapterResult,
    ConsultingAdapter,
    ConsultingState,
    ConversationAdapter,
    ConversationState,
    DiscussionAdapter,
    SessionAdapter,
    WorkflowAdapter,
    default_adapters,
    default_build_round_envelope,
    default_extract_turn_input,
    default_render_envelope,
)
from hubbub.network.envelope import (
    EV_CONTEXT_SET,
    EV_PACKET,
    EV_SESSION_INVITE_ACK,
    EV_TEXT,
    Envelope,
)
from hubbub.network.errors import ProtocolError
from hubbub.network.session import (
    Expectation,
    Participant,
    ParticipantRole,
    SessionMetadata,
    SessionState,
)
from hubbub.network.views import FullTranscript, WindowedSummary

ALICE, BOB, CAROL = "alice", "bob", "carol"


def metadata(
    adapter: SessionAdapter,
    participants: list[tuple[str, ParticipantRole]] | None = None,
) -> SessionMetadata:
    parts = participants or [(ALICE, ParticipantRole.INITIATOR), (BOB, ParticipantRole.RESPONDENT)]
    return SessionMetadata(
        session_id="s1",
        manifest=adapter.manifest,
        creator_id=parts[0][0],
        participants=[Participant(aid, role, i) for i, (aid, role) in enumerate(parts)],
        state=SessionState.ACTIVE,
    )


def text(sender: str, body: Any = "hi", eid: str = "") -> Envelope:
    return Envelope("s1", sender, None, EV_TEXT, {"text": body}, envelope_id=eid)


def admit(
    adapter: SessionAdapter, meta: SessionMetadata, state: Any, env: Envelope
) -> tuple[Any, AdapterResult]:
    """validate → fold → on_accepted, as the hub does."""
    adapter.validate_send(meta, env, state)
    state = adapter.fold(env, state)
    return state, adapter.on_accepted(meta, env, state)


# --- consulting ------------------------------------------------------------------------


class TestConsulting:
    def setup_method(self) -> None:
        self.adapter = ConsultingAdapter()
        self.meta = metadata(self.adapter)
        self.state = self.adapter.initial_state(self.meta)

    def test_manifest(self) -> None:
        m = self.adapter.manifest
        assert (m.type, m.version) == (CONSULTING_TYPE, 1) == ("consulting", 1)
        assert (m.participants.min, m.participants.max) == (2, 2)
        assert m.participants.roles == ["initiator", "respondent"]
        assert m.knobs_schema == {}
        assert m.default_view_policy == "full_transcript"
        assert m.expectations == [
            Expectation("acks_within", "auto_close", {"seconds": 30}),
            Expectation("reply_within", "auto_close", {"seconds": 600}),
        ]

    def test_initial_state(self) -> None:
        assert self.state == ConsultingState(False, False, None)

    def test_respondent_first_is_rejected_naming_the_initiator(self) -> None:
        with pytest.raises(ProtocolError, match="initiator") as info:
            self.adapter.validate_send(self.meta, text(BOB), self.state)
        assert info.value.code == "protocol_error"

    def test_outsider_first_is_rejected(self) -> None:
        with pytest.raises(ProtocolError, match="initiator"):
            self.adapter.validate_send(self.meta, text(CAROL), self.state)

    def test_full_flow_closes_with_consulting_complete(self) -> None:
        state, result = admit(self.adapter, self.meta, self.state, text(ALICE, "q?", "e1"))
        assert state == ConsultingState(True, False, "e1")
        assert result == AdapterResult()
        assert result.next_state is None
        state, result = admit(self.adapter, self.meta, state, text(BOB, "a.", "e2"))
        assert state == ConsultingState(True, True, "e2")
        assert result == AdapterResult(SessionState.CLOSED, "consulting_complete")

    def test_initiator_may_not_ask_twice(self) -> None:
        state, _ = admit(self.adapter, self.meta, self.state, text(ALICE, "q?"))
        with pytest.raises(ProtocolError, match="respondent"):
            self.adapter.validate_send(self.meta, text(ALICE, "again"), state)

    def test_outsider_may_not_reply(self) -> None:
        state, _ = admit(self.adapter, self.meta, self.state, text(ALICE, "q?"))
        with pytest.raises(ProtocolError, match="respondent"):
            self.adapter.validate_send(self.meta, text(CAROL, "me!"), state)

    @pytest.mark.parametrize("sender", [ALICE, BOB, CAROL])
    def test_any_text_after_completion_is_rejected(self, sender: str) -> None:
        state, _ = admit(self.adapter, self.meta, self.state, text(ALICE))
        state, _ = admit(self.adapter, self.meta, state, text(BOB))
        with pytest.raises(ProtocolError, match="already complete"):
            self.adapter.validate_send(self.meta, text(sender), state)

    @pytest.mark.parametrize("event_type", [EV_SESSION_INVITE_ACK, EV_CONTEXT_SET, "app.custom"])
    def test_non_text_passes_and_does_not_fold(self, event_type: str) -> None:
        env = Envelope("s1", BOB, None, event_type, {})
        state, result = admit(self.adapter, self.meta, self.state, env)
        assert state == self.state
        assert result == AdapterResult()
        # Still passes after completion: protocol/custom events bypass turn checks.
        done = ConsultingState(True, True, "e2")
        self.adapter.validate_send(self.meta, env, done)
        assert self.adapter.fold(env, done) is done
        assert self.adapter.on_accepted(self.meta, env, done) == AdapterResult()

    def test_fold_is_pure(self) -> None:
        before = ConsultingState()
        after = self.adapter.fold(text(ALICE, eid="e1"), before)
        assert before == ConsultingState()  # frozen, not mutated
        assert after == ConsultingState(True, False, "e1")
        assert self.adapter.fold(text(ALICE, eid="e1"), before) == after

    def test_default_view_is_full_transcript(self) -> None:
        assert self.adapter.default_view_policy(self.meta, ALICE) == FullTranscript()

    def test_validate_create_accepts_initiator_and_respondent(self) -> None:
        self.adapter.validate_create(self.meta)

    @pytest.mark.parametrize(
        ("participants", "match"),
        [
            ([(ALICE, ParticipantRole.INITIATOR)], "exactly 2 participants, got 1"),
            (
                [
                    (ALICE, ParticipantRole.INITIATOR),
                    (BOB, ParticipantRole.PARTICIPANT),
                    (CAROL, ParticipantRole.PARTICIPANT),
                ],
                "exactly 2 participants, got 3",
            ),
            (
                [(ALICE, ParticipantRole.INITIATOR), (BOB, ParticipantRole.PARTICIPANT)],
                "one initiator and one respondent",
            ),
            (
                [(ALICE, ParticipantRole.RESPONDENT), (BOB, ParticipantRole.RESPONDENT)],
                "one initiator and one respondent",
            ),
        ],
    )
    def test_validate_create_rejects_bad_shapes(
        self, participants: list[tuple[str, ParticipantRole]], match: str
    ) -> None:
        with pytest.raises(ProtocolError, match=match):
            self.adapter.validate_create(metadata(self.adapter, participants))


# --- conversation ----------------------------------------------------------------------


class TestConversation:
    def setup_method(self) -> None:
        self.adapter = ConversationAdapter()
        self.meta = metadata(self.adapter)
        self.state = self.adapter.initial_state(self.meta)

    def test_manifest(self) -> None:
        m = self.adapter.manifest
        assert (m.type, m.version) == (CONVERSATION_TYPE, 1) == ("conversation", 1)
        assert (m.participants.min, m.participants.max) == (2, 2)
        assert m.participants.roles == ["initiator", "respondent"]
        assert m.default_view_policy == "windowed_summary"
        assert m.expectations == [Expectation("max_silence", "audit", {"seconds": 3600})]

    def test_same_side_may_send_twice_and_turns_count(self) -> None:
        state = self.state
        for i, sender in enumerate([BOB, BOB, ALICE, ALICE, BOB], start=1):
            state, result = admit(self.adapter, self.meta, state, text(sender, eid=f"e{i}"))
            assert result == AdapterResult()
        assert state == ConversationState(turn_count=5, last_speaker_id=BOB, last_envelope_id="e5")

    def test_outsider_text_rejected(self) -> None:
        with pytest.raises(ProtocolError, match="not a participant"):
            self.adapter.validate_send(self.meta, text(CAROL), self.state)

    def test_non_text_passes_without_a_turn(self) -> None:
        env = Envelope("s1", CAROL, None, EV_PACKET, {"body": "x"})
        state, result = admit(self.adapter, self.meta, self.state, env)
        assert state == ConversationState()
        assert result == AdapterResult()

    def test_never_auto_closes(self) -> None:
        state = ConversationState(turn_count=10_000, last_speaker_id=ALICE)
        assert (
            self.adapter.on_accepted(self.meta, text(ALICE, "TERMINATE"), state) == AdapterResult()
        )

    def test_default_view_is_windowed_10(self) -> None:
        view = self.adapter.default_view_policy(self.meta, ALICE)
        assert view == WindowedSummary(recent_n=10)
        assert view != WindowedSummary(recent_n=11)

    def test_validate_create(self) -> None:
        self.adapter.validate_create(self.meta)
        with pytest.raises(ProtocolError, match="exactly 2"):
            self.adapter.validate_create(
                metadata(self.adapter, [(ALICE, ParticipantRole.INITIATOR)])
            )


class KeywordConversation(ConversationAdapter):
    """The sentinel pattern from the docs: close when a text contains a keyword."""

    keyword = "GOODBYE"

    def on_accepted(
        self, metadata: SessionMetadata, envelope: Envelope, state: Any
    ) -> AdapterResult:
        body = self.extract_turn_input(envelope)
        if isinstance(body, str) and self.keyword in body:
            return AdapterResult(SessionState.CLOSED, f"terminate_keyword:{self.keyword}")
        return super().on_accepted(metadata, envelope, state)


def test_sentinel_subclass_closes_on_keyword_and_keeps_the_manifest() -> None:
    adapter = KeywordConversation()
    assert adapter.manifest.type == "conversation"
    meta = metadata(adapter)
    state = adapter.initial_state(meta)
    state, result = admit(adapter, meta, state, text(ALICE, "hello"))
    assert result == AdapterResult()
    state, result = admit(adapter, meta, state, text(BOB, "ok GOODBYE then"))
    assert result == AdapterResult(SessionState.CLOSED, "terminate_keyword:GOODBYE")
    assert state.turn_count == 2
    # A keyword in a non-text event does not close.
    _, result = admit(adapter, meta, state, Envelope("s1", BOB, None, "app.x", {"text": "GOODBYE"}))
    assert result == AdapterResult()


# --- defaults --------------------------------------------------------------------------


def test_default_adapters_are_fresh_instances() -> None:
    first, second = default_adapters(), default_adapters()
    assert [type(a) for a in first] == [
        ConsultingAdapter,
        ConversationAdapter,
        DiscussionAdapter,
        WorkflowAdapter,
    ]
    assert all(a is not b for a, b in zip(first, second, strict=True))
    assert all(isinstance(a, SessionAdapter) for a in first)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (text(ALICE, "hello"), "hello"),
        (text(ALICE, ""), ""),
        (text(ALICE, 42), None),
        (Envelope("s1", ALICE, None, EV_TEXT, {}), None),
        (Envelope("s1", ALICE, None, "app.x", {"text": "hello"}), None),
        (Envelope("s1", ALICE, None, EV_SESSION_INVITE_ACK, {"text": "hello"}), None),
    ],
)
def test_default_render_and_turn_input(env: Envelope, expected: str | None) -> None:
    assert default_render_envelope(env) == expected
    assert default_extract_turn_input(env) == expected
    for adapter in default_adapters():
        assert adapter.render_envelope(env) == expected
        assert adapter.extract_turn_input(env) == expected


class _Reply:
    def __init__(self, body: Any) -> None:
        self.body = body


@pytest.mark.parametrize("body", ["", "   ", None, 7])
def test_default_round_envelope_empty_reply_posts_nothing(body: Any) -> None:
    meta = metadata(ConversationAdapter())
    assert default_build_round_envelope(meta, BOB, _Reply(body)) is None
    assert (
        ConversationAdapter().build_round_envelope(meta, BOB, _Reply(body), [], None, None) is None
    )


def test_default_round_envelope_broadcasts_text() -> None:
    meta = metadata(ConsultingAdapter())
    env = ConsultingAdapter().build_round_envelope(meta, BOB, _Reply("answer"), [], None, None)
    assert env == Envelope("s1", BOB, None, EV_TEXT, {"text": "answer"})
    # A bare string reply works too.
    assert default_build_round_envelope(meta, BOB, "plain") == Envelope(
        "s1", BOB, None, EV_TEXT, {"text": "plain"}
    )


class TestDumpState:
    """``BaseAdapter.dump_state``: what snapshots and every turn probe carry."""

    def test_a_flat_state_dumps_its_fields_and_loads_back(self) -> None:
        adapter = ConversationAdapter()
        state = ConversationState(turn_count=3, last_speaker_id=BOB, last_envelope_id="e3")
        data = adapter.dump_state(state)
        assert data == {"turn_count": 3, "last_speaker_id": BOB, "last_envelope_id": "e3"}
        assert adapter.dump_state(state) == data  # the second call (cached field names) agrees
        assert adapter.load_state(metadata(adapter), data) == state

    def test_a_nested_state_is_deep_copied(self) -> None:
        from dataclasses import dataclass, field

        @dataclass
        class Nested:
            names: list[str] = field(default_factory=list)
            count: int = 0

        state = Nested(["a"], 1)
        data = ConversationAdapter().dump_state(state)
        data["names"].append("b")
        assert data == {"names": ["a", "b"], "count": 1} and state.names == ["a"]

    @pytest.mark.parametrize("state", [{"turn_count": 1}, ConversationState, 7])
    def test_what_is_not_a_dataclass_instance_is_refused(self, state: Any) -> None:
        with pytest.raises(TypeError, match="cannot snapshot"):
            ConversationAdapter().dump_state(state)
