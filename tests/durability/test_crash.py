"""Crash test: a hub under load in a subprocess, killed with SIGKILL again and again.

``crash_worker.py`` keeps 50 sessions of mixed types busy and prints
``ACK <sid> <sequence> <envelope_id>`` after every post returned. The test
kills it at random points (seeded), and after every kill opens the store with a
fresh Hub in this process and checks:

* every ACKed envelope is in its session's WAL exactly once, at its sequence;
* every WAL is contiguous (sequences 1..n), holds only its session's lines and
  no envelope id twice;
* every session's state in the hydrated hub (which may use snapshots) equals a
  fresh fold of its whole WAL (``recovery.replay``);
* no live session is stuck (live, yet nobody may send: it could never complete);
* the restarted worker finds exactly the live sessions, sequences and adapter
  states this check saw (its ``LIVE`` lines) and continues them.

At the end the worker runs once more without kills and must finish every open
session; then every session must be CLOSED and at least one session must have
been continued across a restart.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.durability._peers import state_json
from tests.durability._stores import POSTGRES_DSN, drop_schema, require_postgres

from hubbub.knowledge import KnowledgeStore
from hubbub.network import Envelope, Hub, SessionState
from hubbub.network.hub import layout
from hubbub.network.hub.recovery import read_creation_record, replay

WORKER = Path(__file__).with_name("crash_worker.py")
KILLS = 20
SESSIONS = 50
#: Upper bound of the random time a worker runs before it is killed (seconds).
MAX_RUN = 0.6
#: How often a kill lands during start-up (hydrate) instead of under load.
EARLY_KILL = 0.15
HUB_KW = {"ttl_sweep_interval": 0, "expectation_sweep_interval": 0}
DONE_REASONS = {"consulting_complete", "conversation_done", "invite_interrupted"}


@dataclass(repr=False)
class History:
    """What the parent knows: every ACK, and the state of every session it last checked."""

    acks: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # eid -> sid, seq, run
    closed_by_worker: set[str] = field(default_factory=set)
    settled: set[str] = field(default_factory=set)  # terminal and checked: cannot change
    live: dict[str, tuple[int, str]] = field(default_factory=dict)  # sid -> last seq, state
    touched: set[str] = field(default_factory=set)  # sessions with ACKs since the last check
    stuck: set[str] = field(default_factory=set)  # live sessions in which nobody may send


@dataclass
class Run:
    proc: asyncio.subprocess.Process
    index: int
    ready: bool = False
    live: dict[str, tuple[int, str]] = field(default_factory=dict)
    done: bool = False


class Crash:
    """Drives the worker on one store and checks the store between runs."""

    def __init__(self, store_spec: str, open_store: object, tmp: Path, seed: int) -> None:
        self.spec = store_spec
        self.open_store = open_store
        self.tmp = tmp
        self.rng = random.Random(seed)
        self.history = History()
        self.runs = 0
        self.current: Run | None = None

    # ------------------------------------------------------------ worker

    async def start(self, mode: str) -> Run:
        index = self.runs
        self.runs += 1
        err = os.open(self.tmp / f"worker-{index}.err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            self.spec,
            "--run",
            str(index),
            "--mode",
            mode,
            "--sessions",
            str(SESSIONS),
            "--seed",
            str(self.rng.randrange(1 << 30)),
            "--max-seconds",
            "30",
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
        os.close(err)
        self.current = Run(proc, index)
        return self.current

    def stderr(self, run: Run) -> str:
        return (self.tmp / f"worker-{run.index}.err").read_text()[-3000:]

    def record(self, run: Run, raw: bytes) -> None:
        """Take one stdout line of the worker into the history."""
        if not raw.endswith(b"\n"):
            return  # a line cut by the kill was never a complete acknowledgement
        kind, *rest = raw.decode().split(" ", 3)
        kind = kind.strip()
        if kind == "ACK":
            sid, seq, eid = rest[0], int(rest[1]), rest[2].strip()
            assert eid not in self.history.acks, f"envelope {eid} acknowledged twice"
            self.history.acks[eid] = (sid, seq, run.index)
            self.history.touched.add(sid)
        elif kind == "CLOSED":
            self.history.closed_by_worker.add(rest[0].strip())
            self.history.touched.add(rest[0].strip())
        elif kind == "STUCK":
            self.history.stuck.add(rest[0].strip())
        elif kind == "LIVE":
            run.live[rest[0]] = (int(rest[1]), rest[2].strip())
        elif kind == "READY":
            run.ready = True
        elif kind == "DONE":
            run.done = True
        else:
            raise AssertionError(f"unexpected worker line {raw!r}")

    async def lines_until(self, run: Run, deadline: float) -> None:
        """Record worker lines until ``deadline`` (monotonic) or EOF."""
        assert run.proc.stdout is not None
        while (left := deadline - time.monotonic()) > 0:
            try:
                raw = await asyncio.wait_for(run.proc.stdout.readline(), left)
            except TimeoutError:
                return
            if not raw:
                return
            self.record(run, raw)

    async def to_eof(self, run: Run) -> None:
        assert run.proc.stdout is not None
        async for raw in run.proc.stdout:
            self.record(run, raw)

    async def ready(self, run: Run) -> None:
        """Read the LIVE lines up to READY and compare them with the last check."""
        assert run.proc.stdout is not None
        while not run.ready:
            raw = await asyncio.wait_for(run.proc.stdout.readline(), 30)
            assert raw, f"worker {run.index} died before READY:\n{self.stderr(run)}"
            self.record(run, raw)
        assert run.live == self.history.live, (
            f"run {run.index}: the restarted hub's live sessions differ from the store's"
        )

    async def kill_at_random(self) -> None:
        run = await self.start("load")
        if self.rng.random() < EARLY_KILL:
            await self.lines_until(run, time.monotonic() + self.rng.uniform(0.0, 0.3))
        else:
            await self.ready(run)
            await self.lines_until(run, time.monotonic() + self.rng.uniform(0.02, MAX_RUN))
        run.proc.send_signal(signal.SIGKILL)
        await self.to_eof(run)
        code = await run.proc.wait()
        assert code == -signal.SIGKILL, (
            f"worker {run.index} ended by itself ({code}):\n{self.stderr(run)}"
        )
        if run.ready:
            assert run.live == self.history.live

    async def drain(self) -> Run:
        run = await self.start("drain")
        await self.ready(run)
        await asyncio.wait_for(self.to_eof(run), 60)
        code = await run.proc.wait()
        assert code == 0 and run.done, f"drain run failed ({code}):\n{self.stderr(run)}"
        return run

    # ------------------------------------------------------------ checks

    async def check(self, *, everything: bool = False) -> None:
        """Open the store with a fresh Hub and verify WALs, ACKs and states."""
        h = self.history
        store: KnowledgeStore = self.open_store()  # type: ignore[operator]
        hub = await Hub.open(store, **HUB_KW)
        try:
            live_now = {m.session_id for m in await hub.list_sessions(limit=1_000_000)}
            all_ids = [e.rstrip("/") for e in await store.list(layout.SESSIONS_DIR)]
            to_check = set(all_ids) if everything else (set(all_ids) - h.settled) | h.touched
            acks_by_sid: dict[str, list[tuple[int, str]]] = {}
            for eid, (sid, seq, _) in h.acks.items():
                acks_by_sid.setdefault(sid, []).append((seq, eid))
            assert set(acks_by_sid) <= set(all_ids), "ACKs for sessions that are not in the store"
            for sid in sorted(to_check):
                await self.check_session(hub, store, sid, acks_by_sid.get(sid, []))
            h.live = {}
            for sid in live_now:
                meta = await hub.get_session(sid)
                if not any(hub.can_send(sid, p) for p in meta.participant_ids()):
                    h.stuck.add(sid)
                wal = await hub.read_wal(sid)
                h.live[sid] = (wal[-1].sequence if wal else 0, state_json(hub.adapter_state(sid)))
            h.settled |= to_check - live_now
            h.touched.clear()
        finally:
            await hub.close()
            await store.close()

    async def check_session(
        self, hub: Hub, store: KnowledgeStore, sid: str, acks: list[tuple[int, str]]
    ) -> None:
        lines = await store.read_lines(layout.wal_path(sid))
        envs = [Envelope.from_wal_line(line, sid) for line in lines if line]
        assert all(e.session_id == sid for e in envs), f"{sid}: a line of another session"
        assert [e.sequence for e in envs] == list(range(1, len(envs) + 1)), f"{sid}: gap"
        eids = [e.envelope_id for e in envs]
        assert len(set(eids)) == len(eids), f"{sid}: an envelope logged twice"
        for seq, eid in acks:
            assert seq <= len(envs), f"{sid}: ACKed sequence {seq} lost (WAL has {len(envs)})"
            assert envs[seq - 1].envelope_id == eid, f"{sid}: sequence {seq} is not ACKed {eid}"
        raw = await store.read(layout.session_meta_path(sid))
        assert raw is not None, f"{sid}: creation record missing"
        fresh = replay(hub._table, await read_creation_record(hub._table, raw, sid), lines)
        meta = await hub.get_session(sid)
        assert meta.state is fresh.meta.state, sid
        assert meta.close_reason == fresh.meta.close_reason, sid
        assert meta.pending_acks == fresh.meta.pending_acks, sid
        assert hub.adapter_state(sid) == fresh.state, f"{sid}: hydrated state != replay"
        if sid in self.history.closed_by_worker:
            assert meta.state is SessionState.CLOSED, f"{sid}: close was acknowledged"

    async def final(self) -> None:
        """After the drain: everything closed, and continuation across restarts happened."""
        await self.check(everything=True)
        assert not self.history.stuck, (
            f"{len(self.history.stuck)} session(s) came back from a crash live but with nobody "
            "allowed to send (e.g. a consulting reply was durable, its auto-close was not): "
            f"they can never complete: {sorted(self.history.stuck)[:5]}"
        )
        assert self.history.live == {}, "sessions still open after the drain"
        store: KnowledgeStore = self.open_store()  # type: ignore[operator]
        hub = await Hub.open(store, **HUB_KW)
        try:
            reasons: dict[str, int] = {}
            for entry in await store.list(layout.SESSIONS_DIR):
                meta = await hub.get_session(entry.rstrip("/"))
                assert meta.state is SessionState.CLOSED, (meta.session_id, meta.state)
                reasons[meta.close_reason] = reasons.get(meta.close_reason, 0) + 1
            assert set(reasons) <= DONE_REASONS, reasons
            assert reasons.get("consulting_complete") and reasons.get("conversation_done")
        finally:
            await hub.close()
            await store.close()
        runs_per_session: dict[str, set[int]] = {}
        for sid, _, run in self.history.acks.values():
            runs_per_session.setdefault(sid, set()).add(run)
        continued = [s for s, runs in runs_per_session.items() if len(runs) > 1]
        assert continued, "no session was continued by a restarted worker"

    async def stop(self) -> None:
        """Kill a worker left running by a failed check."""
        run = self.current
        if run is not None and run.proc.returncode is None:
            run.proc.kill()
            await run.proc.wait()


async def run_crash_test(crash: Crash) -> None:
    try:
        await crash.check()
        for _ in range(KILLS):
            await crash.kill_at_random()
            await crash.check()
        await crash.drain()
        await crash.final()
    finally:
        await crash.stop()


@pytest.fixture
async def sqlite_spec(tmp_path: Path) -> AsyncIterator[tuple[str, object]]:
    from hubbub.knowledge.sqlite import SqliteKnowledgeStore

    path = tmp_path / "hub.sqlite"
    yield f"sqlite:{path}", lambda: SqliteKnowledgeStore(path, synchronous="NORMAL")


@pytest.fixture
async def postgres_spec() -> AsyncIterator[tuple[str, object]]:
    from hubbub.knowledge.postgres import PostgresKnowledgeStore

    await require_postgres()
    schema = f"hubbub_crash_{os.getpid()}_{random.randrange(1 << 30):x}"
    try:
        yield f"postgres:{schema}", lambda: PostgresKnowledgeStore(POSTGRES_DSN, schema=schema)
    finally:
        await drop_schema(schema)


@pytest.mark.timeout(120)
async def test_sqlite_hub_survives_sigkill_under_load(
    sqlite_spec: tuple[str, object], tmp_path: Path
) -> None:
    spec, open_store = sqlite_spec
    await run_crash_test(Crash(spec, open_store, tmp_path, seed=20260101))


@pytest.mark.postgres
@pytest.mark.timeout(120)
async def test_postgres_hub_survives_sigkill_under_load(
    postgres_spec: tuple[str, object], tmp_path: Path
) -> None:
    spec, open_store = postgres_spec
    await run_crash_test(Crash(spec, open_store, tmp_path, seed=20260102))
