"""Context variables of a workflow session, written from tools.

``set_context`` / ``delete_context`` post an ``EV_CONTEXT_SET`` envelope (WAL only,
``audience=[]``: nobody is notified) into the session; the workflow adapter folds it
into ``state.context_vars`` (delete before set), where ``ContextEquals`` rules and
tools (``SessionStateInject``) read it. Context writes are not turns.
"""

from __future__ import annotations

from typing import Any

from hubbub.network.envelope import EV_CONTEXT_SET

__all__ = ["context_update_data", "delete_context", "set_context", "update_context"]


def context_update_data(
    set: dict[str, Any] | None = None, delete: list[str] | None = None
) -> dict[str, Any]:
    """The ``event_data`` of an ``EV_CONTEXT_SET``: ``{"set": {...}, "delete": [...]}``."""
    return {"set": dict(set or {}), "delete": list(delete or [])}


def _check_workflow(session: Any, what: str) -> None:
    if session is None:
        raise RuntimeError(f"{what}: no session (call it from a tool inside a workflow turn)")
    manifest_type = session.metadata.manifest.type
    if manifest_type != "workflow":
        raise RuntimeError(
            f"{what}: session {session.session_id} is a {manifest_type!r} session, not a workflow"
        )


async def update_context(
    session: Any, *, set: dict[str, Any] | None = None, delete: list[str] | None = None
) -> str:
    """Post one ``EV_CONTEXT_SET`` with ``set`` and ``delete``; returns its envelope id."""
    _check_workflow(session, "update_context")
    envelope_id: str = await session.send(
        audience=[], event_type=EV_CONTEXT_SET, event_data=context_update_data(set, delete)
    )
    return envelope_id


async def set_context(session: Any, key: str, value: Any) -> str:
    """Set context variable ``key`` to ``value`` (JSON) in a workflow session.

    Raises:
        RuntimeError: ``session`` is None or not a workflow session.
        ProtocolError: the hub refused it (not a participant, session closed, ...).
    """
    _check_workflow(session, "set_context")
    return await update_context(session, set={key: value})


async def delete_context(session: Any, key: str) -> str:
    """Remove context variable ``key`` from a workflow session (see ``set_context``)."""
    _check_workflow(session, "delete_context")
    return await update_context(session, delete=[key])
