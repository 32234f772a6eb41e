"""Conversation: free-form two-party exchange; either side, any time, never auto-closes.

A participant's ``EV_TURN_FAILED`` is delivered to the other like any message and
changes nothing else: the session stays open, the other side decides what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubbub.network.adapters.base import BaseAdapter, check_turn_failed
from hubbub.network.envelope import EV_TEXT, EV_TURN_FAILED, Envelope
from hubbub.network.errors import ProtocolError
from hubbub.network.session import Expectation, ParticipantSchema, SessionManifest, SessionMetadata

if TYPE_CHECKING:
    # Not imported at runtime: views imports adapters.base, which runs this
    # package's __init__, so a top-level import here is a cycle when views loads first.
    from hubbub.network.views import ViewPolicy

__all__ = ["CONVERSATION_TYPE", "ConversationAdapter", "ConversationState"]

CONVERSATION_TYPE = "conversation"


@dataclass(slots=True, frozen=True)
class ConversationState:
    """A count of texts and who spoke last (a hint for observers)."""

    turn_count: int = 0
    last_speaker_id: str | None = None
    last_envelope_id: str | None = None


# States are frozen, so every session starts from this one object.
_START = ConversationState()


class ConversationAdapter(BaseAdapter):
    """Two participants, no turn order, no auto-close.

    Subclass it and override ``on_accepted`` for a sentinel (e.g. close on a
    keyword); call ``super().__init__()`` to keep the manifest.
    """

    def __init__(self) -> None:
        self.manifest = SessionManifest(
            type=CONVERSATION_TYPE,
            version=1,
            participants=ParticipantSchema(min=2, max=2, roles=["initiator", "respondent"]),
            default_view_policy="windowed_summary",
            expectations=[Expectation("max_silence", "audit", {"seconds": 3600})],
        )

    def initial_state(self, metadata: SessionMetadata) -> ConversationState:
        """No turns yet."""
        return _START

    def validate_create(self, metadata: SessionMetadata) -> None:
        """Exactly one initiator and one respondent."""
        self.require_two_party(metadata)

    def validate_send(self, metadata: SessionMetadata, envelope: Envelope, state: Any) -> None:
        """Texts only from participants; a well-formed ``EV_TURN_FAILED``; anything else passes."""
        et = envelope.event_type
        if et == EV_TEXT:
            if not metadata.is_participant(envelope.sender_id):
                raise ProtocolError(
                    f"conversation session {metadata.session_id}: {envelope.sender_id} is not a participant"
                )
        elif et == EV_TURN_FAILED:
            check_turn_failed(metadata, envelope)

    def fold(self, envelope: Envelope, state: Any) -> ConversationState:
        """Count texts and remember the last speaker."""
        if envelope.event_type != EV_TEXT:
            return state  # type: ignore[no-any-return]
        return ConversationState(state.turn_count + 1, envelope.sender_id, envelope.envelope_id)

    def default_view_policy(self, metadata: SessionMetadata, participant_id: str) -> ViewPolicy:
        """The last ten messages plus a summary line."""
        from hubbub.network.views import WindowedSummary

        return WindowedSummary(recent_n=10)
