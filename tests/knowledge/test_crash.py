"""Crash survival of the local durable stores: kill -9 a writer mid-load, re-open, compare.

The child prints a record number only after ``append`` returned, so every
printed number must be in the WAL after the kill; ``write`` must be all-or-nothing.
(SQLite runs with synchronous=NORMAL here: a process kill, not a power loss.)
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

import hubbub.knowledge.disk as disk_mod
from hubbub.knowledge import DiskKnowledgeStore, KnowledgeStore
from hubbub.knowledge.sqlite import SqliteKnowledgeStore

SRC = str(Path(disk_mod.__file__).resolve().parents[2])


_CRASH_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from hubbub.knowledge import DiskKnowledgeStore
    from hubbub.knowledge.sqlite import SqliteKnowledgeStore

    async def main():
        if sys.argv[2] == "disk":
            store = DiskKnowledgeStore(sys.argv[1], fsync=True)
        else:
            store = SqliteKnowledgeStore(sys.argv[1] + "/db.sqlite", synchronous="NORMAL")
        big = 1 << 21
        await store.write("/atomic", "A" * big)
        print("ready", flush=True)
        n = 0

        async def writer():
            i = 0
            while True:
                await store.write("/atomic", ("B" if i % 2 else "A") * big)
                i += 1

        async def appender(t):
            nonlocal n
            while True:
                n += 1
                i = n
                await store.append("/wal", f"{i}\\n")
                print(i, flush=True)

        await asyncio.gather(writer(), *(appender(t) for t in range(20)))

    asyncio.run(main())
    """
)


def _open(kind: str, root: Path) -> KnowledgeStore:
    if kind == "disk":
        return DiskKnowledgeStore(root)
    return SqliteKnowledgeStore(root / "db.sqlite")


@pytest.mark.parametrize("kind", ["disk", "sqlite"])
async def test_kill_9_mid_load_loses_nothing_acknowledged(tmp_path: Path, kind: str) -> None:
    env = {**os.environ, "PYTHONPATH": SRC}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CRASH_CHILD,
        str(tmp_path),
        kind,
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    acked: set[int] = set()
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready"
        while len(acked) < 300:
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, "child died early"
            acked.add(int(line))
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    store = _open(kind, tmp_path)
    atomic = await store.read("/atomic")
    assert atomic in ("A" * (1 << 21), "B" * (1 << 21))  # all or nothing
    lines = await store.read_lines("/wal")
    records = [int(line) for line in lines]  # every line complete
    assert len(records) == len(set(records))
    assert acked <= set(records)
    await store.close()
