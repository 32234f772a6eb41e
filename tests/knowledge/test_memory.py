"""MemoryKnowledgeStore specifics: change callbacks and the cheap append path."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.knowledge import MemoryKnowledgeStore


async def test_on_change_prefix_callbacks() -> None:
    store = MemoryKnowledgeStore()
    seen: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    def recorder(tag: str):  # type: ignore[no-untyped-def]
        async def callback(path: str) -> None:
            await seen.put((tag, path))

        return callback

    sub_s = await store.on_change("/sessions", recorder("sessions"))
    await store.on_change("/sessions/s1/wal.jsonl", recorder("wal"))
    await store.on_change("/agents", recorder("agents"))

    await store.append("/sessions/s1/wal.jsonl", "e\n")
    got = {await asyncio.wait_for(seen.get(), 5) for _ in range(2)}
    assert got == {("sessions", "/sessions/s1/wal.jsonl"), ("wal", "/sessions/s1/wal.jsonl")}

    await store.write("/sessions/s2/metadata.json", "{}")
    assert await asyncio.wait_for(seen.get(), 5) == ("sessions", "/sessions/s2/metadata.json")

    await store.delete("/sessions")  # the subtree delete reaches the deeper watcher too
    got = {await asyncio.wait_for(seen.get(), 5) for _ in range(2)}
    assert got == {("sessions", "/sessions"), ("wal", "/sessions")}

    await sub_s.close()
    await store.write("/sessions/s3/x", "1")
    await store.write("/agents/a", "1")
    assert await asyncio.wait_for(seen.get(), 5) == ("agents", "/agents/a")
    assert seen.empty()
    await store.close()


async def test_failing_callback_does_not_break_mutation() -> None:
    store = MemoryKnowledgeStore()
    done = asyncio.Event()

    async def boom(path: str) -> None:
        done.set()
        raise RuntimeError(path)

    await store.on_change("/", boom)
    assert await store.append("/x", "1\n") == 0
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.sleep(0)  # let the done-callback log the failure
    assert await store.read("/x") == "1\n"
    await store.close()


async def test_appended_lines_are_packed_in_one_buffer() -> None:
    store = MemoryKnowledgeStore()
    for i in range(1000):
        await store.append("/wal", f'{{"i": {i}}}\n')
    log = store._root["wal"]
    assert not isinstance(log, (str, dict))
    assert type(log.buf) is bytearray and log.nl == 1000
    assert log.starts is None  # line offsets only exist once a read needs them
    assert await store.line_count("/wal") == 1000
    assert await store.read_lines("/wal", 998) == ['{"i": 998}', '{"i": 999}']
    # ...and are kept up to date by later appends, open last line included.
    await store.append("/wal", '{"i": 1000}\n{"i": 10')
    await store.append("/wal", "01}\nx")
    assert await store.line_count("/wal") == 1003
    assert await store.read_lines("/wal", 999) == ['{"i": 999}', '{"i": 1000}', '{"i": 1001}', "x"]
    assert await store.read_lines("/wal", 1001, 1002) == ['{"i": 1001}']
    assert log.starts is not None and len(log.starts) == 1003
    await store.close()


@given(st.lists(st.text(alphabet="ab\né", max_size=6), max_size=12), st.integers(0, 8))
@settings(max_examples=150, deadline=None)
def test_packed_log_reads_like_the_plain_text(pieces: list[str], start: int) -> None:
    """Any mix of appends (partial lines, empty lines, non-ASCII) reads like the joined text."""
    asyncio.run(_packed_log_reads_like_the_plain_text(pieces, start))


async def _packed_log_reads_like_the_plain_text(pieces: list[str], start: int) -> None:
    store = MemoryKnowledgeStore()
    await store.append("/f", "")
    await store.read_lines("/f", 1)  # build the offsets early: appends must maintain them
    text = ""
    for piece in pieces:
        assert await store.append("/f", piece) == len(text.encode())
        text += piece
        want = text.split("\n")
        if want[-1] == "":
            want.pop()
        assert await store.line_count("/f") == len(want)
        assert await store.read_lines("/f", start) == want[start:]
        assert await store.read_lines("/f", 0, start) == want[:start]
    assert await store.read("/f") == text
    await store.close()
