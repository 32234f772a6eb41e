"""Regression tests for the post pipeline's failure semantics (issue 8, items 1, 3, 4, 6, 10, 15).

Each test is named after what it protects. Real hubs on memory stores; a store
wrapper only where a fault must be injected or an append held in flight.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.knowledge.sqlite import SqliteKnowledgeStore
from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_TEXT,
    Envelope,
    Hub,
    InboxBlock,
    InvalidValueError,
    LimitsBlock,
    Passport,
    ProtocolError,
    Rule,
    SessionState,
    StoreUnavailableError,
)
from hubbub.network.errors import InboxFull, NetworkError
from hubbub.network.hub.appends import append_starter

OPTS: dict[str, Any] = {"ttl_sweep_interval": 0, "expectation_sweep_interval": 0}


class HeldStore:
    """A memory store whose appends can be made to fail, or held until released."""

    def __init__(self) -> None:
        self.inner = MemoryKnowledgeStore()
        self.fail_next = 0
        self.hold: asyncio.Event | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def append(self, path: str, text: str) -> int:
        if self.fail_next and "/wal.jsonl" in path:
            self.fail_next -= 1
            raise OSError(28, "No space left on device")
        if self.hold is not None and "/wal.jsonl" in path:
            await self.hold.wait()
        return await self.inner.append(path, text)


async def _pair(hub: Hub, kind: str = "conversation") -> tuple[str, str, str]:
    a = (await hub.register(Passport(name="alice"))).agent_id
    b = (await hub.register(Passport(name="bob"))).agent_id
    assert a and b
    opening = asyncio.ensure_future(
        hub.create_session(creator_id=a, manifest_type=kind, participants=[b])
    )
    while not hub._table.live:
        await asyncio.sleep(0)
    sid = next(iter(hub._table.live))
    await hub.post_envelope(Envelope(sid, b, None, "ag2.session.invite.ack", {"session_id": sid}))
    await opening
    return a, b, sid


def _text(sid: str, sender: str, text: str, **data: Any) -> Envelope:
    return Envelope(sid, sender, None, EV_TEXT, {"text": text, **data})


class FailingAtOnceStore(MemoryKnowledgeStore):
    """A memory store (its appends finish at once: no future) whose next WAL appends fail."""

    fail_next = 0

    def append_now(self, path: str, content: str) -> int:
        if self.fail_next and "/wal.jsonl" in path:
            self.fail_next -= 1
            raise OSError(28, "No space left on device")
        return super().append_now(path, content)


@pytest.mark.parametrize("path", ["task", "at_once"])
async def test_failed_append_uses_no_sequence_number_and_the_hub_reopens(path: str) -> None:
    # "task": a store whose append the hub runs in a task (it fails in the future);
    # "at_once": a memory store the hub appends to at once (it fails as it is called).
    store = HeldStore() if path == "task" else FailingAtOnceStore()
    hub = await Hub.open(store, **OPTS)
    a, b, sid = await _pair(hub)
    await hub.post_envelope(_text(sid, a, "one"))
    store.fail_next = 1
    with pytest.raises(StoreUnavailableError) as info:
        await hub.post_envelope(_text(sid, b, "lost"))
    assert info.value.code == "store_unavailable" and "No space left" in info.value.reason
    assert hub.adapter_state(sid).turn_count == 1  # nothing folded
    stamped = await hub.admit(_text(sid, a, "two"))
    wal = await hub.read_wal(sid)
    assert [e.sequence for e in wal] == list(range(1, len(wal) + 1))
    assert [e.event_data["text"] for e in wal if e.event_type == EV_TEXT] == ["one", "two"]
    assert stamped.sequence == wal[-1].sequence
    await hub.close()
    reopened = await Hub.open(store.inner if isinstance(store, HeldStore) else store, **OPTS)
    assert reopened.adapter_state(sid).turn_count == 2
    await reopened.close()


async def test_append_starter_picks_at_once_then_nowait_then_a_task(tmp_path: Path) -> None:
    memory = MemoryKnowledgeStore()
    assert append_starter(memory) == memory.append_now
    at_once = FailingAtOnceStore()  # a subclass's own append_now is the one called
    assert append_starter(at_once) == at_once.append_now
    sqlite = SqliteKnowledgeStore(tmp_path / "hub.db")
    try:
        assert append_starter(sqlite) == sqlite.append_nowait
        started = append_starter(sqlite)("sessions/s/wal.jsonl", "{}\n")
        assert isinstance(started, asyncio.Future)  # append_nowait: the batch's future
        assert await started == 0
    finally:
        await sqlite.close()
    # a wrapper overriding append gets a task around its own append, not the inner shortcut
    wrapper = HeldStore()
    wrapper.fail_next = 1
    task = append_starter(wrapper)("sessions/s/wal.jsonl", "{}\n")
    assert isinstance(task, asyncio.Future)
    with pytest.raises(OSError, match="No space left"):
        await task
    assert await wrapper.inner.read("sessions/s/wal.jsonl") is None


async def test_posts_queued_behind_a_failed_append_fail_too_and_leave_no_gap() -> None:
    store = HeldStore()
    hub = await Hub.open(store, **OPTS)
    a, b, sid = await _pair(hub)
    store.hold = asyncio.Event()
    store.fail_next = 1
    first = asyncio.ensure_future(hub.post_envelope(_text(sid, a, "in flight")))
    await asyncio.sleep(0)
    behind = [asyncio.ensure_future(hub.post_envelope(_text(sid, b, f"q{i}"))) for i in range(3)]
    await asyncio.sleep(0)
    store.hold.set()
    results = await asyncio.gather(first, *behind, return_exceptions=True)
    assert all(isinstance(r, StoreUnavailableError) for r in results), results
    store.hold = None
    await hub.post_envelope(_text(sid, a, "after"))
    wal = await hub.read_wal(sid)
    assert [e.sequence for e in wal] == list(range(1, len(wal) + 1))
    assert [e.event_data.get("text") for e in wal if e.event_type == EV_TEXT] == ["after"]
    await hub.close()


async def test_delivered_envelope_is_what_was_logged_not_the_senders_object() -> None:
    hub = await Hub.open(MemoryKnowledgeStore(), **OPTS)
    a, _, sid = await _pair(hub)
    data: dict[str, Any] = {"text": "hi", "items": [1, 2]}
    stamped = await hub.admit(Envelope(sid, a, None, EV_TEXT, data))
    data["items"].append(3)
    data["text"] = "changed"
    assert stamped.event_data == {"text": "hi", "items": [1, 2]}
    assert (await hub.read_wal(sid))[-1].event_data == stamped.event_data
    await hub.close()


@pytest.mark.parametrize(
    ("value", "problem"),
    [(float("nan"), "NaN"), (float("inf"), "Infinity"), ({1, 2}, "set"), (2**70, "64-bit")],
)
async def test_values_json_cannot_represent_are_refused_naming_the_field(
    value: Any, problem: str
) -> None:
    hub = await Hub.open(MemoryKnowledgeStore(), **OPTS)
    a, _, sid = await _pair(hub)
    before = len(await hub.read_wal(sid))
    with pytest.raises(ProtocolError) as info:
        await hub.post_envelope(_text(sid, a, "x", score={"deep": value}))
    assert info.value.code == "bad_envelope"
    assert "envelope.event_data.score.deep" in str(info.value) and problem in str(info.value)
    assert len(await hub.read_wal(sid)) == before
    await hub.post_envelope(_text(sid, a, "still serving"))
    await hub.close()


async def test_cancelled_post_still_delivers_and_applies_the_consulting_close() -> None:
    store = HeldStore()
    hub = await Hub.open(store, **OPTS)
    a, b, sid = await _pair(hub, "consulting")
    await hub.post_envelope(_text(sid, a, "question?"))
    store.hold = asyncio.Event()
    answer = asyncio.ensure_future(hub.post_envelope(_text(sid, b, "answer")))
    await asyncio.sleep(0)
    answer.cancel()  # e.g. the responder's HubClient.close() during its answer
    await asyncio.gather(answer, return_exceptions=True)
    store.hold.set()
    while hub._pipeline.tails:  # the tail the hub finishes on the cancelled caller's behalf
        await asyncio.gather(*list(hub._pipeline.tails))
    meta = await hub.get_session(sid)
    assert (meta.state, meta.close_reason) == (SessionState.CLOSED, "consulting_complete")
    wal = await hub.read_wal(sid)
    assert [e.event_type for e in wal][-2:] == [EV_TEXT, EV_SESSION_CLOSED]
    await hub.close()


async def test_protocol_events_count_against_the_inbox() -> None:
    hub = await Hub.open(MemoryKnowledgeStore(), **OPTS)
    rule = Rule(limits=LimitsBlock(inbox=InboxBlock(max_pending=3)))
    a = (await hub.register(Passport(name="alice"))).agent_id
    b = (await hub.register(Passport(name="bob"), rule=rule)).agent_id
    assert a and b
    frames: list[Any] = []

    class Sink:
        endpoint_id = "bob-endpoint"

        def deliver(self, recipient_id: str, envelope: Envelope) -> None:
            frames.append(envelope)

        async def close(self) -> None:
            return None

    hub.attach_endpoint(Sink())
    hub.bind_endpoint("bob-endpoint", b)
    opening = asyncio.ensure_future(
        hub.create_session(creator_id=a, manifest_type="conversation", participants=[b])
    )
    while not frames:
        await asyncio.sleep(0)
    sid = frames[0].session_id
    await hub.post_envelope(Envelope(sid, b, None, "ag2.session.invite.ack", {"session_id": sid}))
    await opening
    with pytest.raises(InboxFull):
        for i in range(10):
            await hub.post_envelope(
                Envelope(sid, a, None, "ag2.task.progress", {"blob": "x" * 100, "i": i})
            )
    assert hub.pending_inbox(b) == 3
    await hub.close()


async def test_unknown_session_protocol_event_is_refused() -> None:
    hub = await Hub.open(MemoryKnowledgeStore(), **OPTS)
    a, _, sid = await _pair(hub)
    with pytest.raises(ProtocolError) as info:
        await hub.post_envelope(Envelope(sid, a, None, "ag2.session.bogus", {}))
    assert info.value.code == "unknown_event"
    await hub.close()


async def test_payload_limit_counts_encoded_bytes_not_characters() -> None:
    hub = await Hub.open(MemoryKnowledgeStore(), max_envelope_bytes=4096, **OPTS)
    a, _, sid = await _pair(hub)
    await hub.post_envelope(_text(sid, a, "a" * 3000))  # 3,000 bytes: fits
    with pytest.raises(ProtocolError) as info:
        await hub.post_envelope(_text(sid, a, "😀" * 1000))  # 1,000 chars, 4,000 bytes
    assert info.value.code == "payload_too_large"
    await hub.close()


async def test_oversized_label_is_refused_and_leaves_nothing_behind() -> None:
    store = MemoryKnowledgeStore()
    hub = await Hub.open(store, max_envelope_bytes=4096, **OPTS)
    a = (await hub.register(Passport(name="alice"))).agent_id
    b = (await hub.register(Passport(name="bob"))).agent_id
    assert a and b
    before = await store.list("/sessions")
    for bad in ({"labels": {"big": "x" * 5000}}, {"knobs": {"f": float("nan")}}):
        with pytest.raises(ProtocolError):
            await hub.create_session(
                creator_id=a, manifest_type="conversation", participants=[b], **bad
            )
    with pytest.raises(InvalidValueError):
        await hub.create_session(
            creator_id=a,
            manifest_type="conversation",
            participants=[b],
            knobs="str",  # type: ignore[arg-type]
        )
    assert await store.list("/sessions") == before
    assert not hub._table.live
    await hub.close()


async def test_async_audit_subscriber_is_awaited() -> None:
    hub = await Hub.open(MemoryKnowledgeStore(), **OPTS)
    seen: list[str] = []

    async def subscriber(record: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        seen.append(record["kind"])

    hub.audit_log.subscribe(subscriber)
    await hub.register(Passport(name="alice"))
    assert seen == ["agent_registered"]
    await hub.close()


@pytest.mark.parametrize("interval", [0, -1, float("nan"), float("inf"), "1"])
async def test_register_sweeper_refuses_an_interval_that_would_spin(interval: Any) -> None:
    hub = await Hub.open(MemoryKnowledgeStore(), **OPTS)

    async def tick() -> None:
        return None

    with pytest.raises(InvalidValueError, match="interval_seconds"):
        hub.register_sweeper("spin", interval, tick)
    await hub.close()


async def test_audience_naming_an_unregistered_participant_is_a_network_error() -> None:
    hub = await Hub.open(MemoryKnowledgeStore(), **OPTS)
    a, b, sid = await _pair(hub)
    await hub.unregister(b)
    try:
        await hub.post_envelope(Envelope(sid, a, [b], EV_TEXT, {"text": "still there?"}))
    except NetworkError:
        pass  # refusing is fine; a bare KeyError is not
    await hub.close()


async def test_decided_close_that_could_not_be_logged_is_retried() -> None:
    store = HeldStore()
    hub = await Hub.open(store, **OPTS)
    a, b, sid = await _pair(hub, "consulting")
    await hub.post_envelope(_text(sid, a, "q"))
    original = store.append

    async def fail_the_close(path: str, text: str) -> int:
        if "ag2.session.closed" in text:
            raise OSError(28, "No space left on device")
        return await original(path, text)

    store.append = fail_the_close  # type: ignore[method-assign]
    await hub.post_envelope(_text(sid, b, "a"))  # acknowledged: the reply is durable
    # ... but its close could not be logged: decided, refused to everyone, retried
    with pytest.raises(ProtocolError) as info:
        await hub.post_envelope(_text(sid, b, "more"))
    assert info.value.code == "session_closed"
    assert hub.health()["undelivered_decisions"] == 1
    store.append = original  # type: ignore[method-assign]
    assert await hub.retry_decisions() == 1
    meta = await hub.get_session(sid)
    assert (meta.state, meta.close_reason) == (SessionState.CLOSED, "consulting_complete")
    await hub.close()


async def test_hub_logs_lifecycle_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hubbub")
    hub = await Hub.open(MemoryKnowledgeStore(), **OPTS)
    _, _, sid = await _pair(hub)
    await hub.close_session(sid)
    await hub.close()
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("hubbub")]
    assert any(f"session {sid} opened" in m for m in messages)
    assert any(f"session {sid} closed: explicit_close" in m for m in messages)


async def test_append_reported_failed_but_committed_is_read_back_not_reused() -> None:
    """A commit whose reply was lost: the post fails, yet the line is in the store. The
    next post reads the WAL back first, so its sequence follows that line (no duplicate)."""
    store = HeldStore()
    hub = await Hub.open(store, **OPTS)
    a, _, sid = await _pair(hub)
    original = store.append

    async def commit_then_fail(path: str, text: str) -> int:
        await original(path, text)
        raise ConnectionResetError("connection lost after COMMIT")

    store.append = commit_then_fail  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailableError):
        await hub.post_envelope(_text(sid, a, "maybe"))
    store.append = original  # type: ignore[method-assign]
    await hub.post_envelope(_text(sid, a, "next"))
    wal = await hub.read_wal(sid)
    assert [e.sequence for e in wal] == list(range(1, len(wal) + 1))
    assert [e.event_data["text"] for e in wal if e.event_type == EV_TEXT] == ["maybe", "next"]
    assert hub.adapter_state(sid).turn_count == 2
    await hub.close()


@pytest.mark.parametrize("where", ["knobs", "labels"])
async def test_create_session_refuses_a_lone_surrogate_and_leaves_nothing(where: str) -> None:
    store = MemoryKnowledgeStore()
    hub = await Hub.open(store, **OPTS)
    a = (await hub.register(Passport(name="alice"))).agent_id
    b = (await hub.register(Passport(name="bob"))).agent_id
    assert a and b
    with pytest.raises(ProtocolError) as info:
        await hub.create_session(
            creator_id=a,
            manifest_type="conversation",
            participants=[b],
            **{where: {"x": "a\udc00"}},
        )
    assert info.value.code == "bad_envelope" and f"create_session.{where}.x" in str(info.value)
    assert await store.list("/sessions") == []
    await hub.close()
