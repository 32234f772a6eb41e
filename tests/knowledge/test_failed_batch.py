"""A failed group-commit batch fails every append in it, and leaves nothing of them behind.

Regression tests for issue 8 item 1 (store part): the hub restores a session to
its durable state when an append fails, which is only right if the store kept
nothing of the failed appends. The batch is made deterministic by holding the
store's writer thread while the batch queues up. (SQLite's batch is one
transaction: ``test_sqlite_group_commit.py`` covers it with a failing trigger.)
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from pathlib import Path

from hubbub.knowledge import DiskKnowledgeStore, StoreUnavailableError


class _FailingDisk(DiskKnowledgeStore):
    """Holds the writer on a ``hold`` append; a ``boom`` append writes half, then ENOSPC."""

    def __init__(self, root: Path, fsync: bool) -> None:
        super().__init__(root, fsync=fsync)
        self.release = threading.Event()

    def _do_append(self, norm, data, dirs, dirty, marks):  # type: ignore[no-untyped-def]
        if data == b"hold\n":
            self.release.wait(10)
        offset = super()._do_append(
            norm, data[: len(data) // 2] if b"boom" in data else data, dirs, dirty, marks
        )
        if b"boom" in data:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return offset


async def _batch(store: _FailingDisk, appends: list[tuple[str, str]]) -> list[object]:
    holder = asyncio.ensure_future(store.append("/hold", "hold\n"))
    await asyncio.sleep(0.05)  # the writer thread is inside the hold append now
    tasks = [asyncio.ensure_future(store.append(p, c)) for p, c in appends]
    await asyncio.sleep(0.05)  # all of them are queued: they form the next batch
    store.release.set()
    await holder
    return list(await asyncio.gather(*tasks, return_exceptions=True))


async def test_disk_failed_append_fails_its_whole_batch_and_leaves_no_partial_line(
    tmp_path: Path,
) -> None:
    for fsync in (True, False):
        root = tmp_path / f"fsync-{fsync}"
        store = _FailingDisk(root, fsync)
        try:
            for i in range(3):
                await store.append(f"/s/{i}/wal.jsonl", "0\n")
            results = await _batch(
                store,
                [
                    ("/s/0/wal.jsonl", "a\n"),
                    ("/s/1/wal.jsonl", "b\n"),
                    ("/s/new/wal.jsonl", "c\n"),  # a file the batch creates
                    ("/s/2/wal.jsonl", "boom and more\n"),
                    ("/s/0/wal.jsonl", "after\n"),  # behind the failure: not attempted
                ],
            )
            assert all(isinstance(r, StoreUnavailableError) for r in results), results
            assert len({id(r) for r in results}) == 1  # one error for the batch
            err = results[0]
            assert isinstance(err, StoreUnavailableError)
            assert "/s/2/wal.jsonl" in err.reason and "No space" in err.reason
            for i in range(3):
                assert await store.read(f"/s/{i}/wal.jsonl") == "0\n"
            assert not await store.exists("/s/new/wal.jsonl")
            assert not (root / "s" / "new").exists()
            # The store goes on: offsets continue from what is really there.
            assert await store.append("/s/2/wal.jsonl", "next\n") == 2
            assert await store.read("/s/2/wal.jsonl") == "0\nnext\n"
        finally:
            store.release.set()
            await store.close()
