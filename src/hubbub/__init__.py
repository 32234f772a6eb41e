"""hubbub: a runtime for networks of LLM agents.

The top level re-exports the agent layer: ``Agent`` and its reply, DI markers, streams,
plugins, tools, tasks and input parts.
"""

from __future__ import annotations

from hubbub.agent import Agent, AgentReply
from hubbub.di import Context, Depends, Inject, Variable
from hubbub.events import BinaryInput, DataInput, TextInput, ToolResult
from hubbub.plugin import Plugin, observer
from hubbub.stream import MemoryStream
from hubbub.task import Task, TaskInject, TaskSpec
from hubbub.tools import Toolkit, tool

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentReply",
    "BinaryInput",
    "Context",
    "DataInput",
    "Depends",
    "Inject",
    "MemoryStream",
    "Plugin",
    "Task",
    "TaskInject",
    "TaskSpec",
    "TextInput",
    "ToolResult",
    "Toolkit",
    "Variable",
    "__version__",
    "observer",
    "tool",
]
