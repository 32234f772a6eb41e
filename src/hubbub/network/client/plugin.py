"""NetworkPlugin: what a registered agent gets — its identity line and two network tools.

* ``NetworkContextPolicy`` (assembly policy ``network_context``) puts
  "You are <name> (agent_id: <id>)." first in the system prompt of every model call;
* ``sessions`` — list / open / info / close the agent's sessions (close defaults to the
  current session with reason ``closed_by_agent``);
* ``peers`` — find agents (by capability / text, sorted, then limited) or describe one.

The tools are built once per AgentClient, never per turn. They act through the agent's
own hub connection (the hub's participant checks apply) and return errors as
``"Error: ..."`` strings instead of raising, so the model can recover.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from hubbub.network.client.inject import AgentClientInject, SessionInject
from hubbub.network.client.task_tool import build_tasks_tool
from hubbub.network.errors import NetworkError
from hubbub.network.identity import Passport, Resume
from hubbub.network.session import SessionMetadata
from hubbub.plugin import Plugin
from hubbub.tools import FunctionTool, tool

if TYPE_CHECKING:
    from hubbub.agent import Agent
    from hubbub.context import ConversationContext
    from hubbub.events import BaseEvent
    from hubbub.network.client.agent_client import AgentClient

__all__ = ["NetworkContextPolicy", "NetworkPlugin", "identity_line"]

log = logging.getLogger(__name__)

_FIND_FETCH = 1000


def identity_line(name: str, agent_id: str) -> str:
    """The sentence that tells a model who it is on the network."""
    return f"You are {name} (agent_id: {agent_id})."


class NetworkContextPolicy:
    """Assembly policy putting the agent's network identity first in the system prompt."""

    name = "network_context"

    def __init__(self, client: AgentClient) -> None:
        self._line = identity_line(client.passport.name, client.agent_id)

    @property
    def line(self) -> str:
        """The identity sentence."""
        return self._line

    async def apply(
        self, prompts: list[str], events: list[BaseEvent], ctx: ConversationContext
    ) -> tuple[list[str], list[BaseEvent]]:
        """Prepend the identity line (once) to the prompt fragments."""
        if prompts and prompts[0] == self._line:
            return prompts, events
        return [self._line, *prompts], events


class NetworkPlugin(Plugin):
    """The identity policy plus the ``sessions`` and ``peers`` tools of one AgentClient."""

    def __init__(self, client: AgentClient) -> None:
        self.client = client
        self.policy = NetworkContextPolicy(client)
        super().__init__(tools=_build_tools(client), assembly=[self.policy])

    def attach(self, agent: Agent) -> None:
        """Apply to ``agent`` permanently."""
        agent.apply_plugin(self)

    def detach(self, agent: Agent) -> None:
        """Remove this plugin's tools and policy from ``agent`` (after unregistering)."""
        mine = {id(t) for t in self.tools}
        agent.tools[:] = [t for t in agent.tools if id(t) not in mine]
        agent._policies[:] = [p for p in agent._policies if p is not self.policy]


def _build_tools(bound: AgentClient) -> list[FunctionTool]:
    async def sessions(
        action: Literal["list", "open", "info", "close"],
        type: str | None = None,
        target: str | list[str] | None = None,
        session_id: str | None = None,
        reason: str | None = None,
        intent: str | None = None,
        ttl: int | None = None,
        state: Literal["active", "all"] = "active",
        *,
        session: SessionInject,
        client: AgentClientInject,
    ) -> Any:
        """Manage your network sessions.

        action="list": your sessions (state="all" includes ended ones).
        action="open": start a session of `type` (e.g. "conversation", "consulting") with
        `target` (agent name or list of names); optional `intent`, `ttl` seconds.
        action="info": details of `session_id` (default: the current session).
        action="close": end `session_id` (default: the current session) with `reason`.
        """
        c: AgentClient = client if client is not None else bound
        try:
            if action == "list":
                metas = await c.list_sessions(include_terminal=state == "all")
                return [_session_summary(m) for m in metas]
            if action == "open":
                if not type or not target:
                    return "Error: open needs type= and target="
                opened = await c.open(type=type, target=target, intent=intent, ttl=ttl)
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
        action="describe": passport, resume and skill of the agent called `name`.
        """
        c: AgentClient = client if client is not None else bound
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

    return [tool(sessions), tool(peers), build_tasks_tool(bound)]


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
    return {
        "passport": {
            "name": passport.name,
            "agent_id": agent_id,
            "owner": passport.owner,
            "provider": passport.provider,
            "model": passport.model,
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
        "skill_md": skill if skill is not None else _fallback_skill(passport, resume),
    }


def _fallback_skill(passport: Passport, resume: Resume) -> str:
    lines = [
        "---",
        f"name: {passport.name}",
        f"description: {resume.summary or 'Network-registered agent.'}",
        "---",
    ]
    if resume.claimed_capabilities:
        lines += ["", "## Capabilities", *(f"- {c}" for c in resume.claimed_capabilities)]
    if resume.domains:
        lines += ["", "## Domains", *(f"- {d}" for d in resume.domains)]
    if resume.observed:
        lines += ["", "## Track record"]
        lines += [
            f"- {k}: {s.completed} completed, {s.failed} failed, {s.expired} expired (n={s.n})"
            for k, s in sorted(resume.observed.items())
        ]
    return "\n".join(lines) + "\n"
