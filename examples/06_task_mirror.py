"""Task observation (spec §29.2 item 06): a tool's ``agent.task(...)`` shows up on the hub.

alice consults bob; bob's ``survey`` tool runs its work inside
``agent.task(..., capability="research", context=ctx)``. The default handler mirrors
the task onto the hub (observe → progress → completed) and records the outcome in
bob's track record, so after the session closes
``hub.get_resume(bob).observed["research"]`` shows completed=1, n=1 and a latency.

Runs offline with scripted models:

    python examples/06_task_mirror.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from hubbub import Agent, Context
from hubbub.events import ToolCallEvent
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import EV_SESSION_CLOSED, Hub, HubClient, LocalLink, Passport, Resume
from hubbub.testing import TestConfig


async def main() -> dict[str, Any]:
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0)
    link = LocalLink(hub)
    alice_hc, bob_hc = HubClient(link, hub=hub), HubClient(link, hub=hub)

    bob_agent = Agent(
        "bob",
        prompt="Survey the topic with your tool, then answer in one sentence.",
        config=TestConfig(
            ToolCallEvent("survey", arguments='{"topic": "consensus protocols"}'),
            "Raft and Paxos dominate; Raft is easier to teach.",
        ),
    )

    @bob_agent.tool
    async def survey(topic: str, ctx: Context) -> str:
        """Survey a topic and summarise the sources."""
        async with bob_agent.task(
            f"survey {topic}", capability="research", payload={"topic": topic}, context=ctx
        ) as task:
            sources = ["raft.pdf", "paxos-made-simple.pdf"]
            await task.progress({"sources_read": len(sources)})
            await task.complete({"sources": sources})
        return f"read {len(sources)} sources on {topic}"

    alice = await alice_hc.register(
        Agent("alice", config=TestConfig("unused")), Passport(name="alice"), Resume()
    )
    bob = await bob_hc.register(bob_agent, Passport(name="bob"), Resume())

    session = await alice.open(type="consulting", target="bob")
    await session.send("Which consensus protocol should we use?", audience=[bob.agent_id])
    closed = await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=30,
    )
    print(f"closed: {closed.event_data['reason']!r}")

    (task,) = await hub.list_tasks(owner_id=bob.agent_id)
    print(f"task {task.spec.title!r}: {task.state.value}, progress {task.progress}")
    research = (await hub.get_resume(bob.agent_id)).observed["research"]
    print(
        f"bob research: completed={research.completed} n={research.n} "
        f"p50_latency_ms={research.p50_latency_ms}"
    )
    audit = [r for r in await hub.audit_log.read_all() if r["kind"] == "task_terminated"]
    print(f"audit: task_terminated outcome={audit[0]['outcome']}")

    outcome = {
        "reason": closed.event_data["reason"],
        "task": task,
        "research": research,
        "audit": audit,
    }
    await alice_hc.close()
    await bob_hc.close()
    await hub.close()
    return outcome


if __name__ == "__main__":
    asyncio.run(main())
