"""Both seed documents run end to end: offline, and through the real provider SDKs against
a local server speaking the provider's HTTP API (Anthropic verbatim seeds; OpenAI with a tool call)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.fakes import FakeAnthropicServer, FakeOpenAIServer, tool_call

from hubbub import Agent, tool
from hubbub.config import OpenAIConfig
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import EV_SESSION_CLOSED, EV_TEXT, Hub, HubClient, LocalLink, Passport, Resume

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def run_python(*args: str, env_extra: dict[str, str] | None = None, timeout: float = 60) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env.update(env_extra or {})
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    proc = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_quick_start_example_offline() -> None:
    out = run_python("examples/quick_start.py").splitlines()
    assert out[0] == "closed: 'consulting_complete'"
    assert out[1] == "alice: What's the single most important property of a distributed system?"
    assert out[2].startswith("bob: Fault tolerance")
    assert len(out) == 3


def test_conversation_example_offline() -> None:
    out = run_python("examples/conversation.py").splitlines()
    assert out[0] == "closed: 'explicit_close'"
    speakers = [line.split(":", 1)[0] for line in out[1:]]
    assert speakers == ["alice", "bob", "alice", "bob", "alice", "bob"]


def test_quick_start_seed_verbatim_through_anthropic_sdk() -> None:
    answer = "Fault tolerance — partial failures are the normal case."
    with FakeAnthropicServer(default=answer) as srv:
        out = run_python(
            str(HERE / "seed_quick_start.py"),
            env_extra={"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": srv.url},
        )
        bodies = srv.bodies
    assert out.splitlines() == [
        "closed: 'consulting_complete'",
        "alice: What's the single most important property of a distributed system?",
        f"bob: {answer}",
    ]
    (body,) = bodies  # exactly one model call: bob's answer
    assert body["model"] == "claude-sonnet-4-6"
    system = json.dumps(body.get("system"))
    assert "Answer in one short sentence." in system
    assert "You are bob (agent_id:" in system  # the network identity line reaches the prompt
    assert body["messages"][-1]["role"] == "user"
    assert "most important property" in json.dumps(body["messages"][-1])


def test_conversation_seed_verbatim_through_anthropic_sdk() -> None:
    with FakeAnthropicServer(default="Gradient descent, then regularisation.") as srv:
        run_python(
            str(HERE / "run_toplevel.py"),
            str(HERE / "seed_conversation.py"),
            env_extra={"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": srv.url},
        )
        bodies = srv.bodies
    # six texts = alice's opener + at least five model answers, alternating bob/alice
    assert len(bodies) >= 5
    systems = [json.dumps(b.get("system")) for b in bodies]
    assert "Patient expert" in systems[0] and "You are bob (agent_id:" in systems[0]
    assert "Curious novice" in systems[1] and "You are alice (agent_id:" in systems[1]
    # from the third call on, the agent's own earlier message reaches the model as an assistant turn
    roles = [m["role"] for m in bodies[2]["messages"]]
    assert roles[0] == "user" and "assistant" in roles
    assert roles == [
        r for i, r in enumerate(roles) if i == 0 or r != roles[i - 1]
    ]  # no same-role runs


@tool
def lookup_fact(topic: str) -> str:
    """Look up a short fact about a topic."""
    return f"{topic}: systems fail partially, all the time."


async def test_quick_start_flow_through_openai_sdk_with_a_tool_call() -> None:
    with FakeOpenAIServer(
        [tool_call("lookup_fact", {"topic": "distributed systems"}), "Fault tolerance."]
    ) as srv:
        config = OpenAIConfig(model="gpt-test", base_url=srv.url, api_key="test-key")
        hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0)
        link = LocalLink(hub)
        alice_hc, bob_hc = HubClient(link, hub=hub), HubClient(link, hub=hub)
        alice = await alice_hc.register(
            Agent("alice", prompt="Ask.", config=config), Passport(name="alice"), Resume()
        )
        bob = await bob_hc.register(
            Agent(
                "bob", prompt="Answer in one short sentence.", config=config, tools=[lookup_fact]
            ),
            Passport(name="bob"),
            Resume(),
        )
        session = await alice.open(type="consulting", target="bob")
        await session.send("What's the most important property?", audience=[bob.agent_id])
        closed = await alice.wait_for_session_event(
            session_id=session.session_id,
            predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
            timeout=30,
        )
        bodies = srv.bodies
        wal = await hub.read_wal(session.session_id)
        await alice_hc.close()
        await bob_hc.close()
        await hub.close()
    assert closed.event_data["reason"] == "consulting_complete"
    assert [e.event_data["text"] for e in wal if e.event_type == EV_TEXT] == [
        "What's the most important property?",
        "Fault tolerance.",
    ]
    assert len(bodies) == 2
    assert [t["function"]["name"] for t in bodies[0]["tools"]] == [
        "lookup_fact"
    ] or "lookup_fact" in json.dumps(bodies[0]["tools"])
    tool_msgs = [m for m in bodies[1]["messages"] if m["role"] == "tool"]
    assert tool_msgs and "systems fail partially" in tool_msgs[0]["content"]
    assert bodies[0]["messages"][0]["role"] == "system"
    assert "You are bob (agent_id:" in bodies[0]["messages"][0]["content"]


@pytest.mark.parametrize("script", ["examples/quick_start.py"])
def test_examples_use_anthropic_when_a_key_is_set(script: str) -> None:
    with FakeAnthropicServer(default="Consensus.") as srv:
        out = run_python(
            script, env_extra={"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": srv.url}
        )
        assert srv.bodies, "the example did not call the provider"
    assert out.splitlines()[-1] == "bob: Consensus."
