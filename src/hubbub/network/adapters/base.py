"""The adapter contract: pure state machines that decide what a session accepts.

An adapter never awaits, never reads a clock, never touches a store: the hub
stamps ids and time before the adapter sees an envelope, so the same WAL always
folds to the same state (that is what makes replay exact).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hubbub.network.envelope import EV_PACKET, EV_TEXT, EV_TURN_FAILED, Envelope
from hubbub.network.errors import ProtocolError
from hubbub.network.session import ParticipantRole, SessionManifest, SessionMetadata, SessionState

if TYPE_CHECKING:
    from hubbub.network.views import ViewPolicy
    from hubbub.tools import Tool

__all__ = [
    "AdapterResult",
    "AdapterState",
    "BaseAdapter",
    "SessionAdapter",
    "check_turn_failed",
    "default_build_packet_envelope",
    "default_build_round_envelope",
    "default_build_text_envelope",
    "default_extract_turn_input",
    "default_render_envelope",
    "default_tools_for",
    "text_of",
]


@runtime_checkable
class AdapterState(Protocol):
    """Marker for per-session adapter bookkeeping; the hub treats it opaquely."""


@dataclass(slots=True, frozen=True)
class AdapterResult:
    """What ``on_accepted`` decided: stay (``next_state=None``) or end the session."""

    next_state: SessionState | None = None
    auto_close_reason: str = ""


STAY = AdapterResult()


@runtime_checkable
class SessionAdapter(Protocol):
    """The rules of one session type (see spec §10.1 for when each method runs).

    Three more methods are optional (:class:`BaseAdapter` has them; the client falls
    back to the ``default_*`` functions of this module for an adapter without them):
    ``tools_for(client, metadata, state, participant_id) -> list`` — extra tools a
    participant's turn gets; ``build_text_envelope(metadata, sender_id, text, ...)`` and
    ``build_packet_envelope(metadata, sender_id, body, ...)`` — the envelopes the
    network tools post (``say`` posts a text).
    """

    manifest: SessionManifest

    def initial_state(self, metadata: SessionMetadata) -> Any:
        """Fresh bookkeeping for a new session (also the start of every replay)."""
        ...

    def validate_create(self, metadata: SessionMetadata) -> None:
        """Raise ProtocolError on a wrong participant count, roles or knobs."""
        ...

    def validate_send(self, metadata: SessionMetadata, envelope: Envelope, state: Any) -> None:
        """Raise ProtocolError to reject ``envelope`` given the state before folding it."""
        ...

    def fold(self, envelope: Envelope, state: Any) -> Any:
        """Return the state after ``envelope``; pure and deterministic."""
        ...

    def on_accepted(
        self, metadata: SessionMetadata, envelope: Envelope, state: Any
    ) -> AdapterResult:
        """Decide, from the state after folding, whether the session ends."""
        ...

    def default_view_policy(self, metadata: SessionMetadata, participant_id: str) -> ViewPolicy:
        """The view a participant's turn is built from."""
        ...

    def extract_turn_input(self, envelope: Envelope) -> Any:
        """What the agent is asked; None or "" skips the round."""
        ...

    def build_round_envelope(
        self,
        metadata: SessionMetadata,
        sender_id: str,
        reply: Any,
        events: Any,
        state: Any,
        hub: Any,
    ) -> Envelope | None:
        """The envelope a finished turn posts, or None to post nothing."""
        ...

    def render_envelope(self, envelope: Envelope) -> str | None:
        """Text of an envelope for views; None leaves it out."""
        ...


