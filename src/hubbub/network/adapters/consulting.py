"""Consulting: one question from the initiator, one reply from the respondent, then close.

The respondent's ``EV_TURN_FAILED`` in place of its reply (its turn failed: provider
error, timeout, crash) closes the session with reason ``turn_failed``, so the asker hears
at once instead of waiting for ``reply_within``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubbub.network.adapters.base import STAY, AdapterResult, BaseAdapter, check_turn_failed
from hubbub.network.envelope import EV_TEXT, EV_TURN_FAILED, Envelope
from hubbub.network.errors import ProtocolError
from hubbub.network.session import (
    Expectation,
    ParticipantSchema,
    SessionManifest,
    SessionMetadata,
    SessionState,
)

if TYPE_CHECKING:
    # Not imported at runtime: views imports adapters.base, which runs this
    # package's __init__, so a top-level import here is a cycle when views loads first.
    from hubbub.network.views import ViewPolicy

__all__ = ["CONSULTING_TYPE", "ConsultingAdapter", "ConsultingState"]

CONSULTING_TYPE = "consulting"


@dataclass(slots=True, frozen=True)
class ConsultingState:
    """Whether the question was asked and whether it was answered."""

    initiator_sent: bool = False
    respondent_replied: bool = False
    last_envelope_id: str | None = None


# States are frozen, so every session starts from this one object.
_START = ConsultingState()
_COMPLETE = AdapterResult(SessionState.CLOSED, "consulting_complete")
_TURN_FAILED = AdapterResult(SessionState.CLOSED, "turn_failed")


class ConsultingAdapter(BaseAdapter):
    """Strict one-question-one-reply between an initiator and a respondent."""

    def __init__(self) -> None:
        self.manifest = SessionManifest(
            type=CONSULTING_TYPE,
            version=1,
            participants=ParticipantSchema(min=2, max=2, roles=["initiator", "respondent"]),
            default_view_policy="full_transcript",
            expectations=[
                Expectation("acks_within", "auto_close", {"seconds": 30}),
                Expectation("reply_within", "auto_close", {"seconds": 600}),
            ],
        )

    def initial_state(self, metadata: SessionMetadata) -> ConsultingState:
        """Nothing asked, nothing answered."""
        return _START

    def validate_create(self, metadata: SessionMetadata) -> None:
        """Exactly one initiator and one respondent."""
        self.require_two_party(metadata)

    def validate_send(self, metadata: SessionMetadata, envelope: Envelope, state: Any) -> None:
        """The initiator asks first, the respondent answers once, nothing after that.

        An ``EV_TURN_FAILED`` must be well formed (``check_turn_failed``); other
        non-text envelopes pass.
        """
        if envelope.event_type != EV_TEXT:
            if envelope.event_type == EV_TURN_FAILED:
                check_turn_failed(metadata, envelope)
            return
        if state.initiator_sent and state.respondent_replied:
            raise ProtocolError(f"consulting session {metadata.session_id} is already complete")
        if not state.initiator_sent:
            if envelope.sender_id != metadata.creator_id:
                raise ProtocolError(
                    f"consulting session {metadata.session_id}: the initiator must ask first, "
                    f"got a text from {envelope.sender_id}"
                )
        elif envelope.sender_id == metadata.creator_id or not metadata.is_participant(
            envelope.sender_id
        ):
            raise ProtocolError(
                f"consulting session {metadata.session_id}: only the respondent may reply, "
                f"got a text from {envelope.sender_id}"
            )

    def fold(self, envelope: Envelope, state: Any) -> ConsultingState:
        """First text = the question, second text = the reply."""
        if envelope.event_type != EV_TEXT:
            return state  # type: ignore[no-any-return]
        if not state.initiator_sent:
            return ConsultingState(True, False, envelope.envelope_id)
        if not state.respondent_replied:
            return ConsultingState(True, True, envelope.envelope_id)
        return state  # type: ignore[no-any-return]

    def on_accepted(
        self, metadata: SessionMetadata, envelope: Envelope, state: Any
    ) -> AdapterResult:
        """Close with ``consulting_complete`` once the reply is in, or with ``turn_failed``
        when the respondent reports a failed turn after the question and before a reply."""
        et = envelope.event_type
        if et == EV_TEXT:
            if state.initiator_sent and state.respondent_replied:
                return _COMPLETE
        elif (
            et == EV_TURN_FAILED
            and state.initiator_sent
            and not state.respondent_replied
            and envelope.sender_id != metadata.creator_id
        ):
            return _TURN_FAILED
        return STAY

    def default_view_policy(self, metadata: SessionMetadata, participant_id: str) -> ViewPolicy:
        """The whole (two-message) transcript."""
        from hubbub.network.views import FullTranscript

        return FullTranscript()
