"""Store errors are network errors; errors at open name the path and what failed.

Regression tests for issue 8: a bad SQLite path gave a raw ``sqlite3.OperationalError``
with no path, store errors were outside the ``NetworkError`` tree, and
``SqliteKnowledgeStore`` was not importable from ``hubbub.knowledge``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import hubbub.knowledge
from hubbub.knowledge import (
    DiskKnowledgeStore,
    InvalidPathError,
    KnowledgeStoreError,
    MemoryKnowledgeStore,
    PathConflictError,
    SqliteKnowledgeStore,
    StoreClosedError,
)
from hubbub.knowledge.base import IOBoundary
from hubbub.network.errors import (
    NetworkError,
    StoreError,
    StoreLockedError,
    StoreUnavailableError,
    error_from_code,
)

ROOT_ONLY = pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")


def test_sqlite_store_is_importable_from_hubbub_knowledge() -> None:
    from hubbub.knowledge.sqlite import SqliteKnowledgeStore as Direct

    assert SqliteKnowledgeStore is Direct
    assert "SqliteKnowledgeStore" in hubbub.knowledge.__all__
    for name in hubbub.knowledge.__all__:
        assert hasattr(hubbub.knowledge, name), name


@pytest.mark.parametrize("first", ["hubbub.knowledge", "hubbub.knowledge.sqlite", "hubbub.network"])
def test_knowledge_and_network_import_in_either_order_with_one_error_tree(first: str) -> None:
    code = (
        f"import {first}\n"
        "import hubbub.network, hubbub.network.errors as e\n"
        "from hubbub.knowledge import KnowledgeStoreError, StoreUnavailableError\n"
        "assert issubclass(KnowledgeStoreError, e.StoreError)\n"
        "assert StoreUnavailableError is e.StoreUnavailableError\n"
        "assert hubbub.network.StoreUnavailableError is e.StoreUnavailableError\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": "src"}
    )


def test_every_store_error_is_a_network_error_with_a_code() -> None:
    for cls in (KnowledgeStoreError, PathConflictError, StoreClosedError):
        assert issubclass(cls, StoreError) and issubclass(cls, NetworkError)
        assert cls("x").code == "store_error"
    err = InvalidPathError("bad")
    assert isinstance(err, ValueError) and isinstance(err, NetworkError)
    assert err.code == "invalid_value"
    assert isinstance(error_from_code(err.code, str(err)), ValueError)


def test_io_boundary_maps_driver_errors_and_passes_the_rest() -> None:
    io = IOBoundary("test:store", (OSError,))
    with pytest.raises(StoreUnavailableError) as info:
        with io:
            raise ConnectionRefusedError(111, "Connection refused")
    assert info.value.store == "test:store" and "Connection refused" in info.value.reason
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert info.value.code == "store_unavailable"
    with pytest.raises(KeyError), io:
        raise KeyError("not a driver error")
    locked = StoreLockedError("held")
    with pytest.raises(StoreLockedError) as kept, io:
        raise locked
    assert kept.value is locked
    with io:
        pass


async def test_bad_sqlite_path_error_names_path(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "dir" / "hub.db"
    store = SqliteKnowledgeStore(path)
    try:
        with pytest.raises(StoreUnavailableError) as info:
            await store.read("/x")
        err = info.value
        assert str(path) in str(err) and str(path) in err.store
        assert "does not exist" in str(err) and "unable to open" in str(err)
        assert isinstance(err.__cause__, sqlite3.Error)
        # The failed open is not remembered: once the directory exists, the store works.
        path.parent.mkdir(parents=True)
        await store.write("/x", "1")
        assert await store.read("/x") == "1"
    finally:
        await store.close()


async def test_sqlite_path_that_is_not_a_database_names_path(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is not a database, " * 100)
    store = SqliteKnowledgeStore(path)
    try:
        with pytest.raises(StoreUnavailableError) as info:
            await store.write("/x", "1")
        assert str(path) in str(info.value) and "not a database" in str(info.value)
    finally:
        await store.close()
    assert path.read_text().startswith("this is not a database")


@ROOT_ONLY
async def test_unreadable_sqlite_path_error_names_path(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    path.write_bytes(b"")
    path.chmod(0)
    store = SqliteKnowledgeStore(path)
    try:
        with pytest.raises(StoreUnavailableError, match=str(path)):
            await store.read("/x")
    finally:
        await store.close()


async def test_sqlite_directory_as_path_error_names_path(tmp_path: Path) -> None:
    store = SqliteKnowledgeStore(tmp_path)
    try:
        with pytest.raises(StoreUnavailableError, match=str(tmp_path)):
            await store.read("/x")
    finally:
        await store.close()


def test_disk_root_that_is_a_file_error_names_root(tmp_path: Path) -> None:
    root = tmp_path / "file"
    root.write_text("x")
    with pytest.raises(StoreUnavailableError) as info:
        DiskKnowledgeStore(root)
    assert str(root) in str(info.value) and "not a directory" in str(info.value)


def test_disk_root_below_a_file_error_names_root(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    root = tmp_path / "file" / "store"
    with pytest.raises(StoreUnavailableError, match=str(root)):
        DiskKnowledgeStore(root)


@ROOT_ONLY
def test_unwritable_disk_root_error_names_root(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(StoreUnavailableError, match=str(tmp_path / "store")):
            DiskKnowledgeStore(tmp_path / "store")
    finally:
        tmp_path.chmod(0o700)


def test_stores_describe_themselves_for_messages(tmp_path: Path) -> None:
    assert MemoryKnowledgeStore().describe() == "memory"
    assert SqliteKnowledgeStore(tmp_path / "h.db").describe() == f"sqlite:{tmp_path / 'h.db'}"
    disk = DiskKnowledgeStore(tmp_path / "d")
    assert disk.describe() == f"disk:{tmp_path / 'd'}"


def test_postgres_description_has_no_password() -> None:
    from hubbub.knowledge.postgres import PostgresKnowledgeStore

    store = PostgresKnowledgeStore("postgresql://bob:secret@db.example:6543/prod", schema="hub")
    assert store.describe() == "postgres://db.example:6543/prod schema hub"
    assert "secret" not in store.describe()
