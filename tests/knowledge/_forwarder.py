"""A loopback TCP forwarder a test controls, to take a server "down" without touching it.

    fwd = await Forwarder.start(("127.0.0.1", 5432))  # listens on 127.0.0.1:<fwd.port>
    fwd.cut()             # reset every forwarded connection (a restart or a dropped link)
    await fwd.refuse()    # close the listener: new connections get ECONNREFUSED
    await fwd.restore()   # listen again, on the same port
    await fwd.down()      # refuse + cut: the server is gone
    await fwd.close()

It listens on 127.0.0.1 only and forwards to the one target it was given, so a
test that points a client at ``fwd.port`` can make the server vanish and come
back while the real server (shared with other tests) keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

__all__ = ["Forwarder"]

_CHUNK = 1 << 16


class Forwarder:
    """Forwards 127.0.0.1:``port`` to ``target``; cut, refuse and restore on command."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.accepted = 0  # connections accepted since start
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(cls, target: tuple[str, int]) -> Forwarder:
        """Listen on a free loopback port and forward to ``target``."""
        fwd = cls(target)
        await fwd.restore()
        return fwd

    @property
    def live(self) -> int:
        """Connections being forwarded now."""
        return len(self._links)

    @property
    def listening(self) -> bool:
        """Whether new connections are accepted."""
        return self._server is not None

    async def restore(self) -> None:
        """Accept connections again (on the same port once one was chosen)."""
        if self._server is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._serve, sock=sock)

    async def refuse(self) -> None:
        """Close the listener: new connections are refused. Live ones are untouched."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    def cut(self) -> int:
        """Reset every forwarded connection, both sides; return how many there were."""
        links = list(self._links)
        self._links.clear()
        for link in links:
            for writer in link:
                writer.transport.abort()
        return len(links)

    async def down(self) -> None:
        """Refuse new connections and cut the live ones: the server is unreachable."""
        await self.refuse()
        self.cut()

    async def close(self) -> None:
        """Stop everything; idempotent."""
        await self.down()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                writer.transport.abort()
                return
            link = (writer, up_writer)
            self._links.add(link)
            pipes = {
                asyncio.create_task(_pipe(reader, up_writer)),
                asyncio.create_task(_pipe(up_reader, writer)),
            }
            try:
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._links.discard(link)
                for w in link:
                    w.transport.abort()
                for pipe in pipes:
                    pipe.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            self._tasks.discard(task)


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await src.read(_CHUNK):
            dst.write(data)
            await dst.drain()
