"""Tokens, cost and turn latency: ``event_data["usage"]`` of reply envelopes, added up."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hubbub.network.envelope import Envelope

__all__ = ["USAGE_FIELDS", "Totals", "usage_by_sender", "usage_of"]

#: The fields of ``event_data["usage"]`` the inspector adds up (None when absent).
USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
)


def usage_of(envelope: Envelope) -> dict[str, Any] | None:
    """``event_data["usage"]`` of an envelope, if it carries one (a model reply)."""
    usage = envelope.event_data.get("usage") if isinstance(envelope.event_data, dict) else None
    return usage if isinstance(usage, dict) else None


@dataclass(slots=True)
class Totals:
    """Usage added up over replies (None fields: no reply reported that field)."""

    replies: int = 0
    sums: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(USAGE_FIELDS))
    latencies: list[float] = field(default_factory=list)
    models: set[str] = field(default_factory=set)

    def add(self, usage: dict[str, Any]) -> None:
        self.replies += 1
        for name in USAGE_FIELDS:
            value = usage.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.sums[name] = (self.sums[name] or 0) + value
        latency = usage.get("latency_ms")
        if isinstance(latency, int | float) and not isinstance(latency, bool):
            self.latencies.append(float(latency))
        model = usage.get("model")
        if isinstance(model, str) and model:
            self.models.add(model)

    def merge(self, other: Totals) -> None:
        self.replies += other.replies
        for name, value in other.sums.items():
            if value is not None:
                self.sums[name] = (self.sums[name] or 0) + value
        self.latencies.extend(other.latencies)
        self.models |= other.models

    def to_json(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {
            "replies": self.replies,
            **self.sums,
            "latency_ms_mean": sum(lat) / len(lat) if lat else None,
            "latency_ms_p50": statistics.median(lat) if lat else None,
            "latency_ms_max": lat[-1] if lat else None,
            "models": sorted(self.models),
        }


def usage_by_sender(envelopes: Iterable[Envelope]) -> dict[str, Totals]:
    out: dict[str, Totals] = {}
    for env in envelopes:
        usage = usage_of(env)
        if usage is not None:
            out.setdefault(env.sender_id, Totals()).add(usage)
    return out
