"""The quick start (seed 1) across processes: the hub, alice and bob each in their own process.

    .venv/bin/python examples/quick_start_processes.py

1. Two fresh bearer tokens go into a token file (mode 0600) in a temporary directory.
2. ``python -m hubbub.cli serve --store sqlite:///TMP/hub.db --port 0 --token-file F``
   starts the hub; its line ``hubbub: serving ws://127.0.0.1:PORT`` gives the URL.
3. bob starts (``examples/processes/agent.py --role bob``), registers over WebSocket
   and says ``ready``; alice would get ``agent_offline`` if she invited him earlier.
4. alice runs the seed's flow in her own process and prints what the seed prints.
5. bob exits once the session has closed; the hub gets SIGTERM, finishes what is
   in flight, says goodbye to its clients and exits 0.

Each agent's token reaches it through ``HUBBUB_TOKEN``, not the command line. Every
wait is bounded, and the children are killed if anything goes wrong. Progress goes
to stderr; stdout carries alice's output only. Models are scripted and offline
unless ``ANTHROPIC_API_KEY`` is set. Exit status 0 when every process exited 0.
"""

from __future__ import annotations

import os
import queue
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

AGENT = Path(__file__).resolve().parent / "processes" / "agent.py"

START_TIMEOUT = 20.0  # seconds for the hub or bob to say they are ready
RUN_TIMEOUT = 60.0  # seconds for alice's whole flow
STOP_TIMEOUT = 15.0  # seconds for bob or the hub to exit once done


def say(message: str) -> None:
    print(f"quick_start_processes: {message}", file=sys.stderr, flush=True)


class Child:
    """A child process; with ``capture``, its stdout lines are read by a thread."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], *, capture: bool) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            env=env,
            text=True,
            encoding="utf-8",
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        if capture:
            threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float) -> str:
        """The first stdout line starting with ``prefix``, read within ``timeout`` seconds."""
        try:
            while (line := self.lines.get(timeout=timeout)) is not None:
                if line.startswith(prefix):
                    return line
        except queue.Empty:
            raise TimeoutError(f"{self.name} printed no {prefix!r} within {timeout:g} s") from None
        raise RuntimeError(f"{self.name} exited with {self.proc.wait()} before printing {prefix!r}")

    def wait(self, timeout: float) -> int:
        """The exit status, within ``timeout`` seconds (else TimeoutExpired)."""
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Kill the process if it still runs."""
        if self.proc.poll() is None:
            say(f"killing {self.name} (pid {self.proc.pid})")
            self.proc.kill()
            self.proc.wait()


def run(tmp: Path) -> int:
    tokens = {name: secrets.token_urlsafe(24) for name in ("alice", "bob")}
    token_file = tmp / "tokens"
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.writelines(f"{name}:{token}\n" for name, token in tokens.items())

    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    children: list[Child] = []
    try:
        store = f"sqlite:///{tmp / 'hub.db'}"
        serve = ["serve", "--store", store, "--port", "0", "--token-file", str(token_file)]
        hub = Child("the hub", [sys.executable, "-m", "hubbub.cli", *serve], env, capture=True)
        children.append(hub)
        url = hub.expect("hubbub: serving ", START_TIMEOUT).removeprefix("hubbub: serving ")
        say(f"hub pid {hub.proc.pid} serving {url} on {store}")

        def agent(role: str, *, capture: bool) -> Child:
            args = ["--seed", "quick_start", "--role", role, "--url", url]
            child = Child(
                role,
                [sys.executable, str(AGENT), *args, "--timeout", str(RUN_TIMEOUT)],
                dict(env, HUBBUB_TOKEN=tokens[role]),
                capture=capture,
            )
            children.append(child)
            return child

        bob = agent("bob", capture=True)
        say(bob.expect("ready: bob", START_TIMEOUT).replace("ready: bob", "bob ready as"))

        sys.stdout.flush()
        alice = agent("alice", capture=False)  # her stdout is ours: the seed's output
        statuses = {"alice": alice.wait(RUN_TIMEOUT + 15)}
        statuses["bob"] = bob.wait(STOP_TIMEOUT)

        hub.proc.send_signal(signal.SIGTERM)
        statuses["the hub"] = hub.wait(STOP_TIMEOUT)
        say("exit statuses: " + ", ".join(f"{k} {v}" for k, v in statuses.items()))
        return 0 if not any(statuses.values()) else 1
    except (TimeoutError, RuntimeError, subprocess.TimeoutExpired) as exc:
        say(f"error: {exc}")
        return 1
    finally:
        for child in reversed(children):
            child.stop()


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="hubbub-quick-start-") as tmp:
        return run(Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
