"""``RedisKnowledgeStore``: the knowledge tree in Redis (``redis.asyncio``, optional dependency).

Durability: exactly the server's. An operation that returned is in Redis'
memory; it survives a kill -9 of the *hub* always, and a restart of the Redis
server only with persistence enabled (``appendonly yes``; ``appendfsync
always`` for no loss on power failure, ``everysec`` loses up to a second).

Layout under ``key_prefix`` (default ``"hubbub:knowledge"``):

* ``<prefix>:idx`` sorted set of every file path (score 0, lexicographic
  ranges answer ``list``/``exists`` for directories);
* ``<prefix>:size`` hash path → size in UTF-8 bytes (the next append offset);
* ``<prefix>:f:<path>`` string: the content ``write`` stored;
* ``<prefix>:r:<path>`` list: one entry per appended record (RPUSH, O(record));
* ``<prefix>:unal`` hash of files that are not line-aligned (a record that is
  not exactly one line); for the others line ``i`` is a list index.

* ``<prefix>:meta`` string: the marker that the prefix is a hubbub store;
* ``<prefix>:lock`` string: the writer lease (see below).

Mutations run as Lua scripts (atomic: conflict checks, offset, push) and are
group-committed: everything queued while a batch is in flight goes in the
next batch, in call order. A batch is one MULTI/EXEC pipeline, so the server
applies all of it or none of it. ``read_range`` reads the whole file (records
do not carry offsets). ``on_change`` is not supported.

Failures and reconnection: every ``redis`` error (``ConnectionError``,
``TimeoutError``, ``BusyLoadingError`` while the server loads, an ``OOM`` or
``MISCONF`` reply) and ``OSError`` becomes ``StoreUnavailableError(store="redis://
host:port/db prefix <prefix>")`` at one boundary; a failed batch fails every
mutation in it. The store's own client does not retry (redis-py's default
retries would re-send a whole batch whose first sending may have been applied)
and times out a silent server (``socket_timeout``); a broken connection is
dropped and the next command connects again, so operations work once the
server is back. The server forgets loaded scripts when it restarts: a batch
answered ``NOSCRIPT`` loads them again and re-runs the commands that did not run.

Writer lock: ``acquire_lock(holder)`` sets the lease ``<prefix>:lock`` to a
random token and ``holder`` with ``SET NX PX`` (``lock_ttl_s``) and a
background task renews it every third of that; a second taker gets
``StoreLockedError`` naming the holder. ``release_lock`` deletes the lease only
if it still holds this store's token. A lease that expired while the server was
unreachable is taken again when it is back; if another holder took it
meanwhile, mutations fail with ``StoreLockedError``. A process killed with -9
leaves its lease to expire (at most ``lock_ttl_s``).

Foreign data: the prefix is this store's if ``<prefix>:meta`` holds the marker,
or if every key under ``<prefix>:`` is one this store makes (a new prefix, or
one from before the marker, which then gets the marker; checking scans the
keys under the prefix, once). A prefix with other keys is refused with
``StoreLockedError(code="foreign_store")`` naming it and the keys found, before
anything is written.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import re
import secrets
from collections.abc import Sequence
from typing import Any

from hubbub.knowledge._abatch import AsyncBatcher
from hubbub.knowledge.base import (
    ChangeCallback,
    ChangeSubscription,
    IOBoundary,
    NoopChangeSubscription,
    PathConflictError,
    StoreClosedError,
    StoreLockedError,
    StoreUnavailableError,
    check_line_requests,
    check_range,
    foreign_store,
    normalize_file_path,
    normalize_path,
    split_lines,
)

__all__ = ["RedisKnowledgeStore"]

# KEYS: idx, size, unal. ARGV: path, prefix, data, nbytes, aligned flag, ancestors...
_NEW_FILE_CHECK = """
local function check_new(p)
  if #redis.call('ZRANGEBYLEX', KEYS[1], '[' .. p .. '/', '(' .. p .. '0', 'LIMIT', 0, 1) > 0 then
    return redis.error_reply('CONFLICT ' .. p .. ' is a directory')
  end
  for i = 6, #ARGV do
    if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
      return redis.error_reply('CONFLICT ' .. p .. ' lies below a file')
    end
  end
  redis.call('ZADD', KEYS[1], 0, p)
  return nil
