"""Where a raw post's time goes: the whole ``post_envelope`` and each of its steps alone.

Runs under the hubbub venv only (no reference side)::

    .venv/bin/python bench/post_parts.py [--n 100000]

Opens a hub on a memory store with one conversation and no client bound (as the
``raw_post --variant detached`` workload), times N full posts, then calls each step
of the pipeline N times on its own with the same objects: the best of 5 rounds, in
nanoseconds per call (a Python call's own overhead, ~50 ns, is in every step's
figure). The steps do not add up to the whole: the pipeline's own lines between
them (attribute reads, branches, three coroutine levels) are the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from collections.abc import Callable
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)

from workloads_hubbub import _hub_only_session, open_hub  # noqa: E402

from hubbub.network.envelope import EV_TEXT, Envelope  # noqa: E402
from hubbub.network.hub.admission import logged_copy  # noqa: E402
from hubbub.network.ids import make_id  # noqa: E402


def best_ns(fn: Callable[[], Any], n: int) -> float:
    """Nanoseconds per call of ``fn``: the best of 5 rounds of ``n`` calls."""
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e9


async def main(n: int) -> None:
    hub = await open_hub()
    a, b, sid = await _hub_only_session(hub)
    pipeline = hub._pipeline
    live = pipeline._live[sid]
    machine = live.machine
    adapter = machine.adapter
    assert adapter is not None

    rows: list[tuple[str, float]] = []
    gc.collect()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for i in range(n):
            sender, other = (a, b) if i & 1 else (b, a)
            await hub.post_envelope(Envelope(sid, sender, [other], EV_TEXT, {"text": f"x{i}"}))
        best = min(best, time.perf_counter() - t0)
    rows.append(("post_envelope, whole (incl. Envelope())", best / n * 1e9))

    env = Envelope(sid, a, [b], EV_TEXT, {"text": "x1"})
    stamped = machine.stamp(env, make_id(), "2026-12-04T00:00:00.000+00:00", {"text": "x1"})
    line = stamped.to_wal_line()
    store = pipeline._store
    pids = machine.pids
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("Envelope(...) in the caller", lambda: Envelope(sid, a, [b], EV_TEXT, {"text": "x1"})),
        ("envelope.check_shape", env.check_shape),
        ("admission.check_send (rule, arbiter)", lambda: pipeline._check_send(live, env)),
        ("machine.check (lifecycle, validate_send)", lambda: machine.check(env)),
        ("logged_copy (event_data)", lambda: logged_copy(env.event_data)),
        ("stamp clock", pipeline._now),
        ("make_id", make_id),
        ("machine.stamp (the new Envelope)", lambda: machine.stamp(env, "id", "now", {"t": 1})),
        ("to_wal_line", stamped.to_wal_line),
        ("store append (memory, at once)", lambda: store.append_now(live.wal, line)),
        ("adapter.fold", lambda: adapter.fold(stamped, machine.state)),
        ("adapter.on_accepted", lambda: adapter.on_accepted(machine.meta, stamped, machine.state)),
        ("traffic record (observe)", lambda: live.observe(stamped, 1.0, pids)),
        ("router.dispatch (no endpoint)", lambda: pipeline._dispatch(stamped, pids)),
        ("durable hooks (usage)", lambda: [hook(stamped) for hook in pipeline.durable_hooks]),
    ]
    for label, fn in steps:
        rows.append((label, best_ns(fn, n if "append" not in label else n // 5)))
    await hub.close()

    width = max(len(label) for label, _ in rows)
    print(f"{'step':{width}s}  ns/call")
    for label, ns in rows:
        print(f"{label:{width}s}  {ns:7.0f}")
    print(f"{'sum of the steps':{width}s}  {sum(ns for _, ns in rows[1:]):7.0f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    asyncio.run(main(ap.parse_args().n))
