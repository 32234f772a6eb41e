"""Before a workflow round's packet is built: a ``Handoff`` naming an agent by name gets its id.

A tool returns ``Handoff(target="security")`` with a passport name; the packet must
carry an agent id (the hub's adapter checks it against the participants). The names
are resolved through the hub (``get_agent``); a name the hub does not know is left
as it is, and the hub refuses the packet naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hubbub.events import DataInput, ToolErrorEvent, ToolResultEvent, ToolResultsEvent
from hubbub.network.errors import NetworkError
from hubbub.network.handoff import Handoff
from hubbub.network.session import SessionMetadata

if TYPE_CHECKING:
    from hubbub.network.client.agent_client import AgentClient

__all__ = ["resolve_handoffs"]


def _handoff_parts(events: Sequence[Any]) -> list[DataInput]:
    parts: list[DataInput] = []
    for event in events:
        if isinstance(event, ToolResultsEvent):
            results: Sequence[Any] = event.results
        elif isinstance(event, ToolResultEvent):
            results = (event,)
        else:
            continue
        for result in results:
            if isinstance(result, ToolErrorEvent):
                continue
            for part in result.result.parts:
                if isinstance(part, DataInput) and isinstance(part.data, Handoff):
                    parts.append(part)
    return parts


async def resolve_handoffs(
    client: AgentClient, metadata: SessionMetadata, events: Sequence[Any]
) -> None:
    """Replace, in the round's own events, each Handoff target that is a name by its agent id."""
    parts = _handoff_parts(events)
    if not parts:
        return
    members = set(metadata.participant_ids())
    for part in parts:
        handoff: Handoff = part.data
        if handoff.target in members:
            continue
        try:
            passport = await client.hub_client.get_agent(handoff.target)
        except NetworkError:
            continue  # unknown: the hub refuses the packet, naming the target
        if passport.agent_id:
            part.data = Handoff(passport.agent_id, handoff.reason)