end
"""
_APPEND = (
    _NEW_FILE_CHECK
    + """
local p = ARGV[1]
local size = redis.call('HGET', KEYS[2], p)
if not size then
  local err = check_new(p)
  if err then return err end
  redis.call('HSET', KEYS[2], p, 0)
  size = 0
end
local n = tonumber(ARGV[4])
if n > 0 then
  redis.call('RPUSH', ARGV[2] .. ':r:' .. p, ARGV[3])
  redis.call('HINCRBY', KEYS[2], p, n)
  if ARGV[5] == '0' then redis.call('HSET', KEYS[3], p, 1) end
end
return tonumber(size)
"""
)
_WRITE = (
    _NEW_FILE_CHECK
    + """
local p = ARGV[1]
if not redis.call('ZSCORE', KEYS[1], p) then
  local err = check_new(p)
  if err then return err end
end
redis.call('SET', ARGV[2] .. ':f:' .. p, ARGV[3])
redis.call('DEL', ARGV[2] .. ':r:' .. p)
redis.call('HSET', KEYS[2], p, ARGV[4])
if ARGV[5] == '0' then redis.call('HSET', KEYS[3], p, 1) else redis.call('HDEL', KEYS[3], p) end
return 0
"""
)
_DELETE = """
local p = ARGV[1]
local victims
if p == '/' then
  victims = redis.call('ZRANGE', KEYS[1], 0, -1)
else
  victims = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. p .. '/', '(' .. p .. '0')
  if redis.call('ZSCORE', KEYS[1], p) then table.insert(victims, p) end
end
for _, v in ipairs(victims) do
  redis.call('DEL', ARGV[2] .. ':f:' .. v, ARGV[2] .. ':r:' .. v)
  redis.call('HDEL', KEYS[2], v)
  redis.call('HDEL', KEYS[3], v)
  redis.call('ZREM', KEYS[1], v)
