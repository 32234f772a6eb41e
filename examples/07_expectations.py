"""Expectations: bob never acks the invite; 45 s later the hub closes the session.

The consulting manifest promises ``acks_within(30 s, auto_close)``. Bob's client
replaces the default handler with one that ignores everything (so no ack), the
hub runs on a mock clock with its sweepers off, and the example advances the
clock 45 s and runs one expectation sweep itself (``hub.check_expectations()``):
the open fails, the session is CLOSED with ``expectation_violated:acks_within``,
and the audit log holds the violation.

    python examples/07_expectations.py
"""

from __future__ import annotations

import asyncio

from hubbub import Agent
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import (
    AUDIT_KIND_EXPECTATION_VIOLATED,
    EV_SESSION_INVITE,
    Envelope,
    Hub,
    HubClient,
    LocalLink,
    MockClock,
    Passport,
    ProtocolError,
    Resume,
)
from hubbub.testing import TestConfig


async def main() -> None:
    clock = MockClock()
    hub = await Hub.open(
        MemoryKnowledgeStore(),
        clock=clock,
        ttl_sweep_interval=0,
        expectation_sweep_interval=0,  # the example runs the sweep itself
        invite_ack_timeout=300,  # longer than the expectation: the expectation decides
    )
    link = LocalLink(hub)
    alice_hc = HubClient(link, hub=hub)
    bob_hc = HubClient(link, hub=hub)
    alice = await alice_hc.register(
        Agent("alice", config=TestConfig("unused")), Passport(name="alice"), Resume()
    )
    bob = await bob_hc.register(
        Agent("bob", config=TestConfig("unused")),
        Passport(name="bob"),
        Resume(),
        attach_plugin=False,
    )
    invited = asyncio.Event()

    @bob.on_envelope
    async def silent(envelope: Envelope) -> None:  # never acks, never answers
        if envelope.event_type == EV_SESSION_INVITE:
            invited.set()

    opening = asyncio.create_task(alice.open(type="consulting", target="bob"))
    await invited.wait()
    clock.advance(45)
    await hub.check_expectations()
    try:
        await opening
    except ProtocolError as exc:
        print(f"open failed: {exc}")

    (meta,) = await hub.list_sessions(include_terminal=True)
    print(f"session {meta.state.value}: {meta.close_reason!r}")
    for record in await hub.audit_log.read_all():
        if record["kind"] == AUDIT_KIND_EXPECTATION_VIOLATED:
            violators = ["bob" if v == bob.agent_id else v for v in record["violators"]]
            print(
                f"audit: {record['expectation']} -> {record['on_violation']}, "
                f"violators={violators}, elapsed={record['detail'].get('elapsed_seconds')}"
            )

    await alice_hc.close()
    await bob_hc.close()
    await hub.close()


if __name__ == "__main__":
    asyncio.run(main())
