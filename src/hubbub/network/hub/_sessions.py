"""The hub's session API: create (invite, ack, open), close, look up, read the WAL.

A private part of :class:`hubbub.network.hub.core.Hub` (a mixin it inherits).
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from datetime import datetime, timedelta
from typing import Any

import orjson

from hubbub.network.adapters.base import SessionAdapter
from hubbub.network.clock import iso_to_seconds
from hubbub.network.envelope import (
    EV_SESSION_INVITE,
    EV_TEXT,
    Envelope,
)
from hubbub.network.errors import (
    AccessDeniedError,
    InvalidValueError,
    NetworkError,
    NotFoundError,
    ProtocolError,
    SessionTimeoutError,
    StoreUnavailableError,
)
from hubbub.network.hub import layout
from hubbub.network.hub._pipeline import (
    _ACTIVE,
    _PENDING,
    _PipelineMixin,
    check_session_id,
    logged_copy,
)
from hubbub.network.hub.audit import (
    AUDIT_KIND_SESSION_CREATED,
)
from hubbub.network.hub.registry import glob_match
from hubbub.network.hub.runtime import LiveSession
from hubbub.network.hub.snapshots import index_add
from hubbub.network.ids import make_id
from hubbub.network.jsonvalue import check_json_value
from hubbub.network.rule import parse_duration
from hubbub.network.session import (
    NO_IDS,
    Participant,
    SessionManifest,
    SessionMetadata,
    SessionState,
    own_entries,
    participant_role,
)
from hubbub.network.views import ViewPolicy


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class _SessionsMixin(_PipelineMixin):
    """Sessions as the hub's callers see them."""

    async def create_session(
        self,
        *,
        creator_id: str,
        manifest_type: str,
        participants: list[str],
        manifest_version: int = 1,
        required_acks: int | None = None,
        ttl: str | int | None = None,
        knobs: dict[str, Any] | None = None,
        intent: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> SessionMetadata:
        """Create a session, invite everyone, and return once all acked (state ACTIVE).

        Raises:
            NotFoundError: unknown creator, participant or adapter.
            AccessDeniedError: a rule forbids it.
            ProtocolError: bad participant list or knobs, ack timeout, rejection.
        """
        reg = self._registry
        if type(creator_id) is not str:
            raise InvalidValueError(
                f"create_session: creator_id must be an agent id, got {creator_id!r}"
            )
        creator = reg.require(creator_id)
        if not isinstance(participants, list) or not participants:
            raise InvalidValueError(
                f"create_session: participants must be a non-empty list of agent ids, got {participants!r}"
            )
        for pid in participants:
            if type(pid) is not str:
                raise InvalidValueError(
                    f"create_session: participants[...] must be agent ids, got {pid!r}"
                )
        if len(set(participants)) != len(participants):
            raise ProtocolError(f"duplicate participants in {participants}")
        for pid in participants:
            reg.require(pid)
        if type(manifest_type) is not str or type(manifest_version) is not int:
            raise InvalidValueError(
                f"create_session: manifest_type must be a str and manifest_version an int, "
                f"got {manifest_type!r}, {manifest_version!r}"
            )
        if knobs is not None and not isinstance(knobs, dict):
            raise InvalidValueError(
                f"create_session: knobs must be a dict, got {type(knobs).__name__}"
            )
        if labels is not None and (
            not isinstance(labels, dict)
            or not all(type(k) is str and type(v) is str for k, v in labels.items())
        ):
            raise InvalidValueError("create_session: labels must be a dict of str to str")
        if intent is not None and type(intent) is not str:
            raise InvalidValueError(f"create_session: intent must be a str, got {intent!r}")
        if required_acks is not None and (type(required_acks) is not int or required_acks < 0):
            raise InvalidValueError(
                f"create_session: required_acks must be a non-negative int, got {required_acks!r}"
            )
        ids = [creator_id, *[p for p in participants if p != creator_id]]
        adapter = self._adapters.get((manifest_type, manifest_version))
        if adapter is None:
            raise NotFoundError(f"no adapter registered for {manifest_type!r}@v{manifest_version}")
        creator_rule = reg.rules[creator_id]
        if not glob_match(manifest_type, creator_rule.access.session_types.initiate):
            raise AccessDeniedError(f"{creator.name} may not initiate {manifest_type!r} sessions")
        for pid in ids[1:]:
            rule = reg.rules[pid]
            name = reg.passports[pid].name
            if not glob_match(creator.name, rule.access.inbound_from):
                raise AccessDeniedError(f"{name} does not accept sessions from {creator.name}")
            if not glob_match(manifest_type, rule.access.session_types.accept):
                raise AccessDeniedError(f"{name} does not accept {manifest_type!r} sessions")
        cap = creator_rule.limits.max_concurrent_sessions
        if cap and self._live_count.get(creator_id, 0) >= cap:
            raise AccessDeniedError(
                f"{creator.name} already has {cap} active sessions (max_concurrent_sessions)"
            )

        now = self._clock()
        now_s = iso_to_seconds(now)
        manifest = adapter.manifest
        ttl_value = (
            ttl
            if ttl is not None
            else (
                manifest.ttl_default
                if manifest.ttl_default is not None
                else creator_rule.limits.session_ttl_default
            )
        )
        try:
            ttl_s = parse_duration(ttl_value)
        except ValueError as exc:
            raise InvalidValueError(f"create_session: ttl: {exc}") from exc
        expires_at_s = now_s + ttl_s if ttl_s else None
        parts = [
            Participant(pid, participant_role(i, len(ids)), i, now) for i, pid in enumerate(ids)
        ]
        all_labels = dict(labels or {})
        if intent:
            all_labels["intent"] = intent
        knob_copy = logged_copy(dict(knobs), "create_session.knobs") if knobs else None
        label_copy = logged_copy(all_labels, "create_session.labels") if all_labels else None
        # Interned: the store's directory for the session can then share the string.
        session_id = sys.intern(make_id())
        meta = SessionMetadata(
            session_id=session_id,
            manifest=manifest,
            creator_id=creator_id,
            participants=parts,
            state=_PENDING,
            created_at=now,
            expires_at=_iso_after(now, ttl_s) if ttl_s else None,
            knobs=own_entries(knob_copy),
            labels=own_entries(label_copy),
            required_acks=required_acks,
            pending_acks=ids[1:] or NO_IDS,
            rejected_by=NO_IDS,
        )
        adapter.validate_create(meta)
        # Everything the session will store is encoded and measured before anything
        # is written: a refused create leaves nothing behind.
        try:
            record = self._creation_record(meta)
        except TypeError as exc:  # a string JSON cannot carry (a lone surrogate)
            check_json_value({"knobs": meta.knobs, "labels": meta.labels}, "create_session")
            raise ProtocolError(f"create_session: not JSON: {exc}", code="bad_envelope") from exc
        invite_data = {
            "session_id": session_id,
            "manifest_type": manifest.type,
            "manifest_version": manifest.version,
            "creator_id": creator_id,
            "knobs": meta.knobs,
            "labels": meta.labels,
        }
        size = len(record.encode()) + len(orjson.dumps(invite_data))
        if size > self.max_envelope_bytes:
            raise ProtocolError(
                f"create_session: knobs and labels make {size} bytes, over the hub's "
                f"{self.max_envelope_bytes}-byte limit",
                code="payload_too_large",
            )
        live = LiveSession(meta, adapter, None, now_s, expires_at_s)
        await self._store_manifest(meta.manifest)
        # Index line first: a crash before the record leaves a line that open() drops;
        # the other order would leave a session that open() never loads.
        await index_add(self._as_hub(), session_id)
        await self._store.write(layout.session_meta_path(session_id), record)
        self._add_live(live)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            await self._audit_log.append(
                {
                    "kind": AUDIT_KIND_SESSION_CREATED,
                    "session_id": session_id,
                    "manifest_type": manifest.type,
                    "manifest_version": manifest.version,
                    "creator_id": creator_id,
                    "participants": ids,
                }
            )
            if not meta.pending_acks:
                await self._activate(live)
                return meta.copy()
            live.waiter = waiter
            for invitee in ids[1:]:
                await self._admit(
                    Envelope(
                        session_id=session_id,
                        sender_id=creator_id,
                        audience=[invitee],
                        event_type=EV_SESSION_INVITE,
                        event_data=dict(invite_data),
                    ),
                    internal=True,
                )
        except BaseException:
            await self._abandon(live)
            raise
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout=self.invite_ack_timeout)
        except TimeoutError:
            await self._terminate(live, SessionState.CLOSED, "invite_timeout")
            raise SessionTimeoutError(
                f"session {session_id} ack timeout after {self.invite_ack_timeout}s"
            ) from None
        except StoreUnavailableError:
            await self._abandon(live)
            raise
        finally:
            live.waiter = None
        return meta.copy()

    async def _abandon(self, live: LiveSession) -> None:
        """A handshake failed: close the session (``invite_failed``), now or once the store is back."""
        live.waiter = None
        try:
            await self._terminate(live, SessionState.CLOSED, "invite_failed")
        except StoreUnavailableError:
            if not live.meta.is_terminal():
                live.machine.decision = (SessionState.CLOSED, "invite_failed")
                live.machine.closing = "invite_failed"
                self._retry.add(live)

    def _creation_record(self, meta: SessionMetadata) -> str:
        """The compact creation record: the manifest named by content hash; defaults,
        and what follows from the rest, left out (``recovery.creation_defaults`` puts it back)."""
        ref = _manifest_hash(meta.manifest)
        ids = meta.participant_ids()
        record: dict[str, Any] = {
            "manifest": {"ref": ref},
            # Roles, order and join time follow from the id list at creation (see recovery).
            "participants": ids,
            "created_at": meta.created_at,
        }
        optional: tuple[tuple[str, Any, Any], ...] = (
            ("creator_id", meta.creator_id, ids[0]),
            ("state", meta.state.value, _PENDING.value),
            ("expires_at", meta.expires_at, None),
            ("parent_session_id", meta.parent_session_id, None),
            ("knobs", meta.knobs, {}),
            ("labels", meta.labels, {}),
            ("required_acks", meta.required_acks, None),
            ("pending_acks", meta.pending_acks, ids[1:]),
        )
        for key, value, implied in optional:
            if value != implied:
                record[key] = value
        return _dumps(record)

    async def _store_manifest(self, manifest: SessionManifest) -> str:
        """Store a manifest once under its content hash (what creation records name it by)."""
        ref = _manifest_hash(manifest)
        if ref not in self._manifest_refs:
            path = layout.manifest_path(ref)
            if not await self._store.exists(path):
                await self._store.write(path, _dumps(manifest.to_dict()))
            self._manifest_refs[ref] = manifest
        return ref

    async def close_session(self, session_id: str, *, reason: str = "") -> SessionMetadata:
        """Close a session (``reason`` defaults to "explicit_close"); closing a closed one is a no-op.

        A session whose end was decided but could not be logged (the store was
        down) is closed now with the decided reason.
        """
        if type(reason) is not str:
            raise InvalidValueError(f"close_session: reason must be a str, got {reason!r}")
        live = await self._find(session_id)
        decision = live.machine.decision
        if decision is not None and decision[0] is not _ACTIVE and not live.meta.is_terminal():
            await self._carry_out(live, decision)
        else:
            await self._terminate(live, SessionState.CLOSED, reason or "explicit_close")
        return live.meta.copy()

    async def get_session(self, session_id: str) -> SessionMetadata:
        """A snapshot of a session's metadata; NotFoundError."""
        return (await self._find(session_id)).meta.copy()

    async def list_sessions(
        self,
        *,
        agent_id: str | None = None,
        state: SessionState | str | None = None,
        include_terminal: bool = False,
        type: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[SessionMetadata]:
        """Sessions matching every filter given, newest first.

        Live sessions come from memory; closed ones (with ``include_terminal`` or a
        terminal ``state``) from the store too, so sessions closed before a restart
        are listed. ``created_after``/``created_before`` are ISO-8601 times;
        ``offset`` and ``limit`` page through the result.

        Raises:
            InvalidValueError: a filter of the wrong type or value.
        """
        wanted = _state_filter(state)
        for name, value in (("agent_id", agent_id), ("type", type)):
            if value is not None and not isinstance(value, str):
                raise InvalidValueError(f"list_sessions: {name} must be a str, got {value!r}")
        after = _time_filter("created_after", created_after)
        before = _time_filter("created_before", created_before)
        for name, count in (("limit", limit), ("offset", offset)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise InvalidValueError(
                    f"list_sessions: {name} must be a non-negative int, got {count!r}"
                )
        terminal = include_terminal or wanted in (SessionState.CLOSED, SessionState.EXPIRED)

        def keep(meta: SessionMetadata) -> bool:
            if agent_id is not None and not meta.is_participant(agent_id):
                return False
            if wanted is not None and meta.state is not wanted:
                return False
            if type is not None and meta.manifest.type != type:
                return False
            created = iso_to_seconds(meta.created_at) if meta.created_at else 0.0
            return (after is None or created >= after) and (before is None or created < before)

        found: dict[str, SessionMetadata] = {}
        for live in self._sessions.values():
            if keep(live.meta):
                found[live.meta.session_id] = live.meta
        if terminal:
            for live in self._closed.values():
                if keep(live.meta):
                    found[live.meta.session_id] = live.meta
            for meta in await self._stored_sessions(skip=found.keys()):
                if keep(meta):
                    found[meta.session_id] = meta
        ordered = sorted(found.values(), key=lambda m: (m.created_at, m.session_id), reverse=True)
        return [meta.copy() for meta in ordered[offset : offset + limit]]

    async def _stored_sessions(self, *, skip: Any) -> list[SessionMetadata]:
        """Every session in the store that is neither live nor cached (read back and folded)."""
        ids = [entry.rstrip("/") for entry in await self._store.list(layout.SESSIONS_DIR)]
        out = []
        for sid in ids:
            if sid in skip or sid in self._sessions or sid in self._quarantined:
                continue
            try:
                live = await self._find(sid)
            except NetworkError:
                continue  # quarantined or gone meanwhile
            out.append(live.meta)
        return out

    def adapter_for(self, session_id: str) -> SessionAdapter:
        """The adapter running a session; NotFoundError / ProtocolError if unregistered."""
        live = self._live(session_id)
        if live.adapter is None:
            raise ProtocolError(
                f"no adapter registered for session {session_id}'s type {live.meta.manifest.type!r}"
            )
        return live.adapter

    def adapter_state(self, session_id: str) -> Any:
        """A session's current adapter state, or None for an unknown session."""
        if type(session_id) is not str:
            return None
        live = self._sessions.get(session_id) or self._closed.get(session_id)
        return None if live is None else live.state

    def default_view_policy(self, session_id: str, participant_id: str) -> ViewPolicy:
        """The view a participant's turns are built from; NotFoundError."""
        live = self._live(session_id)
        return self.adapter_for(session_id).default_view_policy(live.meta, participant_id)

    async def read_wal(
        self, session_id: str, *, since: int = 0, until: int | None = None
    ) -> list[Envelope]:
        """A session's logged envelopes in admission order (``since``/``until`` are list indices).

        A quarantined session's WAL is readable: lines that do not decode are left out.

        Raises:
            InvalidValueError: ``since``/``until`` are not non-negative ints.
        """
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise InvalidValueError(f"read_wal: since must be a non-negative int, got {since!r}")
        if until is not None and (
            isinstance(until, bool) or not isinstance(until, int) or until < 0
        ):
            raise InvalidValueError(f"read_wal: until must be a non-negative int, got {until!r}")
        try:
            check_session_id(session_id)
        except NotFoundError:
            return []
        lines = await self._store.read_lines(layout.wal_path(session_id), since, until)
        if session_id not in self._quarantined:
            return [Envelope.from_wal_line(line, session_id) for line in lines if line]
        out = []
        for line in lines:
            try:
                out.append(Envelope.from_wal_line(line, session_id))
            except ProtocolError:
                continue
        return out

    def can_send(self, session_id: str, sender_id: str, *, event_type: str | None = None) -> bool:
        """Would the hub admit a (blank) envelope of ``event_type`` from ``sender_id`` right now?"""
        live = self._sessions.get(session_id) if type(session_id) is str else None
        if live is None or sender_id not in live.pids:
            return False
        probe = Envelope(session_id, sender_id, None, event_type or EV_TEXT, {"text": ""})
        try:
            live.machine.check(probe)
        except NetworkError:
            return False
        return True


def _state_filter(state: SessionState | str | None) -> SessionState | None:
    if state is None:
        return None
    try:
        return SessionState(state)
    except ValueError:
        raise InvalidValueError(
            f"list_sessions: state must be one of {[s.value for s in SessionState]}, got {state!r}"
        ) from None


def _time_filter(name: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return iso_to_seconds(value)
    except (TypeError, ValueError):
        raise InvalidValueError(
            f"list_sessions: {name} must be an ISO-8601 time, got {value!r}"
        ) from None


def _manifest_hash(manifest: SessionManifest) -> str:
    return hashlib.sha256(_dumps(manifest.to_dict()).encode()).hexdigest()[:24]


def _iso_after(iso: str, seconds: float) -> str:
    return (datetime.fromisoformat(iso) + timedelta(seconds=seconds)).isoformat()
