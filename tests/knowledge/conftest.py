"""Store registry for the knowledge contract suite: add a backend in ``STORES`` only.

Every entry names a factory that opens a store on a private backing location
(a temp dir, a unique key prefix, a unique schema) and cleans it up. Durable
factories can re-open the same location, which the persistence tests use.

Server-backed stores (Redis, PostgreSQL) skip when their server is down, but
*fail* when the ``CI`` environment variable is set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pytest

from hubbub.knowledge import DiskKnowledgeStore, KnowledgeStore, MemoryKnowledgeStore
from hubbub.knowledge.sqlite import SqliteKnowledgeStore


class StoreFactory(Protocol):
    """Opens stores on one private backing location."""

    async def open(self) -> KnowledgeStore:
        """Open a store; a second call re-opens the same data (durable stores)."""
        ...

    async def cleanup(self) -> None:
        """Remove the backing data."""
        ...


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """One registry entry."""

    make: Callable[[Path], StoreFactory]
    durable: bool


def unavailable(what: str) -> None:
    """Skip the test because a server is down, or fail it under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI is set, so this is a failure, not a skip)")
    pytest.skip(what)


class MemoryFactory:
    """Fresh memory stores (each open is a new, empty store)."""

    def __init__(self, tmp: Path) -> None:
        del tmp

    async def open(self) -> KnowledgeStore:
        return MemoryKnowledgeStore()

    async def cleanup(self) -> None:
        return None


class DiskFactory:
    """Disk stores rooted in the test's temp dir."""

    def __init__(self, tmp: Path, *, fsync: bool) -> None:
        self.root = tmp / "store"
        self.fsync = fsync

    async def open(self) -> KnowledgeStore:
        return DiskKnowledgeStore(self.root, fsync=self.fsync)

    async def cleanup(self) -> None:
        return None


class SqliteFactory:
    """SQLite stores on a database file in the test's temp dir."""

    def __init__(self, tmp: Path) -> None:
        self.path = tmp / "store.sqlite"

    async def open(self) -> KnowledgeStore:
        return SqliteKnowledgeStore(self.path)

    async def cleanup(self) -> None:
        return None


class RedisFactory:
    """Redis stores under a unique key prefix, deleted afterwards."""

    url = os.environ.get("HUBBUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

    def __init__(self, tmp: Path) -> None:
        del tmp
        self.prefix = f"hubbub-test:{uuid.uuid4().hex}"
        self.checked = False

    async def open(self) -> KnowledgeStore:
        from hubbub.knowledge.redis import RedisKnowledgeStore

        if not self.checked:
            import redis.asyncio as aioredis

            client = aioredis.from_url(self.url, socket_connect_timeout=2)
            try:
                await client.ping()
            except Exception as exc:
                unavailable(f"Redis at {self.url} is not reachable: {exc}")
            finally:
                await client.aclose()
            self.checked = True
        return RedisKnowledgeStore(self.url, key_prefix=self.prefix)

    async def cleanup(self) -> None:
        if not self.checked:
            return
        import redis.asyncio as aioredis

        client = aioredis.from_url(self.url)
        try:
            keys = [k async for k in client.scan_iter(match=f"{self.prefix}:*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


class PostgresFactory:
    """PostgreSQL stores in a unique schema, dropped afterwards."""

    dsn = os.environ.get("HUBBUB_TEST_POSTGRES_DSN", "postgresql://127.0.0.1:5432/test")

    def __init__(self, tmp: Path) -> None:
        del tmp
        self.schema = f"hubbub_test_{uuid.uuid4().hex[:16]}"
        self.checked = False

    async def open(self) -> KnowledgeStore:
        from hubbub.knowledge.postgres import PostgresKnowledgeStore

        if not self.checked:
            import asyncpg

            try:
                conn = await asyncpg.connect(self.dsn, timeout=5)
            except Exception as exc:
                unavailable(f"PostgreSQL at {self.dsn} is not reachable: {exc}")
            await conn.close()
            self.checked = True
        return PostgresKnowledgeStore(self.dsn, schema=self.schema)

    async def cleanup(self) -> None:
        if not self.checked:
            return
        import asyncpg

        conn = await asyncpg.connect(self.dsn, timeout=5)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
        finally:
            await conn.close()


STORES: dict[str, StoreSpec] = {
    "memory": StoreSpec(MemoryFactory, durable=False),
    "disk": StoreSpec(lambda tmp: DiskFactory(tmp, fsync=True), durable=True),
    "disk-nofsync": StoreSpec(lambda tmp: DiskFactory(tmp, fsync=False), durable=True),
    "sqlite": StoreSpec(SqliteFactory, durable=True),
    "redis": StoreSpec(RedisFactory, durable=True),
    "postgres": StoreSpec(PostgresFactory, durable=True),
}


async def _factory(name: str, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    factory = STORES[name].make(tmp_path)
    try:
        yield factory
    finally:
        await factory.cleanup()


@pytest.fixture(params=list(STORES))
async def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """Every registered store's factory."""
    async for factory in _factory(request.param, tmp_path):
        yield factory


@pytest.fixture(params=[name for name, spec in STORES.items() if spec.durable])
async def durable_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """Factories of the stores that keep data across re-opening."""
    async for factory in _factory(request.param, tmp_path):
        yield factory


@pytest.fixture
async def store(store_factory: StoreFactory) -> AsyncIterator[KnowledgeStore]:
    """An open, empty store of every registered kind."""
    s = await store_factory.open()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def server_unavailable() -> Callable[[str], None]:
    """The skip-or-fail policy for missing servers, for tests of the policy itself."""
    return unavailable
