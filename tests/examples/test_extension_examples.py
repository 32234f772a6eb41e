"""Examples 02a, 07 and 08 (hub extensions) run offline through ``examples/harness.py``
in both of its modes: in one process (``harness.run``: an in-memory hub given the
example's ``setup_hub``, every role on its own client with the example's
``adapters()``) and with ``hubbub serve --setup`` and every agent in its own process
(``harness.run_processes``); and as scripts (a real subprocess each, with and without
``--processes``), checked on what they print.

02a registers its sentinel conversation adapter on the hub; 07 a consulting variant
with a 2 s ``acks_within``, a 30 s invite timeout and a quick expectation sweep; 07
and 08 read the audit log through the operator's connection (``OPERATOR = True``).
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import harness
import pytest

from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import Hub

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
E02A = "02a_conversation_terminate.py"
E07 = "07_expectations.py"
E08 = "08_audit_inspector.py"
MODES = [(), ("--processes",)]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


def example(name: str) -> ModuleType:
    return harness.load(EXAMPLES / name)


def script_lines(name: str, *args: str) -> list[str]:
    """What ``python examples/NAME ARGS`` prints (it must exit 0)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "was never awaited" not in proc.stderr
    assert "Task was destroyed" not in proc.stderr, proc.stderr
    return proc.stdout.splitlines()


# ---------------------------------------------------------------- 02a: the sentinel adapter

KEYWORD_CLOSE = "terminate_keyword:TERMINATE"


def check_02a(outcome: harness.Outcome) -> None:
    assert outcome.reason == KEYWORD_CLOSE
    assert [name for name, _ in outcome.transcript] == ["alice", "bob", "alice"]
    assert outcome.transcript[0][1] == "Hi bob, what's a good first ML concept to learn?"
    assert outcome.transcript[-1][1].endswith("TERMINATE")  # on the WAL before the close


async def test_02a_in_process_the_hub_closes_the_conversation_on_the_keyword() -> None:
    check_02a(await harness.run(example(E02A)))


def test_02a_with_every_agent_in_its_own_process() -> None:
    check_02a(harness.run_processes(EXAMPLES / E02A))


async def test_02a_without_the_adapter_the_conversation_does_not_close() -> None:
    """The close is the adapter's: on a hub with the built-in conversation it does not come."""
    module = example(E02A)
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0)  # no setup_hub
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(harness.run(module, hub=hub), 2.0)
    finally:
        await hub.close()


@pytest.mark.parametrize("args", MODES)
def test_02a_script(args: tuple[str, ...]) -> None:
    out = script_lines(E02A, *args)
    assert [line.split(":", 1)[0] for line in out[:-1]] == ["alice", "bob", "alice"]
    assert out[-2].endswith("TERMINATE")  # the keyword message is on the WAL before the close
    assert out[-1] == f"closed: {KEYWORD_CLOSE!r}"


# ---------------------------------------------------------------- 07: expectations

VIOLATED = "expectation_violated:acks_within"
OPEN_FAILED = rf"session \S+ closed during handshake: {VIOLATED}"
AUDIT = "acks_within -> auto_close, violators=['bob'], threshold=2.0"
CAROL = [("alice", "Carol, can you ack an invite within 2 s?"), ("carol", "Yes: I acked at once.")]


def quick(elapsed: float) -> bool:
    """Closed by the 2 s expectation and its 0.25 s sweep (not the built-in 10 s sweep),
    long before the 30 s invite timeout."""
    return 2.0 <= elapsed < 5.0


def check_07(outcome: harness.Outcome) -> None:
    assert outcome.reason == VIOLATED
    assert outcome.transcript == CAROL
    extra = outcome.extra
    assert extra["carol's session"] == "consulting_complete"  # carol acked within 2 s
    assert re.fullmatch(OPEN_FAILED, extra["open failed"])
    assert extra["state"] == "closed"
    assert extra["unacked"] == ["bob"]
    assert quick(extra["elapsed"]), extra["elapsed"]
    assert extra["audit"] == [AUDIT]  # bob's violation only


async def test_07_in_process_the_unacked_invite_is_auto_closed_by_the_expectation() -> None:
    check_07(await harness.run(example(E07)))


