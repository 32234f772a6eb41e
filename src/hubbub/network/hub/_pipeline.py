"""The hub's post pipeline: admission, stamping, folding, the durable append, dispatch.

For every envelope (``architecture.md``):

1. check the sender, access rules, session state and inbox limits;
2. ``adapter.validate_send`` — a rejection raises to the sender, nothing is written;
3. stamp ``envelope_id``, ``created_at`` and the per-session ``sequence``;
4. fold the adapter state and start the WAL append — synchronously, in one step,
   so admission order = sequence order = WAL order = fold order without a lock
   (stores enqueue an append before their first suspension);
5. await the append: the envelope is durable on the store's terms;
6. acknowledge (return), dispatch to the audience, then apply the adapter's
   decision (open / close) through the one terminal-transition routine
   (``_activate`` / ``_terminate``).

A private part of :class:`hubbub.network.hub.core.Hub` (a mixin it inherits).
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from hubbub.knowledge import KnowledgeStore
from hubbub.network.adapters.base import AdapterResult, SessionAdapter
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
    NotFoundError,
    ProtocolError,
)
from hubbub.network.hub.audit import (
    AUDIT_KIND_SESSION_CLOSED,
    AUDIT_KIND_SESSION_EXPIRED,
    AuditLog,
)
from hubbub.network.hub.registry import Registry, glob_match
from hubbub.network.hub.runtime import LiveSession
from hubbub.network.hub.snapshots import index_remove
from hubbub.network.ids import make_id
from hubbub.network.lifecycle import apply_lifecycle_event, terminal_envelope
from hubbub.network.session import (
    SessionManifest,
    SessionState,
)
from hubbub.network.transport.frames import NotifyFrame

if TYPE_CHECKING:
    from hubbub.network.hub.core import Hub

log = logging.getLogger("hubbub.network.hub.core")

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


class _PipelineMixin:
    """Admission of envelopes and the session transitions they cause."""

    # The hub's state, assigned by ``Hub.__init__`` (declared here for the type checker).
    _store: KnowledgeStore
    _clock: Clock
    _registry: Registry
    _audit_log: AuditLog
    _adapters: dict[tuple[str, int], SessionAdapter]
    _sessions: dict[str, LiveSession]
    _closed: OrderedDict[str, LiveSession]
    _live_count: dict[str, int]
    _ttl_heap: list[tuple[float, str]]
    _agent_endpoint: dict[str, Any]
    _pending_inbox: dict[str, int]
    _manifest_refs: dict[str, SessionManifest]
    _closed_cache_size: int
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

    def _live(self, session_id: str) -> LiveSession:
        live = self._sessions.get(session_id) or self._closed.get(session_id)
        if live is None:
            raise NotFoundError(f"unknown session {session_id!r}")
        return live

    async def _find(self, session_id: str) -> LiveSession:
        """The session's record, reading a long-closed one back from the store."""
        live = self._sessions.get(session_id) or self._closed.get(session_id)
        if live is not None:
            return live
        if not isinstance(session_id, str) or not session_id or "/" in session_id:
            raise NotFoundError(f"unknown session {session_id!r}")
        live = await self._load_session(session_id)
        if live is None:
            raise NotFoundError(f"unknown session {session_id!r}")
        self._remember_closed(live)
        return live

    def _as_hub(self) -> Hub:
        """This object as the :class:`Hub` it is part of (for the module-level helpers)."""
        return cast("Hub", self)

    async def _load_session(self, session_id: str) -> LiveSession | None:
        from hubbub.network.hub.recovery import load_session

        return await load_session(self._as_hub(), session_id)

    # ================================================================ the post pipeline

    async def post_envelope(self, envelope: Envelope) -> str:
        """Admit an envelope (operator path: any registered sender); returns its envelope_id."""
        return (await self._admit(envelope)).envelope_id

    async def admit(self, envelope: Envelope) -> Envelope:
        """Admit an envelope and return the stamped copy that was logged."""
        return await self._admit(envelope)

    async def _admit(self, env: Envelope, *, internal: bool = False) -> Envelope:
        if not isinstance(env, Envelope):
            raise ProtocolError(
                f"expected an Envelope, got {type(env).__name__}", code="bad_envelope"
            )
        reg = self._registry
        if not internal:
            env.check_shape()
            if env.sender_id not in reg.passports:
                raise NotFoundError(f"unknown sender {env.sender_id!r}")
            if env.event_type == EV_TEXT and type(env.event_data.get("text")) is not str:
                raise ProtocolError(
                    "an EV_TEXT envelope needs event_data.text as a string", code="bad_envelope"
                )
        live = self._sessions.get(env.session_id)
        if live is None:
            await self._find(env.session_id)  # NotFoundError for unknown ids
            raise ProtocolError(f"session {env.session_id} is closed")
        meta = live.meta
        if live.closing is not None or meta.is_terminal():
            raise ProtocolError(f"session {meta.session_id} is closed")
        adapter = live.adapter
        if adapter is None:
            raise ProtocolError(
                f"no adapter registered for {meta.manifest.type!r}@v{meta.manifest.version}"
            )
        et = env.event_type
        sender = env.sender_id
        protocol = et.startswith(PROTOCOL_PREFIXES)
        if not internal:
            self._check_send(live, env, et, sender, protocol)
        adapter.validate_send(meta, env, live.state)

        # ---- stamp, fold and start the append: one synchronous step --------
        now, now_s = self._now()
        stamped = Envelope(
            env.session_id,
            sender,
            None if env.audience is None else list(env.audience),
            et,
            env.event_data,
            make_id(),
            env.task_id,
            env.causation_id,
            env.trace_id,
            env.priority,
            env.depth,
            env.idempotency_key,
            now,
            env.ttl_seconds,
            live.seq + 1,
        )
        line = stamped.to_wal_line()
        if len(line) > self.max_envelope_bytes:
            raise ProtocolError(
                f"envelope is {len(line) - 1} bytes, over the hub's {self.max_envelope_bytes}-byte limit",
                code="payload_too_large",
            )
        live.seq += 1
        live.state = adapter.fold(stamped, live.state)
        follow: tuple[str, str] | None = None  # what the admission leads to: open or close
        if protocol:
            apply_lifecycle_event(meta, stamped)
            if et == EV_SESSION_INVITE_ACK:
                if meta.state is _PENDING and not meta.pending_acks and not meta.rejected_by:
                    follow = ("open", "")
            elif et == EV_SESSION_INVITE_REJECT:
                live.closing = f"rejected by {sender}"
                follow = ("close", "invite_rejected")
        else:
            live.activity.observe(stamped, now_s, live.pids)
            result: AdapterResult = adapter.on_accepted(meta, stamped, live.state)
            if result.next_state is not None and result.next_state is not _ACTIVE:
                reason = result.auto_close_reason or "adapter_closed"
                live.closing = reason
                follow = (
                    "expire" if result.next_state is SessionState.EXPIRED else "close",
                    reason,
                )
        await self._store.append(live.wal, line)
        live.durable = stamped.sequence

        # ---- durable: acknowledge, dispatch, then consequences ---------------
        if et != EV_SESSION_INVITE_ACK and et != EV_SESSION_INVITE_REJECT:
            self._dispatch(stamped, live.pids, not protocol)
        if follow is not None:
            kind, reason = follow
            if kind == "open":
                await self._activate(live)
            else:
                live.closing = None
                await self._terminate(
                    live, SessionState.EXPIRED if kind == "expire" else SessionState.CLOSED, reason
                )
        return stamped

    def _check_send(
        self, live: LiveSession, env: Envelope, et: str, sender: str, protocol: bool
    ) -> None:
        """Identity, participation, state, access and inbox checks for a client's envelope."""
        meta = live.meta
        if et in HUB_ONLY_EVENTS:
            raise ProtocolError(f"event type {et!r} is reserved for the hub")
        if sender not in live.pids:
            raise AccessDeniedError(f"{sender} is not a participant of session {meta.session_id}")
        if not protocol and meta.state is not _ACTIVE:
            raise ProtocolError(
                f"session {meta.session_id} is not active (state={meta.state.value})"
            )
        if et in (EV_SESSION_INVITE_ACK, EV_SESSION_INVITE_REJECT):
            if meta.state is not _PENDING or sender not in meta.pending_acks:
                raise ProtocolError(f"{sender} has no pending invite to session {meta.session_id}")
            return
        reg = self._registry
        rule = reg.rules[sender]
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
                if rid not in live.pids:
                    raise ProtocolError(
                        f"audience member {rid!r} is not a participant of session {meta.session_id}"
                    )
                if not glob_match(reg.passports[rid].name, rule.access.outbound_to):
                    raise AccessDeniedError(
                        f"{reg.passports[sender].name} may not send to {reg.passports[rid].name} (outbound_to)"
                    )
        if not protocol:
            for rid in audience if audience is not None else meta.participant_ids():
                if rid == sender:
                    continue
                pending = self._pending_inbox.get(rid, 0)
                if pending:
                    cap = reg.rules[rid].limits.inbox.max_pending if rid in reg.rules else 0
                    if cap and pending >= cap:
                        raise InboxFull(f"inbox of {rid} is full ({pending}/{cap} pending)")

    def _dispatch(self, env: Envelope, pids: Sequence[str], substantive: bool = False) -> None:
        """Queue a NotifyFrame for every recipient that is connected (never raises).

        ``substantive`` (not a protocol event): the recipients' pending-inbox counts grow.
        """
        sender = env.sender_id
        recipients = env.audience if env.audience is not None else pids
        reg = self._registry
        for rid in recipients:
            if rid == sender and env.audience is None:
                continue
            endpoint = self._agent_endpoint.get(rid)
            if endpoint is None:
                continue
            rule = reg.rules.get(rid)
            sender_p = reg.passports.get(sender)
            if (
                rule is not None
                and sender_p is not None
                and not glob_match(sender_p.name, rule.access.inbound_from)
            ):
                continue
            if substantive:
                self._pending_inbox[rid] = self._pending_inbox.get(rid, 0) + 1
            try:
                endpoint.send_frame_nowait(NotifyFrame(env, rid))
            except Exception:
                log.exception("dispatch of %s to %s failed", env.envelope_id, rid)

    def _stamp_internal(self, live: LiveSession, env: Envelope) -> tuple[Envelope, str]:
        now, _ = self._now()
        live.seq += 1
        env.envelope_id = make_id()
        env.created_at = now
        env.sequence = live.seq
        return env, env.to_wal_line()

    async def _activate(self, live: LiveSession) -> None:
        """PENDING → ACTIVE: log and broadcast EV_SESSION_OPENED, release the creator's open()."""
        meta = live.meta
        opened, line = self._stamp_internal(
            live,
            Envelope(
                meta.session_id,
                meta.creator_id,
                meta.participant_ids(),
                EV_SESSION_OPENED,
                {"session_id": meta.session_id},
            ),
        )
        live.state = (
            live.adapter.fold(opened, live.state) if live.adapter is not None else live.state
        )
        apply_lifecycle_event(meta, opened)
        await self._store.append(live.wal, line)
        live.durable = opened.sequence
        self._dispatch(opened, live.pids)
        if live.waiter is not None and not live.waiter.done():
            live.waiter.set_result(None)

    async def _terminate(self, live: LiveSession, new_state: SessionState, reason: str) -> None:
        """The one terminal-transition routine: log + broadcast the close, audit, release memory."""
        meta = live.meta
        if meta.is_terminal() or live.closing is not None:
            return
        live.closing = reason
        env, line = self._stamp_internal(live, terminal_envelope(meta, new_state, reason))
        apply_lifecycle_event(meta, env)
        if live.adapter is not None:
            live.state = live.adapter.fold(env, live.state)
        self._drop_live(live)
        waiter = live.waiter
        if waiter is not None and not waiter.done():
            msg = f"session {meta.session_id} closed during handshake: {reason}"
            if reason == "invite_rejected" and meta.rejected_by:
                msg = f"session {meta.session_id} rejected by {', '.join(meta.rejected_by)}"
            waiter.set_exception(ProtocolError(msg))
            waiter.exception()  # the opener may be gone (timeout); don't log "never retrieved"
        await self._store.append(live.wal, line)
        live.durable = env.sequence
        self._dispatch(env, live.pids)
        await index_remove(self._as_hub(), meta.session_id)
        kind = (
            AUDIT_KIND_SESSION_EXPIRED
            if new_state is SessionState.EXPIRED
            else AUDIT_KIND_SESSION_CLOSED
        )
        await self._audit_log.append(
            {"kind": kind, "session_id": meta.session_id, "reason": reason}
        )

    # ================================================================ bookkeeping

    def _add_live(self, live: LiveSession) -> None:
        sid = live.meta.session_id
        self._sessions[sid] = live
        counts = self._live_count
        for pid in live.pids:
            counts[pid] = counts.get(pid, 0) + 1
        if live.expires_at_s is not None:
            heapq.heappush(self._ttl_heap, (live.expires_at_s, sid))

    def _drop_live(self, live: LiveSession) -> None:
        sid = live.meta.session_id
        if self._sessions.pop(sid, None) is not None:
            counts = self._live_count
            for pid in live.pids:
                left = counts[pid] - 1
                if left:
                    counts[pid] = left
                else:
                    del counts[pid]
        live.fired = None
        heap = self._ttl_heap
        if len(heap) > 2 * len(self._sessions) + 64:
            # Closed sessions' expiry entries would otherwise stay until their TTL.
            self._ttl_heap = [e for e in heap if e[1] in self._sessions]
            heapq.heapify(self._ttl_heap)
        self._remember_closed(live)

    def _remember_closed(self, live: LiveSession) -> None:
        if self._closed_cache_size <= 0:
            return
        sid = live.meta.session_id
        self._closed[sid] = live
        self._closed.move_to_end(sid)
        while len(self._closed) > self._closed_cache_size:
            self._closed.popitem(last=False)
