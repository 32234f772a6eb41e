"""Knowledge stores: the virtual file system the hub persists into.

``KnowledgeStore`` is the protocol; ``MemoryKnowledgeStore`` and
``DiskKnowledgeStore`` ship here, the SQLite, Redis and PostgreSQL stores live in
their own modules (the latter two import optional dependencies lazily).
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
