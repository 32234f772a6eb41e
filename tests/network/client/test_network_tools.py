"""The network tools (§18): say, delegate, context, sessions(open, message=...), the
identity lines, adapter-owned tools, the say rule and the delegation depth limit."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hubbub.events import ToolCallEvent, ToolResultEvent, ToolResultsEvent
from hubbub.network.adapters import ConversationAdapter
from hubbub.network.client import NetworkPlugin
from hubbub.network.client.agent_client import AgentClient
from hubbub.network.envelope import EV_SESSION_CLOSED, EV_TEXT, EV_TURN_FAILED, Envelope
from hubbub.network.errors import AccessDeniedError
from hubbub.network.hub import AUDIT_KIND_TURN_FAILED
from hubbub.network.identity import Passport, Resume
from hubbub.network.rule import LimitsBlock, Rule
from hubbub.network.session import SessionState
from hubbub.testing import ModelCall, TestConfig, TrackingConfig
from hubbub.tools import FunctionTool

ANSWER_WITHIN = 5.0  # seconds a zero-latency delegation may take before the test fails


def call(name: str, **arguments: Any) -> ToolCallEvent:
    return ToolCallEvent(name, arguments=json.dumps(arguments))


def tools_of(client: AgentClient) -> dict[str, FunctionTool]:
    plugin = client._plugin
    assert isinstance(plugin, NetworkPlugin)
    return {t.name: t for t in plugin.tools}


def tool_results(calls: list[ModelCall]) -> list[str]:
    """The texts of every tool result the model was shown, in order (last call's view)."""
    messages = calls[-1].messages
    batches = [e for e in messages if isinstance(e, ToolResultsEvent)]
    results = [r for b in batches for r in b.results] or [
        e for e in messages if isinstance(e, ToolResultEvent)
    ]
    return [r.result.to_text() for r in results]


def texts(wal: list[Envelope]) -> list[tuple[str, str]]:
    return [(e.sender_id, e.event_data["text"]) for e in wal if e.event_type == EV_TEXT]


def is_close(e: Envelope) -> bool:
    return e.event_type == EV_SESSION_CLOSED


def text_from(sender_id: str, session_id: str | None = None) -> Any:
    return lambda e: (
        e.event_type == EV_TEXT
        and e.sender_id == sender_id
        and (session_id is None or e.session_id == session_id)
    )


# ------------------------------------------------------------------ identity lines


async def test_the_prompt_names_the_network_tools(net, tap) -> None:
    tracking = TrackingConfig(TestConfig("ok"))
    alice = await net.agent("alice")
    bob = await net.agent("bob", config=tracking)
    alice_tap = tap(alice, quiet=True)
    session = await alice.open(type="conversation", target="bob")
    await session.send("hi")
    await alice_tap.wait(text_from(bob.agent_id))

    prompt = tracking.calls[-1].prompt
    assert prompt[0] == f"You are bob (agent_id: {bob.agent_id})."
    assert prompt[1] == "Your network tools: say, delegate, peers, sessions, context, tasks."
    assert prompt.count(prompt[1]) == 1
    offered = {t.function.name for t in tracking.calls[-1].tools}
    assert {"say", "delegate", "peers", "sessions", "context", "tasks"} <= offered
    assert list(tools_of(bob)) == ["say", "delegate", "peers", "sessions", "context", "tasks"]


# ------------------------------------------------------------------ say


async def test_say_contract_outside_a_turn(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob")
    carol = await net.agent("carol")
    tap(bob, quiet=True)  # bob does not answer (no auto-driven chain)
    say = tools_of(alice)["say"]
    session = await alice.open(type="conversation", target="bob")
    sid = session.session_id

    assert await say.fn(content="hi", session=None, client=alice) == (
        "Error: say needs session_id= outside a session"
    )
    assert (await say.fn(content="  ", session_id=sid, session=None, client=alice)).startswith(
        "Error: say needs non-empty content"
    )
    unknown = await say.fn(
        content="psst", audience=["nobody"], session_id=sid, session=None, client=alice
    )
    assert unknown.startswith("Error:") and "nobody" in unknown
    outsider = await say.fn(
        content="psst", audience=["carol"], session_id=sid, session=None, client=alice
    )
    assert outsider.startswith("Error:") and "not a participant" in outsider
    assert carol.agent_id in outsider

    posted = await say.fn(
        content="hello bob", audience=["bob"], session_id=sid, session=None, client=alice
    )
    assert posted.startswith("posted envelope ")
    envelope_id = posted.removeprefix("posted envelope ")
    (env,) = [e for e in await net.hub.read_wal(sid) if e.event_type == EV_TEXT]
    assert env.envelope_id == envelope_id
    assert env.sender_id == alice.agent_id
    assert env.audience == [bob.agent_id]  # the name was resolved to the id
    assert env.event_data == {"text": "hello bob"}

    await session.close()
    closed = await say.fn(content="late", session_id=sid, session=None, client=alice)
    assert closed.startswith("Error:") and "closed" in closed


async def test_say_in_a_conversation_is_not_posted_twice(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob", call("say", content="hello from say"), "final text")
    alice_tap = tap(alice, quiet=True)
    bob_tap = tap(bob)
    session = await alice.open(type="conversation", target="bob")
    first = await session.send("hi bob")
    await bob_tap.wait(lambda e: e.envelope_id == first)

    wal = await net.hub.read_wal(session.session_id)
    assert texts(wal) == [(alice.agent_id, "hi bob"), (bob.agent_id, "hello from say")]
    said = next(e for e in wal if e.event_type == EV_TEXT and e.sender_id == bob.agent_id)
    assert said.causation_id == first  # the say answers the envelope being handled
    await alice_tap.wait(text_from(bob.agent_id))
    assert session.state is SessionState.ACTIVE


async def test_say_in_consulting_completes_it_without_a_failed_second_post(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob", call("say", content="the answer is 4"), "done")
    tap(alice, quiet=True)
    attempted: list[str] = []
    real_post = bob.post

    async def post(envelope: Envelope) -> Envelope:
        attempted.append(envelope.event_type)
        return await real_post(envelope)

    bob.post = post  # type: ignore[method-assign]
    session = await alice.open(type="consulting", target="bob")
    await session.send("2+2?")
    await alice.wait_for_session_event(
        session_id=session.session_id, predicate=is_close, timeout=10.0
    )
    await bob.wait_for_session_event(
        session_id=session.session_id, predicate=is_close, timeout=10.0
    )
    wal = await net.hub.read_wal(session.session_id)
    assert texts(wal) == [(alice.agent_id, "2+2?"), (bob.agent_id, "the answer is 4")]
    assert not [e for e in wal if e.event_type == EV_TURN_FAILED]
    assert attempted.count(EV_TEXT) == 1  # "done" was never sent into the ended session
    meta = await net.hub.get_session(session.session_id)
    assert meta.close_reason == "consulting_complete"
    audit = await net.hub.audit_log.read_all()
    assert not [r for r in audit if r.get("kind") == AUDIT_KIND_TURN_FAILED]


async def test_say_into_another_session_keeps_the_final_text(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob", config=TestConfig("unused"))
    alice_tap = tap(alice, quiet=True)
    side = await alice.open(type="conversation", target="bob")
    main = await alice.open(type="conversation", target="bob")
    bob.agent.config = TestConfig(
        call("say", content="aside", session_id=side.session_id), "main answer"
    )
    await main.send("question")
    await alice_tap.wait(text_from(bob.agent_id, main.session_id))
    assert texts(await net.hub.read_wal(main.session_id))[-1] == (bob.agent_id, "main answer")
    (aside,) = [e for e in alice_tap.seen if text_from(bob.agent_id, side.session_id)(e)]
    assert aside.event_data["text"] == "aside"
    assert aside.causation_id is None  # it answers nothing in that session


# ------------------------------------------------------------------ delegate


@pytest.mark.parametrize("shared", [False, True], ids=["own-connections", "one-connection"])
async def test_delegate_inside_a_turn_answers_at_once(net, tap, shared: bool) -> None:
    tracking = TrackingConfig(
        TestConfig(call("delegate", target="carol", prompt="what is 2+2?"), "carol says four")
    )
    hc = net.hub_client() if shared else None  # bob and carol on one HubClient, or not
    alice = await net.agent("alice")
    bob = await net.agent("bob", config=tracking, hc=hc)
    carol = await net.agent("carol", "four", hc=hc)
    alice_tap = tap(alice, quiet=True)

    session = await alice.open(type="conversation", target="bob")
    await session.send("ask carol")
    async with asyncio.timeout(ANSWER_WITHIN):  # the reference waits for its 300 s timeout
        reply = await alice_tap.wait(text_from(bob.agent_id), timeout=ANSWER_WITHIN)
    assert reply.event_data["text"] == "carol says four"
    assert tool_results(tracking.calls) == ["four"]

    (consult,) = [
        m for m in await bob.list_sessions(include_terminal=True) if m.manifest.type == "consulting"
    ]
    assert consult.close_reason == "consulting_complete"
    assert consult.participant_ids() == [bob.agent_id, carol.agent_id]
    wal = await net.hub.read_wal(consult.session_id)
    prompt = [e for e in wal if e.event_type == EV_TEXT and e.sender_id == bob.agent_id]
    assert [(e.event_data["text"], e.depth) for e in prompt] == [("what is 2+2?", 1)]
    assert texts(wal)[-1] == (carol.agent_id, "four")


async def test_delegate_passes_the_capability_and_chains_the_depth(net, tap) -> None:
    """alice → bob (depth 0) → carol (depth 1) → dave (depth 2)."""
    alice = await net.agent("alice")
    await net.agent("bob", call("delegate", target="carol", prompt="p1", capability="math"), "b")
    await net.agent("carol", call("delegate", target="dave", prompt="p2"), "c")
    dave = await net.agent("dave", "d")
    alice_tap = tap(alice, quiet=True)
    session = await alice.open(type="conversation", target="bob")
    await session.send("go")
    await alice_tap.wait(lambda e: e.event_type == EV_TEXT, timeout=ANSWER_WITHIN)

    consults = [
        m
        for m in await net.hub.list_sessions(include_terminal=True)
        if m.manifest.type == "consulting"
    ]
    depths = {}
    for meta in consults:
        wal = await net.hub.read_wal(meta.session_id)
        first = next(e for e in wal if e.event_type == EV_TEXT)
        depths[first.event_data["text"]] = (first.depth, dict(meta.knobs))
    assert depths == {"p1": (1, {"capability": "math"}), "p2": (2, {})}
    assert dave.current_handling_depth == 0


async def test_delegation_past_the_depth_limit_is_refused(net, tap) -> None:
    tracking = TrackingConfig(
        TestConfig(call("delegate", target="carol", prompt="deeper"), "gave up")
    )
    alice = await net.agent("alice")
    bob = await net.agent("bob", config=tracking)
    await net.agent("carol", "never asked")
    await bob.set_rule(Rule(limits=LimitsBlock(delegation_depth=2)))
    alice_tap = tap(alice, quiet=True)

    session = await alice.open(type="conversation", target="bob")
    await session.send("dig", depth=2)  # bob handles depth 2; his prompt would be depth 3
    await alice_tap.wait(text_from(bob.agent_id), timeout=ANSWER_WITHIN)
    (result,) = tool_results(tracking.calls)
    assert result.startswith("Error:")
    assert "delegation depth 3 exceeds the limit of 2" in result
    assert "Rule.limits.delegation_depth" in result
    (consult,) = [
        m for m in await bob.list_sessions(include_terminal=True) if m.manifest.type == "consulting"
    ]
    assert consult.close_reason == "seed_failed"
    assert texts(await net.hub.read_wal(consult.session_id)) == []


async def test_the_hub_refuses_a_post_deeper_than_the_senders_limit(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob")
    tap(bob, quiet=True)
    await alice.set_rule(Rule(limits=LimitsBlock(delegation_depth=1)))
    session = await alice.open(type="conversation", target="bob")
    await session.send("at the limit", depth=1)
    with pytest.raises(AccessDeniedError) as info:
        await session.send("past it", depth=2)
    assert info.value.code == "delegation_too_deep"
    assert "delegation depth 2 exceeds the limit of 1 for alice" in str(info.value)
    await alice.set_rule(Rule(limits=LimitsBlock(delegation_depth=0)))  # 0: no cap
    await session.send("unbounded", depth=50)


async def test_delegate_error_strings(net, tap) -> None:
    alice = await net.agent("alice")
    carol = await net.agent("carol")
    carol_tap = tap(carol, quiet=True)  # acks invites, never answers
    delegate = tools_of(alice)["delegate"]

    async def run(**kw: Any) -> str:
        out = await delegate.fn(**kw, client=alice)
        assert isinstance(out, str)
        return out

    assert (await run(target="nobody", prompt="hi")).startswith(
        "Error: could not open a consulting session with nobody"
    )
    assert await run(target="alice", prompt="hi") == "Error: an agent cannot delegate to itself"
    assert (await run(target="carol", prompt=" ")).startswith("Error: delegate needs a non-empty")
    assert (await run(target="carol", prompt="hi", timeout=0)).startswith(
        "Error: delegate timeout= must be a positive number"
    )
    timed_out = await run(target="carol", prompt="are you there?", timeout=0.2)
    assert timed_out == "Error: carol did not answer within 0.2 s (timed out)"
    await carol_tap.wait(lambda e: e.event_type == EV_SESSION_CLOSED)
    (consult,) = await alice.list_sessions(include_terminal=True)
    assert consult.close_reason == "delegate_timeout"


async def test_delegate_reports_the_targets_failed_turn(net) -> None:
    alice = await net.agent("alice")
    await net.agent("carol", RuntimeError("model exploded"))
    out = await tools_of(alice)["delegate"].fn(target="carol", prompt="hi", client=alice)
    assert out.startswith("Error: carol's turn failed (turn_failed)")
    assert "model exploded" in out


async def test_an_agent_answers_other_sessions_while_a_turn_waits_on_a_delegation(net, tap) -> None:
    """bob's turn in one session waits on carol; bob's other session goes on meanwhile,
    in order."""
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow_fact() -> str:
        """Look up the fact (blocks until the test releases it)."""
        started.set()
        await release.wait()
        return "forty-two"

    alice = await net.agent("alice")
    bob = await net.agent(
        "bob", config=TestConfig(call("delegate", target="carol", prompt="fact?"), "relayed")
    )
    await net.agent("carol", call("slow_fact"), "the fact is 42", tools=[slow_fact])
    alice_tap = tap(alice, quiet=True)
    waiting = await alice.open(type="conversation", target="bob")
    await waiting.send("please ask carol")

    other = await alice.open(type="conversation", target="bob")
    await asyncio.wait_for(started.wait(), ANSWER_WITHIN)  # bob's turn is delegating
    bob.agent.config = TestConfig("pong")  # the other session's turns answer at once
    sent = [await other.send(f"ping {i}") for i in range(3)]

    def answered() -> list[Envelope]:
        return [e for e in alice_tap.seen if text_from(bob.agent_id, other.session_id)(e)]

    await alice_tap.wait(lambda _: len(answered()) == 3, timeout=ANSWER_WITHIN)
    assert [e.causation_id for e in answered()] == sent  # answered in order
    assert not [e for e in alice_tap.seen if text_from(bob.agent_id, waiting.session_id)(e)]

    release.set()
    relayed = await alice_tap.wait(text_from(bob.agent_id, waiting.session_id))
    assert relayed.event_data["text"] == "relayed"


# ------------------------------------------------------------------ sessions(open, message=)


async def test_sessions_open_with_a_first_message(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob", "hello alice")
    alice_tap = tap(alice, quiet=True)
    opened = await tools_of(alice)["sessions"].fn(
        action="open",
        type="conversation",
        target="bob",
        message="hello bob",
        intent="greet",
        session=None,
        client=alice,
    )
    assert opened["state"] == "active" and opened["intent"] == "greet"
    sid = opened["session_id"]
    await alice_tap.wait(text_from(bob.agent_id, sid))
    wal = await net.hub.read_wal(sid)
    assert texts(wal) == [(alice.agent_id, "hello bob"), (bob.agent_id, "hello alice")]
    seed = next(e for e in wal if e.event_type == EV_TEXT)
    assert seed.depth == 1  # a seed is one hop deeper than what the opener handles


async def test_sessions_open_rolls_back_when_the_seed_is_refused(net) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob")
    net.hub.max_envelope_bytes = 4000
    huge = "x" * 5000
    out = await tools_of(alice)["sessions"].fn(
        action="open", type="conversation", target="bob", message=huge, session=None, client=alice
    )
    assert out.startswith("Error: the first message was refused")
    assert out.endswith("closed: seed_failed")
    (meta,) = await alice.list_sessions(include_terminal=True)
    assert meta.state is SessionState.CLOSED and meta.close_reason == "seed_failed"
    assert meta.session_id in out
    assert await bob.list_sessions() == []
    bad = await tools_of(alice)["sessions"].fn(
        action="open", type="conversation", target="bob", message="", session=None, client=alice
    )
    assert bad == "Error: open's message= must be a non-empty string"


# ------------------------------------------------------------------ context


async def test_context_search_and_quote(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob")
    tap(bob, quiet=True)
    session = await alice.open(type="conversation", target="bob")
    sid = session.session_id
    bob_session = await bob.session(sid)
    await session.send("The Budget is 10k")
    await bob_session.send("budget noted")
    await session.send("deadline friday")
    await bob_session.send("for alice only", audience=[alice.agent_id])
    await session.send("a budget again")
    context = tools_of(bob)["context"]

    found = await context.fn(
        action="search", query="BUDGET", session_id=sid, session=None, client=bob
    )
    assert [(r["speaker"], r["text"]) for r in found] == [
        ("alice", "The Budget is 10k"),
        ("bob", "budget noted"),
        ("alice", "a budget again"),
    ]
    assert found[0]["sender_id"] == alice.agent_id and found[0]["sequence"] > 0
    latest = await context.fn(
        action="search", query="budget", limit=1, session_id=sid, session=None, client=bob
    )
    assert [r["text"] for r in latest] == ["a budget again"]
    quoted = await context.fn(
        action="quote", speaker="alice", recent_n=2, session_id=sid, session=None, client=bob
    )
    assert [r["text"] for r in quoted] == ["deadline friday", "a budget again"]
    # a non-participant cannot read the session at all (below)
    mine = await context.fn(
        action="quote", speaker="bob", recent_n=5, session_id=sid, session=None, client=bob
    )
    assert [r["text"] for r in mine] == ["budget noted", "for alice only"]

    async def err(**kw: Any) -> str:
        out = await context.fn(**kw, session=None, client=bob)
        assert isinstance(out, str) and out.startswith("Error:"), out
        return out

    assert "session_id=" in await err(action="search", query="x")
    assert "query=" in await err(action="search", session_id=sid)
    assert "speaker=" in await err(action="quote", session_id=sid)
    assert "nobody" in await err(action="quote", speaker="nobody", session_id=sid)
    assert "recent_n" in await err(action="quote", speaker="bob", recent_n=0, session_id=sid)
    assert "scope=" in await err(action="search", query="x", scope="everything", session_id=sid)
    carol = await net.agent("carol")
    denied = await tools_of(carol)["context"].fn(
        action="search", query="budget", session_id=sid, session=None, client=carol
    )
    assert denied.startswith("Error:")


async def test_context_knowledge_scope_searches_every_own_session(net, tap, clock) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob")
    carol = await net.agent("carol")
    tap(bob, quiet=True)
    tap(carol, quiet=True)
    first = await alice.open(type="conversation", target="bob")
    await first.send("the budget is 10k")
    await first.close()
    clock.advance(1)  # the second session is created later: the order is defined
    second = await alice.open(type="conversation", target="bob")
    await second.send("budget approved")
    elsewhere = await alice.open(type="conversation", target="carol")
    await elsewhere.send("carol's budget is secret")  # bob is not in it
    context = tools_of(bob)["context"]
    found = await context.fn(
        action="search", query="budget", scope="knowledge", session=None, client=bob
    )
    assert [(r["session_id"], r["text"]) for r in found] == [
        (first.session_id, "the budget is 10k"),
        (second.session_id, "budget approved"),
    ]
    quoted = await context.fn(
        action="quote", speaker="alice", scope="knowledge", recent_n=5, session=None, client=bob
    )
    assert [r["text"] for r in quoted] == ["the budget is 10k", "budget approved"]


async def test_context_inside_a_turn_defaults_to_the_current_session(net, tap) -> None:
    tracking = TrackingConfig(TestConfig(call("context", action="quote", speaker="alice"), "ok"))
    alice = await net.agent("alice")
    bob = await net.agent("bob", config=tracking)
    alice_tap = tap(alice, quiet=True)
    session = await alice.open(type="conversation", target="bob")
    await session.send("remember: blue")
    await alice_tap.wait(text_from(bob.agent_id))
    (result,) = tool_results(tracking.calls)
    rows = json.loads(result)
    assert [(r["speaker"], r["text"]) for r in rows] == [("alice", "remember: blue")]


# ------------------------------------------------------------------ adapter-owned tools


class _ToolAdapter(ConversationAdapter):
    """A conversation whose participants get a ``whoami`` tool each turn."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.manifest = dataclasses.replace(
            self.manifest, type="failing_tools" if fail else "tooled"
        )
        self.asked: list[tuple[str, int]] = []

    def tools_for(self, client: Any, metadata: Any, state: Any, participant_id: str) -> list[Any]:
        self.asked.append((participant_id, state.turn_count))
        if self.fail:
            raise RuntimeError("tools_for broke")

        def whoami() -> str:
            """Your participant id."""
            return f"you are {participant_id}"

        return [whoami]


async def test_adapter_tools_reach_the_turn(net, tap) -> None:
    adapter = _ToolAdapter()
    net.hub.register_adapter(adapter)
    tracking = TrackingConfig(TestConfig(call("whoami"), "done"))
    alice = await net.agent("alice")
    bob = await net.agent("bob", config=tracking)
    alice_tap = tap(alice, quiet=True)
    session = await alice.open(type="tooled", target="bob")
    await session.send("who are you?")
    await alice_tap.wait(text_from(bob.agent_id))
    assert "whoami" in {t.function.name for t in tracking.calls[0].tools}
    assert tool_results(tracking.calls) == [f"you are {bob.agent_id}"]
    assert adapter.asked == [(bob.agent_id, 1)]  # the state the turn started from


async def test_a_failing_tools_for_is_logged_and_the_turn_runs(net, tap, caplog) -> None:
    net.hub.register_adapter(_ToolAdapter(fail=True))
    alice = await net.agent("alice")
    bob = await net.agent("bob", "still here")
    alice_tap = tap(alice, quiet=True)
    session = await alice.open(type="failing_tools", target="bob")
    with caplog.at_level(logging.WARNING, logger="hubbub.network.client.handlers"):
        await session.send("hi")
        reply = await alice_tap.wait(text_from(bob.agent_id))
    assert reply.event_data["text"] == "still here"
    assert "tools_for failed" in caplog.text


async def test_text_and_packet_envelope_helpers(net) -> None:
    alice = await net.agent("alice")
    await net.agent("bob")
    session = await alice.open(type="conversation", target="bob")
    adapter = ConversationAdapter()
    meta = session.metadata
    text = adapter.build_text_envelope(meta, "a1", "hi", audience=["b1"], causation_id="c", depth=2)
    assert (text.session_id, text.sender_id, text.event_type) == (meta.session_id, "a1", EV_TEXT)
    assert (text.event_data, text.audience, text.causation_id, text.depth) == (
        {"text": "hi"},
        ["b1"],
        "c",
        2,
    )
    bare = adapter.build_packet_envelope(meta, "a1", "body")
    assert bare.event_type == "ag2.packet" and bare.event_data == {"body": "body"}
    routed = adapter.build_packet_envelope(
        meta, "a1", "", routing={"kind": "handoff", "target": "b1"}, context={"k": 1}
    )
    assert routed.event_data == {
        "body": "",
        "routing": {"kind": "handoff", "target": "b1"},
        "context": {"k": 1},
    }
    assert adapter.tools_for(None, meta, None, "a1") == []


async def test_bare_agents_get_no_network_tools(net) -> None:
    hc = net.hub_client()
    from hubbub.agent import Agent

    client = await hc.register(
        Agent("bare", config=TestConfig("x")), Passport(name="bare"), Resume(), attach_plugin=False
    )
    assert client._plugin is None and client.agent.tools == []


def test_the_readme_example_runs() -> None:
    root = Path(__file__).parents[3]
    readme = (root / "README.md").read_text()
    section = readme[readme.index("### Network tools") :]
    code = section[section.index("```python\n") + 10 :]
    code = code[: code.index("```")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env["PYTHONPATH"] = str(root / "src")
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "carol says four"


async def test_tools_are_shared_and_find_their_agent_by_injection(net) -> None:
    tracking = TrackingConfig(TestConfig(call("peers", action="find"), "done"))
    alice = await net.agent("alice", config=tracking)
    bob = await net.agent("bob")
    mine, theirs = tools_of(alice), tools_of(bob)
    assert all(mine[n].model is theirs[n].model for n in mine)  # built once, shared
    # A plain ask outside any network turn still reaches alice's client (the plugin's DI
    # default): peers finds bob, not an error.
    await alice.agent.ask("who is there?")
    (found,) = tool_results(tracking.calls)
    assert [r["name"] for r in json.loads(found)] == ["bob"]
    # Without a client the tools say so instead of raising.
    for name, kw in [
        ("say", {"content": "x", "session": None}),
        ("delegate", {"target": "bob", "prompt": "x"}),
        ("peers", {"action": "find"}),
        ("sessions", {"action": "list", "session": None}),
        ("context", {"action": "search", "query": "x", "session": None}),
        ("tasks", {"action": "list", "task": None}),
    ]:
        out = await tools_of(alice)[name].fn(**kw, client=None)
        assert out == f"Error: {name} works only for an agent registered on a hub"
    await alice.unregister()
    assert "ag2.network.agent_client" not in alice.agent._dependencies
    assert alice.agent.tools == []
