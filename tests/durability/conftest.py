"""Durable stores for the durability tests, each on a private location that can be re-opened.

Server-backed stores (Redis, PostgreSQL) skip when their server is down, but
*fail* when the ``CI`` environment variable is set (the policy of
``tests/knowledge/conftest.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import pytest
from tests.durability._stores import (
    POSTGRES_DSN,
    REDIS_URL,
    drop_schema,
    require_postgres,
    unavailable,
)

from hubbub.knowledge import DiskKnowledgeStore, KnowledgeStore
from hubbub.knowledge.sqlite import SqliteKnowledgeStore


class StoreFactory(Protocol):
    """Opens store objects on one private backing location."""

    name: str

    async def open(self) -> KnowledgeStore:
        """A new store object on the same data (every call)."""
        ...

    async def cleanup(self) -> None:
        """Remove the backing data."""
        ...


class DiskFactory:
    name = "disk"

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "store"

    async def open(self) -> KnowledgeStore:
        return DiskKnowledgeStore(self.root)

    async def cleanup(self) -> None:
        return None


class SqliteFactory:
    name = "sqlite"

    def __init__(self, tmp: Path) -> None:
        self.path = tmp / "store.sqlite"

    async def open(self) -> KnowledgeStore:
        return SqliteKnowledgeStore(self.path)

    async def cleanup(self) -> None:
        return None


class RedisFactory:
    """Redis stores under a unique key prefix, deleted afterwards."""

    name = "redis"

    def __init__(self, tmp: Path) -> None:
        del tmp
        self.prefix = f"hubbub-durability:{uuid.uuid4().hex}"
        self.checked = False

    async def open(self) -> KnowledgeStore:
        from hubbub.knowledge.redis import RedisKnowledgeStore

        if not self.checked:
            import redis.asyncio as aioredis

            client = aioredis.from_url(REDIS_URL, socket_connect_timeout=2)
            try:
                await client.ping()
            except Exception as exc:
                unavailable(f"Redis at {REDIS_URL} is not reachable: {exc}")
            finally:
                await client.aclose()
            self.checked = True
        return RedisKnowledgeStore(REDIS_URL, key_prefix=self.prefix)

    async def cleanup(self) -> None:
        if not self.checked:
            return
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        try:
            keys = [k async for k in client.scan_iter(match=f"{self.prefix}:*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


class PostgresFactory:
    """PostgreSQL stores in a unique schema, dropped afterwards."""

    name = "postgres"

    def __init__(self, tmp: Path) -> None:
        del tmp
        self.schema = f"hubbub_durability_{uuid.uuid4().hex[:16]}"
        self.checked = False

    async def open(self) -> KnowledgeStore:
        from hubbub.knowledge.postgres import PostgresKnowledgeStore

        if not self.checked:
            await require_postgres()
            self.checked = True
        return PostgresKnowledgeStore(POSTGRES_DSN, schema=self.schema)

    async def cleanup(self) -> None:
        if self.checked:
            await drop_schema(self.schema)


DURABLE = {
    "disk": DiskFactory,
    "sqlite": SqliteFactory,
    "redis": RedisFactory,
    "postgres": PostgresFactory,
}


@pytest.fixture(params=list(DURABLE))
async def durable_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """A factory of store objects over one private location, for every durable backend."""
    factory = DURABLE[request.param](tmp_path)
    try:
        yield factory
    finally:
        await factory.cleanup()
