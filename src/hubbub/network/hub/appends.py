"""WAL appends: how the hub starts one on a store, and one append of a session's chain."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hubbub.knowledge import KnowledgeStore
from hubbub.network.envelope import Envelope
from hubbub.network.machine import Decision

__all__ = ["Append", "AppendStarter", "append_starter"]

AppendStarter = Callable[[str, str], "asyncio.Future[Any]"]


def append_starter(store: KnowledgeStore) -> AppendStarter:
    """How the hub starts an append on ``store``: its future ends when the append is durable.

    A store whose class defines ``append_nowait`` next to ``append`` starts it at
    once (no task); any other store — a wrapper that overrides ``append`` included —
    gets its ``append`` coroutine wrapped in a task. Either way appends start in
    call order, and a caller's cancellation cannot lose the outcome.
    """
    for klass in type(store).__mro__:
        if "append" in vars(klass):
            if "append_nowait" in vars(klass):
                nowait: AppendStarter = getattr(store, "append_nowait")  # noqa: B009
                return nowait
            break

    def start(path: str, text: str) -> asyncio.Future[Any]:
        return asyncio.ensure_future(store.append(path, text))

    return start


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
