"""Real outages: PostgreSQL restarted and Redis unreachable mid-load, through a forwarder.

The store talks to its server through a loopback TCP forwarder the test controls.
Under a bounded concurrent load of posts across 20 sessions the test cuts every live
connection and refuses new ones for a moment, then restores. Every post was either
acknowledged (and is in its WAL exactly once) or failed with
``StoreUnavailableError``; after the restore posts succeed again on the *same* store
object (it reconnects by itself); the hub reopens with state == fold and no gaps.

A cut connection leaves the outcome of an in-flight write unknown, so a failed post
may be in the WAL — at most once, and then the hub that ran must have folded it
(``Net.verify(failed_may_be_logged=True)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from tests.durability._stores import POSTGRES_DSN, REDIS_URL, drop_schema, require_postgres
from tests.faults._forwarder import Forwarder
from tests.faults._net import Net, open_hub
from tests.faults._stores import (
    delete_redis_prefix,
    postgres_schema,
    redis_prefix,
    require_redis,
)

from hubbub.knowledge import KnowledgeStore
from hubbub.network.errors import StoreUnavailableError

SESSIONS = 20
POSTS_PER_SESSION = 12  # 240 posts, plus the rounds after the restore
OUTAGE_S = 0.3  # how long new connections are refused


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    netloc[-1] = host
    return urlunsplit(parts._replace(netloc="@".join(netloc)))


class Outage:
    """A store of ``kind`` reaching its server through a forwarder."""

    def __init__(self, kind: str, fwd: Forwarder, store: KnowledgeStore) -> None:
        self.kind = kind
        self.fwd = fwd
        self.store = store


@pytest.fixture(
    params=[
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
async def outage(request: pytest.FixtureRequest) -> AsyncIterator[Outage]:
    kind = request.param
    url = POSTGRES_DSN if kind == "postgres" else REDIS_URL
    if kind == "postgres":
        await require_postgres()
    else:
        await require_redis()
    parts = urlsplit(url)
    fwd = await Forwarder.start(parts.hostname or "127.0.0.1", parts.port or 0)
    via = _via(url, fwd.port)
    store: KnowledgeStore
    if kind == "postgres":
        from hubbub.knowledge.postgres import PostgresKnowledgeStore

        schema = postgres_schema()
        store = PostgresKnowledgeStore(via, schema=schema)
    else:
        from hubbub.knowledge.redis import RedisKnowledgeStore

        prefix = redis_prefix()
        store = RedisKnowledgeStore(via, key_prefix=prefix)
    try:
        yield Outage(kind, fwd, store)
    finally:
        try:
            await fwd.restore()
            # A close that fails is the store's bug, but the tests above report it.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(store.close(), 10)
        finally:
            await fwd.close()
            if kind == "postgres":
                await drop_schema(schema)
            else:
                await delete_redis_prefix(REDIS_URL, prefix)


async def post_until_ok(net: Net, sid: str, text: str, within: float) -> None:
    """Post until it is acknowledged (the store reconnecting), failing after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        o = await net.post(sid, text)
        if o.envelope_id:
            return
        assert isinstance(o.error, StoreUnavailableError), (
            f"a post after the restore raised {type(o.error).__module__}."
            f"{type(o.error).__name__}: {o.error!r}"
        )
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the store did not reconnect within {within}s of the restore: {o.error!r}"
            )
        await asyncio.sleep(0.05)  # the server is back; give the driver a moment to reconnect


async def test_server_outage_mid_load(outage: Outage) -> None:
    fwd = outage.fwd
    net = await Net.start(outage.store)
    try:
        sessions = [await net.open_session() for _ in range(SESSIONS)]
        up = asyncio.Event()
        up.set()
        cut_at = SESSIONS * POSTS_PER_SESSION // 3  # acknowledged posts before the outage
        outage_started = asyncio.Event()

        async def worker(sid: str) -> None:
            for j in range(POSTS_PER_SESSION):
                o = await net.post(sid, f"{sid}-{j}")
                if len(net.acked()) >= cut_at:
                    outage_started.set()
                if o.error is not None and not up.is_set():
                    # Keep posting while the server is away, but not in a tight loop.
                    await asyncio.sleep(OUTAGE_S / 4)

        async def chaos() -> None:
            await outage_started.wait()
            await fwd.block()
            up.clear()
            cut = fwd.cut()
            assert cut, "no live connection to cut: the load did not reach the server"
            await asyncio.sleep(OUTAGE_S)  # a real outage lasts a moment
            await fwd.restore()
            up.set()

        async def load() -> None:
            await asyncio.gather(*(worker(sid) for sid in sessions))
            outage_started.set()  # chaos() then finds nothing to cut, and says so

        async with asyncio.timeout(30):
            await asyncio.gather(chaos(), load())
        net.ordered = True  # each session was posted to sequentially
        net.assert_failures_clean()

        # The same store object reconnects: every session takes posts again.
        async with asyncio.timeout(30):
            await post_until_ok(net, sessions[0], "probe", within=10)
            for sid in sessions:
                o = await net.post(sid, f"{sid}-after")
                assert o.envelope_id, f"post after reconnecting raised {o.error!r}"
        assert len(net.acked()) >= SESSIONS + 1
        await net.wait_delivered(sessions[-1])
        async with asyncio.timeout(30):
            await net.verify(failed_may_be_logged=True)
    finally:
        await net.close()


async def test_server_down_at_first_use_then_back(outage: Outage) -> None:
    """A store whose server is down when the hub opens raises StoreUnavailableError, and
    the same store object works once the server is back (no failed pool cached)."""
    await outage.fwd.block()
    async with asyncio.timeout(30):
        with pytest.raises(StoreUnavailableError):
            hub = await open_hub(outage.store)
            await hub.close()
        await outage.fwd.restore()
        net = await Net.start(outage.store)
        try:
            sid = await net.open_session()
            assert (await net.post(sid, "hello")).envelope_id
            await net.verify()
        finally:
            await net.close()
