"""Tasks over a real WebSocket (``serve_ws`` on 127.0.0.1, port 0; ``WsLink`` clients):
the mirror and the track record, ownership refusals with their codes on the wire, and
checkpoints plus the task table surviving a hub restart on SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from hubbub import Agent, Context
from hubbub.events import ToolCallEvent
from hubbub.knowledge.memory import MemoryKnowledgeStore
from hubbub.knowledge.sqlite import SqliteKnowledgeStore
from hubbub.network import (
    EV_SESSION_CLOSED,
    AccessDeniedError,
    Hub,
    HubClient,
    Passport,
    Resume,
)
from hubbub.network.auth import BearerTokens, ServerAuth
from hubbub.network.client import HubBackedCheckpointStore
from hubbub.network.transport.ws import WsLink, serve_ws
from hubbub.task import TaskMetadata, TaskSpec, TaskState
from hubbub.testing import TestConfig

AUTH = ServerAuth([BearerTokens({"ta": "owner-a", "tb": "owner-b"})])


def client(url: str, token: str) -> HubClient:
    return HubClient(WsLink(url, token=token, reconnect=0))


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as s:
        yield s


async def served(stack: AsyncExitStack, hub: Hub) -> str:
    return await stack.enter_async_context(serve_ws(hub, host="127.0.0.1", port=0, auth=AUTH))


def survey_agent() -> Agent:
    agent = Agent(
        "bob",
        config=TestConfig(ToolCallEvent("survey", arguments='{"topic": "raft"}'), "Raft."),
    )

    @agent.tool
    async def survey(topic: str, ctx: Context) -> str:
        """Survey a topic."""
        async with agent.task(f"survey {topic}", capability="research", context=ctx) as task:
            await task.progress({"sources": 2})
        return "surveyed"

    return agent


async def test_the_mirror_and_the_track_record_over_websocket(stack: AsyncExitStack) -> None:
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0, invite_ack_timeout=5)
    stack.push_async_callback(hub.close)
    url = await served(stack, hub)
    alice_hc, bob_hc = client(url, "ta"), client(url, "tb")
    stack.push_async_callback(alice_hc.close)
    stack.push_async_callback(bob_hc.close)
    alice = await alice_hc.register(
        Agent("alice", config=TestConfig("?")), Passport(name="alice"), Resume()
    )
    bob = await bob_hc.register(survey_agent(), Passport(name="bob"), Resume())

    session = await alice.open(type="consulting", target="bob")
    await session.send("Which protocol?", audience=[bob.agent_id])
    await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=10,
    )
    research = (await hub.get_resume(bob.agent_id)).observed["research"]
    assert (research.n, research.completed) == (1, 1) and research.p50_latency_ms is not None
    # what travelled back over the wire decodes to the same records
    (seen,) = await alice.list_tasks(session_id=session.session_id)
    assert seen.state is TaskState.COMPLETED and seen.progress == {"sources": 2}
    assert (await bob.get_task(seen.task_id)) == (await hub.get_task(seen.task_id))
    assert (await alice_hc.get_resume(bob.agent_id)).observed["research"] == research
    audit = [r for r in await hub.audit_log.read_all() if r["kind"] == "task_terminated"]
    assert [r["task_id"] for r in audit] == [seen.task_id]

    # ownership is the hub's to check, and the code reaches the remote caller
    for attempt in (
        alice.update_task(seen.task_id, state="failed"),
        alice.record_observation(bob.agent_id, "research", "failed"),
        alice.observe_task(TaskMetadata("x1", bob.agent_id, TaskSpec("forged"), TaskState.RUNNING)),
    ):
        with pytest.raises(AccessDeniedError) as err:
            await attempt
        assert err.value.code == "access_denied"
    assert (await hub.get_task(seen.task_id)).state is TaskState.COMPLETED
    assert (await hub.get_resume(bob.agent_id)).observed["research"] == research


async def test_tasks_and_checkpoints_survive_a_hub_restart_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    agent = Agent("bob", config=TestConfig("ok"))

    async def session_of_bob() -> tuple[Hub, Any, AsyncExitStack]:
        stack = AsyncExitStack()
        hub = await Hub.open(SqliteKnowledgeStore(path), ttl_sweep_interval=0)
        stack.push_async_callback(hub.store.close)
        stack.push_async_callback(hub.close)
        url = await served(stack, hub)
        hc = client(url, "tb")
        stack.push_async_callback(hc.close)
        bob = await hc.register(agent, Passport(name="bob"), Resume(), attach_plugin=False)
        return hub, bob, stack

    hub, bob, stack = await session_of_bob()
    first_id = bob.agent_id
    async with stack:
        await bob.observe_task(
            TaskMetadata(
                "long", bob.agent_id, TaskSpec("crawl", capability="crawl"), TaskState.RUNNING
            )
        )
        await bob.update_task("long", progress={"pages": 40})
        await HubBackedCheckpointStore(bob).save("long", {"next_page": 41})
        await bob.record_observation(bob.agent_id, "crawl", "completed", 900, task_id="earlier")

    hub, bob, stack = await session_of_bob()
    async with stack:
        assert bob.agent_id == first_id  # the name came back with its id (and its records)
        assert await HubBackedCheckpointStore(bob).load("long") == {"next_page": 41}
        md = await bob.get_task("long")
        assert md.state is TaskState.RUNNING and md.progress == {"pages": 40}
        stat = (await hub.get_resume(bob.agent_id)).observed["crawl"]
        assert (stat.n, stat.completed, stat.p50_latency_ms) == (1, 1, 900)
        done = await bob.update_task("long", state="completed", result={"pages": 80})
        assert done.state is TaskState.COMPLETED
