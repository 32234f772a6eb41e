"""Token usage and cost of agent turns: the record a reply carries, prices, and totals.

Every reply the default handler posts carries the usage of the turn that produced it
in ``envelope.event_data["usage"]``::

    {"model": str, "input_tokens": int, "output_tokens": int,
     "cache_read_tokens": int, "cache_write_tokens": int,
     "latency_ms": float, "cost_usd": float | None}

``input_tokens`` is what the provider reports as prompt tokens (Anthropic: not
counting cache reads and writes; OpenAI: counting the cached part, which is also
in ``cache_read_tokens``). ``cost_usd`` comes from the agent's
``Passport.cost`` (:class:`~hubbub.network.identity.CostProfile`) when it names
both prices, else from :data:`PRICES` for a known model, else it is None.

The hub sums these records per agent and per session (:class:`UsageTotals`,
:class:`UsageLedger`). This module is sans-I/O: no asyncio, clock or store.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hubbub.events import BaseEvent, UsageEvent
from hubbub.network.envelope import Envelope
from hubbub.network.identity import CostProfile

__all__ = [
    "PRICES",
    "PRICES_DATE",
    "Price",
    "UsageLedger",
    "UsageTotals",
    "model_name",
    "price_for",
    "turn_cost",
    "turn_usage",
    "usage_record",
]


@dataclass(frozen=True, slots=True)
class Price:
    """List prices of one model in US dollars per million tokens.

    ``input_includes_cache``: the provider counts cache reads inside its prompt
    tokens (OpenAI), so they are taken out of the input before pricing it.
    """

    input: float
    output: float
    cache_read: float
    cache_write: float
    input_includes_cache: bool = False


#: When :data:`PRICES` was last checked against the vendors' published list prices.
PRICES_DATE = "2025-11-01"

#: Built-in list prices (USD per million tokens), by model-name prefix; the longest
#: matching prefix wins (``claude-sonnet-4-5-20250929`` → ``claude-sonnet-4-5``).
#: Anthropic cache writes are the 5-minute rate; OpenAI has no cache-write charge.
PRICES: Mapping[str, Price] = {
    # Anthropic
    "claude-opus-4-5": Price(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-1": Price(15.0, 75.0, 1.50, 18.75),
    "claude-opus-4": Price(15.0, 75.0, 1.50, 18.75),
    "claude-sonnet-4-5": Price(3.0, 15.0, 0.30, 3.75),
    "claude-sonnet-4": Price(3.0, 15.0, 0.30, 3.75),
    "claude-3-7-sonnet": Price(3.0, 15.0, 0.30, 3.75),
    "claude-haiku-4-5": Price(1.0, 5.0, 0.10, 1.25),
    "claude-3-5-haiku": Price(0.80, 4.0, 0.08, 1.0),
    # OpenAI
    "gpt-5-nano": Price(0.05, 0.40, 0.005, 0.0, True),
    "gpt-5-mini": Price(0.25, 2.0, 0.025, 0.0, True),
    "gpt-5": Price(1.25, 10.0, 0.125, 0.0, True),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025, 0.0, True),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10, 0.0, True),
    "gpt-4.1": Price(2.0, 8.0, 0.50, 0.0, True),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075, 0.0, True),
    "gpt-4o": Price(2.50, 10.0, 1.25, 0.0, True),
    "o4-mini": Price(1.10, 4.40, 0.275, 0.0, True),
    "o3": Price(2.0, 8.0, 0.50, 0.0, True),
}


@functools.lru_cache(maxsize=256)
def price_for(model: str) -> Price | None:
    """The built-in price of ``model`` (longest matching prefix), or None."""
    best: str | None = None
    for prefix in PRICES:
        if model.startswith(prefix) and (best is None or len(prefix) > len(best)):
            best = prefix
    return PRICES[best] if best is not None else None


def turn_cost(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    *,
    profile: CostProfile | None = None,
) -> float | None:
    """The cost of a turn in USD, or None when no price is known.

    A ``profile`` naming both prices wins (cache reads and writes are charged at
    its input price); otherwise the built-in :data:`PRICES`.
    """
    if (
        profile is not None
        and profile.input_per_mtok is not None
        and profile.output_per_mtok is not None
    ):
        billed_in = input_tokens + cache_read_tokens + cache_write_tokens
        return (billed_in * profile.input_per_mtok + output_tokens * profile.output_per_mtok) / 1e6
    price = price_for(model)
    if price is None:
        return None
    uncached = input_tokens - cache_read_tokens if price.input_includes_cache else input_tokens
    return (
        max(uncached, 0) * price.input
        + output_tokens * price.output
        + cache_read_tokens * price.cache_read
        + cache_write_tokens * price.cache_write
    ) / 1e6


def _int(value: float | None) -> int:
    return int(value) if value else 0


def model_name(config: Any) -> str | None:
    """The model a model config names, or None (a scripted config may name none)."""
    try:
        model = getattr(config, "model", None)
    except NotImplementedError:
        return None
    return model if isinstance(model, str) else None


def turn_usage(
    events: Iterable[BaseEvent],
    *,
    latency_ms: float,
    model: str | None = None,
    profile: CostProfile | None = None,
) -> dict[str, Any]:
    """The usage record of one turn from its stream events (the ``UsageEvent`` s summed).

    ``model`` is the config's model name; the last model call's own name wins.
    """
    inp = out = read = write = 0
    for e in events:
        if isinstance(e, UsageEvent):
            u = e.usage
            inp += _int(u.prompt_tokens)
            out += _int(u.completion_tokens)
            read += _int(u.cache_read_input_tokens)
            write += _int(u.cache_creation_input_tokens)
            if e.model:
                model = e.model
    return usage_record(
        model or "unknown", inp, out, read, write, latency_ms=latency_ms, profile=profile
    )


def usage_record(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    *,
    latency_ms: float = 0.0,
    profile: CostProfile | None = None,
) -> dict[str, Any]:
    """The ``event_data["usage"]`` dict of one turn (see the module docstring)."""
    return {
        "model": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_read_tokens": cache_read_tokens,
        "cache_write_tokens": cache_write_tokens,
        "latency_ms": round(latency_ms, 3),
        "cost_usd": turn_cost(
            model,
            input_tokens,
            output_tokens,
            cache_read_tokens,
            cache_write_tokens,
            profile=profile,
        ),
    }


@dataclass(slots=True)
class UsageTotals:
    """Summed usage of some turns: tokens, latency, cost (None while no turn had a price)."""

    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    latency_ms: float = 0.0
    cost_usd: float | None = None
    unpriced_turns: int = 0

    def add(self, record: Mapping[str, Any]) -> None:
        """Add one usage record (fields of the wrong type count as zero)."""
        self.turns += 1
        value = record.get("input_tokens")
        if type(value) is int and value > 0:
            self.input_tokens += value
        value = record.get("output_tokens")
        if type(value) is int and value > 0:
            self.output_tokens += value
        value = record.get("cache_read_tokens")
        if type(value) is int and value > 0:
            self.cache_read_tokens += value
        value = record.get("cache_write_tokens")
        if type(value) is int and value > 0:
            self.cache_write_tokens += value
        latency = record.get("latency_ms")
        if isinstance(latency, int | float) and latency > 0:
            self.latency_ms += float(latency)
        cost = record.get("cost_usd")
        if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
            self.cost_usd = (self.cost_usd or 0.0) + float(cost)
        else:
            self.unpriced_turns += 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready totals."""
        return {
            "turns": self.turns,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "latency_ms": round(self.latency_ms, 3),
            "cost_usd": self.cost_usd,
            "unpriced_turns": self.unpriced_turns,
        }


