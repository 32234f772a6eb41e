"""Expectations: bob never acks the invite; 45 s later the hub closes the session.

The consulting manifest promises ``acks_within(30 s, auto_close)``. Bob's client
replaces the default handler with one that ignores everything (so no ack). The hub
runs on a mock clock with its sweepers off (:func:`open_hub`), and the operator
advances the clock 45 s once the invite waits and runs one expectation sweep itself
(``hub.check_expectations()``, :func:`fast_forward`): the open fails, the session is
CLOSED with ``expectation_violated:acks_within``, and the audit log holds the
violation. Alice's side (``drive``) is plain client code and reports what she sees:
the failed open, who never acked, and when.

    python examples/07_expectations.py   # one process

The clock and the sweep are the hub's, and ``hubbub serve`` runs a real clock whose
invite timeout (30 s) is as long as the expectation, with no option to change
either, so this example does not run with ``--processes``; its test runs alice over
WebSocket instead.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import harness

from hubbub import Agent
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import (
    AUDIT_KIND_EXPECTATION_VIOLATED,
    AgentClient,
    Envelope,
    Hub,
    MockClock,
    Passport,
    ProtocolError,
    Resume,
)
from hubbub.network.clock import iso_to_seconds

LATE = 45  # seconds the operator moves the clock on: past the 30 s the manifest allows
NOT_ACROSS_PROCESSES = (
    "--processes: the mock clock and the expectation sweep belong to the hub, and "
    "hubbub serve runs a real clock whose 30 s invite timeout ends the open first"
)


async def open_hub() -> tuple[Hub, MockClock]:
    """The hub side (operator code): a mock clock, no sweepers, and an invite timeout
    longer than the expectation, so the expectation decides."""
    clock = MockClock()
    hub = await Hub.open(
        MemoryKnowledgeStore(),
        clock=clock,
        ttl_sweep_interval=0,
        expectation_sweep_interval=0,  # the operator runs the sweep itself
        invite_ack_timeout=300,
    )
    return hub, clock


async def fast_forward(hub: Hub, clock: MockClock) -> None:
    """The operator: once an invite waits for its ack, move the clock ``LATE`` seconds
    on and run one expectation sweep."""
    while not any(meta.pending_acks for meta in await hub.list_sessions()):  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    clock.advance(LATE)
    await hub.check_expectations()


def violations(records: list[dict[str, Any]], hub: Hub) -> list[str]:
    """The audit log's expectation violations, one line each (agent ids shown as names)."""
    return [
        f"{r['expectation']} -> {r['on_violation']}, "
        f"violators={[hub.name_for(v) for v in r['violators']]}, "
        f"elapsed={r['detail'].get('elapsed_seconds')}"
        for r in records
        if r["kind"] == AUDIT_KIND_EXPECTATION_VIOLATED
    ]


ROLES = [harness.Role("alice", lambda: Agent("alice", config=harness.model("unused")))]
DRIVER = "alice"


async def drive(alice: AgentClient) -> harness.Outcome:
    """Register a silent bob on alice's connection and invite him to a consulting session;
    how the open ended, who never acked and after how long (the hub's clock)."""
    bob = await alice.hub_client.register(
        Agent("bob", config=harness.model("unused")),
        Passport(name="bob"),
        Resume(),
        attach_plugin=False,
    )

    @bob.on_envelope
    async def silent(envelope: Envelope) -> None:
        """Never acks, never answers."""

    failed = ""
    try:
        await alice.open(type="consulting", target="bob")
    except ProtocolError as exc:
        failed = str(exc)
    (meta,) = await alice.list_sessions(include_terminal=True)
    unacked = [(await alice.hub_client.get_agent(i)).name for i in meta.pending_acks]
    elapsed = iso_to_seconds(meta.closed_at or meta.created_at) - iso_to_seconds(meta.created_at)
    return harness.Outcome(
        meta.close_reason,
        [],
        {"open failed": failed, "state": meta.state.value, "unacked": unacked, "elapsed": elapsed},
    )


async def main() -> None:
    hub, clock = await open_hub()
    try:
        outcome, _ = await asyncio.gather(
            harness.run(sys.modules[__name__], hub=hub), fast_forward(hub, clock)
        )
        outcome.show()
        for line in violations(await hub.audit_log.read_all(), hub):
            print(f"audit: {line}")
    finally:
        await hub.close()


if __name__ == "__main__":
    if "--processes" in sys.argv[1:]:
        sys.exit(f"{sys.argv[0]}: {NOT_ACROSS_PROCESSES}")
    asyncio.run(main())
