"""The floor of the WebSocket benchmarks, and the process plumbing they share.

Run by ``bench/run.py`` under either interpreter (it needs only the standard library
and ``websockets``)::

    .venv/bin/python bench/ws_echo.py echo --n 2000

A bare ``websockets`` echo server runs in its own process; this process sends N text
messages of envelope size, one at a time, and times each round trip with
``time.perf_counter_ns`` (p50 / p99, after a warm-up). Both sides use the same
``websockets`` options as the transports (no compression). No hub, no JSON, no
framework: what any WebSocket protocol on this machine pays at least.

The rest of this module is what ``ws_hubbub.py`` and ``ws_ref.py`` use to run one
workload as several processes (a hub, clients in others):

* the **orchestrator** (the process ``run.py`` starts) spawns each role as a child
  (``python <script> role <name> ...``) with its stdin and stdout on pipes; a child
  announces itself with tagged lines on stdout (``URL ws://...``, ``READY``,
  ``DONE {json}``) and takes commands on stdin (``OPEN``, ``GO``);
* a child **exits when its stdin closes**: ``Procs`` closes every child's stdin and
  then kills what is still alive, in ``finally``; if the orchestrator itself is
  killed (run.py's timeout) the pipes close with it and the children still go. Each
  child also arms ``SIGALRM`` with the run's timeout, a last resort;
* ``--profile DIR`` makes every child run under cProfile and dump
  ``DIR/<child>.prof`` when it stops (``python -m pstats``).

Timestamps cross processes: ``time.perf_counter_ns`` is ``CLOCK_MONOTONIC`` on
Linux, one clock for every process of the machine (checked and reported).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

RESULT_PREFIX = "RESULT "
SCRIPT = os.path.abspath(__file__)
Metrics = dict[str, Any]

#: The payload of one echo message: about what an EV_TEXT envelope frame weighs.
ECHO_BYTES = 400


# ── statistics ───────────────────────────────────────────────────────────────


def pct(samples: list[float], p: float) -> float | None:
    """Nearest-rank percentile (``p`` in 0..100) of ``samples``; None when empty."""
    if not samples:
        return None
    xs = sorted(samples)
    k = max(0, min(len(xs) - 1, round(p / 100 * len(xs) + 0.5) - 1))
    return xs[k]


def ms_summary(prefix: str, ns: list[int]) -> Metrics:
    """p50 / p99 / mean in milliseconds of nanosecond samples."""
    ms = [x / 1e6 for x in ns]
    return {
        f"{prefix}_p50_ms": pct(ms, 50),
        f"{prefix}_p99_ms": pct(ms, 99),
        f"{prefix}_mean_ms": statistics.fmean(ms) if ms else None,
        f"{prefix}_samples": len(ms),
    }


def shared_clock() -> str | None:
    """None when perf_counter is one clock for every process here; else why not."""
    info = time.get_clock_info("perf_counter")
    if sys.platform.startswith("linux") and "CLOCK_MONOTONIC" in info.implementation:
        return None
    return f"perf_counter is {info.implementation} on {sys.platform}: maybe per process"


# ── children: the role side ──────────────────────────────────────────────────


def say(tag: str, payload: Any = None) -> None:
    """One tagged line to the orchestrator."""
    line = tag if payload is None else f"{tag} {json.dumps(payload)}"
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Control:
    """Commands from the orchestrator (stdin lines); EOF means stop."""

    def __init__(self) -> None:
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self.closed = asyncio.Event()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

        async def pump() -> None:
            while True:
                raw = await reader.readline()
                if not raw:
                    self.closed.set()
                    return
                await self.lines.put(raw.decode().strip())

        self._pump = loop.create_task(pump())

    async def wait(self, command: str) -> None:
        """Until the orchestrator says ``command`` (other lines are dropped)."""
        while (await self.lines.get()) != command:
            pass


def run_child(
    role: Callable[[argparse.Namespace, Control], Awaitable[None]],
    args: argparse.Namespace,
    run_loop: Callable[[Any], None] = asyncio.run,
) -> None:
    """Run one role until stdin closes (or the role ends); profile it if asked."""
    if args.timeout:
        signal.alarm(int(args.timeout) + 5)  # last resort: SIGALRM ends the process

    async def main() -> None:
        ctl = Control()
        await ctl.start()
        task = asyncio.ensure_future(role(args, ctl))
        stop = asyncio.ensure_future(ctl.closed.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not task.done():
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 5)
            stop.cancel()
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]

    prof = cProfile.Profile() if args.profile else None
    if prof is not None:
        prof.enable()
    try:
        run_loop(main())
    finally:
        if prof is not None:
            prof.disable()
            prof.dump_stats(os.path.join(args.profile, f"{args.child}.prof"))


def child_parser() -> argparse.ArgumentParser:
    """Arguments every role takes (``role <name>`` comes first, then these)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("role")
    ap.add_argument("name")
    ap.add_argument("--child", default="child", help="this child's label (profile file name)")
    ap.add_argument("--profile", default=None)
    ap.add_argument("--timeout", type=float, default=110.0)
    return ap


