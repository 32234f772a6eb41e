"""The error tree of the agent layer.

::

    HubbubError (alias AG2Error)
    ├── ConfigNotProvidedError
    ├── ToolConflictError
    ├── DependencyResolutionError (also LookupError)
    ├── MaxToolRoundsExceeded
    ├── UnsupportedInputError
    ├── ToolExecutionError
    │   ├── ToolNotFoundError
    │   └── UnsupportedToolError
    └── HumanInputError
    ScriptExhaustedError (RuntimeError; raised by hubbub.testing.TestConfig)
"""

from __future__ import annotations

__all__ = [
    "AG2Error",
    "ConfigNotProvidedError",
    "DependencyResolutionError",
    "HubbubError",
    "HumanInputError",
    "MaxToolRoundsExceeded",
    "ScriptExhaustedError",
    "ToolConflictError",
    "ToolExecutionError",
    "ToolNotFoundError",
    "UnsupportedInputError",
    "UnsupportedToolError",
]


class HubbubError(Exception):
    """Root of the agent layer's errors."""


AG2Error = HubbubError


class ConfigNotProvidedError(HubbubError):
    """A turn started with neither a call-level nor an agent-level model config."""


class ToolConflictError(HubbubError):
    """Two tools with the same name were put in one Toolkit."""


class DependencyResolutionError(HubbubError, LookupError):
    """An injected dependency or variable is missing and has no default."""


class MaxToolRoundsExceeded(HubbubError):
    """The model kept requesting tools beyond the agent's ``max_tool_rounds`` cap."""


class UnsupportedInputError(HubbubError):
    """An input part a provider cannot take."""


class ToolExecutionError(HubbubError):
    """Base of tool execution failures reported to the model."""


class ToolNotFoundError(ToolExecutionError):
    """The model called a tool that is not available in the turn."""


class UnsupportedToolError(ToolExecutionError):
    """A tool kind the provider cannot offer."""


class HumanInputError(HubbubError):
    """Human input could not be obtained (the only tool-time error that ends a turn)."""


class ScriptExhaustedError(RuntimeError):
    """A ``TestConfig`` script had no item left for a model call."""
