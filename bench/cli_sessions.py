"""How long ``hubbub sessions`` takes on a large SQLite store.

Builds (once; kept at ``--db``) a store of ``--envelopes`` envelopes over
``--envelopes / --per-session`` sessions through a real hub — 100 sessions
filled concurrently, like the hydrate bench — and closes nine sessions in ten
(``explicit_close``), so the listing covers closed sessions read back from the
store, not just live ones. Then it times, each ``--runs`` times:

* ``hubbub sessions --store sqlite:///DB`` as a fresh process (what a user
  waits for: interpreter start, imports, the listing of the newest 50);
* the same listing in-process (``StoreReader.sessions(limit=50)``);
* every session (``--limit 0``) and ``--state closed --limit 0``, in-process.

Run: ``.venv/bin/python bench/cli_sessions.py [--envelopes 1000000] [--db /tmp/cli-bench.db]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
try:  # the venv normally has hubbub installed (editable); else use the checkout
    import hubbub  # noqa: F401
except ImportError:
    sys.path.insert(1, os.path.join(os.path.dirname(_HERE), "src"))

from workloads_hubbub import _open_hub_only  # noqa: E402

from hubbub.knowledge import SqliteKnowledgeStore  # noqa: E402
from hubbub.network import EV_TEXT, Envelope, Hub, Passport, Resume  # noqa: E402
from hubbub.network.hub.reader import StoreReader  # noqa: E402

logging.disable(logging.WARNING)


async def build(db: str, envelopes: int, per_session: int) -> None:
    """Fill ``db`` through a hub: ``envelopes`` texts, ``per_session`` per session."""
    sessions = max(1, envelopes // per_session)
    store = SqliteKnowledgeStore(db)
    hub = await Hub.open(store, ttl_sweep_interval=0, expectation_sweep_interval=0)
    a = await hub.register(Passport(name="alice"), Resume())
    b = await hub.register(Passport(name="bob"), Resume())
    assert a.agent_id is not None and b.agent_id is not None
    pair = ((a.agent_id, [b.agent_id]), (b.agent_id, [a.agent_id]))
    t0 = time.perf_counter()

    async def fill(s_i: int, sid: str) -> None:
        for i in range(per_session):
            sender, audience = pair[i & 1]
            await hub.post_envelope(
                Envelope(sid, sender, audience, EV_TEXT, {"text": f"message {s_i}/{i}"})
            )
        if s_i % 10:
            await hub.close_session(sid, reason="explicit_close")

    for start in range(0, sessions, 100):
        batch = range(start, min(sessions, start + 100))
        sids = [await _open_hub_only(hub, a.agent_id, b.agent_id, "conversation") for _ in batch]
        await asyncio.gather(*(fill(s, sid) for s, sid in zip(batch, sids, strict=True)))
        done = min(sessions, start + 100)
        if done % 1000 == 0 or done == sessions:
            print(f"built {done}/{sessions} sessions, {time.perf_counter() - t0:.0f} s", flush=True)
    await hub.close()
    await store.close()


async def in_process(db: str, **filters: object) -> tuple[float, int]:
    """Seconds for one listing on a fresh store object, and how many sessions it listed."""
    store = SqliteKnowledgeStore(db)
    try:
        t0 = time.perf_counter()
        found = await StoreReader(store).sessions(**filters)  # type: ignore[arg-type]
        return time.perf_counter() - t0, len(found)
    finally:
        await store.close()


def command(db: str) -> float:
    """Seconds for ``hubbub sessions --store sqlite:///DB`` as a fresh process."""
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "hubbub", "sessions", "--store", f"sqlite:///{db}"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envelopes", type=int, default=1_000_000)
    parser.add_argument("--per-session", type=int, default=100)
    parser.add_argument("--db", default="/tmp/hubbub-cli-sessions-bench.db")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not os.path.exists(args.db):
        asyncio.run(build(args.db, args.envelopes, args.per_session))
    size = os.path.getsize(args.db) + (
        os.path.getsize(args.db + "-wal") if os.path.exists(args.db + "-wal") else 0
    )
    print(f"store: {args.db}, {size / 1e6:.0f} MB")
    rows = {
        "hubbub sessions (a fresh process, newest 50)": [command(args.db) for _ in range(args.runs)]
    }
    cases: dict[str, dict[str, object]] = {
        "in-process, newest 50": {"limit": 50},
        "in-process, every session (--limit 0)": {},
        "in-process, --state closed --limit 0": {"state": "closed"},
    }
    listed: dict[str, int] = {}
    for name, filters in cases.items():
        times = []
        for _ in range(args.runs):
            seconds, count = asyncio.run(in_process(args.db, **filters))
            times.append(seconds)
            listed[name] = count
        rows[name] = times
    for name, times in rows.items():
        count = f" ({listed[name]} sessions)" if name in listed else ""
        print(f"{name}{count}: median {statistics.median(times):.3f} s, best {min(times):.3f} s")


if __name__ == "__main__":
    main()
