"""Run an example network in one process, or with every agent in its own process.

Each example script (``examples/0N_*.py``, ``examples/cookbook/*.py``) describes its
network the same way and ends with ``harness.main(__name__)``:

* ``ROLES`` — the agents: a :class:`Role` each (name, how to build its ``Agent``, its
  resume and rule);
* ``DRIVER`` — the name of the role whose flow the script runs (the opener: it opens
  the session and waits for its end; the others answer with their default handlers);
* ``async def drive(me: AgentClient) -> Outcome`` — that flow, written only against
  the client API (no operator ``Hub``), so it runs unchanged in both modes;
* optionally ``async def setup_hub(hub)`` — the hub's side (custom adapters,
  evaluators, settings): run on the in-process hub, and given to ``hubbub serve
  --setup SCRIPT:setup_hub`` with ``--processes``; and ``def adapters()`` — the
  example's own session adapters, which every client of it gets too;
* optionally ``OPERATOR = True`` — the driver's connection is the operator's (it may
  read the audit log and every session): with ``--processes`` its token is an
  ``--operator-token`` of ``hubbub serve``.

Then::

    python examples/04_workflow_round_robin.py              # one process, in-memory hub
    python examples/04_workflow_round_robin.py --processes  # hubbub serve + a process per agent

With ``--processes`` the harness starts ``hubbub serve`` (SQLite in a temporary
directory, one bearer token per agent), starts ``python examples/harness.py agent
SCRIPT ROLE`` for every role but the driver (each registers over WebSocket, prints
``ready: ROLE`` and answers until it is stopped), then runs ``drive`` in its own
process over WebSocket. Models are scripted and offline unless ``ANTHROPIC_API_KEY``
is set (then Claude; ``HUBBUB_MODEL`` picks the model): see :func:`model`.
Tests call :func:`run` (in-process) and :func:`run_processes` and check the outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import queue
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from hubbub import Agent
from hubbub.config import AnthropicConfig
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import (
    EV_PACKET,
    EV_SESSION_CLOSED,
    EV_SESSION_EXPIRED,
    EV_TEXT,
    AgentClient,
    Envelope,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
    Rule,
    TransitionGraph,
    WsLink,
)
from hubbub.testing import TestConfig

HERE = Path(__file__).resolve()
START_TIMEOUT = 30.0  # seconds for the hub or an agent to say it is ready
RUN_TIMEOUT = 60.0  # seconds for the driver's whole flow
STOP_TIMEOUT = 15.0  # seconds for a process to exit once told to


def model(*script: Any) -> Any:
    """The model config of an example agent: Claude when a key is set, else ``script``
    (the scripted offline model answers each turn with the next reply)."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        return AnthropicConfig(model=os.environ.get("HUBBUB_MODEL", "claude-sonnet-4-6"))
    return TestConfig(*script)


@dataclass(frozen=True)
class Role:
    """One agent of an example network."""

    name: str
    make: Callable[[], Agent]
    resume: Resume = field(default_factory=Resume)
    rule: Rule | None = None
    attach_plugin: bool = True


@dataclass
class Outcome:
    """What an example's flow ended with: the close reason and the transcript
    (``(sender name, text)`` per text or packet, in WAL order), plus anything else."""

    reason: str
    transcript: list[tuple[str, str]]
    extra: dict[str, Any] = field(default_factory=dict)

    def show(self) -> None:
        """Print the transcript and the close reason."""
        for name, text in self.transcript:
            print(f"{name}: {text}")
        for key, value in self.extra.items():
            print(f"{key}: {value!r}")
        print(f"closed: {self.reason!r}")


# ---------------------------------------------------------------- helpers for drive()


async def wait_closed(me: AgentClient, session_id: str, timeout: float = RUN_TIMEOUT) -> str:
    """Wait until the session closes or expires; its close reason."""

    def ended(envelope: Envelope) -> bool:
        return envelope.event_type in (EV_SESSION_CLOSED, EV_SESSION_EXPIRED)

    meta = await me.get_session(session_id)
    if meta.is_terminal():
        return meta.close_reason
    envelope = await me.wait_for_session_event(
        session_id=session_id, predicate=ended, timeout=timeout
    )
    return str(envelope.event_data.get("reason", ""))


async def agent_ids(me: AgentClient, names: Iterator[str] | list[str]) -> dict[str, str]:
    """The agent id of each name (looked up in the hub's registry, as any client may)."""
    ids: dict[str, str] = {}
    for name in names:
        agent_id = await me.hub_client.find_agent_id(name)
        if agent_id is None:
            raise LookupError(f"no agent named {name!r} is registered")
        ids[name] = agent_id
    return ids


