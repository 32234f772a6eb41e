"""BatchThread: FIFO batches of at most ``max_batch``, results per item, close drains."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from hubbub.knowledge._batch import BatchThread
from hubbub.knowledge.base import StoreClosedError


class _Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.gate.set()

    def process(self, items: list[int]) -> Sequence[object]:
        self.gate.wait(10)
        self.batches.append(list(items))
        return [ValueError(i) if i % 7 == 3 else i * 2 for i in items]


async def test_batches_are_fifo_capped_and_resolve_each_item() -> None:
    rec = _Recorder()
    worker: BatchThread[int] = BatchThread("t", rec.process, max_batch=16)
    rec.gate.clear()  # hold the first batch so the rest queue up behind it
    first = worker.submit(-1)
    futs = [worker.submit(i) for i in range(100)]
    rec.gate.set()
    assert await first == -2
    results = await asyncio.gather(*futs, return_exceptions=True)
    for i, r in enumerate(results):
        if i % 7 == 3:
            assert isinstance(r, ValueError) and r.args == (i,)
        else:
            assert r == i * 2
    assert [i for b in rec.batches for i in b] == [-1, *range(100)]
    assert max(len(b) for b in rec.batches) <= 16
    assert len(rec.batches) >= 1 + 100 // 16
    await worker.close()


async def test_uncapped_takes_everything_queued() -> None:
    rec = _Recorder()
    worker: BatchThread[int] = BatchThread("t", rec.process)
    rec.gate.clear()
    first = worker.submit(0)
    futs = [worker.submit(i) for i in range(1, 101)]
    rec.gate.set()
    await asyncio.gather(first, *futs, return_exceptions=True)
    assert [i for b in rec.batches for i in b] == list(range(101))
    assert len(rec.batches) <= 2  # what the held batch did not take, in one batch
    await worker.close()


async def test_close_drains_the_queue_then_refuses() -> None:
    rec = _Recorder()
    worker: BatchThread[int] = BatchThread("t", rec.process, max_batch=3)
    futs = [worker.submit(i) for i in range(10)]
    await worker.close()
    assert all(f.done() for f in futs)
    assert [i for b in rec.batches for i in b] == list(range(10))
    with pytest.raises(StoreClosedError):
        worker.submit(11)
    await worker.close()  # idempotent


def test_max_batch_must_be_positive() -> None:
    with pytest.raises(ValueError):
        BatchThread("t", lambda items: items, max_batch=0)
