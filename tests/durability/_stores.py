"""Server settings and the skip-or-fail policy shared by the durability tests.

Server-backed stores (Redis, PostgreSQL) skip when their server is down, but
*fail* when the ``CI`` environment variable is set (the policy of
``tests/knowledge/conftest.py``).
"""

from __future__ import annotations

import os

import pytest

__all__ = [
    "POSTGRES_DSN",
    "REDIS_URL",
    "drop_schema",
    "require_postgres",
    "require_redis",
    "unavailable",
]

REDIS_URL = os.environ.get("HUBBUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_DSN = os.environ.get("HUBBUB_TEST_POSTGRES_DSN", "postgresql://127.0.0.1:5432/test")


def unavailable(what: str) -> None:
    """Skip the test because a server is down, or fail it under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI is set, so this is a failure, not a skip)")
    pytest.skip(what)


async def require_postgres() -> None:
    """Skip (or fail under CI) unless PostgreSQL answers."""
    import asyncpg

    try:
        conn = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    except Exception as exc:
        unavailable(f"PostgreSQL at {POSTGRES_DSN} is not reachable: {exc}")
    await conn.close()


async def require_redis() -> None:
    """Skip (or fail under CI) unless Redis answers."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        unavailable(f"Redis at {REDIS_URL} is not reachable: {exc}")
    finally:
        await client.aclose()


async def drop_schema(schema: str) -> None:
    """Drop a test schema and everything in it."""
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()
