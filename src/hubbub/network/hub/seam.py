"""The hub's seam: where what plugs in around the hub meets the core (architecture "Seams").

One :class:`HubSeam` per hub holds the things a deployment may swap or add:

* ``arbiter`` — every access decision (:mod:`hubbub.network.hub.arbiter`);
* ``audit`` — the audit sink (an :class:`AuditLog` or a subclass writing elsewhere too);
* the listeners — code that hears what the hub did (:mod:`hubbub.network.hub.listeners`);
* the interceptors — code around every admission (:mod:`hubbub.network.hub.intercept`:
  a tracing span from admission to durability, a latency histogram), outermost first.

The hub's parts (registry, session opener, pipeline, router) are handed the seam
and report through it; nothing else in the core knows about listeners. Reporting
costs one attribute test when no listener is registered (``if seam.listeners:``
at the call site), so the post path stays as cheap as without the seam.

Events are queued in the order they are reported and delivered by one task, each
to every listener in registration order; a listener that raises is logged and
skipped. The queue is what lets the synchronous parts of the pipeline (the
durable point, the router's dispatch) report without awaiting foreign code.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubbub.network.envelope import Envelope
    from hubbub.network.hub.arbiter import HubArbiter
    from hubbub.network.hub.audit import AuditLog
    from hubbub.network.hub.intercept import AdmitCall

__all__ = ["HubSeam"]


def _link(interceptor: Any, call_next: AdmitCall) -> AdmitCall:
    async def call(envelope: Envelope) -> Envelope:
        result: Envelope = await interceptor.intercept_admit(envelope, call_next)
        return result

    return call


log = logging.getLogger("hubbub.hub")


class HubSeam:
    """The hub's arbiter, audit sink and listeners (see the module docstring).

    Args:
        audit: the audit sink.
        arbiter: the access decisions.
    """

    def __init__(self, audit: AuditLog, arbiter: HubArbiter) -> None:
        self.audit = audit
        self.arbiter = arbiter
        # A tuple: an event keeps the listeners registered when it was reported.
        self.listeners: tuple[Any, ...] = ()
        self.interceptors: tuple[Any, ...] = ()  # those with an intercept_admit
        self._queue: deque[tuple[tuple[Any, ...], str, tuple[Any, ...]]] = deque()
        self._drainer: asyncio.Task[None] | None = None

    def register(self, listener: Any) -> None:
        """Add a listener after those registered (registering one twice is a no-op)."""
        if listener not in self.listeners:
            self.listeners = (*self.listeners, listener)

    def unregister(self, listener: Any) -> None:
        """Remove a listener; unknown ones are ignored (events already queued still reach it)."""
        self.listeners = tuple(x for x in self.listeners if x is not listener)

    def add_interceptor(self, interceptor: Any) -> None:
        """Add an interceptor inside those added before (adding one twice is a no-op)."""
        if interceptor not in self.interceptors:
            self.interceptors = (*self.interceptors, interceptor)

    def remove_interceptor(self, interceptor: Any) -> None:
        """Remove an interceptor; unknown ones are ignored."""
        self.interceptors = tuple(x for x in self.interceptors if x is not interceptor)

    async def intercept_admit(self, envelope: Envelope, innermost: AdmitCall) -> Envelope:
        """Run ``innermost(envelope)`` inside every interceptor, the first added outermost."""
        call = innermost
        for interceptor in reversed(self.interceptors):
            call = _link(interceptor, call)
        return await call(envelope)

    def emit(self, event: str, *args: Any) -> None:
        """Queue ``event(*args)`` for every listener; never raises, never waits.

        Call sites test ``seam.listeners`` first so that building the arguments is
        skipped when nobody listens.
        """
        listeners = self.listeners
        if not listeners:
            return
        self._queue.append((listeners, event, args))
        if self._drainer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a synchronous caller): delivered with the next event
                return
            self._drainer = loop.create_task(self._drain(), name="hubbub-listeners")

    async def _drain(self) -> None:
        queue = self._queue
        try:
            while queue:
                listeners, event, args = queue.popleft()
                for listener in listeners:
                    method = getattr(listener, event, None)
                    if method is None:
                        continue
                    try:
                        await method(*args)
                    except Exception:  # a listener must never break the hub
                        log.exception("hub listener %r failed in %s", listener, event)
        finally:
            self._drainer = None

    async def flush(self) -> None:
        """Wait until every event reported so far has reached every listener.

        Not to be awaited from inside a listener (it would wait for itself).
        """
        while self._queue or self._drainer is not None:
            drainer = self._drainer
            if drainer is None:  # events queued with no loop running at the time
                drainer = self._drainer = asyncio.get_running_loop().create_task(self._drain())
            await asyncio.wait((drainer,))

    async def close(self, timeout: float) -> None:  # noqa: ASYNC109
        """Deliver what is queued, waiting at most ``timeout`` seconds; then stop.

        A listener still running after that is cancelled and the rest dropped
        (logged): a hung listener cannot keep the hub from closing.
        """
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            log.warning(
                "hub listeners did not finish within %.1f s; %d event(s) dropped",
                timeout,
                len(self._queue),
            )
            self._queue.clear()
            drainer = self._drainer
            if drainer is not None:
                drainer.cancel()
                await asyncio.wait((drainer,))

    @property
    def pending(self) -> int:
        """Events reported and not yet delivered."""
        return len(self._queue)
