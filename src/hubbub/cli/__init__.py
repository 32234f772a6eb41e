"""The ``hubbub`` command: ``main(argv) -> int``; the subcommands are in :data:`SUBCOMMANDS`.

``hubbub serve --store URL ...`` runs a hub in its own process (:mod:`hubbub.cli.serve`);
``agents``, ``sessions``, ``show``, ``wal``, ``audit`` and ``replay`` read a store
offline or a running hub (:mod:`hubbub.cli.reads`).
``hubbub inspect --store URL ...`` serves the web inspector over a store (:mod:`hubbub.cli.inspect`).
Exit status: 0 done, 1 the command failed (the message says why), 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from hubbub.cli import inspect, reads, serve
from hubbub.cli._errors import CommandError, UsageError
from hubbub.network.errors import NetworkError

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

#: Every subcommand, in help order: name → the function that adds its parser to
#: ``ArgumentParser.add_subparsers()`` (a new subcommand is one more line).
SUBCOMMANDS: dict[str, Callable[[Any], object]] = {
    "serve": serve.add_parser,
    "agents": reads.add_agents,
    "sessions": reads.add_sessions,
    "show": reads.add_show,
    "wal": reads.add_wal,
    "audit": reads.add_audit,
    "replay": reads.add_replay,
    "inspect": inspect.add_parser,
}


def _version() -> str:
    try:
        return version("hubbub")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hubbub`` and all its subcommands."""
    parser = argparse.ArgumentParser(
        prog="hubbub", description="Run and inspect hubbub hubs (networks of LLM agents)."
    )
    parser.add_argument("--version", action="version", version=f"hubbub {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS.values():
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``hubbub`` command line and return its exit status.

    Args:
        argv: the arguments after the program name (default ``sys.argv[1:]``).

    Returns:
        0 on success, 1 when the command failed, 2 on bad usage (argparse's
        convention); ``--help`` and ``--version`` return 0.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits for --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        status: int = args.run(args)
    except UsageError as exc:
        print(f"hubbub {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (CommandError, NetworkError) as exc:
        print(f"hubbub {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader of our output went away (``| head``): not a failure
        _silence_stdout()
        return 0
    return status


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (captured in a test)
        pass
