"""Admission: what a client's envelope must pass before the hub stamps it.

The sender is a participant; the event type is not one only the hub writes;
the sender's rule allows the rate, the delegation depth and the audience; no
recipient's inbox is full. (The session machine then checks the lifecycle and
the adapter's ``validate_send``.) What is logged and delivered is a JSON copy
of the sender's data (:func:`logged_copy`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson

from hubbub.network.envelope import (
    EV_EXPECTATION_VIOLATED,
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_INVITE_REJECT,
    EV_SESSION_OPENED,
    Envelope,
)
from hubbub.network.errors import AccessDeniedError, InboxFull, ProtocolError
from hubbub.network.hub.ratelimit import RateLimiter
from hubbub.network.hub.registry import Registry, glob_match
from hubbub.network.hub.runtime import LiveSession
from hubbub.network.hub.stamps import StampClock
from hubbub.network.jsonvalue import check_json_value

__all__ = ["HUB_ONLY_EVENTS", "Admission", "logged_copy"]

#: Lifecycle events only the hub may write.
HUB_ONLY_EVENTS = frozenset(
    {
        EV_SESSION_INVITE,
        EV_SESSION_OPENED,
        EV_SESSION_CLOSED,
        EV_SESSION_EXPIRED,
        EV_EXPECTATION_VIOLATED,
    }
)


def logged_copy(data: dict[str, Any], where: str = "envelope.event_data") -> dict[str, Any]:
    """``data`` as its JSON encoding decodes: what the hub logs and delivers.

    The copy shares nothing mutable with the sender's objects. A value JSON
    cannot represent (NaN, a set, a lone surrogate, a huge int, ...) is refused.
    A flat object of strings, numbers, booleans and nulls (the common case: a
    text) is copied as it is; anything nested goes through the encoding. (A
    string JSON cannot carry is caught when the WAL line is encoded.)

    Raises:
        ProtocolError: code ``bad_envelope``, naming the path of the bad value.
    """
    for key, value in data.items():
        kind = type(value)
        if type(key) is not str or not (
            kind is str
            or kind is int
            or kind is bool
            or value is None
            or (kind is float and math.isfinite(value))
        ):
            return _encoded_copy(data, where)
    return dict(data)


def _encoded_copy(data: dict[str, Any], where: str) -> dict[str, Any]:
    try:
        raw = orjson.dumps(data)
    except TypeError as exc:
        check_json_value(data, where)
        raise ProtocolError(f"{where} is not JSON: {exc}", code="bad_envelope") from exc
    copy: dict[str, Any] = orjson.loads(raw)
    if copy != data:  # NaN/inf became null, or tuples became lists: find out which
        check_json_value(data, where)
    return copy


class Admission:
    """The checks of a client's envelope; owns the per-agent send rates.

    Args:
        registry: the senders' and recipients' rules and passports.
        inbox: the router's pending-inbox counts by agent id (only read here).
        now: the hub's current time as (ISO string, epoch seconds).
    """

    def __init__(
        self,
        registry: Registry,
        inbox: Mapping[str, int],
        now: StampClock,
    ) -> None:
        self._registry = registry
        self._inbox = inbox
        self._now = now
        self._rates = RateLimiter()

    def forget_rate(self, agent_id: str) -> None:
        """Start an agent's send rate afresh (its rule changed)."""
        self._rates.forget(agent_id)

    def check_send(self, live: LiveSession, env: Envelope) -> None:
        """Identity, participation, access, rate and inbox checks for a client's envelope.

        Raises:
            ProtocolError: a hub-only event (``reserved_event``), an audience member
                who is not a participant (``bad_envelope``), over the rate
                (``rate_limited``, naming when to retry).
            AccessDeniedError: not a participant, a recipient the rule's ``outbound_to``
                does not allow; a depth over ``Rule.limits.delegation_depth`` (code
                ``delegation_too_deep``; 0 disables the cap).
            InboxFull: a recipient has ``inbox.max_pending`` envelopes unreceipted.
        """
        meta = live.machine.meta
        et = env.event_type
        sender = env.sender_id
        if et in HUB_ONLY_EVENTS:
            raise ProtocolError(
                f"envelope.event_type {et!r} is reserved for the hub", code="reserved_event"
            )
        pids = live.machine.pids
        if sender not in pids:
            raise AccessDeniedError(f"{sender} is not a participant of session {meta.session_id}")
        if et in (EV_SESSION_INVITE_ACK, EV_SESSION_INVITE_REJECT):
            return
        reg = self._registry
        rule = reg.rules[sender]
        if rule.limits.rate.per_minute:
            wait = self._rates.take(sender, rule.limits.rate, self._now()[1])
            if wait:
                raise ProtocolError(
                    f"{reg.passports[sender].name} is over its rate of "
                    f"{rule.limits.rate.per_minute} envelopes a minute; retry in {wait:.2f} s",
                    code="rate_limited",
                )
        depth_cap = rule.limits.delegation_depth
        if depth_cap and env.depth > depth_cap:
            raise AccessDeniedError(
                f"delegation depth {env.depth} exceeds the limit of {depth_cap} for "
                f"{reg.passports[sender].name} (Rule.limits.delegation_depth)",
                code="delegation_too_deep",
            )
        audience = env.audience
        if audience:
            for rid in audience:
                if rid == sender:
                    continue
                if rid not in pids:
                    raise ProtocolError(
                        f"envelope.audience member {rid!r} is not a participant of session {meta.session_id}",
                        code="bad_envelope",
                    )
                peer = reg.passports.get(rid)
                if peer is not None and not glob_match(peer.name, rule.access.outbound_to):
                    raise AccessDeniedError(
                        f"{reg.passports[sender].name} may not send to {peer.name} (outbound_to)"
                    )
        inbox = self._inbox
        if not inbox:
            return
        for rid in audience if audience is not None else pids:
            if rid == sender:
                continue
            pending = inbox.get(rid, 0)
            if pending:
                peer_rule = reg.rules.get(rid)
                cap = peer_rule.limits.inbox.max_pending if peer_rule is not None else 0
                if cap and pending >= cap:
                    raise InboxFull(f"inbox of {rid} is full ({pending}/{cap} pending)")
