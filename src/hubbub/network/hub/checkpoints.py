"""Task checkpoints in the hub's store: a JSON object per (agent, key), so a task can
resume after its process (or the hub) restarts.

| path                                  | content                                 |
|---------------------------------------|-----------------------------------------|
| /checkpoints/{owner_id}/{key}.json    | the checkpoint (a JSON object, ≤ 1 MiB) |

A checkpoint belongs to the agent that saved it (the Connection lets an agent reach
its own only); keys are task ids or any stable name of the work (see
:func:`~hubbub.network.task_records.check_key`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from hubbub.knowledge import KnowledgeStore
from hubbub.knowledge.base import store_failure
from hubbub.network.errors import InvalidValueError, ProtocolError
from hubbub.network.task_records import check_key

if TYPE_CHECKING:
    from hubbub.network.hub.registry import Registry

__all__ = ["CHECKPOINTS_DIR", "MAX_CHECKPOINT_BYTES", "Checkpoints", "checkpoint_path"]

CHECKPOINTS_DIR = "/checkpoints"

#: The largest checkpoint the hub keeps (its JSON), in bytes.
MAX_CHECKPOINT_BYTES = 1 << 20


def checkpoint_path(owner_id: str, key: str) -> str:
    """Path of one task checkpoint of an agent."""
    return f"{CHECKPOINTS_DIR}/{owner_id}/{key}.json"


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


class Checkpoints:
    """Save, load and delete agents' task checkpoints (the store holds them; nothing in memory).

    Args:
        store: where the checkpoints live.
        registry: the agents (a checkpoint's owner must be registered to save).
    """

    def __init__(self, store: KnowledgeStore, registry: Registry) -> None:
        self._store = store
        self._registry = registry

    async def save(self, owner_id: str, key: str, data: dict[str, Any]) -> None:
        """Keep ``data`` (a JSON object) as the checkpoint ``key`` of ``owner_id``.

        Raises:
            InvalidValueError: a bad key or data.
            NotFoundError: unknown owner.
            ProtocolError: the checkpoint is over :data:`MAX_CHECKPOINT_BYTES` (``payload_too_large``).
            StoreUnavailableError: nothing was stored.
        """
        self._registry.require(owner_id)
        check_key(key, "checkpoint key")
        if not isinstance(data, dict):
            raise InvalidValueError(f"checkpoint data must be an object, got {type(data).__name__}")
        try:
            text = _dumps(data)
        except TypeError as exc:
            raise InvalidValueError(f"checkpoint data is not JSON: {exc}") from exc
        if len(text.encode()) > MAX_CHECKPOINT_BYTES:
            raise ProtocolError(
                f"checkpoint {key!r} is {len(text.encode())} bytes, over {MAX_CHECKPOINT_BYTES}",
                code="payload_too_large",
            )
        try:
            await self._store.write(checkpoint_path(owner_id, key), text)
        except Exception as exc:
            raise store_failure(self._store, exc) from exc

    async def load(self, owner_id: str, key: str) -> dict[str, Any] | None:
        """The checkpoint ``key`` of ``owner_id``, or None."""
        check_key(key, "checkpoint key")
        try:
            raw = await self._store.read(checkpoint_path(owner_id, key))
        except Exception as exc:
            raise store_failure(self._store, exc) from exc
        if raw is None:
            return None
        data = orjson.loads(raw)
        return data if isinstance(data, dict) else None

    async def delete(self, owner_id: str, key: str) -> None:
        """Forget the checkpoint ``key`` of ``owner_id`` (no-op when absent)."""
        check_key(key, "checkpoint key")
        try:
            await self._store.delete(checkpoint_path(owner_id, key))
        except Exception as exc:
            raise store_failure(self._store, exc) from exc
