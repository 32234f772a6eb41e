"""The pure task bookkeeping: the wire form of a task, its updates, and track records."""

from __future__ import annotations

import pytest

from hubbub.network.errors import InvalidValueError
from hubbub.network.identity import ObservedStat
from hubbub.network.task_records import (
    LATENCY_SAMPLES,
    apply_update,
    check_key,
    check_task,
    observe_outcome,
    task_from_dict,
)
from hubbub.task import TaskMetadata, TaskSpec, TaskState


def running() -> TaskMetadata:
    return TaskMetadata(
        "t1", "agent-1", TaskSpec("survey", payload={"q": 1}, capability="research"),
        state=TaskState.RUNNING, created_at="2026-01-01T00:00:00+00:00",
    )  # fmt: skip


def test_round_trip_and_old_field_name() -> None:
    md = running()
    assert task_from_dict(md.to_dict()) == md
    data = md.to_dict()
    data["channel_id"] = data.pop("session_id")
    assert task_from_dict(data).session_id is None
    assert check_task(md) == md and check_task(md) is not md


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"task_id": ""}, "task.task_id"),
        ({"task_id": "a/b"}, "task.task_id"),
        ({"task_id": ".hidden"}, "task.task_id"),
        ({"owner_id": ""}, "task.owner_id"),
        ({"state": "paused"}, "task.state"),
        ({"spec": {"title": 3}}, "task.spec.title"),
        ({"spec": {"title": "x", "payload": []}}, "task.spec.payload"),
        ({"spec": {"title": "x", "capability": ""}}, "task.spec.capability"),
        ({"spec": {"title": "x", "extra": 1}}, "unknown field"),
        ({"progress": {"x": float("inf")}}, "task.progress.x"),
        ({"started_at": 5}, "task.started_at"),
        ({"error": None, "result": {1: 2}}, "task.result"),
        ({"bogus": 1}, "unknown field"),
    ],
)
def test_bad_fields_are_named(change: dict[str, object], field: str) -> None:
    data = {**running().to_dict(), **change}
    with pytest.raises(InvalidValueError, match=field.replace(".", r"\.")):
        task_from_dict(data)


def test_missing_fields_and_non_objects() -> None:
    with pytest.raises(InvalidValueError, match="must be an object"):
        task_from_dict([])
    with pytest.raises(InvalidValueError, match=r"task\.spec is missing"):
        task_from_dict({"task_id": "t", "owner_id": "o"})
    with pytest.raises(InvalidValueError, match="must be a TaskMetadata"):
        check_task("t1")


def test_keys() -> None:
    assert check_key("survey:2026-q1_v2.3", "key") == "survey:2026-q1_v2.3"
    for bad in ("", "-x", "a b", "x" * 129, "../x", 5):
        with pytest.raises(InvalidValueError, match="key"):
            check_key(bad, "key")


def test_apply_update() -> None:
    md = running()
    new = apply_update(md, now="T1", progress={"p": 1}, result={"r": 2})
    assert new is not None and new is not md
    assert (new.progress, new.last_progress_at, new.result) == ({"p": 1}, "T1", {"r": 2})
    assert md.progress == {} and md.result is None  # the input is not changed
    done = apply_update(new, now="T2", state="failed", error="boom")
    assert done is not None
    assert (done.state, done.completed_at, done.error) == (TaskState.FAILED, "T2", "boom")
    assert apply_update(done, now="T3", state="completed") is None  # terminal is final
    created = TaskMetadata("t2", "o", TaskSpec("x"))
    started = apply_update(created, now="T4", state=TaskState.RUNNING)
    assert started is not None and started.started_at == "T4"
    with pytest.raises(InvalidValueError, match="back to created"):
        apply_update(started, now="T5", state="created")
    with pytest.raises(InvalidValueError, match="progress"):
        apply_update(started, now="T5", progress=[1])  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="error"):
        apply_update(started, now="T5", error=3)  # type: ignore[arg-type]


def test_observe_outcome_counts_and_takes_the_median() -> None:
    stat, samples = observe_outcome(None, TaskState.COMPLETED, 50, [])
    assert stat == ObservedStat(n=1, completed=1, p50_latency_ms=50) and samples == [50]
    stat, samples = observe_outcome(stat, TaskState.FAILED, 10, samples)
    assert (stat.n, stat.failed, stat.p50_latency_ms) == (2, 1, 10)  # lower median of 10, 50
    stat, samples = observe_outcome(stat, TaskState.EXPIRED, None, samples)
    assert (stat.n, stat.expired, stat.p50_latency_ms, samples) == (3, 1, 10, [50, 10])
    with pytest.raises(InvalidValueError, match="completed, failed or expired"):
        observe_outcome(stat, TaskState.CANCELLED, None, samples)


def test_latency_samples_are_bounded() -> None:
    stat, samples = None, []
    for ms in range(LATENCY_SAMPLES + 50):
        stat, samples = observe_outcome(stat, TaskState.COMPLETED, ms, samples)
    assert len(samples) == LATENCY_SAMPLES and samples[0] == 50
    assert stat is not None and stat.p50_latency_ms == 50 + LATENCY_SAMPLES // 2
