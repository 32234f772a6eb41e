"""The ``context`` network tool: look back into a session's transcript (spec §18.2).

* ``action="search"`` — the texts (``EV_TEXT``) of the session this agent can see
  whose text contains ``query`` (case-insensitive); the last ``limit`` matches;
* ``action="quote"`` — the last ``recent_n`` texts of ``speaker`` (a name or id).

Results are lists of ``{"envelope_id", "sequence", "speaker", "sender_id", "text"}``
in session order. The session is the current one unless ``session_id`` names another
the agent takes part in; only what the hub lets this agent read is searched (a message
addressed to others is not). ``scope="knowledge"`` is refused: no knowledge search
exists yet.
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

__all__ = ["context"]


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
    """
    c: AgentClient | None = client
    if c is None:
        return no_client("context")
    if scope != "session":
        return f"Error: scope={scope!r} is not available; only scope='session' is searched"
    sid = session_id or (session.session_id if session is not None else None)
    if not sid:
        return f"Error: {action} needs session_id= outside a session"
    try:
        if action == "search":
            if not isinstance(query, str) or not query:
                return "Error: search needs query="
            if not _count_ok(limit):
                return f"Error: limit= must be a positive integer, got {limit!r}"
            needle = query.casefold()
            texts = [(e, t) for e, t in await _texts(c, sid) if needle in t.casefold()]
            return await _rows(c, texts[-limit:])
        if action == "quote":
            if not isinstance(speaker, str) or not speaker:
                return "Error: quote needs speaker="
            if not _count_ok(recent_n):
                return f"Error: recent_n= must be a positive integer, got {recent_n!r}"
            speaker_id = await c._resolve_agent(speaker)
            texts = [(e, t) for e, t in await _texts(c, sid) if e.sender_id == speaker_id]
            return await _rows(c, texts[-recent_n:])
        return f"Error: unknown action {action!r}"
    except (NetworkError, ValueError, RuntimeError) as exc:
        return f"Error: {exc}"


def _count_ok(n: object) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n > 0


async def _texts(c: AgentClient, session_id: str) -> list[tuple[Envelope, str]]:
    out: list[tuple[Envelope, str]] = []
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
                "sequence": envelope.sequence,
                "speaker": names[sender],
                "sender_id": sender,
                "text": text,
            }
        )
    return rows
