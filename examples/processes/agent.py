"""One agent of a seed in its own process, talking to a ``hubbub serve`` hub over WebSocket.

The seeds (``examples/quick_start.py``, ``examples/conversation.py``) run alice and
bob in one process on an in-process hub. Here each is a separate program with its
own ``HubClient(WsLink(url, token=...))``; the hub is ``hubbub serve``::

    hubbub serve --store sqlite:///hub.db --token alice:TA --token bob:TB
    python examples/processes/agent.py --seed quick_start --role bob --url ws://127.0.0.1:8765 --token TB
    python examples/processes/agent.py --seed quick_start --role alice --url ws://127.0.0.1:8765 --token TA

``--role bob`` (the respondent) registers, prints ``ready: bob AGENT_ID``, answers
with its default handler until the session it is invited to closes, prints
``bob: session SESSION_ID closed: 'REASON'`` and exits. Start it first: an invite
to an agent that is not connected fails at once (``agent_offline``).

``--role alice`` (the initiator) runs the seed's flow and prints what the seed
prints. She reads the WAL as a participant, over the wire: there is no operator
``Hub`` in her process.

The token may come from ``HUBBUB_TOKEN`` instead of ``--token`` (a command line
is visible to other local users). Models are scripted and offline unless
``ANTHROPIC_API_KEY`` is set (then Claude; ``HUBBUB_MODEL`` picks the model).
Exit status: 0 done, 1 the flow failed or timed out.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any

from hubbub import Agent
from hubbub.config import AnthropicConfig
from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_TEXT,
    AgentClient,
    Envelope,
    HubClient,
    Passport,
    Resume,
    WsLink,
    default_handler,
)
from hubbub.testing import TestConfig

SEEDS = ("quick_start", "conversation")
ROLES = ("alice", "bob")


@dataclass(frozen=True, slots=True)
class Part:
    """One agent of a seed: its prompt and its offline script."""

    prompt: str
    script: str


#: The seeds' prompts and the scripted replies of examples/quick_start.py and conversation.py.
PARTS: dict[tuple[str, str], Part] = {
    ("quick_start", "alice"): Part(
        "Ask one focused question and stop.",
        "What's the single most important property of a distributed system?",
    ),
    ("quick_start", "bob"): Part(
        "Answer in one short sentence.",
        "Fault tolerance — because a system that can't survive partial failures "
        "defeats its entire purpose.",
    ),
    ("conversation", "alice"): Part(
        "Curious novice. One short sentence with a follow-up.",
        "Thanks! What should I learn right after that?",
    ),
    ("conversation", "bob"): Part(
        "Patient expert. One short sentence, no questions back.",
        "Linear regression: it teaches loss, gradients and overfitting in one small model.",
    ),
}

QUESTION = "What's the single most important property of a distributed system?"
OPENER = "Hi bob, what's a good first ML concept to learn?"
TEXTS = 6  # the conversation seed stops at six texts


def make_agent(seed: str, role: str) -> Agent:
    """The seed's agent for ``role``: Claude when a key is configured, else its script."""
    part = PARTS[seed, role]
    config: Any
    if os.environ.get("ANTHROPIC_API_KEY"):
        config = AnthropicConfig(model=os.environ.get("HUBBUB_MODEL", "claude-sonnet-4-6"))
    else:
        config = TestConfig(part.script)
    return Agent(role, prompt=part.prompt, config=config)


def connect(url: str, token: str) -> HubClient:
    """This process's one HubClient: a WebSocket link to the hub, with this agent's token."""
    return HubClient(WsLink(url, token=token))


# ---------------------------------------------------------------------- alice


def is_closed(envelope: Envelope) -> bool:
    return envelope.event_type == EV_SESSION_CLOSED


