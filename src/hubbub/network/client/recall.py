"""The ``context`` network tool: look back into a session's transcript (spec §18.2).

* ``action="search"`` — the texts (``EV_TEXT``) of the session this agent can see
  whose text contains ``query`` (case-insensitive); the last ``limit`` matches;
* ``action="quote"`` — the last ``recent_n`` texts of ``speaker`` (a name or id).

Results are lists of ``{"envelope_id", "session_id", "sequence", "speaker",
"sender_id", "text"}`` in session order. With ``scope="session"`` (the default) the
session is the current one unless ``session_id`` names another the agent takes part
in. With ``scope="knowledge"`` every session the agent takes part in is searched —
live and ended, the latest :data:`KNOWLEDGE_SESSIONS` of them — oldest session first.
Only what the hub lets this agent read is searched (a message addressed to others is
not).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from hubbub.network.adapters.base import text_of
from hubbub.network.client.inject import AgentClientInject, SessionInject
from hubbub.network.client.messaging import no_client
from hubbub.network.errors import NetworkError

if TYPE_CHECKING:
    from hubbub.network.client.agent_client import AgentClient
    from hubbub.network.envelope import Envelope

__all__ = ["KNOWLEDGE_SESSIONS", "context"]

#: How many of an agent's sessions (the latest) ``scope="knowledge"`` searches.
KNOWLEDGE_SESSIONS = 50


async def context(
    action: Literal["search", "quote"],
    query: str | None = None,
    scope: Literal["session", "knowledge"] = "session",
    speaker: str | None = None,
    recent_n: int = 1,
    limit: int = 10,
    session_id: str | None = None,
    *,
    session: SessionInject,
    client: AgentClientInject,
) -> Any:
    """Look back into a session's messages (default: the current session).

    action="search": messages containing `query` (case-insensitive), at most `limit`
    (the latest ones).
    action="quote": the last `recent_n` messages of `speaker` (an agent name).
    scope="knowledge": look in every session you take part in, not only this one.
    """
    c: AgentClient | None = client
    if c is None:
        return no_client("context")
    if scope not in ("session", "knowledge"):
        return f"Error: scope= must be 'session' or 'knowledge', got {scope!r}"
    sid: str = session_id or (session.session_id if session is not None else "")
    if scope == "session" and not sid:
        return f"Error: {action} needs session_id= outside a session"
    try:
        sids: list[str]
        if scope == "session":
            sids = [sid]
        else:
            metas = await c.list_sessions(include_terminal=True, limit=KNOWLEDGE_SESSIONS)
            metas.sort(key=lambda m: (m.created_at, m.session_id))
            sids = [m.session_id for m in metas]
        if action == "search":
            if not isinstance(query, str) or not query:
                return "Error: search needs query="
            if not _count_ok(limit):
                return f"Error: limit= must be a positive integer, got {limit!r}"
            needle = query.casefold()
            texts = [(e, t) for e, t in await _texts(c, sids) if needle in t.casefold()]
            return await _rows(c, texts[-limit:])
        if action == "quote":
            if not isinstance(speaker, str) or not speaker:
                return "Error: quote needs speaker="
            if not _count_ok(recent_n):
                return f"Error: recent_n= must be a positive integer, got {recent_n!r}"
            speaker_id = await c._resolve_agent(speaker)
            texts = [(e, t) for e, t in await _texts(c, sids) if e.sender_id == speaker_id]
            return await _rows(c, texts[-recent_n:])
        return f"Error: unknown action {action!r}"
    except (NetworkError, ValueError, RuntimeError) as exc:
        return f"Error: {exc}"


def _count_ok(n: object) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n > 0


async def _texts(c: AgentClient, session_ids: list[str]) -> list[tuple[Envelope, str]]:
    out: list[tuple[Envelope, str]] = []
    for session_id in session_ids:
        for envelope in await c.read_wal(session_id):
            text = text_of(envelope)
            if text is not None:
                out.append((envelope, text))
    return out


async def _rows(c: AgentClient, texts: list[tuple[Envelope, str]]) -> list[dict[str, Any]]:
    names: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    for envelope, text in texts:
        sender = envelope.sender_id
        if sender not in names:
            try:
                names[sender] = (await c.hub_client.get_agent(sender)).name
            except NetworkError:
                names[sender] = sender  # unregistered since: its id stands for it
        rows.append(
            {
                "envelope_id": envelope.envelope_id,
                "session_id": envelope.session_id,
                "sequence": envelope.sequence,
                "speaker": names[sender],
                "sender_id": sender,
                "text": text,
            }
        )
    return rows
