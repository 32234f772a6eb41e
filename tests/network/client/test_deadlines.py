"""TurnDeadlines: one timer for all of a client's turn timeouts (no hub needed)."""

from __future__ import annotations

import asyncio
import time

import pytest

from hubbub.network.client.deadlines import TurnDeadlines


async def _turn(deadlines: TurnDeadlines, timeout: float | None, work: float) -> str:
    """Run ``work`` seconds under a deadline: "done", "expired", or the cancellation raised."""
    deadline = deadlines.start(timeout)
    try:
        await asyncio.sleep(work)
        return "done"
    except asyncio.CancelledError as exc:
        if deadline is None or not deadline.expired_by(exc):
            raise
        return "expired"
    finally:
        deadlines.finish(deadline)


async def test_a_turn_past_its_deadline_is_cancelled_and_told_so() -> None:
    deadlines = TurnDeadlines()
    assert await _turn(deadlines, 0.02, 5.0) == "expired"
    # the cancellation was taken back: the task goes on as if never cancelled
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)


async def test_turns_in_time_are_left_alone_by_the_timer_armed_for_them() -> None:
    deadlines = TurnDeadlines()
    # the first turn arms the timer for 0.05 s; both end earlier; a later turn
    # started when it fires has time left and must not be cancelled by it
    assert await _turn(deadlines, 0.05, 0.001) == "done"
    assert await _turn(deadlines, 0.05, 0.001) == "done"
    await asyncio.sleep(0.03)
    assert await _turn(deadlines, 0.05, 0.04) == "done"  # runs across the first timer


async def test_concurrent_turns_expire_each_at_its_own_deadline() -> None:
    deadlines = TurnDeadlines()
    results = await asyncio.gather(
        _turn(deadlines, 0.02, 5.0),
        _turn(deadlines, 0.3, 0.1),
        _turn(deadlines, 0.08, 5.0),
        _turn(deadlines, None, 0.15),
    )
    assert results == ["expired", "done", "expired", "done"]


async def test_a_shorter_timeout_after_a_longer_one_rearms_the_timer() -> None:
    deadlines = TurnDeadlines()
    slow = asyncio.create_task(_turn(deadlines, 30.0, 0.2))
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await _turn(deadlines, 0.02, 5.0) == "expired"
    assert loop.time() - started < 5.0
    assert await slow == "done"


async def test_a_cancellation_from_elsewhere_is_not_mistaken_for_the_deadline() -> None:
    deadlines = TurnDeadlines()
    task = asyncio.create_task(_turn(deadlines, 30.0, 5.0))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_shutdown_during_an_expiring_turn_still_cancels_it() -> None:
    """The deadline fires while the task is also cancelled from outside: the outside wins."""
    deadlines = TurnDeadlines()
    loop = asyncio.get_running_loop()

    async def turn() -> str:
        deadline = deadlines.start(0.02)
        try:
            loop.call_later(0.01, asyncio.current_task().cancel)  # type: ignore[union-attr]
            time.sleep(0.05)  # noqa: ASYNC251 -- block the loop: both timers are due when it resumes
            await asyncio.sleep(5.0)
            return "done"
        except asyncio.CancelledError as exc:
            assert deadline is not None and deadline.expired
            if not deadline.expired_by(exc):
                raise
            return "expired"
        finally:
            deadlines.finish(deadline)

    with pytest.raises(asyncio.CancelledError):
        await asyncio.create_task(turn())


async def test_a_turn_that_swallows_the_cancellation_leaves_the_task_uncancelled() -> None:
    """As ``asyncio.timeout``: the request is withdrawn, the task's later awaits run."""
    deadlines = TurnDeadlines()

    async def stubborn() -> str:
        deadline = deadlines.start(0.02)
        try:
            try:
                await asyncio.sleep(5.0)
            except asyncio.CancelledError:
                pass  # a tool that catches everything
            return "swallowed"
        finally:
            deadlines.finish(deadline)

    async def turn_then_more() -> tuple[str, int]:
        result = await stubborn()
        task = asyncio.current_task()
        assert task is not None
        await asyncio.sleep(0.01)  # would raise CancelledError if the request stood
        return result, task.cancelling()

    assert await asyncio.create_task(turn_then_more()) == ("swallowed", 0)
