"""Token usage and cost, summed from the WALs (the ``usage`` of reply envelopes).

A reply envelope may carry ``event_data["usage"] = {"model", "input_tokens",
"output_tokens", "cache_read_tokens", "cache_write_tokens", "latency_ms",
"cost_usd"}``. :func:`usage_from_wals` is the one place the read commands get
usage from; it reads every WAL it is given, so it can be swapped for a hub-kept
total (``hub.usage()``) without touching the commands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hubbub.knowledge.base import read_lines_many
from hubbub.network.envelope import Envelope
from hubbub.network.hub import layout
from hubbub.network.hub.reader import StoreReader

__all__ = ["Usage", "UsageTotal", "usage_from_wals"]

# Sessions whose WALs are read at once (bounded memory on a big store).
_CHUNK = 64


@dataclass(slots=True)
class UsageTotal:
    """Tokens and cost summed over replies; ``cost_usd`` is None while no reply priced itself."""

    replies: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def add(self, usage: dict[str, Any]) -> None:
        """Count one reply's usage record (fields that are not numbers count as 0)."""
        self.replies += 1
        self.input_tokens += _int(usage.get("input_tokens"))
        self.output_tokens += _int(usage.get("output_tokens"))
        self.cache_read_tokens += _int(usage.get("cache_read_tokens"))
        self.cache_write_tokens += _int(usage.get("cache_write_tokens"))
        cost = usage.get("cost_usd")
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            self.cost_usd = (self.cost_usd or 0.0) + float(cost)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            "replies": self.replies,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cost_usd": self.cost_usd,
        }

    def tokens_text(self) -> str:
        """``1,234`` (``0`` when nothing was reported)."""
        return f"{self.tokens:,}"

    def cost_text(self) -> str:
        """``$0.0123`` or ``—`` when no reply priced itself."""
        return "—" if self.cost_usd is None else f"${self.cost_usd:.4f}"


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(slots=True)
class Usage:
    """Usage by sender (agent id) and by session id."""

    by_agent: dict[str, UsageTotal] = field(default_factory=dict)
    by_session: dict[str, UsageTotal] = field(default_factory=dict)

    def agent(self, agent_id: str) -> UsageTotal:
        """An agent's total (zero if it reported nothing)."""
        return self.by_agent.get(agent_id) or UsageTotal()

    def session(self, session_id: str) -> UsageTotal:
        """A session's total (zero if nothing was reported)."""
        return self.by_session.get(session_id) or UsageTotal()

    def count(self, envelope: Envelope) -> None:
        """Add an envelope's usage record, if it has one."""
        usage = envelope.event_data.get("usage")
        if isinstance(usage, dict):
            self.by_agent.setdefault(envelope.sender_id, UsageTotal()).add(usage)
            self.by_session.setdefault(envelope.session_id, UsageTotal()).add(usage)


async def usage_from_wals(
    reader: StoreReader,
    session_ids: Sequence[str],
    progress: Callable[[int], None] | None = None,
) -> Usage:
    """Sum the usage records in the WALs of ``session_ids`` (reads each whole WAL)."""
    usage = Usage()
    for i in range(0, len(session_ids), _CHUNK):
        chunk = session_ids[i : i + _CHUNK]
        walls = await read_lines_many(reader.store, [(layout.wal_path(s), 0) for s in chunk])
        for sid, lines in zip(chunk, walls, strict=True):
            for line in lines:
                if '"usage"' not in line:  # most lines carry none: skip decoding them
                    continue
                try:
                    usage.count(Envelope.from_wal_line(line, sid))
                except Exception:
                    continue
        if progress is not None:
            progress(i + len(chunk))
    return usage