@dataclass(slots=True)
class UsageLedger:
    """Usage totals per (agent, session) pair, summed per agent, session or all on demand.

    Derived data: the hub folds every durable envelope carrying a usage record
    into it, and counts what the WALs held at open on first demand.
    """

    cells: dict[tuple[str, str], UsageTotals] = field(default_factory=dict)

    def add(self, agent_id: str, session_id: str, record: Mapping[str, Any]) -> None:
        """Count one turn's usage record."""
        key = (agent_id, session_id)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = UsageTotals()
        cell.add(record)

    def add_envelope(self, envelope: Envelope) -> None:
        """Count an envelope's usage record, if it carries one (a model reply)."""
        record = envelope.event_data.get("usage")
        if type(record) is dict:
            self.add(envelope.sender_id, envelope.session_id, record)

    def add_wal_lines(self, session_id: str, lines: Iterable[str]) -> None:
        """Count the usage records in a session's WAL lines (a line that does not
        decode, as in a quarantined WAL, counts nothing)."""
        for line in lines:
            if '"usage"' not in line:
                continue  # most lines carry none: no decoding
            try:
                envelope = Envelope.from_wal_line(line, session_id)
            except Exception:
                continue
            self.add_envelope(envelope)

    def query(self, *, agent_id: str | None = None, session_id: str | None = None) -> UsageTotals:
        """The totals of one agent, one session, one agent in one session, or everything."""
        out = UsageTotals()
        for (aid, sid), cell in self.cells.items():
            if (agent_id is None or aid == agent_id) and (session_id is None or sid == session_id):
                _merge(out, cell)
        return out

    def merge(self, other: UsageLedger) -> None:
        """Add every cell of ``other`` to this ledger."""
        for key, cell in other.cells.items():
            _merge(self.cells.setdefault(key, UsageTotals()), cell)

    def by_agent(self) -> dict[str, UsageTotals]:
        """Totals per agent id."""
        out: dict[str, UsageTotals] = {}
        for (aid, _sid), cell in self.cells.items():
            _merge(out.setdefault(aid, UsageTotals()), cell)
        return out

    def by_session(self) -> dict[str, UsageTotals]:
        """Totals per session id."""
        out: dict[str, UsageTotals] = {}
        for (_aid, sid), cell in self.cells.items():
            _merge(out.setdefault(sid, UsageTotals()), cell)
        return out


def _merge(into: UsageTotals, other: UsageTotals) -> None:
    into.turns += other.turns
    into.input_tokens += other.input_tokens
    into.output_tokens += other.output_tokens
    into.cache_read_tokens += other.cache_read_tokens
    into.cache_write_tokens += other.cache_write_tokens
    into.latency_ms += other.latency_ms
    into.unpriced_turns += other.unpriced_turns
    if other.cost_usd is not None:
        into.cost_usd = (into.cost_usd or 0.0) + other.cost_usd