async def transcript(
    me: AgentClient, session_id: str, *, handoffs: bool = False
) -> list[tuple[str, str]]:
    """The session's texts and packet bodies as ``(sender name, text)``, as ``me`` sees them.

    Empty ones are left out, except with ``handoffs``: then every packet is a line, a
    tool-routed one starting with its handoff (``"[Handed off via TOOL] REASON | BODY"``).
    """
    names: dict[str, str] = {}
    lines: list[tuple[str, str]] = []
    for envelope in await me.read_wal(session_id):
        if handoffs:
            text = _turn_line(envelope)
        else:
            data = envelope.event_data
            text = data.get("text") if "text" in data else data.get("body")
            if not isinstance(text, str) or not text:
                text = None
        if text is None:
            continue
        if envelope.sender_id not in names:
            names[envelope.sender_id] = (await me.hub_client.get_agent(envelope.sender_id)).name
        lines.append((names[envelope.sender_id], text))
    return lines


def _turn_line(envelope: Envelope) -> str | None:
    """A text's text; a packet's body after its handoff line; None for anything else."""
    data = envelope.event_data
    if envelope.event_type == EV_TEXT:
        return str(data["text"])
    if envelope.event_type != EV_PACKET:
        return None
    routing = data.get("routing", {})
    via = ""
    if routing.get("kind") == "handoff":
        via = f"[Handed off via {routing.get('tool')}] {routing.get('reason', '')}".rstrip()
        via += " | "
    return f"{via}{data.get('body', '')}"


async def run_workflow(
    me: AgentClient,
    target: list[str],
    graph: TransitionGraph,
    seed: str,
    *,
    handoffs: bool = False,
    context: bool = True,
) -> Outcome:
    """Open a workflow on ``graph`` with ``target``, send ``seed`` and wait for its end:
    the close reason, the transcript (see :func:`transcript`) and, with ``context``,
    the final context variables (``extra["context"]``)."""
    session = await me.open(type="workflow", target=target, knobs={"graph": graph.to_dict()})
    await session.send(seed)
    reason = await wait_closed(me, session.session_id)
    lines = await transcript(me, session.session_id, handoffs=handoffs)
    if not context:
        return Outcome(reason, lines)
    state = await me.adapter_state(session.session_id)
    return Outcome(reason, lines, {"context": dict(state.context_vars)})


# ---------------------------------------------------------------- running a network


def load(script: str | Path) -> ModuleType:
    """Import an example script by path."""
    path = Path(script).resolve()
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _roles(example: ModuleType) -> dict[str, Role]:
    roles: dict[str, Role] = {role.name: role for role in example.ROLES}
    if example.DRIVER not in roles:
        raise ValueError(f"DRIVER {example.DRIVER!r} is not one of ROLES {sorted(roles)}")
    return roles


async def _register(hc: HubClient, role: Role) -> AgentClient:
    return await hc.register(
        role.make(),
        Passport(name=role.name),
        role.resume,
        rule=role.rule,
        attach_plugin=role.attach_plugin,
    )


async def run(
    example: ModuleType,
    *,
    hub: Hub | None = None,
    connect: Callable[[], HubClient] | None = None,
) -> Outcome:
    """Run the example in this process, every role on its own ``HubClient``: from
    ``connect()`` (e.g. a ``WsLink`` to a server) or else a ``LocalLink`` to ``hub``
    (a fresh in-memory hub if None)."""
    roles = _roles(example)
    own = hub is None and connect is None
    if own:
        hub = await Hub.open(MemoryKnowledgeStore())
        await setup(example, hub)
    if connect is None:
        assert hub is not None
        local = hub
        connect = lambda: HubClient(LocalLink(local), hub=local, adapters=adapters(example))  # noqa: E731
    made: list[HubClient] = []
    try:
        clients: dict[str, AgentClient] = {}
        for name, role in roles.items():
            made.append(hc := connect())
            clients[name] = await _register(hc, role)
        outcome: Outcome = await example.drive(clients[example.DRIVER])
        return outcome
    finally:
        for hc in made:
            await hc.close()
        if own and hub is not None:
            await hub.close()


def adapters(example: ModuleType) -> list[Any]:
    """The example's own session adapters (``adapters()``), which its clients need too."""
    make = getattr(example, "adapters", None)
    return list(make()) if make is not None else []


async def setup(example: ModuleType, hub: Hub) -> None:
    """Run the example's ``setup_hub(hub)``, if it has one, on a hub of this process."""
    setup_hub = getattr(example, "setup_hub", None)
    if setup_hub is not None:
        await setup_hub(hub)


async def run_remote(example: ModuleType, url: str, token: str | None) -> Outcome:
    """Run the example's driver over WebSocket against a hub whose other agents run
    elsewhere (what ``--processes`` does in the driver's process)."""
    roles = _roles(example)
    hc = HubClient(WsLink(url, token=token), adapters=adapters(example))
    try:
        me = await _register(hc, roles[example.DRIVER])
        outcome: Outcome = await example.drive(me)
        return outcome
    finally:
        await hc.close()


