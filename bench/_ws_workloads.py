"""The orchestrator shared by ``ws_hubbub.py`` and ``ws_ref.py``: the same three
workloads (latency, turns, fanout) over either implementation's children.

Each script passes its own path; its children (``hub``, ``agents``, ``latency``
roles) are started by running that script again (``ws_echo.Procs``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from ws_echo import Metrics, Procs, cpu_per_item, cpu_snapshot, ms_summary, shared_clock

WARMUP = 200
#: Seconds after the first text a turns / fanout run stops if N is not reached.
CAP_S = 30.0
#: fanout: client processes, agents per process (initiators in the first half).
FANOUT_PROCS = 4
FANOUT_AGENTS = 25


def ws_workloads(script: str) -> dict[str, Any]:
    """The workloads whose children are roles of ``script``."""
    script = os.path.abspath(script)

    def _procs(args: argparse.Namespace) -> Procs:
        return Procs(sys.executable, script, args.timeout, args.profile)

    async def _start_hub(procs: Procs, args: argparse.Namespace, count: int) -> Any:
        if args.variant not in ("memory", "sqlite", "default"):
            raise ValueError(f"unknown store variant {args.variant!r}")
        store = "sqlite" if args.variant == "sqlite" else "memory"
        hub = await procs.spawn(
            "hub",
            "hub",
            "--store",
            store,
            "--db",
            os.path.join(procs.tmp, "hub.db"),
            "--count",
            str(count),
            "--cap",
            str(CAP_S),
        )
        return hub, await hub.expect_json("URL", 30)

    async def latency(args: argparse.Namespace) -> Metrics:
        n = args.n or 2000
        async with _procs(args) as procs:
            _hub, url = await _start_hub(procs, args, 0)
            common = ["--url", url, "--n", str(n), "--warmup", str(WARMUP)]
            bob = await procs.spawn("bob", "latency", "--names", "bob", *common)
            await bob.expect("READY", 30)
            alice = await procs.spawn(
                "alice", "latency", "--names", "alice", "--peers", "bob", *common
            )
            await alice.expect("READY", 30)
            alice.send("OPEN")
            await alice.expect("OPENED", 30)
            t0 = time.perf_counter()
            cpu0 = cpu_snapshot(procs.children)
            alice.send("GO")
            a = await alice.expect_json("LAT", args.timeout - 20)
            b = await bob.expect_json("LAT", 20)
            wall = time.perf_counter() - t0
            # per envelope (2 per round trip; the warm-up's included)
            cpu = cpu_per_item(procs.children, cpu0, 2 * (n + WARMUP), "cpu_us_per_env")
        clock = shared_clock()
        return {
            "round_trips": n,
            "seconds": wall,
            "clock": "perf_counter_ns, sender and recipient in different processes"
            + (f" ({clock})" if clock else " (CLOCK_MONOTONIC, one clock for all processes)"),
            **ms_summary("one_way", a["one_way"] + b["one_way"]),
            **ms_summary("rtt", a["rtt"]),
            **cpu,
        }

    async def turns(args: argparse.Namespace) -> Metrics:
        n = args.n or 2000
        async with _procs(args) as procs:
            hub, url = await _start_hub(procs, args, n)
            bob = await procs.spawn("bob", "agents", "--url", url, "--names", "bob")
            await bob.expect("READY", 30)
            alice = await procs.spawn(
                "alice", "agents", "--url", url, "--names", "alice", "--peers", "bob"
            )
            await alice.expect("READY", 30)
            alice.send("OPEN")
            await alice.expect("OPENED", 30)
            cpu0 = cpu_snapshot(procs.children)
            alice.send("GO")
            done = await hub.expect_json("DONE", CAP_S + 30)
            cpu = cpu_per_item(procs.children, cpu0, done["texts"], "cpu_us_per_turn")
        return {"turns": done["texts"], "turns_per_s": done["texts_per_s"], **done, **cpu}

    async def fanout(args: argparse.Namespace) -> Metrics:
        n = args.n or 20_000
        half = FANOUT_PROCS // 2
        per = FANOUT_AGENTS
        pairs = half * per  # conversations
        async with _procs(args) as procs:
            hub, url = await _start_hub(procs, args, n)
            respondents, initiators = [], []
            for p in range(half):
                names = ",".join(f"b{p * per + i:02d}" for i in range(per))
                c = await procs.spawn(
                    f"clients{half + p}", "agents", "--url", url, "--names", names
                )
                respondents.append(c)
            for c in respondents:
                await c.expect("READY", 60)
            for p in range(half):
                names = ",".join(f"a{p * per + i:02d}" for i in range(per))
                peers = ",".join(f"b{p * per + i:02d}" for i in range(per))
                c = await procs.spawn(
                    f"clients{p}", "agents", "--url", url, "--names", names, "--peers", peers
                )
                initiators.append(c)
            for c in initiators:
                await c.expect("READY", 60)
            t_open = time.perf_counter()
            for c in initiators:
                c.send("OPEN")
            for c in initiators:
                await c.expect("OPENED", 90)
            open_s = time.perf_counter() - t_open
            cpu0 = cpu_snapshot(procs.children)
            for c in initiators:
                c.send("GO")
            done = await hub.expect_json("DONE", CAP_S + 30)
            cpu = cpu_per_item(procs.children, cpu0, done["texts"], "cpu_us_per_env")
        return {
            **cpu,
            "agents": 2 * pairs,
            "conversations": pairs,
            "client_processes": FANOUT_PROCS,
            "open_seconds": open_s,
            "env_per_s": done["texts_per_s"],
            **done,
        }

    return {"latency": latency, "turns": turns, "fanout": fanout}
