"""Helpers shared by both workload scripts (stdlib + optional psutil only).

Each workload script is run in a fresh subprocess by ``bench/run.py`` and prints
exactly one line starting with ``RESULT `` followed by a JSON object of metrics.
Everything else it prints (stderr, warnings) is ignored by the runner.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

RESULT_PREFIX = "RESULT "

Metrics = dict[str, Any]
Workload = Callable[[argparse.Namespace], Awaitable[Metrics]]


def rss_bytes() -> int:
    """Resident set size of this process, after a full garbage collection."""
    gc.collect()
    gc.collect()
    try:
        import psutil

        return int(psutil.Process(os.getpid()).memory_info().rss)
    except ImportError:  # pragma: no cover - fallback without psutil
        with open(f"/proc/{os.getpid()}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def allocated_blocks() -> int:
    """Live Python heap blocks (exact, cheap): a leak signal independent of RSS."""
    gc.collect()
    gc.collect()
    return sys.getallocatedblocks()


# BENCH_CLOCK=cpu (run.py --clock cpu) times with this process's CPU time instead
# of wall time: steadier when other jobs share the machine; it leaves out time spent
# waiting (fsync, sleeps), so it is not meant for the durable (SQLite) workloads.
_CLOCK = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter


def now() -> float:
    return _CLOCK()


async def wait_until(
    cond: Callable[[], bool], *, limit: float, interval: float = 0.002, what: str = ""
) -> None:
    """Poll a cheap in-memory condition every ``interval`` seconds."""
    deadline = time.perf_counter() + limit
    while not cond():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"timed out after {limit}s waiting for {what or 'condition'}")
        await asyncio.sleep(interval)


class GcTimer:
    """Wall time spent in the cyclic garbage collector, per generation (diagnostic)."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.counts = [0, 0, 0]
        self._t0 = 0.0

    def _cb(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            gen = int(info.get("generation", 0))
            self.seconds[gen] += time.perf_counter() - self._t0
            self.counts[gen] += 1

    def start(self) -> GcTimer:
        gc.callbacks.append(self._cb)
        return self

    def stop(self) -> None:
        if self._cb in gc.callbacks:
            gc.callbacks.remove(self._cb)

    def __enter__(self) -> GcTimer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def metrics(self) -> Metrics:
        return {
            "gc_seconds": sum(self.seconds),
            "gc_gen2_seconds": self.seconds[2],
            "gc_gen2_collections": self.counts[2],
        }


class BuildCache:
    """A filled database file kept in ``BENCH_CACHE_DIR`` for later repetitions.

    ``run.py`` sets ``BENCH_CACHE_DIR`` to a directory that lives for one
    invocation. A workload that fills a large store restores a copy of the file
    (and the metrics of the fill that made it) instead of filling it again; what
    it times afterwards (an open on a fresh store object) is unchanged.
    """

    def __init__(self, db: str, key: str) -> None:
        self.db = db
        base = os.environ.get("BENCH_CACHE_DIR")
        self.kept = os.path.join(base, key + ".db") if base else None

    def restore(self) -> Metrics | None:
        """Copy the kept file to ``db``; the fill's metrics (plus ``from_cache``), or None."""
        if self.kept is None or not os.path.exists(self.kept + ".json"):
            return None
        for suffix in ("", "-wal"):
            if os.path.exists(self.kept + suffix):
                shutil.copyfile(self.kept + suffix, self.db + suffix)
        with open(self.kept + ".json") as fh:
            built: Metrics = json.load(fh)
        return {**built, "from_cache": 1}

    def save(self, built: Metrics) -> None:
        """Keep a copy of ``db`` (closed by now) and the metrics of its fill."""
        if self.kept is None:
            return
        for suffix in ("", "-wal"):
            if os.path.exists(self.db + suffix):
                shutil.copyfile(self.db + suffix, self.kept + suffix)
        with open(self.kept + ".json", "w") as fh:  # last: marks the copy complete
            json.dump(built, fh)


def diffs(xs: list[float]) -> list[float]:
    """Successive differences."""
    return [b - a for a, b in itertools.pairwise(xs)]


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def main(workloads: dict[str, Workload]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=sorted(workloads))
    parser.add_argument("--n", type=int, default=0, help="size (turns, sessions, envelopes)")
    parser.add_argument(
        "--variant", default="default", help="workload variant (e.g. attached / detached)"
    )
    parser.add_argument("--timeout", type=float, default=110.0, help="in-process safety timeout")
    args = parser.parse_args()
    metrics = asyncio.run(asyncio.wait_for(workloads[args.workload](args), args.timeout))
    sys.stdout.write(RESULT_PREFIX + json.dumps(metrics) + "\n")
    sys.stdout.flush()
