"""The ``sessions`` and ``peers`` network tools (spec §18.2).

* ``sessions(action="list"|"open"|"info"|"close", ...)`` — the agent's sessions; ``open``
  mirrors :meth:`AgentClient.open` and may send a first ``message`` (one delegation hop
  deeper than what the agent handles); a refused seed closes the new session with reason
  ``seed_failed``. ``info``/``close`` default to the current session; close's reason
  defaults to ``closed_by_agent``.
* ``peers(action="find"|"describe", ...)`` — find agents (by capability / text, sorted,
  then limited; the caller excluded) or describe one.

Both return ``"Error: ..."`` strings instead of raising.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from hubbub.network.client.inject import AgentClientInject, SessionInject
from hubbub.network.client.messaging import close_quietly, no_client, seed_depth
from hubbub.network.errors import NetworkError
from hubbub.network.identity import Passport, Resume
from hubbub.network.session import SessionMetadata
from hubbub.network.skills import parse_skill_frontmatter, render_fallback_skill

if TYPE_CHECKING:
    from hubbub.network.client.agent_client import AgentClient

__all__ = ["peers", "sessions"]

_FIND_FETCH = 1000


async def sessions(
    action: Literal["list", "open", "info", "close"],
    type: str | None = None,
    target: str | list[str] | None = None,
    session_id: str | None = None,
    reason: str | None = None,
    intent: str | None = None,
    ttl: int | None = None,
    knobs: dict[str, Any] | None = None,
    message: str | None = None,
    state: Literal["active", "all"] = "active",
    *,
    session: SessionInject,
    client: AgentClientInject,
) -> Any:
    """Manage your network sessions.

    action="list": your sessions (state="all" includes ended ones).
    action="open": start a session of `type` (e.g. "conversation", "consulting") with
    `target` (agent name or list of names); optional `intent`, `ttl` seconds, `knobs`,
    and `message`: the first message to send in it.
    action="info": details of `session_id` (default: the current session).
    action="close": end `session_id` (default: the current session) with `reason`.
    """
    c: AgentClient | None = client
    if c is None:
        return no_client("sessions")
    try:
        if action == "list":
            metas = await c.list_sessions(include_terminal=state == "all")
            return [_session_summary(m) for m in metas]
        if action == "open":
            if not type or not target:
                return "Error: open needs type= and target="
            if message is not None and (not isinstance(message, str) or not message):
                return "Error: open's message= must be a non-empty string"
            opened = await c.open(type=type, target=target, intent=intent, ttl=ttl, knobs=knobs)
            if message is not None:
                failed = await _seed(c, opened.session_id, message)
                if failed is not None:
                    return failed
            return _session_summary(opened.metadata)
        sid = session_id or (session.session_id if session is not None else None)
        if sid is None:
            return f"Error: {action} needs session_id= outside a session"
        if action == "info":
            return _session_summary(await c.get_session(sid))
        if action == "close":
            meta = await c.close_session(sid, reason=reason or "closed_by_agent")
            return f"closed session {sid} ({meta.close_reason or reason or 'closed_by_agent'})"
        return f"Error: unknown action {action!r}"
    except (NetworkError, ValueError, RuntimeError) as exc:
        return f"Error: {exc}"


async def peers(
    action: Literal["find", "describe"],
    query: str | None = None,
    capability: str | None = None,
    sort_by: Literal["name", "cost", "track_record"] | None = None,
    name: str | None = None,
    limit: int = 20,
    *,
    client: AgentClientInject,
) -> Any:
    """Discover other agents on the network.

    action="find": agents matching `capability` and/or `query` (text in their
    summary), sorted by `sort_by` ("name", "cost" or "track_record"), at most `limit`.
    action="describe": passport, resume and SKILL.md of the agent called `name`
    (with its frontmatter as `skill`).
    """
    c: AgentClient | None = client
    if c is None:
        return no_client("peers")
    try:
        if action == "find":
            return await _find(c, query, capability, sort_by, limit)
        if action == "describe":
            if not name:
                return "Error: describe needs name="
            return await _describe(c, name)
        return f"Error: unknown action {action!r}"
    except (NetworkError, ValueError, RuntimeError) as exc:
        return f"Error: {exc}"


async def _seed(c: AgentClient, session_id: str, message: str) -> str | None:
    """Send the first message of a session ``sessions(open)`` just opened; on a refusal
    close the session (reason ``seed_failed``) and return the error string."""
    handle = await c.session(session_id)
    try:
        await handle.send(message, depth=seed_depth(c))
    except (NetworkError, ValueError, RuntimeError) as exc:
        await close_quietly(c, session_id, "seed_failed")
        return f"Error: the first message was refused ({exc}); session {session_id} closed: seed_failed"
    return None


def _session_summary(meta: SessionMetadata) -> dict[str, Any]:
    return {
        "session_id": meta.session_id,
        "type": meta.manifest.type,
        "state": meta.state.value,
        "creator_id": meta.creator_id,
        "participants": meta.participant_ids(),
        "close_reason": meta.close_reason or None,
        "intent": meta.labels.get("intent"),
    }


def _success_rate(resume: Resume) -> float | None:
    n = sum(s.n for s in resume.observed.values())
    if not n:
        return None
    return sum(s.completed for s in resume.observed.values()) / n


def _cost(passport: Passport) -> float | None:
    cost = passport.cost
    if cost is None or (cost.input_per_mtok is None and cost.output_per_mtok is None):
        return None
    return float(cost.input_per_mtok or 0) + float(cost.output_per_mtok or 0)


async def _find(
    c: AgentClient,
    query: str | None,
    capability: str | None,
    sort_by: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    hc = c.hub_client
    me = c.agent_id
    found = await hc.list_agents(capability=capability, query=query, limit=_FIND_FETCH)
    rows: list[dict[str, Any]] = []
    for passport in found:
        if passport.agent_id == me or passport.agent_id is None:
            continue
        resume = await hc.get_resume(passport.agent_id)
        rows.append(
            {
                "name": passport.name,
                "agent_id": passport.agent_id,
                "summary": resume.summary,
                "capabilities": sorted(resume.capabilities()),
                "observed_success_rate": _success_rate(resume),
                "cost": _cost(passport),
            }
        )
    # Sort the whole match set first, then apply the limit.
    if sort_by == "cost":
        rows.sort(key=lambda r: (r["cost"] is None, r["cost"] or 0.0, r["name"]))
    elif sort_by == "track_record":
        rows.sort(
            key=lambda r: (
                r["observed_success_rate"] is None,
                -(r["observed_success_rate"] or 0.0),
                r["name"],
            )
        )
    else:
        rows.sort(key=lambda r: r["name"])
    return rows[: max(limit, 0)]


async def _describe(c: AgentClient, name: str) -> dict[str, Any]:
    hc = c.hub_client
    passport = await hc.get_agent(name)
    agent_id = passport.agent_id or ""
    resume = await hc.get_resume(agent_id)
    skill = await hc.get_skill(agent_id)
    # No SKILL.md of its own: the one written from its passport and resume (§21).
    skill_md = skill if skill is not None else render_fallback_skill(passport, resume)
    parsed = parse_skill_frontmatter(skill_md)
    return {
        "passport": {
            "name": passport.name,
            "agent_id": agent_id,
            "owner": passport.owner,
            "provider": passport.provider,
            "model": passport.model,
            "kind": passport.effective_kind,
        },
        "resume": {
            "summary": resume.summary,
            "claimed_capabilities": list(resume.claimed_capabilities),
            "domains": list(resume.domains),
            "observed": {
                k: {"n": s.n, "completed": s.completed, "failed": s.failed, "expired": s.expired}
                for k, s in resume.observed.items()
            },
        },
        "skill_md": skill_md,
        "skill": parsed.frontmatter,
    }