async def serve_agent(example: ModuleType, role_name: str, url: str, token: str | None) -> None:
    """Register one role over WebSocket and answer with its default handler until
    SIGTERM/SIGINT (what each agent process of ``--processes`` runs)."""
    role = _roles(example)[role_name]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    hc = HubClient(WsLink(url, token=token), adapters=adapters(example))
    try:
        client = await _register(hc, role)
        print(f"ready: {role.name} {client.agent_id}", flush=True)
        await stop.wait()
    finally:
        await hc.close()


# ---------------------------------------------------------------- processes


def _say(message: str) -> None:
    print(f"harness: {message}", file=sys.stderr, flush=True)


class _Child:
    """A child process whose stdout lines a thread reads."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            encoding="utf-8",
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float) -> str:
        """The first stdout line starting with ``prefix``, within ``timeout`` seconds."""
        try:
            while (line := self.lines.get(timeout=timeout)) is not None:
                if line.startswith(prefix):
                    return line
        except queue.Empty:
            raise TimeoutError(f"{self.name} printed no {prefix!r} within {timeout:g} s") from None
        raise RuntimeError(f"{self.name} exited with {self.proc.wait()} before printing {prefix!r}")

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _say(f"killing {self.name} (pid {self.proc.pid})")
                self.proc.kill()
        status = self.proc.wait()
        self._reader.join(STOP_TIMEOUT)  # it closes the pipe at its end
        return status


def _secret_file(path: Path, lines: list[str]) -> str:
    """Write ``lines`` to a new file only this user can read; its path."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.writelines(f"{line}\n" for line in lines)
    return str(path)


@contextlib.contextmanager
def network_processes(example: ModuleType, script: Path) -> Iterator[tuple[str, str]]:
    """``hubbub serve`` and one process per non-driver role; yields (url, driver token)."""
    roles = _roles(example)
    tokens = {name: secrets.token_urlsafe(24) for name in roles}
    with tempfile.TemporaryDirectory(prefix="hubbub-example-") as tmp:
        operator = bool(getattr(example, "OPERATOR", False))
        agents = {n: t for n, t in tokens.items() if not (operator and n == example.DRIVER)}
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
        store = f"sqlite:///{Path(tmp) / 'hub.db'}"
        serve = ["serve", "--store", store, "--port", "0"]
        if agents:
            lines = [f"{name}:{token}" for name, token in agents.items()]
            serve += ["--token-file", _secret_file(Path(tmp) / "tokens", lines)]
        if operator:
            operator_file = _secret_file(Path(tmp) / "operator", [tokens[example.DRIVER]])
            serve += ["--operator-token-file", operator_file]
        if hasattr(example, "setup_hub"):
            serve += ["--setup", f"{script}:setup_hub"]
        children = [_Child("the hub", [sys.executable, "-m", "hubbub.cli", *serve], env)]
        try:
            url = children[0].expect("hubbub: serving ", START_TIMEOUT).split()[-1]
            _say(f"hub serving {url} on {store}")
            for name in roles:
                if name == example.DRIVER:
                    continue
                argv = [sys.executable, str(HERE), "agent", str(script), name, "--url", url]
                child = _Child(name, argv, dict(env, HUBBUB_TOKEN=tokens[name]))
                children.append(child)
                _say(child.expect(f"ready: {name}", START_TIMEOUT))
            yield url, tokens[example.DRIVER]
        finally:
            for child in reversed(children):
                status = child.stop()
                if status not in (0, -signal.SIGTERM):
                    _say(f"{child.name} exited with {status}")


def run_processes(script: str | Path) -> Outcome:
    """Run the example at ``script`` with the hub and every agent in its own process."""
    path = Path(script).resolve()
    example = load(path)
    with network_processes(example, path) as (url, token):
        return asyncio.run(asyncio.wait_for(run_remote(example, url, token), RUN_TIMEOUT))


# ---------------------------------------------------------------- command line


def main(name: str) -> None:
    """The ``if __name__ == "__main__"`` of an example: ``harness.main(__name__)``."""
    if name != "__main__":
        return
    example = sys.modules["__main__"]
    parser = argparse.ArgumentParser(description=(example.__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--processes",
        action="store_true",
        help="run hubbub serve and every agent in its own process",
    )
    args = parser.parse_args()
    script = Path(example.__file__ or "")
    outcome = run_processes(script) if args.processes else asyncio.run(run(example))
    outcome.show()


def _agent_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="one role of an example, in its own process")
    parser.add_argument("script")
    parser.add_argument("role")
    parser.add_argument("--url", required=True)
    args = parser.parse_args(argv)
    example = load(args.script)
    asyncio.run(serve_agent(example, args.role, args.url, os.environ.get("HUBBUB_TOKEN")))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["agent"]:
        sys.exit("usage: harness.py agent SCRIPT ROLE --url URL (examples call harness.main)")
    sys.exit(_agent_main(sys.argv[2:]))
