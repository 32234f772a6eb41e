"""Examples 02a, 07 and 08 run offline as scripts (a real subprocess each) and print what they promise."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def run_example(name: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_02a_conversation_closes_on_the_keyword() -> None:
    out = run_example("02a_conversation_terminate.py")
    assert out[0] == "closed: 'terminate_keyword:TERMINATE'"
    assert [line.split(":", 1)[0] for line in out[1:]] == ["alice", "bob", "alice"]
    assert out[-1].endswith("TERMINATE")  # the keyword message is on the WAL before the close


def test_07_unacked_invite_is_auto_closed_by_the_expectation() -> None:
    out = run_example("07_expectations.py")
    assert re.fullmatch(
        r"open failed: session \S+ closed during handshake: expectation_violated:acks_within",
        out[0],
    )
    assert out[1] == "session closed: 'expectation_violated:acks_within'"
    assert out[2] == "audit: acks_within -> auto_close, violators=['bob'], elapsed=45.0"
    assert len(out) == 3


def test_08_audit_inspector_prints_the_happy_path_trail() -> None:
    out = run_example("08_audit_inspector.py")
    assert out[0] == "4 audit records"
    kinds = [line.split()[1] for line in out[1:]]
    assert kinds == ["agent_registered", "agent_registered", "session_created", "session_closed"]
    assert "name=alice" in out[1] and "name=bob" in out[2]
    assert "participants=[alice, bob]" in out[3]
    assert out[4].endswith("reason=consulting_complete")
