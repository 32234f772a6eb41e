"""Tasks: observable units of work with a lifecycle published on a stream."""

from __future__ import annotations

import enum
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Annotated, Any

from hubbub.context import ConversationContext
from hubbub.di import Inject
from hubbub.events import (
    BaseEvent,
    TaskCancelled,
    TaskCompleted,
    TaskExpired,
    TaskFailed,
    TaskProgress,
    TaskStarted,
)
from hubbub.stream import MemoryStream

__all__ = [
    "TASK_DEP",
    "TERMINAL_TASK_STATES",
    "Task",
    "TaskInject",
    "TaskMetadata",
    "TaskSpec",
    "TaskState",
]

TASK_DEP = "ag2.task"
"""Dependency key under which the active task is stamped."""


class TaskState(enum.StrEnum):
    """Lifecycle state of a task."""

    CREATED = "created"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


TERMINAL_TASK_STATES = frozenset(
    {TaskState.COMPLETED, TaskState.FAILED, TaskState.EXPIRED, TaskState.CANCELLED}
)


@dataclass(slots=True)
class TaskSpec:
    """What a task is about."""

    title: str
    description: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    capability: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class TaskMetadata:
    """The observable record of a task (timestamps are ISO-8601 UTC strings)."""

    task_id: str
    owner_id: str
    spec: TaskSpec
    state: TaskState = TaskState.CREATED
    created_at: str = ""
    started_at: str | None = None
    completed_at: str | None = None
    expires_at: str | None = None
    last_progress_at: str | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: str = ""
    session_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict (state as its string value, spec as a dict)."""
        out = asdict(self)
        out["state"] = self.state.value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskMetadata:
        """Inverse of :meth:`to_dict` (accepts ``channel_id`` as the old name of session_id)."""
        d = dict(data)
        if "channel_id" in d:
            d.setdefault("session_id", d.pop("channel_id"))
        spec = d.get("spec")
        if isinstance(spec, dict):
            d["spec"] = TaskSpec(**spec)
        d["state"] = TaskState(d.get("state", TaskState.CREATED))
        return cls(**d)


class Task:
    """A task owned by an agent; ``async with`` runs its lifecycle on a stream.

    Enter: state RUNNING, a TaskStarted event, and the task stamped under ``"ag2.task"`` in the
    context's dependencies (restored on exit). Exit: an exception fails the task (and
    propagates); a clean exit while running completes it with ``None``. Terminal transitions
    are idempotent.
    """

    def __init__(
        self,
        owner_id: str,
        spec: TaskSpec,
        *,
        context: ConversationContext | None = None,
        ttl_seconds: float | None = None,
    ) -> None:
        self.owner_id = owner_id
        self.spec = spec
        self.context = context
        self.ttl_seconds = ttl_seconds
        self.metadata = TaskMetadata(
            task_id=uuid.uuid4().hex, owner_id=owner_id, spec=spec, created_at=_now().isoformat()
        )
        self._previous: Any = None
        self._had_previous = False

    @property
    def task_id(self) -> str:
        """The task id (uuid4 hex)."""
        return self.metadata.task_id

    @property
    def state(self) -> TaskState:
        """The current state."""
        return self.metadata.state

    @property
    def is_terminal(self) -> bool:
        """Whether the task reached a terminal state."""
        return self.metadata.state in TERMINAL_TASK_STATES

    async def _publish(self, event: BaseEvent) -> None:
        if self.context is not None:
            await self.context.send(event)

    async def __aenter__(self) -> Task:
        if self.context is None:
            self.context = ConversationContext(MemoryStream())
        deps = self.context.dependencies
        self._had_previous = TASK_DEP in deps
        self._previous = deps.get(TASK_DEP)
        deps[TASK_DEP] = self
        start = _now()
        md = self.metadata
        md.state = TaskState.RUNNING
        md.started_at = start.isoformat()
        if self.ttl_seconds is not None:
            md.expires_at = (start + timedelta(seconds=self.ttl_seconds)).isoformat()
        await self._publish(
            TaskStarted(md.task_id, self.owner_id, self.spec.title, self.spec, md.expires_at)
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is not None:
                await self.fail(exc)
            elif self.metadata.state is TaskState.RUNNING:
                await self.complete(None)
        finally:
            if self.context is not None:
                deps = self.context.dependencies
                if self._had_previous:
                    deps[TASK_DEP] = self._previous
                else:
                    deps.pop(TASK_DEP, None)

    async def progress(self, payload: dict[str, Any]) -> None:
        """Merge ``payload`` into the progress record and publish a transient TaskProgress."""
        if self.is_terminal:
            return
        self.metadata.progress.update(payload)
        self.metadata.last_progress_at = _now().isoformat()
        await self._publish(TaskProgress(self.task_id, dict(payload)))

    def _finish(self, state: TaskState) -> bool:
        if self.is_terminal:
            return False
        self.metadata.state = state
        self.metadata.completed_at = _now().isoformat()
        return True

    async def complete(self, result: Any = None) -> None:
        """Mark COMPLETED with ``result`` and publish TaskCompleted (no-op once terminal)."""
        if self._finish(TaskState.COMPLETED):
            self.metadata.result = result
            stream = self.context.stream if self.context is not None else None
            await self._publish(TaskCompleted(self.task_id, result, stream))

    async def fail(self, error: str | BaseException) -> None:
        """Mark FAILED and publish TaskFailed (no-op once terminal)."""
        if self._finish(TaskState.FAILED):
            text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
            self.metadata.error = text
            await self._publish(TaskFailed(self.task_id, text))

    async def expire(self) -> None:
        """Mark EXPIRED and publish TaskExpired (no-op once terminal)."""
        if self._finish(TaskState.EXPIRED):
            await self._publish(TaskExpired(self.task_id))

    async def cancel(self, reason: str = "") -> None:
        """Mark CANCELLED and publish TaskCancelled (no-op once terminal)."""
        if self._finish(TaskState.CANCELLED):
            await self._publish(TaskCancelled(self.task_id, reason))

    def __repr__(self) -> str:
        return f"Task({self.spec.title!r}, id={self.task_id}, state={self.state.value})"


TaskInject = Annotated[Task | None, Inject(TASK_DEP, default=None)]
"""Injects the active task (None outside a task)."""
