"""One trace across processes: ``hubbub serve`` + a traced agent subprocess + one in this process.

Alice runs here (spans in an ``InMemorySpanExporter``); bob is
``tests/processes/traced_agent.py`` in its own process (spans written to a file);
the hub is ``hubbub serve --trace`` in a third (its spans on stderr, one JSON line
each: ``OTEL_TRACES_EXPORTER=console``). The trace context crosses both process
boundaries inside the envelopes (``Envelope.trace_id`` = W3C traceparent), so
every span of the exchange has alice's trace id, the hub's admission of each text
is a child of the post that sent it, and bob's turn is a child of the post that
delivered alice's question.
"""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.processes._children import ROOT, TOKENS, children

from hubbub import Agent
from hubbub.network import EV_SESSION_CLOSED, EV_TEXT, HubClient, Passport, Resume, WsLink
from hubbub.network.tracing import TracingInterceptor
from hubbub.testing import TestConfig

CHILD = ROOT / "tests" / "processes" / "traced_agent.py"


async def test_two_agents_in_two_processes_make_one_trace(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = TracingInterceptor(tracer_provider=provider)
    spans_file = tmp_path / "bob-spans.jsonl"
    async with children() as kids:
        hub, url = await kids.hub("memory:", "--trace", env={"OTEL_TRACES_EXPORTER": "console"})
        bob = await kids.start(
            "bob",
            CHILD,
            *("--url", url, "--token", TOKENS["bob"], "--name", "bob"),
            *("--reply", "Consensus.", "--spans", str(spans_file)),
        )
        ready = await bob.expect("ready: bob ")
        bob_id = ready.split()[-1]
        alice_hc = HubClient(
            WsLink(url, token=TOKENS["alice"], reconnect=0), interceptors=[tracing]
        )
        try:
            alice = await alice_hc.register(
                Agent("alice", config=TestConfig("")), Passport(name="alice"), Resume()
            )
            session = await alice.open(type="consulting", target="bob")
            await session.send("What matters most?", audience=[bob_id])
            await alice.wait_for_session_event(
                session_id=session.session_id,
                predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
                timeout=15,
            )
            wal = await alice.read_wal(session.session_id)
        finally:
            await alice_hc.close()
        bob.terminate()
        exited = await bob.wait()
        assert exited.returncode == 0, bob.describe()
        hub.terminate()
        hub_exit = await hub.wait()
        assert hub_exit.returncode == 0, hub.describe()

    mine = list(exporter.get_finished_spans())
    (question,) = [s for s in mine if s.name == f"post {EV_TEXT}"]
    assert question.context is not None and question.parent is None
    trace_id = f"{question.context.trace_id:032x}"
    theirs = [json.loads(line) for line in spans_file.read_text().splitlines()]
    names = sorted(s["name"] for s in theirs)
    assert names == ["chat m", "invoke_agent bob", f"post {EV_TEXT}"], names
    assert {s["trace_id"] for s in theirs} == {trace_id}  # one trace across the processes
    (turn,) = [s for s in theirs if s["name"] == "invoke_agent bob"]
    assert turn["parent_id"] == f"{question.context.span_id:016x}"
    assert turn["attributes"]["gen_ai.conversation.id"] == session.session_id
    assert turn["attributes"]["gen_ai.agent.id"] == bob_id
    assert turn["attributes"]["gen_ai.usage.input_tokens"] == 9
    (reply,) = [s for s in theirs if s["name"] == f"post {EV_TEXT}"]
    assert reply["parent_id"] == turn["span_id"]
    # what the hub logged carries the same trace
    texts = [e for e in wal if e.event_type == EV_TEXT]
    assert [e.trace_id.split("-")[1] for e in texts if e.trace_id] == [trace_id, trace_id]
    # the hub's spans: an admission per envelope, the texts' in the same trace
    hub_spans = [
        json.loads(line) for line in hub_exit.stderr.splitlines() if line.startswith('{"name"')
    ]
    admits = [s for s in hub_spans if s["name"] == f"hubbub.admit {EV_TEXT}"]
    assert len(admits) == 2, [s["name"] for s in hub_spans]
    assert {s["context"]["trace_id"] for s in admits} == {f"0x{trace_id}"}
    assert all(s["kind"] == "SpanKind.SERVER" for s in admits)
    parents = {s["parent_id"] for s in admits}
    assert parents == {f"0x{question.context.span_id:016x}", f"0x{reply['span_id']}"}
    sequences = sorted(s["attributes"]["hubbub.sequence"] for s in admits)
    assert sequences == [e.sequence for e in texts]
