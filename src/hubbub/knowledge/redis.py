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

Mutations run as Lua scripts (atomic: conflict checks, offset, push) and are
group-committed: everything queued while a pipeline is in flight goes in the
next pipeline, in call order. ``read_range`` reads the whole file (records do
not carry offsets). ``on_change`` is not supported.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from hubbub.knowledge._abatch import AsyncBatcher
from hubbub.knowledge.base import (
    ChangeCallback,
    ChangeSubscription,
    KnowledgeStoreError,
    NoopChangeSubscription,
    PathConflictError,
    StoreClosedError,
    check_line_requests,
    check_range,
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


_BULK_CHUNK = 1000  # paths per pipeline in the bulk reads


def _blen(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _ancestors(norm: str) -> list[str]:
    segs = norm[1:].split("/")[:-1]
    return ["/" + "/".join(segs[: i + 1]) for i in range(len(segs))]


def _bounds(norm: str) -> tuple[str, str]:
    return ("[/", "(0") if norm == "/" else ("[" + norm + "/", "(" + norm + "0")


class RedisKnowledgeStore:
    """``KnowledgeStore`` in Redis: list entry per record, Lua-atomic offsets, pipelined batches."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        key_prefix: str = "hubbub:knowledge",
        client: Any = None,
    ) -> None:
        """Connect lazily to ``url`` (or use ``client``, a ``redis.asyncio.Redis``).

        Args:
            url: Redis URL, used when ``client`` is not given.
            key_prefix: namespace of every key this store touches.
            client: an existing client (must not decode responses); not closed by ``close``.
        """
        import redis.asyncio as aioredis  # optional dependency

        self._owns_client = client is None
        self._r: Any = client if client is not None else aioredis.from_url(url)
        self._prefix = key_prefix
        self._keys = [f"{key_prefix}:idx", f"{key_prefix}:size", f"{key_prefix}:unal"]
        self._append = self._r.register_script(_APPEND)
        self._write = self._r.register_script(_WRITE)
        self._delete = self._r.register_script(_DELETE)
        self._loaded = False
        self._batcher: AsyncBatcher[tuple[Any, list[Any]]] = AsyncBatcher(self._flush)

    @property
    def key_prefix(self) -> str:
        """The namespace of this store's keys."""
        return self._prefix

    async def _flush(
        self, batch: builtins.list[tuple[Any, builtins.list[Any]]]
    ) -> builtins.list[object]:
        try:
            if not self._loaded:
                for script in (self._append, self._write, self._delete):
                    await self._r.script_load(script.script)
                self._loaded = True
            # Plain EVALSHA: a redis-py pipeline of Script objects re-checks SCRIPT EXISTS
            # on every execute, which doubles the round trips.
            pipe = self._r.pipeline(transaction=False)
            for script, args in batch:
                pipe.evalsha(script.sha, len(self._keys), *self._keys, *args)
            replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            raise KnowledgeStoreError(f"redis: {exc}") from exc
        lost = [
            i for i, r in enumerate(replies) if isinstance(r, Exception) and "NOSCRIPT" in str(r)
        ]
        if lost:
            # The server lost its script cache (restart, SCRIPT FLUSH): those did not run.
            self._loaded = False
            redone = await self._flush([batch[i] for i in lost])
            replies = list(replies)
            for i, reply in zip(lost, redone, strict=True):
                replies[i] = reply
        results: list[object] = []
        for reply in replies:
            if isinstance(reply, KnowledgeStoreError):  # already mapped by a redo
                results.append(reply)
            elif isinstance(reply, Exception):
                msg = str(reply)
                if "CONFLICT" in msg:
                    results.append(PathConflictError(msg[msg.index("CONFLICT") + 9 :]))
                else:
                    err = KnowledgeStoreError(f"redis: {msg}")
                    err.__cause__ = reply
                    results.append(err)
            else:
                results.append(reply)
        return results

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
                for j, records in zip(ranged, await pipe.execute(), strict=True):
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
        for raw in await self._r.zrangebylex(self._keys[0], lo, hi):
            name, sep, _ = raw.decode()[skip:].partition("/")
            names.add(name + sep)
        return sorted(names)

    async def exists(self, path: str) -> bool:
        """Return whether the path is a file or a directory."""
        self._check_open()
        norm = normalize_path(path)
        if norm == "/" or await self._r.zscore(self._keys[0], norm) is not None:
            return True
        lo, hi = _bounds(norm)
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
        await self._batcher.close()
        if self._owns_client:
            await self._r.aclose()
