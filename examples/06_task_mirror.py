"""Task observation (spec §29.2 item 06): a tool's ``agent.task(...)`` shows up on the hub.

alice consults bob; bob's ``survey`` tool runs its work inside
``agent.task(..., capability="research", context=ctx)``. The default handler mirrors
the task onto the hub (observe → progress → completed) and records the outcome in
bob's track record, so after the session closes the task is listed in the session
(completed, with its progress and result) and ``get_resume(bob).observed["research"]``
shows completed=1, n=1 and a latency. (The hub also audits ``task_terminated``; the
audit log is the operator's, so the test reads it from the in-process hub.)

Runs offline with scripted models; set ANTHROPIC_API_KEY to use Claude.

    python examples/06_task_mirror.py              # one process
    python examples/06_task_mirror.py --processes  # hubbub serve + a process per agent
"""

from __future__ import annotations

import harness

from hubbub import Agent, Context
from hubbub.events import ToolCallEvent
from hubbub.network import AgentClient

QUESTION = "Which consensus protocol should we use?"


def make_bob() -> Agent:
    """bob, whose ``survey`` tool runs as a hub-observed task."""
    bob = Agent(
        "bob",
        prompt="Survey the topic with your tool, then answer in one sentence.",
        config=harness.model(
            ToolCallEvent("survey", arguments='{"topic": "consensus protocols"}'),
            "Raft and Paxos dominate; Raft is easier to teach.",
        ),
    )

    @bob.tool
    async def survey(topic: str, ctx: Context) -> str:
        """Survey a topic and summarise the sources."""
        async with bob.task(
            f"survey {topic}", capability="research", payload={"topic": topic}, context=ctx
        ) as task:
            sources = ["raft.pdf", "paxos-made-simple.pdf"]
            await task.progress({"sources_read": len(sources)})
            await task.complete({"sources": sources})
        return f"read {len(sources)} sources on {topic}"

    return bob


def make_alice() -> Agent:
    return Agent("alice", config=harness.model("unused"))


ROLES = [harness.Role("alice", make_alice), harness.Role("bob", make_bob)]
DRIVER = "alice"


async def drive(alice: AgentClient) -> harness.Outcome:
    """Consult bob, wait for the close; the transcript, bob's tasks in the session and
    his research track record."""
    ids = await harness.agent_ids(alice, ["bob"])
    session = await alice.open(type="consulting", target="bob")
    await session.send(QUESTION, audience=[ids["bob"]])
    reason = await harness.wait_closed(alice, session.session_id)
    # alice participates in the session, so she may read the tasks recorded there
    tasks = await alice.list_tasks(session_id=session.session_id, owner_id=ids["bob"])
    resume = await alice.hub_client.get_resume(ids["bob"])
    return harness.Outcome(
        reason,
        await harness.transcript(alice, session.session_id),
        {
            "tasks": [
                {
                    "title": t.spec.title,
                    "capability": t.spec.capability,
                    "state": t.state.value,
                    "progress": t.progress,
                    "result": t.result,
                }
                for t in tasks
            ],
            "research": resume.observed.get("research"),
        },
    )


harness.main(__name__)
