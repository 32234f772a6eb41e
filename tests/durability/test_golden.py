"""Golden WAL files: stores written by an earlier hub must replay to their recorded final state.

Each ``tests/golden/<case>/`` holds ``store/`` (a DiskKnowledgeStore root with
only the WAL layer: agents, manifests, creation records, WALs, audit) and
``expected.json``. The files are made by ``make_golden.py`` and are never
regenerated to make a failing test pass: a failure here means the hub no longer
reads what it once wrote. ``divergent_*`` cases must fail hydrate with a
``ReplayError`` that names the session and the WAL line.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.durability._peers import state_dict

from hubbub.knowledge import DiskKnowledgeStore
from hubbub.network import EV_TEXT, Envelope, Hub, MockClock, SessionState
from hubbub.network.errors import SessionCorruptError
from hubbub.network.hub.recovery import ReplayError

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
#: Cases make_golden.py writes; each must be present (a lost folder is a failure, not a skip).
REQUIRED = {
    "consulting_complete",
    "consulting_mid_flight",
    "conversation_closed",
    "conversation_mid_flight",
    "conversation_expired",
    "invite_rejected",
    "divergent_sequence_gap",
    "divergent_foreign_session",
}
CASES = sorted({p.name for p in GOLDEN.iterdir() if p.is_dir()} | REQUIRED)
HUB_KW: dict[str, Any] = {"ttl_sweep_interval": 0, "expectation_sweep_interval": 0}


def load_case(name: str, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """The case's expectations and a private copy of its store (hydrate may write to it)."""
    case_dir = GOLDEN / name
    expected_file = case_dir / "expected.json"
    if not expected_file.is_file():
        pytest.fail(f"golden case {name}: {expected_file} is missing")
    if not (case_dir / "store" / "sessions").is_dir():
        pytest.fail(f"golden case {name}: {case_dir / 'store'} has no sessions")
    root = tmp_path / "store"
    shutil.copytree(case_dir / "store", root)
    return json.loads(expected_file.read_text()), root


async def observed(hub: Hub, session_id: str) -> dict[str, Any]:
    """The same record make_golden.py wrote, as the hydrated hub sees it."""
    meta = await hub.get_session(session_id)
    wal = await hub.read_wal(session_id)
    return {
        "manifest_type": meta.manifest.type,
        "manifest_version": meta.manifest.version,
        "creator_id": meta.creator_id,
        "participants": meta.participant_ids(),
        "state": meta.state.value,
        "close_reason": meta.close_reason,
        "pending_acks": list(meta.pending_acks),
        "rejected_by": list(meta.rejected_by),
        "expires_at": meta.expires_at,
        "closed_at": meta.closed_at,
        "adapter_state": state_dict(hub.adapter_state(session_id)),
        "wal_length": len(wal),
        "last_sequence": wal[-1].sequence if wal else 0,
        "event_types": [e.event_type for e in wal],
    }


def test_golden_folder_holds_every_case() -> None:
    missing = sorted(n for n in REQUIRED if not (GOLDEN / n / "expected.json").is_file())
    assert not missing, f"golden cases without expected.json: {missing}"


@pytest.mark.parametrize("name", [c for c in CASES if not c.startswith("divergent_")])
async def test_golden_store_replays_to_recorded_state(name: str, tmp_path: Path) -> None:
    expected, root = load_case(name, tmp_path)
    assert expected.get("sessions"), f"golden case {name} records no session"
    store = DiskKnowledgeStore(root)
    hub = await Hub.open(store, clock=MockClock(expected["clock"]), **HUB_KW)
    try:
        listed = await hub.list_sessions(include_terminal=True, limit=1000)
        assert {m.session_id for m in listed} <= set(expected["sessions"])
        for session_id, want in expected["sessions"].items():
            assert await observed(hub, session_id) == want, f"{name}: session {session_id}"
            wal = await hub.read_wal(session_id)
            assert [e.sequence for e in wal] == list(range(1, len(wal) + 1))
            if want["state"] == SessionState.ACTIVE.value:
                # a live session continues where it was: the next text gets the next sequence
                live_ids = {m.session_id for m in await hub.list_sessions(limit=1000)}
                assert session_id in live_ids
                sender = next(p for p in want["participants"] if hub.can_send(session_id, p))
                stamped = await hub.admit(
                    Envelope(session_id, sender, None, EV_TEXT, {"text": "after replay"})
                )
                assert stamped.sequence == want["last_sequence"] + 1
    finally:
        await hub.close()
        await store.close()


@pytest.mark.parametrize("name", [c for c in CASES if c.startswith("divergent_")])
async def test_divergent_wal_raises_replay_error_when_strict(name: str, tmp_path: Path) -> None:
    expected, root = load_case(name, tmp_path)
    error = expected["replay_error"]
    store = DiskKnowledgeStore(root)
    try:
        with pytest.raises(ReplayError) as info:
            hub = await Hub.open(store, clock=MockClock(expected["clock"]), strict=True, **HUB_KW)
            await hub.close()  # only reached when hydrate wrongly accepted the log
    finally:
        await store.close()
    message = str(info.value)
    assert error["session_id"] in message, message
    assert f"line {error['line']}" in message, message


@pytest.mark.parametrize("name", [c for c in CASES if c.startswith("divergent_")])
async def test_divergent_wal_is_quarantined_and_the_hub_opens(name: str, tmp_path: Path) -> None:
    """Without ``strict`` the hub opens; the session is readable, listed, and refuses posts."""
    expected, root = load_case(name, tmp_path)
    sid = expected["replay_error"]["session_id"]
    store = DiskKnowledgeStore(root)
    hub = await Hub.open(store, clock=MockClock(expected["clock"]), **HUB_KW)
    try:
        health = hub.health()
        assert sid in health["quarantined_sessions"]
        assert f"line {expected['replay_error']['line']}" in health["quarantined_sessions"][sid]
        assert health["status"] == "degraded"
        assert await hub.read_wal(sid)  # still readable
        kinds = [r["kind"] for r in await hub.audit_log.read_all() if r.get("session_id") == sid]
        assert "session_quarantined" in kinds
        with pytest.raises(SessionCorruptError) as info:
            await hub.get_session(sid)
        assert info.value.code == "session_corrupt"
        agent = next(iter(hub._registry.passports))
        with pytest.raises(SessionCorruptError):
            await hub.post_envelope(Envelope(sid, agent, None, EV_TEXT, {"text": "x"}))
    finally:
        await hub.close()
        await store.close()
