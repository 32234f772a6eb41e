"""A store never writes into another application's data; hubbub's own older stores still open.

Regression tests for issue 8 item 13: pointed at another application's SQLite
database, the hub created its tables inside it. Each store is refused with
``StoreLockedError(code="foreign_store")`` naming the location and what it found,
and nothing is written; a store made by a version before the marker (only
hubbub's tables, files or keys) opens and gets the marker.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.knowledge._services import (
    POSTGRES_DSN,
    REDIS_URL,
    delete_prefix,
    drop_schema,
    new_prefix,
    new_schema,
    postgres_execute,
    require_postgres,
    require_redis,
)

from hubbub.knowledge import (
    DiskKnowledgeStore,
    InvalidPathError,
    SqliteKnowledgeStore,
    StoreLockedError,
)

_LEGACY_SQLITE = """
CREATE TABLE files(path TEXT PRIMARY KEY, content TEXT NOT NULL, base_lines INTEGER NOT NULL,
    aligned INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE records(path TEXT NOT NULL, seq INTEGER NOT NULL, off INTEGER NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (path, seq)) WITHOUT ROWID;
INSERT INTO files VALUES ('/sessions/s1/wal.jsonl', '', 0, 1);
INSERT INTO records VALUES ('/sessions/s1/wal.jsonl', 0, 0, 'old line' || char(10));
"""


def _schema_of(path: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT type, name FROM sqlite_master ORDER BY name").fetchall()
    finally:
        db.close()


# -- SQLite ---------------------------------------------------------------------------


async def test_sqlite_store_refuses_foreign_database(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'ann');"
    )
    db.close()
    before = _schema_of(path)
    store = SqliteKnowledgeStore(path)
    try:
        for attempt in (store.write("/a", "x"), store.read("/a"), store.acquire_lock("hub")):
            with pytest.raises(StoreLockedError) as info:
                await attempt
            assert info.value.code == "foreign_store"
            assert str(path) in str(info.value) and "users" in str(info.value)
    finally:
        await store.close()
    assert _schema_of(path) == before  # not a table, not a pragma written
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert db.execute("PRAGMA application_id").fetchone()[0] == 0
    db.close()
    assert not (tmp_path / "app.db.lock").exists()


async def test_sqlite_store_refuses_a_files_table_that_is_not_its_own(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE files(name TEXT, size INTEGER)")
    db.close()
    store = SqliteKnowledgeStore(path)
    try:
        with pytest.raises(StoreLockedError, match="table files"):
            await store.write("/a", "x")
    finally:
        await store.close()


async def test_sqlite_store_refuses_another_application_id(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA application_id = 1234")
    db.close()
    store = SqliteKnowledgeStore(path)
    try:
        with pytest.raises(StoreLockedError, match="application_id 0x4d2"):
            await store.read("/a")
    finally:
        await store.close()


async def test_sqlite_store_from_before_the_marker_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(_LEGACY_SQLITE)
    db.close()
    store = SqliteKnowledgeStore(path)
    try:
        assert await store.read("/sessions/s1/wal.jsonl") == "old line\n"
        await store.append("/sessions/s1/wal.jsonl", "new line\n")
    finally:
        await store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA application_id").fetchone()[0] == 0x68756262
    db.close()


async def test_new_sqlite_store_is_marked_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    store = SqliteKnowledgeStore(path)
    await store.write("/anything/at/all", "1")
    await store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA application_id").fetchone()[0] == 0x68756262
    db.close()
    again = SqliteKnowledgeStore(path)
    try:
        assert await again.read("/anything/at/all") == "1"
    finally:
        await again.close()


# -- disk ------------------------------------------------------------------------------


def test_disk_store_refuses_a_foreign_root(tmp_path: Path) -> None:
    root = tmp_path / "home"
    root.mkdir()
    (root / "thesis.tex").write_text("precious")
    (root / "photos").mkdir()
    with pytest.raises(StoreLockedError) as info:
        DiskKnowledgeStore(root)
    assert info.value.code == "foreign_store"
    assert str(root) in str(info.value) and "thesis.tex" in str(info.value)
    assert sorted(p.name for p in root.iterdir()) == ["photos", "thesis.tex"]


async def test_disk_store_from_before_the_marker_still_opens(tmp_path: Path) -> None:
    root = tmp_path / "old"
    (root / "sessions" / "s1").mkdir(parents=True)
    (root / "sessions" / "s1" / "wal.jsonl").write_text("old line\n")
    (root / "agents").mkdir()
    store = DiskKnowledgeStore(root)
    try:
        assert await store.read("/sessions/s1/wal.jsonl") == "old line\n"
    finally:
        await store.close()
    assert (root / ".hubbub-store").exists()


async def test_disk_store_marker_and_lock_are_invisible_and_survive_delete_root(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    store = DiskKnowledgeStore(root)
    try:
        await store.acquire_lock("me")
        await store.write("/my/own/layout", "x")
        assert await store.list("/") == ["my/"]
        with pytest.raises(InvalidPathError):
            await store.read("/.hubbub-store")
        await store.delete("/")
        assert await store.list("/") == []
        assert (root / ".hubbub-store").exists() and (root / ".hubbub.lock").exists()
    finally:
        await store.close()
    again = DiskKnowledgeStore(root)  # arbitrary paths of a marked store reopen
    await again.close()


# -- PostgreSQL ------------------------------------------------------------------------


async def test_postgres_store_refuses_foreign_schema() -> None:
    await require_postgres()
    from hubbub.knowledge.postgres import PostgresKnowledgeStore

    schema = new_schema()
    await postgres_execute(f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.orders(id int)")
    store = PostgresKnowledgeStore(POSTGRES_DSN, schema=schema)
    try:
        for attempt in (store.write("/a", "x"), store.read("/a"), store.acquire_lock("hub")):
            with pytest.raises(StoreLockedError) as info:
                await attempt
            assert info.value.code == "foreign_store"
            assert schema in str(info.value) and "orders" in str(info.value)
        import asyncpg

        conn = await asyncpg.connect(POSTGRES_DSN)
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
        )
        await conn.close()
        assert [t["table_name"] for t in tables] == ["orders"]
    finally:
        await store.close()
        await drop_schema(schema)


async def test_postgres_store_from_before_the_marker_still_opens() -> None:
    await require_postgres()
    from hubbub.knowledge.postgres import PostgresKnowledgeStore

    schema = new_schema()
    await postgres_execute(
        f"""CREATE SCHEMA {schema};
        CREATE TABLE {schema}.files (path text COLLATE "C" PRIMARY KEY, content text NOT NULL,
            base_lines integer NOT NULL, aligned boolean NOT NULL);
        CREATE TABLE {schema}.records (path text COLLATE "C" NOT NULL, seq bigint NOT NULL,
            off bigint NOT NULL, data text NOT NULL, PRIMARY KEY (path, seq));
        INSERT INTO {schema}.files VALUES ('/a', 'old', 0, false);"""
    )
    store = PostgresKnowledgeStore(POSTGRES_DSN, schema=schema)
    try:
        assert await store.read("/a") == "old"
        await store.acquire_lock("hub")
    finally:
        await store.close()
        await drop_schema(schema)


# -- Redis -----------------------------------------------------------------------------


async def test_redis_store_refuses_foreign_prefix() -> None:
    await require_redis()
    import redis.asyncio as aioredis

    from hubbub.knowledge.redis import RedisKnowledgeStore

    prefix = new_prefix()
    raw = aioredis.from_url(REDIS_URL)
    await raw.set(f"{prefix}:session:42", b"someone else's")
    store = RedisKnowledgeStore(REDIS_URL, key_prefix=prefix)
    try:
        for attempt in (store.write("/a", "x"), store.acquire_lock("hub")):
            with pytest.raises(StoreLockedError) as info:
                await attempt
            assert info.value.code == "foreign_store"
            assert prefix in str(info.value) and f"{prefix}:session:42" in str(info.value)
        assert [k async for k in raw.scan_iter(match=f"{prefix}:*")] == [
            f"{prefix}:session:42".encode()
        ]
    finally:
        await store.close()
        await raw.aclose()
        await delete_prefix(prefix)


async def test_redis_store_from_before_the_marker_still_opens() -> None:
    await require_redis()
    import redis.asyncio as aioredis

    from hubbub.knowledge.redis import RedisKnowledgeStore

    prefix = new_prefix()
    old = RedisKnowledgeStore(REDIS_URL, key_prefix=prefix)
    raw = aioredis.from_url(REDIS_URL)
    try:
        await old.write("/a", "old")
        await old.close()
        await raw.delete(f"{prefix}:meta")  # as written before the marker existed
        store = RedisKnowledgeStore(REDIS_URL, key_prefix=prefix)
        await store.append("/a", "+new")
        assert await store.read("/a") == "old+new"
        await store.close()
        assert await raw.get(f"{prefix}:meta") is not None
    finally:
        await raw.aclose()
        await delete_prefix(prefix)
