"""OpenTelemetry tracing for hubbub, on the interceptor seams (``pip install 'hubbub[otel]'``).

One :class:`TracingInterceptor` goes to the hub and to every client that should
trace (the Temporal ``TracingInterceptor`` pattern)::

    tracing = TracingInterceptor()                       # the global tracer provider
    hub = await Hub.open(store, interceptors=[tracing])
    client = HubClient(link, interceptors=[tracing])

Spans, named and attributed after the OpenTelemetry GenAI semantic conventions:

* ``invoke_agent {agent name}`` (INTERNAL) — one default-handler turn of an agent;
  ``gen_ai.operation.name``, ``gen_ai.agent.name``, ``gen_ai.agent.id``,
  ``gen_ai.conversation.id`` (= session id), and the turn's
  ``gen_ai.usage.input_tokens`` / ``gen_ai.usage.output_tokens``;
* ``chat {model}`` (CLIENT) — each model call of the turn, with its usage,
  ``gen_ai.request.model``, ``gen_ai.response.model``, ``gen_ai.response.finish_reasons``;
* ``execute_tool {tool}`` (INTERNAL) — each tool call, ``gen_ai.tool.name``,
  ``gen_ai.tool.call.id`` (status ERROR when the tool failed);
* ``post {event type}`` (PRODUCER) — each non-protocol envelope a client posts;
* ``hubbub.admit {event type}`` (SERVER) — the hub admitting an envelope, until
  its append is durable (``hubbub.sequence``, ``hubbub.envelope_id``; ERROR with
  ``hubbub.error.code`` when refused).

**Trace context travels in the envelope.** A post span writes its W3C
``traceparent`` (``00-<trace id>-<span id>-<flags>``) into ``Envelope.trace_id``
unless the envelope has one already; it is logged in the WAL and delivered with
the envelope. The hub's admit span and the recipient's ``invoke_agent`` span are
children of it, so a conversation between agents in different processes is one
trace: each reply is posted from inside the turn that produced it, and the next
turn continues from that post. ``chat`` and ``execute_tool`` spans are made from
the turn's stream events with the times those events were published.

Only ``opentelemetry-api`` is imported (when this module is); without an SDK
configured the spans are no-ops. With no interceptor given, nothing of this runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import trace
    from opentelemetry.context import Context
    from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, TracerProvider
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"hubbub.network.tracing needs opentelemetry-api: pip install 'hubbub[otel]' ({exc})"
    ) from exc

from hubbub.events import (
    BaseEvent,
    ModelRequest,
    ModelResponse,
    ToolCallEvent,
    ToolErrorEvent,
    ToolResultEvent,
    ToolResultsEvent,
    UsageEvent,
)
from hubbub.network.client.intercept import ClientInterceptor, PostNext, TurnNext
from hubbub.network.envelope import EV_TURN_FAILED, Envelope, is_protocol_event
from hubbub.network.errors import NetworkError
from hubbub.network.hub.intercept import AdmitCall, HubInterceptor
from hubbub.network.usage import model_name
from hubbub.plugin import Observer

if TYPE_CHECKING:
    from hubbub.context import ConversationContext
    from hubbub.network.client.agent_client import AgentClient
    from hubbub.stream import Stream

__all__ = ["TracingInterceptor", "context_of", "traceparent"]

_PROPAGATOR = TraceContextTextMapPropagator()


def traceparent(context: Context | None = None) -> str | None:
    """The W3C ``traceparent`` of the span current in ``context`` (default: now), or None."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    return carrier.get("traceparent")


def context_of(trace_id: str | None) -> Context:
    """The context an envelope's ``trace_id`` (a ``traceparent``) continues; empty if none."""
    if not trace_id or not trace_id.startswith("00-"):
        return Context()
    return _PROPAGATOR.extract({"traceparent": trace_id})


