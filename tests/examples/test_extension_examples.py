"""Examples 02a, 07 and 08 (hub extensions) run offline: through ``examples/harness.py``
with every agent on its own client (LocalLink, and a real WebSocket server with one
socket per agent), as scripts (a real subprocess each, with and without
``--processes``), and with the other agents in processes of their own.

02a and 07 need their hub's side (a custom adapter; a mock clock the operator moves
on), which ``hubbub serve`` cannot take: their ``--processes`` says so, and their
cross-process tests serve the example's own hub over WebSocket from this process.
08 runs against ``hubbub serve`` like the multiparty examples; there the audit log is
the operator's, so alice shows what she may read of the same trail.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType

import harness
import pytest

from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import Hub, HubClient, LocalLink
from hubbub.network.auth import BearerTokens, ServerAuth
from hubbub.network.transport.ws import WsLink, serve_ws

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TOKEN = "example-token"

TRAIL = ["agent_registered", "agent_registered", "session_created", "session_closed"]


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


def example(name: str) -> ModuleType:
    return harness.load(EXAMPLES / name)


def run_script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def script_lines(name: str, *args: str) -> list[str]:
    proc = run_script(name, *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def refuses_processes(name: str, reason: str) -> None:
    proc = run_script(name, "--processes")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert reason in proc.stderr


@asynccontextmanager
async def clients(hub: Hub, transport: str) -> AsyncIterator[Callable[[], HubClient]]:
    """A new client per call: a LocalLink to ``hub``, or a WebSocket to it served here."""
    if transport == "local":
        yield lambda: HubClient(LocalLink(hub), hub=hub)
        return
    auth = ServerAuth([BearerTokens({TOKEN: "examples"})])
    async with serve_ws(hub, host="127.0.0.1", port=0, auth=auth) as url:
        yield lambda: HubClient(WsLink(url, token=TOKEN, reconnect=0))


async def run_with_agents_in_processes(module: ModuleType, hub: Hub) -> harness.Outcome:
    """``hub`` served over WebSocket from here, every role but the driver in a process of
    its own (``harness.py agent``, as ``--processes`` starts them), the driver here."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "OPENAI_"))}
    env["HUBBUB_TOKEN"] = TOKEN
    auth = ServerAuth([BearerTokens({TOKEN: "examples"})])
    async with serve_ws(hub, host="127.0.0.1", port=0, auth=auth) as url:
        agents = []
        try:
            for role in module.ROLES:
                if role.name == module.DRIVER:
                    continue
                agent = await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(harness.HERE),
                    "agent",
                    str(module.__file__),
                    role.name,
                    "--url",
                    url,
                    env=env,
                    stdout=asyncio.subprocess.PIPE,
                )
                agents.append(agent)
                assert agent.stdout is not None
                ready = await asyncio.wait_for(agent.stdout.readline(), harness.START_TIMEOUT)
                assert ready.decode().startswith(f"ready: {role.name} ")
            return await asyncio.wait_for(
                harness.run_remote(module, url, TOKEN), harness.RUN_TIMEOUT
            )
        finally:
            for agent in agents:
                agent.terminate()
                assert await agent.wait() in (0, -signal.SIGTERM)


# ---------------------------------------------------------------- 02a: the sentinel adapter

KEYWORD_CLOSE = "terminate_keyword:TERMINATE"


def check_02a(outcome: harness.Outcome) -> None:
    assert outcome.reason == KEYWORD_CLOSE
    assert [name for name, _ in outcome.transcript] == ["alice", "bob", "alice"]
    assert outcome.transcript[-1][1].endswith("TERMINATE")  # on the WAL before the close


@pytest.mark.parametrize("transport", ["local", "ws"])
async def test_02a_the_hub_closes_the_conversation_on_the_keyword(transport: str) -> None:
    module = example("02a_conversation_terminate.py")
    hub = await module.open_hub()
    try:
        async with clients(hub, transport) as connect:
            check_02a(await harness.run(module, hub=hub, connect=connect))
    finally:
        await hub.close()


async def test_02a_without_the_adapter_the_conversation_does_not_close() -> None:
    """The close is the adapter's: on a hub with the built-in conversation it does not come."""
    module = example("02a_conversation_terminate.py")
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0)
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(harness.run(module, hub=hub), 2.0)
    finally:
        await hub.close()


async def test_02a_with_bob_in_his_own_process() -> None:
    module = example("02a_conversation_terminate.py")
    hub = await module.open_hub()
    try:
        check_02a(await run_with_agents_in_processes(module, hub))
    finally:
        await hub.close()


