"""Model configurations; provider configs are imported lazily (no SDK import here)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hubbub.config.base import LLMClient, ModelConfig, ModelProvider, Serializer

if TYPE_CHECKING:
    from hubbub.config.anthropic import AnthropicConfig
    from hubbub.config.openai import OpenAIConfig

__all__ = [
    "AnthropicConfig",
    "LLMClient",
    "ModelConfig",
    "ModelProvider",
    "OpenAIConfig",
    "Serializer",
]

_LAZY = {
    "AnthropicConfig": "hubbub.config.anthropic",
    "OpenAIConfig": "hubbub.config.openai",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hubbub.config' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
