"""Hydrate on every durable store reproduces every registered session type mid-flight (spec §24).

The adapters are enumerated from a freshly opened hub, so a session type added
later is covered without touching this file. Each is driven generically: a
session with ``manifest.participants.min`` participants, then one EV_TEXT from a
participant the hub says may send. The hub is closed, a new hub opens a *new*
store object on the same data, and everything must match and continue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from tests.durability._peers import RawPeer

from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import EV_TEXT, Envelope, Hub, MockClock, SessionState, TransitionGraph

if TYPE_CHECKING:
    from tests.durability.conftest import StoreFactory

HUB_KW: dict[str, Any] = {
    "ttl_sweep_interval": 0,
    "expectation_sweep_interval": 0,
    "invite_ack_timeout": 10,
}
#: Knobs a session type cannot be created without, from the participant ids (creator first).
KNOBS: dict[str, Callable[[list[str]], dict[str, Any]]] = {
    "workflow": lambda ids: {"graph": TransitionGraph.round_robin(ids).to_dict()},
}


def registered_adapters() -> list[tuple[str, int]]:
    """``(type, version)`` of every adapter a fresh ``Hub.open`` registers."""

    async def keys() -> list[tuple[str, int]]:
        store = MemoryKnowledgeStore()
        hub = await Hub.open(store, **HUB_KW)
        try:
            return sorted(hub.adapters())
        finally:
            await hub.close()
            await store.close()

    return asyncio.run(keys())


ADAPTERS = registered_adapters()
META_FIELDS = ("state", "participants", "pending_acks", "close_reason", "expires_at")


def test_adapters_were_enumerated() -> None:
    assert ADAPTERS, "a fresh hub registers no adapter"


@pytest.mark.parametrize("adapter_key", ADAPTERS, ids=[f"{t}@v{v}" for t, v in ADAPTERS])
@pytest.mark.timeout(60)
async def test_hydrate_reproduces_mid_flight_session(
    durable_store: StoreFactory, adapter_key: tuple[str, int]
) -> None:
    manifest_type, version = adapter_key
    clock = MockClock()
    store = await durable_store.open()
    hub = await Hub.open(store, clock=clock, **HUB_KW)
    try:
        manifest = hub.adapters()[adapter_key].manifest
        count = max(manifest.participants.min, 2)
        peers = [await RawPeer(hub, f"agent-{i}").start() for i in range(count)]
        ids = [p.agent_id for p in peers]
        meta = await hub.create_session(
            creator_id=ids[0],
            manifest_type=manifest_type,
            manifest_version=version,
            participants=ids[1:],
            knobs=KNOBS[manifest_type](ids) if manifest_type in KNOBS else None,
        )
        sid = meta.session_id
        assert meta.state is SessionState.ACTIVE
        first = next((p for p in ids if hub.can_send(sid, p)), None)
        assert first is not None, f"{manifest_type}: nobody may send a text after opening"
        clock.advance(1)
        await hub.post_envelope(Envelope(sid, first, None, EV_TEXT, {"text": "mid-flight"}))
        before_meta = await hub.get_session(sid)
        assert not before_meta.is_terminal(), f"{manifest_type} closed after one text"
        before_state = hub.adapter_state(sid)
        before_wal = await hub.read_wal(sid)
        senders = [p for p in ids if hub.can_send(sid, p)]
    finally:
        await hub.close()
        await store.close()

    store = await durable_store.open()
    fresh = await Hub.open(store, clock=clock, **HUB_KW)
    try:
        after_meta = await fresh.get_session(sid)
        for name in META_FIELDS:
            assert getattr(after_meta, name) == getattr(before_meta, name), name
        assert after_meta.to_dict() == before_meta.to_dict()
        assert fresh.adapter_state(sid) == before_state
        assert await fresh.read_wal(sid) == before_wal
        assert [m.session_id for m in await fresh.list_sessions(limit=1000)] == [sid]
        assert [p for p in ids if fresh.can_send(sid, p)] == senders
        # it continues: another participant who may send does, at the next sequence
        assert senders, f"{manifest_type}: nobody may send after the first text"
        second = next((p for p in senders if p != first), senders[0])
        clock.advance(1)
        stamped = await fresh.admit(Envelope(sid, second, None, EV_TEXT, {"text": "continued"}))
        assert stamped.sequence == before_wal[-1].sequence + 1
        wal = await fresh.read_wal(sid)
        assert wal[: len(before_wal)] == before_wal
        assert [e.sequence for e in wal] == list(range(1, len(wal) + 1))
    finally:
        await fresh.close()
        await store.close()
