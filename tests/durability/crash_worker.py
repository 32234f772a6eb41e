"""A hub under load in its own process, for ``test_crash.py`` to kill with SIGKILL.

    python crash_worker.py STORE --run N --mode load|drain [--sessions 50] [--seed S]

``STORE`` is ``sqlite:<file>`` or ``postgres:<schema>``. The worker opens the hub
(hydrate), prints ``LIVE <sid> <sequence> <adapter state JSON>`` for every live
session it found and then ``READY``. It registers fresh agents (``r<N>-p<i>``)
through raw LocalLink connections that ack invites, and drives sessions:

* ``load``: keeps ``--sessions`` sessions of mixed types (consulting and
  conversation) busy — first the live ones it found, then new ones as sessions
  complete — until ``--max-seconds`` pass (the parent kills it long before).
* ``drain``: drives every live session it found to completion, opens none,
  prints ``DONE`` and exits 0.

After every admitted envelope it prints ``ACK <sid> <sequence> <envelope_id>``
(only once the post returned, i.e. the envelope is durable); after an explicit
close returns it prints ``CLOSED <sid>``. A live session in which nobody may
send can never complete: the worker prints ``STUCK <sid>`` and leaves it. Conversations end with an explicit
close after ``TURNS`` texts; consulting sessions close themselves on the reply.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.durability._peers import RawPeer, state_json  # noqa: E402
from tests.durability._stores import POSTGRES_DSN  # noqa: E402

from hubbub.knowledge import KnowledgeStore  # noqa: E402
from hubbub.network import EV_TEXT, Envelope, Hub  # noqa: E402

TYPES = ("consulting", "conversation")
#: Texts after which the worker closes a conversation.
TURNS = 8
CLOSE_REASON = "conversation_done"


def open_store(spec: str) -> KnowledgeStore:
    """``sqlite:<file>`` (synchronous=NORMAL: survives kill -9) or ``postgres:<schema>``."""
    kind, _, where = spec.partition(":")
    if kind == "sqlite":
        from hubbub.knowledge.sqlite import SqliteKnowledgeStore

        return SqliteKnowledgeStore(where, synchronous="NORMAL")
    if kind == "postgres":
        from hubbub.knowledge.postgres import PostgresKnowledgeStore

        return PostgresKnowledgeStore(POSTGRES_DSN, schema=where)
    raise SystemExit(f"unknown store {spec!r}")


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Worker:
    def __init__(self, hub: Hub, peers: list[RawPeer], rng: random.Random, deadline: float) -> None:
        self.hub = hub
        self.peers = peers
        self.rng = rng
        self.deadline = deadline

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    async def post(self, sid: str, sender: str, text: str) -> None:
        stamped = await self.hub.admit(Envelope(sid, sender, None, EV_TEXT, {"text": text}))
        emit(f"ACK {sid} {stamped.sequence} {stamped.envelope_id}")

    async def drive(self, sid: str) -> None:
        """Post until the session is terminal (or time is up)."""
        hub = self.hub
        meta = await hub.get_session(sid)
        pids = meta.participant_ids()
        while self.running() and not (await hub.get_session(sid)).is_terminal():
            if meta.manifest.type == "conversation":
                if hub.adapter_state(sid).turn_count >= TURNS:
                    await hub.close_session(sid, reason=CLOSE_REASON)
                    emit(f"CLOSED {sid}")
                    return
                # both sides at once: concurrent admissions into one session
                senders = [p for p in pids if hub.can_send(sid, p)]
            else:
                senders = [p for p in pids if hub.can_send(sid, p)][:1]
            if not senders:
                emit(f"STUCK {sid}")  # live, yet nobody may send: it can never complete
                return
            n = self.rng.randrange(1 << 30)
            await asyncio.gather(
                *(self.post(sid, p, f"{sid[-6:]} #{n} from {p[-4:]}") for p in senders)
            )

    async def open_one(self) -> str:
        a, b = self.rng.sample(self.peers, 2)
        meta = await self.hub.create_session(
            creator_id=a.agent_id, manifest_type=self.rng.choice(TYPES), participants=[b.agent_id]
        )
        return meta.session_id

    async def slot(self, first: str | None) -> None:
        """One of the concurrent session loops: finish ``first``, then keep opening new ones."""
        if first is not None:
            await self.drive(first)
        while self.running():
            await self.drive(await self.open_one())


async def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("--run", type=int, required=True)
    ap.add_argument("--mode", choices=("load", "drain"), required=True)
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--peers", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=30.0)
    args = ap.parse_args(argv)

    store = open_store(args.store)
    hub = await Hub.open(
        store, ttl_sweep_interval=0, expectation_sweep_interval=0, invite_ack_timeout=30
    )
    try:
        live = await hub.list_sessions(limit=1_000_000)
        for meta in live:
            sid = meta.session_id
            wal = await hub.read_wal(sid)
            last = wal[-1].sequence if wal else 0
            emit(f"LIVE {sid} {last} {state_json(hub.adapter_state(sid))}")
        emit("READY")
        peers = [await RawPeer(hub, f"r{args.run}-p{i}").start() for i in range(args.peers)]
        worker = Worker(hub, peers, random.Random(args.seed), time.monotonic() + args.max_seconds)
        found = [m.session_id for m in live]
        if args.mode == "drain":
            await asyncio.gather(*(worker.drive(sid) for sid in found))
            emit("DONE")
        else:
            starts: list[Any] = found[: args.sessions]
            starts += [None] * (args.sessions - len(starts))
            leftover = found[args.sessions :]
            await asyncio.gather(
                *(worker.slot(s) for s in starts), *(worker.drive(s) for s in leftover)
            )
        for peer in peers:
            await peer.stop()
    finally:
        await hub.close()
        await store.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
