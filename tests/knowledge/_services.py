"""The PostgreSQL and Redis servers of the store tests: where they are, skip-or-fail, cleanup.

A test that needs a server calls ``await require_postgres()`` / ``await
require_redis()``: it skips when the server is down, and fails when ``CI`` is
set (the policy of ``tests/durability/_stores.py``, which these are imported
from). ``via(port)`` gives the DSN or URL
that reaches the same server through a :class:`~_forwarder.Forwarder` on ``port``.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

from tests.durability._stores import (
    POSTGRES_DSN,
    REDIS_URL,
    drop_schema,
    require_postgres,
    require_redis,
    unavailable,
)

__all__ = [
    "POSTGRES_DSN",
    "REDIS_URL",
    "delete_prefix",
    "drop_schema",
    "new_prefix",
    "new_schema",
    "postgres_execute",
    "postgres_target",
    "postgres_via",
    "redis_target",
    "redis_via",
    "require_postgres",
    "require_redis",
    "unavailable",
]


def _target(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@127.0.0.1:{port}" if auth else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def postgres_target() -> tuple[str, int]:
    """Host and port of the test PostgreSQL."""
    return _target(POSTGRES_DSN, 5432)


def redis_target() -> tuple[str, int]:
    """Host and port of the test Redis."""
    return _target(REDIS_URL, 6379)


def postgres_via(port: int) -> str:
    """The test DSN, through a forwarder listening on 127.0.0.1:``port``."""
    return _via(POSTGRES_DSN, port)


def redis_via(port: int) -> str:
    """The test Redis URL, through a forwarder listening on 127.0.0.1:``port``."""
    return _via(REDIS_URL, port)


def new_schema() -> str:
    """A schema name no other test uses."""
    return f"hubbub_test_{uuid.uuid4().hex[:16]}"


def new_prefix() -> str:
    """A Redis key prefix no other test uses."""
    return f"hubbub-test:{uuid.uuid4().hex}"


async def postgres_execute(sql: str) -> None:
    """Run ``sql`` on the test PostgreSQL (setup and cleanup)."""
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_DSN, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def delete_prefix(prefix: str) -> None:
    """Delete every Redis key under ``prefix:``."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
