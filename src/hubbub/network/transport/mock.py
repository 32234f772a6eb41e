"""MockLink: a link whose hub is a function, for client tests that need no Hub.

In the spirit of httpx's ``MockTransport``: the test writes the hub's side as a
handler that takes each frame the client sends and returns the frames to answer
with (one, a list, or None; the handler may be async)::

    def hub(frame: Frame) -> Frame | list[Frame] | None:
        if isinstance(frame, HelloFrame):
            return WelcomeFrame("ep-1", "", "owner-a")
        if isinstance(frame, RequestFrame) and frame.op == "get_agent":
            return ResponseFrame(frame.request_id, True, Passport(name="bob").to_dict())
        return None

    client = HubClient(MockLink(hub))

Answers reach the client on a later turn of the event loop, as from a socket
(never from inside ``send_frame``): a plain handler's in order, an async one's as
each finishes, so calls are pipelined as on a real hub. ``push(frame)`` sends a
frame the client did not ask for (a notify, a goodbye); ``lose()`` drops the link.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any, TypeAlias

from hubbub.network.errors import ProtocolError
from hubbub.network.protocol.frames import Frame

__all__ = ["Answer", "Handler", "MockLink", "MockLinkClient"]

log = logging.getLogger(__name__)

#: What a handler returns for one frame.
Answer: TypeAlias = Frame | Iterable[Frame] | None
#: The hub's side of a mock link: a frame from the client → the frames to answer with.
Handler: TypeAlias = Callable[[Frame], Answer | Awaitable[Answer]]


class MockLinkClient:
    """One connection of a :class:`MockLink` (a link client for ``ClientConnection``)."""

    def __init__(self, link: MockLink) -> None:
        self._link = link
        self.sent: list[Frame] = []  # every frame the client sent, in order
        self._tasks: set[asyncio.Future[Answer]] = set()
        self._on_frame: Callable[[Frame], None] | None = None
        self._on_lost: Callable[[BaseException | None], None] | None = None
        self.connected = False
        self.closed = False

    def credential(self) -> tuple[str, dict[str, Any]]:
        """The link's ``(scheme, claim)``."""
        scheme, claim = self._link.credential_value
        return scheme, dict(claim)

    async def connect(
        self,
        on_frame: Callable[[Frame], None],
        on_lost: Callable[[BaseException | None], None],
    ) -> None:
        """Start answering the client's frames with the handler."""
        if self.connected or self.closed:
            raise ProtocolError("this mock link client was already connected")
        self._on_frame, self._on_lost = on_frame, on_lost
        self.connected = True
        self._link.clients.append(self)

    def send_frame(self, frame: Frame) -> None:
        """Hand a frame to the handler (on the next turn of the loop, as a socket would)."""
        if self.closed or not self.connected:
            raise ProtocolError("the link is closed", code="connection_lost")
        self.sent.append(frame)
        asyncio.get_running_loop().call_soon(self._handle, frame)

    def push(self, frame: Frame) -> None:
        """Send the client a frame it did not ask for (a notify, a goodbye)."""
        if not self.closed and self._on_frame is not None:
            self._on_frame(frame)

    def lose(self, error: BaseException | None = None) -> None:
        """Drop the link as a cut socket would: the client's ``on_lost`` is called."""
        if self.closed:
            return
        self._stop()
        if self._on_lost is not None:
            self._on_lost(error)

    async def close(self) -> None:
        """Close the link (idempotent; ``on_lost`` is not called).

        Frames sent before still reach the handler (an async one runs up to its first
        wait); answers not pushed yet are dropped.
        """
        if self.closed:
            return
        await asyncio.sleep(0)  # the hand-overs already scheduled run ...
        await asyncio.sleep(0)  # ... and the tasks they started take their first step
        tasks = list(self._tasks)
        self._stop()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _stop(self) -> None:
        self.closed = True
        for task in self._tasks:
            task.cancel()

    def _handle(self, frame: Frame) -> None:
        """Run the handler on one frame: a plain answer is pushed now, an awaitable one
        from a task of its own (so a slow answer does not hold up the next frames)."""
        try:
            answer = self._link.handler(frame)
        except Exception as exc:
            self._broken(frame, exc)
            return
        if inspect.isawaitable(answer):
            future = asyncio.ensure_future(answer)
            self._tasks.add(future)
            future.add_done_callback(partial(self._answered, frame))
            return
        for out in _frames(answer):
            self.push(out)

    def _answered(self, frame: Frame, future: asyncio.Future[Answer]) -> None:
        self._tasks.discard(future)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            self._broken(frame, exc)
            return
        for out in _frames(future.result()):
            self.push(out)

    def _broken(self, frame: Frame, exc: BaseException) -> None:
        """A handler that raises drops the link, loudly (its error in every pending call)."""
        log.error("the MockLink handler raised on a %s frame", frame.kind, exc_info=exc)
        self.lose(exc)


def _frames(answer: Answer) -> list[Frame]:
    if answer is None:
        return []
    if isinstance(answer, Frame):
        return [answer]
    return list(answer)


class MockLink:
    """A link factory whose hub is ``handler`` (see the module docstring).

    Args:
        handler: the hub's side: takes each frame a client sends, returns the
            answer (a frame, frames, or None), or an awaitable of it.
        credential: the ``(scheme, claim)`` the clients' hellos carry.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        credential: tuple[str, dict[str, Any]] = ("none", {}),
    ) -> None:
        self.handler = handler
        self.credential_value = credential
        self.clients: list[MockLinkClient] = []  # every client connected, in order

    def client(self) -> MockLinkClient:
        """A new, unconnected link client."""
        return MockLinkClient(self)

    def push(self, frame: Frame) -> None:
        """Send ``frame`` to every client still connected."""
        for client in self.clients:
            client.push(frame)

    def lose(self, error: BaseException | None = None) -> None:
        """Drop every client's link."""
        for client in self.clients:
            client.lose(error)
