"""Output helpers of the read commands: aligned tables, times, JSON, progress on stderr."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

__all__ = ["PROGRESS_MIN", "Progress", "dash", "print_json", "short_time", "table"]

#: Long work over at least this many items reports its progress on stderr.
PROGRESS_MIN = 200
#: Seconds between progress updates on a terminal (rewritten in place) and elsewhere (lines).
PROGRESS_EVERY_TTY = 0.2
PROGRESS_EVERY = 2.0


def dash(value: object) -> str:
    """``value`` as text, ``—`` for None or an empty string."""
    if value is None or value == "":
        return "—"
    return str(value)


def short_time(iso: str | None) -> str:
    """``2026-12-03T08:05:46.123Z`` → ``2026-12-03 08:05:46`` (``—`` for nothing)."""
    if not iso:
        return "—"
    return iso.replace("T", " ")[:19]


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Rows under headers, each column as wide as its widest cell (the last one unpadded)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*parts, row[-1]]).rstrip())
    return "\n".join(lines)


def print_json(document: Any, out: TextIO | None = None) -> None:
    """One JSON document on stdout (non-ASCII kept, keys in the order given)."""
    stream = out or sys.stdout
    stream.write(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n")


class Progress:
    """``label: done/total what`` on stderr while long work advances (nothing for short work).

    On a terminal the line is rewritten in place; elsewhere (a log, a pipe) a line
    is printed at most every :data:`PROGRESS_EVERY` seconds. Either way the last
    line says ``total/total``.
    """

    def __init__(self, label: str, total: int, what: str) -> None:
        self.label = label
        self.total = total
        self.what = what
        self.shown = total >= PROGRESS_MIN
        self._tty = sys.stderr.isatty()
        self._every = PROGRESS_EVERY_TTY if self._tty else PROGRESS_EVERY
        self._last = 0.0
        if self.shown:
            self._show(0)

    def _show(self, done: int, end: bool = False) -> None:
        text = f"{self.label}: {done}/{self.total} {self.what}"
        if self._tty:
            sys.stderr.write("\r" + text + ("\n" if end else ""))
            sys.stderr.flush()
        else:
            print(text, file=sys.stderr, flush=True)
        self._last = time.monotonic()

    def __call__(self, done: int) -> None:
        """``done`` items are done."""
        if self.shown and time.monotonic() - self._last >= self._every:
            self._show(done)

    def finish(self) -> None:
        """The work is done."""
        if self.shown:
            self._show(self.total, end=True)
