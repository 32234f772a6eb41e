"""Restart journeys: an ordinary restart and a kill -9 keep the agents and their sessions.

Each run is its own process (``journey_worker.py``) on one SQLite file:

* the quick start twice: the second run registers alice and bob again (same
  ids, no "already registered") and lists the first run's session;
* a conversation killed with SIGKILL at a random point, then a restart in which
  both agents re-register (same ids), bob's adopted session is answered with its
  history, and the conversation is finished; the WAL holds every acknowledged
  envelope once, at its sequence, in order.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hubbub.knowledge.sqlite import SqliteKnowledgeStore
from hubbub.network import EV_TEXT, Hub, SessionState

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
WORKER = HERE / "journey_worker.py"
HUB_KW: dict[str, Any] = {"ttl_sweep_interval": 0, "expectation_sweep_interval": 0}
QUICK_START_LINES = [
    "closed: 'consulting_complete'",
    "alice: What's the single most important property of a distributed system?",
    "bob: Fault tolerance — because a system that can't survive partial failures defeats its"
    " entire purpose.",
]


def worker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    return env


def run_worker(*args: str, timeout: float = 60) -> list[str]:
    proc = subprocess.run(
        [sys.executable, str(WORKER), *args],
        capture_output=True,
        text=True,
        env=worker_env(),
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.splitlines()


def tagged(lines: list[str], tag: str) -> list[list[str]]:
    return [line.split()[1:] for line in lines if line.startswith(tag + " ")]


def test_quick_start_twice_on_one_sqlite_file(tmp_path: Path) -> None:
    db = str(tmp_path / "hub.db")
    first = run_worker("quick-start", db)
    assert first[:3] == QUICK_START_LINES
    agents = dict(tagged(first, "AGENT"))
    assert set(agents) == {"alice", "bob"}
    (first_session,) = tagged(first, "SESSION")
    assert first_session[1] == "closed"

    second = run_worker("quick-start", db)  # a new process: an ordinary restart
    assert second[:3] == QUICK_START_LINES  # registering again worked
    assert dict(tagged(second, "AGENT")) == agents  # same ids
    sessions = {sid: state for sid, state in tagged(second, "SESSION")}
    assert first_session[0] in sessions, "the first run's (closed) session is not listed"
    assert len(sessions) == 2 and set(sessions.values()) == {"closed"}


async def _read_stdout(proc: asyncio.subprocess.Process, lines: list[str], until: str) -> None:
    assert proc.stdout is not None
    while True:
        raw = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert raw, "the worker ended before it was killed"
        if raw.endswith(b"\n"):
            lines.append(raw.decode().rstrip("\n"))
        if lines and lines[-1].startswith(until):
            return


@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_kill_mid_conversation_then_restart_and_finish_it(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    db = str(tmp_path / "hub.db")
    err = os.open(tmp_path / "converse.err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        "converse",
        db,
        stdout=asyncio.subprocess.PIPE,
        stderr=err,
        env=worker_env(),
        cwd=ROOT,
    )
    os.close(err)
    before: list[str] = []
    try:
        await _read_stdout(proc, before, "ROUND 2")
        deadline = time.monotonic() + rng.uniform(0.0, 0.4)
        while time.monotonic() < deadline:  # let the conversation run on a little
            try:
                await asyncio.wait_for(_read_stdout(proc, before, "ROUND"), 0.05)
            except TimeoutError:
                pass
    finally:
        proc.send_signal(signal.SIGKILL)
        assert proc.stdout is not None
        rest = await proc.stdout.read()
        await proc.wait()
    # A line cut by the kill was never a complete acknowledgement.
    before += [line for line in rest.decode().split("\n")[:-1]]
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "converse.err").read_text()[-3000:]

    after = await asyncio.to_thread(run_worker, "resume", db)
    assert "DONE" in after
    assert dict(tagged(after, "AGENT")) == dict(tagged(before, "AGENT"))
    (sid,) = tagged(before, "SESSION")[0]
    assert tagged(after, "SESSION")[0] == [sid]
    assert tagged(after, "CLOSED") == [[sid, "closed"]]
    (history,) = tagged(after, "HISTORY")
    assert int(history[0]) >= 2, "bob answered after the restart without the earlier texts"

    acks = [(int(seq), eid, who) for seq, eid, who in tagged(before + after, "ACK")]
    store = SqliteKnowledgeStore(db)
    hub = await Hub.open(store, **HUB_KW)
    try:
        wal = await hub.read_wal(sid)
        meta = await hub.get_session(sid)
    finally:
        await hub.close()
        await store.close()
    assert [e.sequence for e in wal] == list(range(1, len(wal) + 1))
    assert len({e.envelope_id for e in wal}) == len(wal)
    by_seq = {e.sequence: e for e in wal}
    for seq, eid, _ in acks:
        assert by_seq[seq].envelope_id == eid, f"acknowledged envelope {eid} not at {seq}"
    assert [seq for seq, _, _ in acks] == sorted(seq for seq, _, _ in acks)
    assert len({eid for _, eid, _ in acks}) == len(acks)
    texts = [e for e in wal if e.event_type == EV_TEXT]
    assert [e.event_data["text"] for e in texts[-2:]] == [
        "Still here after the restart?",
        "Yes: same ids, same session.",
    ]
    assert meta.state is SessionState.CLOSED and meta.close_reason == "journey_done"
