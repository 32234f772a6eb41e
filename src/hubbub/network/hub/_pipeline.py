"""The hub's post pipeline: admission, stamping, the durable append, dispatch, decisions.

For every envelope (``architecture.md``):

1. check the sender, access rules and inbox limits (``_check_send``), then the
   session machine's ``check``: lifecycle table, adapter ``validate_send``;
2. copy ``event_data`` through its JSON encoding (what is delivered is what is
   logged; values JSON cannot represent are refused with ``bad_envelope``);
3. stamp ``envelope_id``, ``created_at`` and the per-session ``sequence``, and
   ``apply`` it to the machine — synchronously, in one step, so admission order
   = sequence order = WAL order = fold order without a lock;
4. append to the session's WAL through its append chain (at most one append in
   flight per session; envelopes admitted meanwhile share the next one);
5. once durable: acknowledge, dispatch to the audience, then carry out the
   decision (open / close) through the one terminal-transition routine. This tail
   runs to the end even if the posting caller is cancelled.

If an append fails, the post fails with ``StoreUnavailableError``; the machine is
restored to what was durable (no sequence number used, nothing folded or
delivered) and the posts queued behind it fail the same way.

A private part of :class:`hubbub.network.hub.core.Hub` (a mixin it inherits).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from hubbub.knowledge import KnowledgeStore
from hubbub.knowledge.base import store_failure
from hubbub.network.clock import Clock, iso_to_seconds, system_clock
from hubbub.network.envelope import (
    EV_EXPECTATION_VIOLATED,
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_INVITE_REJECT,
    EV_SESSION_OPENED,
    EV_TEXT,
    PROTOCOL_PREFIXES,
    Envelope,
)
from hubbub.network.errors import (
    AccessDeniedError,
    InboxFull,
    NetworkError,
    NotFoundError,
    ProtocolError,
    ReplayError,
    SessionCorruptError,
    StoreUnavailableError,
)
from hubbub.network.hub.audit import (
    AUDIT_KIND_SESSION_CLOSED,
    AUDIT_KIND_SESSION_EXPIRED,
    AuditLog,
)
from hubbub.network.hub.registry import Registry, glob_match
from hubbub.network.hub.runtime import LiveSession
from hubbub.network.ids import make_id
from hubbub.network.jsonvalue import check_json_value
from hubbub.network.lifecycle import terminal_envelope
from hubbub.network.machine import Decision, replay_lines
from hubbub.network.session import (
    SessionState,
)

if TYPE_CHECKING:
    from hubbub.network.hub.ratelimit import RateLimiter
    from hubbub.network.hub.router import Router
    from hubbub.network.hub.table import SessionTable

log = logging.getLogger("hubbub.hub")

_ACTIVE = SessionState.ACTIVE
_PENDING = SessionState.PENDING
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


AppendStarter = Callable[[str, str], "asyncio.Future[Any]"]


def append_starter(store: KnowledgeStore) -> AppendStarter:
    """How the hub starts an append on ``store``: its future ends when the append is durable.

    A store whose class defines ``append_nowait`` next to ``append`` starts it at
    once (no task); any other store — a wrapper that overrides ``append`` included —
    gets its ``append`` coroutine wrapped in a task. Either way appends start in
    call order, and a caller's cancellation cannot lose the outcome.
    """
    for klass in type(store).__mro__:
        if "append" in vars(klass):
            if "append_nowait" in vars(klass):
                nowait: AppendStarter = getattr(store, "append_nowait")  # noqa: B009
                return nowait
            break

    def start(path: str, text: str) -> asyncio.Future[Any]:
        return asyncio.ensure_future(store.append(path, text))

    return start


class _Append:
    """One WAL append of one or more envelopes of one session.

    ``saved`` is the machine before the first of them (restored if the append
    fails); ``riders`` is the future the posts of a queued append wait on (None
    for an append its own post drives).
    """

    __slots__ = ("future", "items", "lines", "riders", "saved")

    def __init__(self, saved: Any, riders: asyncio.Future[None] | None) -> None:
        self.saved = saved
        self.riders = riders
        # each envelope, the decision applying it made, and its stamped time in epoch seconds
        self.items: list[tuple[Envelope, Decision | None, float]] = []
        self.lines: list[str] = []
        self.future: asyncio.Future[Any] | None = None


class _PipelineMixin:
    """Admission of envelopes and the session transitions they cause."""

    # The hub's state, assigned by ``Hub.__init__`` (declared here for the type checker).
    _store: KnowledgeStore
    _clock: Clock
    _registry: Registry
    _audit_log: AuditLog
    _table: SessionTable
    _router: Router
    _rates: RateLimiter
    _start_append: AppendStarter
    _retry: set[LiveSession]
    _tails: set[asyncio.Task[None]]
    _now_ms: int
    _now_iso: str
    invite_ack_timeout: float
    max_envelope_bytes: int

    def _now(self) -> tuple[str, float]:
        """Current time as (ISO string, epoch seconds); the system clock is cached per millisecond."""
        if self._clock is system_clock:
            t = time.time()
            ms = int(t * 1000)
            if ms != self._now_ms:
                self._now_ms = ms
                self._now_iso = datetime.fromtimestamp(ms / 1000, UTC).isoformat(
                    timespec="milliseconds"
                )
            return self._now_iso, t
        iso = self._clock()
        return iso, iso_to_seconds(iso)

    # ================================================================ the post pipeline

    async def post_envelope(self, envelope: Envelope) -> str:
        """Admit an envelope (operator path: any registered sender); returns its envelope_id."""
        return (await self._admit(envelope)).envelope_id

    async def admit(self, envelope: Envelope) -> Envelope:
        """Admit an envelope and return the stamped copy that was logged."""
        return await self._admit(envelope)

    async def _admit(self, env: Envelope, *, internal: bool = False) -> Envelope:
        """Steps 1-5 of the pipeline for one envelope; returns it as logged, once durable.

        An envelope whose ``idempotency_key`` its sender already used in the session
        is not admitted again: the first admission's id, sequence and time come back.
        """
        if not isinstance(env, Envelope):
            raise ProtocolError(
                f"expected an Envelope, got {type(env).__name__}", code="bad_envelope"
            )
        if not internal:
            env.check_shape()
            if env.sender_id not in self._registry.passports:
                raise NotFoundError(f"unknown sender {env.sender_id!r}")
            if env.event_type == EV_TEXT and type(env.event_data.get("text")) is not str:
                raise ProtocolError(
                    "envelope.event_data.text must be a string in an EV_TEXT envelope",
                    code="bad_envelope",
                )
        live = self._table.live.get(env.session_id)
        if live is None:
            await self._table.find(env.session_id)  # NotFoundError / SessionCorruptError
            raise ProtocolError(f"session {env.session_id} is closed", code="session_closed")
        if live.resync is not None:
            await self._resync(live)
        machine = live.machine
        if not internal:
            key = env.idempotency_key
            if key is not None:
                done = machine.admitted(env.sender_id, key)
                if done is not None:
                    return replace(env, envelope_id=done[0], sequence=done[1], created_at=done[2])
            self._check_send(live, env)
        machine.check(env)
        data = env.event_data if internal else logged_copy(env.event_data)

        # ---- stamp, apply, start the append: one synchronous step -----------
        now, now_s = self._now()
        stamped = machine.stamp(env, make_id(), now, data)
        try:
            line = stamped.to_wal_line()
        except TypeError as exc:  # a string field JSON cannot carry (a lone surrogate)
            check_json_value(env.to_dict(), "envelope")
            raise ProtocolError(f"envelope is not JSON: {exc}", code="bad_envelope") from exc
        size = len(line) if line.isascii() else len(line.encode())
        if size > self.max_envelope_bytes:
            raise ProtocolError(
                f"envelope is {size - 1} bytes, over the hub's {self.max_envelope_bytes}-byte limit",
                code="payload_too_large",
            )
        if live.appending is None:
            future = self._start_append(live.wal, line)
            if future.done():  # the store finished at once (memory): nothing to roll back
                decision = self._applied_now(live, stamped, future, now_s)
                if decision is not None:
                    await self._follow(live, decision)
                return stamped
            unit = self._append(live, stamped, line, now_s, future)
        else:
            unit = self._append(live, stamped, line, now_s)
        if unit.riders is None:  # this post drives its own append
            await self._drive(live, unit)
        else:
            await asyncio.shield(unit.riders)
        return stamped

    def _check_send(self, live: LiveSession, env: Envelope) -> None:
        """Identity, participation, access and inbox checks for a client's envelope."""
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
                f"delegation depth {env.depth} exceeds {depth_cap} for {reg.passports[sender].name}"
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
        pending_inbox = self._router.pending_inbox
        if not pending_inbox:
            return
        for rid in audience if audience is not None else pids:
            if rid == sender:
                continue
            pending = pending_inbox.get(rid, 0)
            if pending:
                peer_rule = reg.rules.get(rid)
                cap = peer_rule.limits.inbox.max_pending if peer_rule is not None else 0
                if cap and pending >= cap:
                    raise InboxFull(f"inbox of {rid} is full ({pending}/{cap} pending)")

    # ---------------------------------------------------------------- the append chain

    def _applied_now(
        self, live: LiveSession, stamped: Envelope, future: asyncio.Future[Any], at: float
    ) -> Decision | None:
        """Apply an envelope whose append finished as it started; returns its decision.

        Raises:
            StoreUnavailableError: the append failed (nothing was applied).
        """
        failure = future.exception()
        if failure is not None:
            live.resync = True
            raise store_failure(self._store, failure) from failure
        decision = live.machine.apply(stamped)
        self._durable(live, stamped, at)
        return decision

    def _durable(self, live: LiveSession, stamped: Envelope, at: float) -> None:
        """An envelope's append is durable: count it, account its traffic, dispatch it."""
        live.durable = stamped.sequence
        et = stamped.event_type
        pids = live.machine.pids
        if not et.startswith(PROTOCOL_PREFIXES):
            live.observe(stamped, at, pids)
        elif et == EV_SESSION_OPENED:
            self._opened(live)
        elif et in (EV_SESSION_CLOSED, EV_SESSION_EXPIRED):
            self._ended(live)
        self._router.dispatch(stamped, pids)

    def _opened(self, live: LiveSession) -> None:
        """The session's EV_SESSION_OPENED is durable: release the creator's open()."""
        log.info("session %s opened (%s)", live.meta.session_id, live.meta.manifest.type)
        if live.waiter is not None and not live.waiter.done():
            live.waiter.set_result(None)

    def _ended(self, live: LiveSession) -> None:
        """The session's close or expiry is durable: it leaves the live tables."""
        meta = live.meta
        reason = meta.close_reason
        self._retry.discard(live)
        self._table.drop(live)
        waiter = live.waiter
        if waiter is not None and not waiter.done():
            msg = f"session {meta.session_id} closed during handshake: {reason}"
            if reason == "invite_rejected" and meta.rejected_by:
                msg = f"session {meta.session_id} rejected by {', '.join(meta.rejected_by)}"
            waiter.set_exception(ProtocolError(msg, code="session_closed"))
            waiter.exception()  # the opener may be gone (timeout); don't log "never retrieved"
        log.info("session %s %s: %s", meta.session_id, meta.state.value, reason)

    async def _follow(self, live: LiveSession, decision: Decision) -> None:
        """Carry out a durable envelope's decision; a store failure defers it (retried)."""
        try:
            await self._carry_out(live, decision)
        except StoreUnavailableError as exc:
            # The envelope itself is durable (acknowledged); its open/close is retried.
            log.warning("session %s: %s deferred: %s", live.meta.session_id, decision, exc)

    def _append(
        self,
        live: LiveSession,
        stamped: Envelope,
        line: str,
        at: float,
        started: asyncio.Future[Any] | None = None,
    ) -> _Append:
        """Apply ``stamped`` to the machine and put its line on the session's append chain.

        At most one append per session is in flight. Envelopes admitted meanwhile
        join one queued append that starts when the in-flight one is durable, so a
        failed append can never be followed by a later line of the same session
        (no gap), and ``restore`` can put the machine back to what was durable.
        ``started`` is the append of ``line`` if the caller started it already.
        """
        machine = live.machine
        if live.appending is None:
            unit = _Append(machine.save(), None)
        elif live.queued is None:
            unit = live.queued = _Append(machine.save(), asyncio.get_running_loop().create_future())
        else:
            unit = live.queued
        decision = machine.apply(stamped)
        unit.items.append((stamped, decision, at))
        unit.lines.append(line)
        if live.appending is None:
            unit.future = started if started is not None else self._start_append(live.wal, line)
            live.appending = unit
        return unit

    async def _drive(self, live: LiveSession, unit: _Append) -> None:
        """Await ``unit``'s append, then settle it and carry out its decisions.

        If the caller is cancelled while the append is in flight, a task finishes
        the tail: the envelope is dispatched and its decision applied all the same.
        """
        future = unit.future
        assert future is not None
        try:
            if not future.done():  # a memory store's append is done already
                await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.cancelled():
                raise
            self._spawn(self._drive_detached(live, unit))
            raise
        except BaseException:
            pass  # the failure is read (and raised) by _settle
        for decision in self._settle(live, unit):
            await self._follow(live, decision)

    def _settle(self, live: LiveSession, unit: _Append) -> list[Decision]:
        """``unit``'s append is over: on success dispatch its envelopes in order and start
        the queued append; on failure restore the machine and fail the queued posts too.

        Raises:
            StoreUnavailableError: the append failed (nothing of it was applied).
        """
        future = unit.future
        assert future is not None
        live.appending = None
        if future.cancelled():
            failure: BaseException | None = StoreUnavailableError(reason="append cancelled")
        else:
            failure = future.exception()
        if failure is not None:
            error = store_failure(self._store, failure)
            live.machine.restore(unit.saved)
            live.resync = True  # the outcome may be unknown: read the WAL back before the next
            queued, live.queued = live.queued, None
            for failed in (unit, queued):
                if failed is not None and failed.riders is not None:
                    failed.riders.set_exception(error)
                    failed.riders.exception()  # retrieved here: a rider may be gone
            log.warning(
                "append to session %s failed, %d envelope(s) refused: %s",
                live.meta.session_id,
                len(unit.items) + (len(queued.items) if queued is not None else 0),
                error,
            )
            if live.machine.decision is not None:
                self._retry.add(live)
            waiter = live.waiter
            if waiter is not None and not waiter.done():  # the handshake cannot complete
                waiter.set_exception(error)
                waiter.exception()
            raise error from failure
        decisions: list[Decision] = []
        for stamped, decision, at in unit.items:
            self._durable(live, stamped, at)
            if decision is not None:
                decisions.append(decision)
        queued = live.queued
        if queued is not None:
            live.queued = None
            queued.future = self._start_append(live.wal, "".join(queued.lines))
            live.appending = queued
            self._spawn(self._drive_detached(live, queued))
        if unit.riders is not None:
            unit.riders.set_result(None)
        return decisions

    async def _resync(self, live: LiveSession) -> None:
        """After a failed append, apply what the store really holds past the durable point.

        A store can report a commit failed whose reply was lost (the connection
        dropped after COMMIT reached the server). Before the session admits again,
        its WAL is read back from the last durable envelope: lines found there were
        committed, so they are applied and dispatched like any durable envelope.

        Raises:
            StoreUnavailableError: the read failed (the session stays to be resynced).
            SessionCorruptError: what the store holds does not follow (quarantined).
        """
        pending = live.resync
        if isinstance(pending, asyncio.Future):
            await asyncio.shield(pending)
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        live.resync = done
        machine = live.machine
        found = 0
        try:
            lines = await self._store.read_lines(live.wal, machine.seq)
            for env in replay_lines(machine, lines, machine.seq + 1):
                found += 1
                live.durable = env.sequence
                if env.created_at and not env.event_type.startswith(PROTOCOL_PREFIXES):
                    live.observe(env, iso_to_seconds(env.created_at), machine.pids)
                self._router.dispatch(env, machine.pids)
        except ReplayError as exc:
            corrupt = SessionCorruptError(f"session {live.meta.session_id} is quarantined: {exc}")
            self._table.live.pop(live.meta.session_id, None)
            await self._table.quarantine(live.meta.session_id, str(exc))
            live.resync = None
            done.set_exception(corrupt)
            done.exception()
            raise corrupt from exc
        except Exception as exc:
            error = store_failure(self._store, exc)
            live.resync = True
            done.set_exception(error)
            done.exception()
            raise error from exc
        live.resync = None
        done.set_result(None)
        if found:
            log.warning(
                "session %s: %d envelope(s) reported failed were committed; applied",
                live.meta.session_id,
                found,
            )
            if machine.decision is not None:
                self._retry.add(live)

    async def _drive_detached(self, live: LiveSession, unit: _Append) -> None:
        """``_drive`` for an append nobody awaits: a queued one, or one whose caller went away."""
        try:
            await self._drive(live, unit)
        except StoreUnavailableError:
            pass  # its posts got the error through unit.riders (or their caller is gone)
        except Exception:
            log.exception("append chain of session %s failed", live.meta.session_id)

    async def _carry_out(self, live: LiveSession, decision: Decision) -> None:
        """Apply a decided open or end (once; a store failure leaves it to be retried).

        Its envelope is stamped, applied and its append started before the first
        await, and what follows its durability happens when that append settles
        (``_durable``), so a cancelled caller cannot leave it half done.
        """
        state, reason = decision
        if live.machine.decision != decision:
            return  # carried out (or superseded) already
        try:
            if state is _ACTIVE:
                await self._activate(live)
            else:
                await self._terminate(live, state, reason)
        except StoreUnavailableError:
            self._retry.add(live)  # retried by the sweeper and by close_session
            raise
        self._retry.discard(live)

    async def retry_decisions(self) -> int:
        """Carry out opens and ends that were decided but could not be logged (store down)."""
        done = 0
        for live in list(self._retry):
            decision = live.machine.decision
            if decision is None or live.meta.is_terminal():
                self._retry.discard(live)
                continue
            try:
                await self._carry_out(live, decision)
                done += 1
            except StoreUnavailableError:
                break  # still down: try again next time
        return done

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tails.add(task)
        task.add_done_callback(self._tails.discard)
        return task

    def _internal(self, live: LiveSession, env: Envelope) -> tuple[Envelope, _Append]:
        """Stamp, apply and queue a hub-written envelope (opened, closed, expired)."""
        now, now_s = self._now()
        stamped = live.machine.stamp(env, make_id(), now)
        return stamped, self._append(live, stamped, stamped.to_wal_line(), now_s)

    async def _commit(self, unit: _Append, live: LiveSession) -> None:
        if unit.riders is None:
            await self._drive(live, unit)
        else:
            await asyncio.shield(unit.riders)

    async def _activate(self, live: LiveSession) -> None:
        """PENDING → ACTIVE: log and broadcast EV_SESSION_OPENED, release the creator's open()."""
        if live.resync is not None:
            await self._resync(live)
        meta = live.meta
        if meta.state is not _PENDING:
            return
        _opened, unit = self._internal(
            live,
            Envelope(
                meta.session_id,
                meta.creator_id,
                meta.participant_ids(),
                EV_SESSION_OPENED,
                {"session_id": meta.session_id},
            ),
        )
        try:
            await self._commit(unit, live)  # once durable, _opened releases the creator
        except StoreUnavailableError as exc:
            if live.waiter is not None and not live.waiter.done():
                live.waiter.set_exception(exc)
                live.waiter.exception()
            raise

    async def _terminate(self, live: LiveSession, new_state: SessionState, reason: str) -> None:
        """The one terminal-transition routine: log + broadcast the close, audit, release memory."""
        if live.resync is not None:
            await self._resync(live)
        meta = live.meta
        if meta.is_terminal():
            return
        _env, unit = self._internal(live, terminal_envelope(meta, new_state, reason))
        await self._commit(unit, live)  # once durable, _ended drops it from the live tables
        try:
            await self._table.index.remove(meta.session_id)
            kind = (
                AUDIT_KIND_SESSION_EXPIRED
                if new_state is SessionState.EXPIRED
                else AUDIT_KIND_SESSION_CLOSED
            )
            await self._audit_log.append(
                {"kind": kind, "session_id": meta.session_id, "reason": reason}
            )
        except NetworkError as exc:  # the close itself is durable; the index is fixed at open
            log.warning("after closing session %s: %s", meta.session_id, exc)
