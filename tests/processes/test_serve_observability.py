"""``hubbub serve`` observability: ``GET /metrics`` after a real run, ``--log-level``/``--log-json``.

The hub is a real ``python -m hubbub.cli serve`` subprocess on SQLite; the agents
are HubClients over WebSocket in this process, with a scripted model that
reports a known token usage. The exposition is parsed with prometheus_client's
own text parser, and the JSON log lines with ``json.loads``.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.processes._children import TOKENS, children, get_json, http_url, stop

from hubbub import Agent
from hubbub.events import Usage
from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_TEXT,
    AgentClient,
    Envelope,
    HubClient,
    NetworkError,
    Passport,
    Resume,
    WsLink,
)
from hubbub.testing import TestConfig

USAGE = Usage(prompt_tokens=50, completion_tokens=7, cache_read_input_tokens=3)


def remote(url: str, role: str) -> HubClient:
    return HubClient(WsLink(url, token=TOKENS[role], reconnect=0))


async def register(hc: HubClient, name: str, reply: str, usage: Usage | None = None) -> AgentClient:
    config = TestConfig(reply, usage=usage, model="claude-haiku-4-5" if usage else None)
    return await hc.register(Agent(name, config=config), Passport(name=name), Resume())


async def consult(alice: AgentClient, bob: AgentClient) -> str:
    session = await alice.open(type="consulting", target="bob")
    await session.send("Why?", audience=[bob.agent_id])
    await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=15,
    )
    return session.session_id


async def scrape(url: str) -> tuple[str, str]:
    def get() -> tuple[str, str]:
        with urllib.request.urlopen(http_url(url, "/metrics"), timeout=10) as response:
            return response.headers["Content-Type"], response.read().decode()

    return await asyncio.to_thread(get)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition by (name, sorted labels)."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_metrics_after_a_real_run_and_json_logs(tmp_path: Path) -> None:
    async with children() as kids:
        hub, url = await kids.hub(
            f"sqlite:///{tmp_path}/hub.db", "--log-level", "info", "--log-json"
        )
        alice_hc, bob_hc = remote(url, "alice"), remote(url, "bob")
        try:
            alice = await register(alice_hc, "alice", "q")
            bob = await register(bob_hc, "bob", "Because.", usage=USAGE)
            sid = await consult(alice, bob)
            await consult(alice, bob)
            with pytest.raises(NetworkError) as refused:  # the session is closed: a refusal
                await alice.send_envelope(
                    Envelope(sid, alice.agent_id, [bob.agent_id], EV_TEXT, {"text": "late"})
                )
            # bob's post returns after its session's close, which alice may see first:
            # scrape until its admission is timed too (texts + acks + invites = 8), and
            # until the clients' receipts for the last deliveries are in (inbox empty)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while True:
                content_type, text = await scrape(url)
                now = samples(text)
                timed = now[("hubbub_append_latency_seconds_count", ())]
                pending = now[("hubbub_inbox_pending", ())]
                if (timed == 8 and pending == 0) or loop.time() > deadline:
                    break
                await asyncio.sleep(0.02)
            status, health = await get_json(http_url(url, "/healthz"))
        finally:
            await alice_hc.close()
            await bob_hc.close()
        exited = await stop(hub)

    assert content_type.startswith("text/plain; version=0.0.4")
    got = samples(text)
    assert got[("hubbub_envelopes_admitted_total", (("event_type", EV_TEXT),))] == 4
    assert got[("hubbub_envelopes_admitted_total", (("event_type", EV_SESSION_CLOSED),))] == 2
    assert got[("hubbub_refusals_total", (("code", refused.value.code),))] == 1
    assert got[("hubbub_sessions_ended_total", (("state", "closed"),))] == 2
    assert got[("hubbub_sessions", (("state", "active"),))] == 0
    # every admission through the pipeline is timed: posts (texts, acks) and invites; the
    # hub's own opened/closed records are appended without an admission
    assert got[("hubbub_append_latency_seconds_count", ())] == 8
    assert got[("hubbub_append_latency_seconds_bucket", (("le", "+Inf"),))] == 8
    assert got[("hubbub_append_latency_seconds_sum", ())] > 0
    assert got[("hubbub_connections", ())] == 2
    assert got[("hubbub_connections_total", ())] == 2
    assert got[("hubbub_inbox_pending", ())] == 0
    assert got[("hubbub_agents_registered", ())] == 2
    bob_labels: Any = (("agent", "bob"), ("agent_id", bob.agent_id))
    for kind, per_turn in (("input", 50), ("output", 7), ("cache_read", 3), ("cache_write", 0)):
        key = ("hubbub_tokens_total", tuple(sorted((*bob_labels, ("kind", kind)))))
        assert got[key] == 2 * per_turn, kind
    cost = 2 * (50 * 1.0 + 7 * 5.0 + 3 * 0.10) / 1e6
    assert got[("hubbub_cost_usd_total", bob_labels)] == pytest.approx(cost)
    assert got[("hubbub_turns_total", bob_labels)] == 2
    assert status == 200 and health["usage"]["output_tokens"] == 14

    records = [json.loads(line) for line in exited.stderr.splitlines() if line.strip()]
    assert records, "no log lines"
    assert all({"ts", "level", "logger", "message"} <= r.keys() for r in records)
    assert all(r["logger"].startswith("hubbub") for r in records)
    messages = [r["message"] for r in records]
    assert any(m.startswith("hub open on SqliteKnowledgeStore") for m in messages)
    assert messages[-1] == "hub closed" or "hub closed" in messages
    created = [r for r in records if r["message"].startswith(f"session {sid} created")]
    assert created and created[0]["session_id"] == sid
    ended = [r for r in records if r.get("session_id") == sid and r.get("state") == "closed"]
    assert ended and ended[0]["reason"] == "consulting_complete"
    accepted = [m for m in messages if m.startswith("connection ") and "accepted" in m]
    closed = [m for m in messages if m.startswith("connection ") and m.endswith(" closed")]
    assert len(accepted) == 2 and len(closed) == 2


async def test_text_logs_and_the_default_level(tmp_path: Path) -> None:
    async with children() as kids:
        hub, url = await kids.hub("memory:", "--log-level", "DEBUG")
        exited = await stop(hub)
        quiet, _ = await kids.hub("memory:")  # default WARNING: a clean run says nothing
        quiet_exit = await stop(quiet)
    lines = exited.stderr.splitlines()
    assert any(" INFO hubbub.hub: hub open on MemoryKnowledgeStore" in line for line in lines)
    assert any(line.endswith(" INFO hubbub.hub: hub closed") for line in lines)
    assert not any(line.lstrip().startswith("{") for line in lines)
    assert quiet_exit.stderr.strip() == ""


async def test_a_bad_log_level_is_a_usage_error() -> None:
    async with children() as kids:
        hub = await kids.serve("memory:", "--log-level", "LOUD")
        exited = await hub.wait()
    assert exited.returncode == 2
    assert "--log-level" in exited.stderr and exited.stdout == ""
