"""Observers: watchdogs over an agent's stream that raise alerts (spec §26).

A :class:`BaseObserver` watches events of some types on every turn's stream (add
it like any observer: ``Agent(..., observers=[LoopDetector()])`` or
``agent.ask(..., observers=[...])``). For each watched event it calls
``process(events, ctx)``; an :class:`ObserverAlert` it returns is published on
the same stream, where the caller (or another observer) can pick it up::

    agent = Agent("a", config=..., observers=[LoopDetector(), TokenMonitor()])
    alerts: list[ObserverAlert] = []
    await agent.ask("hi", observers=[observer(ObserverAlert, alerts.append)])

Alerts are stream events that never reach the model (non-conversational).
Observers keep their counts across turns; ``reset()`` starts them afresh.

* :class:`LoopDetector` — the last ``repeat_threshold`` tool calls are the same
  call (name and arguments): one WARNING per distinct call.
* :class:`TokenMonitor` — the summed ``usage.total_tokens`` of model responses and
  completed tasks passed ``warn_threshold`` (one WARNING) / ``alert_threshold``
  (one CRITICAL).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from hubbub.context import ConversationContext
from hubbub.events import BaseEvent, ModelResponse, TaskCompleted, ToolCallEvent
from hubbub.stream import Stream

__all__ = ["BaseObserver", "LoopDetector", "ObserverAlert", "Severity", "TokenMonitor"]


class Severity(enum.Enum):
    """How bad an alert is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    FATAL = "fatal"


@dataclass(slots=True)
class ObserverAlert(BaseEvent):
    """An observer's finding, published on the stream it watched.

    Attributes:
        source: the observer's ``name``.
        severity: how bad it is.
        message: one line for a human.
        data: the figures behind it (JSON-friendly).
    """

    __conversational__: ClassVar[bool] = False

    source: str = ""
    severity: Severity = Severity.INFO
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class BaseObserver:
    """An observer that hands each watched event to :meth:`process` and publishes its alert.

    Args:
        name: the ``source`` of this observer's alerts.
        watch: the event types it processes.
    """

    def __init__(self, name: str, watch: Sequence[type[BaseEvent]]) -> None:
        self.name = name
        self.watch = tuple(watch)

    def register(self, stream: Stream, ctx: ConversationContext) -> Iterable[Any]:
        """Subscribe on ``stream`` for the turn (the :class:`~hubbub.plugin.Observer` protocol)."""

        async def on_event(event: BaseEvent) -> None:
            alert = await self.process([event], ctx)
            if alert is not None:
                await stream.send(alert, ctx)

        return (stream.subscribe(on_event, condition=self.watch, sync_to_thread=False),)

    async def process(
        self, events: Sequence[BaseEvent], ctx: ConversationContext
    ) -> ObserverAlert | None:
        """Look at ``events`` (oldest first); return an alert or None. Override this."""
        return None

    def reset(self) -> None:
        """Forget what was seen (override in observers that keep state)."""

    def alert(self, severity: Severity, message: str, **data: Any) -> ObserverAlert:
        """An alert from this observer."""
        return ObserverAlert(source=self.name, severity=severity, message=message, data=data)


class LoopDetector(BaseObserver):
    """Warns when an agent keeps making the same tool call.

    Args:
        window_size: how many recent tool calls are kept.
        repeat_threshold: how many identical calls in a row make a loop (at most
            ``window_size``).
        name: the alerts' ``source``.
    """

    def __init__(
        self, window_size: int = 10, repeat_threshold: int = 3, *, name: str = "loop-detector"
    ) -> None:
        if repeat_threshold < 2:
            raise ValueError("LoopDetector: repeat_threshold must be >= 2")
        if window_size < repeat_threshold:
            raise ValueError("LoopDetector: window_size must be >= repeat_threshold")
        super().__init__(name, [ToolCallEvent])
        self.window_size = window_size
        self.repeat_threshold = repeat_threshold
        self._window: deque[tuple[str, str]] = deque(maxlen=window_size)
        self._alerted: set[tuple[str, str]] = set()

    async def process(
        self, events: Sequence[BaseEvent], ctx: ConversationContext
    ) -> ObserverAlert | None:
        """WARNING the first time the last ``repeat_threshold`` calls are one call."""
        found: ObserverAlert | None = None
        for event in events:
            if not isinstance(event, ToolCallEvent):
                continue
            key = (event.name, _canonical_arguments(event.arguments))
            self._window.append(key)
            recent = list(self._window)[-self.repeat_threshold :]
            if (
                len(recent) == self.repeat_threshold
                and all(k == key for k in recent)
                and key not in self._alerted
            ):
                self._alerted.add(key)
                found = self.alert(
                    Severity.WARNING,
                    f"tool {event.name!r} called {self.repeat_threshold} times in a row "
                    "with the same arguments",
                    tool=event.name,
                    arguments=event.arguments,
                    repeats=self.repeat_threshold,
                )
        return found

    def reset(self) -> None:
        """Forget the recent calls and the loops already reported."""
        self._window.clear()
        self._alerted.clear()


class TokenMonitor(BaseObserver):
    """Sums the tokens an agent spends and alerts at two thresholds.

    Args:
        warn_threshold: total tokens at which one WARNING is raised.
        alert_threshold: total tokens at which one CRITICAL is raised.
        name: the alerts' ``source``.
    """

    def __init__(
        self,
        warn_threshold: int = 50_000,
        alert_threshold: int = 100_000,
        *,
        name: str = "token-monitor",
    ) -> None:
        if not 0 < warn_threshold <= alert_threshold:
            raise ValueError("TokenMonitor: need 0 < warn_threshold <= alert_threshold")
        super().__init__(name, [ModelResponse, TaskCompleted])
        self.warn_threshold = warn_threshold
        self.alert_threshold = alert_threshold
        self.total_tokens = 0.0
        self._warned = False
        self._alerted = False

    async def process(
        self, events: Sequence[BaseEvent], ctx: ConversationContext
    ) -> ObserverAlert | None:
        """Add the events' ``usage.total_tokens``; alert when a threshold is first reached."""
        for event in events:
            if isinstance(event, ModelResponse | TaskCompleted):
                self.total_tokens += event.usage.total_tokens or 0
        total = self.total_tokens
        if total >= self.alert_threshold and not self._alerted:
            self._alerted = self._warned = True
            return self.alert(
                Severity.CRITICAL,
                f"{total:.0f} tokens used, over the alert threshold of {self.alert_threshold}",
                total_tokens=total,
                threshold=self.alert_threshold,
            )
        if total >= self.warn_threshold and not self._warned:
            self._warned = True
            return self.alert(
                Severity.WARNING,
                f"{total:.0f} tokens used, over the warning threshold of {self.warn_threshold}",
                total_tokens=total,
                threshold=self.warn_threshold,
            )
        return None

    def reset(self) -> None:
        """Start counting from zero (both alerts may fire again)."""
        self.total_tokens = 0.0
        self._warned = self._alerted = False


def _canonical_arguments(arguments: str) -> str:
    """The arguments with insignificant JSON spacing and key order removed (text otherwise)."""
    try:
        return orjson.dumps(orjson.loads(arguments or "{}"), option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONDecodeError:
        return arguments
