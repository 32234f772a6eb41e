"""Arbiters: the swappable decisions of who may register, open, send, receive (spec §15).

Every access decision the hub takes about a client's request goes through the
hub's one :class:`HubArbiter` (``hub.arbiter``; ``hub.register_arbiter`` replaces
it). Each method returns :class:`Allow` or :class:`Deny`; a Deny reaches the caller
as ``deny.error(deny.reason, code=deny.code)`` — in-process and over the wire, with
the error's stable ``code`` — except at dispatch, where a denied recipient is
silently skipped (listeners hear ``on_dispatch_failed``).

The methods are synchronous and must not block: they run inside the post pipeline
for every envelope. An arbiter that needs outside data keeps a cache of it.

* :class:`BaseHubArbiter` allows everything (subclass it and override what you decide);
* :class:`RuleBasedArbiter` (the default) enforces each agent's :class:`Rule`
  (spec §4.4): ``session_types``, ``inbound_from`` and ``max_concurrent_sessions``
  at open, ``delegation_depth`` and ``outbound_to`` at send, ``inbox.max_pending``
  per recipient, ``inbound_from`` at dispatch. Subclass it and call ``super()`` to
  add a check to the rules.

Protocol checks that are not policy stay in the hub: the sender is a participant,
hub-only event types, the audience names participants, the send rate
(``Rule.limits.rate``, a token bucket with retry-after), the adapter's
``validate_send``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from hubbub.network.envelope import Envelope
from hubbub.network.errors import AccessDeniedError, InboxFull, NetworkError
from hubbub.network.identity import Passport
from hubbub.network.rule import Rule
from hubbub.network.session import SessionManifest

__all__ = [
    "ALLOW",
    "Allow",
    "BaseHubArbiter",
    "Deny",
    "HubArbiter",
    "RuleBasedArbiter",
    "Verdict",
    "glob_match",
]


def glob_match(name: str, patterns: list[str]) -> bool:
    """Return True if ``name`` matches any fnmatch pattern."""
    if "*" in patterns:  # the default rule: one C-level scan, no pattern matching
        return True
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


@dataclass(frozen=True, slots=True)
class Allow:
    """The request may go ahead."""

    allowed: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class Deny:
    """The request is refused: the caller gets ``error(reason, code=code)``.

    Attributes:
        reason: the message the caller sees (name what was refused and why).
        error: the :class:`NetworkError` subclass raised (default ``AccessDeniedError``;
            ``authorize_inbox`` denials of the rule-based arbiter use ``InboxFull``).
        code: a stable code more specific than the error class's own (None: the class's).
            A client (in-process or remote: both go through the protocol) rebuilds
            the error from its code, so a code of your own arrives as a
            ``NetworkError`` with that code; without one the error's class arrives.
    """

    reason: str
    error: type[NetworkError] = AccessDeniedError
    code: str | None = None

    allowed: ClassVar[bool] = False

    def exception(self) -> NetworkError:
        """The error the caller gets."""
        return self.error(self.reason, code=self.code)


Verdict = Allow | Deny

#: The shared Allow (Allow has no fields: one value serves every call).
ALLOW = Allow()


@runtime_checkable
class HubArbiter(Protocol):
    """The hub's access decisions; see the module docstring."""

    def authorize_register(self, passport: Passport, rule: Rule, principal: str) -> Verdict:
        """May ``principal`` register ``passport`` (to be governed by ``rule``)?"""
        ...

    def authorize_session_open(
        self,
        manifest: SessionManifest,
        creator: Passport,
        creator_rule: Rule,
        invitees: Sequence[Passport],
        invitee_rules: Sequence[Rule],
        active_creator_sessions: int,
    ) -> Verdict:
        """May ``creator`` open a ``manifest`` session with ``invitees``?

        ``active_creator_sessions`` is how many live sessions the creator is in.
        """
        ...

    def authorize_send(
        self,
        envelope: Envelope,
        sender: Passport,
        sender_rule: Rule,
        recipients: Sequence[Passport],
    ) -> Verdict:
        """May ``sender`` post ``envelope`` to ``recipients`` (everyone it would reach)?"""
        ...

    def authorize_inbox(
        self,
        envelope: Envelope,
        recipient: Passport,
        recipient_rule: Rule,
        current_pending: int,
    ) -> Verdict:
        """Does ``recipient``'s inbox take ``envelope`` with ``current_pending`` unreceipted?"""
        ...

    def authorize_dispatch(
        self,
        envelope: Envelope,
        sender: Passport | None,
        recipient: Passport | None,
        recipient_rule: Rule | None,
    ) -> Verdict:
        """Is the durable ``envelope`` delivered to ``recipient``? (None: unregistered since.)"""
        ...

    def resolve_unknown_audience(
        self, envelope: Envelope, unknown_ids: list[str]
    ) -> list[str] | None:
        """``envelope.audience`` names non-participants: the ids to use instead, or None.

        The returned ids replace the unknown ones (they must be participants; an
        empty list drops them); None refuses the envelope (``bad_envelope``).
        """
        ...


