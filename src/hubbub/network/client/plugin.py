"""NetworkPlugin: what a registered agent gets — its identity lines and the network tools.

* ``NetworkContextPolicy`` (assembly policy ``network_context``) puts
  "You are <name> (agent_id: <id>)." and a line naming the network tools first in the
  system prompt of every model call;
* the tools, assembled by :func:`network_tools` (spec §18.2):

  - ``say`` — post a text into a session (the current one by default);
  - ``delegate`` — ask another agent one question in a consulting session, get its answer;
  - ``peers`` — find agents (by capability / text, sorted, then limited) or describe one;
  - ``sessions`` — list / open (with an optional first ``message``) / info / close the
    agent's sessions;
  - ``context`` — search the session's texts or quote a speaker.

The tools are built once per process and shared by every agent: a tool finds its
agent through ``AgentClientInject`` — the default handler stamps the client into every
network turn, and the plugin makes the client the agent's DI default, so a plain
``agent.ask`` outside a network turn reaches it too. They act through the agent's own
hub connection (the hub's participant checks apply) and return errors as
``"Error: ..."`` strings instead of raising, so the model can recover.
``register(..., attach_plugin=False)`` leaves the agent bare: no tools, no identity lines.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from hubbub.network.client.directory import peers, sessions
from hubbub.network.client.messaging import delegate, say
from hubbub.network.client.recall import context
from hubbub.network.client.task_tool import build_tasks_tool
from hubbub.network.policies import AGENT_CLIENT_DEP
from hubbub.plugin import Plugin
from hubbub.tools import FunctionTool, tool

if TYPE_CHECKING:
    from hubbub.agent import Agent
    from hubbub.context import ConversationContext
    from hubbub.events import BaseEvent
    from hubbub.network.client.agent_client import AgentClient

__all__ = ["NetworkContextPolicy", "NetworkPlugin", "identity_line", "network_tools", "tools_line"]


def identity_line(name: str, agent_id: str) -> str:
    """The sentence that tells a model who it is on the network."""
    return f"You are {name} (agent_id: {agent_id})."


def tools_line(names: list[str]) -> str:
    """The sentence naming the network tools a model may call."""
    return f"Your network tools: {', '.join(names)}."


class NetworkContextPolicy:
    """Assembly policy putting the agent's network identity first in the system prompt:
    the identity line, then (when ``tool_names`` is given) the line naming the tools."""

    name = "network_context"

    def __init__(self, client: AgentClient, tool_names: list[str] | None = None) -> None:
        self._line = identity_line(client.passport.name, client.agent_id)
        self._lines = [self._line]
        if tool_names:
            self._lines.append(tools_line(tool_names))

    @property
    def line(self) -> str:
        """The identity sentence."""
        return self._line

    @property
    def lines(self) -> list[str]:
        """Every sentence this policy puts first (identity, then the tool names)."""
        return list(self._lines)

    async def apply(
        self, prompts: list[str], events: list[BaseEvent], ctx: ConversationContext
    ) -> tuple[list[str], list[BaseEvent]]:
        """Prepend the identity lines (once) to the prompt fragments."""
        lines = self._lines
        if prompts[: len(lines)] == lines:
            return prompts, events
        return [*lines, *prompts], events


@functools.cache
def _shared_tools() -> tuple[FunctionTool, ...]:
    # Building a tool's argument model and JSON schema is the costly part of a
    # registration; the tools hold no per-agent state, so every agent shares them.
    return (
        tool(say),
        tool(delegate),
        tool(peers),
        tool(sessions),
        tool(context),
        build_tasks_tool(),
    )


def network_tools(client: AgentClient) -> list[FunctionTool]:
    """The network tools of ``client``'s agent, in the order the prompt names them.

    This is the one place the tool list is assembled: a new network tool (e.g.
    ``tasks``) joins the list here (a tool that must be built per client can use
    ``client``; the shared ones reach it through ``AgentClientInject``).
    """
    return list(_shared_tools())


class NetworkPlugin(Plugin):
    """The identity policy, the network tools (:func:`network_tools`) and the client as
    the agent's ``AgentClientInject`` default, for one AgentClient."""

    def __init__(self, client: AgentClient) -> None:
        self.client = client
        tools = network_tools(client)
        self.policy = NetworkContextPolicy(client, [t.name for t in tools])
        super().__init__(
            tools=tools, assembly=[self.policy], dependencies={AGENT_CLIENT_DEP: client}
        )

    def attach(self, agent: Agent) -> None:
        """Apply to ``agent`` permanently."""
        agent.apply_plugin(self)

    def detach(self, agent: Agent) -> None:
        """Remove this plugin's tools, policy and DI default from ``agent`` (after
        unregistering)."""
        mine = {id(t) for t in self.tools}
        agent.tools[:] = [t for t in agent.tools if id(t) not in mine]
        agent._policies[:] = [p for p in agent._policies if p is not self.policy]
        if agent._dependencies.get(AGENT_CLIENT_DEP) is self.client:
            del agent._dependencies[AGENT_CLIENT_DEP]
