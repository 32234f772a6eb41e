"""Names (§12) and skills (§21) through the protocol, in-process and over WebSocket.

``Hub.name_for`` / ``Hub.find_agent_id`` (operator), the ``names_for`` /
``find_agent_id`` operations behind ``HubClient.name_for`` / ``names_for`` /
``find_agent_id``, the default handler giving a ``NamedTranscript`` view the
participants' names, and ``peers(action="describe")`` with the fallback skill.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.network.client._links import KINDS, Links, open_links

from hubbub.agent import Agent
from hubbub.events import ModelMessage, ModelRequest, ModelResponse, TextInput
from hubbub.network.adapters import ConversationAdapter
from hubbub.network.client import AgentClient
from hubbub.network.envelope import EV_TEXT
from hubbub.network.errors import InvalidValueError
from hubbub.network.hub import Hub
from hubbub.network.identity import Passport, Resume
from hubbub.network.protocol.ops import MAX_NAMES
from hubbub.network.session import SessionManifest, SessionMetadata
from hubbub.network.skills import parse_skill_frontmatter
from hubbub.network.views import NamedTranscript, ViewPolicy
from hubbub.testing import TestConfig, TrackingConfig


class NamedConversation(ConversationAdapter):
    """A conversation whose turns see who said what."""

    def __init__(self) -> None:
        super().__init__()
        self.manifest = SessionManifest(
            type="named_conversation",
            version=1,
            participants=self.manifest.participants,
            default_view_policy="named_transcript",
        )

    def default_view_policy(self, metadata: SessionMetadata, participant_id: str) -> ViewPolicy:
        return NamedTranscript()


@pytest.fixture(params=KINDS)
async def links(request: pytest.FixtureRequest, hub: Hub) -> AsyncIterator[Links]:
    hub.register_adapter(NamedConversation())
    async with open_links(hub, request.param, adapters=[NamedConversation()]) as made:
        yield made


async def agent(
    links: Links, name: str, *replies: Any, config: Any = None, **kw: Any
) -> AgentClient:
    cfg = config if config is not None else TestConfig(*(replies or ("ok",)))
    return await links.hub_client().register(
        Agent(name, prompt=f"Be {name}.", config=cfg), Passport(name=name), Resume(), **kw
    )


# ---------------------------------------------------------------- the operator surface


async def test_hub_name_for_and_find_agent_id(hub: Hub) -> None:
    alice = await hub.register(Passport(name="alice"))
    assert alice.agent_id is not None
    assert hub.name_for(alice.agent_id) == "alice"
    assert hub.find_agent_id("alice") == alice.agent_id
    assert hub.name_for("no-such-id") is None
    assert hub.find_agent_id("nobody") is None
    assert hub.find_agent_id(alice.agent_id) is None  # an id is not a name
    assert hub.name_for("alice") is None  # a name is not an id
    assert hub.name_for(42) is None  # type: ignore[arg-type]
    await hub.unregister(alice.agent_id)
    assert hub.name_for(alice.agent_id) is None
    assert hub.find_agent_id("alice") is None


# ---------------------------------------------------------------- through the protocol


async def test_clients_resolve_names_and_ids(links: Links) -> None:
    alice = await agent(links, "alice")
    bob = await agent(links, "bob")
    hc = alice.hub_client
    assert await hc.name_for(bob.agent_id) == "bob"
    assert await hc.find_agent_id("bob") == bob.agent_id
    assert await hc.find_agent_id("nobody") is None
    assert await hc.name_for("no-such-id") is None
    assert await hc.names_for([alice.agent_id, "ghost", bob.agent_id, alice.agent_id]) == {
        alice.agent_id: "alice",
        bob.agent_id: "bob",
    }
    # Learnt names are kept: an agent id's name never changes, even after it leaves.
    await bob.unregister()
    assert await hc.name_for(bob.agent_id) == "bob"
    assert await hc.find_agent_id("bob") is None  # the name is free now


async def test_names_for_batches_long_lists(links: Links) -> None:
    alice = await agent(links, "alice")
    ids = [f"ghost-{i}" for i in range(MAX_NAMES + 5)] + [alice.agent_id]
    assert await alice.hub_client.names_for(ids) == {alice.agent_id: "alice"}
    with pytest.raises(InvalidValueError, match="at most"):
        await alice.hub_client.connection.call("names_for", agent_ids=ids)
    with pytest.raises(InvalidValueError, match="agent_ids"):
        await alice.hub_client.connection.call("names_for", agent_ids="alice")
    with pytest.raises(InvalidValueError, match="name"):
        await alice.hub_client.connection.call("find_agent_id", name=7)


async def test_default_handler_gives_a_named_view_names(links: Links, tap: Any) -> None:
    alice = await agent(links, "alice")
    tap(alice, quiet=True)  # alice only writes; bob answers
    config = TrackingConfig(TestConfig("noted", "noted again"))
    bob = await agent(links, "bob", config=config)
    bob_tap = tap(bob)
    session = await alice.open(type="named_conversation", target="bob")
    await session.send("one")
    await bob_tap.wait(lambda e: e.event_type == EV_TEXT and e.event_data["text"] == "one")
    await session.send("two")
    await bob_tap.wait(lambda e: e.event_type == EV_TEXT and e.event_data["text"] == "two")
    assert len(config.calls) == 2
    assert list(config.calls[0].messages) == [ModelRequest([TextInput("alice: one")])]
    assert list(config.calls[1].messages) == [
        ModelRequest([TextInput("alice: one")]),
        ModelResponse(ModelMessage("noted")),  # bob's own words: no prefix
        ModelRequest([TextInput("alice: two")]),
    ]


async def test_the_default_view_has_no_names(links: Links, tap: Any) -> None:
    alice = await agent(links, "alice")
    tap(alice, quiet=True)
    config = TrackingConfig(TestConfig("noted"))
    bob = await agent(links, "bob", config=config)
    bob_tap = tap(bob)
    session = await alice.open(type="conversation", target="bob")
    await session.send("one")
    await bob_tap.wait(lambda e: e.event_type == EV_TEXT)
    assert list(config.calls[0].messages) == [ModelRequest([TextInput("one")])]


# ---------------------------------------------------------------- peers(describe)


async def test_describe_uses_the_skill_or_the_fallback(links: Links) -> None:
    alice = await agent(links, "alice")
    await links.hub_client().register(
        Agent("bob", config=TestConfig("x")),
        Passport(name="bob"),
        Resume(summary="Math expert.", claimed_capabilities=["math"]),
    )
    await links.hub_client().register(
        Agent("carol", config=TestConfig("x")),
        Passport(name="carol"),
        Resume(summary="Poet."),
        skill_md="---\nname: carol\ndescription: Writes verse.\ntags: [poetry]\n---\n# Carol\n",
    )
    assert alice._plugin is not None
    peers = {t.name: t for t in alice._plugin.tools}["peers"]

    bob = await peers.fn(action="describe", name="bob", client=alice)
    assert bob["passport"]["kind"] == "agent"
    assert bob["skill"] == {"name": "bob", "description": "Math expert."}
    assert "## Capabilities\n- math" in parse_skill_frontmatter(bob["skill_md"]).body

    await links.hub_client().register_human(
        Passport(name="hana"), resume=Resume(summary="Reviews.")
    )
    hana = await peers.fn(action="describe", name="hana", client=alice)
    assert hana["passport"]["kind"] == "human"
    assert hana["skill"] == {"name": "hana", "description": "Reviews."}

    carol = await peers.fn(action="describe", name="carol", client=alice)
    assert carol["skill"] == {"name": "carol", "description": "Writes verse.", "tags": "[poetry]"}
    assert carol["skill_md"].endswith("# Carol\n")  # her own SKILL.md, verbatim
