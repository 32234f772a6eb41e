"""A running hub's store, read through the protocol (``hubbub … --hub URL --token T``).

:class:`RemoteStore` has the read half of the ``KnowledgeStore`` protocol and
answers it with the operator read operations (``store_list``, ``store_read``,
``store_read_lines``, ``store_line_counts``) of a :class:`HubClient`'s
connection, so :class:`~hubbub.network.hub.reader.StoreReader` runs on it as on a
store opened offline. The hub answers those only for the operator principal
(``hubbub serve --operator-token``); anyone else gets ``access_denied``. Every
mutation raises: a reader never writes.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from hubbub.knowledge.base import ChangeCallback, ChangeSubscription, NoopChangeSubscription
from hubbub.network.client.hub_client import HubClient
from hubbub.network.errors import AccessDeniedError

__all__ = ["RemoteStore"]

# Paths per bulk request (the hub answers as many as fit; the rest are asked again).
_PATHS = 1024


class RemoteStore:
    """The read half of a ``KnowledgeStore``, answered by a hub over its protocol."""

    def __init__(self, client: HubClient, url: str) -> None:
        self._client = client
        self._url = url

    def describe(self) -> str:
        """The hub's URL."""
        return self._url

    async def _call(self, op: str, **params: Any) -> Any:
        connection = await self._client.connect()
        return await connection.call(op, **params)

    async def read(self, path: str) -> str | None:
        """One file's content, or None."""
        (text,) = await self.read_many([path])
        return text

    async def read_many(self, paths: Sequence[str]) -> builtins.list[str | None]:
        """Files in order, in as few requests as the hub's answer size allows."""
        out: builtins.list[str | None] = []
        todo = list(paths)
        while todo:
            got: builtins.list[str | None] = await self._call("store_read", paths=todo[:_PATHS])
            if not got:
                raise AccessDeniedError("store_read: the hub answered nothing")
            out.extend(got)
            todo = todo[len(got) :]
        return out

    async def read_lines(
        self, path: str, start_line: int = 0, end_line: int | None = None
    ) -> builtins.list[str]:
        """Lines ``[start_line, end_line)``, fetched in answers of the hub's size."""
        out: builtins.list[str] = []
        start = start_line
        while end_line is None or start < end_line:
            got: builtins.list[str] = await self._call(
                "store_read_lines", path=path, start=start, end=end_line
            )
            if not got:
                break
            out.extend(got)
            start += len(got)
        return out

    async def read_lines_many(
        self, requests: Sequence[tuple[str, int]]
    ) -> builtins.list[builtins.list[str]]:
        """``read_lines(path, start)`` for each request, many per hub request."""
        out: builtins.list[builtins.list[str]] = []
        todo = [(path, start) for path, start in requests]
        at = 0  # the next request without its answer
        lines_so_far: builtins.list[str] = []  # of todo[at], when it came in parts
        while at < len(todo):
            chunk = todo[at : at + _PATHS]
            got: builtins.list[Any] = await self._call(
                "store_read_lines_many",
                paths=[p for p, _ in chunk],
                starts=[s for _, s in chunk],
            )
            if not got:
                raise AccessDeniedError("store_read_lines_many: the hub answered nothing")
            for lines, more in got:
                lines_so_far.extend(lines)
                if more:  # the rest of this file comes with the next request
                    path, start = todo[at]
                    todo[at] = (path, start + len(lines))
                    break
                out.append(lines_so_far)
                lines_so_far = []
                at += 1
        return out

    async def line_count(self, path: str) -> int:
        """One file's line count."""
        (count,) = await self.line_counts([path])
        return count

    async def line_counts(self, paths: Sequence[str]) -> builtins.list[int]:
        """Line counts of many files, a thousand per request."""
        out: builtins.list[int] = []
        for i in range(0, len(paths), _PATHS):
            out.extend(await self._call("store_line_counts", paths=list(paths[i : i + _PATHS])))
        return out

    async def list(self, path: str = "/") -> builtins.list[str]:
        """Names under ``path``."""
        names: builtins.list[str] = await self._call("store_list", path=path)
        return names

    async def exists(self, path: str) -> bool:
        """Whether ``path`` is a file or a non-empty directory."""
        if await self.read(path) is not None:
            return True
        return bool(await self.list(path))

    async def on_change(self, path: str, callback: ChangeCallback) -> ChangeSubscription:
        """No change notifications: callers poll."""
        return NoopChangeSubscription()

    async def write(self, path: str, content: str) -> None:
        """Refused: a reader never writes."""
        raise AccessDeniedError(f"read-only view of {self._url}: cannot write {path}")

    async def append(self, path: str, content: str) -> int:
        """Refused: a reader never writes."""
        raise AccessDeniedError(f"read-only view of {self._url}: cannot append to {path}")

    async def read_range(self, path: str, start: int, end: int | None = None) -> str:
        """Not offered by the hub (the readers do not need it)."""
        raise AccessDeniedError("read_range is not offered through the hub")

    async def delete(self, path: str) -> None:
        """Refused: a reader never writes."""
        raise AccessDeniedError(f"read-only view of {self._url}: cannot delete {path}")

    async def acquire_lock(self, holder: str) -> None:
        """Refused: a reader never takes the writer lock."""
        raise AccessDeniedError(f"read-only view of {self._url}: no writer lock")

    async def release_lock(self) -> None:
        """Nothing to give back."""

    async def close(self) -> None:
        """Close the client's connection."""
        await self._client.close()
