"""Task checkpoints: where a long task keeps how far it got, so it can resume after a restart.

A checkpoint is a JSON object saved under a **key** — the task's id, or any stable
name of the work (``"survey:2026-q1"``): a task started again in a new process has
a new task id, so resuming work keys its checkpoints by something that outlives the
process. Keys are 1-128 characters of letters, digits and ``_ . : -``.

* :class:`CheckpointStore` — the protocol (``save`` / ``load`` / ``delete``);
* :class:`MemoryCheckpointStore` — in this process only (tests, scripts);
* :class:`HubBackedCheckpointStore` — in the hub's KnowledgeStore, through the agent's
  own connection (``save_checkpoint`` / ``load_checkpoint`` / ``delete_checkpoint``
  operations), so on a durable store a checkpoint survives the agent's process and
  the hub's. They belong to the agent: re-registering its name after a restart
  (same agent id) finds them again; no other agent can read them.

::

    store = HubBackedCheckpointStore(bob)
    done = (await store.load("survey")) or {"pages": 0}
    async with bob.agent.task("survey", capability="research", context=ctx):
        for page in range(done["pages"], 10):
            ...
            await store.save("survey", {"pages": page + 1})
    await store.delete("survey")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import orjson

from hubbub.network.errors import InvalidValueError
from hubbub.network.task_records import check_key

if TYPE_CHECKING:
    from hubbub.network.client.agent_client import AgentClient

__all__ = ["CheckpointStore", "HubBackedCheckpointStore", "MemoryCheckpointStore"]


@runtime_checkable
class CheckpointStore(Protocol):
    """Save, load and delete the checkpoint (a JSON object) of a task, by key."""

    async def save(self, task_id: str, data: dict[str, Any]) -> None:
        """Replace the checkpoint of ``task_id`` with ``data``."""
        ...

    async def load(self, task_id: str) -> dict[str, Any] | None:
        """The checkpoint of ``task_id``, or None."""
        ...

    async def delete(self, task_id: str) -> None:
        """Forget the checkpoint of ``task_id`` (no-op when absent)."""
        ...


class MemoryCheckpointStore:
    """Checkpoints in a dict (lost with the process); values are copied in and out."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    async def save(self, task_id: str, data: dict[str, Any]) -> None:
        """Keep a copy of ``data`` (InvalidValueError: bad key, not a JSON object)."""
        check_key(task_id, "checkpoint key")
        if not isinstance(data, dict):
            raise InvalidValueError(f"checkpoint data must be an object, got {type(data).__name__}")
        try:
            self._data[task_id] = orjson.dumps(data)
        except TypeError as exc:
            raise InvalidValueError(f"checkpoint data is not JSON: {exc}") from exc

    async def load(self, task_id: str) -> dict[str, Any] | None:
        """A copy of the checkpoint, or None."""
        raw = self._data.get(task_id)
        return None if raw is None else dict(orjson.loads(raw))

    async def delete(self, task_id: str) -> None:
        """Forget the checkpoint."""
        self._data.pop(task_id, None)


class HubBackedCheckpointStore:
    """Checkpoints of one agent in the hub's store, through its own connection.

    Args:
        client: the agent's AgentClient.

    Raises (from each method):
        InvalidValueError: a bad key, or data that is not a JSON object.
        ProtocolError: ``payload_too_large`` — over the hub's 1 MiB checkpoint limit.
        StoreUnavailableError: the hub's store failed (nothing changed).
    """

    def __init__(self, client: AgentClient) -> None:
        self.client = client

    async def save(self, task_id: str, data: dict[str, Any]) -> None:
        """Keep ``data`` as the checkpoint ``task_id`` on the hub."""
        await self.client.save_checkpoint(task_id, data)

    async def load(self, task_id: str) -> dict[str, Any] | None:
        """The checkpoint ``task_id`` from the hub, or None."""
        return await self.client.load_checkpoint(task_id)

    async def delete(self, task_id: str) -> None:
        """Forget the checkpoint ``task_id`` on the hub."""
        await self.client.delete_checkpoint(task_id)
