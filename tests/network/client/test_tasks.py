"""Tasks from the client side, in-process: the mirror in default-handler turns, the
client pass-throughs and who may use them, the ``tasks`` tool's contract, checkpoints."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from hubbub import Agent, Context
from hubbub.context import ConversationContext
from hubbub.events import ToolCallEvent, ToolErrorEvent, ToolResultEvent
from hubbub.knowledge.sqlite import SqliteKnowledgeStore
from hubbub.network import (
    EV_SESSION_CLOSED,
    AccessDeniedError,
    Hub,
    HubClient,
    InvalidValueError,
    LocalLink,
    Passport,
    ProtocolError,
    Resume,
    TaskMirror,
)
from hubbub.network.client import HubBackedCheckpointStore, MemoryCheckpointStore
from hubbub.network.client.agent_client import AgentClient
from hubbub.network.client.task_tool import CANCEL_UNSUPPORTED, build_tasks_tool
from hubbub.network.policies import AGENT_CLIENT_DEP
from hubbub.stream import MemoryStream
from hubbub.task import TaskMetadata, TaskSpec, TaskState
from hubbub.testing import TestConfig


async def consult(alice: AgentClient, bob: AgentClient, text: str = "go") -> str:
    session = await alice.open(type="consulting", target="bob")
    await session.send(text, audience=[bob.agent_id])
    await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=10,
    )
    return session.session_id


def survey_agent(*, fail: bool = False) -> Agent:
    agent = Agent(
        "bob",
        config=TestConfig(ToolCallEvent("survey", arguments='{"topic": "raft"}'), "done"),
    )

    @agent.tool
    async def survey(topic: str, ctx: Context) -> str:
        """Survey a topic."""
        async with agent.task(f"survey {topic}", capability="research", context=ctx) as task:
            await task.progress({"read": 1})
            if fail:
                raise RuntimeError("no sources")
            await task.complete({"topic": topic})
        return "surveyed"

    return agent


async def test_a_tool_task_is_mirrored_in_a_default_handler_turn(net: Any, hub: Hub) -> None:
    alice = await net.agent("alice")
    bob = await net.hub_client().register(survey_agent(), Passport(name="bob"), Resume())
    carol = await net.agent("carol")
    sid = await consult(alice, bob)

    (md,) = await hub.list_tasks(owner_id=bob.agent_id)
    assert md.state is TaskState.COMPLETED and md.session_id == sid
    assert md.progress == {"read": 1} and md.result == {"topic": "raft"}
    assert md.spec.capability == "research" and md.owner_id == bob.agent_id
    stat = (await hub.get_resume(bob.agent_id)).observed["research"]
    assert (stat.n, stat.completed) == (1, 1) and stat.p50_latency_ms is not None

    # the pass-throughs: the owner and a participant of the session read it; an outsider not
    assert (await bob.get_task(md.task_id)).state is TaskState.COMPLETED
    assert [t.task_id for t in await alice.list_tasks()] == [md.task_id]
    assert (await alice.hub_client.get_task(md.task_id)).owner_id == bob.agent_id
    with pytest.raises(AccessDeniedError) as err:
        await carol.get_task(md.task_id)
    assert err.value.code == "access_denied"
    assert await carol.list_tasks() == []


async def test_a_failing_tool_task_is_recorded_as_failed(net: Any, hub: Hub) -> None:
    alice = await net.agent("alice")
    bob = await net.hub_client().register(survey_agent(fail=True), Passport(name="bob"), Resume())
    await consult(alice, bob)
    (md,) = await hub.list_tasks(owner_id=bob.agent_id)
    assert md.state is TaskState.FAILED and "no sources" in md.error
    stat = (await hub.get_resume(bob.agent_id)).observed["research"]
    assert (stat.n, stat.failed, stat.completed) == (1, 1, 0)


async def test_ownership_is_checked_by_the_hub(net: Any, hub: Hub) -> None:
    alice, bob = await net.agent("alice"), await net.agent("bob")
    mine = TaskMetadata("b1", bob.agent_id, TaskSpec("x", capability="c"), TaskState.RUNNING)
    await bob.observe_task(mine)
    for attempt in (
        alice.observe_task(mine),
        alice.update_task("b1", state="completed"),
        alice.record_observation(bob.agent_id, "c", "completed"),
        alice.hub_client.connection.call("load_checkpoint", agent_id=bob.agent_id, key="k"),
        alice.hub_client.connection.call(
            "save_checkpoint", agent_id=bob.agent_id, key="k", data={}
        ),
    ):
        with pytest.raises(AccessDeniedError) as err:
            await attempt
        assert err.value.code == "access_denied"
    taken = TaskMetadata("b1", alice.agent_id, TaskSpec("x"), TaskState.RUNNING)
    with pytest.raises(AccessDeniedError, match="belongs to"):
        await alice.observe_task(taken)
    assert (await hub.get_task("b1")).state is TaskState.RUNNING
    assert (await hub.get_resume(bob.agent_id)).observed == {}
    result = [1, {"n": 2}]
    done = await bob.update_task("b1", state=TaskState.COMPLETED, result=result)
    assert done.result == [1, {"n": 2}]
    result[1]["n"] = 99  # the hub kept a copy, not the caller's object
    assert (await hub.get_task("b1")).result == [1, {"n": 2}]
    resume = await bob.record_observation(bob.agent_id, "c", TaskState.COMPLETED, 5, "b1")
    assert resume.observed["c"].completed == 1 and bob.resume.observed["c"].completed == 1


async def test_bad_values_over_the_protocol_are_named(net: Any) -> None:
    bob = await net.agent("bob")
    conn = bob.hub_client.connection
    with pytest.raises(InvalidValueError, match=r"task\.spec"):
        await conn.call("observe_task", metadata={"task_id": "t", "owner_id": bob.agent_id})
    with pytest.raises(InvalidValueError, match="limit"):
        await conn.call("list_tasks", limit="ten")
    with pytest.raises(InvalidValueError, match="latency_ms"):
        await bob.record_observation(bob.agent_id, "c", "completed", -3)
    with pytest.raises(InvalidValueError, match="task_id"):
        await bob.get_task("../etc")


class Exploding:
    """A hub client whose every call fails."""

    async def observe_task(self, metadata: TaskMetadata) -> TaskMetadata:
        raise ProtocolError("hub down")

    async def update_task(self, task_id: str, **kw: Any) -> TaskMetadata:
        raise ProtocolError("hub down")

    async def record_observation(self, *a: Any, **kw: Any) -> Resume:
        raise ProtocolError("hub down")


async def test_mirror_failures_never_reach_the_task(caplog: pytest.LogCaptureFixture) -> None:
    stream = MemoryStream()
    ctx = ConversationContext(stream)
    mirror = TaskMirror(hub_client=Exploding(), owner_id="agent-1")  # type: ignore[arg-type]
    subs = mirror.attach(stream)
    agent = Agent("bob", config=TestConfig("x"))
    with caplog.at_level(logging.WARNING, logger="hubbub.network.client.task_mirror"):
        async with agent.task("t", capability="c", context=ctx) as task:
            await task.progress({"p": 1})
    assert task.state is TaskState.COMPLETED
    assert mirror.failures == 3  # started, progress, completed
    assert "hub down" in caplog.text
    mirror.detach(stream, subs)
    async with agent.task("u", context=ctx):
        pass
    assert mirror.failures == 3  # detached: nothing more mirrored
    quiet = TaskMirror(owner_id="agent-1")  # no hub client: records nothing, never fails
    quiet.attach(stream)
    async with agent.task("v", context=ctx):
        pass
    assert quiet.failures == 0


async def test_a_task_whose_session_ended_stays_expired(net: Any, hub: Hub) -> None:
    alice, bob = await net.agent("alice"), await net.agent("bob")
    session = await alice.open(type="conversation", target="bob")
    stream = MemoryStream()
    ctx = ConversationContext(stream)
    mirror = TaskMirror(hub_client=bob, owner_id=bob.agent_id, session_id=session.session_id)
    mirror.attach(stream)
    async with bob.agent.task("long", capability="research", context=ctx) as task:
        await hub.close_session(session.session_id, reason="enough")
        assert (await hub.get_task(task.task_id)).state is TaskState.EXPIRED
        await task.complete("late")
    md = await hub.get_task(task.task_id)
    assert md.state is TaskState.EXPIRED and md.result is None
    stat = (await hub.get_resume(bob.agent_id)).observed["research"]
    assert (stat.n, stat.expired, stat.completed) == (1, 1, 0)
    assert mirror.failures == 0


def tasks_tool(client: AgentClient) -> Any:
    return build_tasks_tool(client)


async def test_tasks_tool_contract(net: Any, hub: Hub) -> None:
    bob = await net.agent("bob")
    tool = tasks_tool(bob)
    assert tool.name == "tasks"

    async def call(**kw: Any) -> Any:
        kw.setdefault("task", None)
        kw.setdefault("client", None)
        return await tool(**kw)

    assert (await call(action="progress", payload={"x": 1})).startswith("Error: progress needs")
    assert (await call(action="complete")).startswith("Error: complete needs")
    assert (await call(action="status")).startswith("Error: status needs task_id")
    assert (await call(action="wait")).startswith("Error: wait needs task_id")
    cancel = await call(action="cancel", task_id="t1")
    assert cancel == CANCEL_UNSUPPORTED and "not supported" in cancel and cancel.startswith("Error")
    assert (await call(action="status", task_id="nope")).startswith("Error: unknown task")
    assert (await call(action="list", state="sleeping")).startswith("Error: unknown state")
    assert await call(action="list") == []

    await bob.observe_task(TaskMetadata("t1", bob.agent_id, TaskSpec("x"), TaskState.RUNNING))
    status = await call(action="status", task_id="t1")
    assert status["state"] == "running" and status["owner_id"] == bob.agent_id
    timed_out = await call(action="wait", task_id="t1", timeout=0.05, poll_interval=0.01)
    assert timed_out.startswith("Error: task t1 still running") and "timed out" in timed_out
    await bob.update_task("t1", state="completed", result="r")
    waited = await call(action="wait", task_id="t1", timeout=5)
    assert waited["state"] == "completed" and waited["result"] == "r"
    assert [t["task_id"] for t in await call(action="list", state="completed")] == ["t1"]
    assert (await call(action="wait", task_id="t1", poll_interval=0)).startswith("Error")

    # progress / complete act on the running task, which the mirror reports
    stream = MemoryStream()
    ctx = ConversationContext(stream)
    TaskMirror(hub_client=bob, owner_id=bob.agent_id).attach(stream)
    async with bob.agent.task("y", context=ctx) as task:
        assert await call(action="progress", payload={"done": 1}, task=task) == (
            f"progress recorded for task {task.task_id}"
        )
        assert (await call(action="progress", payload="x", task=task)).startswith("Error")
        assert (await call(action="status", task=task))["progress"] == {"done": 1}
        assert (await call(action="complete", result={"ok": True}, task=task)).startswith(
            "completed task"
        )
        assert (await call(action="complete", task=task)).startswith("Error: task")
    md = await hub.get_task(task.task_id)
    assert md.state is TaskState.COMPLETED and md.result == {"ok": True}


async def test_the_plugin_offers_tasks_and_the_model_can_call_it(net: Any, hub: Hub) -> None:
    bob = await net.agent(
        "bob",
        ToolCallEvent("tasks", arguments='{"action": "progress", "payload": {"step": 2}}'),
        ToolCallEvent("tasks", arguments='{"action": "cancel", "task_id": "x"}'),
        "done",
    )
    assert "tasks" in {t.name for t in bob.agent.tools}
    stream = MemoryStream()
    ctx = ConversationContext(stream, dependencies={AGENT_CLIENT_DEP: bob})
    TaskMirror(hub_client=bob, owner_id=bob.agent_id).attach(stream)
    async with bob.agent.task("guided", context=ctx) as task:
        await bob.agent.ask("work", stream=stream, dependencies=ctx.dependencies)
    results = [
        e
        for e in await stream.history.get_events()
        if isinstance(e, ToolResultEvent | ToolErrorEvent)
    ]
    assert len(results) == 2 and all(isinstance(e, ToolResultEvent) for e in results)
    md = await hub.get_task(task.task_id)
    assert md.progress == {"step": 2} and md.state is TaskState.COMPLETED


async def test_checkpoints_through_the_hub(net: Any) -> None:
    alice, bob = await net.agent("alice"), await net.agent("bob")
    store = HubBackedCheckpointStore(bob)
    assert await store.load("survey") is None
    await store.save("survey", {"pages": 3, "seen": ["a"]})
    assert await store.load("survey") == {"pages": 3, "seen": ["a"]}
    assert await HubBackedCheckpointStore(alice).load("survey") is None  # per agent
    await store.delete("survey")
    await store.delete("survey")  # idempotent
    assert await store.load("survey") is None
    with pytest.raises(InvalidValueError, match="checkpoint key"):
        await store.save("a/b", {})
    with pytest.raises(InvalidValueError, match="data"):
        await store.save("k", [1])  # type: ignore[arg-type]
    with pytest.raises(ProtocolError) as err:
        await store.save("big", {"blob": "x" * (1 << 20)})
    assert err.value.code == "payload_too_large"

    memory = MemoryCheckpointStore()
    await memory.save("k", {"a": [1]})
    loaded = await memory.load("k")
    assert loaded == {"a": [1]}
    loaded["a"].append(2)
    assert await memory.load("k") == {"a": [1]}
    await memory.delete("k")
    assert await memory.load("k") is None
    with pytest.raises(InvalidValueError):
        await memory.save("k", {"x": {1, 2}})


async def test_a_task_resumes_from_its_checkpoint_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    agent = Agent("bob", config=TestConfig("ok"))

    async def run(stop_after: int | None) -> list[int]:
        hub = await Hub.open(SqliteKnowledgeStore(path), ttl_sweep_interval=0)
        hc = HubClient(LocalLink(hub), hub=hub)
        done: list[int] = []
        try:
            bob = await hc.register(agent, Passport(name="bob"), Resume(), attach_plugin=False)
            store = HubBackedCheckpointStore(bob)
            start = (await store.load("pages") or {"next": 0})["next"]
            for page in range(start, 5):
                if stop_after is not None and page == stop_after:
                    return done  # the process "dies" here
                done.append(page)
                await store.save("pages", {"next": page + 1})
            await store.delete("pages")
            return done
        finally:
            await hc.close()
            await hub.close()
            await hub.store.close()

    assert await run(stop_after=3) == [0, 1, 2]
    assert await run(stop_after=None) == [3, 4]  # resumed where it stopped
    assert await run(stop_after=None) == [0, 1, 2, 3, 4]  # finished work left no checkpoint
