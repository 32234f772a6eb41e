"""A tool raising any BaseException is a tool error; only a real cancellation propagates.

Concurrent tool calls run in child tasks; a ``SystemExit`` or ``KeyboardInterrupt`` that
escaped one would be re-raised by the event loop itself and end the process.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hubbub import Agent, Toolkit, tool
from hubbub.events import ToolCallEvent, ToolErrorEvent, ToolResultsEvent
from hubbub.testing import TestConfig, TrackingConfig
from hubbub.tools import is_cancellation


class _Bye(BaseException):
    pass


def _tool_errors(tracking: TrackingConfig) -> list[ToolErrorEvent]:
    return [
        r
        for m in tracking.calls[-1].messages
        if isinstance(m, ToolResultsEvent)
        for r in m.results
        if isinstance(r, ToolErrorEvent)
    ]


@pytest.mark.parametrize(
    "raised",
    [SystemExit(2), KeyboardInterrupt(), _Bye(), asyncio.CancelledError()],
    ids=["SystemExit", "KeyboardInterrupt", "BaseException", "stray-CancelledError"],
)
@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync-in-thread"])
async def test_tool_raising_base_exception_in_a_concurrent_round_is_a_tool_error(
    raised: BaseException, sync: bool
) -> None:
    if sync:

        def boom() -> str:
            """Fail."""
            raise raised

        boom_tool = tool(boom)
    else:

        async def aboom() -> str:
            """Fail."""
            raise raised

        boom_tool = tool(aboom, name="boom")

    async def fine() -> str:
        """Work."""
        return "fine"

    tracking = TrackingConfig(
        TestConfig([ToolCallEvent("boom"), ToolCallEvent("fine")], "done", raise_tool_errors=False)
    )
    reply = await Agent("a", config=tracking, tools=[boom_tool, fine]).ask("go")
    assert reply.body == "done"
    assert [type(e.error) for e in _tool_errors(tracking)] == [type(raised)]


async def test_base_exception_in_a_toolkit_member_with_middleware_is_a_tool_error() -> None:
    async def passthrough(call_next: Any, call: Any, ctx: Any) -> Any:
        return await call_next(call, ctx)

    kit = Toolkit(middleware=[passthrough])

    @kit.tool
    async def quit_now() -> str:
        """Quit."""
        raise SystemExit(1)

    tracking = TrackingConfig(TestConfig(ToolCallEvent("quit_now"), "ok", raise_tool_errors=False))
    reply = await Agent("a", config=tracking, tools=[kit]).ask("go")
    assert reply.body == "ok"
    assert [type(e.error) for e in _tool_errors(tracking)] == [SystemExit]


async def test_cancelling_an_ask_cancels_its_running_tools() -> None:
    started = asyncio.Event()
    running: list[str] = []
    cancelled: list[str] = []

    async def wait_forever(name: str) -> str:
        """Block."""
        running.append(name)
        if len(running) == 2:
            started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
        return "unreachable"

    config = TestConfig(
        [
            ToolCallEvent("wait_forever", arguments='{"name": "a"}'),
            ToolCallEvent("wait_forever", arguments='{"name": "b"}'),
        ],
        "never",
    )
    task = asyncio.ensure_future(Agent("a", config=config, tools=[wait_forever]).ask("go"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == ["a", "b"]


async def test_is_cancellation_tells_a_real_cancellation_from_a_stray_one() -> None:
    assert not is_cancellation(asyncio.CancelledError())  # this task is not being cancelled
    assert not is_cancellation(SystemExit())
    seen: list[bool] = []
    waiting = asyncio.Event()

    async def victim() -> None:
        waiting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError as exc:
            seen.append(is_cancellation(exc))
            raise

    task = asyncio.ensure_future(victim())
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == [True]
