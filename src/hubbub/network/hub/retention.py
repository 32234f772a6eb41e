"""Retention: archive or prune closed sessions, drop old audit segments.

Policy (documented in the README): nothing is deleted unless asked. With
``Hub.open(..., retention_seconds=N)`` a sweeper runs ``prune_closed`` every
``retention_sweep_interval`` seconds and removes every session that has been
closed or expired for at least N seconds — after copying its creation record,
WAL, snapshot and manifest to ``archive_store`` when one is given. Live
sessions are never touched. ``AuditLog.prune(keep_segments=K)`` keeps the
newest K audit segments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.knowledge import KnowledgeStore
from hubbub.network.clock import iso_to_seconds
from hubbub.network.hub import layout, recovery
from hubbub.network.hub.audit import AuditLog

if TYPE_CHECKING:
    from hubbub.network.hub.table import SessionTable

__all__ = ["prune_closed"]


async def _copy(src: KnowledgeStore, dst: KnowledgeStore, path: str) -> None:
    content = await src.read(path)
    if content is not None:
        await dst.write(path, content)


async def prune_closed(
    table: SessionTable,
    audit: AuditLog,
    now: str,
    *,
    older_than: float,
    archive: KnowledgeStore | None = None,
    limit: int | None = None,
) -> list[str]:
    """Remove sessions closed at least ``older_than`` seconds before ``now``; returns their ids.

    Args:
        table: the session table whose store is pruned.
        audit: where the pruning is recorded.
        now: the hub clock's current time (ISO-8601).
        older_than: minimum age of the close, in seconds.
        archive: where to copy each session (same paths) before it is deleted.
        limit: stop after this many sessions (None: no limit).
    """
    store = table.store
    now_s = iso_to_seconds(now)
    pruned: list[str] = []
    for entry in await store.list(layout.SESSIONS_DIR):
        session_id = entry.rstrip("/")
        if session_id in table.live:
            continue
        live = table.closed.get(session_id) or await recovery.load_session(table, session_id)
        if live is None or not live.meta.is_terminal() or not live.meta.closed_at:
            continue
        if now_s - iso_to_seconds(live.meta.closed_at) < older_than:
            continue
        if archive is not None:
            for path in (
                layout.session_meta_path(session_id),
                layout.wal_path(session_id),
                layout.snapshot_path(session_id),
            ):
                await _copy(store, archive, path)
            for ref, manifest in table.manifest_refs.items():
                if manifest is live.meta.manifest and not await archive.exists(
                    layout.manifest_path(ref)
                ):
                    await _copy(store, archive, layout.manifest_path(ref))
        await store.delete(layout.session_dir(session_id))
        table.closed.pop(session_id, None)
        pruned.append(session_id)
        if limit is not None and len(pruned) >= limit:
            break
    if pruned:
        await audit.append(
            {"kind": "sessions_pruned", "count": len(pruned), "archived": archive is not None}
        )
    return pruned
