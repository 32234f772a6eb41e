"""The default notify handler: auto-ack invites, and answer substantive envelopes with a turn.

Routing by event type:

* ``EV_SESSION_INVITE`` → post ``EV_SESSION_INVITE_ACK`` (failures are logged; the hub
  times the open out);
* any other ``ag2.session.*`` / ``ag2.task.*`` → nothing (the client already tracked it);
* anything else → the substantive path: skip unless the session is ACTIVE and the hub
  would accept a reply now (``can_send``), seed a fresh stream with the participant's
  view of the session, run ``agent.ask``, and post what the adapter builds from the
  reply (nothing for an empty reply, which halts an auto-driven chain).

The view comes from the client's incremental ``Projection`` of the session, so a turn
costs the same at message 10 and at message 10,000; only a custom view policy without
``projection()`` falls back to reading the WAL. Any exception in the substantive path is
logged and reported to the hub as a turn failure; the session stays alive.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hubbub.events import BaseEvent
from hubbub.network.envelope import (
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    Envelope,
    is_protocol_event,
)
from hubbub.network.errors import NetworkError
from hubbub.network.policies import AGENT_CLIENT_DEP, HUB_DEP, SESSION_DEP, SESSION_STATE_DEP
from hubbub.network.session import SessionMetadata, SessionState
from hubbub.stream import MemoryStream

if TYPE_CHECKING:
    from hubbub.network.client.agent_client import AgentClient
    from hubbub.network.client.session import Session
    from hubbub.network.views import ViewPolicy

__all__ = [
    "default_handler",
    "read_wal_until",
    "resolve_view_policy",
    "stamp_dependencies",
]

log = logging.getLogger(__name__)


async def default_handler(envelope: Envelope, client: AgentClient) -> None:
    """Handle one delivered envelope the way an autonomous agent should (see module doc)."""
    event_type = envelope.event_type
    if event_type == EV_SESSION_INVITE:
        await _ack_invite(envelope, client)
    elif not is_protocol_event(event_type):
        await _substantive(envelope, client)


async def read_wal_until(client: AgentClient, envelope: Envelope) -> list[Envelope]:
    """The session's envelopes visible to ``client``, up to but excluding ``envelope``.

    Reads the WAL (O(history)); the default handler only uses it for view policies
    that cannot project incrementally.
    """
    wal = await client.read_wal(envelope.session_id)
    seq = envelope.sequence
    if seq:
        return [e for e in wal if e.sequence < seq]
    out: list[Envelope] = []
    for e in wal:
        if e.envelope_id == envelope.envelope_id:
            break
        out.append(e)
    return out


def resolve_view_policy(client: AgentClient, metadata: SessionMetadata) -> ViewPolicy:
    """The view policy for ``client``'s turns in the session (the hub's default for it)."""
    return client.connection.default_view_policy(metadata.session_id, client.agent_id)


def stamp_dependencies(client: AgentClient, session: Session) -> dict[Any, Any]:
    """The DI values of one network turn: session handle, client, hub, adapter state."""
    return {
        SESSION_DEP: session,
        AGENT_CLIENT_DEP: client,
        HUB_DEP: client.hub,
        SESSION_STATE_DEP: client.adapter_state(session.session_id),
    }


async def _ack_invite(envelope: Envelope, client: AgentClient) -> None:
    session_id = envelope.event_data.get("session_id") or envelope.session_id
    ack = Envelope(
        session_id=envelope.session_id,
        sender_id=client.agent_id,
        audience=None,
        event_type=EV_SESSION_INVITE_ACK,
        event_data={"session_id": session_id},
        causation_id=envelope.envelope_id,
    )
    try:
        await client.send_envelope(ack)
    except Exception:
        log.warning(
            "agent %s could not ack the invite to session %s",
            client.agent_id,
            envelope.session_id,
            exc_info=True,
        )


async def _substantive(envelope: Envelope, client: AgentClient) -> None:
    session_id = envelope.session_id
    if envelope.sender_id == client.agent_id:
        return  # never answer yourself (an audience may list its own sender)
    try:
        record = await client._turn_record(session_id)
        if record is None or record.state is not SessionState.ACTIVE:
            return
        adapter = record.adapter
        metadata = record.metadata
        session = record.handle
        if adapter is None or metadata is None or session is None:
            return
        turn_input = adapter.extract_turn_input(envelope)
        if turn_input is None or turn_input == "":
            return
        me = client.agent_id
        # The turn probe: never pay for a model call the hub would refuse to post.
        if not client.connection.can_send(session_id, me):
            return
        projection = record.projection
        history: list[BaseEvent]
        if projection is not None:
            history = projection.events(before_sequence=envelope.sequence or None)
        else:
            view = record.view or resolve_view_policy(client, metadata)
            history = await view.project(
                await read_wal_until(client, envelope),
                participant_id=me,
                session=metadata,
                render_envelope=adapter.render_envelope,
            )
        stream = MemoryStream()
        if history:
            await stream.history.replace(history)
        reply = await client.agent.ask(
            turn_input, stream=stream, dependencies=stamp_dependencies(client, session)
        )
        if record.terminal:
            return  # the turn closed the session (e.g. an end-conversation tool)
        events = (await stream.history.get_events())[len(history) :]
        out = adapter.build_round_envelope(
            metadata, me, reply, events, client.adapter_state(session_id), client.hub
        )
        if out is None:
            return  # empty reply: send nothing, which halts an auto-driven chain
        out.causation_id = envelope.envelope_id
        try:
            await client.send_envelope(out)
        except NetworkError as exc:
            if await _closed_meanwhile(client, session_id):
                log.debug(
                    "reply in session %s dropped: the session ended first (%s)", session_id, exc
                )
                return
            raise
    except Exception as exc:
        log.exception(
            "agent %s failed handling envelope %s in session %s",
            client.agent_id,
            envelope.envelope_id,
            session_id,
        )
        await client.report_turn_failure(envelope, exc)


async def _closed_meanwhile(client: AgentClient, session_id: str) -> bool:
    """True when the session is over (a reply racing the close is not a failure)."""
    try:
        meta = await client.get_session(session_id)
    except NetworkError:
        return False
    return meta.is_terminal()
