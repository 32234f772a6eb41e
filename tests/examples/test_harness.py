"""examples/harness.py runs one network in one process or as a process per agent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import harness

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE / "consulting_example.py"
EXPECTED = [("alice", "What matters most?"), ("bob", "Fault tolerance.")]


async def test_in_process() -> None:
    outcome = await harness.run(harness.load(EXAMPLE))
    assert (outcome.reason, outcome.transcript) == ("consulting_complete", EXPECTED)


def test_every_agent_in_its_own_process() -> None:
    outcome = harness.run_processes(EXAMPLE)
    assert (outcome.reason, outcome.transcript) == ("consulting_complete", EXPECTED)


def test_the_command_line_in_both_modes() -> None:
    env = dict(os.environ, PYTHONPATH=str(harness.HERE.parent))
    env.pop("ANTHROPIC_API_KEY", None)
    for extra in ([], ["--processes"]):
        done = subprocess.run(
            [sys.executable, str(EXAMPLE), *extra],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == [
            "alice: What matters most?",
            "bob: Fault tolerance.",
            "closed: 'consulting_complete'",
        ]
