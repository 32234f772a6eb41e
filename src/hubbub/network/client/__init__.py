"""The client side of the network: HubClient, AgentClient, HumanClient, Session, default
handler, tools."""

from __future__ import annotations

from hubbub.network.client.agent_client import AgentClient, EnvelopeHandler
from hubbub.network.client.checkpoints import (
    CheckpointStore,
    HubBackedCheckpointStore,
    MemoryCheckpointStore,
)
from hubbub.network.client.handlers import (
    default_handler,
    read_wal_until,
    resolve_view_policy,
    stamp_dependencies,
)
from hubbub.network.client.hub_client import HubClient
from hubbub.network.client.human_client import HumanClient, HumanDrops
from hubbub.network.client.inject import (
    AgentClientInject,
    HubInject,
    SessionInject,
    SessionStateInject,
    TaskInject,
)
from hubbub.network.client.plugin import NetworkContextPolicy, NetworkPlugin, identity_line
from hubbub.network.client.session import Session
from hubbub.network.client.task_mirror import TaskMirror
from hubbub.network.client.task_tool import build_tasks_tool

__all__ = [
    "AgentClient",
    "AgentClientInject",
    "CheckpointStore",
    "EnvelopeHandler",
    "HubBackedCheckpointStore",
    "MemoryCheckpointStore",
    "HubClient",
    "HubInject",
    "HumanClient",
    "HumanDrops",
    "NetworkContextPolicy",
    "NetworkPlugin",
    "Session",
    "SessionInject",
    "SessionStateInject",
    "TaskInject",
    "TaskMirror",
    "build_tasks_tool",
    "default_handler",
    "identity_line",
    "read_wal_until",
    "resolve_view_policy",
    "stamp_dependencies",
]
