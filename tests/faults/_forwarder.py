"""A loopback TCP forwarder the test controls: cut live connections, refuse new ones, restore.

    fwd = await Forwarder.start("127.0.0.1", 5432)   # listens on 127.0.0.1:<fwd.port>
    fwd.cut()        # abort every live connection (both sides see a reset)
    await fwd.block()  # refuse new connections (the listener closes: ECONNREFUSED)
    await fwd.restore()  # listen again on the same port
    await fwd.close()

Traffic stays on loopback: the forwarder listens on 127.0.0.1 only and forwards to
the one upstream address it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

__all__ = ["Forwarder"]

_CHUNK = 1 << 16


class Forwarder:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._conns: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.accepted = 0
        self.cuts = 0

    @classmethod
    async def start(cls, upstream_host: str, upstream_port: int) -> Forwarder:
        fwd = cls(upstream_host, upstream_port)
        await fwd._listen()
        return fwd

    async def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._handle, sock=sock)

    @property
    def live(self) -> int:
        """Connections being forwarded right now."""
        return len(self._conns)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._conns.add(pair)
        t1 = asyncio.create_task(self._pipe(reader, up_writer))
        t2 = asyncio.create_task(self._pipe(up_reader, writer))
        self._tasks.update((t1, t2))
        try:
            await asyncio.wait({t1, t2}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._conns.discard(pair)
            for w in pair:
                w.transport.abort()
            for t in (t1, t2):
                t.cancel()
            await asyncio.gather(t1, t2, return_exceptions=True)
            self._tasks.difference_update((t1, t2))

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await src.read(_CHUNK):
                dst.write(data)
                await dst.drain()

    def cut(self) -> int:
        """Abort every live connection (as a server restart or a dropped link would); returns how many."""
        pairs = list(self._conns)
        self._conns.clear()
        for pair in pairs:
            for w in pair:
                w.transport.abort()
        self.cuts += len(pairs)
        return len(pairs)

    async def block(self) -> None:
        """Refuse new connections until :meth:`restore` (live ones are not touched: ``cut`` them)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def restore(self) -> None:
        """Accept connections again, on the same port."""
        if self._server is None:
            await self._listen()

    async def close(self) -> None:
        await self.block()
        self.cut()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
