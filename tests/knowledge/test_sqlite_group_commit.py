"""SqliteKnowledgeStore group commit: the one-statement append batch, its failure, flatness."""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
import sys
from pathlib import Path

import pytest

from hubbub.knowledge.base import StoreUnavailableError
from hubbub.knowledge.sqlite import SqliteKnowledgeStore


def _line(i: int) -> str:
    return f'{{"n":{i},"text":"{"é" * (i % 3)}x"}}\n'  # some multi-byte records


async def test_concurrent_appends_keep_offsets_order_and_rows(tmp_path: Path) -> None:
    store = SqliteKnowledgeStore(tmp_path / "k.db")
    paths = [f"/s/{i}/wal" for i in range(120)]  # more writers than one batch holds
    sent: dict[str, list[str]] = {p: [] for p in paths}
    offsets: dict[str, list[int]] = {p: [] for p in paths}

    async def appender(path: str) -> None:
        for i in range(30):
            line = _line(i)
            sent[path].append(line)
            offsets[path].append(await store.append(path, line))
            if i == 10:
                assert await store.read(path) == "".join(sent[path])  # a read between appends

    await asyncio.gather(*(appender(p) for p in paths))
    for p in paths:
        want = [len("".join(sent[p][:i]).encode()) for i in range(30)]
        assert offsets[p] == want
        assert await store.read(p) == "".join(sent[p])
        assert await store.line_count(p) == 30
        assert await store.read_lines(p, 28) == [s[:-1] for s in sent[p][28:]]
        assert await store.read_range(p, want[5], want[7]) == sent[p][5] + sent[p][6]
    await store.close()
    conn = sqlite3.connect(tmp_path / "k.db")
    try:
        assert conn.execute("SELECT count(*) FROM records").fetchone()[0] == 120 * 30
        assert conn.execute("SELECT count(*) FROM files WHERE aligned = 1").fetchone()[0] == 120
    finally:
        conn.close()


async def test_append_batch_is_one_statement_without_begin(tmp_path: Path) -> None:
    store = SqliteKnowledgeStore(tmp_path / "k.db")
    paths = [f"/s/{i}" for i in range(40)]
    await asyncio.gather(*(store.append(p, "first\n") for p in paths))  # files exist, tails cached
    traced: list[str] = []
    assert store._db is not None
    store._db.set_trace_callback(traced.append)  # runs on the store thread
    await asyncio.gather(*(store.append(p, f"{i}\n") for i, p in enumerate(paths)))
    await asyncio.gather(*(store.append(p, f"x{i}\n") for i, p in enumerate(paths)))
    store._db.set_trace_callback(None)
    assert traced, "no statement traced"
    assert all(sql.startswith("INSERT INTO records VALUES") for sql in traced), traced
    assert len(traced) <= 4  # one statement per batch, not one per record
    assert await store.read(paths[3]) == "first\n3\nx3\n"
    await store.close()


async def test_appends_that_break_alignment_take_the_transaction_path(tmp_path: Path) -> None:
    store = SqliteKnowledgeStore(tmp_path / "k.db")
    await store.append("/f", "a\n")
    await asyncio.gather(store.append("/f", "b\n"), store.append("/f", "c\nd"))
    assert await store.read_lines("/f") == ["a", "b", "c", "d"]
    await asyncio.gather(*(store.append("/f", f"{i}\n") for i in range(5)))  # unaligned now
    assert await store.read_lines("/f") == ["a", "b", "c", "d0", "1", "2", "3", "4"]
    assert await store.line_count("/f") == 8
    await store.append("/f", "")  # an empty record inserts nothing
    assert await store.read("/f") == "a\nb\nc\nd0\n1\n2\n3\n4\n"
    await store.close()


async def test_a_failed_append_batch_fails_together_and_inserts_nothing(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    conn = sqlite3.connect(db)
    conn.executescript(
        "CREATE TABLE records(path TEXT NOT NULL, seq INTEGER NOT NULL, off INTEGER NOT NULL,"
        " data TEXT NOT NULL, PRIMARY KEY (path, seq)) WITHOUT ROWID;"
        "CREATE TRIGGER boom BEFORE INSERT ON records WHEN new.data = 'boom\n'"
        " BEGIN SELECT RAISE(ABORT, 'boom'); END;"
    )
    conn.close()
    store = SqliteKnowledgeStore(db)
    paths = [f"/s/{i}" for i in range(20)]
    await asyncio.gather(*(store.append(p, "0\n") for p in paths))
    contents = ["boom\n" if i == 7 else f"{i}\n" for i in range(20)]
    results = await asyncio.gather(
        *(store.append(p, c) for p, c in zip(paths, contents, strict=True)),
        return_exceptions=True,
    )
    assert isinstance(results[7], StoreUnavailableError)
    for p, c, r in zip(paths, contents, results, strict=True):
        text = await store.read(p)
        if isinstance(r, BaseException):  # failed with the batch that held "boom"
            assert isinstance(r, StoreUnavailableError) and text == "0\n"
        else:
            assert r == 2 and text == "0\n" + c
    # The writer's cached tails were dropped: the next offsets come from the rows.
    after = await asyncio.gather(*(store.append(p, "z\n") for p in paths))
    for p, r in zip(paths, after, strict=True):
        assert r == len(await store.read(p) or "") - 2
    await store.close()


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs Linux /proc/self/io")
async def test_append_cost_stays_flat_over_100k_records(tmp_path: Path) -> None:
    """Bytes written per append (WAL frames + checkpoints) must not grow with the
    number of records, and checkpoints must keep the WAL file bounded."""
    db = tmp_path / "k.db"
    store = SqliteKnowledgeStore(db)
    sessions, per = 100, 1000
    line = '{"sender_id":"' + "a" * 32 + '","event_type":"text","event_data":{"text":"hi"}}\n'
    fifth = sessions * per // 5
    marks: list[tuple[int, int]] = []  # (bytes written by the process, WAL size)
    done = 0

    def sample() -> tuple[int, int]:
        with open("/proc/self/io") as f:
            wchar = next(int(v) for k, v in (ln.split(":") for ln in f) if k == "wchar")
        wal = str(db) + "-wal"
        return wchar, os.path.getsize(wal) if os.path.exists(wal) else 0

    async def appender(i: int) -> None:
        nonlocal done
        path = f"/sessions/{i:032x}/wal.jsonl"
        for _ in range(per):
            await store.append(path, line)
            done += 1
            if done % fifth == 0:
                marks.append(sample())

    marks.append(sample())
    await asyncio.gather(*(appender(i) for i in range(sessions)))
    await store.close()
    per_record = [(b[0] - a[0]) / fifth for a, b in itertools.pairwise(marks)]
    print("bytes written per record by fifth:", [round(x) for x in per_record], file=sys.stderr)
    assert len(per_record) == 5
    assert max(per_record[1:]) <= 1.5 * per_record[0], per_record
    assert max(size for _, size in marks) <= 40 << 20  # about 16 MiB between checkpoints
