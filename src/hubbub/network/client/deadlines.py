"""TurnDeadlines: the turn timeout of one client's turns, kept with one timer.

``asyncio.timeout`` around each turn pushes a timer handle onto the loop's heap and
cancels it again, on every turn — about 4 % of an in-process turn. A client's
turns are short next to their timeout (300 s by default), so one timer serves all
of them: it is armed for the earliest deadline when none nearer is armed; when it
fires it cancels the turns past their deadline and re-arms for the next one. A
turn that ends in time only leaves the running set.

A cancelled turn sees ``CancelledError``; :meth:`Deadline.expired_by` tells the
turn's own code whether this timer caused it (and takes the cancellation back,
as ``asyncio.timeout`` does) or something else did (shutdown), which must go on.
"""

from __future__ import annotations

import asyncio

__all__ = ["Deadline", "TurnDeadlines"]


class Deadline:
    """One running turn: its task and when it must be done by (loop time)."""

    __slots__ = ("_taken_back", "at", "expired", "task")

    def __init__(self, task: asyncio.Task[object], at: float) -> None:
        self.task = task
        self.at = at
        self.expired = False
        self._taken_back = False

    def expired_by(self, exc: BaseException) -> bool:
        """Did this deadline cause ``exc`` (a CancelledError in the turn)? If so the
        cancellation is taken back; another cancellation request (shutdown) still wins."""
        if not self.expired or not isinstance(exc, asyncio.CancelledError):
            return False
        return self._take_back() == 0

    def _take_back(self) -> int:
        """Withdraw this deadline's cancellation request (once); the requests left."""
        if self._taken_back:
            return self.task.cancelling()
        self._taken_back = True
        return self.task.uncancel()


class TurnDeadlines:
    """The deadlines of the turns running under one client."""

    def __init__(self) -> None:
        self._running: set[Deadline] = set()
        self._timer: asyncio.TimerHandle | None = None

    def start(self, timeout: float | None) -> Deadline | None:
        """The current task's turn starts: it must end within ``timeout`` seconds
        (None: no deadline, and nothing to :meth:`finish`)."""
        if timeout is None:
            return None
        task = asyncio.current_task()
        assert task is not None, "a turn runs in a task"
        loop = task.get_loop()
        deadline = Deadline(task, loop.time() + timeout)
        self._running.add(deadline)
        timer = self._timer
        if timer is None or deadline.at < timer.when():
            self._arm(loop, deadline.at)
        return deadline

    def finish(self, deadline: Deadline | None) -> None:
        """The turn ended (in time or not). An expired turn that ended some other way
        than by the cancellation (it swallowed it) has the request withdrawn here."""
        if deadline is not None:
            self._running.discard(deadline)
            if deadline.expired:
                deadline._take_back()

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(at, self._fire, loop, at)

    def _fire(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        self._timer = None
        due = max(at, loop.time())  # the loop fires a timer up to its clock resolution early
        late = [d for d in self._running if d.at <= due]
        for deadline in late:
            self._running.discard(deadline)
            deadline.expired = True
            deadline.task.cancel()
        if self._running:
            self._arm(loop, min(d.at for d in self._running))
