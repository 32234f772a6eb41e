"""A child process for the cross-process tracing test: one traced agent over WebSocket.

``python tests/processes/traced_agent.py --url WS --token T --name bob --reply TEXT --spans FILE``
registers the agent with a scripted model on a ``HubClient`` whose interceptor is a
``TracingInterceptor`` on an SDK tracer provider, prints ``ready: NAME ID``, answers
until SIGTERM, then writes every finished span as one JSON line to FILE and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from hubbub import Agent
from hubbub.events import Usage
from hubbub.network import HubClient, Passport, Resume, WsLink
from hubbub.network.tracing import TracingInterceptor
from hubbub.testing import TestConfig


class JsonLines(SpanExporter):
    """Each exported span as one JSON line (ids in hex, as in a traceparent)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(self.path, "a", encoding="utf-8") as out:
            for span in spans:
                assert span.context is not None
                out.write(
                    json.dumps(
                        {
                            "name": span.name,
                            "trace_id": f"{span.context.trace_id:032x}",
                            "span_id": f"{span.context.span_id:016x}",
                            "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
                            "attributes": dict(span.attributes or {}),
                        }
                    )
                    + "\n"
                )
        return SpanExportResult.SUCCESS


async def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--url", "--token", "--name", "--reply", "--spans"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLines(args.spans)))
    tracing = TracingInterceptor(tracer_provider=provider)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    hc = HubClient(WsLink(args.url, token=args.token, reconnect=0), interceptors=[tracing])
    config = TestConfig(args.reply, usage=Usage(prompt_tokens=9, completion_tokens=4), model="m")
    agent = await hc.register(Agent(args.name, config=config), Passport(name=args.name), Resume())
    print(f"ready: {args.name} {agent.agent_id}", flush=True)
    await stop.wait()
    await hc.close()
    provider.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
