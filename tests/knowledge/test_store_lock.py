"""One writer per store: ``acquire_lock`` refuses a second holder, naming the first.

Regression tests for issue 8 item 13 (two hubs on one SQLite file corrupted each
other's audit log). Every durable store is covered on its real backend: the file
lock of SQLite and disk, PostgreSQL's advisory lock, the Redis lease.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

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

from hubbub.knowledge import (
    DiskKnowledgeStore,
    KnowledgeStore,
    MemoryKnowledgeStore,
    SqliteKnowledgeStore,
    StoreClosedError,
    StoreLockedError,
    acquire_lock,
    lock_holder,
    release_lock,
)

LOCKABLE = ["sqlite", "disk", "postgres", "redis"]
Opener = Callable[[], KnowledgeStore]


@pytest.fixture(params=LOCKABLE)
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens store objects on one private location of each lockable kind."""
    kind = request.param
    if kind == "sqlite":
        yield lambda: SqliteKnowledgeStore(tmp_path / "hub.db")
    elif kind == "disk":
        yield lambda: DiskKnowledgeStore(tmp_path / "root")
    elif kind == "postgres":
        await require_postgres()
        from hubbub.knowledge.postgres import PostgresKnowledgeStore

        schema = new_schema()
        try:
            yield lambda: PostgresKnowledgeStore(POSTGRES_DSN, schema=schema)
        finally:
            await drop_schema(schema)
    else:
        await require_redis()
        from hubbub.knowledge.redis import RedisKnowledgeStore

        prefix = new_prefix()
        try:
            yield lambda: RedisKnowledgeStore(REDIS_URL, key_prefix=prefix, lock_ttl_s=1.0)
        finally:
            await delete_prefix(prefix)


async def test_second_holder_of_one_store_is_refused_with_store_locked(opener: Opener) -> None:
    first, second = opener(), opener()
    try:
        await first.acquire_lock("hubbub pid 111 on host-a")
        with pytest.raises(StoreLockedError) as info:
            await second.acquire_lock("hubbub pid 222 on host-b")
        assert info.value.code == "store_locked"
        assert "hubbub pid 111 on host-a" in str(info.value)
        assert first.describe() in str(info.value)  # type: ignore[attr-defined]
    finally:
        await first.close()
        await second.close()


async def test_released_lock_can_be_taken_by_the_next_holder(opener: Opener) -> None:
    first, second, third = opener(), opener(), opener()
    try:
        await first.acquire_lock("first")
        await first.acquire_lock("first")  # held already: nothing happens
        await first.release_lock()
        await first.release_lock()  # idempotent
        await second.acquire_lock("second")
        with pytest.raises(StoreLockedError, match="second"):
            await first.acquire_lock("first")
        await second.close()  # close gives the lock back too
        await third.acquire_lock("third")
    finally:
        for store in (first, second, third):
            await store.close()


async def test_a_store_without_the_lock_still_reads_and_writes(opener: Opener) -> None:
    holder, reader = opener(), opener()
    try:
        await holder.acquire_lock("the hub")
        await holder.write("/a", "from the hub")
        assert await reader.read("/a") == "from the hub"  # an offline tool
        await reader.append("/b", "x\n")  # the lock is advisory
        assert await holder.read("/b") == "x\n"
    finally:
        await holder.close()
        await reader.close()


async def test_acquire_lock_after_close_is_refused(opener: Opener) -> None:
    store = opener()
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.acquire_lock("late")


async def test_memory_store_lock_is_a_no_op() -> None:
    store = MemoryKnowledgeStore()
    await store.acquire_lock("a")
    await MemoryKnowledgeStore().acquire_lock("b")
    await store.release_lock()
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.acquire_lock("a")


async def test_lock_helpers_accept_a_store_without_lock_methods() -> None:
    class Bare:
        pass

    await acquire_lock(Bare(), "x")  # type: ignore[arg-type]
    await release_lock(Bare())  # type: ignore[arg-type]
    assert lock_holder().startswith(f"hubbub pid {os.getpid()} on ")
    assert lock_holder("hubbub serve").startswith("hubbub serve pid ")