end
return #victims
"""


# KEYS: lock. ARGV: value (token + holder), ttl ms. 1: held (renewed or taken again), 0: lost.
_RENEW = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_BULK_CHUNK = 1000  # paths per pipeline in the bulk reads
_MARKER = b"hubbub knowledge store 1"
_OWN_KEYS = (b"idx", b"size", b"unal", b"meta", b"lock")
_OWN_PREFIXES = (b"f:/", b"r:/")


def _blen(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _ancestors(norm: str) -> list[str]:
    segs = norm[1:].split("/")[:-1]
    return ["/" + "/".join(segs[: i + 1]) for i in range(len(segs))]


def _bounds(norm: str) -> tuple[str, str]:
    return ("[/", "(0") if norm == "/" else ("[" + norm + "/", "(" + norm + "0")


def _driver_errors() -> tuple[type[BaseException], ...]:
    """What redis-py raises when the server or the link fails (all mapped to unavailable)."""
    from redis.exceptions import RedisError  # optional dependency

    return (RedisError, OSError)


def _holder_of(value: bytes | None) -> str:
    """The holder named in a lease value (``"<token> <holder>"``)."""
    if not value:
        return "another store (its lease just ended)"
    return value.decode("utf-8", "replace").partition(" ")[2] or "another store"


class RedisKnowledgeStore:
    """``KnowledgeStore`` in Redis: list entry per record, Lua-atomic offsets, pipelined batches."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        key_prefix: str = "hubbub:knowledge",
        client: Any = None,
        lock_ttl_s: float = 10.0,
        socket_timeout_s: float = 30.0,
    ) -> None:
        """Connect lazily to ``url`` (or use ``client``, a ``redis.asyncio.Redis``).

        Args:
            url: Redis URL, used when ``client`` is not given.
            key_prefix: namespace of every key this store touches.
            client: an existing client (must not decode responses); not closed by
                ``close``. Its retry policy applies: give it none (see above).
            lock_ttl_s: lifetime of the writer lease; renewed every third of it.
            socket_timeout_s: how long the store's own client waits for a reply
                (and for a connection) before the operation fails.
        """
        import redis.asyncio as aioredis  # optional dependency
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._owns_client = client is None
        self._r: Any = (
            client
            if client is not None
            else aioredis.from_url(
                url,
                retry=Retry(NoBackoff(), 0),
                socket_timeout=socket_timeout_s,
                socket_connect_timeout=socket_timeout_s,
            )
        )
        self._prefix = key_prefix
        self._io = IOBoundary(self.describe(), _driver_errors())
        self._keys = [f"{key_prefix}:idx", f"{key_prefix}:size", f"{key_prefix}:unal"]
        self._meta_key = f"{key_prefix}:meta"
        self._lock_key = f"{key_prefix}:lock"
        self._append = self._r.register_script(_APPEND)
        self._write = self._r.register_script(_WRITE)
        self._delete = self._r.register_script(_DELETE)
        self._renew = self._r.register_script(_RENEW)
        self._release = self._r.register_script(_RELEASE)
        self._loaded = False
        self._claimed = False
        self._lock_ttl_ms = max(1, int(lock_ttl_s * 1000))
        self._lease: bytes | None = None  # our lease value while the lock is wanted
        self._lease_lost: str | None = None  # who took the lease from us
        self._renewer: asyncio.Task[None] | None = None
        self._batcher: AsyncBatcher[tuple[Any, list[Any]]] = AsyncBatcher(self._flush)

    def describe(self) -> str:
        """A short description for messages: ``"redis://host:port/db prefix <prefix>"``."""
        kw = getattr(getattr(self._r, "connection_pool", None), "connection_kwargs", {})
        where = kw.get("path") or f"{kw.get('host', '?')}:{kw.get('port', '?')}"
        return f"redis://{where}/{kw.get('db', 0)} prefix {self._prefix}"

    @property
    def key_prefix(self) -> str:
        """The namespace of this store's keys."""
        return self._prefix

    async def _flush(
        self, batch: builtins.list[tuple[Any, builtins.list[Any]]]
    ) -> builtins.list[object]:
        """Run a batch as one MULTI/EXEC; if it raises, the batcher fails every item with it."""
        if self._lease_lost is not None:
            raise StoreLockedError(
                f"store {self.describe()} lost its writer lease to {self._lease_lost}"
            )
        with self._io:
            if not self._claimed:
                await self._claim()
            replies = await self._run(batch)
        from redis.exceptions import NoScriptError

        lost = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if lost:
            # The server lost its script cache (restart, SCRIPT FLUSH): those did not run.
            self._loaded = False
            redone = await self._flush([batch[i] for i in lost])
            replies = list(replies)
            for i, reply in zip(lost, redone, strict=True):
                replies[i] = reply
        return [self._result(reply) for reply in replies]

    async def _run(
        self, batch: builtins.list[tuple[Any, builtins.list[Any]]]
    ) -> builtins.list[Any]:
        """Send the batch's EVALSHAs in one MULTI/EXEC; per-command errors come back as values.

        A server that forgot the scripts aborts the whole transaction (Redis 7
        checks EVALSHA when it is queued): nothing ran, so the scripts are loaded
        and the batch is sent once more.
        """
        from redis.exceptions import NoScriptError

        for attempt in (1, 2):
            if not self._loaded:
                for script in (self._append, self._write, self._delete):
                    await self._r.script_load(script.script)
                self._loaded = True
            # Plain EVALSHA: a redis-py pipeline of Script objects re-checks SCRIPT EXISTS
            # on every execute, which doubles the round trips.
            pipe = self._r.pipeline(transaction=True)
            for script, args in batch:
                pipe.evalsha(script.sha, len(self._keys), *self._keys, *args)
            try:
                replies: builtins.list[Any] = await pipe.execute(raise_on_error=False)
            except NoScriptError:
                self._loaded = False
                if attempt == 2:
                    raise
                continue
            return replies
        raise AssertionError("unreachable")

    def _result(self, reply: Any) -> object:
        """One command's reply as the caller's result or error."""
        if not isinstance(reply, Exception) or isinstance(reply, PathConflictError):
            return reply
        if isinstance(reply, StoreUnavailableError | StoreLockedError):
            return reply  # already mapped by a redo
        msg = str(reply)
        if "CONFLICT" in msg:
            return PathConflictError(msg[msg.index("CONFLICT") + 9 :])
        return self._io.error(reply)  # OOM, MISCONF, READONLY...: the server refused the write

    async def _claim(self) -> None:
        """Refuse a prefix holding foreign keys; write the marker (see the module docstring)."""
        if await self._r.get(self._meta_key) != _MARKER:
            skip = len(self._prefix) + 1
            found: builtins.list[str] = []
            pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self._prefix) + ":*"
            async for key in self._r.scan_iter(match=pattern, count=1000):
                rest = key[skip:]
                if rest not in _OWN_KEYS and not rest.startswith(_OWN_PREFIXES):
                    found.append(key.decode("utf-8", "replace"))
                    if len(found) >= 5:
                        break
            if found:
                raise foreign_store(f"Redis key prefix {self._prefix!r} ({self.describe()})", found)
            await self._r.set(self._meta_key, _MARKER)
        self._claimed = True

    # -- writer lock -----------------------------------------------------------

    async def acquire_lock(self, holder: str) -> None:
        """Take the writer lease (``SET NX PX``) and start renewing it; see the module docstring.

        Raises:
            StoreLockedError: another holder has it (named), or the prefix is foreign.
            StoreUnavailableError: the server cannot be reached.
            StoreClosedError: the store was closed.
        """
        self._check_open()
        if self._lease is not None and self._lease_lost is None:
            return
        value = f"{secrets.token_hex(16)} {holder}".encode()
        with self._io:
            if not self._claimed:
                await self._claim()
            if not await self._r.set(self._lock_key, value, nx=True, px=self._lock_ttl_ms):
                other = await self._r.get(self._lock_key)
                raise StoreLockedError(f"store {self.describe()} is locked by {_holder_of(other)}")
        self._lease, self._lease_lost = value, None
        self._renewer = asyncio.get_running_loop().create_task(
            self._keep_lease(value), name=f"hubbub-redis-lease:{self._prefix}"
        )

    async def _keep_lease(self, value: bytes) -> None:
        """Renew the lease every third of its life; note who took it if it was lost."""
        while self._lease == value:
            await asyncio.sleep(self._lock_ttl_ms / 3000)
            try:
                held = await self._renew(keys=[self._lock_key], args=[value, self._lock_ttl_ms])
                other = None if held else await self._r.get(self._lock_key)
            except self._io.errors:
                continue  # unreachable: try again; taken again on return if it expired
            if not held and self._lease == value:
                self._lease_lost = _holder_of(other)
                return

    async def release_lock(self) -> None:
        """Stop renewing and delete the lease if it is still ours; idempotent, never raises."""
        value, self._lease, self._lease_lost = self._lease, None, None
        task, self._renewer = self._renewer, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if value is None:
            return
        with contextlib.suppress(*self._io.errors):  # unreachable: the lease expires by itself
            await self._release(keys=[self._lock_key], args=[value])

    def _check_open(self) -> None:
        if self._batcher.closed:
            raise StoreClosedError("store is closed")

    def _k(self, kind: str, norm: str) -> str:
        return f"{self._prefix}:{kind}:{norm}"

    @staticmethod
    def _text(base: bytes | None, records: builtins.list[bytes]) -> str:
        return (base or b"").decode() + b"".join(records).decode()

    # -- mutations ------------------------------------------------------------

    async def write(self, path: str, content: str) -> None:
        """Replace the file's content and drop its records, atomically."""
        norm = normalize_file_path(path)
        aligned = "0" if content and not content.endswith("\n") else "1"
        args = [norm, self._prefix, content, _blen(content), aligned, *_ancestors(norm)]
        await self._batcher.submit((self._write, args))

    async def append(self, path: str, content: str) -> int:
        """RPUSH one record; return its byte offset once the pipeline has run."""
        norm = normalize_file_path(path)
        if type(content) is not str:
            raise TypeError(f"content must be a str, got {type(content).__name__}")
        aligned = "1" if content.find("\n") == len(content) - 1 else "0"
        args = [norm, self._prefix, content, _blen(content), aligned, *_ancestors(norm)]
        result: int = await self._batcher.submit((self._append, args))
        return result

    async def delete(self, path: str) -> None:
        """Delete the file or tree atomically; no-op if absent."""
        norm = normalize_path(path)
        await self._batcher.submit((self._delete, [norm, self._prefix]))

    # -- reads ------------------------------------------------------------------

    async def read(self, path: str) -> str | None:
        """Return the written content followed by the records, or ``None``."""
        self._check_open()
        norm = normalize_path(path)
        pipe = self._r.pipeline(transaction=True)
        pipe.zscore(self._keys[0], norm).get(self._k("f", norm)).lrange(self._k("r", norm), 0, -1)
        with self._io:
            score, base, records = await pipe.execute()
        return None if score is None else self._text(base, records)

    async def read_range(self, path: str, start: int, end: int | None = None) -> str:
        """Return UTF-8 bytes ``[start, end)`` (reads the whole file)."""
        check_range(start, end)
        text = await self.read(path)
        if text is None or (end is not None and end <= start):
            return ""
        return text.encode()[start:end].decode("utf-8", "replace")

    async def _line_meta(self, norm: str) -> tuple[bool, bytes | None, bool, int]:
        pipe = self._r.pipeline(transaction=True)
        pipe.zscore(self._keys[0], norm).get(self._k("f", norm))
        pipe.hexists(self._keys[2], norm).llen(self._k("r", norm))
        with self._io:
            score, base, unaligned, n = await pipe.execute()
        return score is not None, base, bool(unaligned), int(n)

    async def read_lines(
        self, path: str, start_line: int = 0, end_line: int | None = None
    ) -> builtins.list[str]:
        """Return lines ``[start_line, end_line)``; an LRANGE while the file is line-aligned."""
        check_range(start_line, end_line)
        self._check_open()
        norm = normalize_path(path)
        found, base, unaligned, _ = await self._line_meta(norm)
        if not found:
            return []
        if unaligned:
            return split_lines((await self.read(norm)) or "")[start_line:end_line]
        base_lines = split_lines((base or b"").decode())
        out = base_lines[start_line:end_line]
        lo = max(start_line - len(base_lines), 0)
        hi = -1 if end_line is None else end_line - len(base_lines) - 1
        if end_line is None or hi >= lo:
            with self._io:
                records = await self._r.lrange(self._k("r", norm), lo, hi)
            out.extend(r[:-1].decode() for r in records)
        return out

    async def line_count(self, path: str) -> int:
        """Return the number of lines; LLEN while the file is line-aligned."""
        self._check_open()
        norm = normalize_path(path)
        found, base, unaligned, n = await self._line_meta(norm)
        if not found:
            return 0
        if unaligned:
            return len(split_lines((await self.read(norm)) or ""))
        return (base or b"").count(b"\n") + n

    async def read_many(self, paths: Sequence[str]) -> builtins.list[str | None]:
        """Return ``read(path)`` for every path: one MULTI/EXEC pipeline per 1,000 paths."""
        self._check_open()
        norms = [normalize_path(p) for p in paths]
        out: builtins.list[str | None] = []
        for i in range(0, len(norms), _BULK_CHUNK):
            chunk = norms[i : i + _BULK_CHUNK]
            pipe = self._r.pipeline(transaction=True)
            for norm in chunk:
                pipe.zscore(self._keys[0], norm).get(self._k("f", norm))
                pipe.lrange(self._k("r", norm), 0, -1)
            with self._io:
                replies = await pipe.execute()
            for j in range(0, len(replies), 3):
                score, base, records = replies[j : j + 3]
                out.append(None if score is None else self._text(base, records))
        return out

    async def read_lines_many(
        self, requests: Sequence[tuple[str, int]]
    ) -> builtins.list[builtins.list[str]]:
        """Return ``read_lines(path, start_line)`` for every request: two pipelines per 1,000.

        The first reads each file's line metadata, the second the LRANGE of every
        line-aligned file from its start line; other files are read whole.
        """
        self._check_open()
        checked = check_line_requests(requests)
        out: builtins.list[builtins.list[str]] = []
        for i in range(0, len(checked), _BULK_CHUNK):
            chunk = checked[i : i + _BULK_CHUNK]
            pipe = self._r.pipeline(transaction=True)
            for norm, _ in chunk:
                pipe.zscore(self._keys[0], norm).get(self._k("f", norm))
                pipe.hexists(self._keys[2], norm)
            with self._io:
                meta = await pipe.execute()
            lines: builtins.list[builtins.list[str]] = [[] for _ in chunk]
            pipe = self._r.pipeline(transaction=True)
            ranged: builtins.list[int] = []
            whole: builtins.list[int] = []
            for j, (norm, start) in enumerate(chunk):
                score, base, unaligned = meta[3 * j : 3 * j + 3]
                if score is None:
                    continue
                if unaligned:
                    whole.append(j)
                    continue
                base_lines = split_lines((base or b"").decode())
                lines[j] = base_lines[start:]
                pipe.lrange(self._k("r", norm), max(start - len(base_lines), 0), -1)
                ranged.append(j)
            if ranged:
                with self._io:
                    ranged_records = await pipe.execute()
                for j, records in zip(ranged, ranged_records, strict=True):
                    lines[j].extend(r[:-1].decode() for r in records)
            if whole:
                texts = await self.read_many([chunk[j][0] for j in whole])
                for j, text in zip(whole, texts, strict=True):
                    lines[j] = split_lines(text or "")[chunk[j][1] :]
            out.extend(lines)
        return out

    async def list(self, path: str = "/") -> builtins.list[str]:
        """Return sorted child names, directories suffixed with "/"."""
        self._check_open()
        norm = normalize_path(path)
        lo, hi = _bounds(norm)
        skip = len(lo) - 1
        names = set()
        with self._io:
            raws = await self._r.zrangebylex(self._keys[0], lo, hi)
        for raw in raws:
            name, sep, _ = raw.decode()[skip:].partition("/")
            names.add(name + sep)
        return sorted(names)

    async def exists(self, path: str) -> bool:
        """Return whether the path is a file or a directory."""
        self._check_open()
        norm = normalize_path(path)
        if norm == "/":
            return True
        lo, hi = _bounds(norm)
        with self._io:
            if await self._r.zscore(self._keys[0], norm) is not None:
                return True
            return bool(await self._r.zrangebylex(self._keys[0], lo, hi, start=0, num=1))

    async def on_change(self, path: str, callback: ChangeCallback) -> ChangeSubscription:
        """Return ``NoopChangeSubscription``: callers poll."""
        self._check_open()
        normalize_path(path)
        return NoopChangeSubscription()

    async def close(self) -> None:
        """Flush queued mutations and close the client if this store made it; idempotent."""
        if self._batcher.closed:
            await self._batcher.drain()
            return
        try:
            await self._batcher.close()
        finally:
            await self.release_lock()
            if self._owns_client:
                await self._r.aclose()
