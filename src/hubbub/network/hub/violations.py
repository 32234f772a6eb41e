"""Violation handlers and the expectation sweep (the acting half of expectations).

Evaluators (pure) live in ``hubbub.network.expectations``. A sweep builds one
``ExpectationContext`` per live session from the hub's activity record — no WAL
reads — evaluates the manifest's expectations, and for each *new* violation key
``(index, name, violator)`` writes an audit record and runs the handler.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from hubbub.network.clock import iso_to_seconds
from hubbub.network.expectations import ExpectationContext, ExpectationEvaluator, Violation
from hubbub.network.hub.audit import AUDIT_KIND_EXPECTATION_VIOLATED
from hubbub.network.session import SessionState

if TYPE_CHECKING:
    from hubbub.network.hub.core import Hub
    from hubbub.network.hub.runtime import LiveSession
    from hubbub.network.hub.seam import HubSeam

__all__ = [
    "AuditHandler",
    "AutoCloseHandler",
    "NotifySessionHandler",
    "ViolationHandler",
    "default_handlers",
    "run_expectation_tick",
]

log = logging.getLogger(__name__)


@runtime_checkable
class ViolationHandler(Protocol):
    """Acts on a violation; must tolerate being called again for the same violation."""

    name: str

    async def handle(self, hub: Hub, session_id: str, violation: Violation) -> None:
        """React to ``violation`` of ``session_id``."""
        ...


class AuditHandler:
    """Nothing beyond the audit record the sweep always writes."""

    name = "audit"

    async def handle(self, hub: Hub, session_id: str, violation: Violation) -> None:
        """Do nothing more."""


class NotifySessionHandler:
    """Post EV_EXPECTATION_VIOLATED to every participant; the session continues."""

    name = "notify_session"

    async def handle(self, hub: Hub, session_id: str, violation: Violation) -> None:
        """Broadcast the violation on the session if it is still live."""
        await hub.post_violation(
            session_id,
            {
                "expectation": violation.expectation.name,
                "violators": list(violation.violator_ids),
                "detail": dict(violation.detail),
            },
        )


class AutoCloseHandler:
    """Close the session with reason ``expectation_violated:<name>``."""

    name = "auto_close"

    async def handle(self, hub: Hub, session_id: str, violation: Violation) -> None:
        """Close the session if it is still live."""
        await hub.close_session(
            session_id, reason=f"expectation_violated:{violation.expectation.name}"
        )


def default_handlers() -> dict[str, ViolationHandler]:
    """Built-in handlers by ``on_violation`` key (``warn`` and ``notify`` alias notify_session)."""
    notify = NotifySessionHandler()
    return {
        "audit": AuditHandler(),
        "warn": notify,
        "notify": notify,
        "notify_session": notify,
        "auto_close": AutoCloseHandler(),
    }


async def run_expectation_tick(
    hub: Hub,
    sessions: list[LiveSession],
    evaluators: dict[str, ExpectationEvaluator],
    handlers: dict[str, ViolationHandler],
    seam: HubSeam | None = None,
) -> None:
    """One sweep over ``sessions`` (the live ones; see the module docstring).

    Handlers act through ``hub`` (the operator API: post a violation, close); the
    ``seam``'s listeners hear of every new violation (``on_expectation_fired``).
    """
    if not evaluators or not handlers:
        return
    now_iso = hub.now()
    now_s = iso_to_seconds(now_iso)
    for live in sessions:
        meta = live.meta
        if meta.is_terminal() or live.closing is not None:
            continue
        if meta.state not in (SessionState.ACTIVE, SessionState.PENDING):
            continue
        wal: Any = ()
        context = ExpectationContext(meta, live.state, live.activity, now_iso, now_s, wal)
        for index, expectation in enumerate(meta.manifest.expectations):
            evaluator = evaluators.get(expectation.name)
            handler = handlers.get(expectation.on_violation)
            if evaluator is None or handler is None:
                continue
            if getattr(evaluator, "needs_wal", False) and not context.wal:
                context.wal = await hub.read_wal(meta.session_id)
            try:
                violation = evaluator.evaluate(expectation, context)
            except Exception:
                log.exception(
                    "evaluator %s failed on session %s", expectation.name, meta.session_id
                )
                continue
            if violation is None:
                continue
            keys = [(index, expectation.name, v) for v in (violation.violator_ids or [""])]
            fired = live.fired if live.fired is not None else set()
            new = [k for k in keys if k not in fired]
            if not new:
                continue
            fired.update(new)
            live.fired = fired
            await hub.audit_log.append(
                {
                    "kind": AUDIT_KIND_EXPECTATION_VIOLATED,
                    "session_id": meta.session_id,
                    "expectation": expectation.name,
                    "on_violation": expectation.on_violation,
                    "params": dict(expectation.params),
                    "violators": list(violation.violator_ids),
                    "detail": dict(violation.detail),
                }
            )
            if seam is not None and seam.listeners:
                seam.emit("on_expectation_fired", meta.session_id, expectation, violation)
            try:
                await handler.handle(hub, meta.session_id, violation)
            except Exception:
                log.exception(
                    "violation handler %s failed on session %s", handler.name, meta.session_id
                )
            if meta.is_terminal() or live.closing is not None:
                break
