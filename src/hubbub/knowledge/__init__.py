"""Knowledge stores: the virtual file system the hub persists into.

``KnowledgeStore`` is the protocol; ``MemoryKnowledgeStore`` and
``DiskKnowledgeStore`` are re-exported here. ``hubbub.knowledge.sqlite``
(``SqliteKnowledgeStore``, stdlib), ``hubbub.knowledge.redis``
(``RedisKnowledgeStore``, needs ``redis``) and ``hubbub.knowledge.postgres``
(``PostgresKnowledgeStore``, needs ``asyncpg``) are imported explicitly so the
optional dependencies stay optional. Each module docstring states its durability.
"""

from __future__ import annotations

from hubbub.knowledge.base import (
    ChangeCallback,
    ChangeSubscription,
    InvalidPathError,
    KnowledgeStore,
    KnowledgeStoreError,
    NoopChangeSubscription,
    PathConflictError,
    StoreClosedError,
    normalize_path,
)
from hubbub.knowledge.disk import DiskKnowledgeStore
from hubbub.knowledge.memory import MemoryKnowledgeStore

__all__ = [
    "ChangeCallback",
    "ChangeSubscription",
    "DiskKnowledgeStore",
    "InvalidPathError",
    "KnowledgeStore",
    "KnowledgeStoreError",
    "MemoryKnowledgeStore",
    "NoopChangeSubscription",
    "PathConflictError",
    "StoreClosedError",
    "normalize_path",
]
