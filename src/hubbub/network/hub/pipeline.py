"""The post pipeline: admission, stamping, the durable append, dispatch, decisions.

For every envelope (``architecture.md``):

1. check the sender, access rules and inbox limits (:class:`Admission`), then the
   session machine's ``check``: lifecycle table, adapter ``validate_send``;
2. copy ``event_data`` through its JSON encoding (what is delivered is what is
   logged; values JSON cannot represent are refused with ``bad_envelope``);
3. stamp ``envelope_id``, ``created_at`` and the per-session ``sequence``, and
   ``apply`` it to the machine — synchronously, in one step, so admission order
   = sequence order = WAL order = fold order without a lock;
4. append to the session's WAL through its append chain (at most one append in
   flight per session; envelopes admitted meanwhile share the next one);
5. once durable: acknowledge, dispatch to the audience (the router), then carry
   out the decision (open / close) through the one terminal-transition routine.
   This tail runs to the end even if the posting caller is cancelled.

If an append fails, the post fails with ``StoreUnavailableError``; the machine is
restored to what was durable (no sequence number used, nothing folded or
delivered) and the posts queued behind it fail the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from hubbub.knowledge import KnowledgeStore
from hubbub.knowledge.base import store_failure
from hubbub.network.clock import iso_to_seconds
from hubbub.network.envelope import (
    EV_EXPECTATION_VIOLATED,
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_SESSION_OPENED,
    EV_TEXT,
    PROTOCOL_PREFIXES,
    Envelope,
)
from hubbub.network.errors import (
    NetworkError,
    NotFoundError,
    ProtocolError,
    ReplayError,
    SessionCorruptError,
    StoreUnavailableError,
)
from hubbub.network.hub.admission import Admission, logged_copy
from hubbub.network.hub.appends import Append, append_future, append_starter
from hubbub.network.hub.audit import (
    AUDIT_KIND_SESSION_CLOSED,
    AUDIT_KIND_SESSION_EXPIRED,
)
from hubbub.network.hub.registry import Registry
from hubbub.network.hub.router import Router
from hubbub.network.hub.runtime import LiveSession
from hubbub.network.hub.seam import HubSeam
from hubbub.network.hub.stamps import StampClock
from hubbub.network.hub.table import SessionTable
from hubbub.network.ids import make_id
from hubbub.network.jsonvalue import check_json_value
from hubbub.network.lifecycle import terminal_envelope
from hubbub.network.machine import Decision, replay_lines
from hubbub.network.session import SessionMetadata, SessionState

__all__ = ["Pipeline"]

log = logging.getLogger("hubbub.hub")

_ACTIVE = SessionState.ACTIVE
_PENDING = SessionState.PENDING


class Pipeline:
    """Admission of envelopes, the per-session append chains, and the transitions they cause.

    Owns the admission checks (and with them the send rates), how appends start
    on the store, the sessions whose open or close was decided but could not be
    logged (``retry``: the ``decisions`` sweeper retries them) and the tails that
    finish posts whose callers went away (``tails``). The append chain of each
    session lives on its :class:`LiveSession`.

    Args:
        store: where the WALs are appended.
        now: the hub's clock, as (ISO string, epoch seconds).
        registry: who may send (and whose rules apply).
        table: the sessions envelopes are admitted to.
        router: what dispatches a durable envelope; its inbox counts bound admission.
        seam: the arbiter admission asks, the audit sink where closes are recorded,
            and the listeners told of every durable or refused envelope and every
            open and end.
        max_envelope_bytes: the largest admitted envelope (its WAL line), in bytes.
    """

    def __init__(
        self,
        store: KnowledgeStore,
        now: StampClock,
        registry: Registry,
        table: SessionTable,
        router: Router,
        seam: HubSeam,
        *,
        max_envelope_bytes: int,
    ) -> None:
        self._store = store
        self._now = now
        self._registry = registry
        self._table = table
        self._live = table.live  # the table's live sessions (it changes them; read on every post)
        self._seam = seam
        self._dispatch = router.dispatch
        self._admission = Admission(registry, router.pending_inbox, now, seam)
        self._check_send = self._admission.check_send
        self._start_append = append_starter(store)
        self.max_envelope_bytes = max_envelope_bytes
        # sessions with an open/close decided but not logged (the store failed)
        self.retry: set[LiveSession] = set()
        # pipeline tails running on after their caller went away
        self.tails: set[asyncio.Task[None]] = set()
        # run once a session's end is durable (the task table expires its open tasks)
        self.on_terminated: list[Callable[[SessionMetadata], Awaitable[object]]] = []
        # called with every durable envelope, after its dispatch (usage totals, interceptors)
        self.durable_hooks: list[Callable[[Envelope], None]] = []

    async def admit(self, env: Envelope, *, internal: bool = False) -> Envelope:
        """Steps 1-5 of the pipeline for one envelope; returns it as logged, once durable.

        An envelope whose ``idempotency_key`` its sender already used in the session
        is not admitted again: the first admission's id, sequence and time come back.
        Interceptors run around it; a refusal is reported to the listeners
        (``on_envelope_rejected``).
        """
        try:
            if self._seam.interceptors:
                return await self._seam.intercept_admit(env, lambda e: self._admit(e, internal))
            return await self._admit(env, internal)
        except NetworkError as exc:
            if self._seam.listeners and isinstance(env, Envelope):
                self._seam.emit("on_envelope_rejected", env, f"{exc.code}: {exc}")
            raise

    async def _admit(self, env: Envelope, internal: bool) -> Envelope:
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
        live = self._live.get(env.session_id)
        if live is None:
            await self._table.find(env.session_id)  # NotFoundError / SessionCorruptError
            raise ProtocolError(f"session {env.session_id} is closed", code="session_closed")
        if live.resync is not None:
            await self.resync(live)
        machine = live.machine
        if not internal:
            key = env.idempotency_key
            if key is not None:
                done = machine.admitted(env.sender_id, key)
                if done is not None:
                    return env.stamped(done[0], done[1], done[2])
            env = self._check_send(live, env)
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
            try:
                started = self._start_append(live.wal, line)
            except Exception as exc:  # failed at once: nothing was applied
                live.resync = True
                raise store_failure(self._store, exc) from exc
            if isinstance(started, int):  # appended at once (memory): nothing to roll back
                decision = live.machine.apply(stamped)
                self._durable(live, stamped, now_s)
                if decision is not None:
                    await self._follow(live, decision)
                return stamped
            unit = self._append(live, stamped, line, now_s, started)
        else:
            unit = self._append(live, stamped, line, now_s)
        if unit.riders is None:  # this post drives its own append
            await self._drive(live, unit)
        else:
            await asyncio.shield(unit.riders)
        return stamped

    # ---------------------------------------------------------------- the append chain

    def _durable(self, live: LiveSession, stamped: Envelope, at: float) -> None:
        """An envelope's append is durable: count it, account its traffic, dispatch it."""
        live.durable = stamped.sequence
        et = stamped.event_type
        pids = live.machine.pids
        if self._seam.listeners:  # queued: heard after this envelope's dispatch below
            self._seam.emit("on_envelope_posted", stamped, live.meta.copy())
        if not et.startswith(PROTOCOL_PREFIXES):
            live.observe(stamped, at, pids)
        elif et == EV_SESSION_OPENED:
            self._opened(live)
        elif et in (EV_SESSION_CLOSED, EV_SESSION_EXPIRED):
            self._ended(live)
        self._dispatch(stamped, pids)
        for hook in self.durable_hooks:
            hook(stamped)

    def _opened(self, live: LiveSession) -> None:
        """The session's EV_SESSION_OPENED is durable: release the creator's open()."""
        meta = live.meta
        log.info(
            "session %s opened (%s)",
            meta.session_id,
            meta.manifest.type,
            extra={"session_id": meta.session_id, "session_type": meta.manifest.type},
        )
        if self._seam.listeners:
            payload = {"participants": meta.participant_ids()}
            self._seam.emit("on_session_event", meta.session_id, "opened", payload)
        if live.waiter is not None and not live.waiter.done():
            live.waiter.set_result(None)

    def _ended(self, live: LiveSession) -> None:
        """The session's close or expiry is durable: it leaves the live tables."""
        meta = live.meta
        reason = meta.close_reason
        self.retry.discard(live)
        self._table.drop(live)
        waiter = live.waiter
        if waiter is not None and not waiter.done():
            msg = f"session {meta.session_id} closed during handshake: {reason}"
            if reason == "invite_rejected" and meta.rejected_by:
                msg = f"session {meta.session_id} rejected by {', '.join(meta.rejected_by)}"
            waiter.set_exception(ProtocolError(msg, code="session_closed"))
            waiter.exception()  # the opener may be gone (timeout); don't log "never retrieved"
        log.info(
            "session %s %s: %s",
            meta.session_id,
            meta.state.value,
            reason,
            extra={"session_id": meta.session_id, "state": meta.state.value, "reason": reason},
        )
        if self._seam.listeners:
            kind = "expired" if meta.state is SessionState.EXPIRED else "closed"
            self._seam.emit("on_session_event", meta.session_id, kind, {"reason": reason})

    async def _follow(self, live: LiveSession, decision: Decision) -> None:
        """Carry out a durable envelope's decision; a store failure defers it (retried)."""
        try:
            await self.carry_out(live, decision)
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
    ) -> Append:
        """Apply ``stamped`` to the machine and put its line on the session's append chain.

        At most one append per session is in flight. Envelopes admitted meanwhile
        join one queued append that starts when the in-flight one is durable, so a
        failed append can never be followed by a later line of the same session
        (no gap), and ``restore`` can put the machine back to what was durable.
        ``started`` is the append of ``line`` if the caller started it already.
        """
        machine = live.machine
        if live.appending is None:
            unit = Append(machine.save(), None)
        elif live.queued is None:
            unit = live.queued = Append(machine.save(), asyncio.get_running_loop().create_future())
        else:
            unit = live.queued
        decision = machine.apply(stamped)
        unit.items.append((stamped, decision, at))
        unit.lines.append(line)
        if live.appending is None:
            unit.future = (
                started
                if started is not None
                else append_future(self._start_append, live.wal, line)
            )
            live.appending = unit
        return unit

    async def _drive(self, live: LiveSession, unit: Append) -> None:
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

    def _settle(self, live: LiveSession, unit: Append) -> list[Decision]:
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
                self.retry.add(live)
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
            queued.future = append_future(self._start_append, live.wal, "".join(queued.lines))
            live.appending = queued
            self._spawn(self._drive_detached(live, queued))
        if unit.riders is not None:
            unit.riders.set_result(None)
        return decisions

    async def resync(self, live: LiveSession) -> None:
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
                self._dispatch(env, machine.pids)
                for hook in self.durable_hooks:
                    hook(env)
                if self._seam.listeners:
                    self._seam.emit("on_envelope_posted", env, machine.meta.copy())
        except ReplayError as exc:
            corrupt = SessionCorruptError(f"session {live.meta.session_id} is quarantined: {exc}")
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
                self.retry.add(live)

    async def _drive_detached(self, live: LiveSession, unit: Append) -> None:
        """``_drive`` for an append nobody awaits: a queued one, or one whose caller went away."""
        try:
            await self._drive(live, unit)
        except StoreUnavailableError:
            pass  # its posts got the error through unit.riders (or their caller is gone)
        except Exception:
            log.exception("append chain of session %s failed", live.meta.session_id)

    async def carry_out(self, live: LiveSession, decision: Decision) -> None:
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
                await self.activate(live)
            else:
                await self.terminate(live, state, reason)
        except StoreUnavailableError:
            self.retry.add(live)  # retried by the sweeper and by close_session
            raise
        self.retry.discard(live)

    async def retry_decisions(self) -> int:
        """Carry out opens and ends that were decided but could not be logged (store down)."""
        done = 0
        for live in list(self.retry):
            decision = live.machine.decision
            if decision is None or live.meta.is_terminal():
                self.retry.discard(live)
                continue
            try:
                await self.carry_out(live, decision)
                done += 1
            except StoreUnavailableError:
                break  # still down: try again next time
        return done

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tails.add(task)
        task.add_done_callback(self.tails.discard)
        return task

    def _internal(self, live: LiveSession, env: Envelope) -> tuple[Envelope, Append]:
        """Stamp, apply and queue a hub-written envelope (opened, closed, expired)."""
        now, now_s = self._now()
        stamped = live.machine.stamp(env, make_id(), now)
        return stamped, self._append(live, stamped, stamped.to_wal_line(), now_s)

    async def _commit(self, unit: Append, live: LiveSession) -> None:
        if unit.riders is None:
            await self._drive(live, unit)
        else:
            await asyncio.shield(unit.riders)

    async def activate(self, live: LiveSession) -> None:
        """PENDING → ACTIVE: log and broadcast EV_SESSION_OPENED, release the creator's open()."""
        if live.resync is not None:
            await self.resync(live)
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

    async def terminate(self, live: LiveSession, new_state: SessionState, reason: str) -> None:
        """The one terminal-transition routine: log + broadcast the close, audit, release memory."""
        if live.resync is not None:
            await self.resync(live)
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
            await self._seam.audit.append(
                {"kind": kind, "session_id": meta.session_id, "reason": reason}
            )
        except NetworkError as exc:  # the close itself is durable; the index is fixed at open
            log.warning("after closing session %s: %s", meta.session_id, exc)
        for hook in self.on_terminated:
            try:
                await hook(meta)
            except Exception:
                log.exception("after closing session %s", meta.session_id)

    async def abandon(self, live: LiveSession) -> None:
        """A handshake failed: close the session (``invite_failed``), now or once the store is back."""
        live.waiter = None
        try:
            await self.terminate(live, SessionState.CLOSED, "invite_failed")
        except StoreUnavailableError:
            if not live.meta.is_terminal():
                live.machine.decision = (SessionState.CLOSED, "invite_failed")
                live.machine.closing = "invite_failed"
                self.retry.add(live)

    async def close(self, live: LiveSession, reason: str) -> None:
        """Close a session; one whose end was decided but not logged closes with that reason."""
        decision = live.machine.decision
        if decision is not None and decision[0] is not _ACTIVE and not live.meta.is_terminal():
            await self.carry_out(live, decision)
        else:
            await self.terminate(live, SessionState.CLOSED, reason or "explicit_close")

    async def post_violation(self, live: LiveSession, envelope_data: dict[str, Any]) -> None:
        """Log and broadcast an EV_EXPECTATION_VIOLATED on a live session."""
        meta = live.meta
        await self.admit(
            Envelope(
                meta.session_id,
                meta.creator_id,
                meta.participant_ids(),
                EV_EXPECTATION_VIOLATED,
                envelope_data,
            ),
            internal=True,
        )

    def abort_handshakes(self) -> None:
        """The hub closes: every ``create_session`` still waiting for acks fails."""
        for live in self._live.values():
            waiter = live.waiter
            if waiter is not None and not waiter.done():
                waiter.set_exception(ProtocolError("hub closed during handshake"))
                waiter.exception()  # mark retrieved

    def forget_rate(self, agent_id: str) -> None:
        """Start an agent's send rate afresh (its rule changed)."""
        self._admission.forget_rate(agent_id)

    async def drain(self) -> None:
        """Wait for the tails still finishing posts whose callers went away."""
        if self.tails:
            await asyncio.gather(*list(self.tails), return_exceptions=True)