_HOLD = textwrap.dedent(
    """
    import asyncio, sys
    from hubbub.knowledge import {cls}

    async def main():
        store = {cls}(sys.argv[1])
        await store.acquire_lock(sys.argv[2])
        print("locked", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


def _hold_in_child(cls: str, path: Path, holder: str) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD.format(cls=cls), str(path), holder],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": "src"},
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "locked"
    return child


def _stop(child: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    if child.poll() is None:
        os.kill(child.pid, sig)
    child.wait()
    if child.stdout is not None:
        child.stdout.close()


@pytest.mark.parametrize("cls", ["SqliteKnowledgeStore", "DiskKnowledgeStore"])
async def test_file_lock_of_a_killed_holder_is_free_again(cls: str, tmp_path: Path) -> None:
    path = tmp_path / ("hub.db" if cls == "SqliteKnowledgeStore" else "root")
    child = _hold_in_child(cls, path, "hubbub pid 4242 on elsewhere")
    store: KnowledgeStore = (
        SqliteKnowledgeStore(path) if "Sqlite" in cls else DiskKnowledgeStore(path)
    )
    try:
        with pytest.raises(StoreLockedError, match="hubbub pid 4242 on elsewhere"):
            await store.acquire_lock("me")
        _stop(child)  # kill -9
        await store.acquire_lock("me")  # the kernel dropped the dead process's lock
    finally:
        _stop(child)
        await store.close()


async def test_second_hub_on_one_sqlite_file_is_refused_with_store_locked(tmp_path: Path) -> None:
    """Two hub processes on one file: the second is refused naming the first; the file is fine."""
    from hubbub.network import Hub

    path = tmp_path / "hub.db"
    child = _hold_in_child("SqliteKnowledgeStore", path, "hubbub pid 999 on first-host")
    try:
        second = SqliteKnowledgeStore(path)
        with pytest.raises(StoreLockedError) as info:
            await second.acquire_lock(lock_holder())
        assert "hubbub pid 999 on first-host" in str(info.value) and str(path) in str(info.value)
        await second.close()
    finally:
        _stop(child)
    hub = await Hub.open(path)  # the first is gone: its lock went with it
    await hub.close()


async def test_redis_lease_is_renewed_while_held_and_expires_without_its_holder() -> None:
    await require_redis()
    import redis.asyncio as aioredis

    from hubbub.knowledge.redis import RedisKnowledgeStore

    prefix = new_prefix()
    holder = RedisKnowledgeStore(REDIS_URL, key_prefix=prefix, lock_ttl_s=0.3)
    other = RedisKnowledgeStore(REDIS_URL, key_prefix=prefix, lock_ttl_s=0.3)
    raw = aioredis.from_url(REDIS_URL)
    try:
        await holder.acquire_lock("renewing holder")
        await asyncio.sleep(1.0)  # three lifetimes: only renewal keeps it
        with pytest.raises(StoreLockedError, match="renewing holder"):
            await other.acquire_lock("other")
        await holder.release_lock()
        # A holder that died (kill -9) stops renewing: its lease runs out by itself.
        await raw.set(f"{prefix}:lock", b"deadbeef a dead hub", px=300)
        with pytest.raises(StoreLockedError, match="a dead hub"):
            await other.acquire_lock("other")
        await asyncio.sleep(0.5)
        await other.acquire_lock("other")
    finally:
        await holder.close()
        await other.close()
        await raw.aclose()
        await delete_prefix(prefix)


async def test_redis_release_leaves_a_lease_another_holder_took() -> None:
    await require_redis()
    import redis.asyncio as aioredis

    from hubbub.knowledge import StoreError
    from hubbub.knowledge.redis import RedisKnowledgeStore

    prefix = new_prefix()
    store = RedisKnowledgeStore(REDIS_URL, key_prefix=prefix, lock_ttl_s=0.3)
    raw = aioredis.from_url(REDIS_URL)
    try:
        await store.acquire_lock("slow hub")
        # The lease is gone and another hub takes it (as if ours was not renewed in time).
        await raw.set(f"{prefix}:lock", b"cafe the other hub", px=60_000)
        await asyncio.sleep(0.4)  # our renewal finds the other holder
        with pytest.raises(StoreError) as info:
            await store.write("/x", "must not be written")
        assert isinstance(info.value, StoreLockedError) and "the other hub" in str(info.value)
        await store.release_lock()
        assert await raw.get(f"{prefix}:lock") == b"cafe the other hub"
    finally:
        await store.close()
        await raw.aclose()
        await delete_prefix(prefix)
