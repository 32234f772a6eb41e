"""Dynamic routing in a workflow: a tool that returns a :class:`Handoff`.

When a tool called during a workflow turn returns ``Handoff(target, reason)``, the
round's packet is routed to ``target`` (an agent name or id; the default handler
resolves a name through the hub before the packet is built). A handoff wins over
any ``ToolCalled`` rule for the same round, and a handoff to someone who is not a
participant is refused by the hub when the packet is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Handoff", "make_handoff_tools"]


@dataclass(slots=True, frozen=True)
class Handoff:
    """Route this round to ``target`` (a participant's name or agent id)."""

    target: str
    reason: str = ""


def make_handoff_tools(handoffs: Mapping[str, str], description: str | None = None) -> list[Any]:
    """One tool per ``{tool_name: target_name}`` pair; each returns ``Handoff(target, reason)``.

    ``description`` (default ``"Hand off to <target>."``) is every tool's description.
    """
    from hubbub.tools import tool

    out = []
    for tool_name, target in handoffs.items():
        if not isinstance(tool_name, str) or not tool_name:
            raise ValueError(
                f"make_handoff_tools: a tool name must be a non-empty string, got {tool_name!r}"
            )
        if not isinstance(target, str) or not target:
            raise ValueError(
                f"make_handoff_tools: the target of {tool_name!r} must be a non-empty string, got {target!r}"
            )

        def make(target: str = target) -> Any:
            def handoff(reason: str = "") -> Handoff:
                return Handoff(target, reason)

            return handoff

        out.append(
            tool(make(), name=tool_name, description=description or f"Hand off to {target}.")
        )
    return out
