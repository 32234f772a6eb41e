"""Per-agent send rates: ``Rule.limits.rate`` enforced as a token bucket.

An agent whose rule sets ``rate.per_minute = N`` earns N tokens a minute, up to a
bucket of ``rate.burst`` tokens (``burst = 0``: a full minute's worth, N). Each
envelope it posts takes one; a post with no token left is refused with
``rate_limited`` and told when the next token comes. Hub-written envelopes and
invite answers never count.
"""

from __future__ import annotations

from hubbub.network.rule import RateBlock

__all__ = ["RateLimiter"]


class RateLimiter:
    """Token buckets by agent id (only for agents with a rate)."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # agent id → (tokens, at seconds)

    def take(self, agent_id: str, rate: RateBlock, now_s: float) -> float:
        """Take one token for a post by ``agent_id`` at ``now_s``.

        Returns 0.0 when the post may go ahead, else the seconds until a token is due.
        """
        per_minute = rate.per_minute
        if per_minute <= 0:
            return 0.0
        capacity = float(rate.burst or per_minute)
        per_second = per_minute / 60.0
        tokens, at = self._buckets.get(agent_id, (capacity, now_s))
        tokens = min(capacity, tokens + max(0.0, now_s - at) * per_second)
        if tokens < 1.0:
            self._buckets[agent_id] = (tokens, now_s)
            return (1.0 - tokens) / per_second
        self._buckets[agent_id] = (tokens - 1.0, now_s)
        return 0.0

    def forget(self, agent_id: str) -> None:
        """Drop an agent's bucket (it unregistered, or its rule changed)."""
        self._buckets.pop(agent_id, None)
