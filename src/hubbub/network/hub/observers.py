"""Observers: connections that watch a session's envelopes (the inspector, the CLI, tools).

A subscription names a session (or, for the operator, every session), optionally
a set of event types, and where to start (``since_envelope_id``: what the WAL holds
after that envelope comes first). A participant's connection sees what its agents
may see; the operator's connection sees everything. Every envelope the hub makes
durable goes to the matching observers — invite answers included — in WAL order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hubbub.network.envelope import Envelope, visible_to

__all__ = ["Observer"]


@dataclass(slots=True)
class Observer:
    """One subscription of one connection."""

    endpoint: Any  # has observe(subscription_id, envelope)
    subscription_id: str
    session_id: str | None
    event_types: frozenset[str] | None
    viewers: frozenset[str] | None  # agents whose view it gets; None: everything (operator)
    held: list[Envelope] | None = field(default_factory=list)  # live ones during the backfill
    last: dict[str, int] = field(default_factory=dict)  # session → last sequence sent

    def wants(self, env: Envelope) -> bool:
        """Does this subscription take ``env``?"""
        if self.session_id is not None and env.session_id != self.session_id:
            return False
        if self.event_types is not None and env.event_type not in self.event_types:
            return False
        return self.viewers is None or any(visible_to(env, v) for v in self.viewers)

    def offer(self, env: Envelope) -> None:
        """A durable envelope: send it (or hold it while the backfill runs)."""
        if self.held is not None:
            self.held.append(env)
        elif self.wants(env):
            self._send(env)

    def backfill(self, envelopes: list[Envelope]) -> None:
        """Send what the WAL held, then the live envelopes held meanwhile (no duplicates)."""
        for env in envelopes:
            if self.wants(env):
                self._send(env)
        held, self.held = self.held or [], None
        for env in held:
            if self.wants(env):
                self._send(env)

    def _send(self, env: Envelope) -> None:
        if env.sequence and env.sequence <= self.last.get(env.session_id, 0):
            return
        self.last[env.session_id] = env.sequence
        self.endpoint.observe(self.subscription_id, env)
