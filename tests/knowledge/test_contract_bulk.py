"""The bulk reads of the contract (``read_many``, ``read_lines_many``), on every store.

Each result must equal the single read (``read`` / ``read_lines(path, start)``)
of the same path, in request order, whatever the file's history: written,
appended, written then appended, records that are not one line, missing paths,
directories, duplicates. The module-level fallbacks in ``hubbub.knowledge.base``
must give the same answers for a store that has no bulk methods of its own.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING

import pytest

from hubbub.knowledge import InvalidPathError, KnowledgeStore, StoreClosedError
from hubbub.knowledge.base import (
    ChangeCallback,
    ChangeSubscription,
    gather_read_lines_many,
    gather_read_many,
    read_lines_many,
    read_many,
)

if TYPE_CHECKING:
    from conftest import StoreFactory


async def _fill(store: KnowledgeStore) -> list[str]:
    """Files of every shape; returns the paths to ask about (with misses and dirs)."""
    await store.write("/w/plain.json", '{"a": 1}')
    await store.write("/w/lines.txt", "one\ntwo\nthree\n")
    await store.write("/w/empty", "")
    for i in range(5):
        await store.append("/s/1/wal.jsonl", f'{{"seq": {i}, "t": "ü{i}"}}\n')
    await store.write("/s/2/wal.jsonl", "head\npart")
    await store.append("/s/2/wal.jsonl", "ial\n")
    await store.append("/s/2/wal.jsonl", "next\n")
    await store.append("/s/3/wal.jsonl", "a\nb\n")  # a record of two lines
    await store.append("/s/3/wal.jsonl", "c")  # an open last line
    await store.write("/s/4/wal.jsonl", "base 1\nbase 2\n")
    await store.append("/s/4/wal.jsonl", "rec 1\n")
    await store.append("/s/4/wal.jsonl", "rec 2\n")
    await store.append("/s/5/wal.jsonl", "x\n")
    await store.write("/s/5/wal.jsonl", "rewritten\n")  # a write drops the records
    await store.append("/知识/файл", "内容 🚀\n")
    return [
        "/w/plain.json",
        "/w/lines.txt",
        "/w/empty",
        "/s/1/wal.jsonl",
        "/s/2/wal.jsonl",
        "/s/3/wal.jsonl",
        "/s/4/wal.jsonl",
        "/s/5/wal.jsonl",
        "/知识/файл",
        "/missing",
        "/s/9/wal.jsonl",
        "/s/1/wal.jsonl/below",
        "/s",  # a directory
        "/",
        "s//1/wal.jsonl/",  # not canonical
        "/w/plain.json",  # a duplicate
    ]


async def test_read_many_equals_read(store: KnowledgeStore) -> None:
    paths = await _fill(store)
    expected = [await store.read(p) for p in paths]
    assert expected[0] == '{"a": 1}' and expected[-3] is None  # the fixture is what we think
    assert await store.read_many(paths) == expected
    assert await store.read_many(list(reversed(paths))) == list(reversed(expected))
    assert await store.read_many(tuple(paths[:3])) == expected[:3]
    assert await store.read_many([]) == []


async def test_read_lines_many_equals_read_lines(store: KnowledgeStore) -> None:
    paths = await _fill(store)
    requests = [(p, start) for p in paths for start in (0, 1, 2, 3, 4, 5, 6, 50)]
    expected = [await store.read_lines(p, start) for p, start in requests]
    assert expected[0] == ['{"a": 1}']
    assert await store.read_lines_many(requests) == expected
    assert await store.read_lines_many(list(reversed(requests))) == list(reversed(expected))
    assert await store.read_lines_many([]) == []


async def test_bulk_reads_of_many_files(store: KnowledgeStore) -> None:
    # More paths than any backend puts in one query or pipeline.
    n = 1203
    for i in range(n):
        if i % 3 == 0:
            await store.write(f"/m/{i}/meta", f"meta {i}")
        await store.append(f"/m/{i}/wal", f"line {i}.0\n")
        await store.append(f"/m/{i}/wal", f"line {i}.1\n")
    metas = await store.read_many([f"/m/{i}/meta" for i in range(n)])
    assert metas == [f"meta {i}" if i % 3 == 0 else None for i in range(n)]
    tails = await store.read_lines_many([(f"/m/{i}/wal", i % 3) for i in range(n)])
    assert tails == [[f"line {i}.{k}" for k in range(i % 3, 2)] for i in range(n)]


async def test_bulk_reads_see_later_mutations(store: KnowledgeStore) -> None:
    await store.append("/g/wal", "1\n")
    assert await store.read_lines_many([("/g/wal", 0)]) == [["1"]]
    await store.append("/g/wal", "2\n")
    await store.write("/g/meta", "m")
    assert await store.read_lines_many([("/g/wal", 1)]) == [["2"]]
    assert await store.read_many(["/g/meta", "/g/wal"]) == ["m", "1\n2\n"]
    await store.delete("/g")
    assert await store.read_many(["/g/meta", "/g/wal"]) == [None, None]
    assert await store.read_lines_many([("/g/wal", 0)]) == [[]]


@pytest.mark.parametrize("bad", ["/a/../b", "..", "/a\x00b", ""])
async def test_bulk_reads_reject_bad_paths(store: KnowledgeStore, bad: str) -> None:
    await store.write("/ok", "x")
    with pytest.raises(InvalidPathError):
        await store.read_many(["/ok", bad])
    with pytest.raises(InvalidPathError):
        await store.read_lines_many([("/ok", 0), (bad, 0)])


async def test_read_lines_many_rejects_negative_start(store: KnowledgeStore) -> None:
    with pytest.raises(ValueError):
        await store.read_lines_many([("/ok", 0), ("/ok", -1)])


async def test_bulk_reads_after_close(store_factory: StoreFactory) -> None:
    store = await store_factory.open()
    await store.write("/x", "1")
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.read_many(["/x"])
    with pytest.raises(StoreClosedError):
        await store.read_lines_many([("/x", 0)])


class _SingleReadsOnly:
    """A store written against the protocol before the bulk reads: single reads only."""

    def __init__(self, inner: KnowledgeStore) -> None:
        self._inner = inner

    async def read(self, path: str) -> str | None:
        return await self._inner.read(path)

    async def read_lines(
        self, path: str, start_line: int = 0, end_line: int | None = None
    ) -> builtins.list[str]:
        return await self._inner.read_lines(path, start_line, end_line)

    async def on_change(self, path: str, callback: ChangeCallback) -> ChangeSubscription:
        return await self._inner.on_change(path, callback)


async def test_fallbacks_equal_native(store: KnowledgeStore) -> None:
    paths = await _fill(store)
    requests = [(p, start) for p in paths for start in (0, 2, 9)]
    many, lines = await store.read_many(paths), await store.read_lines_many(requests)
    old = _SingleReadsOnly(store)
    assert await gather_read_many(old, paths) == many  # type: ignore[arg-type]
    assert await gather_read_lines_many(old, requests) == lines  # type: ignore[arg-type]
    assert await read_many(old, paths) == many  # type: ignore[arg-type]
    assert await read_lines_many(old, requests) == lines  # type: ignore[arg-type]
    assert await read_many(store, paths) == many
    assert await read_lines_many(store, requests) == lines
    with pytest.raises(InvalidPathError):
        await read_many(old, ["/a/../b"])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await read_lines_many(old, [("/ok", -1)])  # type: ignore[arg-type]
