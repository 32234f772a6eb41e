"""The hub's task table through the operator API: records, updates, audit, track records,
the cascade when a session ends, limits, and what a restart keeps (memory and disk stores;
SQLite for the restarts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from hubbub.knowledge.sqlite import SqliteKnowledgeStore
from hubbub.network import (
    AccessDeniedError,
    Hub,
    InvalidValueError,
    LimitsBlock,
    MockClock,
    NotFoundError,
    ProtocolError,
    Rule,
)
from hubbub.network.hub.tasks import task_meta_path
from hubbub.task import TaskMetadata, TaskSpec, TaskState


def task(
    owner: str,
    task_id: str = "t1",
    *,
    capability: str | None = "research",
    session_id: str | None = None,
    state: TaskState = TaskState.RUNNING,
) -> TaskMetadata:
    return TaskMetadata(
        task_id=task_id,
        owner_id=owner,
        spec=TaskSpec("survey", payload={"topic": "raft"}, capability=capability),
        state=state,
        session_id=session_id,
    )


async def audits(hub: Hub, kind: str) -> list[dict[str, Any]]:
    return [r for r in await hub.audit_log.read_all() if r["kind"] == kind]


async def conversation(hub: Hub, a: Any, b: Any) -> str:
    meta = await hub.create_session(
        creator_id=a.agent_id, manifest_type="conversation", participants=[a.agent_id, b.agent_id]
    )
    return meta.session_id


async def test_observe_update_complete_and_audit(hub: Hub, peers: Any, clock: MockClock) -> None:
    bob = await peers("bob")
    md = await hub.observe_task(task(bob.agent_id))
    assert md.state is TaskState.RUNNING
    assert md.created_at == clock() and md.started_at == clock()
    md.progress["mutated"] = True  # a copy: the hub's record does not change
    assert (await hub.get_task("t1")).progress == {}

    clock.advance(1)
    md = await hub.update_task("t1", progress={"pages": 1})
    md = await hub.update_task("t1", progress={"sources": 2})
    assert md.progress == {"pages": 1, "sources": 2}
    assert md.last_progress_at == clock()

    clock.advance(1.5)
    done = await hub.update_task("t1", state="completed", result={"answer": 42})
    assert done.state is TaskState.COMPLETED and done.result == {"answer": 42}
    assert done.completed_at == clock()
    (record,) = await audits(hub, "task_terminated")
    assert record["task_id"] == "t1" and record["owner_id"] == bob.agent_id
    assert record["outcome"] == "completed" and record["capability"] == "research"
    assert record["latency_ms"] == 2500 and record["reason"] == ""

    # terminal is final: a later update changes nothing and audits nothing
    again = await hub.update_task("t1", state=TaskState.FAILED, error="late")
    assert again.state is TaskState.COMPLETED and again.error == ""
    assert (await hub.observe_task(task(bob.agent_id))).state is TaskState.COMPLETED
    assert len(await audits(hub, "task_terminated")) == 1


async def test_failed_task_audits_its_error(hub: Hub, peers: Any) -> None:
    bob = await peers("bob")
    await hub.observe_task(task(bob.agent_id))
    md = await hub.update_task("t1", state="failed", error="ValueError: no sources")
    assert md.state is TaskState.FAILED
    (record,) = await audits(hub, "task_terminated")
    assert record["outcome"] == "failed" and record["reason"] == "ValueError: no sources"


async def test_list_tasks_filters_and_orders(hub: Hub, peers: Any, clock: MockClock) -> None:
    bob, carol = await peers("bob"), await peers("carol")
    await hub.observe_task(task(bob.agent_id, "b1"))
    clock.advance(1)
    await hub.observe_task(task(bob.agent_id, "b2"))
    clock.advance(1)
    await hub.observe_task(task(carol.agent_id, "c1"))
    await hub.update_task("b1", state="completed")
    assert [t.task_id for t in await hub.list_tasks()] == ["c1", "b2", "b1"]
    assert [t.task_id for t in await hub.list_tasks(owner_id=bob.agent_id)] == ["b2", "b1"]
    assert [t.task_id for t in await hub.list_tasks(agent_id=carol.agent_id)] == ["c1"]
    assert [t.task_id for t in await hub.list_tasks(state="running")] == ["c1", "b2"]
    assert [t.task_id for t in await hub.list_tasks(state=TaskState.COMPLETED)] == ["b1"]
    assert len(await hub.list_tasks(limit=1)) == 1
    with pytest.raises(InvalidValueError, match="state"):
        await hub.list_tasks(state="sleeping")
    with pytest.raises(InvalidValueError, match="limit"):
        await hub.list_tasks(limit=-1)


async def test_bad_task_records_are_refused_naming_the_field(hub: Hub, peers: Any) -> None:
    bob = await peers("bob")
    with pytest.raises(InvalidValueError, match="task_id"):
        await hub.observe_task(task(bob.agent_id, "../../agents/x"))
    with pytest.raises(NotFoundError, match="unknown agent"):
        await hub.observe_task(task("nobody"))
    bad = task(bob.agent_id)
    bad.spec.payload = {"score": float("nan")}
    with pytest.raises(InvalidValueError, match=r"task\.spec\.payload\.score"):
        await hub.observe_task(bad)
    bad = task(bob.agent_id)
    bad.result = {1, 2}
    with pytest.raises(InvalidValueError, match=r"task\.result"):
        await hub.observe_task(bad)
    with pytest.raises(InvalidValueError, match="must be a TaskMetadata"):
        await hub.observe_task({"task_id": "t1"})  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        await hub.update_task("missing")
    with pytest.raises(NotFoundError):
        await hub.get_task("missing")
    await hub.observe_task(task(bob.agent_id))
    with pytest.raises(InvalidValueError, match="state"):
        await hub.update_task("t1", state="paused")
    with pytest.raises(InvalidValueError, match="back to created"):
        await hub.update_task("t1", state="created")
    assert await hub.list_tasks(state="running")  # nothing above was recorded as a change


async def test_a_task_keeps_its_owner_and_session(hub: Hub, peers: Any) -> None:
    alice, bob = await peers("alice"), await peers("bob")
    sid = await conversation(hub, alice, bob)
    await hub.observe_task(task(bob.agent_id, session_id=sid))
    with pytest.raises(AccessDeniedError, match="belongs to"):
        await hub.observe_task(task(alice.agent_id, session_id=sid))
    with pytest.raises(ProtocolError, match="session_id cannot change"):
        await hub.observe_task(task(bob.agent_id))


async def test_session_checks(hub: Hub, peers: Any) -> None:
    alice, bob, carol = await peers("alice"), await peers("bob"), await peers("carol")
    sid = await conversation(hub, alice, bob)
    with pytest.raises(AccessDeniedError, match="not a participant"):
        await hub.observe_task(task(carol.agent_id, session_id=sid))
    with pytest.raises(NotFoundError):
        await hub.observe_task(task(bob.agent_id, session_id="s" * 32))
    await hub.close_session(sid, reason="done")
    with pytest.raises(ProtocolError) as err:
        await hub.observe_task(task(bob.agent_id, session_id=sid))
    assert err.value.code == "session_closed"


async def test_max_concurrent_tasks(hub: Hub, peers: Any) -> None:
    bob = await peers("bob", rule=Rule(limits=LimitsBlock(max_concurrent_tasks=1)))
    await hub.observe_task(task(bob.agent_id, "t1"))
    await hub.observe_task(task(bob.agent_id, "t1"))  # the same task again is not a new one
    with pytest.raises(AccessDeniedError, match="max_concurrent_tasks"):
        await hub.observe_task(task(bob.agent_id, "t2"))
    await hub.update_task("t1", state="completed")
    await hub.observe_task(task(bob.agent_id, "t2"))


async def test_record_observation_counts_once_per_task(hub: Hub, peers: Any) -> None:
    bob = await peers("bob")
    me = bob.agent_id
    resume = await hub.record_observation(me, "research", "completed", 100, task_id="a")
    assert resume.observed["research"].n == 1 and resume.observed["research"].completed == 1
    await hub.record_observation(me, "research", TaskState.FAILED, 300, task_id="b")
    resume = await hub.record_observation(me, "research", "completed", 200, task_id="c")
    stat = resume.observed["research"]
    assert (stat.n, stat.completed, stat.failed, stat.expired) == (3, 2, 1, 0)
    assert stat.p50_latency_ms == 200  # the median of 100, 300, 200
    again = await hub.record_observation(me, "research", "completed", 5, task_id="c")
    assert again.observed["research"] == stat  # the same task counts once
    await hub.record_observation(me, "research", "expired")  # no task id, no latency
    stat = (await hub.get_resume(me)).observed["research"]
    assert (stat.n, stat.expired, stat.p50_latency_ms) == (4, 1, 200)
    assert me in hub.agents_with_capability("research")  # an observed capability is indexed

    records = await audits(hub, "resume_set")
    observed = [r for r in records if r["source"] == "observed"]
    assert len(observed) == 4
    assert observed[0]["capability"] == "research" and observed[0]["outcome"] == "completed"
    assert observed[0]["task_id"] == "a" and observed[0]["agent_id"] == me
    versions = [r["version"] for r in observed]
    assert versions == sorted(versions) and len(set(versions)) == 4


async def test_record_observation_refusals(hub: Hub, peers: Any) -> None:
    alice, bob = await peers("alice"), await peers("bob")
    with pytest.raises(InvalidValueError, match="completed, failed or expired"):
        await hub.record_observation(bob.agent_id, "research", "cancelled")
    with pytest.raises(InvalidValueError, match="outcome"):
        await hub.record_observation(bob.agent_id, "research", "great")
    with pytest.raises(InvalidValueError, match="latency_ms"):
        await hub.record_observation(bob.agent_id, "research", "completed", -1)
    with pytest.raises(InvalidValueError, match="capability"):
        await hub.record_observation(bob.agent_id, "", "completed")
    with pytest.raises(NotFoundError):
        await hub.record_observation("nobody", "research", "completed")
    await hub.observe_task(task(bob.agent_id))
    with pytest.raises(AccessDeniedError, match="belongs to"):
        await hub.record_observation(alice.agent_id, "research", "completed", task_id="t1")
    assert (await hub.get_resume(alice.agent_id)).observed == {}


async def test_a_closed_session_expires_its_open_tasks(hub: Hub, peers: Any) -> None:
    alice, bob = await peers("alice"), await peers("bob")
    sid = await conversation(hub, alice, bob)
    other = await conversation(hub, alice, bob)
    await hub.observe_task(task(bob.agent_id, "open1", session_id=sid))
    await hub.observe_task(task(alice.agent_id, "open2", session_id=sid, capability=None))
    await hub.observe_task(task(bob.agent_id, "done", session_id=sid))
    await hub.observe_task(task(bob.agent_id, "elsewhere", session_id=other))
    await hub.update_task("done", state="completed")

    await hub.close_session(sid, reason="finished")
    states = {t.task_id: t.state for t in await hub.list_tasks()}
    assert states == {
        "open1": TaskState.EXPIRED,
        "open2": TaskState.EXPIRED,
        "done": TaskState.COMPLETED,
        "elsewhere": TaskState.RUNNING,
    }
    expired = [r for r in await audits(hub, "task_terminated") if r["outcome"] == "expired"]
    assert sorted(r["task_id"] for r in expired) == ["open1", "open2"]
    assert {r["reason"] for r in expired} == {"session_closed"}
    # an expired task with a capability counts in its owner's track record
    stat = (await hub.get_resume(bob.agent_id)).observed["research"]
    assert (stat.n, stat.expired) == (1, 1)
    # the mirror reporting the same task later does not count it twice
    await hub.record_observation(bob.agent_id, "research", "expired", task_id="open1")
    assert (await hub.get_resume(bob.agent_id)).observed["research"].n == 1


async def test_a_ttl_expired_session_expires_its_open_tasks(
    hub: Hub, peers: Any, clock: MockClock
) -> None:
    alice, bob = await peers("alice"), await peers("bob")
    meta = await hub.create_session(
        creator_id=alice.agent_id,
        manifest_type="conversation",
        participants=[alice.agent_id, bob.agent_id],
        ttl=60,
    )
    await hub.observe_task(task(bob.agent_id, session_id=meta.session_id))
    clock.advance(61)
    assert await hub.expire_due() == 1
    assert (await hub.get_task("t1")).state is TaskState.EXPIRED


async def test_restart_on_sqlite_keeps_tasks_and_the_track_record(
    tmp_path: Path, raw_peer: Any
) -> None:
    path = tmp_path / "hub.db"
    clock = MockClock()
    hub = await Hub.open(
        SqliteKnowledgeStore(path), clock=clock, ttl_sweep_interval=0, invite_ack_timeout=5
    )
    bob = await raw_peer(hub, "bob").start()
    await hub.observe_task(task(bob.agent_id, "running"))
    await hub.observe_task(task(bob.agent_id, "finished"))
    await hub.update_task("finished", state="completed", result={"n": 3})
    await hub.update_task("running", progress={"pages": 4})
    await hub.record_observation(bob.agent_id, "research", "completed", 120, task_id="finished")
    await hub.close()
    await hub.store.close()

    hub = await Hub.open(
        SqliteKnowledgeStore(path), clock=clock, ttl_sweep_interval=0, invite_ack_timeout=5
    )
    try:
        running = await hub.get_task("running")
        assert running.state is TaskState.RUNNING and running.progress == {"pages": 4}
        finished = await hub.get_task("finished")
        assert finished.state is TaskState.COMPLETED and finished.result == {"n": 3}
        stat = (await hub.get_resume(bob.agent_id)).observed["research"]
        assert (stat.n, stat.completed, stat.p50_latency_ms) == (1, 1, 120)
        # the counted task id survived too: no double count after the restart
        await hub.record_observation(bob.agent_id, "research", "completed", 1, task_id="finished")
        assert (await hub.get_resume(bob.agent_id)).observed["research"].n == 1
        assert bob.agent_id in hub.agents_with_capability("research")
        await hub.update_task("running", state="completed")
        assert [t.task_id for t in await hub.list_tasks(state="completed")] == [
            "running",
            "finished",
        ]
    finally:
        await hub.close()
        await hub.store.close()


async def test_restart_expires_open_tasks_of_a_session_that_ended(
    tmp_path: Path, raw_peer: Any
) -> None:
    """A hub that stopped between a session's close and the cascade finishes it at open."""
    path = tmp_path / "hub.db"
    hub = await Hub.open(SqliteKnowledgeStore(path), ttl_sweep_interval=0, invite_ack_timeout=5)
    alice, bob = await raw_peer(hub, "alice").start(), await raw_peer(hub, "bob").start()
    sid = await conversation(hub, alice, bob)
    await hub.close_session(sid, reason="finished")
    # what the store holds if the hub died before expiring the session's task
    stale = task(bob.agent_id, "stale", session_id=sid)
    stale.created_at = stale.started_at = hub.now()
    await hub.store.write(task_meta_path("stale"), orjson.dumps(stale.to_dict()).decode())
    await hub.close()
    await hub.store.close()

    hub = await Hub.open(SqliteKnowledgeStore(path), ttl_sweep_interval=0)
    try:
        md = await hub.get_task("stale")
        assert md.state is TaskState.EXPIRED
        (record,) = await audits(hub, "task_terminated")
        assert record["task_id"] == "stale" and record["reason"] == "session_closed"
    finally:
        await hub.close()
        await hub.store.close()


