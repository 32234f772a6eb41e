"""Fixtures for the provider-config tests: fake provider servers and a recording context."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

_ROOT = Path(__file__).resolve().parents[2]


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


# ``tests.fakes`` needs the repository root on sys.path (``python -m pytest`` adds it; the
# bare ``pytest`` script does not); ``hubbub`` needs ``src`` when it is not installed.
if not _importable("tests.fakes"):  # pragma: no cover - environment
    sys.path.insert(0, str(_ROOT))
if not _importable("hubbub"):  # pragma: no cover - environment
    sys.path.insert(0, str(_ROOT / "src"))

from tests.fakes import anthropic_server, openai_server  # noqa: E402

from hubbub.context import ConversationContext  # noqa: E402
from hubbub.events import BaseEvent  # noqa: E402

__all__ = ["RecordingStream", "anthropic_server", "make_context", "openai_server"]


class RecordingStream:
    """The smallest stream a client needs: ``send`` records what the client published."""

    def __init__(self) -> None:
        self.events: list[BaseEvent] = []

    async def send(self, event: BaseEvent, context: Any = None) -> None:
        self.events.append(event)


ContextFactory = Callable[..., tuple[ConversationContext, RecordingStream]]


@pytest.fixture
def make_context() -> ContextFactory:
    """``make_context(*prompt)`` → a context with that system prompt and its recording stream."""

    def factory(*prompt: str) -> tuple[ConversationContext, RecordingStream]:
        stream = RecordingStream()
        return ConversationContext(stream=stream, prompt=list(prompt)), stream  # type: ignore[arg-type]

    return factory
