"""TaskMirror: tells the hub about the tasks an agent runs on a stream (spec §20).

``agent.task(..., context=ctx)`` publishes TaskStarted / TaskProgress / TaskCompleted /
TaskFailed / TaskExpired / TaskCancelled on the turn's stream. A mirror attached to
that stream turns them into hub calls through the agent's own connection:

* started → ``observe_task`` (a RUNNING record owned by ``owner_id``, in ``session_id``);
* progress → ``update_task(progress=...)``;
* completed / failed / expired / cancelled → ``update_task(state=..., result/error)``;
  then, when the task has a capability and its final state (as the hub has it — a
  task the hub already expired stays expired) is completed, failed or expired,
  ``record_observation(owner_id, capability, outcome, latency_ms, task_id)`` with the
  latency from the start event to the end event.

The hub calls run inside the stream's ``send``, so when ``async with agent.task(...)``
exits the hub has the outcome. A failing call never reaches the task: it is logged
(WARNING) and the mirror goes on. The default handler attaches one per turn.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from hubbub.events import (
    BaseEvent,
    TaskCancelled,
    TaskCompleted,
    TaskExpired,
    TaskFailed,
    TaskProgress,
    TaskStarted,
    TypeCondition,
)
from hubbub.network.identity import Resume
from hubbub.network.jsonvalue import check_json_value
from hubbub.network.task_records import OBSERVABLE_OUTCOMES
from hubbub.task import TaskMetadata, TaskSpec, TaskState
from hubbub.tools import is_cancellation

__all__ = ["TaskMirror", "TaskObserver"]

log = logging.getLogger(__name__)

_EVENTS = TypeCondition(
    TaskStarted, TaskProgress, TaskCompleted, TaskFailed, TaskExpired, TaskCancelled
)


class TaskObserver(Protocol):
    """What a mirror needs: a HubClient or an AgentClient."""

    async def observe_task(self, metadata: TaskMetadata) -> TaskMetadata: ...

    async def update_task(
        self,
        task_id: str,
        *,
        state: TaskState | str | None = None,
        progress: dict[str, Any] | None = None,
        result: Any = None,
        error: str | None = None,
    ) -> TaskMetadata: ...

    async def record_observation(
        self,
        agent_id: str,
        capability: str,
        outcome: TaskState | str,
        latency_ms: int | None = None,
        task_id: str | None = None,
    ) -> Resume: ...


class TaskMirror:
    """Mirrors the task events of a stream onto the hub's task table.

    Args:
        hub_client: the agent's HubClient or AgentClient (None: the mirror records
            nothing, which keeps a bare agent working).
        owner_id: the agent id the tasks belong to.
        session_id: the session the tasks run in (a task of a session that ends
            is expired by the hub).
    """

    def __init__(
        self,
        *,
        hub_client: TaskObserver | None = None,
        owner_id: str,
        session_id: str | None = None,
    ) -> None:
        self.hub_client = hub_client
        self.owner_id = owner_id
        self.session_id = session_id
        # task id → (capability, created_at of the start event, in epoch seconds)
        self._running: dict[str, tuple[str | None, float]] = {}
        self.failures = 0

    def attach(self, stream: Any) -> list[Any]:
        """Subscribe to ``stream``'s task events; returns the subscription ids for :meth:`detach`."""
        return [stream.subscribe(self.on_event, condition=_EVENTS)]

    def detach(self, stream: Any, sub_ids: list[Any]) -> None:
        """Undo :meth:`attach`."""
        for sub_id in sub_ids:
            stream.unsubscribe(sub_id)

    async def on_event(self, event: BaseEvent) -> None:
        """Mirror one task event (failures are logged, never raised)."""
        if self.hub_client is None:
            return
        try:
            await self._mirror(event)
        except BaseException as exc:
            if is_cancellation(exc):
                raise
            self.failures += 1
            log.warning(
                "task mirror of %s: %s for task %s failed: %s",
                self.owner_id,
                type(event).__name__,
                getattr(event, "task_id", "?"),
                exc,
            )

    async def _mirror(self, event: BaseEvent) -> None:
        hc = self.hub_client
        assert hc is not None
        if isinstance(event, TaskStarted):
            spec = event.spec or TaskSpec(event.objective)
            self._running[event.task_id] = (spec.capability, event.created_at)
            await hc.observe_task(
                TaskMetadata(
                    task_id=event.task_id,
                    owner_id=self.owner_id,
                    spec=TaskSpec(
                        spec.title, spec.description, _json_dict(spec.payload), spec.capability
                    ),
                    state=TaskState.RUNNING,
                    expires_at=event.expires_at,
                    session_id=self.session_id,
                )
            )
        elif isinstance(event, TaskProgress):
            await hc.update_task(event.task_id, progress=_json_dict(event.payload))
        elif isinstance(event, TaskCompleted):
            await self._finish(event, TaskState.COMPLETED, result=_json_or_text(event.result))
        elif isinstance(event, TaskFailed):
            await self._finish(event, TaskState.FAILED, error=event.error)
        elif isinstance(event, TaskExpired):
            await self._finish(event, TaskState.EXPIRED)
        elif isinstance(event, TaskCancelled):
            await self._finish(event, TaskState.CANCELLED, error=event.reason or None)

    async def _finish(
        self, event: Any, state: TaskState, *, result: Any = None, error: str | None = None
    ) -> None:
        hc = self.hub_client
        assert hc is not None
        task_id: str = event.task_id
        capability, started = self._running.pop(task_id, (None, None))
        md = await hc.update_task(task_id, state=state, result=result, error=error)
        if capability is None or md.state not in OBSERVABLE_OUTCOMES:
            return
        latency = None if started is None else max(0, round((event.created_at - started) * 1000))
        await hc.record_observation(
            self.owner_id, capability, md.state, latency_ms=latency, task_id=task_id
        )


def _json_or_text(value: Any) -> Any:
    """``value`` if it is plain JSON, else its ``str`` (the hub keeps JSON only)."""
    try:
        check_json_value(value, "value")
    except Exception:
        return str(value)
    return value


def _json_dict(value: Any) -> dict[str, Any]:
    """A JSON object for a payload / progress record (``{"text": str(value)}`` otherwise)."""
    if isinstance(value, dict):
        plain = _json_or_text(value)
        if isinstance(plain, dict):
            return plain
    return {"text": str(value)} if value else {}
