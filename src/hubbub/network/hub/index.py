"""The open-session index: ``/index/sessions.log``, so a restart loads only live sessions.

One line per lifecycle fact: ``+<sid>`` when a session is created, ``-<sid>``
once its close is durable. Hydrate reads this one file and loads only live
sessions; closed ones are read back on demand. The log is compacted (rewritten
atomically with only the live ids) at hydrate and, at run time, once it holds
more than twice as many lines as live ids (plus ``COMPACT_SLACK``), so reading
it costs O(live sessions). A crash between a close and its ``-`` line is
harmless: the session loads, folds to terminal, and the line is written then.
"""

from __future__ import annotations

from hubbub.knowledge import KnowledgeStore

__all__ = ["COMPACT_SLACK", "INDEX_PATH", "SessionIndex"]

INDEX_PATH = "/index/sessions.log"

#: Run-time compaction once the log has more lines than twice the live ids plus this.
COMPACT_SLACK = 1024


class SessionIndex:
    """The index log, and what it folds to once every line issued so far has landed.

    The mirror (the live ids and the log's line count) exists from :meth:`open`
    (at hydrate) on. A hub that never hydrated has none and never compacts at
    run time: it does not know what the log already holds.
    """

    __slots__ = ("_lines", "_live", "_store")

    def __init__(self, store: KnowledgeStore) -> None:
        self._store = store
        self._live: dict[str, None] | None = None
        self._lines = 0

    async def read(self) -> tuple[list[str], int] | None:
        """Live session ids in creation order and the log's line count; None if there is no log."""
        if not await self._store.exists(INDEX_PATH):
            return None
        lines = await self._store.read_lines(INDEX_PATH)
        live: dict[str, None] = {}
        for line in lines:
            if len(line) < 2:
                continue
            if line[0] == "+":
                live[line[1:]] = None
            elif line[0] == "-":
                live.pop(line[1:], None)
        return list(live), len(lines)

    async def open(self, live_ids: list[str], index_lines: int) -> None:
        """At hydrate: compact the log unless it already holds exactly ``live_ids``; mirror it."""
        if index_lines != len(live_ids):
            await self._store.write(INDEX_PATH, "".join(f"+{sid}\n" for sid in live_ids))
        self._live = dict.fromkeys(live_ids)
        self._lines = len(self._live)

    async def add(self, session_id: str) -> None:
        """Record a new session."""
        live = self._live
        if live is not None:  # updated as the append is issued: stores keep call order
            live[session_id] = None
            self._lines += 1
        await self._store.append(INDEX_PATH, f"+{session_id}\n")

    async def remove(self, session_id: str) -> None:
        """Record that a session's close is durable; compact the log once it is mostly closed ids.

        The rewrite holds the ids live once every line issued before it has landed;
        the store applies mutations in call order, so lines issued after it land
        after it.
        """
        live = self._live
        if live is not None:
            live.pop(session_id, None)
            self._lines += 1
        await self._store.append(INDEX_PATH, f"-{session_id}\n")
        if live is not None and self._lines > 2 * len(live) + COMPACT_SLACK:
            self._lines = len(live)
            await self._store.write(INDEX_PATH, "".join(f"+{sid}\n" for sid in live))
