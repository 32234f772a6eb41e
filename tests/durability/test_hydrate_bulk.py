"""Hydrate reads sessions in bulk, chunk by chunk, with reads ahead: same result as one by one.

On every durable store, a hub leaves sessions of every kind hydrate meets:
a snapshot and a WAL tail after it, a snapshot that covers everything, no
snapshot, a corrupt snapshot, a closed session still in the index, an index
entry without a creation record. A new hub, loading in chunks of two with
reads ahead, must rebuild exactly the state the old hub had; so must a store
without the bulk read methods (the generic fallback), and an error in a bulk
read must fail ``Hub.open`` cleanly. The open-session index must stay
O(live sessions) while sessions come and go concurrently.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from tests.durability._peers import RawPeer

from hubbub.knowledge import KnowledgeStore, KnowledgeStoreError, MemoryKnowledgeStore
from hubbub.network import EV_TEXT, Envelope, Hub, MockClock, SessionState
from hubbub.network.hub import index, layout, recovery
from hubbub.network.hub.index import INDEX_PATH
from hubbub.network.hub.snapshots import snapshot_record
from hubbub.network.session import SessionMetadata, participant_role

if TYPE_CHECKING:
    from tests.durability.conftest import StoreFactory

HUB_KW: dict[str, Any] = {
    "ttl_sweep_interval": 0,
    "expectation_sweep_interval": 0,
    "snapshot_interval": 0,
}


class NoBulkReads:
    """A store as written before the bulk reads: the same store, minus those two methods."""

    def __init__(self, inner: KnowledgeStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in ("read_many", "read_lines_many"):
            raise AttributeError(name)
        return getattr(self._inner, name)


class FailingBulkRead:
    """The same store, whose n-th ``read_lines_many`` fails."""

    def __init__(self, inner: KnowledgeStore, fail_on: int) -> None:
        self._inner = inner
        self._calls = 0
        self._fail_on = fail_on

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def read_lines_many(self, requests: Any) -> Any:
        self._calls += 1
        if self._calls == self._fail_on:
            raise KnowledgeStoreError("injected: bulk read failed")
        return await self._inner.read_lines_many(requests)


def _picture(hub: Hub, sid: str) -> dict[str, Any]:
    live = hub._table.live[sid]
    return {
        "meta": live.meta.to_dict(),
        "state": live.state,
        "seq": live.seq,
        "durable": live.durable,
        "activity": dataclasses.asdict(live.activity),
    }


async def _text(hub: Hub, sid: str, sender: str, text: str, clock: MockClock) -> None:
    clock.advance(1)
    await hub.post_envelope(Envelope(sid, sender, None, EV_TEXT, {"text": text}))


async def _leave_sessions(store: KnowledgeStore, clock: MockClock) -> tuple[dict[str, Any], str]:
    """Run a hub that leaves every kind of session; returns live pictures and the closed id."""
    hub = await Hub.open(store, clock=clock, **HUB_KW)
    peers = [await RawPeer(hub, f"agent-{i}").start() for i in range(3)]
    a, b, c = (p.agent_id for p in peers)
    kinds = ["tail", "snap", "nosnap", "corrupt", "closed", "consult", "tail2"]
    sids: dict[str, str] = {}
    for kind in kinds:
        meta = await hub.create_session(
            creator_id=a,
            manifest_type="consulting" if kind == "consult" else "conversation",
            participants=[c if kind == "tail2" else b],
        )
        sids[kind] = meta.session_id
    mid: dict[str, str] = {}
    for kind, sid in sids.items():
        for i in range(1 if kind == "consult" else 3):
            sender = next(p for p in (a, b, c) if hub.can_send(sid, p))
            await _text(hub, sid, sender, f"{kind} {i}", clock)
        if kind in ("tail", "tail2"):
            record = snapshot_record(hub._table.live[sid])
            assert record is not None
            mid[sid] = record  # a snapshot in the middle: three texts follow it
            for i in range(3):
                sender = next(p for p in (a, b, c) if hub.can_send(sid, p))
                await _text(hub, sid, sender, f"{kind} after {i}", clock)
    await hub.close_session(sids["closed"])
    pictures = {sid: _picture(hub, sid) for kind, sid in sids.items() if kind != "closed"}
    for peer in peers:
        await peer.stop()
    await hub.close()  # a clean close: every live session gets a snapshot
    for sid, record in mid.items():
        await store.write(layout.snapshot_path(sid), record)
    await store.write(layout.snapshot_path(sids["corrupt"]), "not json")
    await store.delete(layout.snapshot_path(sids["nosnap"]))
    # The index's "-" line of the closed session is lost, as in a crash before it.
    lines = await store.read_lines(INDEX_PATH)
    await store.write(INDEX_PATH, "".join(f"{x}\n" for x in lines if not x.startswith("-")))
    await store.append(INDEX_PATH, "+ghost-without-creation-record\n")
    return pictures, sids["closed"]


@pytest.mark.timeout(120)
async def test_chunked_hydrate_equals_the_hub_before(
    durable_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = MockClock()
    store = await durable_store.open()
    try:
        pictures, closed = await _leave_sessions(store, clock)
    finally:
        await store.close()
    monkeypatch.setattr(recovery, "_HYDRATE_CHUNK", 2)
    monkeypatch.setattr(recovery, "_READ_AHEAD", 1)
    for wrap in (False, True):
        inner = await durable_store.open()
        store = NoBulkReads(inner) if wrap else inner
        hub = await Hub.open(store, clock=clock, **HUB_KW)  # type: ignore[arg-type]
        try:
            assert list(hub._table.live) == list(pictures)  # index order, closed ones out
            for sid, picture in pictures.items():
                assert _picture(hub, sid) == picture, sid
            assert (await hub.get_session(closed)).state is SessionState.CLOSED
            assert await inner.read_lines(INDEX_PATH) == [f"+{sid}" for sid in pictures]
        finally:
            await hub.close()
            await inner.close()


async def test_a_failed_bulk_read_fails_open(
    durable_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = MockClock()
    store = await durable_store.open()
    try:
        await _leave_sessions(store, clock)
    finally:
        await store.close()
    monkeypatch.setattr(recovery, "_HYDRATE_CHUNK", 2)
    monkeypatch.setattr(recovery, "_READ_AHEAD", 2)
    for fail_on in (1, 2, 4):
        inner = await durable_store.open()
        try:
            with pytest.raises(KnowledgeStoreError, match="injected"):
                await Hub.open(FailingBulkRead(inner, fail_on), clock=clock, **HUB_KW)  # type: ignore[arg-type]
        finally:
            await inner.close()


def _via_from_dict(hub: Hub, data: dict[str, Any], session_id: str) -> SessionMetadata:
    """A creation record read the general way: completed, expanded, then ``SessionMetadata.from_dict``."""
    recovery.creation_defaults(data, session_id)
    manifest = hub._table.manifest_refs[data["manifest"]["ref"]]
    ids = data.get("participants") or []
    created = data.get("created_at", "")
    data = dict(data, manifest=manifest.to_dict())
    data["participants"] = [
        {
            "agent_id": pid,
            "role": participant_role(i, len(ids)).value,
            "order": i,
            "joined_at": created,
        }
        for i, pid in enumerate(ids)
    ]
    return SessionMetadata.from_dict(data)


async def test_creation_records_build_what_from_dict_builds() -> None:
    """The direct build of a hub-written creation record matches ``SessionMetadata.from_dict``."""
    # The direct build names every field; a new one must be added there too.
    assert [f.name for f in dataclasses.fields(SessionMetadata)] == [
        "session_id",
        "manifest",
        "creator_id",
        "participants",
        "state",
        "created_at",
        "expires_at",
        "closed_at",
        "close_reason",
        "parent_session_id",
        "knobs",
        "labels",
        "required_acks",
        "pending_acks",
        "rejected_by",
    ], "SessionMetadata changed: update recovery._creation_metadata"
    store = MemoryKnowledgeStore()
    hub = await Hub.open(store, clock=MockClock(), **HUB_KW)
    peers = [await RawPeer(hub, f"p{i}").start() for i in range(3)]
    ids = [p.agent_id for p in peers]
    try:
        made = [
            await hub.create_session(
                creator_id=ids[0], manifest_type="conversation", participants=[ids[1]]
            ),
            await hub.create_session(
                creator_id=ids[0],
                manifest_type="conversation",
                participants=[ids[1]],
                ttl=60,
                labels={"k": "v"},
                intent="why",
            ),
        ]
        for meta in made:
            raw = await store.read(layout.session_meta_path(meta.session_id))
            assert raw is not None
            sid = meta.session_id
            record = orjson.loads(raw)
            # what follows from the rest is left out of the record
            assert not {"session_id", "creator_id", "state", "pending_acks"} & set(record)
            built = recovery._creation_metadata(hub._table, record, sid)
            assert built.to_dict() == _via_from_dict(hub, orjson.loads(raw), sid).to_dict()
            assert built.manifest is hub._table.manifest_refs[orjson.loads(raw)["manifest"]["ref"]]
            assert built.participants == meta.participants
            assert built.state is SessionState.PENDING  # the state is a fold of the WAL
            assert built.session_id == sid and built.creator_id == ids[0]
            assert built.pending_acks == [ids[1]]
            # the general path, on a record with the manifest inline and full participants
            full = meta.to_dict()
            assert recovery._creation_metadata(hub._table, full, sid).to_dict() == meta.to_dict()
            # and on one with the manifest inline and participants as ids
            ids_only = dict(meta.to_dict(), participants=meta.participant_ids())
            assert (
                recovery._creation_metadata(hub._table, ids_only, sid).to_dict() == meta.to_dict()
            )
        record = orjson.loads(await store.read(layout.session_meta_path(made[0].session_id)) or "")
        record["manifest"] = {"ref": "0" * 24}
        with pytest.raises(recovery.ReplayError, match="missing"):
            recovery._creation_metadata(hub._table, record, made[0].session_id)
    finally:
        for peer in peers:
            await peer.stop()
        await hub.close()


@pytest.mark.timeout(120)
async def test_index_stays_proportional_to_live_sessions(
    durable_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "COMPACT_SLACK", 4)
    clock = MockClock()
    store = await durable_store.open()
    hub = await Hub.open(store, clock=clock, **HUB_KW)
    alice = await RawPeer(hub, "alice").start()
    bob = await RawPeer(hub, "bob").start()

    async def create() -> str:
        meta = await hub.create_session(
            creator_id=alice.agent_id, manifest_type="conversation", participants=[bob.agent_id]
        )
        return meta.session_id

    try:
        live = [await create() for _ in range(6)]
        most = 0
        for round_ in range(12):
            # closes and creates interleaved: compactions race with both kinds of line
            closing, live = live[:3], live[3:]
            results = await asyncio.gather(
                *(hub.close_session(sid) for sid in closing), *(create() for _ in range(3))
            )
            live += [r for r in results if isinstance(r, str)]
            lines = await store.read_lines(INDEX_PATH)
            most = max(most, len(lines))
            assert len(lines) <= 2 * len(live) + 4 + 3, (round_, len(lines))
        assert most < 6 + 12 * 6  # it did compact
        assert set(hub._table.live) == set(live)
    finally:
        await alice.stop()
        await bob.stop()
        await hub.close()
        await store.close()
    store = await durable_store.open()
    fresh = await Hub.open(store, clock=clock, **HUB_KW)
    try:
        assert list(fresh._table.live) == live
    finally:
        await fresh.close()
        await store.close()
