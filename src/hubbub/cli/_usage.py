"""Token usage and cost, summed from the WALs (the ``usage`` of reply envelopes).

A reply envelope may carry ``event_data["usage"] = {"model", "input_tokens",
"output_tokens", "cache_read_tokens", "cache_write_tokens", "latency_ms",
"cost_usd"}`` (:mod:`hubbub.network.usage`, whose ledger sums them here as it does
in the hub). :func:`usage_from_wals` is the one place the read commands get usage
from; it reads every WAL it is given, so it can be swapped for a hub-kept total
(``hub.usage()``) without touching the commands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hubbub.knowledge.base import read_lines_many
from hubbub.network.envelope import Envelope
from hubbub.network.hub import layout
from hubbub.network.hub.reader import StoreReader
from hubbub.network.usage import UsageLedger, UsageTotals

__all__ = ["Usage", "cost_text", "tokens_text", "usage_from_wals", "usage_json"]

# Sessions whose WALs are read at once (bounded memory on a big store).
_CHUNK = 64


def usage_json(total: UsageTotals) -> dict[str, Any]:
    """What ``--json`` shows of a total: replies, the four token counts, the cost."""
    return {
        "replies": total.turns,
        "input_tokens": total.input_tokens,
        "output_tokens": total.output_tokens,
        "cache_read_tokens": total.cache_read_tokens,
        "cache_write_tokens": total.cache_write_tokens,
        "cost_usd": total.cost_usd,
    }


def tokens_text(total: UsageTotals) -> str:
    """Input plus output tokens, ``1,234`` (``0`` when nothing was reported)."""
    return f"{total.input_tokens + total.output_tokens:,}"


def cost_text(total: UsageTotals) -> str:
    """``$0.0123``, or ``—`` when no reply priced itself."""
    return "—" if total.cost_usd is None else f"${total.cost_usd:.4f}"


class Usage:
    """Usage by sender (agent id) and by session id."""

    def __init__(self) -> None:
        self.ledger = UsageLedger()
        self._by_agent: dict[str, UsageTotals] | None = None
        self._by_session: dict[str, UsageTotals] | None = None

    def agent(self, agent_id: str) -> UsageTotals:
        """An agent's total (zero if it reported nothing)."""
        if self._by_agent is None:
            self._by_agent = self.ledger.by_agent()
        return self._by_agent.get(agent_id) or UsageTotals()

    def session(self, session_id: str) -> UsageTotals:
        """A session's total (zero if nothing was reported)."""
        if self._by_session is None:
            self._by_session = self.ledger.by_session()
        return self._by_session.get(session_id) or UsageTotals()

    def count(self, envelope: Envelope) -> None:
        """Add an envelope's usage record, if it has one."""
        self.ledger.add_envelope(envelope)
        self._by_agent = self._by_session = None

    def count_wal(self, session_id: str, lines: list[str]) -> None:
        """Add the usage records of a session's WAL lines."""
        self.ledger.add_wal_lines(session_id, lines)
        self._by_agent = self._by_session = None


async def usage_from_wals(
    reader: StoreReader,
    session_ids: Sequence[str],
    progress: Callable[[int], None] | None = None,
) -> Usage:
    """Sum the usage records in the WALs of ``session_ids`` (reads each whole WAL)."""
    usage = Usage()
    for i in range(0, len(session_ids), _CHUNK):
        chunk = session_ids[i : i + _CHUNK]
        wals = await read_lines_many(reader.store, [(layout.wal_path(s), 0) for s in chunk])
        for sid, lines in zip(chunk, wals, strict=True):
            usage.count_wal(sid, lines)
        if progress is not None:
            progress(i + len(chunk))
    return usage
