"""WAL appends: how the hub starts one on a store, and one append of a session's chain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hubbub.knowledge import KnowledgeStore
from hubbub.network.envelope import Envelope
from hubbub.network.machine import Decision

__all__ = ["Append", "AppendStarter", "append_future", "append_starter"]

#: Starts one append: the offset (an int) of an append the store finished at once,
#: or a future that ends when the append is durable. It may raise at once (failed).
AppendStarter = Callable[[str, str], "asyncio.Future[Any] | int"]


def append_starter(store: KnowledgeStore) -> AppendStarter:
    """How the hub starts an append on ``store``.

    A store whose class defines ``append_now`` next to ``append`` appends at once
    (the memory store: no future); one that defines ``append_nowait`` starts it at
    once and hands back its future (no task); any other store — a wrapper that
    overrides ``append`` included — gets its ``append`` coroutine wrapped in a task.
    Either way appends start in call order, and a caller's cancellation cannot lose
    the outcome.
    """
    for klass in type(store).__mro__:
        if "append" in vars(klass):
            for name in ("append_now", "append_nowait"):
                if name in vars(klass):
                    starter: AppendStarter = getattr(store, name)
                    return starter
            break

    def start(path: str, text: str) -> asyncio.Future[Any]:
        return asyncio.ensure_future(store.append(path, text))

    return start


def append_future(start: AppendStarter, path: str, text: str) -> asyncio.Future[Any]:
    """Start an append through ``start`` and return it as a future (done already when
    the store appended, or failed, at once)."""
    try:
        started = start(path, text)
    except Exception as exc:
        failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        failed.set_exception(exc)
        return failed
    if isinstance(started, int):
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        done.set_result(started)
        return done
    return started


class Append:
    """One WAL append of one or more envelopes of one session.

    ``saved`` is the machine before the first of them (restored if the append
    fails); ``riders`` is the future the posts of a queued append wait on (None
    for an append its own post drives).
    """

    __slots__ = ("future", "items", "lines", "riders", "saved")

    def __init__(self, saved: Any, riders: asyncio.Future[None] | None) -> None:
        self.saved = saved
        self.riders = riders
        # each envelope, the decision applying it made, and its stamped time in epoch seconds
        self.items: list[tuple[Envelope, Decision | None, float]] = []
        self.lines: list[str] = []
        self.future: asyncio.Future[Any] | None = None
