"""``examples/quick_start_processes.py``: one command runs the quick start as three processes.

It starts ``hubbub serve`` on a temporary SQLite file, bob and alice as separate
Python processes, prints the seed's output (and nothing else on stdout), stops the
hub with SIGTERM and exits 0 — and leaves no process behind.
"""

from __future__ import annotations

import os
import re

from tests.processes._children import ROOT, children

EXAMPLE = ROOT / "examples" / "quick_start_processes.py"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_quick_start_processes_prints_the_seed_and_exits_0() -> None:
    async with children() as kids:
        example = await kids.start("quick_start_processes", EXAMPLE)
        exited = await example.wait(90)
    assert exited.returncode == 0, example.describe()
    assert exited.lines == [
        "closed: 'consulting_complete'",
        "alice: What's the single most important property of a distributed system?",
        "bob: Fault tolerance — because a system that can't survive partial failures "
        "defeats its entire purpose.",
    ]
    assert "exit statuses: alice 0, bob 0, the hub 0" in exited.stderr
    hub = re.search(r"hub pid (\d+) serving ws://127\.0\.0\.1:\d+ on sqlite:///", exited.stderr)
    assert hub is not None, exited.stderr
    assert not alive(int(hub.group(1)))  # the hub exited (and was reaped by the example)
