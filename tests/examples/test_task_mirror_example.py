"""examples/06_task_mirror.py run as a test through ``examples/harness.py``, in-process
and with ``hubbub serve`` and every agent in its own process: bob's tool task reaches
the hub's task table and his track record (and, in-process, the hub's audit log)."""

from __future__ import annotations

from pathlib import Path

import harness
import pytest

from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network.hub import Hub

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "06_task_mirror.py"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


def check(outcome: harness.Outcome) -> None:
    assert outcome.reason == "consulting_complete"
    assert [name for name, _ in outcome.transcript] == ["alice", "bob"]
    research = outcome.extra["research"]
    assert research is not None
    assert (research.completed, research.n, research.failed, research.expired) == (1, 1, 0, 0)
    assert research.p50_latency_ms is not None and research.p50_latency_ms >= 0
    (task,) = outcome.extra["tasks"]
    assert task["state"] == "completed" and task["capability"] == "research"
    assert task["title"] == "survey consensus protocols"
    assert task["progress"] == {"sources_read": 2}
    assert task["result"] == {"sources": ["raft.pdf", "paxos-made-simple.pdf"]}


async def test_06_task_mirror_in_process() -> None:
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0)
    try:
        outcome = await harness.run(harness.load(EXAMPLE), hub=hub)
        audit = [r for r in await hub.audit_log.read_all() if r["kind"] == "task_terminated"]
    finally:
        await hub.close()
    check(outcome)
    assert [r["outcome"] for r in audit] == ["completed"]


def test_06_task_mirror_with_every_agent_in_its_own_process() -> None:
    check(harness.run_processes(EXAMPLE))
