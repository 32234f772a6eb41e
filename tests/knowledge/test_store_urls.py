"""``open_store(url)``: every URL kind opens a real store that keeps what is written; bad URLs are refused.

Redis and PostgreSQL are the test servers of ``tests/knowledge/_services.py``
(skipped when down, a failure when ``CI`` is set).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from tests.knowledge._services import (
    POSTGRES_DSN,
    REDIS_URL,
    delete_prefix,
    drop_schema,
    new_prefix,
    new_schema,
    require_postgres,
    require_redis,
)

import hubbub.knowledge
from hubbub.knowledge import (
    DiskKnowledgeStore,
    KnowledgeStore,
    MemoryKnowledgeStore,
    SqliteKnowledgeStore,
    open_store,
)
from hubbub.knowledge.urls import ACCEPTED
from hubbub.network.errors import InvalidValueError


async def round_trip(store: KnowledgeStore) -> None:
    """Write, append and read back through ``store``, then close it."""
    try:
        await store.write("/url-test/meta.json", '{"ok": true}')
        assert await store.append("/url-test/wal.jsonl", "one\n") == 0
        assert await store.append("/url-test/wal.jsonl", "two\n") == 4
        assert await store.read("/url-test/meta.json") == '{"ok": true}'
        assert await store.read_lines("/url-test/wal.jsonl") == ["one", "two"]
    finally:
        await store.close()


async def reads_back(store: KnowledgeStore) -> None:
    """A store re-opened from the same URL sees what :func:`round_trip` wrote."""
    try:
        assert await store.read("/url-test/meta.json") == '{"ok": true}'
        assert await store.read_lines("/url-test/wal.jsonl") == ["one", "two"]
    finally:
        await store.close()


def test_open_store_is_exported() -> None:
    assert hubbub.knowledge.open_store is open_store
    assert "open_store" in hubbub.knowledge.__all__


async def test_memory() -> None:
    store = open_store("memory:")
    assert isinstance(store, MemoryKnowledgeStore)
    await round_trip(store)
    assert open_store("MEMORY:") is not store  # a new, empty store each time


async def test_disk(tmp_path: Path) -> None:
    root = tmp_path / "hub"
    store = open_store(f"disk:{root}")
    assert isinstance(store, DiskKnowledgeStore)
    assert store.root == str(root.resolve())
    await round_trip(store)
    assert (root / "url-test" / "wal.jsonl").read_text() == "one\ntwo\n"
    await reads_back(open_store(f"disk://{root}"))  # the file-URL spelling, disk:///abs


async def test_disk_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("disk:data/hub")
    assert isinstance(store, DiskKnowledgeStore)
    assert store.root == str((tmp_path / "data" / "hub").resolve())
    await round_trip(store)


async def test_sqlite_absolute(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    assert str(db).startswith("/")
    store = open_store(f"sqlite:///{db}")  # four slashes: sqlite:////tmp/...
    assert isinstance(store, SqliteKnowledgeStore)
    assert store.describe() == f"sqlite:{db}"
    await round_trip(store)
    assert db.exists()
    await reads_back(open_store(f"sqlite:///{db}"))


async def test_sqlite_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    store = open_store("sqlite:///var/hub.db")
    assert store.describe() == "sqlite:var/hub.db"
    await round_trip(store)
    assert (tmp_path / "var" / "hub.db").exists()


@pytest.mark.redis
async def test_redis_with_prefix() -> None:
    await require_redis()
    prefix = new_prefix()
    url = f"{REDIS_URL}?prefix={prefix}"
    try:
        store = open_store(url)
        from hubbub.knowledge.redis import RedisKnowledgeStore

        assert isinstance(store, RedisKnowledgeStore)
        assert store.key_prefix == prefix
        await round_trip(store)
        await reads_back(open_store(url))

        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        try:
            assert await client.exists(f"{prefix}:meta") == 1  # the keys are under the prefix
        finally:
            await client.aclose()
    finally:
        await delete_prefix(prefix)


@pytest.mark.redis
async def test_redis_default_prefix_and_rediss_scheme() -> None:
    from hubbub.knowledge.redis import RedisKnowledgeStore

    store = open_store(REDIS_URL)
    assert isinstance(store, RedisKnowledgeStore)
    assert store.key_prefix == "hubbub:knowledge"
    await store.close()  # built only; nothing written to the shared default prefix
    tls = open_store("rediss://127.0.0.1:6380/2?prefix=p")
    assert isinstance(tls, RedisKnowledgeStore)
    assert tls.describe() == "redis://127.0.0.1:6380/2 prefix p"
    await tls.close()


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_postgres_with_schema(scheme: str) -> None:
    await require_postgres()
    schema = new_schema()
    parts = urlsplit(POSTGRES_DSN)
    url = urlunsplit(parts._replace(scheme=scheme, query=f"schema={schema}&sslmode=disable"))
    try:
        store = open_store(url)
        from hubbub.knowledge.postgres import PostgresKnowledgeStore

        assert isinstance(store, PostgresKnowledgeStore)
        assert store.describe().endswith(f"schema {schema}")
        await round_trip(store)
        await reads_back(open_store(url))

        import asyncpg

        conn = await asyncpg.connect(POSTGRES_DSN, timeout=10)
        try:
            tables = await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema
            )
        finally:
            await conn.close()
        assert {"files", "records"} <= {row["table_name"] for row in tables}
    finally:
        await drop_schema(schema)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "non-empty string"),
        ("   ", "non-empty string"),
        ("/var/hub.db", "has no scheme; for an SQLite file, sqlite:////var/hub.db"),
        ("hub.db", "has no scheme; for an SQLite file, sqlite:///hub.db"),
        ("file:///var/hub", "unknown store URL scheme 'file:'"),
        ("mysql://127.0.0.1/db", "unknown store URL scheme 'mysql:'"),
        ("s3://bucket/hub", "unknown store URL scheme 's3:'"),
        ("memory:x", "just 'memory:'"),
        ("memory://", "just 'memory:'"),
        ("disk:", "needs a directory"),
        ("disk://host/path", "disk:PATH or disk:///abs/path"),
        ("sqlite:hub.db", "sqlite:///relative/path"),
        ("sqlite://hub.db", "sqlite:///relative/path"),
        ("sqlite:///", "sqlite:///relative/path"),
        ("sqlite:///hub.db?mode=ro", "no query"),
        ("redis://127.0.0.1:notaport/0", "bad Redis store URL"),
        ("redis://127.0.0.1:6379/0?db=1", "unknown parameter 'db'"),
        ("redis://127.0.0.1:6379/0?prefix=", "prefix is empty"),
        ("redis://127.0.0.1:6379/0?prefix=a&prefix=b", "gives 'prefix' twice"),
        ("redis://127.0.0.1:6379/0?prefix", "bad Redis store URL"),
        ("postgresql://127.0.0.1:5432/test?schema=Bad-Name", "lowercase SQL identifier"),
        ("postgresql://127.0.0.1:99999/test", "bad PostgreSQL store URL"),
    ],
)
def test_bad_urls_are_refused(url: str, says: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        open_store(url)
    assert info.value.code == "invalid_value"
    assert says in info.value.message


def test_unknown_scheme_lists_the_accepted_forms() -> None:
    with pytest.raises(InvalidValueError) as info:
        open_store("mongodb://127.0.0.1/hub")
    for form in ACCEPTED:
        assert form in info.value.message


@pytest.mark.parametrize(
    "url",
    [
        "redis://:hunter2secret@127.0.0.1:6379/0?bogus=1",
        "postgresql://alice:hunter2secret@127.0.0.1:5432/test?schema=NO",
        "postgres://alice:hunter2secret@127.0.0.1:5432/test?schema=a&schema=b",
        "redis://alice:hunter2secret@127.0.0.1:bad/0",
        "mongodb://alice:hunter2secret@127.0.0.1/hub",
    ],
)
def test_messages_never_show_a_password(url: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        open_store(url)
    assert "hunter2secret" not in info.value.message
    assert "hunter2secret" not in str(info.value)


def test_a_foreign_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "somebody-elses.txt").write_text("hello")
    from hubbub.knowledge import StoreLockedError

    with pytest.raises(StoreLockedError) as info:
        open_store(f"disk:{tmp_path}")
    assert info.value.code == "foreign_store"
    assert os.listdir(tmp_path) == ["somebody-elses.txt"]
