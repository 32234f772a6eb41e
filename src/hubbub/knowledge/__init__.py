"""Knowledge stores: the virtual file system the hub persists into.

``KnowledgeStore`` is the protocol; the stdlib stores ``MemoryKnowledgeStore``,
``DiskKnowledgeStore`` and ``SqliteKnowledgeStore`` are re-exported here.
``hubbub.knowledge.redis`` (``RedisKnowledgeStore``, needs ``redis``) and
``hubbub.knowledge.postgres`` (``PostgresKnowledgeStore``, needs ``asyncpg``) are
imported explicitly so the optional dependencies stay optional. Each module
docstring states its durability, its writer lock and how it refuses foreign data;
``hubbub.knowledge.base`` states the error contract common to all.
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
    StoreError,
    StoreLockedError,
    StoreUnavailableError,
    acquire_lock,
    lock_holder,
    normalize_path,
    release_lock,
)
from hubbub.knowledge.disk import DiskKnowledgeStore
from hubbub.knowledge.memory import MemoryKnowledgeStore
from hubbub.knowledge.sqlite import SqliteKnowledgeStore
from hubbub.knowledge.urls import open_store

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
    "SqliteKnowledgeStore",
    "StoreClosedError",
    "StoreError",
    "StoreLockedError",
    "StoreUnavailableError",
    "acquire_lock",
    "lock_holder",
    "normalize_path",
    "open_store",
    "release_lock",
]
