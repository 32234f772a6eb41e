"""Child processes for the cross-process tests: ``hubbub serve`` hubs and agent programs.

Every child is started through :func:`children` (an async context manager) and
killed on the way out if it still runs; every wait on a child has a timeout.
stderr is drained as the child runs (so a chatty child cannot block on a full
pipe) and shown in assertion messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubbub.network import Envelope

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "examples" / "processes" / "agent.py"
READY = "hubbub: serving "
TOKENS = {"alice": "ta", "bob": "tb"}

#: Seconds a child may take to print its ready line (a cold start imports a lot).
START_TIMEOUT = 20.0
#: Seconds a child may take to exit once told to (or once its work is done).
EXIT_TIMEOUT = 15.0


def child_env() -> dict[str, str]:
    """This environment without provider keys (models stay scripted), the tree on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


@dataclass(frozen=True, slots=True)
class Exited:
    """How a child ended."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


class Child:
    """One child process: read its stdout line by line, signal it, wait for it."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        assert proc.stderr is not None
        self._stderr = asyncio.ensure_future(proc.stderr.read())
        self.result: Exited | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def describe(self) -> str:
        err = self._stderr.result().decode(errors="replace") if self._stderr.done() else "…"
        return f"{self.name} (pid {self.pid}, exit {self.proc.returncode}); stderr:\n{err}"

    async def readline(self, timeout: float = START_TIMEOUT) -> str:
        """The next stdout line (without its newline).

        Raises:
            AssertionError: the child closed its stdout (exited) or printed no line in time.
        """
        assert self.proc.stdout is not None
        try:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            raise AssertionError(f"no line within {timeout:g} s from {self.describe()}") from None
        if not raw:
            await self.wait()
            raise AssertionError(f"stdout closed: {self.describe()}")
        return raw.decode().rstrip("\n")

    async def expect(self, prefix: str, timeout: float = START_TIMEOUT) -> str:
        """The first stdout line starting with ``prefix`` (earlier lines are skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            line = await self.readline(max(deadline - loop.time(), 0.01))
            if line.startswith(prefix):
                return line

    def terminate(self) -> None:
        """Send SIGTERM."""
        self.proc.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float = EXIT_TIMEOUT) -> Exited:
        """Wait for the child to exit; its remaining stdout and all its stderr.

        Raises:
            AssertionError: it did not exit within ``timeout`` seconds.
        """
        if self.result is not None:
            return self.result
        assert self.proc.stdout is not None
        try:
            out, code = await asyncio.wait_for(
                asyncio.gather(self.proc.stdout.read(), self.proc.wait()), timeout
            )
            err = await asyncio.wait_for(self._stderr, timeout)
        except TimeoutError:
            raise AssertionError(f"did not exit within {timeout:g} s: {self.describe()}") from None
        self.result = Exited(code, out.decode(), err.decode(errors="replace"))
        return self.result

    async def kill(self) -> None:
        """Kill the child if it still runs, and collect it."""
        if self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
        await self.wait(EXIT_TIMEOUT)


class Children:
    """The children one test started (see :func:`children`)."""

    def __init__(self) -> None:
        self.started: list[Child] = []

    async def start(self, name: str, *argv: str | Path, env: dict[str, str] | None = None) -> Child:
        """Start ``argv`` (``sys.executable`` is prepended) with stdout and stderr piped
        (``env``: variables to set on top of :func:`child_env`)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *map(str, argv),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**child_env(), **(env or {})},
            cwd=ROOT,
        )
        child = Child(name, proc)
        self.started.append(child)
        return child

    async def serve(
        self, store: str, *args: str, tokens: bool = True, env: dict[str, str] | None = None
    ) -> Child:
        """Start ``hubbub serve`` on ``store`` with ``args`` (and alice's and bob's tokens)."""
        argv = ["-m", "hubbub.cli", "serve", "--store", store, *args]
        if tokens:
            for subject, token in TOKENS.items():
                argv += ["--token", f"{subject}:{token}"]
        return await self.start("hubbub serve", *argv, env=env)

    async def hub(
        self, store: str, *args: str, env: dict[str, str] | None = None
    ) -> tuple[Child, str]:
        """A serving hub on ``store`` (a free port) and its URL, once it said it serves."""
        hub = await self.serve(store, "--port", "0", *args, env=env)
        line = await hub.readline()
        assert line.startswith(READY), f"unexpected first line {line!r} of {hub.describe()}"
        return hub, line.removeprefix(READY)

    async def agent(self, seed: str, role: str, url: str, timeout: float = 30.0) -> Child:
        """Start ``examples/processes/agent.py`` as ``role`` of ``seed`` with its own token."""
        return await self.start(
            role,
            AGENT,
            *("--seed", seed, "--role", role, "--url", url),
            *("--token", TOKENS[role], "--timeout", str(timeout)),
        )


@asynccontextmanager
async def children() -> AsyncIterator[Children]:
    """Start children inside; whatever still runs at the end is killed."""
    started = Children()
    try:
        yield started
    finally:
        for child in reversed(started.started):
            await child.kill()


async def get_json(url: str, timeout: float = 10.0) -> tuple[int, Any]:
    """``GET url`` (in a thread): the status and the decoded JSON body."""

    def get() -> tuple[int, Any]:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, json.loads(response.read())

    return await asyncio.to_thread(get)


def http_url(ws_url: str, path: str) -> str:
    """The ``http://`` URL of ``path`` on the host and port of ``ws_url``."""
    return "http://" + ws_url.removeprefix("ws://") + path


async def stop(hub: Child, timeout: float = 10.0) -> Exited:
    """SIGTERM a hub; it must exit 0 within ``timeout`` seconds."""
    hub.terminate()
    exited = await hub.wait(timeout)
    assert exited.returncode == 0, hub.describe()
    return exited


@dataclass(frozen=True, slots=True)
class Stored:
    """What a store holds once its hub is gone: a session's WAL and agent ids by name."""

    wal: list[Envelope]
    agent_ids: dict[str, str]


async def read_back(url: str, session_id: str, names: tuple[str, ...] = ()) -> Stored:
    """Open the store at ``url`` with a fresh hub and read a session's WAL and agents' ids."""
    from hubbub.knowledge import open_store
    from hubbub.network import Hub

    store = open_store(url)
    try:
        hub = await Hub.open(store, ttl_sweep_interval=0)
        try:
            wal = await hub.read_wal(session_id)
            ids = {name: (await hub.get_agent(name)).agent_id for name in names}
            return Stored(wal, ids)
        finally:
            await hub.close()
    finally:
        await store.close()


async def stored_wal(url: str, session_id: str) -> list[Envelope]:
    """A session's WAL as a fresh hub on the store at ``url`` reads it."""
    return (await read_back(url, session_id)).wal
