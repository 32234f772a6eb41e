"""``SqliteKnowledgeStore``: the embedded store for a real hub (stdlib ``sqlite3``, WAL mode).

Durability guarantees (``synchronous``, default ``"FULL"``):

* ``"FULL"``: every commit is fsynced; an operation that returned survives a
  kill -9 of the process *and* a power loss / OS crash.
* ``"NORMAL"``: in WAL mode commits are not fsynced (checkpoints are); an
  operation that returned survives a kill -9 of the process but the last
  commits may be lost on power loss. The database is never corrupted.

Layout: ``files(path, content, base_lines, aligned)`` holds one row per file
(``content`` is what ``write`` stored, ``""`` for files created by ``append``);
``records(path, seq, off, data)`` holds one row per appended record, so an
append is one INSERT, never a rewrite. ``read`` concatenates content and
records. While a file is *line-aligned* (its content ends with ``"\\n"`` or is
empty and every record is exactly one line) line ``i`` is a row lookup, so
``read_lines``/``line_count`` do not read the file.

Group commit: all SQL runs on one dedicated thread. It takes the queued
operations (at most ``_MAX_BATCH``), runs them in order inside one transaction,
commits once and then resolves the whole batch; a failed commit fails the whole
batch. A batch of appends to known files is one multi-row INSERT in autocommit
mode: one statement is its own transaction (committed with the ``synchronous``
policy before it returns), and the thread gives up the GIL once per batch
instead of once per record, so the event loop keeps running meanwhile.

Failures: every ``sqlite3`` error (``OperationalError`` such as "database or
disk is full", "unable to open database file", ``DatabaseError`` such as "file
is not a database") becomes ``StoreUnavailableError(store="sqlite:<path>")``,
translated at one place, the store thread's batch loop. The batch's
transaction is rolled back, so nothing of a failed batch is visible, and every
operation in it fails. The database is opened at first use; an open that fails
(missing directory, unreadable file) raises that error naming the path, and
the next operation tries again.

Writer lock: ``acquire_lock(holder)`` takes an exclusive ``flock`` on
``<path>.lock`` (kept open while held, so it dies with the process, kill -9
included) and writes ``holder`` into it; a second taker gets
``StoreLockedError`` naming that holder. ``":memory:"`` has no lock.

Foreign data: a database file is this store's if its ``application_id`` is
hubbub's (``0x68756262``, set when the tables are created), or if it has no
tables but ``files``/``records`` with this store's columns (an empty file, or
one written by a version before the marker, which then gets the marker). Any
other database is refused with ``StoreLockedError(code="foreign_store")``
naming the path and the tables found, before anything is written into it.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import sqlite3
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal

from hubbub.knowledge._batch import BatchThread
from hubbub.knowledge._filelock import FileLock
from hubbub.knowledge.base import (
    ChangeCallback,
    ChangeSubscription,
    IOBoundary,
    KnowledgeStoreError,
    NoopChangeSubscription,
    PathConflictError,
    StoreClosedError,
    StoreUnavailableError,
    check_line_requests,
    check_range,
    foreign_store,
    normalize_file_path,
    normalize_path,
    split_lines,
)

__all__ = ["APPLICATION_ID", "SqliteKnowledgeStore"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS files(
    path TEXT PRIMARY KEY,
    content TEXT NOT NULL,
    base_lines INTEGER NOT NULL,
    aligned INTEGER NOT NULL
) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS records(
    path TEXT NOT NULL,
    seq INTEGER NOT NULL,
    off INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (path, seq)
) WITHOUT ROWID""",
)
# ``PRAGMA application_id`` of a hubbub database ("hubb"): the marker that the file is ours.
APPLICATION_ID = 0x68756262
_APPLICATION_ID = APPLICATION_ID
_COLUMNS = {
    "files": ["path", "content", "base_lines", "aligned"],
    "records": ["path", "seq", "off", "data"],
}

