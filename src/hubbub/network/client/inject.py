"""Injection aliases for tools that run inside a network turn.

Each alias is ``Annotated[Any, Inject(<key>, default=None)]`` over a key the default
handler stamps into every turn (see ``hubbub.network.policies``). Outside a network
turn they resolve to ``None``, so a tool must guard::

    async def end_conversation(reason: str, session: SessionInject) -> str:
        if session is None:
            return "Error: not in a session"
        await session.close(reason=f"agent_close:{reason}")
        return "closed"
"""

from __future__ import annotations

from typing import Annotated, Any

from hubbub.di import Inject
from hubbub.network.policies import (
    AGENT_CLIENT_DEP,
    HUB_DEP,
    SESSION_DEP,
    SESSION_STATE_DEP,
    TASK_DEP,
)

__all__ = [
    "AgentClientInject",
    "HubInject",
    "SessionInject",
    "SessionStateInject",
    "TaskInject",
]

SessionInject = Annotated[Any, Inject(SESSION_DEP, default=None)]
"""The turn's :class:`~hubbub.network.client.Session` handle, or None."""

SessionStateInject = Annotated[Any, Inject(SESSION_STATE_DEP, default=None)]
"""The session's adapter state at the start of the turn, or None."""

AgentClientInject = Annotated[Any, Inject(AGENT_CLIENT_DEP, default=None)]
"""The :class:`~hubbub.network.client.AgentClient` running the turn, or None."""

HubInject = Annotated[Any, Inject(HUB_DEP, default=None)]
"""The in-process hub the client was built with, or None."""

TaskInject = Annotated[Any, Inject(TASK_DEP, default=None)]
"""The active task of the turn, or None."""
