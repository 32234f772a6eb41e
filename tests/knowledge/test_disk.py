"""DiskKnowledgeStore specifics: on-disk layout, atomic writes, crash survival, fsync policy."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

import hubbub.knowledge.disk as disk_mod
from hubbub.knowledge import DiskKnowledgeStore, InvalidPathError, NoopChangeSubscription


async def test_layout_is_plain_files(tmp_path: Path) -> None:
    store = DiskKnowledgeStore(tmp_path)
    await store.write("/agents/a/passport.json", "{}")
    await store.append("/sessions/s/wal.jsonl", "1\n")
    await store.close()
    assert (tmp_path / "agents/a/passport.json").read_text() == "{}"
    assert (tmp_path / "sessions/s/wal.jsonl").read_text() == "1\n"


async def test_no_temp_files_remain_and_reserved_names(tmp_path: Path) -> None:
    store = DiskKnowledgeStore(tmp_path)
    await asyncio.gather(*(store.write(f"/d/f{i % 5}", str(i) * 1000) for i in range(100)))
    assert sorted(os.listdir(tmp_path / "d")) == [f"f{i}" for i in range(5)]
    (tmp_path / "d" / ".hubbub-tmp-stale").write_text("leftover of a crash")
    assert await store.list("/d") == [f"f{i}" for i in range(5)]
    with pytest.raises(InvalidPathError):
        await store.write("/d/.hubbub-tmp-x", "no")
    await store.close()


async def test_mutations_keep_call_order(tmp_path: Path) -> None:
    store = DiskKnowledgeStore(tmp_path, fsync=False)
    await asyncio.gather(
        store.append("/p", "lost\n"),
        store.write("/p", "w\n"),
        store.append("/p", "kept\n"),
        store.delete("/q"),
        store.append("/q/r", "x"),
    )
    assert await store.read("/p") == "w\nkept\n"
    assert await store.read("/q/r") == "x"
    await store.close()


async def test_lru_of_append_handles(tmp_path: Path) -> None:
    store = DiskKnowledgeStore(tmp_path, max_open_files=2)
    expected: dict[str, int] = {}
    for i in range(30):
        path = f"/s{i % 5}/wal"
        offset = await store.append(path, f"{i}\n")
        assert offset == expected.get(path, 0)
        expected[path] = offset + len(f"{i}\n")
    assert len(store._handles) <= 2
    assert await store.read_lines("/s0/wal") == ["0", "5", "10", "15", "20", "25"]
    await store.close()


async def test_on_change_is_noop(tmp_path: Path) -> None:
    store = DiskKnowledgeStore(tmp_path)

    async def callback(path: str) -> None:
        del path

    assert isinstance(await store.on_change("/", callback), NoopChangeSubscription)
    await store.close()


class _SyncCounter:
    """Counts fdatasync calls; the first one blocks until ``release`` is set."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()
        self.entered = threading.Event()
        self.real = disk_mod._fdatasync

    def __call__(self, fd: int) -> None:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(10)
        self.real(fd)


async def test_fsync_false_never_syncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = _SyncCounter()
    counter.release.set()
    monkeypatch.setattr(disk_mod, "_fdatasync", counter)
    fsyncs: list[int] = []
    monkeypatch.setattr(disk_mod.os, "fsync", fsyncs.append)
    store = DiskKnowledgeStore(tmp_path, fsync=False)
    await asyncio.gather(*(store.append("/a", "x\n") for _ in range(20)))
    await store.write("/b", "y")
    await store.close()
    assert counter.calls == 0
    assert fsyncs == []


async def test_group_commit_shares_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    counter = _SyncCounter()
    monkeypatch.setattr(disk_mod, "_fdatasync", counter)
    store = DiskKnowledgeStore(tmp_path, fsync=True)
    tasks = [asyncio.create_task(store.append("/wal", f"{i}\n")) for i in range(50)]
    await asyncio.sleep(0)  # every task has queued its append
    await asyncio.to_thread(counter.entered.wait, 10)  # the first batch is inside fdatasync
    assert not any(t.done() for t in tasks)  # nobody is acknowledged before the sync
    counter.release.set()
    offsets = await asyncio.gather(*tasks)
    assert offsets == [len("".join(f"{j}\n" for j in range(i))) for i in range(50)]
    assert counter.calls <= 2  # 50 appends, at most two batches
    await store.close()
