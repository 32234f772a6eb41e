"""Token accounting over a stream history (sums :class:`~hubbub.events.UsageEvent` only)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hubbub.events import BaseEvent, Usage, UsageEvent

__all__ = ["UsageRecord", "UsageReport"]


@dataclass(slots=True, frozen=True)
class UsageRecord:
    """One usage entry: the usage of a model call (or rollup) and what produced it."""

    usage: Usage
    kind: str = "model_call"
    model: str | None = None
    provider: str | None = None
    finish_reason: str | None = None
    label: str | None = None


def _group(records: Iterable[UsageRecord], attr: str) -> dict[str, Usage]:
    out: dict[str, Usage] = {}
    for r in records:
        key = getattr(r, attr) or "unknown"
        out[key] = out[key] + r.usage if key in out else r.usage
    return out


@dataclass(slots=True, frozen=True)
class UsageReport:
    """Totals and per-model/provider/kind breakdowns of a set of usage records."""

    total: Usage = field(default_factory=Usage)
    records: tuple[UsageRecord, ...] = ()

    @classmethod
    def from_events(cls, events: Iterable[BaseEvent]) -> UsageReport:
        """Sum the :class:`UsageEvent` s among ``events`` (ModelResponse.usage is ignored)."""
        records = tuple(
            UsageRecord(e.usage, e.kind, e.model, e.provider, e.finish_reason, e.label)
            for e in events
            if isinstance(e, UsageEvent)
        )
        total = Usage()
        for r in records:
            total = total + r.usage
        return cls(total, records)

    @property
    def by_model(self) -> dict[str, Usage]:
        """Usage summed per model name ("unknown" when unset)."""
        return _group(self.records, "model")

    @property
    def by_provider(self) -> dict[str, Usage]:
        """Usage summed per provider ("unknown" when unset)."""
        return _group(self.records, "provider")

    @property
    def by_kind(self) -> dict[str, Usage]:
        """Usage summed per record kind."""
        return _group(self.records, "kind")

    def __bool__(self) -> bool:
        return bool(self.total)
