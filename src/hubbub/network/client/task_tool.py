"""The ``tasks`` network tool (spec §18.2): report on the running task, watch the hub's tasks.

* ``progress`` / ``complete`` act on the task the tool runs inside (``TaskInject``:
  an ``agent.task(...)`` block around the model call); a mirrored task reaches the
  hub through its :class:`~hubbub.network.client.task_mirror.TaskMirror`;
* ``list`` / ``status`` / ``wait`` read the hub's task table as the agent (its own
  tasks, and the tasks in its sessions);
* ``cancel`` is not supported: the hub observes tasks, it does not run them;
* there is no ``start``: an agent's code starts tasks, not the model.

Errors come back as ``"Error: ..."`` strings, never raised, so the model can recover.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Literal

from hubbub.network.client.inject import AgentClientInject, TaskInject
from hubbub.network.client.messaging import no_client
from hubbub.network.errors import NetworkError
from hubbub.task import TERMINAL_TASK_STATES, TaskMetadata, TaskState
from hubbub.tools import FunctionTool, tool

if TYPE_CHECKING:
    from hubbub.network.client.agent_client import AgentClient

__all__ = ["CANCEL_UNSUPPORTED", "build_tasks_tool", "task_summary"]

#: What ``tasks(action="cancel")`` answers.
CANCEL_UNSUPPORTED = (
    "Error: cancel is not supported: the hub observes tasks, it does not run them "
    "(the agent running a task ends it)"
)


def task_summary(md: TaskMetadata) -> dict[str, Any]:
    """The JSON view of a task the tool returns."""
    return {
        "task_id": md.task_id,
        "title": md.spec.title,
        "capability": md.spec.capability,
        "owner_id": md.owner_id,
        "session_id": md.session_id,
        "state": md.state.value,
        "progress": dict(md.progress),
        "result": md.result,
        "error": md.error or None,
        "started_at": md.started_at,
        "completed_at": md.completed_at,
    }


def build_tasks_tool(bound: AgentClient | None = None) -> FunctionTool:
    """The ``tasks`` tool; it acts for the injected client (``AgentClientInject``), else
    for ``bound``. The network plugin builds it once and shares it between agents."""

    async def tasks(
        action: Literal["progress", "complete", "list", "status", "wait", "cancel"],
        payload: dict[str, Any] | None = None,
        result: Any = None,
        task_id: str | None = None,
        scope: Literal["own", "all"] = "own",
        state: str | None = None,
        timeout: float = 300.0,  # noqa: ASYNC109 - the tool contract (spec §18.2)
        poll_interval: float = 0.1,
        limit: int = 20,
        *,
        task: TaskInject,
        client: AgentClientInject,
    ) -> Any:
        """Report on your running task or watch tasks on the network.

        action="progress": record `payload` (an object) as progress of your running task.
        action="complete": finish your running task with `result`.
        action="list": tasks (scope="own": yours; "all": also those in your sessions),
        optionally only those in `state` ("running", "completed", ...), at most `limit`.
        action="status": the task `task_id` (default: your running task).
        action="wait": wait up to `timeout` seconds for task `task_id` to end.
        action="cancel": not supported.
        """
        c: AgentClient | None = client if client is not None else bound
        if c is None:
            return no_client("tasks")
        try:
            if action == "progress":
                if task is None:
                    return "Error: progress needs a running task (agent.task(...))"
                if not isinstance(payload, dict):
                    return "Error: progress needs payload= (an object)"
                await task.progress(payload)
                return f"progress recorded for task {task.task_id}"
            if action == "complete":
                if task is None:
                    return "Error: complete needs a running task (agent.task(...))"
                if task.is_terminal:
                    return f"Error: task {task.task_id} already ended ({task.state.value})"
                await task.complete(result)
                return f"completed task {task.task_id}"
            if action == "list":
                if state is not None and state not in {s.value for s in TaskState}:
                    return f"Error: unknown state {state!r}"
                owner = c.agent_id if scope == "own" else None
                found = await c.list_tasks(owner_id=owner, state=state, limit=limit)
                return [task_summary(md) for md in found]
            if action in ("status", "wait"):
                tid = task_id or (task.task_id if task is not None else None)
                if tid is None:
                    return f"Error: {action} needs task_id= outside a running task"
                if action == "status":
                    return task_summary(await c.get_task(tid))
                return await _wait(c, tid, timeout, poll_interval)
            if action == "cancel":
                return CANCEL_UNSUPPORTED
            return f"Error: unknown action {action!r}"
        except (NetworkError, ValueError, RuntimeError) as exc:
            return f"Error: {exc}"

    return tool(tasks)


async def _wait(c: AgentClient, task_id: str, timeout: float, poll_interval: float) -> Any:  # noqa: ASYNC109
    """Poll the hub until the task ends or ``timeout`` seconds pass."""
    if not timeout >= 0 or not poll_interval > 0:
        return "Error: wait needs timeout >= 0 and poll_interval > 0"
    deadline = time.monotonic() + timeout
    while True:
        md = await c.get_task(task_id)
        if md.state in TERMINAL_TASK_STATES:
            return task_summary(md)
        left = deadline - time.monotonic()
        if left <= 0:
            return f"Error: task {task_id} still {md.state.value} after {timeout:g} s (timed out)"
        await asyncio.sleep(min(poll_interval, left))
