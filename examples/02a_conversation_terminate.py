"""Conversation with a sentinel: the session closes itself when a text says TERMINATE.

``TerminatingConversationAdapter`` subclasses the built-in conversation adapter
(spec §10.7): ``on_accepted`` returns CLOSED with ``terminate_keyword:<KEYWORD>``
when an accepted text contains the keyword. It is pure — the decision is re-derived
from the WAL on hydrate — and the keyword message is on the WAL before the close.
Registering it under the same (type, version) replaces the built-in: that is the
hub's side (:func:`setup_hub`, which ``--processes`` gives to ``hubbub serve
--setup``); every client gets the same adapter (:func:`adapters`) for its turns.
The agents' side (``ROLES``, ``drive``) is plain client code.

Runs offline with scripted models; set ANTHROPIC_API_KEY to use Claude.

    python examples/02a_conversation_terminate.py              # one process
    python examples/02a_conversation_terminate.py --processes  # hubbub serve + a process per agent
"""

from __future__ import annotations

import functools
from typing import Any

import harness

from hubbub import Agent
from hubbub.network import (
    EV_TEXT,
    AdapterResult,
    AgentClient,
    ConversationAdapter,
    Envelope,
    Hub,
    SessionMetadata,
    SessionState,
)

KEYWORD = "TERMINATE"
QUESTION = "Hi bob, what's a good first ML concept to learn?"
PROMPTS = {
    "alice": f"Curious novice. Once you have an answer, thank bob and end with {KEYWORD}.",
    "bob": "Patient expert. One short sentence.",
}
OFFLINE = {
    "alice": f"Thanks, that is all I needed. {KEYWORD}",
    "bob": "Linear regression: loss, gradients and overfitting in one small model.",
}


class TerminatingConversationAdapter(ConversationAdapter):
    """A conversation that closes when an accepted text contains ``keyword``."""

    def __init__(self, keyword: str = KEYWORD) -> None:
        super().__init__()  # keeps the conversation manifest: this replaces the built-in
        self.keyword = keyword

    def on_accepted(
        self, metadata: SessionMetadata, envelope: Envelope, state: Any
    ) -> AdapterResult:
        """CLOSED with ``terminate_keyword:<KEYWORD>`` on a text carrying the keyword."""
        if envelope.event_type == EV_TEXT and self.keyword in envelope.event_data.get("text", ""):
            return AdapterResult(SessionState.CLOSED, f"terminate_keyword:{self.keyword}")
        return super().on_accepted(metadata, envelope, state)


async def setup_hub(hub: Hub) -> None:
    """The hub side (operator code): the hub's conversations are sentinel ones."""
    hub.register_adapter(TerminatingConversationAdapter(keyword=KEYWORD))


def adapters() -> list[ConversationAdapter]:
    """The clients' side of the same session type: they run their turns with it too."""
    return [TerminatingConversationAdapter(keyword=KEYWORD)]


def make(name: str) -> Agent:
    """The agent of one role (built in the process that runs it)."""
    return Agent(name, prompt=PROMPTS[name], config=harness.model(OFFLINE[name]))


ROLES = [harness.Role(name, functools.partial(make, name)) for name in PROMPTS]
DRIVER = "alice"


async def drive(alice: AgentClient) -> harness.Outcome:
    """Ask bob, wait until the hub closes the conversation; the close reason and the texts."""
    session = await alice.open(type="conversation", target="bob")
    await session.send(QUESTION)
    reason = await harness.wait_closed(alice, session.session_id)
    return harness.Outcome(reason, await harness.transcript(alice, session.session_id))


harness.main(__name__)
