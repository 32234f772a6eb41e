"""Provider-neutral tool schemas handed to model clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["FunctionDefinition", "FunctionToolSchema", "ToolSchema"]


@dataclass(slots=True, frozen=True)
class FunctionDefinition:
    """Name, description and JSON-Schema ``parameters`` of one function tool."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(slots=True, frozen=True)
class FunctionToolSchema:
    """A function tool as offered to a model: ``type="function"`` plus its definition."""

    function: FunctionDefinition
    type: Literal["function"] = "function"
    defer_loading: bool = False

    @property
    def name(self) -> str:
        """Return the function name."""
        return self.function.name


ToolSchema = FunctionToolSchema
"""The schema type every :class:`hubbub.config.LLMClient` receives in ``tools=``."""