_Op = tuple[str, str, Any, Any]
_CACHE_SIZE = 4096
# Most operations per transaction: with more concurrent appenders than this, two
# batches are in flight (see ``BatchThread``). A larger batch would save little
# per record: each record dirties its own session's leaf page whatever the size.
_MAX_BATCH = 64
_ROW = "(?, ?, ?, ?)"
# WAL pages between automatic checkpoints (SQLite's default is 1000). Appends to
# many sessions dirty one leaf page per session and commit; a longer interval
# copies each hot page to the database fewer times (about 1/6 fewer bytes
# written per record at 100 sessions) for a WAL file of about 16 MiB.
_WAL_AUTOCHECKPOINT = 4000


def _insert_sql(rows: int) -> str:
    return "INSERT INTO records VALUES " + ", ".join([_ROW] * rows)


def _blen(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _is_one_line(text: str) -> bool:
    return text.find("\n") == len(text) - 1


def _base_meta(content: str) -> tuple[int, int]:
    """Return (base_lines, aligned) for written content."""
    if content and not content.endswith("\n"):
        return len(split_lines(content)), 0
    return content.count("\n"), 1


class _Tail:
    """Writer-side cache of a file's size, next record number and alignment."""

    __slots__ = ("aligned", "seq", "size")

    def __init__(self, size: int, seq: int, aligned: bool) -> None:
        self.size = size
        self.seq = seq
        self.aligned = aligned


def _bounds(norm: str) -> tuple[str, str]:
    """Return the [lo, hi) key range of every path strictly below ``norm``."""
    return ("/", "0") if norm == "/" else (norm + "/", norm + "0")


class SqliteKnowledgeStore:
    """``KnowledgeStore`` in one SQLite file: row per record, WAL journal, group commit."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["NORMAL", "FULL", "EXTRA"] = "FULL",
        busy_timeout_s: float = 5.0,
    ) -> None:
        """Prepare the store; the database is opened on the store's thread at first use.

        Args:
            path: database file (created if missing) or ``":memory:"``.
            synchronous: SQLite ``synchronous`` pragma; see the module docstring.
            busy_timeout_s: how long to wait for another process's lock.
        """
        if synchronous not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        self._path = os.fspath(path)
        self._io = IOBoundary(self.describe(), (sqlite3.Error,))
        self._lock = FileLock(self._path + ".lock", self.describe())
        self._synchronous = synchronous
        self._busy_ms = int(busy_timeout_s * 1000)
        self._db: sqlite3.Connection | None = None
        self._tails: OrderedDict[str, _Tail] = OrderedDict()
        self._max_rows = 1  # rows per INSERT statement, from the variable limit (``_open``)
        self._insert_sql: dict[int, str] = {}
        self._worker: BatchThread[_Op] = BatchThread(
            f"hubbub-sqlite:{self._path}",
            self._process,
            teardown=self._close_db,
            max_batch=_MAX_BATCH,
        )

    def describe(self) -> str:
        """A short description of the store for messages: ``"sqlite:<path>"``."""
        return f"sqlite:{self._path}"

    # -- thread side ------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        """Open the database, refuse a foreign one, create the tables; raise naming the path."""
        try:
            db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise self._open_error(exc) from exc
        try:
            db.execute(f"PRAGMA busy_timeout={self._busy_ms}")
            self._claim(db)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            db.execute(f"PRAGMA wal_autocheckpoint={_WAL_AUTOCHECKPOINT}")
        except BaseException as exc:
            db.close()
            if isinstance(exc, sqlite3.Error):
                raise self._open_error(exc) from exc
            raise
        self._max_rows = max(1, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // 4)
        return db

    def _open_error(self, exc: sqlite3.Error) -> StoreUnavailableError:
        """``exc`` from opening the database, as the error naming the path and what failed."""
        reason = f"cannot open database {self._path}: {exc}"
        parent = os.path.dirname(os.path.abspath(self._path))
        if self._path != ":memory:" and not os.path.isdir(parent):
            reason += f" (directory {parent} does not exist)"
        return StoreUnavailableError(store=self.describe(), reason=reason)

    def _claim(self, db: sqlite3.Connection) -> None:
        """Make sure the database is ours (or new) and holds the tables; see the module docstring.

        Raises:
            StoreLockedError: code ``foreign_store``, naming the path and the foreign tables.
        """
        if db.execute("PRAGMA application_id").fetchone()[0] == _APPLICATION_ID:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            found = self._foreign_tables(db)
            if found:
                raise foreign_store(f"SQLite database {self._path}", found)
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA application_id={_APPLICATION_ID}")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    @staticmethod
    def _foreign_tables(db: sqlite3.Connection) -> list[str]:
        """Tables and views that are not this store's (with its columns); an application id."""
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        found = [f"application_id {app_id:#x}"] if app_id not in (0, _APPLICATION_ID) else []
        rows = db.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite!_%' ESCAPE '!'"
        ).fetchall()
        for name, kind in rows:
            columns = _COLUMNS.get(name)
            if kind == "table" and columns is not None:
                have = [r[1] for r in db.execute(f"PRAGMA table_info({name})")]
                if have == columns:
                    continue
            found.append(f"{kind} {name}")
        return found

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _process(self, batch: builtins.list[_Op]) -> builtins.list[object]:
        """Run a batch in one transaction; any failure fails (and rolls back) all of it."""
        db = self._db
        if db is None:
            try:
                db = self._db = self._open()
            except Exception as exc:  # StoreUnavailableError / StoreLockedError naming the path
                return [exc] * len(batch)
        results: list[object] = []
        try:
            if self._appends_only(batch):
                return self._append_batch(db, batch)
            db.execute("BEGIN")
            for kind, norm, a, b in batch:
                try:
                    results.append(getattr(self, "_op_" + kind)(db, norm, a, b))
                except KnowledgeStoreError as exc:
                    results.append(exc)  # raised before the operation changed anything
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback(db)
            return [self._io.error(exc)] * len(batch)
        return results

    def _rollback(self, db: sqlite3.Connection) -> None:
        """Undo a failed batch; drop the connection if even that fails (reopened next batch)."""
        self._tails.clear()  # sizes and record numbers are re-read from the database
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")
        except sqlite3.Error:
            self._close_db()

    def _appends_only(self, batch: builtins.list[_Op]) -> bool:
        """Whether the batch is appends to cached files that keep their alignment."""
        tails = self._tails
        rows = 0
        for kind, norm, content, _ in batch:
            if kind != "append":
                return False
            tail = tails.get(norm)
            if tail is None or (tail.aligned and content and not _is_one_line(content)):
                return False
            rows += 1
        return rows <= self._max_rows

    def _append_batch(self, db: sqlite3.Connection, batch: builtins.list[_Op]) -> list[object]:
        """Insert every record of an ``_appends_only`` batch with one autocommit statement."""
        tails = self._tails
        params: list[object] = []
        results: list[object] = []
        for _, norm, content, _ in batch:
            tail = tails[norm]
            tails.move_to_end(norm)
            offset = tail.size
            results.append(offset)
            if content:
                params += (norm, tail.seq, offset, content)
                tail.seq += 1
                tail.size = offset + _blen(content)
        rows = len(params) >> 2
        if rows:
            sql = self._insert_sql.get(rows)
            if sql is None:
                sql = self._insert_sql[rows] = _insert_sql(rows)
            db.execute(sql, params)  # raises sqlite3.Error: nothing was inserted
        return results

    def _file_row(self, db: sqlite3.Connection, norm: str) -> tuple[str, int, int] | None:
        row = db.execute(
            "SELECT content, base_lines, aligned FROM files WHERE path = ?", (norm,)
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def _check_new_file(self, db: sqlite3.Connection, norm: str) -> None:
        lo, hi = _bounds(norm)
        if db.execute(
            "SELECT 1 FROM files WHERE path >= ? AND path < ? LIMIT 1", (lo, hi)
        ).fetchone():
            raise PathConflictError(f"{norm!r} is a directory")
        segs = norm[1:].split("/")[:-1]
        ancestors = ["/" + "/".join(segs[: i + 1]) for i in range(len(segs))]
        if ancestors:
            marks = ",".join("?" * len(ancestors))
            if db.execute(
                f"SELECT 1 FROM files WHERE path IN ({marks}) LIMIT 1", ancestors
            ).fetchone():
                raise PathConflictError(f"{norm!r} lies below a file")

    def _tail(self, db: sqlite3.Connection, norm: str) -> _Tail | None:
        tail = self._tails.get(norm)
        if tail is not None:
            self._tails.move_to_end(norm)
            return tail
        row = self._file_row(db, norm)
        if row is None:
            return None
        last = db.execute(
            "SELECT seq, off, data FROM records WHERE path = ? ORDER BY seq DESC LIMIT 1", (norm,)
        ).fetchone()
        if last is None:
            tail = _Tail(_blen(row[0]), 0, bool(row[2]))
        else:
            tail = _Tail(last[1] + _blen(last[2]), last[0] + 1, bool(row[2]))
        self._remember(norm, tail)
        return tail

    def _remember(self, norm: str, tail: _Tail) -> None:
        self._tails[norm] = tail
        if len(self._tails) > _CACHE_SIZE:
            self._tails.popitem(last=False)

    def _op_append(self, db: sqlite3.Connection, norm: str, content: str, _: Any) -> int:
        tail = self._tail(db, norm)
        if tail is None:
            self._check_new_file(db, norm)
            db.execute("INSERT INTO files VALUES (?, '', 0, 1)", (norm,))
            tail = _Tail(0, 0, True)
            self._remember(norm, tail)
        offset = tail.size
        if not content:
            return offset
        db.execute("INSERT INTO records VALUES (?, ?, ?, ?)", (norm, tail.seq, offset, content))
        tail.seq += 1
        tail.size = offset + _blen(content)
        if tail.aligned and not _is_one_line(content):
            tail.aligned = False
            db.execute("UPDATE files SET aligned = 0 WHERE path = ?", (norm,))
        return offset

    def _op_write(self, db: sqlite3.Connection, norm: str, content: str, _: Any) -> None:
        if norm not in self._tails and self._file_row(db, norm) is None:
            self._check_new_file(db, norm)
        base_lines, aligned = _base_meta(content)
        db.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET "
            "content = excluded.content, base_lines = excluded.base_lines, aligned = excluded.aligned",
            (norm, content, base_lines, aligned),
        )
        db.execute("DELETE FROM records WHERE path = ?", (norm,))
        self._remember(norm, _Tail(_blen(content), 0, bool(aligned)))

    def _op_delete(self, db: sqlite3.Connection, norm: str, _a: Any, _b: Any) -> None:
        lo, hi = _bounds(norm)
        for table in ("files", "records"):
            db.execute(
                f"DELETE FROM {table} WHERE path = ? OR (path >= ? AND path < ?)", (norm, lo, hi)
            )
        for key in [k for k in self._tails if k == norm or lo <= k < hi]:
            del self._tails[key]

    def _text(self, db: sqlite3.Connection, norm: str) -> str | None:
        row = self._file_row(db, norm)
        if row is None:
            return None
        rows = db.execute("SELECT data FROM records WHERE path = ? ORDER BY seq", (norm,))
        return row[0] + "".join(r[0] for r in rows)

    def _op_read(self, db: sqlite3.Connection, norm: str, _a: Any, _b: Any) -> str | None:
        return self._text(db, norm)

    def _op_read_range(self, db: sqlite3.Connection, norm: str, start: int, end: int | None) -> str:
        row = self._file_row(db, norm)
        if row is None or (end is not None and end <= start):
            return ""
        base = row[0].encode()
        parts = [base[start:end]] if start < len(base) else []
        # Binary search for the last record starting at or before ``start``.
        lo, hi = 0, self._count(db, norm) - 1
        first = 0
        while lo <= hi:
            mid = (lo + hi) // 2
            off = db.execute(
                "SELECT off FROM records WHERE path = ? AND seq = ?", (norm, mid)
            ).fetchone()[0]
            if off <= start:
                first, lo = mid, mid + 1
            else:
                hi = mid - 1
        rows = db.execute(
            "SELECT off, data FROM records WHERE path = ? AND seq >= ? AND off < ? ORDER BY seq",
            (norm, first, (1 << 62) if end is None else end),
        )
        for off, data in rows:
            raw = data.encode()
            cut_lo = max(start - off, 0)
            cut_hi = None if end is None else max(end - off, 0)
            parts.append(raw[cut_lo:cut_hi])
        return b"".join(parts).decode("utf-8", "replace")

    @staticmethod
    def _count(db: sqlite3.Connection, norm: str) -> int:
        row = db.execute("SELECT max(seq) FROM records WHERE path = ?", (norm,)).fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def _op_read_lines(
        self, db: sqlite3.Connection, norm: str, start: int, end: int | None
    ) -> list[str]:
        row = self._file_row(db, norm)
        if row is None:
            return []
        content, base_lines, aligned = row
        if not aligned:
            return split_lines(self._text(db, norm) or "")[start:end]
        out = split_lines(content)[start:end] if start < base_lines else []
        lo = max(start - base_lines, 0)
        hi = (1 << 62) if end is None else end - base_lines
        if hi > lo:
            rows = db.execute(
                "SELECT data FROM records WHERE path = ? AND seq >= ? AND seq < ? ORDER BY seq",
                (norm, lo, hi),
            )
            out.extend(r[0][:-1] for r in rows)
        return out

    def _op_line_count(self, db: sqlite3.Connection, norm: str, _a: Any, _b: Any) -> int:
        row = self._file_row(db, norm)
        if row is None:
            return 0
        if not row[2]:
            return len(split_lines(self._text(db, norm) or ""))
        return int(row[1]) + self._count(db, norm)

    def _op_list(self, db: sqlite3.Connection, norm: str, _a: Any, _b: Any) -> list[str]:
        lo, hi = _bounds(norm)
        names: set[str] = set()
        for (path,) in db.execute("SELECT path FROM files WHERE path >= ? AND path < ?", (lo, hi)):
            name, sep, _ = path[len(lo) :].partition("/")
            names.add(name + sep)
        return sorted(names)

    def _op_ping(self, db: sqlite3.Connection, norm: str, _a: Any, _b: Any) -> None:
        """Nothing: running it opens (and checks) the database."""
        return None

    def _op_exists(self, db: sqlite3.Connection, norm: str, _a: Any, _b: Any) -> bool:
        if norm == "/" or self._file_row(db, norm) is not None:
            return True
        lo, hi = _bounds(norm)
        row = db.execute("SELECT 1 FROM files WHERE path >= ? AND path < ? LIMIT 1", (lo, hi))
        return row.fetchone() is not None

    # -- async API ----------------------------------------------------------

    async def _call(self, kind: str, norm: str, a: Any = None, b: Any = None) -> Any:
        return await self._worker.submit((kind, norm, a, b))

    async def read(self, path: str) -> str | None:
        """Return the file's content (written content + records), or ``None``."""
        result: str | None = await self._call("read", normalize_path(path))
        return result

    async def write(self, path: str, content: str) -> None:
        """Replace the file's content and drop its records, in one transaction."""
        if type(content) is not str:
            raise TypeError(f"content must be a str, got {type(content).__name__}")
        await self._call("write", normalize_file_path(path), content)

    async def append(self, path: str, content: str) -> int:
        """Insert one record row; return its byte offset after the batch commits."""
        result: int = await self.append_nowait(path, content)
        return result

    def append_nowait(self, path: str, content: str) -> asyncio.Future[int]:
        """Queue the append now (in call order); the future resolves once its batch commits.

        The hub starts appends this way, so no task is needed per envelope and a
        caller's cancellation cannot leave the append's outcome unknown.
        """
        if type(content) is not str:
            raise TypeError(f"content must be a str, got {type(content).__name__}")
        future: asyncio.Future[int] = self._worker.submit(
            ("append", normalize_file_path(path), content, None)
        )
        return future

    async def read_range(self, path: str, start: int, end: int | None = None) -> str:
        """Return UTF-8 bytes ``[start, end)``, reading only the overlapping records."""
        check_range(start, end)
        result: str = await self._call("read_range", normalize_path(path), start, end)
        return result

    async def read_lines(
        self, path: str, start_line: int = 0, end_line: int | None = None
    ) -> builtins.list[str]:
        """Return lines ``[start_line, end_line)``; row lookups while the file is line-aligned."""
        check_range(start_line, end_line)
        result: list[str] = await self._call(
            "read_lines", normalize_path(path), start_line, end_line
        )
        return result

    async def line_count(self, path: str) -> int:
        """Return the number of lines; a count of rows while the file is line-aligned."""
        result: int = await self._call("line_count", normalize_path(path))
        return result

    async def list(self, path: str = "/") -> builtins.list[str]:
        """Return sorted child names, directories suffixed with "/"."""
        result: list[str] = await self._call("list", normalize_path(path))
        return result

    async def delete(self, path: str) -> None:
        """Delete the file or tree (files and records) in one transaction."""
        await self._call("delete", normalize_path(path))

    async def exists(self, path: str) -> bool:
        """Return whether the path is a file or a directory."""
        result: bool = await self._call("exists", normalize_path(path))
        return result

    async def on_change(self, path: str, callback: ChangeCallback) -> ChangeSubscription:
        """Return ``NoopChangeSubscription``: callers poll."""
        if self._worker.closed:
            raise StoreClosedError("store is closed")
        normalize_path(path)
        return NoopChangeSubscription()

    async def acquire_lock(self, holder: str) -> None:
        """Open (and check) the database, then ``flock`` ``<path>.lock``; see the module docstring.

        Raises:
            StoreLockedError: another holder has it (named), or the database is foreign.
            StoreUnavailableError: the database or the lock file cannot be opened.
            StoreClosedError: the store was closed.
        """
        await self._call("ping", "/")
        if self._path != ":memory:":
            self._lock.acquire(holder)

    async def release_lock(self) -> None:
        """Release the file lock if held; idempotent."""
        self._lock.release()

    async def close(self) -> None:
        """Commit what is queued, close the database and release the lock; idempotent."""
        try:
            await self._worker.close()
        finally:
            self._lock.release()

    # -- bulk reads -----------------------------------------------------------

    _BULK_CHUNK = 500  # paths per ``IN (...)`` query

    def _op_read_many(
        self, db: sqlite3.Connection, _norm: str, paths: builtins.list[str], _b: Any
    ) -> builtins.list[str | None]:
        texts: dict[str, str] = {}
        unique = list(dict.fromkeys(paths))
        for i in range(0, len(unique), self._BULK_CHUNK):
            chunk = unique[i : i + self._BULK_CHUNK]
            marks = ",".join("?" * len(chunk))
            for path, content in db.execute(
                f"SELECT path, content FROM files WHERE path IN ({marks})", chunk
            ):
                texts[path] = content
            found = [p for p in chunk if p in texts]
            if not found:
                continue
            marks = ",".join("?" * len(found))
            records: dict[str, builtins.list[str]] = {}
            for path, data in db.execute(
                f"SELECT path, data FROM records WHERE path IN ({marks}) ORDER BY path, seq", found
            ):
                part = records.get(path)
                if part is None:
                    records[path] = [data]
                else:
                    part.append(data)
            for path, part in records.items():
                texts[path] += "".join(part)
        return [texts.get(p) for p in paths]

    def _op_read_lines_many(
        self,
        db: sqlite3.Connection,
        _norm: str,
        requests: builtins.list[tuple[str, int]],
        _b: Any,
    ) -> builtins.list[builtins.list[str]]:
        rows: dict[str, tuple[str, int, int]] = {}
        unique = list(dict.fromkeys(p for p, _ in requests))
        for i in range(0, len(unique), self._BULK_CHUNK):
            chunk = unique[i : i + self._BULK_CHUNK]
            marks = ",".join("?" * len(chunk))
            for path, content, base_lines, aligned in db.execute(
                f"SELECT path, content, base_lines, aligned FROM files WHERE path IN ({marks})",
                chunk,
            ):
                rows[path] = (content, base_lines, aligned)
        out: builtins.list[builtins.list[str]] = [[] for _ in requests]
        wanted: builtins.list[tuple[int, str, int]] = []  # (request, path, first record)
        for i, (path, start) in enumerate(requests):
            row = rows.get(path)
            if row is None:
                continue
            content, base_lines, aligned = row
            if not aligned:
                out[i] = split_lines(self._text(db, path) or "")[start:]
                continue
            if start < base_lines:
                out[i] = split_lines(content)[start:]
            wanted.append((i, path, max(start - base_lines, 0)))
        for i, path, lo in wanted:  # a primary-key range each
            rows_i = db.execute(
                "SELECT data FROM records WHERE path = ? AND seq >= ? ORDER BY seq", (path, lo)
            )
            out[i].extend(r[0][:-1] for r in rows_i)
        return out

    def _op_last_lines(
        self, db: sqlite3.Connection, _norm: str, paths: builtins.list[str], _b: Any
    ) -> builtins.list[tuple[int, str | None]]:
        rows: dict[str, tuple[str, int, int]] = {}
        unique = list(dict.fromkeys(paths))
        for i in range(0, len(unique), self._BULK_CHUNK):
            chunk = unique[i : i + self._BULK_CHUNK]
            marks = ",".join("?" * len(chunk))
            for path, content, base_lines, aligned in db.execute(
                f"SELECT path, content, base_lines, aligned FROM files WHERE path IN ({marks})",
                chunk,
            ):
                rows[path] = (content, base_lines, aligned)
        out: builtins.list[tuple[int, str | None]] = []
        for path in paths:
            row = rows.get(path)
            if row is None:
                out.append((0, None))
                continue
            content, base_lines, aligned = row
            if not aligned:
                lines = split_lines(self._text(db, path) or "")
                out.append((len(lines), lines[-1] if lines else None))
                continue
            last = db.execute(  # the primary key's last entry for the path
                "SELECT seq, data FROM records WHERE path = ? ORDER BY seq DESC LIMIT 1", (path,)
            ).fetchone()
            if last is not None:
                out.append((base_lines + int(last[0]) + 1, last[1][:-1]))
            else:
                lines = split_lines(content)
                out.append((base_lines, lines[-1] if lines else None))
        return out

    async def last_lines(self, paths: Sequence[str]) -> builtins.list[tuple[int, str | None]]:
        """``(line_count, last line or None)`` of every path: one store-thread operation.

        What a listing needs of a log without reading it: its length and its newest
        line (a primary-key lookup each). Not part of the ``KnowledgeStore``
        protocol: callers fall back to ``line_count`` and ``read_lines``.
        """
        norms = [normalize_path(p) for p in paths]
        if not norms:
            return []
        result: builtins.list[tuple[int, str | None]] = await self._call("last_lines", "/", norms)
        return result

    async def read_many(self, paths: Sequence[str]) -> builtins.list[str | None]:
        """Return ``read(path)`` for every path: one store-thread operation, a few queries."""
        norms = [normalize_path(p) for p in paths]
        if not norms:
            return []
        result: builtins.list[str | None] = await self._call("read_many", "/", norms)
        return result

    async def read_lines_many(
        self, requests: Sequence[tuple[str, int]]
    ) -> builtins.list[builtins.list[str]]:
        """Return ``read_lines(path, start_line)`` for every request: one store-thread operation."""
        checked = check_line_requests(requests)
        if not checked:
            return []
        result: builtins.list[builtins.list[str]] = await self._call(
            "read_lines_many", "/", checked
        )
        return result