class BaseHubArbiter:
    """An arbiter that allows everything and resolves no unknown audience."""

    def authorize_register(self, passport: Passport, rule: Rule, principal: str) -> Verdict:
        """Allow."""
        return ALLOW

    def authorize_session_open(
        self,
        manifest: SessionManifest,
        creator: Passport,
        creator_rule: Rule,
        invitees: Sequence[Passport],
        invitee_rules: Sequence[Rule],
        active_creator_sessions: int,
    ) -> Verdict:
        """Allow."""
        return ALLOW

    def authorize_send(
        self,
        envelope: Envelope,
        sender: Passport,
        sender_rule: Rule,
        recipients: Sequence[Passport],
    ) -> Verdict:
        """Allow."""
        return ALLOW

    def authorize_inbox(
        self,
        envelope: Envelope,
        recipient: Passport,
        recipient_rule: Rule,
        current_pending: int,
    ) -> Verdict:
        """Allow."""
        return ALLOW

    def authorize_dispatch(
        self,
        envelope: Envelope,
        sender: Passport | None,
        recipient: Passport | None,
        recipient_rule: Rule | None,
    ) -> Verdict:
        """Allow."""
        return ALLOW

    def resolve_unknown_audience(
        self, envelope: Envelope, unknown_ids: list[str]
    ) -> list[str] | None:
        """None: the envelope is refused."""
        return None


class RuleBasedArbiter(BaseHubArbiter):
    """The default arbiter: every agent's :class:`Rule` (spec §4.4)."""

    def authorize_session_open(
        self,
        manifest: SessionManifest,
        creator: Passport,
        creator_rule: Rule,
        invitees: Sequence[Passport],
        invitee_rules: Sequence[Rule],
        active_creator_sessions: int,
    ) -> Verdict:
        """``session_types.initiate`` of the creator; ``inbound_from`` and
        ``session_types.accept`` of each invitee; the creator's ``max_concurrent_sessions``."""
        kind = manifest.type
        if not glob_match(kind, creator_rule.access.session_types.initiate):
            return Deny(f"{creator.name} may not initiate {kind!r} sessions")
        for invitee, rule in zip(invitees, invitee_rules, strict=True):
            if not glob_match(creator.name, rule.access.inbound_from):
                return Deny(f"{invitee.name} does not accept sessions from {creator.name}")
            if not glob_match(kind, rule.access.session_types.accept):
                return Deny(f"{invitee.name} does not accept {kind!r} sessions")
        cap = creator_rule.limits.max_concurrent_sessions
        if cap and active_creator_sessions >= cap:
            return Deny(
                f"{creator.name} already has {cap} active sessions (max_concurrent_sessions)"
            )
        return ALLOW

    def authorize_send(
        self,
        envelope: Envelope,
        sender: Passport,
        sender_rule: Rule,
        recipients: Sequence[Passport],
    ) -> Verdict:
        """``delegation_depth``; ``outbound_to`` for each member of an explicit audience."""
        depth_cap = sender_rule.limits.delegation_depth
        if depth_cap and envelope.depth > depth_cap:
            return Deny(
                f"delegation depth {envelope.depth} exceeds the limit of {depth_cap} for "
                f"{sender.name} (Rule.limits.delegation_depth)",
                code="delegation_too_deep",
            )
        if envelope.audience is not None:  # a broadcast skips outbound_to (spec §4.4)
            outbound = sender_rule.access.outbound_to
            for peer in recipients:
                if not glob_match(peer.name, outbound):
                    return Deny(f"{sender.name} may not send to {peer.name} (outbound_to)")
        return ALLOW

    def authorize_inbox(
        self,
        envelope: Envelope,
        recipient: Passport,
        recipient_rule: Rule,
        current_pending: int,
    ) -> Verdict:
        """``inbox.max_pending`` (0 disables): a full inbox refuses with ``InboxFull``."""
        cap = recipient_rule.limits.inbox.max_pending
        if cap and current_pending >= cap:
            return Deny(
                f"inbox of {recipient.name} ({recipient.agent_id}) is full "
                f"({current_pending}/{cap} pending)",
                error=InboxFull,
            )
        return ALLOW

    def authorize_dispatch(
        self,
        envelope: Envelope,
        sender: Passport | None,
        recipient: Passport | None,
        recipient_rule: Rule | None,
    ) -> Verdict:
        """The recipient's ``inbound_from`` matches the sender's name."""
        if (
            recipient_rule is None
            or sender is None
            or glob_match(sender.name, recipient_rule.access.inbound_from)
        ):
            return ALLOW
        return Deny(
            f"{getattr(recipient, 'name', '?')} does not accept envelopes from {sender.name}"
        )
