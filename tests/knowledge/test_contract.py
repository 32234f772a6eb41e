"""The one ``KnowledgeStore`` contract, run against every store in ``conftest.STORES``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from hubbub.knowledge import (
    InvalidPathError,
    KnowledgeStore,
    PathConflictError,
    StoreClosedError,
)

if TYPE_CHECKING:
    from conftest import StoreFactory

# -- read / write -------------------------------------------------------------


async def test_write_read_overwrite(store: KnowledgeStore) -> None:
    await store.write("/a/b.txt", "one")
    assert await store.read("/a/b.txt") == "one"
    await store.write("/a/b.txt", "two, longer")
    assert await store.read("/a/b.txt") == "two, longer"
    await store.write("/a/b.txt", "")
    assert await store.read("/a/b.txt") == ""
    assert await store.exists("/a/b.txt")


async def test_missing_paths(store: KnowledgeStore) -> None:
    assert await store.read("/nope") is None
    assert await store.read("/nope/deeper") is None
    assert not await store.exists("/nope")
    assert await store.list("/nope") == []
    assert await store.read_range("/nope", 0) == ""
    assert await store.read_lines("/nope") == []
    assert await store.line_count("/nope") == 0
    await store.delete("/nope")
    await store.delete("/nope/deeper")


async def test_read_of_directory_is_none(store: KnowledgeStore) -> None:
    await store.write("/d/f", "x")
    assert await store.read("/d") is None
    assert await store.read("/") is None


# -- list / exists / delete ---------------------------------------------------


async def test_list_children_only_sorted_with_dir_suffix(store: KnowledgeStore) -> None:
    assert await store.list("/") == []
    for path in ("/b.txt", "/a/x.json", "/a/deep/y", "/a/deep/z/w", "/c/k"):
        await store.write(path, path)
    assert await store.list() == ["a/", "b.txt", "c/"]
    assert await store.list("/") == ["a/", "b.txt", "c/"]
    assert await store.list("/a") == ["deep/", "x.json"]
    assert await store.list("/a/") == ["deep/", "x.json"]
    assert await store.list("/a/deep") == ["y", "z/"]
    assert await store.list("/b.txt") == []


async def test_list_after_delete_prunes_empty_dirs(store: KnowledgeStore) -> None:
    await store.write("/s/1/wal.jsonl", "x")
    await store.write("/s/2/wal.jsonl", "y")
    await store.delete("/s/1/wal.jsonl")
    assert await store.list("/s") == ["2/"]
    assert not await store.exists("/s/1")
    await store.delete("/s/2/wal.jsonl")
    assert await store.list("/") == []
    assert not await store.exists("/s")


async def test_recursive_delete(store: KnowledgeStore) -> None:
    await store.write("/keep/me", "k")
    await store.write("/t/a", "1")
    await store.append("/t/b/c", "2\n")
    await store.write("/t/b/d/e", "3")
    await store.delete("/t")
    for path in ("/t", "/t/a", "/t/b", "/t/b/c", "/t/b/d/e"):
        assert not await store.exists(path)
    assert await store.read("/t/b/c") is None
    assert await store.list("/") == ["keep/"]
    await store.delete("/t")  # idempotent


async def test_delete_root_clears_everything(store: KnowledgeStore) -> None:
    await store.write("/a/b", "1")
    await store.append("/c", "2")
    await store.delete("/")
    assert await store.list("/") == []
    assert await store.exists("/")
    await store.write("/a/b", "again")
    assert await store.read("/a/b") == "again"


async def test_delete_below_a_file_is_noop(store: KnowledgeStore) -> None:
    await store.write("/f", "x")
    await store.delete("/f/g")
    assert await store.read("/f") == "x"


async def test_exists_files_and_dirs(store: KnowledgeStore) -> None:
    assert await store.exists("/")
    await store.write("/x/y/z.txt", "")
    assert await store.exists("/x")
    assert await store.exists("/x/")
    assert await store.exists("/x/y")
    assert await store.exists("/x/y/z.txt")
    assert not await store.exists("/x/y/z")
    assert not await store.exists("/x/y/z.txt/more")


async def test_file_dir_conflicts(store: KnowledgeStore) -> None:
    await store.write("/f", "x")
    with pytest.raises(PathConflictError):
        await store.write("/f/g", "y")
    with pytest.raises(PathConflictError):
        await store.append("/f/g", "y")
    await store.write("/d/g", "y")
    with pytest.raises(PathConflictError):
        await store.write("/d", "z")
    with pytest.raises(PathConflictError):
        await store.append("/d", "z")
    assert await store.read("/f") == "x"
    assert await store.read("/d/g") == "y"
    assert await store.list("/") == ["d/", "f"]


# -- append / read_range ------------------------------------------------------


async def test_append_offsets_are_utf8_byte_offsets(store: KnowledgeStore) -> None:
    records = ["abc\n", "é\n", "日本語\n", "🎉x\n", "plain\n"]
    offsets = [await store.append("/log", r) for r in records]
    expected, pos = [], 0
    for r in records:
        expected.append(pos)
        pos += len(r.encode())
    assert offsets == expected == [0, 4, 7, 17, 23]
    assert await store.read("/log") == "".join(records)
    for r, off in zip(records, offsets, strict=True):
        assert await store.read_range("/log", off, off + len(r.encode())) == r
    assert await store.append("/log", "") == pos


async def test_read_range_byte_semantics(store: KnowledgeStore) -> None:
    await store.append("/r", "hello ")
    await store.append("/r", "wörld\n")
    await store.append("/r", "tail")
    data = "hello wörld\ntail".encode()
    for start, end in [(0, None), (0, 5), (6, 12), (3, 9), (13, None), (0, 1000), (12, 17)]:
        expected = data[start:end].decode("utf-8", "replace")
        assert await store.read_range("/r", start, end) == expected, (start, end)
    assert await store.read_range("/r", 100) == ""
    assert await store.read_range("/r", 5, 5) == ""
    assert await store.read_range("/r", 6, 3) == ""
    # A cut through "ö" (bytes 7-8) decodes to the replacement character.
    assert await store.read_range("/r", 6, 8) == "w\ufffd"
    with pytest.raises(ValueError):
        await store.read_range("/r", -1)
    await store.write("/w", "wrïtten")
    assert await store.read_range("/w", 1, 4) == "rï"


async def test_read_lines_and_line_count(store: KnowledgeStore) -> None:
    await store.append("/l", '{"n": 0}\n')
    await store.append("/l", '{"n": 1}\n{"n": 2}\n')
    await store.append("/l", "part")
    await store.append("/l", "ial")
    assert await store.line_count("/l") == 4
    assert await store.read_lines("/l") == ['{"n": 0}', '{"n": 1}', '{"n": 2}', "partial"]
    await store.append("/l", " done\n")
    assert await store.line_count("/l") == 4
    assert await store.read_lines("/l", 3) == ["partial done"]
    assert await store.read_lines("/l", 1, 3) == ['{"n": 1}', '{"n": 2}']
    assert await store.read_lines("/l", 2, 2) == []
    assert await store.read_lines("/l", 10) == []
    assert await store.read_lines("/l", 0, 100) == await store.read_lines("/l")
    await store.append("/l", "\n")
    assert await store.read_lines("/l", 4) == [""]
    assert await store.line_count("/l") == 5
    with pytest.raises(ValueError):
        await store.read_lines("/l", -1)
    await store.write("/w", "a\nb\n\nc")
    assert await store.read_lines("/w") == ["a", "b", "", "c"]
    assert await store.line_count("/w") == 4
    await store.write("/e", "")
    assert await store.line_count("/e") == 0
    assert await store.read_lines("/e") == []


async def test_read_range_after_many_appends(store: KnowledgeStore) -> None:
    offsets = [await store.append("/m", f"rec-{i}-ü\n") for i in range(200)]
    for i in (0, 1, 99, 199):
        assert (
            await store.read_range("/m", offsets[i], offsets[i] + 1 + len(f"rec-{i}-ü".encode()))
            == f"rec-{i}-ü\n"
        )
    await store.append("/m", "more\n")  # read_range state stays correct after further appends
    assert await store.read_range("/m", offsets[199]) == "rec-199-ü\nmore\n"


async def test_write_then_append(store: KnowledgeStore) -> None:
    await store.write("/wa", "head\npart")
    assert await store.append("/wa", "ial\n") == 9
    assert await store.append("/wa", "next\n") == 13
    assert await store.read("/wa") == "head\npartial\nnext\n"
    assert await store.read_lines("/wa") == ["head", "partial", "next"]
    assert await store.read_range("/wa", 9) == "ial\nnext\n"


async def test_append_then_write(store: KnowledgeStore) -> None:
    await store.append("/aw", "one\n")
    await store.append("/aw", "two\n")
    await store.write("/aw", "fresh\n")
    assert await store.read("/aw") == "fresh\n"
    assert await store.line_count("/aw") == 1
    assert await store.append("/aw", "after\n") == 6
    assert await store.read_lines("/aw") == ["fresh", "after"]


async def test_delete_then_append_starts_at_zero(store: KnowledgeStore) -> None:
    await store.append("/dz", "abc\n")
    await store.delete("/dz")
    assert await store.append("/dz", "x\n") == 0
    assert await store.read("/dz") == "x\n"


# -- concurrency --------------------------------------------------------------


async def test_concurrent_appends_one_path(store: KnowledgeStore) -> None:
    tasks, per_task = 50, 20

    async def worker(t: int) -> list[tuple[int, str]]:
        out = []
        for i in range(per_task):
            rec = f"t{t:02d}-r{i:02d}-{'ж' * (t % 3)}\n"
            out.append((await store.append("/wal", rec), rec))
        return out

    results = await asyncio.gather(*(worker(t) for t in range(tasks)))
    offsets = [off for res in results for off, _ in res]
    assert len(set(offsets)) == tasks * per_task
    lines = await store.read_lines("/wal")
    assert len(lines) == tasks * per_task == await store.line_count("/wal")
    for t, res in enumerate(results):
        mine = [line for line in lines if line.startswith(f"t{t:02d}-")]
        assert mine == [rec[:-1] for _, rec in res]  # per-task order kept
        for off, rec in res[:3]:
            assert await store.read_range("/wal", off, off + len(rec.encode())) == rec
    total = len((await store.read("/wal") or "").encode())
    assert total == sum(len(rec.encode()) for res in results for _, rec in res)


async def test_concurrent_appends_many_paths(store: KnowledgeStore) -> None:
    async def worker(t: int) -> None:
        for i in range(10):
            await store.append(f"/sessions/s{t}/wal.jsonl", f"{i}\n")
            await store.write(f"/sessions/s{t}/metadata.json", f'{{"i": {i}}}')

    await asyncio.gather(*(worker(t) for t in range(50)))
    assert len(await store.list("/sessions")) == 50
    for t in (0, 17, 49):
        assert await store.read_lines(f"/sessions/s{t}/wal.jsonl") == [str(i) for i in range(10)]
        assert await store.read(f"/sessions/s{t}/metadata.json") == '{"i": 9}'


# -- sizes, unicode, paths ----------------------------------------------------


async def test_large_records(store: KnowledgeStore) -> None:
    big = "x" * (1 << 20) + "é" * 300_000 + "\n"
    await store.write("/big/w", big)
    assert await store.read("/big/w") == big
    assert await store.append("/big/a", "start\n") == 0
    off = await store.append("/big/a", big)
    assert off == 6
    assert await store.append("/big/a", "end\n") == 6 + len(big.encode())
    assert await store.read_range("/big/a", off, off + 10) == "x" * 10
    assert await store.read_lines("/big/a", 1, 2) == [big[:-1]]
    assert await store.line_count("/big/a") == 3


async def test_unicode_paths_and_content(store: KnowledgeStore) -> None:
    path = "/知识/émoji 🎉/файл.txt"
    await store.write(path, "内容 🚀 ✓")
    assert await store.read(path) == "内容 🚀 ✓"
    assert await store.list("/知识") == ["émoji 🎉/"]
    assert await store.list("/知识/émoji 🎉") == ["файл.txt"]
    assert await store.append(path, "🙂\n") == len("内容 🚀 ✓".encode())
    assert await store.exists("/知识/émoji 🎉")


async def test_path_normalisation(store: KnowledgeStore) -> None:
    await store.write("//a//b/", "v")
    assert await store.read("/a/b") == "v"
    assert await store.read("a/b") == "v"
    assert await store.read("a//b//") == "v"
    assert await store.list("a") == ["b"]
    await store.append("x", "1\n")
    assert await store.read("/x") == "1\n"
    await store.delete("a/")
    assert not await store.exists("/a/b")


@pytest.mark.parametrize("bad", ["/a/../b", "..", "/a/./b", "/a\x00b", ""])
async def test_rejected_paths(store: KnowledgeStore, bad: str) -> None:
    for op in (
        store.read(bad),
        store.write(bad, "x"),
        store.append(bad, "x"),
        store.exists(bad),
        store.delete(bad),
        store.list(bad),
    ):
        with pytest.raises(InvalidPathError):
            await op
    with pytest.raises(ValueError):  # InvalidPathError is a ValueError
        await store.read(bad)


async def test_root_is_not_a_file(store: KnowledgeStore) -> None:
    with pytest.raises(InvalidPathError):
        await store.write("/", "x")
    with pytest.raises(InvalidPathError):
        await store.append("//", "x")


# -- lifecycle -----------------------------------------------------------------


async def test_close_is_idempotent_and_final(store_factory: StoreFactory) -> None:
    store = await store_factory.open()
    await store.append("/c", "1\n")
    await store.close()
    await store.close()
    with pytest.raises(StoreClosedError):
        await store.append("/c", "2\n")
    with pytest.raises(StoreClosedError):
        await store.read("/c")


async def test_on_change_subscription_closes(store: KnowledgeStore) -> None:
    async def callback(path: str) -> None:
        del path

    sub = await store.on_change("/x", callback)
    await sub.close()
    await sub.close()


# -- durable stores --------------------------------------------------------------


async def test_persistence_across_reopen(durable_factory: StoreFactory) -> None:
    store = await durable_factory.open()
    await store.write("/agents/a1/passport.json", '{"name": "a1"}')
    await store.append("/sessions/s1/wal.jsonl", "e1\n")
    await store.append("/sessions/s1/wal.jsonl", "é2\n")
    await store.write("/tmp/gone", "x")
    await store.delete("/tmp")
    await store.close()

    again = await durable_factory.open()
    try:
        assert await again.read("/agents/a1/passport.json") == '{"name": "a1"}'
        assert await again.read_lines("/sessions/s1/wal.jsonl") == ["e1", "é2"]
        assert await again.line_count("/sessions/s1/wal.jsonl") == 2
        assert await again.append("/sessions/s1/wal.jsonl", "e3\n") == 7
        assert await again.list("/") == ["agents/", "sessions/"]
        assert not await again.exists("/tmp")
    finally:
        await again.close()
