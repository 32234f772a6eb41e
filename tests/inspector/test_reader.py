"""StoreReader on a store a real hub wrote: the listing, the fold, usage, the audit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from tests.inspector._stores import populate
from tests.inspector.conftest import Populated

from hubbub.inspector import StoreReader
from hubbub.knowledge.disk import DiskKnowledgeStore
from hubbub.knowledge.sqlite import SqliteKnowledgeStore
from hubbub.network import Hub


@pytest.fixture
async def reader(populated: Populated) -> AsyncIterator[StoreReader]:
    store = SqliteKnowledgeStore(populated.db)
    try:
        yield StoreReader(store)
    finally:
        await store.close()


class NoWalReads:
    """A store proxy that fails the test on any read of a WAL."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.reads: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def read_lines(self, path: str, start_line: int = 0) -> list[str]:
        assert not path.endswith("wal.jsonl"), f"the listing read a WAL: {path}"
        self.reads.append(path)
        result: list[str] = await self._store.read_lines(path, start_line)
        return result

    async def read_lines_many(self, requests: Sequence[tuple[str, int]]) -> list[list[str]]:
        for path, _ in requests:
            assert not path.endswith("wal.jsonl"), f"the listing read a WAL: {path}"
        result: list[list[str]] = await self._store.read_lines_many(requests)
        return result


async def test_the_listing_states_come_from_the_index_and_the_audit(
    reader: StoreReader, populated: Populated
) -> None:
    s = populated.facts.sessions
    total, rows = await reader.list_sessions()
    assert total == 4
    by_id = {r.session_id: r for r in rows}
    assert (by_id[s["consulting"]].state, by_id[s["consulting"]].reason) == (
        "closed",
        "consulting_complete",
    )
    assert (by_id[s["chat"]].state, by_id[s["chat"]].reason) == ("closed", "explicit_close")
    assert by_id[s["silent"]].reason == "expectation_violated:reply_within"
    assert by_id[s["open"]].state == "open"
    # newest first
    assert [r.session_id for r in rows] == [s["open"], s["silent"], s["chat"], s["consulting"]]


async def test_filters_and_paging(reader: StoreReader, populated: Populated) -> None:
    s = populated.facts.sessions
    assert [r.session_id for r in (await reader.list_sessions(state="open"))[1]] == [s["open"]]
    total, rows = await reader.list_sessions(type="consulting")
    assert total == 2 and {r.session_id for r in rows} == {s["consulting"], s["silent"]}
    total, rows = await reader.list_sessions(agent="dave")  # a name
    assert {r.session_id for r in rows} == {s["chat"], s["open"]}
    _, rows = await reader.list_sessions(agent=populated.facts.agents["mute"])  # an id
    assert [r.session_id for r in rows] == [s["silent"]]
    _, rows = await reader.list_sessions(q="REPLY_WITHIN")
    assert [r.session_id for r in rows] == [s["silent"]]
    _, rows = await reader.list_sessions(q="carol", state="closed")
    assert [r.session_id for r in rows] == [s["chat"]]
    total, rows = await reader.list_sessions(limit=1, offset=1)
    assert total == 4 and [r.session_id for r in rows] == [s["silent"]]
    assert (await reader.list_sessions(state="expired")) == (0, [])


async def test_the_listing_reads_no_wal(populated: Populated) -> None:
    store = SqliteKnowledgeStore(populated.db)
    try:
        proxy = NoWalReads(store)
        reader = StoreReader(proxy)  # type: ignore[arg-type]
        total, _ = await reader.list_sessions(q="dave")
        assert total == 2
        assert proxy.reads, "the audit log and the index are read through read_lines"
    finally:
        await store.close()


async def test_the_fold_walks_the_chat_step_by_step(
    reader: StoreReader, populated: Populated
) -> None:
    sid = populated.facts.sessions["chat"]
    agents = populated.facts.agents
    meta = await reader.creation(sid)
    assert meta is not None
    lines = await reader.wal_lines(sid)
    assert len(lines) == 9  # invite, ack, opened, five texts, closed

    start = reader.fold(meta, lines, 0)
    assert (start["state"], start["sequence"], start["pending_acks"]) == (
        "pending",
        0,
        [agents["dave"]],
    )
    assert start["may_send"] == {agents["carol"]: False, agents["dave"]: False}

    opened = reader.fold(meta, lines, 3)
    assert (opened["state"], opened["pending_acks"]) == ("active", [])
    assert opened["may_send"] == {agents["carol"]: True, agents["dave"]: True}
    assert opened["adapter_state"]["turn_count"] == 0

    after_reply = reader.fold(meta, lines, 5)
    assert after_reply["sequence"] == 5
    assert after_reply["adapter_state"]["turn_count"] == 2
    assert after_reply["adapter_state"]["last_speaker_id"] == agents["dave"]

    end = reader.fold(meta, lines, 9)
    assert (end["state"], end["close_reason"], end["error"]) == ("closed", "explicit_close", None)
    assert end["may_send"] == {agents["carol"]: False, agents["dave"]: False}


