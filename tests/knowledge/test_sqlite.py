"""SqliteKnowledgeStore specifics: pragmas, row-per-record layout, group commit."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from hubbub.knowledge.sqlite import SqliteKnowledgeStore


async def test_rejects_unknown_synchronous(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SqliteKnowledgeStore(tmp_path / "x.db", synchronous="OFF")  # type: ignore[arg-type]


async def test_wal_mode_and_one_row_per_record(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    store = SqliteKnowledgeStore(db, synchronous="NORMAL")
    await asyncio.gather(*(store.append("/s/wal", f"{i}\n") for i in range(100)))
    await store.write("/s/meta", "{}")
    await store.close()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM records WHERE path='/s/wal'").fetchone()[0] == 100
        offs = [r[0] for r in conn.execute("SELECT off FROM records ORDER BY seq")]
        assert offs == sorted(offs) and len(set(offs)) == 100
        assert conn.execute("SELECT aligned FROM files WHERE path='/s/wal'").fetchone()[0] == 1
    finally:
        conn.close()


async def test_unaligned_file_falls_back_to_full_read(tmp_path: Path) -> None:
    store = SqliteKnowledgeStore(tmp_path / "k.db")
    await store.append("/f", "a\nb")
    await store.append("/f", "c\nd\n")
    assert await store.read_lines("/f") == ["a", "bc", "d"]
    assert await store.line_count("/f") == 3
    await store.write("/f", "x\n")  # a write makes it aligned again
    await store.append("/f", "y\n")
    assert await store.read_lines("/f", 1) == ["y"]
    await store.close()
