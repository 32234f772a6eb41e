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
    is_protocol_event,
)
from hubbub.network.errors import (
    AccessDeniedError,
    NetworkError,
    NotFoundError,
    ProtocolError,
)
from hubbub.network.hub import layout
from hubbub.network.hub._pipeline import _ACTIVE, _PENDING, _PipelineMixin
from hubbub.network.hub.audit import (
    AUDIT_KIND_SESSION_CREATED,
)
from hubbub.network.hub.registry import glob_match
from hubbub.network.hub.runtime import LiveSession
from hubbub.network.hub.snapshots import index_add
from hubbub.network.ids import make_id
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
        creator = reg.require(creator_id)
        if not isinstance(participants, list) or not participants:
            raise ProtocolError("a session needs at least one participant besides the creator")
        if len(set(participants)) != len(participants):
            raise ProtocolError(f"duplicate participants in {participants}")
        for pid in participants:
            reg.require(pid)
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
            raise ProtocolError(f"bad ttl: {exc}") from exc
        expires_at_s = now_s + ttl_s if ttl_s else None
        parts = [
            Participant(pid, participant_role(i, len(ids)), i, now) for i, pid in enumerate(ids)
        ]
        all_labels = dict(labels or {})
        if intent:
            all_labels["intent"] = intent
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
            knobs=own_entries(knobs),
            labels=own_entries(all_labels),
            required_acks=required_acks,
            pending_acks=ids[1:] or NO_IDS,
            rejected_by=NO_IDS,
        )
        adapter.validate_create(meta)
        live = LiveSession(
            meta,
            adapter,
            adapter.initial_state(meta),
            now_s,
            expires_at_s,
        )
        await index_add(self._as_hub(), session_id)
        await self._store.write(
            layout.session_meta_path(session_id), await self._creation_record(meta)
        )
        self._add_live(live)
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
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        live.waiter = waiter
        try:
            for invitee in ids[1:]:
                await self._admit(
                    Envelope(
                        session_id=session_id,
                        sender_id=creator_id,
                        audience=[invitee],
                        event_type=EV_SESSION_INVITE,
                        event_data={
                            "session_id": session_id,
                            "manifest_type": manifest.type,
                            "manifest_version": manifest.version,
                            "creator_id": creator_id,
                            "knobs": meta.knobs,
                            "labels": meta.labels,
                        },
                    ),
                    internal=True,
                )
        except BaseException:
            await self._terminate(live, SessionState.CLOSED, "invite_failed")
            raise
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout=self.invite_ack_timeout)
        except TimeoutError:
            await self._terminate(live, SessionState.CLOSED, "invite_timeout")
            raise ProtocolError(
                f"session {session_id} ack timeout after {self.invite_ack_timeout}s"
            ) from None
        finally:
            live.waiter = None
        return meta.copy()

    async def _creation_record(self, meta: SessionMetadata) -> str:
        """The compact creation record: the manifest stored once by content hash; defaults,
        and what follows from the rest, left out (``recovery.creation_defaults`` puts it back)."""
        ref = await self._manifest_ref(meta.manifest)
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

    async def _manifest_ref(self, manifest: SessionManifest) -> str:
        """The content hash a creation record names its manifest by; stores the manifest once."""
        manifest_json = _dumps(manifest.to_dict())
        ref = hashlib.sha256(manifest_json.encode()).hexdigest()[:24]
        if ref not in self._manifest_refs:
            path = layout.manifest_path(ref)
            if not await self._store.exists(path):
                await self._store.write(path, manifest_json)
            self._manifest_refs[ref] = manifest
        return ref

    async def close_session(self, session_id: str, *, reason: str = "") -> SessionMetadata:
        """Close a session (``reason`` defaults to "explicit_close"); closing a closed one is a no-op."""
        live = await self._find(session_id)
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
        limit: int = 50,
    ) -> list[SessionMetadata]:
        """Sessions (live ones, plus recently closed with ``include_terminal``) matching the filters."""
        wanted = SessionState(state) if state is not None else None
        pool: list[LiveSession] = list(self._sessions.values())
        if include_terminal or (
            wanted is not None and wanted in (SessionState.CLOSED, SessionState.EXPIRED)
        ):
            pool.extend(self._closed.values())
        out = []
        for live in pool:
            meta = live.meta
            if agent_id is not None and not meta.is_participant(agent_id):
                continue
            if wanted is not None and meta.state is not wanted:
                continue
            out.append(meta.copy())
            if len(out) >= limit:
                break
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
        live = self._sessions.get(session_id) or self._closed.get(session_id)
        return None if live is None else live.state

    def default_view_policy(self, session_id: str, participant_id: str) -> ViewPolicy:
        """The view a participant's turns are built from; NotFoundError."""
        live = self._live(session_id)
        return self.adapter_for(session_id).default_view_policy(live.meta, participant_id)

    async def read_wal(
        self, session_id: str, *, since: int = 0, until: int | None = None
    ) -> list[Envelope]:
        """A session's logged envelopes in admission order (``since``/``until`` are list indices)."""
        if not isinstance(session_id, str) or not session_id or "/" in session_id:
            return []
        lines = await self._store.read_lines(layout.wal_path(session_id), since, until)
        return [Envelope.from_wal_line(line, session_id) for line in lines if line]

    def can_send(self, session_id: str, sender_id: str, *, event_type: str | None = None) -> bool:
        """Would the hub admit a (blank) envelope of ``event_type`` from ``sender_id`` right now?"""
        live = self._sessions.get(session_id)
        if live is None or live.closing is not None or live.adapter is None:
            return False
        meta = live.meta
        et = event_type or EV_TEXT
        if meta.is_terminal() or not meta.is_participant(sender_id):
            return False
        if meta.state is not _ACTIVE and not is_protocol_event(et):
            return False
        probe = Envelope(session_id, sender_id, None, et, {"text": ""})
        try:
            live.adapter.validate_send(meta, probe, live.state)
        except NetworkError:
            return False
        return True


def _iso_after(iso: str, seconds: float) -> str:
    return (datetime.fromisoformat(iso) + timedelta(seconds=seconds)).isoformat()
