"""Streams/history (§6) and tasks (§11)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hubbub import Agent, Context, MemoryStream, TaskInject
from hubbub.context import ConversationContext
from hubbub.events import (
    BaseEvent,
    Field,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TaskCompleted,
    TaskFailed,
    TaskProgress,
    TaskStarted,
    TextInput,
    ToolCallEvent,
)
from hubbub.task import TERMINAL_TASK_STATES, Task, TaskMetadata, TaskSpec, TaskState
from hubbub.testing import TestConfig


async def test_storage_persists_non_transient_events_only() -> None:
    stream = MemoryStream()
    await stream.send(ModelRequest([TextInput("a")]))
    await stream.send(ModelMessage("transient"))
    assert await stream.history.get_events() == [ModelRequest([TextInput("a")])]
    everything = MemoryStream(persist_all=True)
    await everything.send(ModelMessage("kept"))
    assert len(await everything.history.get_events()) == 1


async def test_where_subscribe_unsubscribe_and_di_in_subscribers() -> None:
    stream = MemoryStream()
    got: list[Any] = []

    async def on_request(event: ModelRequest, ctx: Context) -> None:
        got.append((event.parts[0], ctx.stream is stream))

    sub = stream.where(ModelRequest).subscribe(on_request)
    await stream.send(ModelResponse(ModelMessage("x")))
    await stream.send(ModelRequest([TextInput("a")]))
    stream.unsubscribe(sub)
    await stream.send(ModelRequest([TextInput("b")]))
    assert got == [(TextInput("a"), True)]


async def test_a_subscriber_unsubscribing_during_send_leaves_the_others_their_event() -> None:
    stream = MemoryStream()
    got: list[str] = []
    ids: dict[str, int] = {}

    async def once(event: ModelRequest) -> None:
        got.append("once")
        stream.unsubscribe(ids["once"])

    async def always(event: ModelRequest) -> None:
        got.append("always")

    async def keep(event: ModelRequest) -> ModelRequest:
        got.append("interrupter")
        return event

    ids["once"] = stream.subscribe(once)
    ids["always"] = stream.subscribe(always)
    ids["keep"] = stream.subscribe(keep, interrupt=True)
    await stream.send(ModelRequest([TextInput("a")]))
    await stream.send(ModelRequest([TextInput("b")]))
    assert got == ["interrupter", "once", "always", "interrupter", "always"]
    stream.unsubscribe(ids["keep"])  # an interrupter is removed the same way
    stream.unsubscribe(10**9)  # an unknown id: nothing happens
    await stream.send(ModelRequest([TextInput("c")]))
    assert got[5:] == ["always"]


async def test_sync_subscribers_run_in_a_thread_unless_disabled() -> None:
    stream = MemoryStream()
    threads: list[bool] = []
    stream.subscribe(
        lambda e: threads.append(threading.current_thread() is threading.main_thread())
    )
    stream.subscribe(
        lambda e: threads.append(threading.current_thread() is threading.main_thread()),
        sync_to_thread=False,
    )
    await stream.send(ModelMessage("x"))
    assert threads == [False, True]


async def test_field_conditions_and_interrupters() -> None:
    stream = MemoryStream()
    got: list[str] = []
    stream.subscribe(
        lambda e: got.append(e.name),
        sync_to_thread=False,
        condition=(Field(ToolCallEvent, "name") == "a") | (Field(ToolCallEvent, "name") == "c"),
    )
    stream.subscribe(lambda e: None if e.name == "c" else e, interrupt=True, sync_to_thread=False)
    for n in "abc":
        await stream.send(ToolCallEvent(n))
    assert got == ["a"]  # "c" dropped by the interrupter
    assert [e.name for e in await stream.history.get_events()] == ["a", "b"]  # type: ignore[attr-defined]


async def test_get_resolves_on_first_match() -> None:
    stream = MemoryStream()
    async with stream.get(ModelResponse) as fut:
        await stream.send(ModelRequest([]))
        await stream.send(ModelResponse(ModelMessage("x")))
    assert (await fut).content == "x"  # type: ignore[attr-defined]


async def test_task_lifecycle_on_the_turn_stream_via_tool_context() -> None:
    live: list[BaseEvent] = []
    agent = Agent("worker", config=TestConfig(ToolCallEvent(name="work"), "done"))

    @agent.tool
    async def work(ctx: Context, current: TaskInject) -> str:
        assert current is None
        async with agent.task(
            "Summarise", capability="summary", ttl_seconds=60, context=ctx
        ) as task:
            assert ctx.dependencies["ag2.task"] is task
            await task.progress({"pct": 50})
            assert task.state is TaskState.RUNNING
            assert task.metadata.expires_at is not None
        assert task.state is TaskState.COMPLETED
        assert ctx.dependencies.get("ag2.task") is None
        return task.task_id

    stream = MemoryStream()
    stream.subscribe(
        live.append, sync_to_thread=False, condition=(TaskStarted, TaskProgress, TaskCompleted)
    )
    await agent.ask("go", stream=stream)
    assert [type(e).__name__ for e in live] == ["TaskStarted", "TaskProgress", "TaskCompleted"]
    started = live[0]
    assert isinstance(started, TaskStarted)
    assert (started.agent_name, started.objective) == ("worker", "Summarise")
    assert started.spec is not None and started.spec.capability == "summary"
    persisted = [
        type(e).__name__
        for e in await stream.history.get_events()
        if type(e).__name__.startswith("Task")
    ]
    assert persisted == ["TaskStarted", "TaskCompleted"]


async def test_task_inject_inside_a_task() -> None:
    seen: list[Any] = []

    async def probe(current: TaskInject) -> None:
        seen.append(current)

    from hubbub.di import CallPlan

    ctx = ConversationContext(MemoryStream())
    plan = CallPlan(probe)
    async with Agent("a").task("t", context=ctx) as task:
        await probe(**await plan.resolve_hidden(ctx))
    await probe(**await plan.resolve_hidden(ctx))
    assert seen == [task, None]


async def test_task_failure_and_idempotent_terminal_transitions() -> None:
    stream = MemoryStream()
    ctx = ConversationContext(stream)
    with pytest.raises(ValueError):
        async with Task("o", TaskSpec("t"), context=ctx) as task:
            raise ValueError("broke")
    assert task.state is TaskState.FAILED and "broke" in task.metadata.error
    await task.complete("late")
    await task.cancel("late")
    assert task.state is TaskState.FAILED
    kinds = [type(e) for e in await stream.history.get_events()]
    assert kinds == [TaskStarted, TaskFailed]
    assert (
        TaskState.FAILED in TERMINAL_TASK_STATES and TaskState.RUNNING not in TERMINAL_TASK_STATES
    )


async def test_task_metadata_round_trip() -> None:
    async with Task("o", TaskSpec("t", payload={"a": 1})) as task:
        await task.progress({"p": 1})
    data = task.metadata.to_dict()
    assert data["state"] == "completed" and data["spec"]["payload"] == {"a": 1}
    assert TaskMetadata.from_dict(data) == task.metadata
