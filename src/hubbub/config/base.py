"""Model-config and client protocols every provider implements."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from hubbub.context import ConversationContext
    from hubbub.events import BaseEvent, ModelResponse
    from hubbub.tool_schema import FunctionToolSchema

__all__ = ["LLMClient", "ModelConfig", "ModelProvider", "Serializer"]

Serializer = Callable[[Any], str]
"""Encodes a tool-result / data object to JSON text for the wire."""


class ModelProvider(enum.StrEnum):
    """Known model providers (string-valued)."""

    ANTHROPIC = "anthropic"
    OPENAI = "openai"
    OPENAI_RESPONSES = "openai_responses"
    GEMINI = "gemini"
    BEDROCK = "bedrock"
    MISTRAL = "mistral"
    OLLAMA = "ollama"
    XAI = "xai"
    TEST = "test"


@runtime_checkable
class LLMClient(Protocol):
    """A per-turn model client: converts history to a provider call, returns one response.

    The client reads ``context.prompt`` as the system prompt, may publish transient
    events (chunks, reasoning, the final ``ModelMessage``) via ``await context.send(...)``,
    and returns a single ``ModelResponse`` (with usage/model/provider/finish_reason when known).
    """

    async def __call__(
        self,
        messages: Sequence[BaseEvent],
        context: ConversationContext,
        *,
        tools: Iterable[FunctionToolSchema] = (),
        response_schema: Any = None,
        serializer: Serializer | None = None,
    ) -> ModelResponse:
        """Run one model call over ``messages`` and return its response."""
        ...


@runtime_checkable
class ModelConfig(Protocol):
    """A model configuration: names a provider/model and creates clients."""

    @property
    def provider(self) -> ModelProvider | str:
        """Return the provider."""
        ...

    @property
    def model(self) -> str:
        """Return the model name."""
        ...

    def copy(self, **overrides: Any) -> ModelConfig:
        """Return a copy with ``overrides`` applied."""
        ...

    def create(self) -> LLMClient:
        """Create a client; called by the agent at the start of every turn."""
        ...
