"""Logging for the command line: the level of ``hubbub.*`` records and their format.

Library code only logs (under ``hubbub.*``: ``hubbub.hub`` for the hub's lifecycle
— open, close, sessions created, opened and ended, failed appends —,
``hubbub.network.transport.ws`` for connections accepted and closed); only a
command configures where records go. ``--log-json`` writes one JSON object per
line: ``ts`` (ISO-8601 UTC), ``level``, ``logger``, ``message``, the record's
structured fields (``session_id``, ``reason``, ...) and ``exc`` for a traceback.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

__all__ = ["LOG_LEVELS", "JsonFormatter", "configure_logging"]

#: The levels ``--log-level`` accepts.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: Attributes every LogRecord has; anything else on a record is a structured field.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record (no newline inside)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in data:
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


_installed: logging.Handler | None = None


def configure_logging(
    level: str = "WARNING", *, json: bool = False, stream: TextIO | None = None
) -> None:
    """Send ``hubbub.*`` records of ``level`` and above to ``stream`` (stderr), as text or JSON.

    Calling it again replaces the handler it installed before.
    """
    global _installed
    logger = logging.getLogger("hubbub")
    if _installed is not None:
        logger.removeHandler(_installed)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    _installed = handler