def test_07_with_every_agent_in_its_own_process() -> None:
    check_07(harness.run_processes(EXAMPLES / E07))


async def test_07_setup_hub_shortens_the_promise_and_its_sweep_ends_with_the_hub() -> None:
    module = example(E07)
    (adapter,) = module.adapters()
    promises = {e.name: e for e in adapter.manifest.expectations}
    assert (adapter.manifest.type, adapter.manifest.version) == ("consulting", 1)
    assert promises["acks_within"].params == {"seconds": 2.0}
    assert promises["acks_within"].on_violation == "auto_close"
    assert "reply_within" in promises  # the built-in's other promise is kept
    hub = await Hub.open(MemoryKnowledgeStore())
    try:
        await module.setup_hub(hub)
        assert hub.invite_ack_timeout == 30.0
        sweeps = [t for t in asyncio.all_tasks() if t.get_name() == "hubbub-sweeper-expectations"]
        assert len(sweeps) == 1  # the built-in sweep is gone (awaited), the quick one runs
        assert not sweeps[0].done()
    finally:
        await hub.close()
    assert sweeps[0].done()  # the hub stopped it: nothing left running or un-awaited


@pytest.mark.parametrize("args", MODES)
def test_07_script(args: tuple[str, ...]) -> None:
    out = script_lines(E07, *args)
    assert out[:3] == [f"{name}: {text}" for name, text in CAROL] + [
        "carol's session: 'consulting_complete'"
    ]
    assert re.fullmatch(rf"open failed: '{OPEN_FAILED}'", out[3])
    assert out[4:6] == ["state: 'closed'", "unacked: ['bob']"]
    elapsed = re.fullmatch(r"elapsed: (\d+\.\d)", out[6])
    assert elapsed is not None and quick(float(elapsed[1])), out[6]
    assert out[7:] == [f"closed: {VIOLATED!r}", f"audit: {AUDIT}"]


# ---------------------------------------------------------------- 08: the audit trail

TRAIL = ["agent_registered", "agent_registered", "session_created", "session_closed"]
CREATED = "creator_id=alice manifest_type=consulting manifest_version=1 participants=[alice, bob]"
IN_PROCESS = {"alice": "operator", "bob": "operator"}  # every LocalLink is the operator's
PROCESSES = {"alice": "operator", "bob": "bob"}  # alice's token is the operator's, bob's his own


def check_trail(trail: list[str], principals: dict[str, str]) -> None:
    """The audit lines: two registrations (in either order: with ``--processes`` bob's
    process registers first), the session's creation and its close."""
    assert [line.split()[1] for line in trail] == TRAIL
    registered = {}
    for line in trail[:2]:
        found = re.search(r"agent_id=(\w+) name=(\w+) owner= principal=(\w+)$", line)
        assert found is not None, line
        assert found[1] == found[2]  # agent ids shown as names
        registered[found[2]] = found[3]
    assert registered == principals
    assert trail[2].endswith(CREATED)
    assert trail[3].endswith("session_closed    reason=consulting_complete")


def check_08(outcome: harness.Outcome, principals: dict[str, str]) -> None:
    assert outcome.reason == "consulting_complete"
    assert outcome.transcript == [
        ("alice", "What's the most important property of a distributed system?"),
        ("bob", "Fault tolerance."),
    ]
    check_trail(outcome.extra["trail"], principals)


async def test_08_in_process_reads_the_audit_log() -> None:
    check_08(await harness.run(example(E08)), IN_PROCESS)


def test_08_with_every_agent_in_its_own_process_reads_it_as_the_operator() -> None:
    check_08(harness.run_processes(EXAMPLES / E08), PROCESSES)


@pytest.mark.parametrize(("args", "principals"), [((), IN_PROCESS), (MODES[1], PROCESSES)])
def test_08_script(args: tuple[str, ...], principals: dict[str, str]) -> None:
    out = script_lines(E08, *args)
    assert out[:3] == [
        "alice: What's the most important property of a distributed system?",
        "bob: Fault tolerance.",
        "4 audit records",
    ]
    check_trail(out[3:7], principals)
    assert out[7:] == ["closed: 'consulting_complete'"]