# ── the orchestrator side ────────────────────────────────────────────────────


class ChildFailed(RuntimeError):
    pass


class Child:
    """One spawned role process."""

    def __init__(self, label: str, proc: asyncio.subprocess.Process, err_path: str) -> None:
        self.label = label
        self.proc = proc
        self.err_path = err_path

    def stderr_tail(self, lines: int = 6) -> str:
        try:
            with open(self.err_path, errors="replace") as fh:
                tail = fh.read().strip().splitlines()[-lines:]
        except OSError:
            return ""
        return " | ".join(t.strip() for t in tail)

    async def expect(self, tag: str, within: float) -> str:
        """The rest of the next stdout line tagged ``tag`` (others are skipped)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + within
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildFailed(f"{self.label}: no {tag} within {within:.0f}s")
            try:
                raw = await asyncio.wait_for(self.proc.stdout.readline(), left)
            except TimeoutError:
                raise ChildFailed(f"{self.label}: no {tag} within {within:.0f}s") from None
            if not raw:
                await self.proc.wait()
                raise ChildFailed(
                    f"{self.label} exited ({self.proc.returncode}) before {tag}: "
                    + self.stderr_tail()
                )
            line = raw.decode().rstrip("\n")
            if line == tag or line.startswith(tag + " "):
                return line[len(tag) + 1 :]

    async def expect_json(self, tag: str, within: float) -> Any:
        return json.loads(await self.expect(tag, within))

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the child so far (Linux ``/proc``), None elsewhere."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((command + "\n").encode())


class Procs:
    """The children of one workload: spawned, then all stopped and killed in ``finally``."""

    def __init__(self, python: str, script: str, timeout: float, profile: str | None) -> None:
        self.python = python
        self.script = script
        self.timeout = timeout
        self.profile = profile
        self.children: list[Child] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-ws-")
        self.tmp = self._tmp.name

    async def spawn(self, label: str, role: str, *args: str) -> Child:
        err_path = os.path.join(self.tmp, f"{label}.stderr")
        extra = ["--profile", self.profile] if self.profile else []
        with open(err_path, "wb") as err:  # noqa: ASYNC230 - a local temp file, opened once
            proc = await asyncio.create_subprocess_exec(
                self.python,
                self.script,
                "role",
                role,
                "--child",
                label,
                "--timeout",
                str(self.timeout),
                *extra,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
                env=dict(os.environ, PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1"),
            )
        child = Child(label, proc, err_path)
        self.children.append(child)
        return child

    async def __aenter__(self) -> Procs:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self, grace: float = 5.0) -> None:
        """Close every child's stdin (it stops, dumping its profile), kill the stragglers."""
        try:
            for c in self.children:
                if c.proc.stdin is not None and not c.proc.stdin.is_closing():
                    c.proc.stdin.close()
            waits = [c.proc.wait() for c in self.children if c.proc.returncode is None]
            if waits:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.gather(*waits), grace)
        finally:
            for c in self.children:
                if c.proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        c.proc.kill()
                    with contextlib.suppress(BaseException):
                        await asyncio.wait_for(c.proc.wait(), 5)
            self.children.clear()
            self._tmp.cleanup()


