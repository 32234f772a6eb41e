"""Expectations: bob never acks the invite; 2 s later the hub closes the session.

A session type's manifest carries promises the hub checks (spec §13). Here the hub's
consulting manifest promises ``acks_within(2 s, auto_close)``
(:class:`QuickAcksConsulting`, which :func:`setup_hub` registers in place of the
built-in one, whose promise is 30 s; every client gets the same adapter,
:func:`adapters`). ``setup_hub`` also makes the hub wait 30 s for invite acks —
well past the promise, so the expectation decides, not the handshake timeout — and
runs the hub's expectation sweep every 0.25 s instead of every 10 s.

Alice first consults carol, who acks at once and answers: the promise is kept and
the session completes. Then she invites bob, whose client replaces the default
handler with one that ignores everything (so no ack). About 2 s later the sweep
finds the promise broken: the open fails, the session is CLOSED with
``expectation_violated:acks_within``, and the audit log holds the violation (bob's
only). Alice's side (``drive``) is plain client code and reports what she sees: the
failed open, who never acked, after how long (the hub's clock), and the audit log's
violations — which she may read because her connection is the operator's
(``OPERATOR = True``, as in ``08_audit_inspector.py``). Carol is a role of her own
(her own process with ``--processes``); silent bob is registered on alice's
connection, since his handler is code of the driver's process.

    python examples/07_expectations.py              # one process
    python examples/07_expectations.py --processes  # hubbub serve + a process per agent
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import harness

from hubbub import Agent
from hubbub.cli.remote import RemoteStore
from hubbub.network import (
    AUDIT_KIND_EXPECTATION_VIOLATED,
    AgentClient,
    ConsultingAdapter,
    Envelope,
    Expectation,
    Hub,
    Passport,
    ProtocolError,
    Resume,
)
from hubbub.network.clock import iso_to_seconds
from hubbub.network.hub.reader import StoreReader

ACKS_WITHIN = 2.0  # seconds the manifest allows an invitee to ack
INVITE_ACK_TIMEOUT = 30.0  # seconds the hub's handshake waits: well past the promise
SWEEP_EVERY = 0.25  # seconds between the hub's expectation sweeps
QUESTION = "Carol, can you ack an invite within 2 s?"
OFFLINE = {"alice": "unused", "carol": "Yes: I acked at once."}


class QuickAcksConsulting(ConsultingAdapter):
    """The built-in consulting session, whose invitees must ack within ``ACKS_WITHIN``."""

    def __init__(self) -> None:
        super().__init__()  # same (type, version): this replaces the built-in
        others = [e for e in self.manifest.expectations if e.name != "acks_within"]
        quick = Expectation("acks_within", "auto_close", {"seconds": ACKS_WITHIN})
        self.manifest = dataclasses.replace(self.manifest, expectations=[quick, *others])


async def setup_hub(hub: Hub) -> None:
    """The hub side (operator code): the quick-ack consulting type, an invite timeout
    longer than the expectation, and an expectation sweep every ``SWEEP_EVERY`` seconds
    in place of the built-in one (a sweeper of the hub's own: it stops it when it closes)."""
    hub.register_adapter(QuickAcksConsulting())
    hub.invite_ack_timeout = INVITE_ACK_TIMEOUT
    await hub.unregister_sweeper("expectations")  # the built-in one (every 10 s), awaited
    hub.register_sweeper("expectations", SWEEP_EVERY, hub.check_expectations)


def adapters() -> list[ConsultingAdapter]:
    """The clients' side of the same session type."""
    return [QuickAcksConsulting()]


class Expected(harness.Outcome):
    """The outcome, then the audit log's violations one a line (``extra["audit"]``)."""

    def show(self) -> None:
        for name, text in self.transcript:
            print(f"{name}: {text}")
        for key, value in self.extra.items():
            if key != "audit":
                print(f"{key}: {value!r}")
        print(f"closed: {self.reason!r}")
        for line in self.extra["audit"]:
            print(f"audit: {line}")


async def violations(me: AgentClient) -> list[str]:
    """The audit log's expectation violations, one line each (agent ids shown as names),
    read over ``me``'s connection (operator only: else access_denied)."""
    records, _ = await StoreReader(RemoteStore(me.hub_client, "the hub")).audit()
    lines = []
    for r in records:
        if r["kind"] != AUDIT_KIND_EXPECTATION_VIOLATED:
            continue
        violators = [(await me.hub_client.get_agent(v)).name for v in r["violators"]]
        lines.append(
            f"{r['expectation']} -> {r['on_violation']}, violators={violators}, "
            f"threshold={r['detail'].get('threshold_seconds')}"
        )
    return lines


def make(name: str) -> Agent:
    """The agent of one role (built in the process that runs it)."""
    return Agent(name, config=harness.model(OFFLINE[name]))


ROLES = [harness.Role(name, functools.partial(make, name)) for name in OFFLINE]
DRIVER = "alice"
OPERATOR = True  # alice's connection is the operator's: she may read the audit log


async def drive(alice: AgentClient) -> harness.Outcome:
    """Consult carol; then register a silent bob on alice's connection and invite him to a
    consulting session: how the open ended, who never acked, after how long, and the
    audit log's violations."""
    session = await alice.open(type="consulting", target="carol")
    await session.send(QUESTION)
    kept = await harness.wait_closed(alice, session.session_id)
    answered = await harness.transcript(alice, session.session_id)

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
    (meta,) = [
        m
        for m in await alice.list_sessions(include_terminal=True)
        if m.is_participant(bob.agent_id)
    ]
    unacked = [(await alice.hub_client.get_agent(i)).name for i in meta.pending_acks]
    elapsed = iso_to_seconds(meta.closed_at or meta.created_at) - iso_to_seconds(meta.created_at)
    extra: dict[str, Any] = {
        "carol's session": kept,
        "open failed": failed,
        "state": meta.state.value,
        "unacked": unacked,
        "elapsed": round(elapsed, 1),
        "audit": await violations(alice),
    }
    return Expected(meta.close_reason, answered, extra)


harness.main(__name__)