async def test_an_undecodable_task_record_is_skipped_at_open(tmp_path: Path, raw_peer: Any) -> None:
    path = tmp_path / "hub.db"
    hub = await Hub.open(SqliteKnowledgeStore(path), ttl_sweep_interval=0)
    bob = await raw_peer(hub, "bob").start()
    await hub.observe_task(task(bob.agent_id, "good"))
    await hub.store.write(task_meta_path("bad"), '{"task_id": "bad", "spec": 3}')
    await hub.close()
    await hub.store.close()
    hub = await Hub.open(SqliteKnowledgeStore(path), ttl_sweep_interval=0)
    try:
        assert [t.task_id for t in await hub.list_tasks()] == ["good"]
        with pytest.raises(NotFoundError, match="does not decode"):
            await hub.get_task("bad")
    finally:
        await hub.close()
        await hub.store.close()


async def test_an_open_task_past_its_expiry_expires_at_the_ttl_sweep(
    hub: Hub, peers: Any, clock: MockClock
) -> None:
    bob = await peers("bob")
    soon = task(bob.agent_id, "soon")
    soon.expires_at = clock.advance(0)  # now
    later = task(bob.agent_id, "later", capability=None)
    later.expires_at = clock.advance(0).replace("T00:00:00", "T01:00:00")
    await hub.observe_task(soon)
    await hub.observe_task(later)
    await hub.observe_task(task(bob.agent_id, "forever"))
    clock.advance(30)
    assert await hub.expire_due() == 0  # no session expired; the tasks are separate
    states = {t.task_id: t.state for t in await hub.list_tasks()}
    assert states == {
        "soon": TaskState.EXPIRED,
        "later": TaskState.RUNNING,
        "forever": TaskState.RUNNING,
    }
    (record,) = await audits(hub, "task_terminated")
    assert record["task_id"] == "soon" and record["reason"] == "ttl_expired"
    assert (await hub.get_resume(bob.agent_id)).observed["research"].expired == 1
    clock.advance(3600)
    await hub.expire_due()
    assert (await hub.get_task("later")).state is TaskState.EXPIRED
    assert (await hub.get_task("forever")).state is TaskState.RUNNING


async def test_listeners_hear_every_task_change(hub: Hub, peers: Any) -> None:
    from hubbub.network import BaseHubListener

    heard: list[tuple[str, str, str, dict[str, Any]]] = []

    class Tasks(BaseHubListener):
        async def on_task_event(self, task_id: str, kind: str, payload: dict[str, Any]) -> None:
            heard.append((task_id, kind, payload["state"], payload.get("progress", {})))

    hub.register_listener(Tasks())
    bob = await peers("bob")
    await hub.observe_task(task(bob.agent_id))
    await hub.update_task("t1", progress={"pages": 1})
    await hub.update_task("t1", state="completed", result={"answer": 42})
    await hub.update_task("t1", state="failed", error="late")  # terminal: nothing changes
    await hub.flush_listeners()
    assert heard == [
        ("t1", "observed", "running", {}),
        ("t1", "updated", "running", {"pages": 1}),
        ("t1", "updated", "completed", {"pages": 1}),
        ("t1", "terminated", "completed", {"pages": 1}),
    ]
