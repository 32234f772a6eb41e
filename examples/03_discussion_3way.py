"""Discussion: optimist, realist and skeptic take turns (round robin from the opener).

Every agent's default handler sees every message, but only the expected speaker
calls its model. After six texts the optimist closes the session with
``cap_reached``. Runs offline with scripted models; set ANTHROPIC_API_KEY to use Claude.

    python examples/03_discussion_3way.py              # one process
    python examples/03_discussion_3way.py --processes  # hubbub serve + a process per agent
"""

from __future__ import annotations

import asyncio
import functools

import harness

from hubbub import Agent
from hubbub.network import EV_TEXT, AgentClient, Envelope

TOPIC = "Should our team rewrite the billing service in Rust this quarter?"
TURNS = 6
PROMPTS = {
    "optimist": "You see the upside. One short sentence.",
    "realist": "You weigh costs and benefits. One short sentence.",
    "skeptic": "You look for what can go wrong. One short sentence.",
}
OFFLINE = {
    "optimist": "Rust would make billing faster and safer; let's go for it.",
    "realist": "Only if we can keep the old service running while we port it.",
    "skeptic": "Nobody on the team has shipped Rust; this quarter is too soon.",
}


def make(name: str) -> Agent:
    """The agent of one role (built in the process that runs it)."""
    return Agent(name, prompt=PROMPTS[name], config=harness.model(OFFLINE[name]))


ROLES = [harness.Role(name, functools.partial(make, name)) for name in PROMPTS]
DRIVER = "optimist"


async def wait_for_texts(
    client: AgentClient, session_id: str, count: int, timeout: float = 120.0
) -> list[Envelope]:
    """Poll the WAL (as a participant) until it holds ``count`` texts."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        texts = [e for e in await client.read_wal(session_id) if e.event_type == EV_TEXT]
        if len(texts) >= count:
            return texts
        if loop.time() > deadline:
            raise TimeoutError(f"only {len(texts)} of {count} texts arrived")
        await asyncio.sleep(0.02)


async def drive(optimist: AgentClient) -> harness.Outcome:
    """Open the discussion, close it after ``TURNS`` texts; the close reason and those texts."""
    ids = await harness.agent_ids(optimist, list(PROMPTS))
    session = await optimist.open(type="discussion", target=["realist", "skeptic"])
    await session.send(TOPIC)
    texts = await wait_for_texts(optimist, session.session_id, TURNS)
    await session.close(reason="cap_reached")
    reason = await harness.wait_closed(optimist, session.session_id)
    names = {agent_id: name for name, agent_id in ids.items()}
    return harness.Outcome(
        reason, [(names[e.sender_id], e.event_data["text"]) for e in texts[:TURNS]]
    )


harness.main(__name__)
