"""The discussion/workflow examples and the pattern cookbook, run as tests through
``examples/harness.py``: every role on its own client against an in-process hub
(LocalLink), against a real WebSocket server on 127.0.0.1 (``serve_ws`` + ``WsLink``,
one socket per agent), and with ``hubbub serve`` and every agent in its own process
(``harness.run_processes``) — checked on the close reason, who spoke in which order,
how tool-routed turns were routed, and the final context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import harness
import pytest

from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import HubClient, LocalLink
from hubbub.network.auth import BearerTokens, ServerAuth
from hubbub.network.hub import Hub
from hubbub.network.transport.ws import WsLink, serve_ws

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# example file → (close reason, speakers in transcript order, expected context subset)
CASES: dict[str, tuple[str, list[str], dict[str, Any]]] = {
    "03_discussion_3way.py": (
        "cap_reached",
        ["optimist", "realist", "skeptic"] * 2,
        {},
    ),
    "03a_discussion_agent_close.py": ("agent_close:consensus", ["optimist", "realist"], {}),
    "03b_workflow_context_vars.py": (
        "security_review_complete",
        ["user", "triage", "security"],
        {"route": "security"},
    ),
    "04_workflow_round_robin.py": ("max_turns", ["alice", "bob", "carol"] * 2, {}),
    "05_workflow_sequence.py": (
        "sequence_complete",
        ["user", "researcher", "writer", "editor"],
        {},
    ),
    "cookbook/01_pipeline.py": (
        "sequence_complete",
        ["intake", "validator", "enricher", "fulfilment"],
        {},
    ),
    "cookbook/02_hierarchical.py": (
        "delegation_complete",
        ["user", "coordinator", "research", "coordinator", "writing", "coordinator"],
        {"done": True},
    ),
    "cookbook/03_star.py": (
        "answered",
        [
            "user",
            "concierge",
            "weather",
            "concierge",
            "sports",
            "concierge",
            "finance",
            "concierge",
        ],
        {
            "synthesis": "Morning: Sunny, 21 C, light wind. / The home side won 2-1. / Markets up 0.4%."
        },
    ),
    "cookbook/04_escalation.py": (
        "resolved",
        ["user", "tier1", "tier2", "senior"],
        {"resolution": "refund issued, ticket reopened"},
    ),
    "cookbook/05_redundant.py": (
        "sequence_complete",
        ["user", "safe", "clever", "nerdy", "evaluator"],
        {},
    ),
    "cookbook/06_feedback_loop.py": (
        "approved",
        ["user", "drafter", "reviewer", "drafter", "reviewer"],
        {"done": True},
    ),
    "cookbook/07_context_aware_routing.py": (
        "handled",
        ["user", "router", "technical"],
        {"category": "technical"},
    ),
    "cookbook/08_triage_with_tasks.py": (
        "sequence_complete",
        ["triage", "researcher", "writer", "reviewer"],
        {"queue": ["refund-policy", "shipping-delay", "login-bug"]},
    ),
}

#: Lines the transcripts must contain (tool-routed turns show how they were routed).
ROUTED: dict[str, list[str]] = {
    "cookbook/02_hierarchical.py": [
        "coordinator: [Handed off via delegate_research] facts first | Research, please.",
        "coordinator: [Handed off via delegate_writing] now the prose | Writing, please.",
    ],
    "cookbook/03_star.py": ["concierge: [Handed off via ask_weather] forecast | Weather first."],
    "cookbook/04_escalation.py": [
        "tier1: [Handed off via escalate_to_tier2] billing dispute | Passing this to billing specialists."
    ],
}

TOKEN = "example-token"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


@pytest.fixture(params=["local", "ws"])
async def connect(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], HubClient]]:
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0, expectation_sweep_interval=0)
    try:
        if request.param == "local":
            yield lambda: HubClient(LocalLink(hub), hub=hub)
        else:
            async with AsyncExitStack() as stack:
                url = await stack.enter_async_context(
                    serve_ws(
                        hub,
                        host="127.0.0.1",
                        port=0,
                        auth=ServerAuth([BearerTokens({TOKEN: "examples"})]),
                    )
                )
                yield lambda: HubClient(WsLink(url, token=TOKEN, reconnect=0))
    finally:
        await hub.close()


def check(rel: str, outcome: harness.Outcome) -> None:
    reason, speakers, context = CASES[rel]
    assert outcome.reason == reason
    transcript = outcome.transcript
    if rel == "03_discussion_3way.py":
        transcript = transcript[: len(speakers)]  # the discussion may run on until the close
    assert [name for name, _ in transcript] == speakers
    lines = [f"{name}: {text}" for name, text in transcript]
    for line in ROUTED.get(rel, []):
        assert line in lines
    for key, value in context.items():
        assert outcome.extra["context"][key] == value


@pytest.mark.parametrize("rel", sorted(CASES))
async def test_example(rel: str, connect: Callable[[], HubClient]) -> None:
    check(rel, await harness.run(harness.load(EXAMPLES / rel), connect=connect))


@pytest.mark.parametrize("rel", sorted(CASES))
def test_example_with_every_agent_in_its_own_process(rel: str) -> None:
    check(rel, harness.run_processes(EXAMPLES / rel))


def test_every_example_file_is_covered() -> None:
    files = {
        str(p.relative_to(EXAMPLES))
        for p in [*EXAMPLES.glob("0[3-5]*.py"), *EXAMPLES.glob("cookbook/*.py")]
    }
    assert files == set(CASES)
