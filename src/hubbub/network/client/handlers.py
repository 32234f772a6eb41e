"""The default notify handler: auto-ack invites, and answer substantive envelopes with a turn.

Routing by event type:

* ``EV_SESSION_INVITE`` → post ``EV_SESSION_INVITE_ACK`` (failures are logged; the hub
  times the open out);
* any other ``ag2.session.*`` / ``ag2.task.*`` → nothing (the client already tracked it);
* ``EV_TURN_FAILED`` → nothing (a peer's failure is news, not a question; the
  client already fed it to waiters);
* anything else → the substantive path: skip unless the session is ACTIVE and the hub
  would accept a reply now (one ``turn_probe`` request answers that and brings the
  adapter state), seed a fresh stream with the participant's view of the session (with
  the participants' names, from ``HubClient.names_for``, when the view
  ``wants_names``, e.g. ``NamedTranscript``), run ``agent.ask`` under
  ``client.turn_timeout`` with the adapter's ``tools_for`` tools added, and post what
  the adapter builds from the reply (nothing for an empty reply, which halts an
  auto-driven chain). The adapter builds the reply from the state the turn started
  with, read again from the hub if the turn's own tools posted into the session.

**The say rule.** A turn that spoke into its own session through the ``say`` tool has
said its piece: the adapter's round envelope is not built and nothing more is posted
(no second copy of the text; in consulting that second post would be refused).
A ``say`` into another session does not count.

A :class:`~hubbub.network.client.task_mirror.TaskMirror` watches the turn's stream, so
an ``agent.task(..., context=ctx)`` run by a tool is recorded by the hub.

The view comes from the client's incremental ``Projection`` of the session, so a turn
costs the same at message 10 and at message 10,000; only a custom view policy without
``projection()`` falls back to reading the WAL.

**A failed turn reaches the others at once.** Whatever the substantive path raises —
a provider error, a missing key, a tool crash, the turn timeout, ``SystemExit`` or any
other ``BaseException`` — is contained: it is logged (WARNING), posted into the session
as ``EV_TURN_FAILED`` (:func:`turn_failure_data`) and audited by the hub
(``client.fail_turn``). Only a real cancellation of the handling task propagates. In a
conversation the session stays alive; in consulting the failure closes it
(``turn_failed``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from typing import TYPE_CHECKING, Any

from hubbub.config.errors import ProviderError
from hubbub.events import BaseEvent
from hubbub.network.client.intercept import intercept_turn
from hubbub.network.client.routing import resolve_handoffs
from hubbub.network.client.task_mirror import TaskMirror
from hubbub.network.envelope import (
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_TURN_FAILED,
    Envelope,
    is_protocol_event,
)
from hubbub.network.errors import NetworkError, SessionTimeoutError
from hubbub.network.policies import AGENT_CLIENT_DEP, HUB_DEP, SESSION_DEP, SESSION_STATE_DEP
from hubbub.network.session import SessionMetadata, SessionState
from hubbub.network.usage import model_name, turn_usage
from hubbub.plugin import Observer
from hubbub.stream import MemoryStream
from hubbub.tools import Tool, is_cancellation, tool

if TYPE_CHECKING:
    from hubbub.network.client.agent_client import AgentClient
    from hubbub.network.client.session import Session, _SessionRecord
    from hubbub.network.views import ViewPolicy

__all__ = [
    "default_handler",
    "read_wal_until",
    "resolve_view_policy",
    "stamp_dependencies",
    "turn_failure_data",
]

log = logging.getLogger(__name__)

_UNSET: Any = object()

#: The longest ``message`` an ``EV_TURN_FAILED`` carries (longer ones are cut).
MAX_FAILURE_MESSAGE = 500


async def default_handler(envelope: Envelope, client: AgentClient) -> None:
    """Handle one delivered envelope the way an autonomous agent should (see module doc)."""
    event_type = envelope.event_type
    if event_type == EV_SESSION_INVITE:
        await _ack_invite(envelope, client)
    elif event_type != EV_TURN_FAILED and not is_protocol_event(event_type):
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
    """The view policy for ``client``'s turns in the session (its adapter's default)."""
    adapter = client.hub_client.adapter(metadata.manifest.type, metadata.manifest.version)
    return adapter.default_view_policy(metadata, client.agent_id)


def turn_failure_data(envelope: Envelope, exc: BaseException) -> dict[str, Any]:
    """The ``event_data`` of the ``EV_TURN_FAILED`` reporting that handling ``envelope``
    raised ``exc``: ``{"code": str, "message": str, "envelope_id": str}``.

    ``code`` is the error's own code for a :class:`NetworkError` (``"timeout"`` for the
    turn timeout), ``"provider_error"`` for a model-provider failure (missing key
    included) and ``"turn_failed"`` for anything else; ``message`` is
    ``"<ExceptionType>: <text>"``, cut to :data:`MAX_FAILURE_MESSAGE` characters.
    """
    if isinstance(exc, NetworkError):
        code = exc.code
    elif isinstance(exc, ProviderError):
        code = "provider_error"
    else:
        code = "turn_failed"
    text = str(exc)
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if len(message) > MAX_FAILURE_MESSAGE:
        message = message[: MAX_FAILURE_MESSAGE - 1] + "…"
    return {"code": code, "message": message, "envelope_id": envelope.envelope_id}


async def stamp_dependencies(
    client: AgentClient, session: Session, *, state: Any = _UNSET
) -> dict[Any, Any]:
    """The DI values of one network turn: session handle, client, adapter state
    (``state``, or read from the hub when not given).

    ``HUB_DEP`` (``HubInject``) is the agent's own client too: a tool reaches the
    hub only as its agent, never as the operator.
    """
    if state is _UNSET:
        state = await client.adapter_state(session.session_id)
    return {
        SESSION_DEP: session,
        AGENT_CLIENT_DEP: client,
        HUB_DEP: client,
        SESSION_STATE_DEP: state,
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
        await _turn(envelope, client)
    except BaseException as exc:  # a turn contains everything it raises ...
        if is_cancellation(exc):
            raise  # ... except the handling task itself being cancelled (shutdown)
        log.warning(
            "agent %s failed handling envelope %s in session %s",
            client.agent_id,
            envelope.envelope_id,
            session_id,
            exc_info=exc,
        )
        await client.fail_turn(envelope, exc)


async def _turn(envelope: Envelope, client: AgentClient) -> None:
    """One model turn answering ``envelope`` (raises whatever fails; see ``_substantive``).

    Once the turn is sure to run, :func:`_answer` runs it — through the client's
    interceptors when it has any (``HubClient(interceptors=...)``).
    """
    session_id = envelope.session_id
    record = await client._turn_record(session_id)
    if record is None or record.state is not SessionState.ACTIVE:
        return
    adapter = record.adapter
    if adapter is None or record.metadata is None or record.handle is None:
        return
    turn_input = adapter.extract_turn_input(envelope)
    if turn_input is None or turn_input == "":
        return
    # The turn probe: never pay for a model call the hub would refuse to post.
    can_send, state = await client.turn_probe(session_id, envelope)
    if not can_send:
        return
    interceptors = client.hub_client.interceptors
    if not interceptors:
        await _answer(envelope, client, record, turn_input, state, ())
        return

    async def answer(observers: tuple[Observer, ...]) -> Envelope | None:
        return await _answer(envelope, client, record, turn_input, state, observers)

    await intercept_turn(interceptors, envelope, client, answer)


async def _answer(
    envelope: Envelope,
    client: AgentClient,
    record: _SessionRecord,
    turn_input: Any,
    state: Any,
    observers: tuple[Observer, ...],
) -> Envelope | None:
    """Run the model turn and post its reply (with its usage); returns the reply posted.

    ``observers`` watch the turn's stream (an interceptor's spans, for instance).
    """
    session_id = envelope.session_id
    adapter, metadata, session = record.adapter, record.metadata, record.handle
    assert adapter is not None and metadata is not None and session is not None
    me = client.agent_id
    posts = record.posts
    projection = record.projection
    view = record.view or resolve_view_policy(client, metadata)
    names: dict[str, Any] = {}
    if getattr(projection if projection is not None else view, "wants_names", False):
        known = await client.hub_client.names_for(metadata.participant_ids())
        names["name_for"] = known.get
        if isinstance(turn_input, str):  # the message answered says who wrote it too
            sender = known.get(envelope.sender_id) or envelope.sender_id
            turn_input = f"{sender}: {turn_input}"
    history: list[BaseEvent]
    if projection is not None:
        history = projection.events(before_sequence=envelope.sequence or None, **names)
    else:
        history = await view.project(
            await read_wal_until(client, envelope),
            participant_id=me,
            session=metadata,
            render_envelope=adapter.render_envelope,
            **names,
        )
    # the turn's stream is named after the envelope it answers (no uuid4 per turn)
    stream = MemoryStream(id=envelope.envelope_id or None)
    if history:
        await stream.history.replace(history)
    adapter_tools = await _adapter_tools(adapter, client, metadata, state)
    # agent.task(..., context=ctx) in a tool of this turn is mirrored onto the hub
    mirror = TaskMirror(hub_client=client, owner_id=me, session_id=session_id)
    mirrored = mirror.attach(stream)
    timeout = client.turn_timeout
    deadline = client.turn_deadlines.start(timeout)
    started = time.perf_counter()
    try:
        reply = await client.agent.ask(
            turn_input,
            stream=stream,
            dependencies=await stamp_dependencies(client, session, state=state),
            tools=adapter_tools,
            observers=observers,
        )
    except asyncio.CancelledError as exc:
        if deadline is None or not deadline.expired_by(exc):
            raise
        raise SessionTimeoutError(
            f"the turn of agent {client.agent_id} in session {session_id} "
            f"did not finish within {timeout:g} s"
        ) from exc
    finally:
        client.turn_deadlines.finish(deadline)
        mirror.detach(stream, mirrored)
    latency_ms = (time.perf_counter() - started) * 1000.0
    if record.terminal:
        return None  # the turn closed the session (e.g. an end-conversation tool)
    if client._said_in_turn(session_id):
        return None  # the turn spoke through ``say``: its final text is not posted a second time
    events = (await stream.history.get_events())[len(history) :]
    await resolve_handoffs(client, metadata, events)
    if record.posts != posts:  # the turn's tools posted (e.g. set context): read it back
        state = await client.adapter_state(session_id)
    out = adapter.build_round_envelope(metadata, me, reply, events, state, client)
    if out is None:
        return None  # empty reply: send nothing, which halts an auto-driven chain
    out.causation_id = envelope.envelope_id
    if "usage" not in out.event_data:  # the turn's tokens, latency and cost (hubbub.network.usage)
        out.event_data["usage"] = turn_usage(
            events,
            latency_ms=latency_ms,
            model=model_name(client.agent.config),
            profile=client.passport.cost,
        )
    try:
        await client.send_envelope(out)
    except NetworkError as exc:
        if await _closed_meanwhile(client, session_id):
            log.debug("reply in session %s dropped: the session ended first (%s)", session_id, exc)
            return None
        raise
    return out


async def _adapter_tools(
    adapter: Any, client: AgentClient, metadata: SessionMetadata, state: Any
) -> list[Tool]:
    """The tools the session's adapter gives this turn (``tools_for``); [] when it has
    none or fails (the failure is logged: a turn never fails for want of extra tools)."""
    tools_for = getattr(adapter, "tools_for", None)
    if tools_for is None:
        return []
    try:
        found = tools_for(client, metadata, state, client.agent_id)
        if not isinstance(found, list) and inspect.isawaitable(found):  # an async tools_for
            found = await found
        if not found:
            return []
        return [t if isinstance(t, Tool) else tool(t) for t in found]
    except Exception:
        log.warning(
            "adapter %s: tools_for failed in session %s; the turn runs without its tools",
            type(adapter).__name__,
            metadata.session_id,
            exc_info=True,
        )
        return []


async def _closed_meanwhile(client: AgentClient, session_id: str) -> bool:
    """True when the session is over (a reply racing the close is not a failure)."""
    try:
        meta = await client.get_session(session_id)
    except NetworkError:
        return False
    return meta.is_terminal()
