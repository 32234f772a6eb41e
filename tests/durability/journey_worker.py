"""Restart journeys in their own processes, for ``test_restart_journeys.py``.

    python journey_worker.py quick-start DB   # examples/quick_start.py on a SQLite file
    python journey_worker.py converse DB      # a conversation that goes on until killed
    python journey_worker.py resume DB        # restart: re-register both, finish the conversation

``quick-start`` runs the example's ``main()`` unchanged except that its hub is
opened on ``DB`` (so the hub owns and closes a ``SqliteKnowledgeStore``), then
registers alice once more and prints what she can list::

    AGENT <name> <agent_id>
    SESSION <session_id> <state>          (alice.list_sessions(include_terminal=True))

``converse`` registers alice (no handler) and bob (default handler, scripted
model), opens a conversation and keeps asking: after each post returned
(durable) it prints ``ACK <sequence> <envelope_id> <sender_name>``; after each
answer it prints ``ROUND <n>``. It never ends by itself.

``resume`` opens the hub again, re-registers alice and bob, checks their ids and
the adopted session, has alice ask once more, waits for bob's answer, closes
the session and prints ``ACK`` lines, ``HISTORY <texts bob's model saw>`` and
``DONE``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hubbub import Agent  # noqa: E402
from hubbub.knowledge.sqlite import SqliteKnowledgeStore  # noqa: E402
from hubbub.network import (  # noqa: E402
    EV_TEXT,
    Envelope,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
)
from hubbub.network.client import AgentClient  # noqa: E402
from hubbub.testing import TestConfig, TrackingConfig  # noqa: E402

HUB_KW: dict[str, Any] = {"ttl_sweep_interval": 0, "expectation_sweep_interval": 0}
AFTER_RESTART = "Still here after the restart?"
LAST_ANSWER = "Yes: same ids, same session."


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def _ignore(envelope: Envelope) -> None:
    """alice answers nobody: the worker drives her."""


def open_store(db: str) -> SqliteKnowledgeStore:
    return SqliteKnowledgeStore(db, synchronous="NORMAL")  # survives kill -9 (WAL journal)


async def quick_start(db: str) -> None:
    spec = importlib.util.spec_from_file_location(
        "quick_start", ROOT / "examples" / "quick_start.py"
    )
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    # Hub.open(path): the hub runs on (and closes) its own SQLite store at ``db``.
    setattr(example, "MemoryKnowledgeStore", lambda: db)  # noqa: B010
    await example.main()
    hub = await Hub.open(db, **HUB_KW)
    hc = HubClient(LocalLink(hub), hub=hub)
    try:
        config = TestConfig("unused")
        alice = await hc.register(Agent("alice", config=config), Passport(name="alice"), Resume())
        for p in await hub.list_agents(sort_by="name"):
            emit(f"AGENT {p.name} {p.agent_id}")
        for meta in await alice.list_sessions(include_terminal=True):
            emit(f"SESSION {meta.session_id} {meta.state.value}")
    finally:
        await hc.close()
        await hub.close()


async def register_pair(
    hub: Hub, bob_config: Any
) -> tuple[list[HubClient], AgentClient, AgentClient]:
    alice_hc = HubClient(LocalLink(hub), hub=hub)
    bob_hc = HubClient(LocalLink(hub), hub=hub)
    alice = await alice_hc.register(
        Agent("alice", prompt="Ask.", config=TestConfig("unused")), Passport(name="alice"), Resume()
    )
    alice.on_envelope(_ignore)
    bob = await bob_hc.register(
        Agent("bob", prompt="Answer in one sentence.", config=bob_config),
        Passport(name="bob"),
        Resume(),
    )
    emit(f"AGENT alice {alice.agent_id}")
    emit(f"AGENT bob {bob.agent_id}")
    return [alice_hc, bob_hc], alice, bob


async def ask(alice: AgentClient, bob: AgentClient, session_id: str, text: str) -> Envelope:
    """alice posts ``text`` and waits for bob's answer; both ACKed."""
    stamped = await alice.post(Envelope(session_id, alice.agent_id, None, EV_TEXT, {"text": text}))
    emit(f"ACK {stamped.sequence} {stamped.envelope_id} alice")
    answer = await alice.wait_for_session_event(
        session_id=session_id,
        predicate=lambda e: e.event_type == EV_TEXT and e.sender_id == bob.agent_id,
        timeout=30,
    )
    emit(f"ACK {answer.sequence} {answer.envelope_id} bob")
    return answer


async def converse(db: str) -> None:
    store = open_store(db)
    hub = await Hub.open(store, **HUB_KW)
    bob_config = TestConfig(*(f"answer {i}" for i in range(1, 1000)))
    _, alice, bob = await register_pair(hub, bob_config)
    session = await alice.open(type="conversation", target="bob")
    emit(f"SESSION {session.session_id}")
    n = 0
    while True:  # until killed
        n += 1
        await ask(alice, bob, session.session_id, f"question {n}")
        emit(f"ROUND {n}")


async def resume(db: str) -> None:
    store = open_store(db)
    hub = await Hub.open(store, **HUB_KW)
    tracking = TrackingConfig(TestConfig(LAST_ANSWER))
    clients, alice, bob = await register_pair(hub, tracking)
    try:
        (meta,) = await alice.list_sessions()
        emit(f"SESSION {meta.session_id}")
        assert meta.session_id in bob._records, "bob did not adopt the live session"
        await ask(alice, bob, meta.session_id, AFTER_RESTART)
        closed = await alice.close_session(meta.session_id, reason="journey_done")
        emit(f"CLOSED {closed.session_id} {closed.state.value}")
        (call,) = tracking.calls
        seen = [m for m in call.messages if "question" in repr(m) or "answer" in repr(m)]
        emit(f"HISTORY {len(seen)}")
        emit("DONE")
    finally:
        for hc in clients:
            await hc.close()
        await hub.close()
        await store.close()


def main(argv: list[str]) -> int:
    command, db = argv
    run = {"quick-start": quick_start, "converse": converse, "resume": resume}[command]
    asyncio.run(run(db))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
