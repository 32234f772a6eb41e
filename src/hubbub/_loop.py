"""The agent loop of one turn: model call → tools (concurrently) → model call → ... → reply.

Kept free of per-turn allocation beyond the events themselves: tool maps and schema
tuples are prepared by the agent, policies run only when present.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from hubbub.assembly import AssemblyPolicy, apply_policies
from hubbub.config.base import LLMClient
from hubbub.context import ConversationContext
from hubbub.events import (
    BaseEvent,
    DataInput,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextInput,
    ToolCallEvent,
    ToolErrorEvent,
    ToolResultEvent,
    ToolResultsEvent,
    UsageEvent,
    _json_default,
)
from hubbub.exceptions import MaxToolRoundsExceeded
from hubbub.tool_schema import FunctionToolSchema
from hubbub.tools import Tool, not_found_event

__all__ = ["TurnPlan", "json_serializer", "project_own_messages", "run_turn"]


def json_serializer(obj: Any) -> str:
    """Encode a tool-result / data object as JSON text (dataclasses, pydantic models ok)."""
    return orjson.dumps(obj, default=_json_default).decode()


def project_own_messages(events: list[BaseEvent]) -> list[BaseEvent]:
    """Return ``events`` with every bare ``ModelMessage`` turned into ``ModelResponse(msg)``.

    Seeded histories may carry the agent's own earlier messages as ``ModelMessage``; a
    provider only renders ``ModelResponse`` as an assistant turn, so project them.
    """
    for i, e in enumerate(events):
        if type(e) is ModelMessage:
            out = events[:i]
            for e2 in events[i:]:
                out.append(ModelResponse(e2) if type(e2) is ModelMessage else e2)
            return out
    return events


@dataclass(slots=True)
class TurnPlan:
    """Everything one turn needs besides the context."""

    client: LLMClient
    tools: dict[str, Tool]
    schemas: tuple[FunctionToolSchema, ...]
    policies: Sequence[AssemblyPolicy]
    max_tool_rounds: int | None
    response_schema: Any = None


async def _call_model(plan: TurnPlan, ctx: ConversationContext) -> ModelResponse:
    stream = ctx.stream
    events = project_own_messages(await stream.history.get_events())
    if plan.policies:
        saved = ctx.prompt
        prompts, events = await apply_policies(plan.policies, saved, events, ctx)
        ctx.prompt = prompts
        try:
            response = await plan.client(
                events,
                ctx,
                tools=plan.schemas,
                response_schema=plan.response_schema,
                serializer=json_serializer,
            )
        finally:
            ctx.prompt = saved
    else:
        response = await plan.client(
            events,
            ctx,
            tools=plan.schemas,
            response_schema=plan.response_schema,
            serializer=json_serializer,
        )
    if response.usage:
        await stream.send(
            UsageEvent(
                response.usage,
                model=response.model,
                provider=response.provider,
                finish_reason=response.finish_reason,
            ),
            ctx,
        )
    await stream.send(response, ctx)
    return response


async def _run_call(
    call: ToolCallEvent, plan: TurnPlan, ctx: ConversationContext
) -> ToolResultEvent:
    await ctx.stream.send(call, ctx)
    t = plan.tools.get(call.name)
    result = not_found_event(call) if t is None else await t.invoke(call, ctx)
    await ctx.stream.send(result, ctx)
    return result


def _final_body(result: ToolResultEvent) -> str:
    parts = result.result.parts
    if len(parts) != 1:
        return result.result.to_text()
    part = parts[0]
    if isinstance(part, TextInput):
        return part.content
    if isinstance(part, DataInput):
        return part.data if isinstance(part.data, str) else part.to_json()
    return result.result.to_text()


async def run_turn(
    request: ModelRequest, plan: TurnPlan, ctx: ConversationContext
) -> ModelResponse:
    """Publish ``request`` and drive model calls and tool rounds until a final response.

    Raises:
        MaxToolRoundsExceeded: the model asked for more than ``plan.max_tool_rounds`` rounds.
    """
    stream = ctx.stream
    await stream.send(request, ctx)
    rounds = 0
    while True:
        response = await _call_model(plan, ctx)
        calls = response.tool_calls.calls
        if not calls or response.response_force:
            drain = getattr(stream, "drain_pending", None)
            pending = drain() if drain is not None else ()
            if not pending:
                return response
            await stream.send(ModelRequest.ensure_request(pending), ctx)
            continue
        rounds += 1
        limit = plan.max_tool_rounds
        if limit is not None and rounds > limit:
            raise MaxToolRoundsExceeded(
                f"the model requested tool round {rounds} but max_tool_rounds={limit}; "
                f"last calls: {', '.join(c.name for c in calls)}"
            )
        await stream.send(response.tool_calls, ctx)
        if len(calls) == 1:
            results = [await _run_call(calls[0], plan, ctx)]
        else:
            results = list(await asyncio.gather(*(_run_call(c, plan, ctx) for c in calls)))
        await stream.send(ToolResultsEvent(results), ctx)
        for r in results:
            if r.result.final and not isinstance(r, ToolErrorEvent):
                final = ModelResponse(ModelMessage(_final_body(r)), response_force=True)
                await stream.send(final, ctx)
                return final
