"""Assembly policies: transform the system prompt and the event list before each model call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from hubbub.context import ConversationContext
    from hubbub.events import BaseEvent

__all__ = ["AssemblyPolicy", "apply_policies"]


@runtime_checkable
class AssemblyPolicy(Protocol):
    """Edits what one model call sees; must not mutate the stream.

    ``apply`` receives the prompt fragments and history events (each policy sees the
    previous policy's output) and returns the new pair. The agent runs every policy
    before **every** model call of a turn, whenever it was added.
    """

    name: str

    async def apply(
        self, prompts: list[str], events: list[BaseEvent], ctx: ConversationContext
    ) -> tuple[list[str], list[BaseEvent]]:
        """Return the transformed ``(prompts, events)``."""
        ...


async def apply_policies(
    policies: Sequence[AssemblyPolicy],
    prompts: list[str],
    events: list[BaseEvent],
    ctx: ConversationContext,
) -> tuple[list[str], list[BaseEvent]]:
    """Run ``policies`` in order over copies of ``prompts``/``events``."""
    p, e = list(prompts), list(events)
    for policy in policies:
        p, e = await policy.apply(p, e, ctx)
        p, e = list(p), list(e)
    return p, e