async def quick_start_alice(url: str, token: str, timeout: float) -> None:
    """Seed 1: a consulting session with bob that auto-closes on his reply."""
    alice_hc = connect(url, token)
    try:
        alice = await alice_hc.register(
            make_agent("quick_start", "alice"), Passport(name="alice"), Resume()
        )
        bob_id = (await alice_hc.get_agent("bob")).agent_id

        # Strict 1Q1R; the adapter auto-closes on bob's reply.
        session = await alice.open(type="consulting", target="bob")
        await session.send(QUESTION, audience=[bob_id])

        close_env = await alice.wait_for_session_event(
            session_id=session.session_id, predicate=is_closed, timeout=timeout
        )
        print(f"closed: {close_env.event_data.get('reason')!r}")

        # Replay the conversation from the hub's write-ahead log, as a participant.
        wal = await alice.read_wal(session.session_id)
        for env in wal:
            if env.event_type == EV_TEXT:
                speaker = "alice" if env.sender_id == alice.agent_id else "bob"
                print(f"{speaker}: {env.event_data['text']}")
    finally:
        await alice_hc.close()


async def wait_for_text_count(
    client: AgentClient, session_id: str, expected: int, *, timeout: float = 120.0
) -> None:
    """The seed's helper, reading the WAL as a participant instead of as the operator."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        wal = await client.read_wal(session_id)
        if sum(1 for e in wal if e.event_type == EV_TEXT) >= expected:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("did not reach expected count")


async def conversation_alice(url: str, token: str, timeout: float) -> None:
    """Seed 2: a free-form conversation both default handlers drive, closed at six texts."""
    alice_hc = connect(url, token)
    try:
        alice = await alice_hc.register(
            make_agent("conversation", "alice"), Passport(name="alice"), Resume()
        )
        session = await alice.open(type="conversation", target="bob")
        await session.send(OPENER)

        # Cap by message count, then explicit close.
        await wait_for_text_count(alice, session.session_id, TEXTS, timeout=timeout)
        await session.close()
        close_env = await alice.wait_for_session_event(
            session_id=session.session_id, predicate=is_closed, timeout=timeout
        )
        print(f"closed: {close_env.event_data.get('reason')!r}")

        wal = await alice.read_wal(session.session_id)
        for env in [e for e in wal if e.event_type == EV_TEXT][:TEXTS]:
            speaker = "alice" if env.sender_id == alice.agent_id else "bob"
            print(f"{speaker}: {env.event_data['text']}")
    finally:
        await alice_hc.close()


# ---------------------------------------------------------------------- bob


async def bob(seed: str, url: str, token: str, timeout: float) -> None:
    """The respondent: answer with the default handler until the session closes."""
    bob_hc = connect(url, token)
    loop = asyncio.get_running_loop()
    closed: asyncio.Future[Envelope] = loop.create_future()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        client = await bob_hc.register(make_agent(seed, "bob"), Passport(name="bob"), Resume())

        @client.on_envelope
        async def handle(envelope: Envelope) -> None:
            # The default handler acks the invite and answers each text; the wrapper
            # only notices when the session is over.
            await default_handler(envelope, client)
            if envelope.event_type == EV_SESSION_CLOSED and not closed.done():
                closed.set_result(envelope)

        print(f"ready: bob {client.agent_id}", flush=True)
        stopped = loop.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait(
                {closed, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopped.cancel()
        if closed in done:
            env = closed.result()
            print(f"bob: session {env.session_id} closed: {env.event_data.get('reason')!r}")
        elif not done:
            raise TimeoutError(f"bob: no session closed within {timeout:g} s")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await bob_hc.close()


# ---------------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seed", choices=SEEDS, default="quick_start")
    parser.add_argument("--role", choices=ROLES, required=True)
    parser.add_argument("--url", required=True, help="the hub, ws://HOST:PORT")
    parser.add_argument(
        "--token",
        default=os.environ.get("HUBBUB_TOKEN"),
        help="this agent's bearer token (default: $HUBBUB_TOKEN)",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the session to close"
    )
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("no token: pass --token or set HUBBUB_TOKEN")
    return args


async def run(args: argparse.Namespace) -> None:
    if args.role == "bob":
        await bob(args.seed, args.url, args.token, args.timeout)
    elif args.seed == "quick_start":
        await quick_start_alice(args.url, args.token, args.timeout)
    else:
        await conversation_alice(args.url, args.token, args.timeout)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        # The whole flow is bounded: a hub that never answers cannot keep this process.
        asyncio.run(asyncio.wait_for(run(args), args.timeout + 10))
    except Exception as exc:
        print(f"{args.role}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
