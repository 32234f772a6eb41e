"""Disk full for real: a 512 KiB tmpfs, mounted and unmounted by the test (needs root).

For SQLite and the disk store: a filler file takes most of the free space, a hub
posts until an append fails — it must fail with ``StoreUnavailableError`` and leave
nothing of itself in the WAL (no partial line, no sequence used up); every
acknowledged envelope is in the WAL. Deleting the filler frees space, and posting
goes on with the next sequence number; the hub reopens with state == fold.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.durability._stores import unavailable
from tests.faults._net import Net, assert_no_gap

from hubbub.knowledge import DiskKnowledgeStore, KnowledgeStore
from hubbub.knowledge.sqlite import SqliteKnowledgeStore

SIZE = "512k"
HEADROOM = 48 * 1024  # free bytes left once the filler is written
TEXT = "x" * 1500  # one post: a ~1.7 KiB WAL line
MAX_POSTS = 2000


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs (root needed): {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=False)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(mnt: Path, leave: int) -> Path:
    """Write a filler file so that about ``leave`` bytes stay free."""
    filler = mnt / "filler"
    size = max(0, free_bytes(mnt) - leave)
    with open(filler, "wb") as f:
        f.write(b"\0" * size)
    return filler


@pytest.fixture(params=["sqlite", "disk"])
async def full_store(
    request: pytest.FixtureRequest, tiny_fs: Path
) -> AsyncIterator[KnowledgeStore]:
    store: KnowledgeStore
    if request.param == "sqlite":
        store = SqliteKnowledgeStore(tiny_fs / "hub.db")
    else:
        store = DiskKnowledgeStore(tiny_fs / "root")
    try:
        yield store
    finally:
        await asyncio.wait_for(store.close(), 10)


async def test_disk_full_fails_the_append_cleanly_and_posting_resumes(
    full_store: KnowledgeStore, tiny_fs: Path
) -> None:
    net = await Net.start(full_store)
    try:
        sid = await net.open_session()
        assert (await net.post(sid, "before the disk fills")).envelope_id
        filler = fill(tiny_fs, HEADROOM)

        async with asyncio.timeout(30):
            for i in range(MAX_POSTS):
                o = await net.post(sid, f"{i}:{TEXT}")
                if o.error is not None:
                    break
            else:
                raise AssertionError(f"{MAX_POSTS} posts fitted in {HEADROOM} free bytes")
        assert i > 0, "the disk was full before the first post"
        net.assert_failures_clean()
        acked = len(net.acked(sid))
        wal = await net.wal(sid)  # every line decodes: no partial line was left behind
        assert_no_gap(sid, wal)
        logged = {e.envelope_id for e in wal}
        assert all(o.envelope_id in logged for o in net.acked(sid))
        assert net.hub.adapter_state(sid).turn_count == acked, "a failed post was folded"

        filler.unlink()  # free space: the hub goes on without a restart
        seq = wal[-1].sequence
        for j in range(5):
            o = await net.post(sid, f"after-{j}")
            assert o.envelope_id, f"post {j} after freeing space raised {o.error!r}"
        after = await net.hub.read_wal(sid)
        assert [e.sequence for e in after[-5:]] == list(range(seq + 1, seq + 6))
        await net.wait_delivered(sid)
        await net.verify()
    finally:
        await net.close()