async def test_the_final_fold_equals_what_a_hub_recovers(populated: Populated) -> None:
    store = SqliteKnowledgeStore(populated.db)
    try:
        reader = StoreReader(store)
        folded = {}
        for sid in populated.facts.sessions.values():
            meta = await reader.creation(sid)
            assert meta is not None
            lines = await reader.wal_lines(sid)
            folded[sid] = reader.fold(meta, lines, len(lines))
        hub = await Hub.open(store, ttl_sweep_interval=0, expectation_sweep_interval=0)
        try:
            for sid, state in folded.items():
                recovered = await hub.get_session(sid)
                assert state["state"] == recovered.state.value, sid
                assert state["close_reason"] == recovered.close_reason, sid
                adapter = hub.adapter_for(sid)
                assert state["adapter_state"] == adapter.dump_state(hub.adapter_state(sid)), sid  # type: ignore[attr-defined]
        finally:
            await hub.close()
    finally:
        await store.close()


async def test_a_wal_that_does_not_replay_says_where(
    reader: StoreReader, populated: Populated
) -> None:
    sid = populated.facts.sessions["chat"]
    meta = await reader.creation(sid)
    assert meta is not None
    lines = await reader.wal_lines(sid)
    broken = lines[:4] + lines[5:]  # a gap: sequence 6 after 4
    state = reader.fold(meta, broken, len(broken))
    assert state["applied"] == 4 and state["sequence"] == 4
    assert "sequence 6, expected 5" in state["error"]


async def test_usage_per_session_and_per_agent(reader: StoreReader, populated: Populated) -> None:
    sid = populated.facts.sessions["chat"]
    agents = populated.facts.agents
    envelopes = reader.envelopes(sid, await reader.wal_lines(sid))
    usage = reader.usage(envelopes)
    total = usage["total"]
    assert (total["replies"], total["input_tokens"], total["output_tokens"]) == (2, 320, 80)
    assert (total["cache_read_tokens"], total["cache_write_tokens"]) == (250, 10)
    assert total["cost_usd"] == pytest.approx(0.0032)
    assert total["latency_ms_mean"] == 1000 and total["models"] == ["claude-test"]
    assert set(usage["by_agent"]) == {agents["dave"]}

    per_agent = await reader.agent_usage()
    assert per_agent[agents["dave"]]["replies"] == 2
    assert per_agent[agents["dave"]]["sessions"] == 2
    assert per_agent[agents["carol"]]["replies"] == 0
    assert per_agent[agents["carol"]]["input_tokens"] is None  # shown as —
    again = await reader.agent_usage()  # incremental: the same totals, not doubled
    assert again[agents["dave"]]["input_tokens"] == 320


async def test_the_audit_log_of_one_session(reader: StoreReader, populated: Populated) -> None:
    sid = populated.facts.sessions["silent"]
    kinds = [r["kind"] for r in await reader.audit(session_id=sid)]
    assert kinds == ["session_created", "expectation_violated", "session_closed"]
    (violation,) = await reader.audit(session_id=sid, kind="expectation_violated")
    assert violation["expectation"] == "reply_within"
    assert violation["violators"] == [populated.facts.agents["mute"]]


async def test_a_disk_store_reads_the_same(tmp_path: Path) -> None:
    root = tmp_path / "store"
    facts = await populate(DiskKnowledgeStore(str(root)))
    store = DiskKnowledgeStore(str(root))
    try:
        reader = StoreReader(store)
        total, rows = await reader.list_sessions()
        assert total == 4
        states = {r.session_id: (r.state, r.reason) for r in rows}
        assert states[facts.sessions["chat"]] == ("closed", "explicit_close")
        assert states[facts.sessions["open"]] == ("open", "")
        sid = facts.sessions["chat"]
        meta = await reader.creation(sid)
        assert meta is not None
        lines = await reader.wal_lines(sid)
        assert reader.fold(meta, lines, 5)["adapter_state"]["turn_count"] == 2
    finally:
        await store.close()
