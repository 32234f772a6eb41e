"""Regenerate the golden WAL stores under ``tests/golden/`` (run by hand, deterministic).

    .venv/bin/python tests/durability/make_golden.py

Every case is a small hub history written by a real ``Hub`` into a
``DiskKnowledgeStore`` (plain files: ``store/``) plus ``expected.json`` with the
state the live hub had at the end. ``test_golden.py`` opens a hub on a copy of
each store and compares. Ids come from a counter and time from a ``MockClock``,
so two runs produce identical bytes. Only regenerate on purpose: the point of
the files is that a *newer* hub must still replay what an older one wrote.

Only the WAL layer is kept: agents, manifests, creation records
(``metadata.json``), WALs and the audit log. Derived files a newer hub may add
(snapshots, indexes) are deleted, so the cases prove that the WAL alone replays,
and that a hub still opens a store written before such files existed.

The ``divergent_*`` cases are copies of a good store with the WAL corrupted on
purpose; their ``expected.json`` names the session and WAL line that
``hydrate`` must report in a ``ReplayError``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.durability._peers import RawPeer, state_dict  # noqa: E402

import hubbub.network.hub.core as hub_core  # noqa: E402
import hubbub.network.hub.registry as hub_registry  # noqa: E402
import hubbub.network.transport.local as local_link  # noqa: E402
from hubbub.knowledge import DiskKnowledgeStore  # noqa: E402
from hubbub.network import EV_SESSION_INVITE, EV_TEXT, Envelope, Hub, MockClock, ProtocolError  # noqa: E402

GOLDEN = ROOT / "tests" / "golden"
START = "2026-01-01T00:00:00+00:00"
HUB_KW: dict[str, Any] = {
    "ttl_sweep_interval": 0,
    "expectation_sweep_interval": 0,
    "invite_ack_timeout": 5,
}


def _install_ids() -> None:
    """Make every id the hub stamps come from one counter (32 hex digits, like make_id)."""
    counter = itertools.count(1)

    def make_id() -> str:
        return f"{next(counter):032x}"

    hub_core.make_id = make_id  # type: ignore[attr-defined]
    hub_registry.make_id = make_id  # type: ignore[attr-defined]
    local_link.make_id = make_id  # type: ignore[attr-defined]


async def session_record(hub: Hub, session_id: str) -> dict[str, Any]:
    """The recorded final state of one session, as the hub holding it sees it."""
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


async def text(hub: Hub, clock: MockClock, session_id: str, sender: str, body: str) -> None:
    """Admit one EV_TEXT a second after the previous event."""
    clock.advance(1)
    await hub.post_envelope(Envelope(session_id, sender, None, EV_TEXT, {"text": body}))


async def pair(hub: Hub, *, reject: bool = False) -> tuple[RawPeer, RawPeer]:
    """Register alice and bob (bob rejects invites if asked)."""
    alice = await RawPeer(hub, "alice").start()
    bob = await RawPeer(hub, "bob", reject=reject).start()
    return alice, bob


async def open_session(
    hub: Hub, clock: MockClock, kind: str, alice: RawPeer, bob: RawPeer, **kw: Any
) -> str:
    clock.advance(1)
    meta = await hub.create_session(
        creator_id=alice.agent_id, manifest_type=kind, participants=[bob.agent_id], **kw
    )
    return meta.session_id


async def consulting_complete(hub: Hub, clock: MockClock) -> str:
    """A consulting session: question, reply, auto-close ``consulting_complete``."""
    alice, bob = await pair(hub)
    sid = await open_session(hub, clock, "consulting", alice, bob)
    await text(hub, clock, sid, alice.agent_id, "What matters most in a WAL?")
    await text(hub, clock, sid, bob.agent_id, "That the ack comes after the fsync.")
    return sid


async def consulting_mid_flight(hub: Hub, clock: MockClock) -> str:
    """A consulting session with the question asked and no reply yet (ACTIVE)."""
    alice, bob = await pair(hub)
    sid = await open_session(hub, clock, "consulting", alice, bob)
    await text(hub, clock, sid, alice.agent_id, "Is replay exact? ünïcödé ✓")
    return sid


async def conversation_closed(hub: Hub, clock: MockClock) -> str:
    """A conversation: five texts from both sides, then an explicit close."""
    alice, bob = await pair(hub)
    sid = await open_session(hub, clock, "conversation", alice, bob)
    for i, speaker in enumerate([alice, bob, alice, alice, bob]):
        await text(hub, clock, sid, speaker.agent_id, f"turn {i + 1} from {speaker.name}")
    clock.advance(1)
    await hub.close_session(sid, reason="done talking")
    return sid


async def conversation_mid_flight(hub: Hub, clock: MockClock) -> str:
    """A conversation with five texts and no close (ACTIVE)."""
    alice, bob = await pair(hub)
    sid = await open_session(hub, clock, "conversation", alice, bob)
    for i, speaker in enumerate([bob, alice, alice, bob, alice]):
        await text(hub, clock, sid, speaker.agent_id, f"turn {i + 1} from {speaker.name}")
    return sid


async def conversation_expired(hub: Hub, clock: MockClock) -> str:
    """A conversation with a 60 s TTL: two texts, then the TTL sweeper expires it."""
    alice, bob = await pair(hub)
    sid = await open_session(hub, clock, "conversation", alice, bob, ttl=60)
    await text(hub, clock, sid, alice.agent_id, "anyone there?")
    await text(hub, clock, sid, bob.agent_id, "yes")
    clock.advance(120)
    assert await hub.expire_due() == 1
    return sid


async def invite_rejected(hub: Hub, clock: MockClock) -> str:
    """A consulting invite that bob rejects: CLOSED ``invite_rejected``."""
    alice, bob = await pair(hub, reject=True)
    clock.advance(1)
    try:
        await hub.create_session(
            creator_id=alice.agent_id, manifest_type="consulting", participants=[bob.agent_id]
        )
    except ProtocolError:
        pass
    else:
        raise AssertionError("bob's reject did not fail the open")
    await bob.wait_handled(EV_SESSION_INVITE)  # his reject's post (and the close) returned
    (meta,) = await hub.list_sessions(include_terminal=True)
    return meta.session_id


CASES: dict[str, Callable[[Hub, MockClock], Awaitable[str]]] = {
    "consulting_complete": consulting_complete,
    "consulting_mid_flight": consulting_mid_flight,
    "conversation_closed": conversation_closed,
    "conversation_mid_flight": conversation_mid_flight,
    "conversation_expired": conversation_expired,
    "invite_rejected": invite_rejected,
}


async def make_case(name: str) -> None:
    """Write ``tests/golden/<name>/store`` and its ``expected.json``."""
    _install_ids()
    case_dir = GOLDEN / name
    shutil.rmtree(case_dir, ignore_errors=True)
    store = DiskKnowledgeStore(case_dir / "store", fsync=False)
    clock = MockClock(START)
    hub = await Hub.open(store, clock=clock, **HUB_KW)
    try:
        sid = await CASES[name](hub, clock)
        expected = {
            "description": (CASES[name].__doc__ or "").strip(),
            "clock": clock(),
            "sessions": {sid: await session_record(hub, sid)},
        }
    finally:
        await hub.close()
        await store.close()
    _keep_wal_layer(case_dir / "store")
    _write_json(case_dir / "expected.json", expected)


#: Store files a golden case keeps (paths relative to the store root).
KEEP = re.compile(
    r"agents/[^/]+/(passport|resume|rule)\.json"
    r"|manifests/[^/]+\.json"
    r"|sessions/[^/]+/(metadata\.json|wal\.jsonl)"
    r"|audit/[^/]+\.jsonl"
)


def _keep_wal_layer(store_dir: Path) -> None:
    """Delete every file outside the WAL layer (snapshots, indexes), then empty folders."""
    for path in sorted(store_dir.rglob("*"), reverse=True):
        if path.is_file() and not KEEP.fullmatch(path.relative_to(store_dir).as_posix()):
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def _wal_file(case_dir: Path, session_id: str) -> Path:
    return case_dir / "store" / "sessions" / session_id / "wal.jsonl"


def make_divergent(name: str, source: str, corrupt: Callable[[list[str], str], int]) -> None:
    """Copy case ``source`` and corrupt its WAL; ``corrupt`` edits the lines, returns the bad line number."""
    src_dir, case_dir = GOLDEN / source, GOLDEN / name
    shutil.rmtree(case_dir, ignore_errors=True)
    shutil.copytree(src_dir / "store", case_dir / "store")
    (sid,) = json.loads((src_dir / "expected.json").read_text())["sessions"]
    wal = _wal_file(case_dir, sid)
    lines = wal.read_text().splitlines(keepends=True)
    bad_line = corrupt(lines, sid)
    wal.write_text("".join(lines))
    _write_json(
        case_dir / "expected.json",
        {
            "description": f"{source} with a corrupted WAL: {corrupt.__doc__}",
            "clock": json.loads((src_dir / "expected.json").read_text())["clock"],
            "replay_error": {"session_id": sid, "line": bad_line},
        },
    )


def drop_line_five(lines: list[str], session_id: str) -> int:
    """line 5 removed, so line 5 carries sequence 6 (a gap)"""
    del lines[4]
    return 5


def foreign_line(lines: list[str], session_id: str) -> int:
    """line 6 replaced by the same envelope claiming another session"""
    data = json.loads(lines[5])
    data["session_id"] = "f" * 32
    lines[5] = json.dumps(data, separators=(",", ":")) + "\n"
    return 6


async def main() -> None:
    for name in CASES:
        await make_case(name)
    # Corrupt a live session: a hub may skip folding closed ones at open.
    make_divergent("divergent_sequence_gap", "conversation_mid_flight", drop_line_five)
    make_divergent("divergent_foreign_session", "conversation_mid_flight", foreign_line)
    for case_dir in sorted(p for p in GOLDEN.iterdir() if p.is_dir()):
        print(case_dir.relative_to(ROOT))


if __name__ == "__main__":
    asyncio.run(main())
