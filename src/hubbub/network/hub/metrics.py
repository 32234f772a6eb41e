"""Hub metrics in the Prometheus text format (``GET /metrics`` of ``hubbub serve``).

:class:`HubMetrics` is a hub interceptor (``Hub.open(store, interceptors=[HubMetrics()])``):
it counts admitted envelopes by type, refusals by error code, ended sessions, and
times every admission until its append is durable. At scrape time
:meth:`HubMetrics.render` adds what the hub knows already: sessions by state,
inbox depth, connections, tokens and cost per agent (the usage totals). The
exposition is written by hand (text format 0.0.4): no client library needed.

Metric names (all prefixed ``hubbub_``)::

    envelopes_admitted_total{event_type}     counter
    refusals_total{code}                     counter
    sessions{state}                          gauge   (live: pending, active)
    sessions_ended_total{state}              counter (closed, expired)
    append_latency_seconds                   histogram (admission → durable ack, per post
                                             and invite; the hub's own opened/closed
                                             records are appended without an admission)
    inbox_pending / inbox_max_depth          gauges
    connections / connections_total          gauge / counter
    agents_registered                        gauge
    tokens_total{agent_id,agent,kind}        counter (input, output, cache_read, cache_write)
    cost_usd_total{agent_id,agent}           counter
    turns_total{agent_id,agent}              counter
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hubbub.network.envelope import EV_SESSION_CLOSED, EV_SESSION_EXPIRED, Envelope
from hubbub.network.errors import NetworkError
from hubbub.network.hub.intercept import AdmitCall, HubInterceptor

if TYPE_CHECKING:
    from hubbub.network.hub.core import Hub

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "HubMetrics"]

#: The Content-Type of the exposition.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Upper bounds (seconds) of the append latency histogram's buckets.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

_TOKEN_KINDS = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_read", "cache_read_tokens"),
    ("cache_write", "cache_write_tokens"),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return f"{{{inner}}}" if inner else ""


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP hubbub_{name} {help_text}")
        self.lines.append(f"# TYPE hubbub_{name} {kind}")

    def sample(self, name: str, value: float, labels: Iterable[tuple[str, str]] = ()) -> None:
        self.lines.append(f"hubbub_{name}{_labels(labels)} {_num(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class HubMetrics(HubInterceptor):
    """Counters and the append latency histogram of one hub, and their exposition."""

    def __init__(self) -> None:
        self.admitted: dict[str, int] = {}
        self.refusals: dict[str, int] = {}
        self.ended: dict[str, int] = {"closed": 0, "expired": 0}
        self.latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_sum = 0.0
        self.connections = 0
        self.connections_total = 0

    # ---------------------------------------------------------------- the seam

    async def intercept_admit(self, envelope: Envelope, call_next: AdmitCall) -> Envelope:
        """Time each admission until durable; count refusals by code."""
        started = time.perf_counter()
        try:
            stamped = await call_next(envelope)
        except NetworkError as exc:
            self.refusals[exc.code] = self.refusals.get(exc.code, 0) + 1
            raise
        self.observe_latency(time.perf_counter() - started)
        return stamped

    def on_durable(self, envelope: Envelope) -> None:
        """Count a durable envelope by type (and a session's end)."""
        et = envelope.event_type
        self.admitted[et] = self.admitted.get(et, 0) + 1
        if et == EV_SESSION_CLOSED:
            self.ended["closed"] += 1
        elif et == EV_SESSION_EXPIRED:
            self.ended["expired"] += 1

    def observe_latency(self, seconds: float) -> None:
        """Add one admission's latency to the histogram."""
        self.latency_sum += seconds
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.latency_counts[i] += 1
                return
        self.latency_counts[-1] += 1

    def connection_opened(self) -> None:
        """A client socket was accepted (the WebSocket server calls this)."""
        self.connections += 1
        self.connections_total += 1

    def connection_closed(self) -> None:
        """A client socket ended."""
        self.connections -= 1

    # ---------------------------------------------------------------- exposition

    def render(self, hub: Hub) -> str:
        """The Prometheus text exposition of this hub now."""
        out = _Writer()
        out.family("envelopes_admitted_total", "counter", "Envelopes made durable, by type.")
        for et, n in sorted(self.admitted.items()):
            out.sample("envelopes_admitted_total", n, [("event_type", et)])
        out.family("refusals_total", "counter", "Envelopes refused at admission, by error code.")
        for code, n in sorted(self.refusals.items()):
            out.sample("refusals_total", n, [("code", code)])
        health = hub.health()
        states = hub.live_session_states()
        out.family("sessions", "gauge", "Live sessions by lifecycle state.")
        for state in ("pending", "active"):
            out.sample("sessions", states.get(state, 0), [("state", state)])
        out.sample("sessions", len(health["quarantined_sessions"]), [("state", "quarantined")])
        out.family("sessions_ended_total", "counter", "Sessions ended since the hub opened.")
        for state, n in sorted(self.ended.items()):
            out.sample("sessions_ended_total", n, [("state", state)])
        self._histogram(out)
        out.family("inbox_pending", "gauge", "Envelopes delivered and not yet handled, in all.")
        out.sample("inbox_pending", health["pending_inbox_total"])
        out.family("inbox_max_depth", "gauge", "The deepest single inbox.")
        out.sample("inbox_max_depth", health["max_pending_inbox_depth"])
        out.family("connections", "gauge", "Open client connections.")
        out.sample("connections", self.connections)
        out.family("connections_total", "counter", "Client connections accepted.")
        out.sample("connections_total", self.connections_total)
        out.family("agents_registered", "gauge", "Registered agents.")
        out.sample("agents_registered", health["registered_agents"])
        self._usage(out, hub)
        return out.text()

    def _histogram(self, out: _Writer) -> None:
        name = "append_latency_seconds"
        out.family(name, "histogram", "Seconds from admission to the durable append (the ack).")
        running = 0
        for bound, n in zip(LATENCY_BUCKETS, self.latency_counts, strict=False):
            running += n
            out.sample(f"{name}_bucket", running, [("le", _num(bound))])
        running += self.latency_counts[-1]
        out.sample(f"{name}_bucket", running, [("le", "+Inf")])
        out.sample(f"{name}_sum", self.latency_sum)
        out.sample(f"{name}_count", running)

    def _usage(self, out: _Writer, hub: Hub) -> None:
        by_agent = hub.usage_by_agent()
        names = {aid: hub.name_for(aid) or "" for aid in by_agent}
        out.family("tokens_total", "counter", "Model tokens of posted turns, by agent and kind.")
        for aid, totals in sorted(by_agent.items()):
            for kind, key in _TOKEN_KINDS:
                labels = [("agent_id", aid), ("agent", names[aid]), ("kind", kind)]
                out.sample("tokens_total", totals[key], labels)
        out.family("cost_usd_total", "counter", "Cost in USD of posted turns, by agent.")
        for aid, totals in sorted(by_agent.items()):
            cost: Any = totals["cost_usd"]
            out.sample("cost_usd_total", cost or 0.0, [("agent_id", aid), ("agent", names[aid])])
        out.family("turns_total", "counter", "Posted turns with a usage record, by agent.")
        for aid, totals in sorted(by_agent.items()):
            out.sample("turns_total", totals["turns"], [("agent_id", aid), ("agent", names[aid])])
