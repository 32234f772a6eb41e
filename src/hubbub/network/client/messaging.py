"""The ``say`` and ``delegate`` network tools (spec §18.2).

* ``say(content, audience=None, session_id=None)`` posts a text into a session (the
  current one by default) through the session adapter's ``build_text_envelope``;
  audience names are resolved to ids. A turn that says something into its own session
  posts no final text afterwards (the say rule, see ``handlers``).
* ``delegate(target, prompt, capability=None, timeout=300.0)`` asks another agent one
  question in a fresh ``consulting`` session and returns its answer. The prompt carries
  ``depth = current handling depth + 1``; the hub refuses it past the sender's
  ``Rule.limits.delegation_depth`` (code ``delegation_too_deep``).

Both return ``"Error: ..."`` strings instead of raising, so the model can recover.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from hubbub.network.adapters.base import default_build_text_envelope
from hubbub.network.client.inject import AgentClientInject, SessionInject
from hubbub.network.envelope import (
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_SESSION_INVITE_REJECT,
    EV_TEXT,
    EV_TURN_FAILED,
    Envelope,
)
from hubbub.network.errors import NetworkError, SessionTimeoutError

if TYPE_CHECKING:
    from hubbub.network.client.agent_client import AgentClient

__all__ = ["close_quietly", "delegate", "no_client", "say", "seed_depth"]

log = logging.getLogger(__name__)

#: What ``delegate`` waits for in its consulting session, besides the target's text.
_ENDINGS = frozenset({EV_SESSION_CLOSED, EV_SESSION_EXPIRED, EV_SESSION_INVITE_REJECT})

_FAILURES = (NetworkError, ValueError, RuntimeError)


def seed_depth(client: AgentClient) -> int:
    """The depth of a message a tool sends into a session it opened: one hop deeper
    than the envelope being handled (1 outside a handler)."""
    return client.current_handling_depth + 1


async def close_quietly(client: AgentClient, session_id: str, reason: str) -> None:
    """Close a session a tool opened and gave up on; a refusal is only logged."""
    try:
        await client.close_session(session_id, reason=reason)
    except Exception:
        log.info("could not close session %s (%s)", session_id, reason, exc_info=True)


def no_client(tool_name: str) -> str:
    """The error a network tool returns when no AgentClient reaches it."""
    return f"Error: {tool_name} works only for an agent registered on a hub"


async def say(
    content: str,
    audience: list[str] | None = None,
    session_id: str | None = None,
    *,
    session: SessionInject,
    client: AgentClientInject,
) -> str:
    """Post a message into a session (default: the current one).

    `audience`: names of the participants who should receive it (default: everyone).
    `session_id`: another session you take part in.
    Returns "posted envelope <id>". Once you have said your answer this way, your
    final reply is not posted again.
    """
    c: AgentClient | None = client
    if c is None:
        return no_client("say")
    sid = session_id or (session.session_id if session is not None else None)
    if not sid:
        return "Error: say needs session_id= outside a session"
    if not isinstance(content, str) or not content.strip():
        return "Error: say needs non-empty content"
    try:
        ids = None
        if audience is not None:
            if isinstance(audience, str):
                audience = [audience]
            ids = [await c._resolve_agent(name) for name in audience]
        handle = await c.session(sid)
        adapter = await c.adapter_for(sid)
        handling = c.handling_envelope
        causation = (
            handling.envelope_id if handling is not None and handling.session_id == sid else None
        )
        build = getattr(adapter, "build_text_envelope", None)
        envelope: Envelope = (build or default_build_text_envelope)(
            handle.metadata, c.agent_id, content, audience=ids, causation_id=causation
        )
        envelope_id = await c.send_envelope(envelope)
    except _FAILURES as exc:
        return f"Error: {exc}"
    c._note_said(sid)
    return f"posted envelope {envelope_id}"


async def delegate(
    target: str,
    prompt: str,
    capability: str | None = None,
    timeout: float = 300.0,  # noqa: ASYNC109 - the tool's argument (spec §18.2)
    *,
    client: AgentClientInject,
) -> str:
    """Ask another agent (`target`: its name) one question and return its answer.

    Opens a consulting session, sends `prompt`, waits up to `timeout` seconds for
    the reply. `capability`: the capability you are asking for (recorded with the
    session).
    """
    if client is None:
        return no_client("delegate")
    return await _delegate(client, target, prompt, capability, timeout)


async def _delegate(
    c: AgentClient,
    target: str,
    prompt: str,
    capability: str | None,
    timeout: Any,  # noqa: ASYNC109 - the tool's argument, checked below
) -> str:
    if not isinstance(target, str) or not target:
        return "Error: delegate needs target= (an agent name)"
    if not isinstance(prompt, str) or not prompt.strip():
        return "Error: delegate needs a non-empty prompt="
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout < float("inf")
    ):
        return f"Error: delegate timeout= must be a positive number of seconds, got {timeout!r}"
    try:
        target_id = await c._resolve_agent(target)
        if target_id == c.agent_id:
            return "Error: an agent cannot delegate to itself"
        sub = await c.open(
            type="consulting",
            target=target_id,
            knobs={"capability": capability} if capability else None,
        )
    except _FAILURES as exc:
        return f"Error: could not open a consulting session with {target}: {exc}"
    sid = sub.session_id
    c.ensure_session_inbox(sid)
    c._suppress_handler(sid)  # the answer is this tool's to read, not a turn's to answer
    try:
        try:
            await sub.send(prompt, depth=seed_depth(c))
        except _FAILURES as exc:
            await close_quietly(c, sid, "seed_failed")
            return f"Error: the prompt to {target} was refused: {exc}"
        try:
            answer = await c.wait_for_session_event(
                session_id=sid,
                predicate=lambda e: (
                    (e.event_type == EV_TEXT and e.sender_id == target_id)
                    or e.event_type in _ENDINGS
                    or (e.event_type == EV_TURN_FAILED and e.sender_id == target_id)
                ),
                timeout=timeout,
            )
        except SessionTimeoutError:
            await close_quietly(c, sid, "delegate_timeout")
            return f"Error: {target} did not answer within {timeout:g} s (timed out)"
        except RuntimeError as exc:
            return f"Error: {exc}"
        return _answer_text(target, answer)
    except asyncio.CancelledError:  # the turn was cancelled (e.g. its timeout)
        await close_quietly(c, sid, "delegate_cancelled")
        raise
    finally:
        c._unsuppress_handler(sid)
        c.discard_session_inbox(sid)


def _answer_text(target: str, answer: Envelope) -> str:
    data = answer.event_data
    if answer.event_type == EV_TEXT:
        text = data.get("text")
        return text if isinstance(text, str) else str(text)
    if answer.event_type == EV_TURN_FAILED:
        return f"Error: {target}'s turn failed ({data.get('code')}): {data.get('message')}"
    if answer.event_type == EV_SESSION_INVITE_REJECT:
        return f"Error: {target} rejected the consulting session"
    reason = data.get("reason") or "unknown"
    return f"Error: session closed: {reason} before {target} answered"