def check_turn_failed(metadata: SessionMetadata, envelope: Envelope) -> None:
    """Raise ProtocolError (``bad_envelope``) unless an ``EV_TURN_FAILED`` is well formed.

    Its data is ``{"code": str, "message": str, "envelope_id": str | None}``: the error
    code (a NetworkError code, ``"turn_failed"``, ``"provider_error"`` or ``"timeout"``),
    a short message, and the envelope whose handling failed.
    """
    data = envelope.event_data
    code = data.get("code")
    if not isinstance(code, str) or not code:
        raise ProtocolError(
            f"session {metadata.session_id}: an {EV_TURN_FAILED} envelope needs "
            "event_data.code as a non-empty string",
            code="bad_envelope",
        )
    if not isinstance(data.get("message"), str):
        raise ProtocolError(
            f"session {metadata.session_id}: an {EV_TURN_FAILED} envelope needs "
            "event_data.message as a string",
            code="bad_envelope",
        )
    failed = data.get("envelope_id")
    if failed is not None and not isinstance(failed, str):
        raise ProtocolError(
            f"session {metadata.session_id}: an {EV_TURN_FAILED} envelope's "
            "event_data.envelope_id must be a string",
            code="bad_envelope",
        )


def text_of(envelope: Envelope) -> str | None:
    """The ``text`` of an EV_TEXT envelope when it is a string, else None."""
    if envelope.event_type != EV_TEXT:
        return None
    text = envelope.event_data.get("text")
    return text if isinstance(text, str) else None


def default_extract_turn_input(envelope: Envelope) -> str | None:
    """EV_TEXT → its text; anything else → None."""
    return text_of(envelope)


def default_render_envelope(envelope: Envelope) -> str | None:
    """EV_TEXT → its text; anything else is not shown."""
    return text_of(envelope)


def default_build_round_envelope(
    metadata: SessionMetadata,
    sender_id: str,
    reply: Any,
    events: Any = None,
    state: Any = None,
    hub: Any = None,
) -> Envelope | None:
    """A non-empty ``reply.body`` becomes a broadcast EV_TEXT; an empty one posts nothing."""
    body = getattr(reply, "body", reply)
    if not isinstance(body, str) or not body.strip():
        return None
    return Envelope(
        session_id=metadata.session_id,
        sender_id=sender_id,
        audience=None,
        event_type=EV_TEXT,
        event_data={"text": body},
    )


def default_tools_for(
    client: Any, metadata: SessionMetadata, state: Any, participant_id: str
) -> list[Tool]:
    """No adapter-owned tools."""
    return []


def default_build_text_envelope(
    metadata: SessionMetadata,
    sender_id: str,
    text: str,
    *,
    audience: list[str] | None = None,
    causation_id: str | None = None,
    depth: int = 0,
) -> Envelope:
    """An ``EV_TEXT`` of ``text`` from ``sender_id`` (``audience`` None: everyone)."""
    return Envelope(
        session_id=metadata.session_id,
        sender_id=sender_id,
        audience=audience,
        event_type=EV_TEXT,
        event_data={"text": text},
        causation_id=causation_id,
        depth=depth,
    )


def default_build_packet_envelope(
    metadata: SessionMetadata,
    sender_id: str,
    body: str,
    *,
    routing: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    audience: list[str] | None = None,
    causation_id: str | None = None,
    depth: int = 0,
) -> Envelope:
    """An ``EV_PACKET`` ``{"body", "routing"?, "context"?}`` (spec §10.1).

    ``routing`` is e.g. ``{"kind": "handoff", "target": agent_id, "reason": "..."}``;
    keys left as None are not written.
    """
    data: dict[str, Any] = {"body": body}
    if routing is not None:
        data["routing"] = routing
    if context is not None:
        data["context"] = context
    return Envelope(
        session_id=metadata.session_id,
        sender_id=sender_id,
        audience=audience,
        event_type=EV_PACKET,
        event_data=data,
        causation_id=causation_id,
        depth=depth,
    )


_SCALARS = (str, int, float, bool)

