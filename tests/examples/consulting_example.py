"""The smallest network for the harness's own tests: alice consults bob."""

from __future__ import annotations

import harness  # examples/harness.py (conftest puts examples/ on the path)

from hubbub import Agent
from hubbub.network import AgentClient

ROLES = [
    harness.Role("alice", lambda: Agent("alice", config=harness.model("unused"))),
    harness.Role("bob", lambda: Agent("bob", config=harness.model("Fault tolerance."))),
]
DRIVER = "alice"


async def drive(me: AgentClient) -> harness.Outcome:
    session = await me.open(type="consulting", target="bob")
    await session.send("What matters most?")
    reason = await harness.wait_closed(me, session.session_id)
    return harness.Outcome(reason, await harness.transcript(me, session.session_id))


harness.main(__name__)
