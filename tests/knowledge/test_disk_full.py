"""A full disk fails appends with ``StoreUnavailableError`` and loses nothing acknowledged.

Regression tests for issue 8 item 1 (store part): on a full disk a failed append
must leave nothing behind (no partial line, no row), every append acknowledged
before must still read back, and once space is freed appends work again. Each
test mounts its own tiny tmpfs (``mount -t tmpfs -o size=256k``) and unmounts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.knowledge._services import unavailable

from hubbub.knowledge import (
    DiskKnowledgeStore,
    KnowledgeStore,
    SqliteKnowledgeStore,
    StoreUnavailableError,
)

PATHS = [f"/sessions/s{i}/wal.jsonl" for i in range(4)]
FILLER = 48 * 1024  # freed to make room again


@contextlib.contextmanager
def tiny_fs(where: Path, size: str = "256k") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``where`` for the block; always unmounted after."""
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs at {where}: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def _line(i: int) -> str:
    return '{"seq":' + str(i) + ',"text":"' + "x" * (150 + i % 50) + '"}\n'


async def _fill(store: KnowledgeStore) -> tuple[dict[str, list[str]], StoreUnavailableError]:
    """Append rounds of concurrent lines (one per path) until appends fail.

    Returns what was acknowledged per path and the first failure.
    """
    acknowledged: dict[str, list[str]] = {p: [] for p in PATHS}
    for i in range(0, 100_000, len(PATHS)):
        lines = [_line(i + j) for j in range(len(PATHS))]
        results = await asyncio.gather(
            *(store.append(p, line) for p, line in zip(PATHS, lines, strict=True)),
            return_exceptions=True,
        )
        failure = None
        for path, line, result in zip(PATHS, lines, results, strict=True):
            if isinstance(result, StoreUnavailableError):
                failure = result
            elif isinstance(result, BaseException):
                raise result
            else:
                acknowledged[path].append(line)
        if failure is not None:
            return acknowledged, failure
    raise AssertionError("the disk never filled up")


async def _check_reads(store: KnowledgeStore, acknowledged: dict[str, list[str]]) -> None:
    for path, lines in acknowledged.items():
        assert await store.read(path) == "".join(lines), path
        assert await store.read_lines(path) == [line[:-1] for line in lines], path
        assert await store.line_count(path) == len(lines), path


Make = Callable[[Path], KnowledgeStore]
KINDS: dict[str, Make] = {
    "sqlite": lambda fs: SqliteKnowledgeStore(fs / "hub.db"),
    "disk": lambda fs: DiskKnowledgeStore(fs / "root"),
}


@pytest.mark.parametrize("kind", list(KINDS))
async def test_store_on_a_full_disk_fails_appends_cleanly_and_recovers(
    kind: str, tmp_path: Path
) -> None:
    with tiny_fs(tmp_path / "tiny") as fs:
        (fs / "filler").write_bytes(b"\0" * FILLER)
        store = KINDS[kind](fs)
        try:
            acknowledged, failure = await _fill(store)
            assert failure.code == "store_unavailable"
            assert failure.store == store.describe()  # type: ignore[attr-defined]
            assert str(fs) in str(failure)
            assert "full" in failure.reason or "No space" in failure.reason, failure.reason
            assert sum(map(len, acknowledged.values())) > 20

            # Appends that do not fit keep failing, and none of them leaves anything behind.
            for path in PATHS:
                with pytest.raises(StoreUnavailableError):
                    await store.append(path, "z" * 300_000 + "\n")
            await _check_reads(store, acknowledged)

            (fs / "filler").unlink()  # free space: the store works again
            for path in PATHS:
                acknowledged[path].append(_line(-1))
                await store.append(path, _line(-1))
            await _check_reads(store, acknowledged)
        finally:
            await store.close()
        again = KINDS[kind](fs)
        try:
            await _check_reads(again, acknowledged)
        finally:
            await again.close()


@pytest.mark.parametrize("kind", list(KINDS))
async def test_failed_write_on_a_full_disk_keeps_the_old_content(kind: str, tmp_path: Path) -> None:
    with tiny_fs(tmp_path / "tiny") as fs:
        store = KINDS[kind](fs)
        try:
            await store.write("/agents/a/rule.json", "old")
            with pytest.raises(StoreUnavailableError):
                await store.write("/agents/a/rule.json", "n" * 400_000)
            assert await store.read("/agents/a/rule.json") == "old"
            assert await store.list("/agents/a") == ["rule.json"]  # no temporary shows
            await store.write("/agents/a/rule.json", "new")
            assert await store.read("/agents/a/rule.json") == "new"
        finally:
            await store.close()


async def test_disk_append_that_fails_in_a_new_file_leaves_no_file(tmp_path: Path) -> None:
    with tiny_fs(tmp_path / "tiny") as fs:
        store = DiskKnowledgeStore(fs / "root", fsync=False)
        try:
            with pytest.raises(StoreUnavailableError):
                await store.append("/sessions/new/wal.jsonl", "y" * 400_000)
            assert not await store.exists("/sessions/new/wal.jsonl")
            assert await store.read("/sessions/new/wal.jsonl") is None
        finally:
            await store.close()