#: Field names of each dataclass state class seen (``dump_state`` runs for every turn probe).
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    """The field names of a dataclass ``cls``, or None when it is not one."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        if not dataclasses.is_dataclass(cls):
            return None
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


class BaseAdapter:
    """Defaults for the optional parts of the adapter contract.

    Subclasses set ``manifest`` and implement ``initial_state``, ``validate_send``,
    ``fold`` and ``on_accepted``. ``dump_state``/``load_state`` turn a state into
    JSON-ready data and back (used for snapshots).
    """

    manifest: SessionManifest

    def validate_create(self, metadata: SessionMetadata) -> None:
        """Check the participant count against the manifest's schema."""
        n = len(metadata.participants)
        schema = self.manifest.participants
        if n < schema.min or (schema.max is not None and n > schema.max):
            bound = (
                f"exactly {schema.min}" if schema.max == schema.min else f"at least {schema.min}"
            )
            if schema.max is not None and schema.max != schema.min:
                bound = f"{schema.min} to {schema.max}"
            raise ProtocolError(f"{self.manifest.type} session needs {bound} participants, got {n}")

    def on_accepted(
        self, metadata: SessionMetadata, envelope: Envelope, state: Any
    ) -> AdapterResult:
        """Never end the session."""
        return STAY

    def default_view_policy(self, metadata: SessionMetadata, participant_id: str) -> ViewPolicy:
        """The manifest's named default view."""
        from hubbub.network.views import view_for_name

        return view_for_name(self.manifest.default_view_policy, metadata)

    def extract_turn_input(self, envelope: Envelope) -> Any:
        """EV_TEXT → its text."""
        return default_extract_turn_input(envelope)

    def build_round_envelope(
        self,
        metadata: SessionMetadata,
        sender_id: str,
        reply: Any,
        events: Any,
        state: Any,
        hub: Any,
    ) -> Envelope | None:
        """Non-empty reply body → EV_TEXT to everyone; empty → nothing."""
        return default_build_round_envelope(metadata, sender_id, reply)

    def render_envelope(self, envelope: Envelope) -> str | None:
        """EV_TEXT → its text."""
        return default_render_envelope(envelope)

    def tools_for(
        self, client: Any, metadata: SessionMetadata, state: Any, participant_id: str
    ) -> list[Tool]:
        """Tools this session type gives ``participant_id``'s turn (none by default).

        Called by the default handler at the start of every turn with the state the
        turn starts from; an error here is logged and the turn runs without them.
        """
        return default_tools_for(client, metadata, state, participant_id)

    def build_text_envelope(
        self,
        metadata: SessionMetadata,
        sender_id: str,
        text: str,
        *,
        audience: list[str] | None = None,
        causation_id: str | None = None,
        depth: int = 0,
    ) -> Envelope:
        """The envelope ``say`` posts: an ``EV_TEXT`` by default."""
        return default_build_text_envelope(
            metadata, sender_id, text, audience=audience, causation_id=causation_id, depth=depth
        )

    def build_packet_envelope(
        self,
        metadata: SessionMetadata,
        sender_id: str,
        body: str,
        *,
        routing: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        audience: list[str] | None = None,
        causation_id: str | None = None,
        depth: int = 0,
    ) -> Envelope:
        """An ``EV_PACKET`` (body, optional routing and context)."""
        return default_build_packet_envelope(
            metadata,
            sender_id,
            body,
            routing=routing,
            context=context,
            audience=audience,
            causation_id=causation_id,
            depth=depth,
        )

    def dump_state(self, state: Any) -> dict[str, Any]:
        """JSON-ready data of a state (for snapshots and turn probes); dataclass states
        work as they are."""
        names = _field_names(type(state))
        if names is not None:
            data = {name: getattr(state, name) for name in names}
            for value in data.values():
                if value is not None and type(value) not in _SCALARS:
                    return dataclasses.asdict(state)  # nested: a deep copy
            return data  # flat (every built-in state)
        raise TypeError(
            f"{type(self).__name__} cannot snapshot a {type(state).__name__}; override dump_state"
        )

    def load_state(self, metadata: SessionMetadata, data: dict[str, Any]) -> Any:
        """Rebuild a state from ``dump_state`` output (the inverse, for snapshots)."""
        cls = type(self.initial_state(metadata))  # type: ignore[attr-defined]
        return cls(**data)

    def require_two_party(self, metadata: SessionMetadata) -> None:
        """Raise ProtocolError unless there is exactly one initiator and one respondent."""
        BaseAdapter.validate_create(self, metadata)
        roles = sorted(p.role for p in metadata.participants)
        if roles != sorted([ParticipantRole.INITIATOR, ParticipantRole.RESPONDENT]):
            raise ProtocolError(
                f"{self.manifest.type} session needs one initiator and one respondent, "
                f"got roles {[r.value for r in roles]}"
            )
