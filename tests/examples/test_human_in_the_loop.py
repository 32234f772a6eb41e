"""examples/human_in_the_loop.py: a scripted person and an agent, in-process and over a
real WebSocket, and the script itself in a subprocess (offline)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from hubbub.testing import TestConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "human_in_the_loop.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("human_in_the_loop", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("over_ws", [False, True])
async def test_the_scripted_person_talks_to_the_agent(over_ws: bool) -> None:
    example = load()
    prompts: list[str] = []
    lines = iter(["Hello tutor", "One more thing", "bye", "never read"])

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return next(lines)

    transcript = await example.main(ask, over_ws=over_ws, config=TestConfig("Sure."))
    assert transcript == [
        "hana: Hello tutor",
        "tutor: Sure.",
        "hana: One more thing",
        "tutor: Sure.",
        "(session closed: human_closed)",
        "humans on the hub: ['hana']",
    ]
    assert prompts == ["hana> "] * 3  # "bye" ended it; nothing more was asked


async def test_an_empty_line_ends_at_once() -> None:
    transcript = await load().main(lambda prompt: "", config=TestConfig("unused"))
    assert transcript == ["(session closed: human_closed)", "humans on the hub: ['hana']"]


@pytest.mark.parametrize("flags", [[], ["--ws"]])
def test_the_script_runs_offline(flags: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), *flags],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert [line.split(":", 1)[0] for line in out[:4]] == ["hana", "tutor", "hana", "tutor"]
    assert out[0] == "hana: What does the hub keep?"
    assert out[4:] == ["(session closed: human_closed)", "humans on the hub: ['hana']"]
