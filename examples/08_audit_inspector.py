"""Audit inspector: run a consulting Q&A, then print every audit record the hub wrote.

The audit log records what the hub decided (registrations, record changes,
session creation and ends, expectation violations, turn failures), one JSON line
per record with ``at`` and ``kind``. Sends are in the WALs, not the audit log.
A custom sink can take over with ``hub.replace_audit_log(...)``.

    python examples/08_audit_inspector.py
"""

from __future__ import annotations

import asyncio
from typing import Any

from hubbub import Agent
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import (
    EV_SESSION_CLOSED,
    Hub,
    HubClient,
    LocalLink,
    MockClock,
    Passport,
    Resume,
)
from hubbub.testing import TestConfig


def describe(record: dict[str, Any], names: dict[str, str]) -> str:
    """One line: time, kind, then the other fields (agent ids shown as names)."""

    def show(value: Any) -> str:
        if isinstance(value, list):
            return "[" + ", ".join(show(v) for v in value) + "]"
        return names.get(value, str(value)) if isinstance(value, str) else repr(value)

    fields = " ".join(
        f"{k}={show(v)}" for k, v in sorted(record.items()) if k not in ("at", "kind", "session_id")
    )
    return f"{record['at']} {record['kind']:<17} {fields}".rstrip()


async def main() -> None:
    hub = await Hub.open(MemoryKnowledgeStore(), clock=MockClock(), ttl_sweep_interval=0)
    link = LocalLink(hub)
    alice_hc = HubClient(link, hub=hub)
    bob_hc = HubClient(link, hub=hub)
    alice = await alice_hc.register(
        Agent("alice", config=TestConfig("unused")), Passport(name="alice"), Resume()
    )
    bob = await bob_hc.register(
        Agent("bob", config=TestConfig("Fault tolerance.")), Passport(name="bob"), Resume()
    )
    session = await alice.open(type="consulting", target="bob")
    await session.send("What's the most important property of a distributed system?")
    await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=60.0,
    )

    names = {alice.agent_id: "alice", bob.agent_id: "bob"}
    records = await hub.audit_log.read_all()
    print(f"{len(records)} audit records")
    for record in records:
        print(describe(record, names))

    await alice_hc.close()
    await bob_hc.close()
    await hub.close()


if __name__ == "__main__":
    asyncio.run(main())
