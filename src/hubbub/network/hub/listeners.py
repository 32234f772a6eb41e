"""Hub listeners: code that hears what the hub did (spec §15).

A listener implements any of the :class:`HubListener` methods (all async;
:class:`BaseHubListener` gives no-op defaults to subclass). ``hub.register_listener``
adds one; every event reaches every listener in registration order, one listener
at a time, after the hub did what the event reports (an envelope is durable before
``on_envelope_posted``). A listener that raises is logged and skipped: it never
breaks the hub, a post, or the next listener. Events are queued and delivered by
one task, in the order they happened, so a slow listener never slows a post; see
``Hub.flush_listeners`` to wait for them. Tracing, metrics and custom sinks plug in
here (one registration each).

Events and their ``kind`` values:

* ``on_envelope_posted(envelope, metadata)`` — every envelope the WAL takes (hub-written
  lifecycle envelopes too), with a snapshot of its session's metadata;
* ``on_envelope_rejected(envelope, reason)`` — a post refused; ``reason`` is
  ``"<code>: <message>"`` of the error the sender got;
* ``on_dispatch_failed(envelope, recipient_id, exc)`` — a connected recipient's
  delivery raised, or the arbiter denied it (``exc`` the Deny's error);
* ``on_session_event(session_id, kind, payload)`` — ``created``, ``opened``,
  ``closed``, ``expired``;
* ``on_agent_event(agent_id, kind, payload)`` — ``registered``, ``unregistered``,
  ``resume_set``, ``skill_set``, ``rule_set``, ``observation_recorded``;
* ``on_expectation_fired(session_id, expectation, violation)``;
* ``on_turn_failed(session_id, agent_id, envelope_id, exc)`` — a client reported a
  crashed turn (over the wire ``exc`` is a :class:`ReportedTurnFailure`);
* ``on_task_event(task_id, kind, payload)`` — a task was ``observed`` (new),
  ``updated`` or ``terminated``; ``payload`` is its record (``TaskMetadata.to_dict()``);
* ``on_inbox_pressure(agent_id, pending, cap)`` — a delivery brought an agent's
  unreceipted envelopes up to its ``Rule.limits.inbox`` high-water mark (``cap``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from hubbub.network.envelope import Envelope
    from hubbub.network.expectations import Violation
    from hubbub.network.session import Expectation, SessionMetadata

__all__ = ["LISTENER_EVENTS", "BaseHubListener", "HubListener", "ReportedTurnFailure"]

#: The listener methods, in the order of the docstring.
LISTENER_EVENTS = (
    "on_envelope_posted",
    "on_envelope_rejected",
    "on_dispatch_failed",
    "on_session_event",
    "on_agent_event",
    "on_expectation_fired",
    "on_turn_failed",
    "on_task_event",
    "on_inbox_pressure",
)


class ReportedTurnFailure(Exception):
    """A turn failure a client reported by type name and message (no exception object).

    Attributes:
        error_type: the name of the exception class the client's turn raised.
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@runtime_checkable
class HubListener(Protocol):
    """What a hub listener may implement (see the module docstring)."""

    async def on_envelope_posted(self, envelope: Envelope, metadata: SessionMetadata) -> None:
        """An envelope is durable on its session's WAL."""
        ...

    async def on_envelope_rejected(self, envelope: Envelope, reason: str) -> None:
        """A post was refused."""
        ...

    async def on_dispatch_failed(
        self, envelope: Envelope, recipient_id: str, exc: BaseException
    ) -> None:
        """A delivery to a connected recipient failed or was denied."""
        ...

    async def on_session_event(self, session_id: str, kind: str, payload: dict[str, Any]) -> None:
        """A session was created, opened, closed or expired."""
        ...

    async def on_agent_event(self, agent_id: str, kind: str, payload: dict[str, Any]) -> None:
        """An agent was registered or unregistered, or one of its records changed."""
        ...

    async def on_expectation_fired(
        self, session_id: str, expectation: Expectation, violation: Violation
    ) -> None:
        """An expectation fired (once per violation key) before its handler runs."""
        ...

    async def on_turn_failed(
        self, session_id: str, agent_id: str, envelope_id: str, exc: BaseException
    ) -> None:
        """A participant's turn crashed."""
        ...

    async def on_task_event(self, task_id: str, kind: str, payload: dict[str, Any]) -> None:
        """A task changed state."""
        ...

    async def on_inbox_pressure(self, agent_id: str, pending: int, cap: int) -> None:
        """An agent's inbox reached its high-water mark."""
        ...


class BaseHubListener:
    """A listener that does nothing: subclass it and override what you want to hear."""

    async def on_envelope_posted(self, envelope: Envelope, metadata: SessionMetadata) -> None:
        """Nothing."""

    async def on_envelope_rejected(self, envelope: Envelope, reason: str) -> None:
        """Nothing."""

    async def on_dispatch_failed(
        self, envelope: Envelope, recipient_id: str, exc: BaseException
    ) -> None:
        """Nothing."""

    async def on_session_event(self, session_id: str, kind: str, payload: dict[str, Any]) -> None:
        """Nothing."""

    async def on_agent_event(self, agent_id: str, kind: str, payload: dict[str, Any]) -> None:
        """Nothing."""

    async def on_expectation_fired(
        self, session_id: str, expectation: Expectation, violation: Violation
    ) -> None:
        """Nothing."""

    async def on_turn_failed(
        self, session_id: str, agent_id: str, envelope_id: str, exc: BaseException
    ) -> None:
        """Nothing."""

    async def on_task_event(self, task_id: str, kind: str, payload: dict[str, Any]) -> None:
        """Nothing."""

    async def on_inbox_pressure(self, agent_id: str, pending: int, cap: int) -> None:
        """Nothing."""