class TracingInterceptor(HubInterceptor, ClientInterceptor):
    """Spans for the hub's admissions and a client's posts, turns, model and tool calls.

    Args:
        tracer_provider: where spans go (default: the global provider).
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self.tracer: Tracer = trace.get_tracer("hubbub", tracer_provider=tracer_provider)

    # ---------------------------------------------------------------- hub side

    async def intercept_admit(self, envelope: Envelope, call_next: AdmitCall) -> Envelope:
        """A SERVER span around every admission, a child of the envelope's trace."""
        attributes = {
            "gen_ai.conversation.id": envelope.session_id,
            "hubbub.event_type": envelope.event_type,
            "hubbub.sender_id": envelope.sender_id,
        }
        with self.tracer.start_as_current_span(
            f"hubbub.admit {envelope.event_type}",
            context=context_of(envelope.trace_id) if envelope.trace_id else None,
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                stamped = await call_next(envelope)
            except NetworkError as exc:
                span.set_attribute("hubbub.error.code", exc.code)
                span.set_status(Status(StatusCode.ERROR, exc.code))
                raise
            span.set_attribute("hubbub.sequence", stamped.sequence)
            span.set_attribute("hubbub.envelope_id", stamped.envelope_id)
            return stamped

    # ---------------------------------------------------------------- client side

    async def intercept_post(self, envelope: Envelope, nxt: PostNext) -> Envelope:
        """A PRODUCER span around a post; its traceparent goes into ``envelope.trace_id``."""
        et = envelope.event_type
        if is_protocol_event(et) and et != EV_TURN_FAILED:
            return await nxt(envelope)  # acks and the like: no span of their own
        with self.tracer.start_as_current_span(
            f"post {et}",
            kind=SpanKind.PRODUCER,
            attributes={
                "gen_ai.conversation.id": envelope.session_id,
                "hubbub.event_type": et,
                "hubbub.sender_id": envelope.sender_id,
            },
        ) as span:
            if envelope.trace_id is None:
                envelope.trace_id = traceparent()
            stamped = await nxt(envelope)
            span.set_attribute("hubbub.envelope_id", stamped.envelope_id)
            span.set_attribute("hubbub.sequence", stamped.sequence)
            return stamped

    async def intercept_turn(
        self,
        envelope: Envelope,
        client: AgentClient,
        observers: tuple[Observer, ...],
        nxt: TurnNext,
    ) -> Envelope | None:
        """An ``invoke_agent`` span around the turn, a child of the post it answers."""
        name = client.passport.name
        model = model_name(client.agent.config)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": name,
            "gen_ai.agent.id": client.agent_id,
            "gen_ai.conversation.id": envelope.session_id,
            "hubbub.envelope_id": envelope.envelope_id,
        }
        if model is not None:
            attributes["gen_ai.request.model"] = model
        with self.tracer.start_as_current_span(
            f"invoke_agent {name}",
            context=context_of(envelope.trace_id),
            kind=SpanKind.INTERNAL,
            attributes=attributes,
        ) as span:
            spans = _TurnSpans(
                self.tracer, trace.set_span_in_context(span), envelope.session_id, model
            )
            reply = await nxt((*observers, spans))
            usage = reply.event_data.get("usage") if reply is not None else None
            if isinstance(usage, dict):
                span.set_attribute("gen_ai.usage.input_tokens", int(usage.get("input_tokens", 0)))
                span.set_attribute("gen_ai.usage.output_tokens", int(usage.get("output_tokens", 0)))
                if isinstance(usage.get("model"), str):
                    span.set_attribute("gen_ai.response.model", usage["model"])
            return reply


class _TurnSpans:
    """An observer on a turn's stream that makes its ``chat`` and ``execute_tool`` spans.

    A model call runs from the request (or the tool results) published before it to
    the response published after it; a tool call from its call event to its result.
    Spans are made when the call is over, with the times its events were published.
    """

    def __init__(
        self, tracer: Tracer, parent: Context, conversation_id: str, model: str | None
    ) -> None:
        self.tracer = tracer
        self.parent = parent
        self.conversation_id = conversation_id
        self.model = model
        self.chat_started: int | None = None
        self.usage: UsageEvent | None = None
        self.tools: dict[str, tuple[int, ToolCallEvent]] = {}

    def register(self, stream: Stream, ctx: ConversationContext) -> Iterable[Any]:
        """Subscribe to every event of the turn's stream."""
        return (stream.subscribe(self.on_event, sync_to_thread=False),)

    def on_event(self, event: BaseEvent) -> None:
        """Start or finish a model or tool call span from one published event."""
        now = time.time_ns()
        if isinstance(event, ModelRequest | ToolResultsEvent):
            self.chat_started, self.usage = now, None
        elif isinstance(event, UsageEvent):
            self.usage = event
        elif isinstance(event, ModelResponse):
            self._chat(event, now)
        elif isinstance(event, ToolCallEvent):
            self.tools[event.id] = (now, event)
        elif isinstance(event, ToolResultEvent):
            started = self.tools.pop(event.parent_id, None)
            if started is not None:
                self._tool(started[0], started[1], event, now)

    def _chat(self, response: ModelResponse, now: int) -> None:
        started, usage = self.chat_started, self.usage
        self.chat_started, self.usage = None, None
        if started is None or (response.response_force and usage is None):
            return  # a final tool result ends the turn: no model call happened
        model = response.model or (usage.model if usage is not None else None) or self.model
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.conversation.id": self.conversation_id,
        }
        if self.model is not None:
            attributes["gen_ai.request.model"] = self.model
        if model is not None:
            attributes["gen_ai.response.model"] = model
        if response.provider:
            attributes["gen_ai.provider.name"] = response.provider
        if response.finish_reason:
            attributes["gen_ai.response.finish_reasons"] = [response.finish_reason]
        tokens = usage.usage if usage is not None else response.usage
        attributes["gen_ai.usage.input_tokens"] = int(tokens.prompt_tokens or 0)
        attributes["gen_ai.usage.output_tokens"] = int(tokens.completion_tokens or 0)
        span = self.tracer.start_span(
            f"chat {self.model or model or 'unknown'}",
            context=self.parent,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=started,
        )
        span.end(end_time=now)

    def _tool(self, started: int, call: ToolCallEvent, result: ToolResultEvent, now: int) -> None:
        span = self.tracer.start_span(
            f"execute_tool {call.name}",
            context=self.parent,
            kind=SpanKind.INTERNAL,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": call.name,
                "gen_ai.tool.call.id": call.id,
                "gen_ai.conversation.id": self.conversation_id,
            },
            start_time=started,
        )
        if isinstance(result, ToolErrorEvent):
            span.set_status(Status(StatusCode.ERROR, str(result.error)))
        span.end(end_time=now)
