"""OpenTelemetry spans: the GenAI span tree of a consulting and of a conversation run.

The hub and the clients share one ``TracingInterceptor`` on an SDK tracer provider
with an ``InMemorySpanExporter``; the scripted model reports a known usage and
calls a real tool, so the tree, its parent links and its attributes are checked
exactly. The cross-process case (one trace over ``hubbub serve``) is
``tests/processes/test_tracing_processes.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from hubbub.agent import Agent
from hubbub.events import ToolCallEvent, Usage
from hubbub.knowledge.memory import MemoryKnowledgeStore
from hubbub.network import EV_SESSION_CLOSED, EV_TEXT, Hub, HubClient, LocalLink, Passport, Resume
from hubbub.network.client.agent_client import AgentClient
from hubbub.network.tracing import TracingInterceptor, context_of, traceparent
from hubbub.testing import TestClient, TestConfig

USAGE = Usage(prompt_tokens=11, completion_tokens=5)
MODEL = "claude-haiku-4-5"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    yield InMemorySpanExporter()


@pytest.fixture
def tracing(exporter: InMemorySpanExporter) -> TracingInterceptor:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return TracingInterceptor(tracer_provider=provider)


@pytest.fixture
async def hub(tracing: TracingInterceptor) -> AsyncIterator[Hub]:
    h = await Hub.open(
        MemoryKnowledgeStore(),
        ttl_sweep_interval=0,
        expectation_sweep_interval=0,
        interceptors=[tracing],
    )
    yield h
    await h.close()


def lookup(topic: str) -> str:
    """Look a topic up."""
    return f"notes on {topic}"


async def register(hc: HubClient, name: str, config: Any, **kw: Any) -> AgentClient:
    return await hc.register(Agent(name, config=config, **kw), Passport(name=name), Resume())


def by_name(spans: list[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


def parent_id(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def trace_ids(spans: list[ReadableSpan]) -> set[int]:
    return {s.context.trace_id for s in spans if s.context is not None}


async def test_a_consulting_run_makes_the_genai_span_tree(
    hub: Hub, tracing: TracingInterceptor, exporter: InMemorySpanExporter
) -> None:
    link = LocalLink(hub)
    alice_hc = HubClient(link, interceptors=[tracing])
    bob_hc = HubClient(link, interceptors=[tracing])
    alice = await register(alice_hc, "alice", TestConfig("q"))
    script = TestConfig(
        ToolCallEvent(name="lookup", arguments='{"topic": "raft"}'),
        "Use Raft.",
        usage=USAGE,
        model=MODEL,
    )
    bob = await register(bob_hc, "bob", script, tools=[lookup])
    session = await alice.open(type="consulting", target="bob")
    sid = session.session_id
    await session.send("Which consensus algorithm?", audience=[bob.agent_id])
    await alice.wait_for_session_event(
        session_id=sid, predicate=lambda e: e.event_type == EV_SESSION_CLOSED, timeout=10
    )
    await alice_hc.close()
    await bob_hc.close()
    spans = list(exporter.get_finished_spans())

    posts = by_name(spans, "post ")
    assert [p.attributes["hubbub.sender_id"] for p in posts] == [alice.agent_id, bob.agent_id]
    question, answer = posts
    assert question.kind is SpanKind.PRODUCER and question.parent is None  # the trace's root
    (turn,) = by_name(spans, "invoke_agent ")
    assert turn.name == "invoke_agent bob"
    assert parent_id(turn) == span_id(question)  # the post that delivered the text
    assert dict(turn.attributes or {}) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "bob",
        "gen_ai.agent.id": bob.agent_id,
        "gen_ai.conversation.id": sid,
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "gen_ai.usage.input_tokens": 22,  # two model calls
        "gen_ai.usage.output_tokens": 10,
        "hubbub.envelope_id": question.attributes["hubbub.envelope_id"],
    }
    chats = by_name(spans, "chat ")
    assert [c.name for c in chats] == [f"chat {MODEL}"] * 2
    for chat in chats:
        assert parent_id(chat) == span_id(turn) and chat.kind is SpanKind.CLIENT
        assert chat.attributes["gen_ai.usage.input_tokens"] == 11
        assert chat.attributes["gen_ai.usage.output_tokens"] == 5
        assert chat.attributes["gen_ai.conversation.id"] == sid
        assert turn.start_time <= chat.start_time <= chat.end_time <= turn.end_time
    (tool,) = by_name(spans, "execute_tool ")
    assert tool.name == "execute_tool lookup" and parent_id(tool) == span_id(turn)
    assert tool.attributes["gen_ai.tool.name"] == "lookup"
    assert chats[0].end_time <= tool.start_time <= tool.end_time <= chats[1].start_time
    assert parent_id(answer) == span_id(turn)  # the reply is posted inside the turn

    admits = by_name(spans, "hubbub.admit ")
    texts = [a for a in admits if a.attributes["hubbub.event_type"] == EV_TEXT]
    assert [parent_id(a) for a in texts] == [span_id(question), span_id(answer)]
    assert all(a.kind is SpanKind.SERVER for a in admits)
    assert {a.attributes["gen_ai.conversation.id"] for a in admits} == {sid}
    assert [a.attributes["hubbub.sequence"] for a in texts] == [
        e.sequence for e in await hub.read_wal(sid) if e.event_type == EV_TEXT
    ]
    # the envelope carries its post's traceparent, in the WAL too
    logged = [e for e in await hub.read_wal(sid) if e.event_type == EV_TEXT]
    assert [context_of(e.trace_id) for e in logged]  # parses
    assert [e.trace_id.rsplit("-", 1)[0] for e in logged if e.trace_id] == [
        f"00-{p.context.trace_id:032x}-{p.context.span_id:016x}"  # type: ignore[union-attr]
        for p in posts
    ]
    assert len(trace_ids([question, turn, *chats, tool, answer, *texts])) == 1


class Countdown(TestConfig):
    """Says ``text`` on its first ``n`` turns, then nothing (which ends an auto-driven chat)."""

    def __init__(self, n: int, text: str) -> None:
        super().__init__(text, usage=USAGE, model=MODEL)
        self.left = n
        self.text = text

    def create(self) -> TestClient:
        self.left -= 1
        return TestClient(TestConfig(self.text if self.left >= 0 else "", usage=USAGE))


async def test_an_agent_driven_conversation_is_one_trace(
    hub: Hub, tracing: TracingInterceptor, exporter: InMemorySpanExporter
) -> None:
    link = LocalLink(hub)
    alice_hc = HubClient(link, interceptors=[tracing])
    bob_hc = HubClient(link, interceptors=[tracing])
    alice = await register(alice_hc, "alice", Countdown(2, "Tell me more."))
    await register(bob_hc, "bob", TestConfig("Here is more.", usage=USAGE, model=MODEL))
    session = await alice.open(type="conversation", target="bob")
    await session.send("Hi bob.")
    async with asyncio.timeout(10):  # hi, bob, alice, bob, alice, bob — then alice says nothing
        while len(by_name(list(exporter.get_finished_spans()), "invoke_agent alice")) < 3:
            await asyncio.sleep(0.01)
    wal = await hub.read_wal(session.session_id)
    assert len([e for e in wal if e.event_type == EV_TEXT]) == 6
    await alice_hc.close()
    await bob_hc.close()
    spans = list(exporter.get_finished_spans())

    turns = by_name(spans, "invoke_agent ")
    posts = {p.attributes["hubbub.envelope_id"]: p for p in by_name(spans, "post ")}
    assert sorted(t.name for t in turns) == ["invoke_agent alice"] * 3 + ["invoke_agent bob"] * 3
    for turn in turns:  # each turn continues the post it answers
        answered = posts[turn.attributes["hubbub.envelope_id"]]
        assert parent_id(turn) == span_id(answered)
        assert turn.attributes["gen_ai.conversation.id"] == session.session_id
    conversation = [*turns, *posts.values(), *by_name(spans, "chat ")]
    assert len(trace_ids(conversation)) == 1
    roots = [s for s in conversation if s.parent is None]
    assert [r.name for r in roots] == [f"post {EV_TEXT}"]  # alice's first message


async def test_a_failed_tool_and_a_refused_post_are_errors(
    hub: Hub, tracing: TracingInterceptor, exporter: InMemorySpanExporter
) -> None:
    def broken(x: int) -> str:
        """Always fails."""
        raise RuntimeError("boom")

    link = LocalLink(hub)
    alice_hc = HubClient(link, interceptors=[tracing])
    bob_hc = HubClient(link, interceptors=[tracing])
    alice = await register(alice_hc, "alice", TestConfig("q"))
    script = TestConfig(
        ToolCallEvent(name="broken", arguments='{"x": 1}'), "sorry", raise_tool_errors=False
    )
    bob = await register(bob_hc, "bob", script, tools=[broken])
    session = await alice.open(type="consulting", target="bob")
    await session.send("go", audience=[bob.agent_id])
    await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=10,
    )
    with pytest.raises(Exception, match="closed"):
        await session.send("late", audience=[bob.agent_id])
    await alice_hc.close()
    await bob_hc.close()
    spans = list(exporter.get_finished_spans())
    (tool,) = by_name(spans, "execute_tool broken")
    assert tool.status.status_code is StatusCode.ERROR
    refused = [
        a for a in by_name(spans, "hubbub.admit ") if a.status.status_code is StatusCode.ERROR
    ]
    assert [a.attributes["hubbub.error.code"] for a in refused] == ["session_closed"]


def test_traceparent_round_trip(tracing: TracingInterceptor) -> None:
    assert traceparent() is None  # no span: nothing to carry
    assert context_of(None) is not None and context_of("garbage") is not None
    with tracing.tracer.start_as_current_span("x") as span:
        carried = traceparent()
        ids = span.get_span_context()
        assert carried is not None
        assert carried.startswith(f"00-{ids.trace_id:032x}-{ids.span_id:016x}-")
        restored = context_of(carried)
    with tracing.tracer.start_as_current_span("y", context=restored) as child:
        assert child.get_span_context().trace_id == span.get_span_context().trace_id
