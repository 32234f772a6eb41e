"""Discussion closed by an agent: every agent has an ``end_conversation`` tool.

The skeptic decides the point is settled and calls ``end_conversation(reason)``,
which closes the session with ``agent_close:<reason>``. Runs offline with scripted
models; set ANTHROPIC_API_KEY to use Claude.

    python examples/03a_discussion_agent_close.py              # one process
    python examples/03a_discussion_agent_close.py --processes  # hubbub serve + a process per agent
"""

from __future__ import annotations

import functools
from typing import Any

import harness

from hubbub import Agent
from hubbub.events import ToolCallEvent
from hubbub.network import AgentClient, SessionInject

TOPIC = "Is a four-day work week good for a ten-person startup?"
PROMPTS = {
    "optimist": "You see the upside. One short sentence.",
    "realist": "You weigh costs and benefits. One short sentence.",
    "skeptic": (
        "You look for what can go wrong. When the question is settled, call "
        "end_conversation with a one-word reason instead of arguing on."
    ),
}
OFFLINE: dict[str, list[Any]] = {
    "optimist": ["More rest, better focus: try it for a quarter."],
    "realist": ["Customers still need cover on Fridays; rotate the day off."],
    "skeptic": [
        ToolCallEvent("end_conversation", arguments='{"reason": "consensus"}'),
        "A rotating day off answers my worry; we agree.",
    ],
}


async def end_conversation(reason: str, session: SessionInject) -> str:
    """End the discussion for everyone; ``reason`` is one word."""
    if session is None:
        return "Error: not in a session"
    await session.close(reason=f"agent_close:{reason}")
    return "closed"


def make(name: str) -> Agent:
    """The agent of one role (built in the process that runs it)."""
    return Agent(
        name,
        prompt=PROMPTS[name],
        config=harness.model(*OFFLINE[name]),
        tools=[end_conversation],
    )


ROLES = [harness.Role(name, functools.partial(make, name)) for name in PROMPTS]
DRIVER = "optimist"


async def drive(optimist: AgentClient) -> harness.Outcome:
    """Open the discussion and wait until an agent closes it; the close reason and the texts."""
    session = await optimist.open(type="discussion", target=["realist", "skeptic"])
    await session.send(TOPIC)
    reason = await harness.wait_closed(optimist, session.session_id)
    return harness.Outcome(reason, await harness.transcript(optimist, session.session_id))


harness.main(__name__)
