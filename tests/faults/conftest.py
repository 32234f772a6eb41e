"""Fixtures of the fault suite: every store on a private location, a hub on a FaultyStore.

Server-backed stores (Redis, PostgreSQL) skip when their server is down, but *fail*
when the ``CI`` environment variable is set (``tests/durability/_stores.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.faults._faulty import FaultyStore
from tests.faults._net import Net
from tests.faults._stores import STORES, cleanup_store, open_store

from hubbub.knowledge import KnowledgeStore


@pytest.fixture(params=STORES)
async def inner(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[KnowledgeStore]:
    """An open, empty store of every kind (the real store under the FaultyStore)."""
    store, cleanup = await open_store(request.param, tmp_path)
    try:
        yield store
    finally:
        await cleanup_store(store, cleanup)


@pytest.fixture
def faulty(inner: KnowledgeStore) -> FaultyStore:
    return FaultyStore(inner)


@pytest.fixture
async def net(faulty: FaultyStore) -> AsyncIterator[Net]:
    """A hub on the FaultyStore with alice (operator-registered) and bob (a connected client)."""
    n = await Net.start(faulty)
    try:
        yield n
    finally:
        await n.close()
