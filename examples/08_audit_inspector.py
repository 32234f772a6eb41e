"""Audit inspector: run a consulting Q&A, then print every audit record the hub wrote.

The audit log records what the hub decided (registrations, record changes,
session creation and ends, expectation violations, turn failures), one JSON line
per record with ``at`` and ``kind``. Sends are in the WALs, not the audit log.
A custom sink can take over with ``hub.replace_audit_log(...)``.

The audit log is the operator's. Alice reads it over the protocol the way
``hubbub audit --hub URL --token OPERATOR_TOKEN`` does (the ``store_*`` read
operations), which the hub answers only for the operator principal: the example
says ``OPERATOR = True``, so her connection is the operator's in both modes (in one
process her LocalLink; with ``--processes`` her token is an ``--operator-token`` of
``hubbub serve``). Any other agent's connection gets ``access_denied``.

    python examples/08_audit_inspector.py              # one process
    python examples/08_audit_inspector.py --processes  # hubbub serve + a process per agent
"""

from __future__ import annotations

import functools
from typing import Any

import harness

from hubbub import Agent
from hubbub.cli.remote import RemoteStore
from hubbub.network import AgentClient
from hubbub.network.hub.reader import StoreReader

QUESTION = "What's the most important property of a distributed system?"
OFFLINE = {"alice": "unused", "bob": "Fault tolerance."}


def make(name: str) -> Agent:
    """The agent of one role (built in the process that runs it)."""
    return Agent(name, config=harness.model(OFFLINE[name]))


ROLES = [harness.Role(name, functools.partial(make, name)) for name in OFFLINE]
DRIVER = "alice"
OPERATOR = True  # alice's connection is the operator's: she may read the audit log


class Trail(harness.Outcome):
    """The outcome, shown with its trail one record a line (``extra``: trail)."""

    def show(self) -> None:
        for name, text in self.transcript:
            print(f"{name}: {text}")
        print(f"{len(self.extra['trail'])} audit records")
        for line in self.extra["trail"]:
            print(line)
        print(f"closed: {self.reason!r}")


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


async def audit_log(me: AgentClient) -> list[dict[str, Any]]:
    """Every audit record, read over ``me``'s connection (operator only: else access_denied)."""
    records, _ = await StoreReader(RemoteStore(me.hub_client, "the hub")).audit()
    return records


async def drive(alice: AgentClient) -> harness.Outcome:
    """Ask bob one question, wait for the end; then every record of the audit log."""
    session = await alice.open(type="consulting", target="bob")
    await session.send(QUESTION)
    reason = await harness.wait_closed(alice, session.session_id)
    ids = await harness.agent_ids(alice, list(OFFLINE))
    names = {agent_id: name for name, agent_id in ids.items()}
    records = await audit_log(alice)
    return Trail(
        reason,
        await harness.transcript(alice, session.session_id),
        {"trail": [describe(r, names) for r in records]},
    )


harness.main(__name__)
