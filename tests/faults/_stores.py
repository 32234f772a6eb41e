"""Stores for the fault suite, each on a private location, with their cleanup.

Server-backed stores (Redis, PostgreSQL) skip when their server is down, but *fail*
when the ``CI`` environment variable is set (``tests/durability/_stores.py``).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from tests.durability._stores import (
    POSTGRES_DSN,
    REDIS_URL,
    drop_schema,
    require_postgres,
    require_redis,
)

from hubbub.knowledge import DiskKnowledgeStore, KnowledgeStore, MemoryKnowledgeStore
from hubbub.knowledge.sqlite import SqliteKnowledgeStore

STORES = [
    "memory",
    "disk",
    "sqlite",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("postgres", marks=pytest.mark.postgres),
]


async def delete_redis_prefix(url: str, prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def redis_prefix() -> str:
    return f"hubbub-faults:{uuid.uuid4().hex}"


def postgres_schema() -> str:
    return f"hubbub_faults_{uuid.uuid4().hex[:16]}"


async def open_store(kind: str, tmp: Path) -> tuple[KnowledgeStore, list[object]]:
    """A new store of ``kind`` on a private location, and what cleanup needs to know."""
    if kind == "memory":
        return MemoryKnowledgeStore(), []
    if kind == "disk":
        return DiskKnowledgeStore(tmp / "store"), []
    if kind == "sqlite":
        return SqliteKnowledgeStore(tmp / "store.sqlite"), []
    if kind == "redis":
        await require_redis()
        from hubbub.knowledge.redis import RedisKnowledgeStore

        prefix = redis_prefix()
        return RedisKnowledgeStore(REDIS_URL, key_prefix=prefix), ["redis", prefix]
    if kind == "postgres":
        await require_postgres()
        from hubbub.knowledge.postgres import PostgresKnowledgeStore

        schema = postgres_schema()
        return PostgresKnowledgeStore(POSTGRES_DSN, schema=schema), ["postgres", schema]
    raise AssertionError(kind)


async def cleanup_store(store: KnowledgeStore, cleanup: list[object]) -> None:
    try:
        await store.close()
    finally:
        if cleanup and cleanup[0] == "redis":
            await delete_redis_prefix(REDIS_URL, str(cleanup[1]))
        elif cleanup and cleanup[0] == "postgres":
            await drop_schema(str(cleanup[1]))
