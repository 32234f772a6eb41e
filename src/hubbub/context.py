"""The conversation context: what a turn, its tools and its subscribers share."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubbub.events import BaseEvent
    from hubbub.stream import Stream

__all__ = ["ConversationContext"]


@dataclass(slots=True)
class ConversationContext:
    """The live state of one turn: its stream, DI values, system prompt and current tool call.

    Attributes:
        stream: The stream the turn runs on; ``await ctx.send(event)`` publishes on it.
        dependency_provider: Overrides for ``Depends`` targets (``{original: replacement}``).
        variables: Per-turn variables (``Variable`` injection reads these).
        dependencies: Per-turn dependencies (``Inject`` reads these; any hashable key).
        prompt: The system-prompt fragments of the turn (providers join them with "\\n").
        tool_call_id: The id of the tool call being executed, inside a tool; else None.
    """

    stream: Stream
    dependency_provider: dict[Any, Any] | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    dependencies: dict[Any, Any] = field(default_factory=dict)
    prompt: list[str] = field(default_factory=list)
    tool_call_id: str | None = None

    async def send(self, event: BaseEvent) -> None:
        """Publish ``event`` on the context's stream (persisted unless transient)."""
        await self.stream.send(event, self)

    def enqueue(self, *content: Any) -> None:
        """Queue a follow-up user message that the running turn drains before its next call."""
        self.stream.enqueue(*content)

    def spawn_background(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a background task owned by the stream."""
        return self.stream.spawn_background(coro)

    def for_tool_call(self, call_id: str) -> ConversationContext:
        """Return a sibling context (same dicts and stream) with ``tool_call_id`` set."""
        return ConversationContext(
            self.stream,
            self.dependency_provider,
            self.variables,
            self.dependencies,
            self.prompt,
            call_id,
        )
