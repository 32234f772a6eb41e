"""How a subcommand says that it failed, and with which exit status."""

from __future__ import annotations

__all__ = ["CommandError", "UsageError"]


class UsageError(Exception):
    """The command line (or a file it names) is not acceptable: exit status 2."""


class CommandError(Exception):
    """The command could not do its work (store down, transport missing): exit status 1."""
