"""Discussion: N participants speak in a fixed round-robin order, starting with the creator.

Only the expected next speaker may post a text; everyone else's default handler
sees the fan-out, fails the turn probe and makes no model call (turn skipping).
Never closes by itself: end it with ``session.close``, TTL, an expectation, or a
subclass of this adapter with its own ``on_accepted``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubbub.network.adapters.base import BaseAdapter, check_turn_failed
from hubbub.network.envelope import EV_TEXT, EV_TURN_FAILED, Envelope
from hubbub.network.errors import ProtocolError
from hubbub.network.session import Expectation, ParticipantSchema, SessionManifest, SessionMetadata

if TYPE_CHECKING:
    from hubbub.network.views import ViewPolicy

__all__ = ["DISCUSSION_TYPE", "ORDERING_ROUND_ROBIN", "DiscussionAdapter", "DiscussionState"]

DISCUSSION_TYPE = "discussion"
ORDERING_ROUND_ROBIN = "round_robin"


@dataclass(slots=True, frozen=True)
class DiscussionState:
    """The rotation, whose turn it is, and a count of texts."""

    participant_order: tuple[str, ...] = ()
    expected_next_speaker: str | None = None
    last_speaker_id: str | None = None
    last_envelope_id: str | None = None
    turn_count: int = 0


class DiscussionAdapter(BaseAdapter):
    """Round-robin multi-party discussion (knob ``ordering``: only ``"round_robin"``)."""

    def __init__(self) -> None:
        self.manifest = SessionManifest(
            type=DISCUSSION_TYPE,
            version=1,
            participants=ParticipantSchema(min=2, max=None, roles=["initiator", "participant"]),
            knobs_schema={"ordering": "str"},
            default_view_policy="windowed_summary",
            expectations=[
                Expectation("turn_within", "warn", {"seconds": 120}),
                Expectation("turn_within", "hide", {"seconds": 600}),
            ],
        )

    def initial_state(self, metadata: SessionMetadata) -> DiscussionState:
        """Order = participants by ``order``; the creator speaks first."""
        order = tuple(p.agent_id for p in sorted(metadata.participants, key=lambda p: p.order))
        first = (
            metadata.creator_id if metadata.creator_id in order else (order[0] if order else None)
        )
        return DiscussionState(order, first)

    def validate_create(self, metadata: SessionMetadata) -> None:
        """At least two participants; ``ordering`` absent or ``"round_robin"``."""
        super().validate_create(metadata)
        ordering = metadata.knobs.get("ordering", ORDERING_ROUND_ROBIN)
        if ordering != ORDERING_ROUND_ROBIN:
            raise ProtocolError(
                f"discussion session: knobs.ordering must be {ORDERING_ROUND_ROBIN!r}, got {ordering!r:.80}"
            )

    def validate_send(self, metadata: SessionMetadata, envelope: Envelope, state: Any) -> None:
        """A text only from the expected speaker; a well-formed ``EV_TURN_FAILED``; others pass."""
        et = envelope.event_type
        if et == EV_TEXT:
            sender = envelope.sender_id
            if sender != state.expected_next_speaker:
                if not metadata.is_participant(sender):
                    raise ProtocolError(
                        f"discussion session {metadata.session_id}: {sender} is not a participant"
                    )
                raise ProtocolError(
                    f"discussion session {metadata.session_id} expects "
                    f"{state.expected_next_speaker} to speak, got {sender}"
                )
        elif et == EV_TURN_FAILED:
            check_turn_failed(metadata, envelope)

    def fold(self, envelope: Envelope, state: Any) -> DiscussionState:
        """A text from a member of the rotation passes the turn to the next one."""
        if envelope.event_type != EV_TEXT:
            return state  # type: ignore[no-any-return]
        order = state.participant_order
        sender = envelope.sender_id
        if sender not in order:
            return state  # type: ignore[no-any-return]
        nxt = order[(order.index(sender) + 1) % len(order)]
        return DiscussionState(order, nxt, sender, envelope.envelope_id, state.turn_count + 1)

    def default_view_policy(self, metadata: SessionMetadata, participant_id: str) -> ViewPolicy:
        """The last max(2N, 4) messages plus a summary line."""
        from hubbub.network.views import WindowedSummary

        return WindowedSummary(recent_n=max(2 * len(metadata.participants), 4))

    def dump_state(self, state: Any) -> dict[str, Any]:
        """JSON-ready fields (the order as a list)."""
        return {
            "participant_order": list(state.participant_order),
            "expected_next_speaker": state.expected_next_speaker,
            "last_speaker_id": state.last_speaker_id,
            "last_envelope_id": state.last_envelope_id,
            "turn_count": state.turn_count,
        }

    def load_state(self, metadata: SessionMetadata, data: dict[str, Any]) -> DiscussionState:
        """The inverse of ``dump_state``."""
        return DiscussionState(
            tuple(data["participant_order"]),
            data["expected_next_speaker"],
            data["last_speaker_id"],
            data["last_envelope_id"],
            data["turn_count"],
        )
