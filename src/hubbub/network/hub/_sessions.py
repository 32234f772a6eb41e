"""The hub's session API: create (invite, ack, open), close, look up, read the WAL.

A private part of :class:`hubbub.network.hub.core.Hub` (a mixin it inherits).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta
from typing import Any

import orjson

from hubbub.network.adapters.base import SessionAdapter
from hubbub.network.clock import iso_to_seconds
from hubbub.network.envelope import (
    EV_SESSION_INVITE,
    Envelope,
)
from hubbub.network.errors import (
    AccessDeniedError,
    InvalidValueError,
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
    logged_copy,
)
from hubbub.network.hub.audit import (
    AUDIT_KIND_SESSION_CREATED,
)
from hubbub.network.hub.registry import glob_match
from hubbub.network.hub.runtime import LiveSession
from hubbub.network.hub.table import dumps_sorted, manifest_hash
from hubbub.network.ids import make_id
from hubbub.network.jsonvalue import check_json_value
from hubbub.network.rule import parse_duration
from hubbub.network.session import (
    NO_IDS,
    Participant,
    SessionMetadata,
    SessionState,
    own_entries,
    participant_role,
)
from hubbub.network.views import ViewPolicy


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
        adapter = self._table.adapters.get((manifest_type, manifest_version))
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
        if cap and self._table.live_count.get(creator_id, 0) >= cap:
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
        await self._table.store_manifest(meta.manifest)
        # Index line first: a crash before the record leaves a line that open() drops;
        # the other order would leave a session that open() never loads.
        await self._table.index.add(session_id)
        await self._store.write(layout.session_meta_path(session_id), record)
        self._table.add(live)
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
        ref = manifest_hash(meta.manifest)
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
        return dumps_sorted(record)

    async def close_session(self, session_id: str, *, reason: str = "") -> SessionMetadata:
        """Close a session (``reason`` defaults to "explicit_close"); closing a closed one is a no-op.

        A session whose end was decided but could not be logged (the store was
        down) is closed now with the decided reason.
        """
        if type(reason) is not str:
            raise InvalidValueError(f"close_session: reason must be a str, got {reason!r}")
        live = await self._table.find(session_id)
        decision = live.machine.decision
        if decision is not None and decision[0] is not _ACTIVE and not live.meta.is_terminal():
            await self._carry_out(live, decision)
        else:
            await self._terminate(live, SessionState.CLOSED, reason or "explicit_close")
        return live.meta.copy()

    async def get_session(self, session_id: str) -> SessionMetadata:
        """A snapshot of a session's metadata; NotFoundError."""
        return (await self._table.find(session_id)).meta.copy()

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
        return await self._table.list_sessions(
            agent_id=agent_id,
            state=state,
            include_terminal=include_terminal,
            type=type,
            created_after=created_after,
            created_before=created_before,
            limit=limit,
            offset=offset,
        )

    def adapter_for(self, session_id: str) -> SessionAdapter:
        """The adapter running a session; NotFoundError / ProtocolError if unregistered."""
        return self._table.adapter_for(session_id)

    def adapter_state(self, session_id: str) -> Any:
        """A session's current adapter state, or None for an unknown session."""
        live = self._table.get(session_id)
        return None if live is None else live.state

    def default_view_policy(self, session_id: str, participant_id: str) -> ViewPolicy:
        """The view a participant's turns are built from; NotFoundError."""
        live = self._table.require(session_id)
        return self._table.adapter_for(session_id).default_view_policy(live.meta, participant_id)

    async def read_wal(
        self, session_id: str, *, since: int = 0, until: int | None = None
    ) -> list[Envelope]:
        """A session's logged envelopes in admission order (``since``/``until`` are list indices).

        A quarantined session's WAL is readable: lines that do not decode are left out.

        Raises:
            InvalidValueError: ``since``/``until`` are not non-negative ints.
        """
        return await self._table.read_wal(session_id, since, until)

    def can_send(self, session_id: str, sender_id: str, *, event_type: str | None = None) -> bool:
        """Would the hub admit a (blank) envelope of ``event_type`` from ``sender_id`` right now?"""
        return self._table.can_send(session_id, sender_id, event_type)


def _iso_after(iso: str, seconds: float) -> str:
    return (datetime.fromisoformat(iso) + timedelta(seconds=seconds)).isoformat()
