"""Human in the loop: a person and an agent in one conversation.

The person is a ``HumanClient`` (``HubClient.register_human``): no Agent, no model.
They open a conversation with the agent, say a line, wait for the agent's answer
(the envelope whose ``causation_id`` is their line), and so on until they say
"bye", which closes the session (reason ``human_closed``).

Offline (the default) the person's lines come from a script and the agent is a
scripted model; ``--interactive`` reads the lines from the terminal instead, and
with ANTHROPIC_API_KEY set the agent is Claude. ``--ws`` puts a real WebSocket
server on 127.0.0.1 between the person and the hub (the agent stays in-process):
the same client code, across a wire.

    python examples/human_in_the_loop.py
    python examples/human_in_the_loop.py --ws
    python examples/human_in_the_loop.py --interactive
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from hubbub import Agent
from hubbub.config import AnthropicConfig
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_TEXT,
    Envelope,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
)
from hubbub.network.auth import BearerTokens, ServerAuth
from hubbub.network.transport.ws import WsLink, serve_ws
from hubbub.testing import TestConfig

#: What the scripted person says, offline.
SCRIPT = ("What does the hub keep?", "Can I replay a session?", "bye")

Ask = Callable[[str], str]


def scripted(lines: Iterable[str]) -> Ask:
    """An input function that answers each prompt with the next scripted line."""
    it: Iterator[str] = iter(lines)
    return lambda prompt: next(it, "bye")


def pick_config() -> Any:
    """Claude when a key is configured, otherwise a scripted offline model."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        return AnthropicConfig(model=os.environ.get("HUBBUB_MODEL", "claude-sonnet-4-6"))
    return TestConfig("The hub logs every envelope per session, so any session can be replayed.")


async def main(ask: Ask | None = None, *, over_ws: bool = False, config: Any = None) -> list[str]:
    """Run the conversation, printing it; returns the transcript lines."""
    ask = ask if ask is not None else scripted(SCRIPT)
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0)
    transcript: list[str] = []
    ended = asyncio.Event()

    def show(line: str) -> None:
        transcript.append(line)
        print(line, flush=True)

    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(hub.close)
        if over_ws:
            auth = ServerAuth([BearerTokens({"hana-token": "hana"})])
            url = await stack.enter_async_context(serve_ws(hub, port=0, auth=auth))
            human_hc = HubClient(WsLink(url, token="hana-token"))
        else:
            human_hc = HubClient(LocalLink(hub), hub=hub)
        stack.push_async_callback(human_hc.close)
        agent_hc = HubClient(LocalLink(hub), hub=hub)
        stack.push_async_callback(agent_hc.close)

        tutor = await agent_hc.register(
            Agent(
                "tutor",
                prompt="You explain hubbub in one short sentence.",
                config=config if config is not None else pick_config(),
            ),
            Passport(name="tutor"),
            Resume(summary="Explains hubbub."),
        )
        hana = await human_hc.register_human(Passport(name="hana"))

        # Push: the person's screen shows when the session ends, whoever ends it.
        def notice(envelope: Envelope) -> None:
            if envelope.event_type == EV_SESSION_CLOSED:
                show(f"(session closed: {envelope.event_data.get('reason')})")
                ended.set()

        hana.on_envelope(notice)

        session = await hana.open(type="conversation", target="tutor")
        while True:
            line = (await asyncio.to_thread(ask, "hana> ")).strip()
            if not line or line.lower() == "bye":
                break
            if ask is not input:  # a typed line is on the screen already
                show(f"hana: {line}")
            said = await hana.send(session.session_id, line)

            def answers(envelope: Envelope, said: str = said) -> bool:
                return envelope.event_type == EV_TEXT and envelope.causation_id == said

            reply = await hana.wait_for_session_event(
                session_id=session.session_id, predicate=answers, timeout=120.0
            )
            show(f"tutor: {reply.event_data['text']}")
        await session.close()  # reason human_closed
        await asyncio.wait_for(ended.wait(), 30.0)  # the push callback saw the close
        humans = await tutor.hub_client.list_agents(kind="human")
        show(f"humans on the hub: {[p.name for p in humans]}")
    return transcript


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ws", action="store_true", help="the human talks over a WebSocket")
    parser.add_argument(
        "--interactive", action="store_true", help="type the human's lines (empty or bye ends)"
    )
    args = parser.parse_args()
    asyncio.run(main(input if args.interactive else None, over_ws=args.ws))
