"""Both seeds with the hub and each agent in its own process, over WebSocket on loopback.

The hub is ``hubbub serve`` on an SQLite file; bob and alice are
``examples/processes/agent.py`` processes, each with its own token (so its own
principal). bob starts first and says ``ready``; alice runs the seed's flow and
prints what the seed prints, from the WAL she reads as a participant over the
wire. Once the hub exited (SIGTERM, status 0), the SQLite file is opened with a
fresh hub and its WAL must say the same.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from tests.processes._children import Children, Exited, children, read_back, stop

from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_OPENED,
    EV_TEXT,
)

QUESTION = "What's the single most important property of a distributed system?"
ANSWER = (
    "Fault tolerance — because a system that can't survive partial failures "
    "defeats its entire purpose."
)
OPENER = "Hi bob, what's a good first ML concept to learn?"
NOVICE = "Thanks! What should I learn right after that?"
EXPERT = "Linear regression: it teaches loss, gradients and overfitting in one small model."


async def run_seed(kids: Children, seed: str, url: str) -> tuple[Exited, str, str]:
    """bob, then alice, as two processes; alice's output, bob's agent id, the session id."""
    bob = await kids.agent(seed, "bob", url)
    bob_id = (await bob.expect("ready: bob ")).removeprefix("ready: bob ")
    alice = await kids.agent(seed, "alice", url)
    said = await alice.wait(45)
    assert said.returncode == 0, alice.describe()
    bob_said = await bob.wait()
    assert bob_said.returncode == 0, bob.describe()
    (closed,) = bob_said.lines  # "bob: session SESSION_ID closed: 'REASON'"
    session_id = closed.removeprefix("bob: session ").split(" ", 1)[0]
    reason = said.lines[0].removeprefix("closed: ")
    assert closed == f"bob: session {session_id} closed: {reason}"  # both saw the same close
    return said, bob_id, session_id


async def test_quick_start_seed_across_processes(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/hub.db"
    async with children() as kids:
        hub, url = await kids.hub(db)
        said, bob_id, session_id = await run_seed(kids, "quick_start", url)
        await stop(hub)

    assert said.stderr == ""  # no warning, no error
    assert said.lines == [
        "closed: 'consulting_complete'",
        f"alice: {QUESTION}",
        f"bob: {ANSWER}",
    ]
    stored = await read_back(db, session_id, ("alice", "bob"))
    alice_id = stored.agent_ids["alice"]
    assert stored.agent_ids["bob"] == bob_id
    assert [(e.event_type, e.sender_id) for e in stored.wal if e.event_type == EV_TEXT] == [
        (EV_TEXT, alice_id),
        (EV_TEXT, bob_id),
    ]
    assert [e.event_data["text"] for e in stored.wal if e.event_type == EV_TEXT] == [
        QUESTION,
        ANSWER,
    ]
    question = next(e for e in stored.wal if e.event_type == EV_TEXT)
    assert question.audience == [bob_id]  # as the seed sends it
    assert [e.event_type for e in stored.wal] == [
        EV_SESSION_INVITE,
        EV_SESSION_INVITE_ACK,
        EV_SESSION_OPENED,
        EV_TEXT,
        EV_TEXT,
        EV_SESSION_CLOSED,
    ]
    assert stored.wal[-1].event_data["reason"] == "consulting_complete"


async def test_conversation_seed_across_processes(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/hub.db"
    async with children() as kids:
        hub, url = await kids.hub(db)
        said, bob_id, session_id = await run_seed(kids, "conversation", url)
        await stop(hub)

    assert said.lines == [
        "closed: 'explicit_close'",
        f"alice: {OPENER}",
        f"bob: {EXPERT}",
        f"alice: {NOVICE}",
        f"bob: {EXPERT}",
        f"alice: {NOVICE}",
        f"bob: {EXPERT}",
    ]
    stored = await read_back(db, session_id, ("alice", "bob"))
    alice_id = stored.agent_ids["alice"]
    assert stored.agent_ids["bob"] == bob_id
    text = [e for e in stored.wal if e.event_type == EV_TEXT]
    assert len(text) >= 6  # replies in flight at the close may have landed before it
    speakers = [e.sender_id for e in text]
    assert speakers[:6] == [alice_id, bob_id] * 3
    assert all(a != b for a, b in itertools.pairwise(speakers))  # strictly turn about
    assert [e.event_data["text"] for e in text[:6]] == [
        line.split(": ", 1)[1] for line in said.lines[1:]
    ]
    assert stored.wal[-1].event_type == EV_SESSION_CLOSED  # nothing accepted after the close
    assert stored.wal[-1].event_data["reason"] == "explicit_close"
    sequences = [e.sequence for e in stored.wal]
    assert sequences == list(range(sequences[0], sequences[0] + len(sequences)))  # no gap