def cpu_per_item(
    children: list[Child], before: dict[str, float | None], items: int, prefix: str
) -> Metrics:
    """CPU microseconds per item each child spent since ``before`` (label -> seconds),
    and ``<prefix>_clients``: all but the hub's, added up."""
    out: Metrics = {}
    for c in children:
        now, then = c.cpu_seconds(), before.get(c.label)
        if now is not None and then is not None and items:
            out[f"{prefix}_{c.label}"] = (now - then) / items * 1e6
    clients = [v for k, v in out.items() if k != f"{prefix}_hub"]
    if clients:  # every process but the hub's, added up
        out[f"{prefix}_clients"] = sum(clients)
    return out


def cpu_snapshot(children: list[Child]) -> dict[str, float | None]:
    return {c.label: c.cpu_seconds() for c in children}


def orchestrator_parser(workloads: list[str]) -> argparse.ArgumentParser:
    """The run.py interface (``<workload> --n N --variant V --timeout T``) plus ``--profile``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", choices=sorted(workloads))
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--variant", default="default")
    ap.add_argument("--timeout", type=float, default=110.0)
    ap.add_argument(
        "--profile", default=None, help="directory: every child dumps <child>.prof there"
    )
    return ap


def main(
    workloads: dict[str, Callable[[argparse.Namespace], Awaitable[Metrics]]],
    roles: dict[str, Callable[[argparse.Namespace, Control], Awaitable[None]]],
    role_args: Callable[[argparse.ArgumentParser], None] | None = None,
    loops: dict[str, Callable[[Any], None]] | None = None,
) -> None:
    """``<script> role NAME ...`` runs a child; anything else runs a workload (RESULT line)."""
    if len(sys.argv) > 1 and sys.argv[1] == "role":
        ap = child_parser()
        if role_args is not None:
            role_args(ap)
        args = ap.parse_args()
        run_child(roles[args.name], args, (loops or {}).get(args.name, asyncio.run))
        return
    args = orchestrator_parser(list(workloads)).parse_args()
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
        args.profile = os.path.abspath(args.profile)
    try:
        metrics = asyncio.run(asyncio.wait_for(workloads[args.workload](args), args.timeout))
    except ChildFailed as exc:
        metrics = {"error": str(exc)}
    if "error" in metrics:  # run.py reports the exit code and the stderr tail
        print(metrics["error"], file=sys.stderr)
        sys.exit(1)
    sys.stdout.write(RESULT_PREFIX + json.dumps(metrics) + "\n")
    sys.stdout.flush()


# ── the echo floor ───────────────────────────────────────────────────────────

WARMUP = 200


async def echo_server(args: argparse.Namespace, ctl: Control) -> None:
    from websockets.asyncio.server import serve

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        say("URL", f"ws://127.0.0.1:{port}")
        await ctl.closed.wait()


async def echo(args: argparse.Namespace) -> Metrics:
    import websockets
    from websockets.asyncio.client import connect

    n = args.n or 2000
    async with Procs(sys.executable, SCRIPT, args.timeout, None) as procs:
        server = await procs.spawn("echo-server", "server")
        url = json.loads(await server.expect("URL", 30))
        payload = "x" * ECHO_BYTES
        samples: list[int] = []
        async with connect(url, compression=None, proxy=None) as ws:
            for i in range(WARMUP + n):
                t0 = time.perf_counter_ns()
                await ws.send(payload)
                await ws.recv()
                if i >= WARMUP:
                    samples.append(time.perf_counter_ns() - t0)
    return {
        "round_trips": n,
        "websockets": websockets.__version__,
        **ms_summary("rtt", samples),
    }


if __name__ == "__main__":
    main({"echo": echo}, {"server": echo_server})
