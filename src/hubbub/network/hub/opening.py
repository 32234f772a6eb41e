"""Opening a session: check the request, write the creation records, run the invite handshake.

``create`` refuses a bad or forbidden request before anything is written, then
stores the session's manifest, index line and creation record, makes it live
(PENDING), invites every other participant and waits until all have acked
(ACTIVE) — or closes it: ``invite_timeout``, ``invite_rejected`` (the pipeline
ends it when a rejection is durable), ``invite_failed`` (the store failed).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import datetime, timedelta
from typing import Any

import orjson

from hubbub.network.adapters.base import SessionAdapter
from hubbub.network.clock import Clock, iso_to_seconds
from hubbub.network.envelope import EV_SESSION_INVITE, Envelope
from hubbub.network.errors import (
    InvalidValueError,
    NotFoundError,
    ProtocolError,
    SessionTimeoutError,
    StoreUnavailableError,
)
from hubbub.network.hub.admission import logged_copy
from hubbub.network.hub.arbiter import Deny
from hubbub.network.hub.audit import AUDIT_KIND_SESSION_CREATED
from hubbub.network.hub.pipeline import Pipeline
from hubbub.network.hub.registry import Registry
from hubbub.network.hub.runtime import LiveSession
from hubbub.network.hub.seam import HubSeam
from hubbub.network.hub.table import SessionTable, dumps_sorted, manifest_hash
from hubbub.network.ids import make_id
from hubbub.network.jsonvalue import check_json_value
from hubbub.network.rule import Rule, parse_duration
from hubbub.network.session import (
    NO_IDS,
    Participant,
    SessionMetadata,
    SessionState,
    own_entries,
    participant_role,
)

__all__ = ["SessionOpener", "creation_record"]

log = logging.getLogger("hubbub.hub")


class SessionOpener:
    """Creates sessions (what :meth:`Hub.create_session` does).

    Args:
        registry: the creator's and participants' rules.
        table: where the new session is stored and made live.
        pipeline: what writes the invites and the open or close.
        seam: the arbiter (``authorize_session_open``), the audit sink where the
            creation is recorded, the listeners told of it.
        clock: the hub's clock.
        invite_ack_timeout: seconds to wait for every invitee's ack.
    """

    def __init__(
        self,
        registry: Registry,
        table: SessionTable,
        pipeline: Pipeline,
        seam: HubSeam,
        clock: Clock,
        *,
        invite_ack_timeout: float,
    ) -> None:
        self._registry = registry
        self._table = table
        self._pipeline = pipeline
        self._seam = seam
        self._clock = clock
        self.invite_ack_timeout = invite_ack_timeout

    async def create(
        self,
        *,
        creator_id: str,
        manifest_type: str,
        participants: list[str],
        manifest_version: int,
        required_acks: int | None,
        ttl: str | int | None,
        knobs: dict[str, Any] | None,
        intent: str | None,
        labels: dict[str, str] | None,
    ) -> SessionMetadata:
        """Create a session, invite everyone, and return once all acked (state ACTIVE).

        Raises:
            NotFoundError: unknown creator, participant or adapter.
            AccessDeniedError: a rule forbids it.
            ProtocolError: bad participant list or knobs, ack timeout, rejection.
        """
        _check_request(
            self._registry,
            creator_id,
            participants,
            manifest_type,
            manifest_version,
            knobs,
            labels,
            intent,
            required_acks,
        )
        ids = [creator_id, *[p for p in participants if p != creator_id]]
        adapter = self._table.adapters.get((manifest_type, manifest_version))
        if adapter is None:
            raise NotFoundError(f"no adapter registered for {manifest_type!r}@v{manifest_version}")
        creator_rule = self._check_access(ids, adapter)
        live, record = self._new_session(
            adapter, ids, creator_rule, required_acks, ttl, knobs, intent, labels
        )
        meta = live.meta
        invite_data = {
            "session_id": meta.session_id,
            "manifest_type": meta.manifest.type,
            "manifest_version": meta.manifest.version,
            "creator_id": creator_id,
            "knobs": meta.knobs,
            "labels": meta.labels,
        }
        limit = self._pipeline.max_envelope_bytes
        size = len(record.encode()) + len(orjson.dumps(invite_data))
        if size > limit:
            raise ProtocolError(
                f"create_session: knobs and labels make {size} bytes, over the hub's "
                f"{limit}-byte limit",
                code="payload_too_large",
            )
        await self._table.create(live, record)
        log.info(
            "session %s created (%s) by %s",
            meta.session_id,
            meta.manifest.type,
            meta.creator_id,
            extra={"session_id": meta.session_id, "session_type": meta.manifest.type},
        )
        await self._handshake(live, ids, invite_data)
        return meta.copy()

    def _check_access(self, ids: list[str], adapter: SessionAdapter) -> Rule:
        """The creator's rule, once the arbiter allows the session (everyone registered).

        Raises:
            AccessDeniedError: the arbiter refused (by default: a rule forbids it, or
                the creator is at its session cap); or the Deny's own error.
        """
        reg = self._registry
        creator_id = ids[0]
        creator_rule = reg.rules[creator_id]
        verdict = self._seam.arbiter.authorize_session_open(
            adapter.manifest,
            reg.passports[creator_id],
            creator_rule,
            [reg.passports[pid] for pid in ids[1:]],
            [reg.rules[pid] for pid in ids[1:]],
            self._table.live_count.get(creator_id, 0),
        )
        if isinstance(verdict, Deny):
            raise verdict.exception()
        return creator_rule

    def _new_session(
        self,
        adapter: SessionAdapter,
        ids: list[str],
        creator_rule: Rule,
        required_acks: int | None,
        ttl: str | int | None,
        knobs: dict[str, Any] | None,
        intent: str | None,
        labels: dict[str, str] | None,
    ) -> tuple[LiveSession, str]:
        """The new session (PENDING, nothing written yet) and its creation record.

        Everything the session will store is encoded here, before anything is
        written: a refused create leaves nothing behind.
        """
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
        parts = [
            Participant(pid, participant_role(i, len(ids)), i, now) for i, pid in enumerate(ids)
        ]
        all_labels = dict(labels or {})
        if intent:
            all_labels["intent"] = intent
        knob_copy = logged_copy(dict(knobs), "create_session.knobs") if knobs else None
        label_copy = logged_copy(all_labels, "create_session.labels") if all_labels else None
        meta = SessionMetadata(
            # Interned: the store's directory for the session can then share the string.
            session_id=sys.intern(make_id()),
            manifest=manifest,
            creator_id=ids[0],
            participants=parts,
            state=SessionState.PENDING,
            created_at=now,
            expires_at=_iso_after(now, ttl_s) if ttl_s else None,
            knobs=own_entries(knob_copy),
            labels=own_entries(label_copy),
            required_acks=required_acks,
            pending_acks=ids[1:] or NO_IDS,
            rejected_by=NO_IDS,
        )
        adapter.validate_create(meta)
        try:
            record = creation_record(meta)
        except TypeError as exc:  # a string JSON cannot carry (a lone surrogate)
            check_json_value({"knobs": meta.knobs, "labels": meta.labels}, "create_session")
            raise ProtocolError(f"create_session: not JSON: {exc}", code="bad_envelope") from exc
        expires_at_s = now_s + ttl_s if ttl_s else None
        return LiveSession(meta, adapter, None, now_s, expires_at_s), record

    async def _handshake(
        self, live: LiveSession, ids: list[str], invite_data: dict[str, Any]
    ) -> None:
        """Audit the creation, invite the others, and wait until the session is ACTIVE.

        Raises:
            SessionTimeoutError: not every invitee acked in time (the session is closed).
            ProtocolError: an invitee rejected, or the session closed meanwhile.
            StoreUnavailableError: the store failed (the session is closed once it can be).
        """
        pipeline = self._pipeline
        meta = live.meta
        session_id = meta.session_id
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            record: dict[str, Any] = {
                "kind": AUDIT_KIND_SESSION_CREATED,
                "session_id": session_id,
                "manifest_type": meta.manifest.type,
                "manifest_version": meta.manifest.version,
                "creator_id": ids[0],
                "participants": ids,
            }
            await self._seam.audit.append(record)
            if self._seam.listeners:
                payload = {k: v for k, v in record.items() if k not in ("kind", "session_id")}
                self._seam.emit("on_session_event", session_id, "created", payload)
            if not meta.pending_acks:
                await pipeline.activate(live)
                return
            live.waiter = waiter
            for invitee in ids[1:]:
                await pipeline.admit(
                    Envelope(
                        session_id=session_id,
                        sender_id=ids[0],
                        audience=[invitee],
                        event_type=EV_SESSION_INVITE,
                        event_data=dict(invite_data),
                    ),
                    internal=True,
                )
        except BaseException:
            await pipeline.abandon(live)
            raise
        timeout = self.invite_ack_timeout
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout=timeout)
        except TimeoutError:
            await pipeline.terminate(live, SessionState.CLOSED, "invite_timeout")
            raise SessionTimeoutError(
                f"session {session_id} ack timeout after {timeout}s"
            ) from None
        except StoreUnavailableError:
            await pipeline.abandon(live)
            raise
        finally:
            live.waiter = None


def creation_record(meta: SessionMetadata) -> str:
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
        ("state", meta.state.value, SessionState.PENDING.value),
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


def _check_request(
    registry: Registry,
    creator_id: object,
    participants: object,
    manifest_type: object,
    manifest_version: object,
    knobs: object,
    labels: object,
    intent: object,
    required_acks: object,
) -> None:
    """Refuse ``create_session`` arguments of the wrong type or shape, or naming unknown agents.

    Raises:
        InvalidValueError: an argument of the wrong type (named).
        NotFoundError: the creator or a participant is not registered.
        ProtocolError: a participant is listed twice.
    """
    if type(creator_id) is not str:
        raise InvalidValueError(
            f"create_session: creator_id must be an agent id, got {creator_id!r}"
        )
    registry.require(creator_id)
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
        registry.require(pid)
    if type(manifest_type) is not str or type(manifest_version) is not int:
        raise InvalidValueError(
            f"create_session: manifest_type must be a str and manifest_version an int, "
            f"got {manifest_type!r}, {manifest_version!r}"
        )
    if knobs is not None and not isinstance(knobs, dict):
        raise InvalidValueError(f"create_session: knobs must be a dict, got {type(knobs).__name__}")
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


def _iso_after(iso: str, seconds: float) -> str:
    return (datetime.fromisoformat(iso) + timedelta(seconds=seconds)).isoformat()
