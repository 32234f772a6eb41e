"""Admission: what a client's envelope must pass before the hub stamps it.

The sender is a participant; the event type is not one only the hub writes;
the sender's rule allows the rate; the audience names participants (or the
arbiter resolves the ones it does not); the hub's arbiter allows the send and
every recipient's inbox (by default: the rules' delegation depth, ``outbound_to``
and ``inbox.max_pending``). (The session machine then checks the lifecycle and
the adapter's ``validate_send``.) What is logged and delivered is a JSON copy
of the sender's data (:func:`logged_copy`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
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
from hubbub.network.errors import AccessDeniedError, ProtocolError
from hubbub.network.hub.arbiter import ALLOW, Deny
from hubbub.network.hub.ratelimit import RateLimiter
from hubbub.network.hub.registry import Registry
from hubbub.network.hub.runtime import LiveSession
from hubbub.network.hub.seam import HubSeam
from hubbub.network.hub.stamps import StampClock
from hubbub.network.identity import Passport
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
    Objects and lists of strings, numbers, booleans and nulls up to
    ``_COPY_DEPTH`` levels deep (a text and its usage record, a workflow packet)
    are copied as they are; anything else goes through the encoding. (A string
    or an int JSON cannot carry is caught when the WAL line is encoded.)

    Raises:
        ProtocolError: code ``bad_envelope``, naming the path of the bad value.
    """
    try:
        return _plain_dict(data, _COPY_DEPTH)
    except _NotPlain:
        return _encoded_copy(data, where)


#: Levels of nesting :func:`logged_copy` copies without encoding.
_COPY_DEPTH = 4


class _NotPlain(Exception):
    """A value the plain copy does not take (it goes through the encoding)."""


def _plain_dict(data: dict[Any, Any], depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if type(key) is not str:
            raise _NotPlain
        kind = type(value)  # the common scalars here, the rest through _plain
        out[key] = value if kind is str or kind is int or value is None else _plain(value, depth)
    return out


def _plain(value: Any, depth: int) -> Any:
    """``value`` itself when a JSON scalar, a copy when a container within ``depth``."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float and math.isfinite(value):
        return value
    if depth > 1:
        if kind is dict:
            return _plain_dict(value, depth - 1)
        if kind is list:
            return [_plain(item, depth - 1) for item in value]
    raise _NotPlain


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
        seam: its arbiter decides the access checks (``authorize_send``,
            ``authorize_inbox``, ``resolve_unknown_audience``).
    """

    def __init__(
        self,
        registry: Registry,
        inbox: Mapping[str, int],
        now: StampClock,
        seam: HubSeam,
    ) -> None:
        self._registry = registry
        self._inbox = inbox
        self._now = now
        self._seam = seam
        self._rates = RateLimiter()

    def forget_rate(self, agent_id: str) -> None:
        """Start an agent's send rate afresh (its rule changed)."""
        self._rates.forget(agent_id)

    def check_send(self, live: LiveSession, env: Envelope) -> Envelope:
        """Identity, participation, rate, access and inbox checks for a client's envelope.

        Returns the envelope to admit: ``env``, or a copy whose audience the arbiter
        resolved (``resolve_unknown_audience``).

        Raises:
            ProtocolError: a hub-only event (``reserved_event``), an audience member
                who is not a participant and that the arbiter does not resolve
                (``bad_envelope``), over the rate (``rate_limited``, naming when to retry).
            AccessDeniedError: not a participant; the arbiter's ``authorize_send``
                refused (by default: too deep a delegation, a recipient the rule's
                ``outbound_to`` does not allow) — or the Deny's own error.
            InboxFull: the arbiter's ``authorize_inbox`` refused a recipient (by
                default: it has ``inbox.max_pending`` envelopes unreceipted).
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
            return env
        reg = self._registry
        passports = reg.passports
        rules = reg.rules
        rule = rules[sender]
        if rule.limits.rate.per_minute:
            wait = self._rates.take(sender, rule.limits.rate, self._now()[1])
            if wait:
                raise ProtocolError(
                    f"{passports[sender].name} is over its rate of "
                    f"{rule.limits.rate.per_minute} envelopes a minute; retry in {wait:.2f} s",
                    code="rate_limited",
                )
        audience = env.audience
        if audience:
            for rid in audience:
                if rid != sender and rid not in pids:
                    env = self._resolve_audience(live, env)
                    audience = env.audience
                    break
        recipients: list[Passport] = []
        for rid in pids if audience is None else audience:
            if rid != sender and rid in passports:
                recipients.append(passports[rid])
        arbiter = self._seam.arbiter
        verdict = arbiter.authorize_send(env, passports[sender], rule, recipients)
        if verdict is not ALLOW and isinstance(verdict, Deny):
            raise verdict.exception()
        inbox = self._inbox
        for peer in recipients:
            rid = peer.agent_id or ""
            verdict = arbiter.authorize_inbox(env, peer, rules[rid], inbox.get(rid, 0))
            if verdict is not ALLOW and isinstance(verdict, Deny):
                raise verdict.exception()
        return env

    def _resolve_audience(self, live: LiveSession, env: Envelope) -> Envelope:
        """``env`` with the arbiter's replacement for the audience members who are not
        participants.

        Raises:
            ProtocolError: ``bad_envelope``: the arbiter resolves none (None), or its
                replacement names a non-participant.
        """
        pids = live.machine.pids
        session_id = live.machine.meta.session_id
        audience = env.audience or []
        unknown = [rid for rid in audience if rid != env.sender_id and rid not in pids]
        resolved = self._seam.arbiter.resolve_unknown_audience(env, list(unknown))
        if resolved is None:
            raise ProtocolError(
                f"envelope.audience member {unknown[0]!r} is not a participant of session "
                f"{session_id}",
                code="bad_envelope",
            )
        for rid in resolved:
            if type(rid) is not str or rid not in pids:
                raise ProtocolError(
                    f"envelope.audience: the arbiter resolved {unknown!r} to {rid!r}, "
                    f"not a participant of session {session_id}",
                    code="bad_envelope",
                )
        kept = [rid for rid in audience if rid not in unknown]
        new_audience = kept + [rid for rid in resolved if rid not in kept]
        return replace(env, audience=new_audience)
