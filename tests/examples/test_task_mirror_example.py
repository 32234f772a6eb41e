"""examples/06_task_mirror.py run as a test: bob's tool task reaches the hub's track record."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from hubbub.task import TaskState

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "06_task_mirror.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_06_task_mirror", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_06_task_mirror(capsys: object) -> None:
    out = await load().main()
    assert out["reason"] == "consulting_complete"
    research = out["research"]
    assert (research.completed, research.n, research.failed, research.expired) == (1, 1, 0, 0)
    assert research.p50_latency_ms is not None and research.p50_latency_ms >= 0
    task = out["task"]
    assert task.state is TaskState.COMPLETED and task.spec.capability == "research"
    assert task.progress == {"sources_read": 2}
    assert task.result == {"sources": ["raft.pdf", "paxos-made-simple.pdf"]}
    assert [r["outcome"] for r in out["audit"]] == ["completed"]
