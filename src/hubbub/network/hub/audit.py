"""The audit log: an append-only record of what the hub decided, in bounded segments."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from hubbub.knowledge import KnowledgeStore
from hubbub.network.clock import Clock, system_clock
from hubbub.network.hub.layout import AUDIT_DIR, audit_segment

__all__ = [
    "AUDIT_KIND_AGENT_REGISTERED",
    "AUDIT_KIND_AGENT_UNREGISTERED",
    "AUDIT_KIND_EXPECTATION_VIOLATED",
    "AUDIT_KIND_RESUME_SET",
    "AUDIT_KIND_RULE_SET",
    "AUDIT_KIND_SESSION_CLOSED",
    "AUDIT_KIND_SESSION_CREATED",
    "AUDIT_KIND_SESSION_EXPIRED",
    "AUDIT_KIND_SESSION_QUARANTINED",
    "AUDIT_KIND_SKILL_SET",
    "AUDIT_KIND_TASK_TERMINATED",
    "AUDIT_KIND_TURN_FAILED",
    "RESUME_SOURCE_OBSERVED",
    "RESUME_SOURCE_TENANT",
    "AuditLog",
]

log = logging.getLogger(__name__)

AUDIT_KIND_AGENT_REGISTERED = "agent_registered"
AUDIT_KIND_AGENT_UNREGISTERED = "agent_unregistered"
AUDIT_KIND_RESUME_SET = "resume_set"
AUDIT_KIND_SKILL_SET = "skill_set"
AUDIT_KIND_RULE_SET = "rule_set"
AUDIT_KIND_SESSION_CREATED = "session_created"
AUDIT_KIND_SESSION_CLOSED = "session_closed"
AUDIT_KIND_SESSION_EXPIRED = "session_expired"
AUDIT_KIND_SESSION_QUARANTINED = "session_quarantined"
AUDIT_KIND_TASK_TERMINATED = "task_terminated"
AUDIT_KIND_EXPECTATION_VIOLATED = "expectation_violated"
AUDIT_KIND_TURN_FAILED = "turn_failed"
RESUME_SOURCE_TENANT = "tenant"
RESUME_SOURCE_OBSERVED = "observed"

AuditCallback = Callable[[dict[str, Any]], "Awaitable[None] | None"]


class AuditLog:
    """Appends one JSON line per record; a new segment starts every ``segment_records`` records.

    Segmenting keeps every append O(record) on every store and lets retention
    drop old segments whole.
    """

    def __init__(
        self, store: KnowledgeStore, *, clock: Clock | None = None, segment_records: int = 10_000
    ) -> None:
        if segment_records < 1:
            raise ValueError("segment_records must be >= 1")
        self._store = store
        self._clock = clock or system_clock
        self._segment_records = segment_records
        self._segment = 1
        self._in_segment = 0
        self._subscribers: list[AuditCallback] = []
        self.bytes_written = 0

    async def open(self) -> None:
        """Continue after the last existing segment (call once before appending)."""
        segments = await self.segments()
        if segments:
            last = segments[-1]
            self._segment = int(last.rsplit("-", 1)[1].split(".")[0])
            self._in_segment = await self._store.line_count(audit_segment(self._segment))

    async def segments(self) -> list[str]:
        """Existing segment paths, oldest first."""
        names = await self._store.list(AUDIT_DIR)
        return sorted(
            f"{AUDIT_DIR}/{n}" for n in names if n.startswith("audit-") and n.endswith(".jsonl")
        )

    async def append(self, record: dict[str, Any]) -> None:
        """Stamp ``at`` if missing and append the record; subscribers see it after it is stored."""
        if "at" not in record:
            record = {"at": self._clock(), **record}
        line = orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str).decode() + "\n"
        if self._in_segment >= self._segment_records:
            self._segment += 1
            self._in_segment = 0
        await self._store.append(audit_segment(self._segment), line)
        self._in_segment += 1  # counted once stored: a failed append takes no slot
        self.bytes_written += len(line)
        for cb in list(self._subscribers):
            try:
                result = cb(record)
                if inspect.isawaitable(result):  # an async subscriber is awaited
                    await result
            except Exception:  # a listener must never break the hub
                log.exception("audit subscriber failed")

    async def read_all(self) -> list[dict[str, Any]]:
        """Every record, oldest first ([] when nothing was written)."""
        out: list[dict[str, Any]] = []
        for path in await self.segments():
            for line in await self._store.read_lines(path):
                if line:
                    out.append(orjson.loads(line))
        return out

    async def prune(self, *, keep_segments: int) -> list[str]:
        """Delete all but the newest ``keep_segments`` segments (the current one is always kept)."""
        segments = await self.segments()
        keep = max(1, keep_segments)
        doomed = segments[:-keep] if len(segments) > keep else []
        for path in doomed:
            await self._store.delete(path)
        return doomed

    def subscribe(self, callback: AuditCallback) -> None:
        """Call ``callback(record)`` for every record appended from now on."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback: AuditCallback) -> None:
        """Stop calling ``callback``; unknown callbacks are ignored."""
        if callback in self._subscribers:
            self._subscribers.remove(callback)