def test_02a_script() -> None:
    out = script_lines("02a_conversation_terminate.py")
    assert [line.split(":", 1)[0] for line in out[:-1]] == ["alice", "bob", "alice"]
    assert out[-2].endswith("TERMINATE")  # the keyword message is on the WAL before the close
    assert out[-1] == f"closed: {KEYWORD_CLOSE!r}"


def test_02a_script_says_why_it_does_not_run_on_hubbub_serve() -> None:
    refuses_processes(
        "02a_conversation_terminate.py", "hubbub serve registers only the built-in adapters"
    )


# ---------------------------------------------------------------- 07: expectations

VIOLATED = "expectation_violated:acks_within"
OPEN_FAILED = rf"session \S+ closed during handshake: {VIOLATED}"


@pytest.mark.parametrize("transport", ["local", "ws"])
async def test_07_unacked_invite_is_auto_closed_by_the_expectation(transport: str) -> None:
    module = example("07_expectations.py")
    hub, clock = await module.open_hub()
    try:
        async with clients(hub, transport) as connect:
            outcome, _ = await asyncio.wait_for(
                asyncio.gather(
                    harness.run(module, hub=hub, connect=connect), module.fast_forward(hub, clock)
                ),
                harness.RUN_TIMEOUT,
            )
        audit = module.violations(await hub.audit_log.read_all(), hub)
    finally:
        await hub.close()
    assert outcome.reason == VIOLATED
    assert outcome.transcript == []
    assert re.fullmatch(OPEN_FAILED, outcome.extra["open failed"])
    assert outcome.extra["state"] == "closed"
    assert outcome.extra["unacked"] == ["bob"]
    assert outcome.extra["elapsed"] == 45.0
    assert audit == ["acks_within -> auto_close, violators=['bob'], elapsed=45.0"]


def test_07_script() -> None:
    out = script_lines("07_expectations.py")
    assert re.fullmatch(rf"open failed: '{OPEN_FAILED}'", out[0])
    assert out[1:] == [
        "state: 'closed'",
        "unacked: ['bob']",
        "elapsed: 45.0",
        f"closed: {VIOLATED!r}",
        "audit: acks_within -> auto_close, violators=['bob'], elapsed=45.0",
    ]


def test_07_script_says_why_it_does_not_run_on_hubbub_serve() -> None:
    refuses_processes("07_expectations.py", "hubbub serve runs a real clock")


# ---------------------------------------------------------------- 08: the audit trail


def check_08(outcome: harness.Outcome, source: str, principal: bool) -> None:
    assert outcome.reason == "consulting_complete"
    assert [name for name, _ in outcome.transcript] == ["alice", "bob"]
    assert outcome.extra["source"] == source
    trail = outcome.extra["trail"]
    assert [line.split()[1] for line in trail] == TRAIL
    assert "agent_id=alice name=alice" in trail[0] and "agent_id=bob name=bob" in trail[1]
    assert all(("principal=" in line) == principal for line in trail[:2])
    assert trail[2].endswith(
        "creator_id=alice manifest_type=consulting manifest_version=1 participants=[alice, bob]"
    )
    assert trail[3].endswith("session_closed    reason=consulting_complete")


SEEN = "records alice sees (the audit log is the operator's: access_denied)"


async def test_08_reads_the_audit_log_where_its_connection_is_the_operators() -> None:
    check_08(await harness.run(example("08_audit_inspector.py")), "audit records", principal=True)


async def test_08_over_websocket_shows_what_alice_may_read() -> None:
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0)
    try:
        async with clients(hub, "ws") as connect:
            outcome = await harness.run(example("08_audit_inspector.py"), connect=connect)
    finally:
        await hub.close()
    check_08(outcome, SEEN, principal=False)


def test_08_with_every_agent_in_its_own_process() -> None:
    check_08(harness.run_processes(EXAMPLES / "08_audit_inspector.py"), SEEN, principal=False)


@pytest.mark.parametrize(
    ("args", "header"), [((), "4 audit records"), (("--processes",), f"4 {SEEN}")]
)
def test_08_script(args: tuple[str, ...], header: str) -> None:
    out = script_lines("08_audit_inspector.py", *args)
    assert out[:2] == [
        "alice: What's the most important property of a distributed system?",
        "bob: Fault tolerance.",
    ]
    assert out[2] == header
    assert [line.split()[1] for line in out[3:7]] == TRAIL
    assert "name=alice" in out[3] and "name=bob" in out[4]
    assert "participants=[alice, bob]" in out[5]
    assert out[6].endswith("reason=consulting_complete")
    assert out[7:] == ["closed: 'consulting_complete'"]
