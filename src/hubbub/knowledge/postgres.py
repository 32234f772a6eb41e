"""``PostgresKnowledgeStore``: the knowledge tree in PostgreSQL (``asyncpg``, optional dependency).

Durability: a mutation returns after its transaction committed, so it is as
durable as the server makes a commit: with the defaults (``fsync=on``,
``synchronous_commit=on``) it survives a kill -9 of the hub, a crash of the
server and a power loss.

Layout in ``schema`` (created if missing): ``files(path, content, base_lines,
aligned)`` with one row per file and ``records(path, seq, off, data)`` with
one row per appended record (primary key ``(path, seq)``), so an append is an
INSERT, never a rewrite. Paths use the ``"C"`` collation so a directory is a
key range. While a file is line-aligned (every record exactly one line) line
``i`` is a row lookup.

Group commit: mutations queue in call order; one flusher runs everything
queued so far in one transaction — consecutive appends as a single bulk
INSERT — and resolves the batch after COMMIT. File rows are locked
(``FOR UPDATE``) while their next offset is computed, so concurrent writers in
other processes serialise per file instead of corrupting offsets.

Failures and reconnection: every driver error (``asyncpg`` errors, a refused or
reset connection, a timeout) becomes ``StoreUnavailableError(store="postgres://
host:port/db schema <schema>")`` at one boundary. A failed batch's transaction
is rolled back, so nothing of it is visible, and every mutation in it fails.
The pool is created at first use; if that fails (server down) nothing is
cached and the next operation tries again. Once created, asyncpg's pool drops a
connection that broke (server restart, cut link) when it is released and
opens a fresh one on the next acquire, so operations fail while the server is
down and work again once it is back.

Writer lock: ``acquire_lock(holder)`` takes ``pg_try_advisory_lock`` on a key
derived from the schema, on one dedicated connection (not from the pool) whose
``application_name`` is ``holder``; the lock lives as long as that connection.
A second taker gets ``StoreLockedError`` naming the holder (from
``pg_stat_activity``). If the lock connection is lost (server restart), the
next batch takes the lock again before it writes; if another holder took it
meanwhile, the batch fails with ``StoreLockedError``.

Foreign data: the schema is this store's if it holds the marker table
``hubbub_store``, or holds no tables but ``files``/``records`` with this
store's columns (a new schema, or one from before the marker, which then gets
the marker). A schema holding anything else is refused with
``StoreLockedError(code="foreign_store")`` naming it and the tables found,
before anything is created in it.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from hubbub.knowledge._abatch import AsyncBatcher
from hubbub.knowledge.base import (
    ChangeCallback,
    ChangeSubscription,
    IOBoundary,
    KnowledgeStoreError,
    NoopChangeSubscription,
    PathConflictError,
    StoreClosedError,
    StoreLockedError,
    check_line_requests,
    check_range,
    foreign_store,
    normalize_file_path,
    normalize_path,
    split_lines,
)

__all__ = ["PostgresKnowledgeStore"]

_Op = tuple[str, str, str]
_MAX = 1 << 62
_MARKER = "hubbub_store"  # the marker table: the schema is a hubbub knowledge store
_COLUMNS = {
    "files": ["path", "content", "base_lines", "aligned"],
    "records": ["path", "seq", "off", "data"],
}


def _blen(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _bounds(norm: str) -> tuple[str, str]:
    return ("/", "0") if norm == "/" else (norm + "/", norm + "0")


def _ancestors(norm: str) -> list[str]:
    segs = norm[1:].split("/")[:-1]
    return ["/" + "/".join(segs[: i + 1]) for i in range(len(segs))]


def _describe(dsn: str, schema: str) -> str:
    """``"postgres://host:port/db schema s"``: the DSN without credentials."""
    try:
        url = urlsplit(dsn)
        where = f"{url.hostname or ''}{f':{url.port}' if url.port else ''}{url.path}"
    except ValueError:
        where = ""
    return f"postgres://{where} schema {schema}"


def _lock_key(schema: str, purpose: str) -> int:
    """A non-negative advisory lock key for ``schema``: ``"writer"`` or ``"setup"``."""
    digest = hashlib.sha256(f"hubbub-knowledge:{purpose}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


def _driver_errors() -> tuple[type[BaseException], ...]:
    """What asyncpg raises when the server or the link fails (all mapped to unavailable)."""
    import asyncpg  # optional dependency

    return (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)


def _holder_of(row: Any) -> str:
    """Who holds the lock, from its ``pg_stat_activity`` row (if it could be read)."""
    if row is None:
        return "another session"
    name = row["application_name"] or "an unnamed session"
    return f"{name} (backend pid {row['pid']}, client {row['addr'] or 'local'})"


class PostgresKnowledgeStore:
    """``KnowledgeStore`` in PostgreSQL: row per record, bulk group commit per batch."""

    def __init__(
        self,
        dsn: str = "postgresql://127.0.0.1:5432/test",
        *,
        schema: str = "hubbub",
        min_size: int = 1,
        max_size: int = 4,
        connect_timeout: float = 10.0,
        command_timeout: float | None = 60.0,
    ) -> None:
        """Prepare the store; the pool and tables are created on first use.

        Args:
            dsn: asyncpg connection string.
            schema: schema holding the two tables (lowercase identifier).
            min_size: minimum pool size.
            max_size: maximum pool size (reads run concurrently with the flusher).
            connect_timeout: seconds to wait for a connection (then unavailable).
            command_timeout: seconds to wait for a statement (``None``: no limit),
                so a server that stops answering fails operations instead of
                hanging them.
        """
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
            raise ValueError(f"schema must be a lowercase SQL identifier, got {schema!r}")
        self._dsn = dsn
        self._schema = schema
        self._files = f"{schema}.files"
        self._records = f"{schema}.records"
        self._sizes = (min_size, max_size)
        self._timeouts = (connect_timeout, command_timeout)
        self._io = IOBoundary(self.describe(), _driver_errors())
        self._pool: Any = None
        self._pool_init: asyncio.Future[Any] | None = None
        self._holder: str | None = None  # set while the writer lock is wanted
        self._lock_conn: Any = None
        self._batcher: AsyncBatcher[_Op] = AsyncBatcher(self._flush)

    def describe(self) -> str:
        """A short description for messages: ``"postgres://host:port/db schema <schema>"``."""
        return _describe(self._dsn, self._schema)

    async def _get_pool(self, *, flushing: bool = False) -> Any:
        """The pool, created (and the schema checked) at first use.

        A failed creation is not kept: the next call tries again.

        Raises:
            StoreUnavailableError: the server cannot be reached.
            StoreLockedError: code ``foreign_store``: the schema holds other tables.
        """
        if self._batcher.closed and not flushing:
            raise StoreClosedError("store is closed")
        pool = self._pool
        if pool is not None:
            return pool
        init = self._pool_init
        if init is None:
            init = self._pool_init = asyncio.ensure_future(self._create_pool())
            init.add_done_callback(self._pool_done)
        with self._io:
            pool = await asyncio.shield(init)
        self._pool = pool
        return pool

    def _pool_done(self, init: asyncio.Future[Any]) -> None:
        """Keep a created pool; forget a failed creation so that the next call retries."""
        if self._pool_init is not init:
            return
        if init.cancelled() or init.exception() is not None:
            self._pool_init = None
        else:
            self._pool = init.result()

    async def _create_pool(self) -> Any:
        import asyncpg  # optional dependency

        connect_timeout, command_timeout = self._timeouts
        pool = await asyncpg.create_pool(
            self._dsn,
            min_size=self._sizes[0],
            max_size=self._sizes[1],
            timeout=connect_timeout,
            command_timeout=command_timeout,
        )
        try:
            async with pool.acquire() as conn, conn.transaction():
                await self._claim(conn)
        except BaseException:
            pool.terminate()
            raise
        return pool

    async def _claim(self, conn: Any) -> None:
        """Refuse a foreign schema, else create the schema, tables and marker (idempotent)."""
        # Two stores creating one schema at once would race on CREATE ... IF NOT EXISTS.
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1::bigint)", _lock_key(self._schema, "setup")
        )
        rows = await conn.fetch(
            "SELECT c.relname::text, c.relkind::text AS relkind, array_agg(a.attname::text ORDER BY a.attnum) AS cols "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'p', 'f') "
            "GROUP BY c.relname, c.relkind",
            self._schema,
        )
        names = {r["relname"] for r in rows}
        if _MARKER not in names:
            found = [
                r["relname"]
                for r in rows
                if r["relkind"] != "r" or list(r["cols"]) != _COLUMNS.get(r["relname"])
            ]
            if found:
                raise foreign_store(f"PostgreSQL schema {self._schema} ({self.describe()})", found)
        await conn.execute(
            f"""
            CREATE SCHEMA IF NOT EXISTS {self._schema};
            CREATE TABLE IF NOT EXISTS {self._files} (
                path text COLLATE "C" PRIMARY KEY,
                content text NOT NULL,
                base_lines integer NOT NULL,
                aligned boolean NOT NULL);
            CREATE TABLE IF NOT EXISTS {self._records} (
                path text COLLATE "C" NOT NULL,
                seq bigint NOT NULL,
                off bigint NOT NULL,
                data text NOT NULL,
                PRIMARY KEY (path, seq));
            CREATE TABLE IF NOT EXISTS {self._schema}.{_MARKER} (format integer NOT NULL);
            INSERT INTO {self._schema}.{_MARKER} SELECT 1
                WHERE NOT EXISTS (SELECT 1 FROM {self._schema}.{_MARKER});
            """
        )

    # -- group commit ----------------------------------------------------------

    async def _flush(self, batch: builtins.list[_Op]) -> builtins.list[object]:
        """Run a batch in one transaction; if it raises, the batcher fails every item with it."""
        pool = await self._get_pool(flushing=True)
        results: list[object] = []
        with self._io:
            if self._holder is not None and (
                self._lock_conn is None or self._lock_conn.is_closed()
            ):
                await self._take_lock(self._holder)  # lost with its connection: take it again
            async with pool.acquire() as conn, conn.transaction():
                i = 0
                while i < len(batch):
                    j = i
                    while j < len(batch) and batch[j][0] == "append":
                        j += 1
                    if j > i:
                        results.extend(await self._appends(conn, batch[i:j]))
                        i = j
                        continue
                    kind, norm, content = batch[i]
                    try:
                        if kind == "write":
                            await self._write_one(conn, norm, content)
                        else:
                            await self._delete_one(conn, norm)
                        results.append(None)
                    except KnowledgeStoreError as exc:
                        results.append(exc)
                    i += 1
        return results

    # -- writer lock -----------------------------------------------------------

    async def _take_lock(self, holder: str) -> None:
        """Open the lock connection and take the advisory lock on it, or raise naming the holder."""
        import asyncpg  # optional dependency

        conn = await asyncpg.connect(
            self._dsn,
            timeout=self._timeouts[0],
            command_timeout=self._timeouts[1],
            server_settings={"application_name": holder[:63]},
        )
        try:
            key = _lock_key(self._schema, "writer")
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1::bigint)", key):
                other = await conn.fetchrow(
                    "SELECT a.application_name, a.pid, a.client_addr::text AS addr "
                    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                    "AND l.classid::bigint = $1 AND l.objid::bigint = $2 LIMIT 1",
                    key >> 32,  # pg_locks shows a bigint key as its two 32-bit halves
                    key & 0xFFFFFFFF,
                )
                raise StoreLockedError(f"store {self.describe()} is locked by {_holder_of(other)}")
        except BaseException:
            conn.terminate()
            raise
        self._lock_conn = conn

    async def acquire_lock(self, holder: str) -> None:
        """Take the advisory lock of the schema on a dedicated connection; see the module docstring.

        Raises:
            StoreLockedError: another holder has it (named), or the schema is foreign.
            StoreUnavailableError: the server cannot be reached.
            StoreClosedError: the store was closed.
        """
        await self._get_pool()
        if self._lock_conn is not None and not self._lock_conn.is_closed():
            return
        with self._io:
            await self._take_lock(holder)
        self._holder = holder

    async def release_lock(self) -> None:
        """Close the lock connection (which releases the lock); idempotent, never raises."""
        self._holder = None
        conn, self._lock_conn = self._lock_conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), 5)
        except Exception:
            conn.terminate()  # the server drops the lock with the session

    async def _check_new_file(self, conn: Any, norm: str) -> None:
        lo, hi = _bounds(norm)
        q = f"SELECT 1 FROM {self._files} WHERE path >= $1 AND path < $2 LIMIT 1"
        if await conn.fetchval(q, lo, hi):
            raise PathConflictError(f"{norm!r} is a directory")
        q = f"SELECT 1 FROM {self._files} WHERE path = ANY($1::text[]) LIMIT 1"
        if await conn.fetchval(q, _ancestors(norm)):
            raise PathConflictError(f"{norm!r} lies below a file")

    async def _appends(self, conn: Any, run: builtins.list[_Op]) -> builtins.list[object]:
        paths = sorted({norm for _, norm, _ in run})
        rows = await conn.fetch(
            f"""
            SELECT f.path, f.aligned,
                   COALESCE(r.off + octet_length(r.data), octet_length(f.content)) AS size,
                   COALESCE(r.seq + 1, 0) AS next_seq
            FROM {self._files} f
            LEFT JOIN LATERAL (
                SELECT seq, off, data FROM {self._records} WHERE path = f.path
                ORDER BY seq DESC LIMIT 1) r ON true
            WHERE f.path = ANY($1::text[])
            ORDER BY f.path
            FOR UPDATE OF f
            """,
            paths,
        )
        tails: dict[str, list[Any]] = {
            r["path"]: [int(r["size"]), int(r["next_seq"]), r["aligned"]] for r in rows
        }
        failed: dict[str, KnowledgeStoreError] = {}
        for norm in paths:
            if norm not in tails:
                try:
                    await self._check_new_file(conn, norm)
                except KnowledgeStoreError as exc:
                    failed[norm] = exc
                    continue
                await conn.execute(f"INSERT INTO {self._files} VALUES ($1, '', 0, true)", norm)
                tails[norm] = [0, 0, True]
        results: list[object] = []
        r_path: list[str] = []
        r_seq: list[int] = []
        r_off: list[int] = []
        r_data: list[str] = []
        unaligned: list[str] = []
        for _, norm, content in run:
            if norm in failed:
                results.append(failed[norm])
                continue
            tail = tails[norm]
            results.append(tail[0])
            if not content:
                continue
            r_path.append(norm)
            r_seq.append(tail[1])
            r_off.append(tail[0])
            r_data.append(content)
            tail[0] += _blen(content)
            tail[1] += 1
            if tail[2] and content.find("\n") != len(content) - 1:
                tail[2] = False
                unaligned.append(norm)
        if r_path:
            await conn.execute(
                f"INSERT INTO {self._records} (path, seq, off, data) "
                "SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[])",
                r_path,
                r_seq,
                r_off,
                r_data,
            )
        if unaligned:
            await conn.execute(
                f"UPDATE {self._files} SET aligned = false WHERE path = ANY($1::text[])", unaligned
            )
        return results

    async def _write_one(self, conn: Any, norm: str, content: str) -> None:
        q = f"SELECT 1 FROM {self._files} WHERE path = $1 FOR UPDATE"
        if not await conn.fetchval(q, norm):
            await self._check_new_file(conn, norm)
        aligned = not content or content.endswith("\n")
        base_lines = content.count("\n") if aligned else len(split_lines(content))
        await conn.execute(
            f"INSERT INTO {self._files} VALUES ($1, $2, $3, $4) ON CONFLICT (path) DO UPDATE "
            "SET content = EXCLUDED.content, base_lines = EXCLUDED.base_lines, "
            "aligned = EXCLUDED.aligned",
            norm,
            content,
            base_lines,
            aligned,
        )
        await conn.execute(f"DELETE FROM {self._records} WHERE path = $1", norm)

    async def _delete_one(self, conn: Any, norm: str) -> None:
        lo, hi = _bounds(norm)
        for table in (self._files, self._records):
            await conn.execute(
                f"DELETE FROM {table} WHERE path = $1 OR (path >= $2 AND path < $3)", norm, lo, hi
            )

    # -- mutations ------------------------------------------------------------

    async def write(self, path: str, content: str) -> None:
        """Replace the file's content and drop its records in one transaction."""
        if type(content) is not str:
            raise TypeError(f"content must be a str, got {type(content).__name__}")
        await self._batcher.submit(("write", normalize_file_path(path), content))

    async def append(self, path: str, content: str) -> int:
        """Insert one record row; return its byte offset after the batch commits."""
        if type(content) is not str:
            raise TypeError(f"content must be a str, got {type(content).__name__}")
        result: int = await self._batcher.submit(("append", normalize_file_path(path), content))
        return result

    async def delete(self, path: str) -> None:
        """Delete the file or tree in one transaction; no-op if absent."""
        await self._batcher.submit(("delete", normalize_path(path), ""))

    # -- reads ------------------------------------------------------------------

    async def _fetchrow(self, query: str, *args: Any) -> Any:
        """One row of a read query (``None`` if none), through the error boundary."""
        pool = await self._get_pool()
        with self._io:
            return await pool.fetchrow(query, *args)

    async def _fetch(self, query: str, *args: Any) -> builtins.list[Any]:
        """The rows of a read query, through the error boundary."""
        pool = await self._get_pool()
        with self._io:
            rows: builtins.list[Any] = await pool.fetch(query, *args)
        return rows

    async def read(self, path: str) -> str | None:
        """Return the written content followed by the records, or ``None``."""
        norm = normalize_path(path)
        row = await self._fetchrow(
            f"SELECT f.content || COALESCE((SELECT string_agg(data, '' ORDER BY seq) "
            f"FROM {self._records} WHERE path = $1), '') AS text FROM {self._files} f "
            "WHERE f.path = $1",
            norm,
        )
        return None if row is None else str(row["text"])

    async def read_range(self, path: str, start: int, end: int | None = None) -> str:
        """Return UTF-8 bytes ``[start, end)``, fetching only the overlapping records."""
        check_range(start, end)
        norm = normalize_path(path)
        row = await self._fetchrow(f"SELECT content FROM {self._files} WHERE path = $1", norm)
        if row is None or (end is not None and end <= start):
            return ""
        stop = _MAX if end is None else end
        base = row["content"].encode()
        parts = [base[start:stop]] if start < len(base) else []
        rows = await self._fetch(
            f"SELECT off, data FROM {self._records} WHERE path = $1 AND off < $3 "
            "AND off + octet_length(data) > $2 ORDER BY seq",
            norm,
            start,
            stop,
        )
        for r in rows:
            off = r["off"]
            parts.append(r["data"].encode()[max(start - off, 0) : max(stop - off, 0)])
        return b"".join(parts).decode("utf-8", "replace")

    async def read_lines(
        self, path: str, start_line: int = 0, end_line: int | None = None
    ) -> builtins.list[str]:
        """Return lines ``[start_line, end_line)``; a seq-range query while line-aligned."""
        check_range(start_line, end_line)
        norm = normalize_path(path)
        row = await self._fetchrow(
            f"SELECT content, base_lines, aligned FROM {self._files} WHERE path = $1", norm
        )
        if row is None:
            return []
        if not row["aligned"]:
            return split_lines((await self.read(norm)) or "")[start_line:end_line]
        base_lines = int(row["base_lines"])
        out = split_lines(row["content"])[start_line:end_line] if start_line < base_lines else []
        lo = max(start_line - base_lines, 0)
        hi = _MAX if end_line is None else end_line - base_lines
        if hi > lo:
            rows = await self._fetch(
                f"SELECT data FROM {self._records} WHERE path = $1 AND seq >= $2 AND seq < $3 "
                "ORDER BY seq",
                norm,
                lo,
                hi,
            )
            out.extend(r["data"][:-1] for r in rows)
        return out

    async def line_count(self, path: str) -> int:
        """Return the number of lines; base lines + record count while line-aligned."""
        norm = normalize_path(path)
        row = await self._fetchrow(
            f"SELECT base_lines, aligned, (SELECT COALESCE(max(seq) + 1, 0) FROM {self._records} "
            f"WHERE path = $1) AS n FROM {self._files} WHERE path = $1",
            norm,
        )
        if row is None:
            return 0
        if not row["aligned"]:
            return len(split_lines((await self.read(norm)) or ""))
        return int(row["base_lines"]) + int(row["n"])

    def _texts_query(self) -> str:
        """Whole text of every file named in ``$1`` (rows: path, text)."""
        return (
            f"SELECT f.path, f.content || COALESCE((SELECT string_agg(r.data, '' ORDER BY r.seq) "
            f"FROM {self._records} r WHERE r.path = f.path), '') AS text "
            f"FROM {self._files} f WHERE f.path = ANY($1::text[])"
        )

    async def read_many(self, paths: Sequence[str]) -> builtins.list[str | None]:
        """Return ``read(path)`` for every path: one query."""
        norms = [normalize_path(p) for p in paths]
        await self._get_pool()
        if not norms:
            return []
        rows = await self._fetch(self._texts_query(), list(dict.fromkeys(norms)))
        texts = {r["path"]: str(r["text"]) for r in rows}
        return [texts.get(n) for n in norms]

    async def read_lines_many(
        self, requests: Sequence[tuple[str, int]]
    ) -> builtins.list[builtins.list[str]]:
        """Return ``read_lines(path, start_line)`` for every request.

        Two queries in one read-only repeatable-read transaction (so they see one
        snapshot): the file rows, then every line-aligned file's records from its
        start line on (a primary-key range each); a file that is not line-aligned
        is read whole.
        """
        checked = check_line_requests(requests)
        pool = await self._get_pool()
        if not checked:
            return []
        out: builtins.list[builtins.list[str]] = [[] for _ in checked]
        with self._io:
            await self._lines_many(pool, checked, out)
        return out

    async def _lines_many(
        self, pool: Any, checked: Sequence[tuple[str, int]], out: builtins.list[builtins.list[str]]
    ) -> None:
        """The queries of ``read_lines_many``, filling ``out``."""
        async with (
            pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            rows = await conn.fetch(
                f"SELECT path, content, base_lines, aligned FROM {self._files} "
                "WHERE path = ANY($1::text[])",
                list(dict.fromkeys(p for p, _ in checked)),
            )
            files = {r["path"]: r for r in rows}
            idx: list[int] = []
            q_paths: list[str] = []
            q_lo: list[int] = []
            unaligned: list[int] = []
            for i, (norm, start) in enumerate(checked):
                row = files.get(norm)
                if row is None:
                    continue
                if not row["aligned"]:
                    unaligned.append(i)
                    continue
                base_lines = int(row["base_lines"])
                if start < base_lines:
                    out[i] = split_lines(row["content"])[start:]
                idx.append(i)
                q_paths.append(norm)
                q_lo.append(max(start - base_lines, 0))
            if idx:
                records = await conn.fetch(
                    f"SELECT q.i, r.data FROM unnest($1::bigint[], $2::text[], $3::bigint[]) "
                    f"AS q(i, path, lo) JOIN {self._records} r "
                    "ON r.path = q.path AND r.seq >= q.lo ORDER BY q.i, r.seq",
                    idx,
                    q_paths,
                    q_lo,
                )
                for r in records:
                    out[r["i"]].append(r["data"][:-1])
            if unaligned:
                names = list(dict.fromkeys(checked[i][0] for i in unaligned))
                texts = {
                    r["path"]: str(r["text"]) for r in await conn.fetch(self._texts_query(), names)
                }
                for i in unaligned:
                    norm, start = checked[i]
                    out[i] = split_lines(texts.get(norm, ""))[start:]

    async def list(self, path: str = "/") -> builtins.list[str]:
        """Return sorted child names, directories suffixed with "/"."""
        lo, hi = _bounds(normalize_path(path))
        rows = await self._fetch(
            f"SELECT path FROM {self._files} WHERE path >= $1 AND path < $2", lo, hi
        )
        names = set()
        for r in rows:
            name, sep, _ = r["path"][len(lo) :].partition("/")
            names.add(name + sep)
        return sorted(names)

    async def exists(self, path: str) -> bool:
        """Return whether the path is a file or a directory."""
        norm = normalize_path(path)
        if norm == "/":
            await self._get_pool()
            return True
        lo, hi = _bounds(norm)
        row = await self._fetchrow(
            f"SELECT 1 FROM {self._files} WHERE path = $1 OR (path >= $2 AND path < $3) LIMIT 1",
            norm,
            lo,
            hi,
        )
        return row is not None

    async def on_change(self, path: str, callback: ChangeCallback) -> ChangeSubscription:
        """Return ``NoopChangeSubscription``: callers poll."""
        if self._batcher.closed:
            raise StoreClosedError("store is closed")
        normalize_path(path)
        return NoopChangeSubscription()

    async def close(self) -> None:
        """Commit queued mutations, release the lock and close the pool; idempotent."""
        if self._batcher.closed:
            await self._batcher.drain()
            return
        try:
            await self._batcher.close()
        finally:
            await self.release_lock()
            await self._close_pool()

    async def _close_pool(self) -> None:
        """Close the pool (a pool still being created is awaited first); terminate if stuck."""
        init, self._pool_init = self._pool_init, None
        pool, self._pool = self._pool, None
        if pool is None and init is not None:
            try:
                pool = await init
            except Exception:
                return
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), 5)
        except Exception:
            pool.terminate()
