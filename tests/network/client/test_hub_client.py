"""HubClient lifecycle, registration and pass-throughs; the NetworkPlugin's tools."""

from __future__ import annotations

import pytest

from hubbub.agent import Agent
from hubbub.network.client import HubClient, NetworkPlugin
from hubbub.network.envelope import EV_SESSION_CLOSED
from hubbub.network.errors import NetworkError, NotFoundError
from hubbub.network.identity import Passport, Resume
from hubbub.network.session import SessionState
from hubbub.network.transport.local import LocalLink
from hubbub.testing import TestConfig


async def test_close_is_idempotent_and_context_managed(hub) -> None:
    link = LocalLink(hub)
    async with HubClient(link, hub=hub) as hc:
        client = await hc.register(Agent("a", config=TestConfig("x")), Passport(name="a"), Resume())
        assert client.connected
    assert hc.closed
    assert not client.connected
    await hc.close()
    with pytest.raises(RuntimeError):
        await hc.register(Agent("b", config=TestConfig("x")), Passport(name="b"), Resume())
    with pytest.raises(RuntimeError):
        await client.open(type="conversation", target="a")


async def test_no_client_object_exposes_the_operator_hub(hub) -> None:
    hc = HubClient(LocalLink(hub), hub=hub)
    alice = await hc.register(
        Agent("alice", config=TestConfig("x")), Passport(name="alice"), Resume()
    )
    for obj in (hc, alice, hc.connection):
        for name in dir(obj):
            if name.startswith("__"):
                continue
            try:
                value = getattr(obj, name)
            except Exception:
                continue
            assert value is not hub, f"{type(obj).__name__}.{name} is the operator Hub"
    await hc.close()


async def test_register_refuses_humans(net) -> None:
    hc = net.hub_client()
    with pytest.raises(ValueError, match="register_human"):
        await hc.register(
            Agent("h", config=TestConfig("x")), Passport(name="h", kind="human"), Resume()
        )


async def test_unregister_detaches_the_plugin_and_frees_the_name(net) -> None:
    hc = net.hub_client()
    agent = Agent("a", config=TestConfig("x"))
    client = await hc.register(agent, Passport(name="a"), Resume())
    assert {t.name for t in agent.tools} >= {"sessions", "peers"}
    assert any(isinstance(p, type(client._plugin.policy)) for p in agent.assembly)
    await client.unregister()
    assert not client.connected
    assert not [t for t in agent.tools if t.name in {"sessions", "peers"}]
    assert not agent.assembly
    with pytest.raises(NotFoundError):
        await hc.get_agent("a")
    again = await hc.register(agent, Passport(name="a"), Resume())
    assert again.agent_id != client.agent_id
    await again.close()


async def test_shutdown_unregisters_everyone(net) -> None:
    hc = net.hub_client()
    await net.agent("a", hc=hc)
    await net.agent("b", hc=hc)
    await hc.shutdown()
    assert hc.closed
    assert [p.name for p in await net.hub.list_agents()] == []


async def test_pass_throughs_act_as_the_registered_agent(net) -> None:
    hc = net.hub_client()
    alice = await net.agent("alice", hc=hc)
    await net.agent("bob")
    meta = await hc.create_session(manifest_type="conversation", participants=["bob"])
    assert meta.state is SessionState.ACTIVE and meta.creator_id == alice.agent_id
    assert (await hc.get_session(meta.session_id)).session_id == meta.session_id
    assert [m.session_id for m in await hc.list_sessions()] == [meta.session_id]
    assert await hc.can_send(meta.session_id, alice.agent_id)
    assert (await hc.adapter_for(meta.session_id)).manifest.type == "conversation"
    assert (
        await hc.default_view_policy(meta.session_id, alice.agent_id)
    ).name == "windowed_summary"
    closed = await hc.close_session(meta.session_id)
    assert closed.close_reason == "explicit_close"
    await alice.wait_for_session_event(
        session_id=meta.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=5.0,
    )
    assert len(await hc.read_wal(meta.session_id)) >= 4

    # With two agents on one client the caller must be named.
    carol = await net.agent("carol", hc=hc)
    with pytest.raises(ValueError, match="as_agent"):
        await hc.get_session(meta.session_id)
    assert (await hc.get_session(meta.session_id, as_agent="alice")).is_terminal()
    assert await hc.list_sessions(as_agent=carol) == []


async def test_sessions_and_peers_tools(net) -> None:
    alice = await net.agent("alice", resume=Resume(summary="asks questions"))
    await net.agent("bob", resume=Resume(summary="math expert", claimed_capabilities=["math"]))
    await net.agent("carol", resume=Resume(summary="poet", claimed_capabilities=["poetry"]))
    plugin = alice._plugin
    assert isinstance(plugin, NetworkPlugin)
    tools = {t.name: t for t in plugin.tools}

    found = await tools["peers"].fn(action="find", sort_by="name", client=alice)
    assert [r["name"] for r in found] == ["bob", "carol"]  # the caller is excluded
    limited = await tools["peers"].fn(action="find", limit=1, client=alice)
    assert [r["name"] for r in limited] == ["bob"]  # sorted, then limited
    math = await tools["peers"].fn(action="find", capability="math", client=alice)
    assert [r["name"] for r in math] == ["bob"]
    described = await tools["peers"].fn(action="describe", name="bob", client=alice)
    assert described["passport"]["name"] == "bob"
    assert "math" in described["skill_md"]
    assert (await tools["peers"].fn(action="describe", name="nobody", client=alice)).startswith(
        "Error"
    )

    opened = await tools["sessions"].fn(
        action="open", type="conversation", target="bob", session=None, client=alice
    )
    sid = opened["session_id"]
    listed = await tools["sessions"].fn(action="list", session=None, client=alice)
    assert [r["session_id"] for r in listed] == [sid]
    info = await tools["sessions"].fn(action="info", session_id=sid, session=None, client=alice)
    assert info["state"] == "active"
    err = await tools["sessions"].fn(action="close", session=None, client=alice)
    assert err.startswith("Error")
    done = await tools["sessions"].fn(action="close", session_id=sid, session=None, client=alice)
    assert "closed_by_agent" in done


async def test_a_hub_closing_the_link_disconnects_the_client(hub) -> None:
    hc = HubClient(LocalLink(hub), hub=hub)
    client = await hc.register(Agent("a", config=TestConfig("x")), Passport(name="a"), Resume())
    await hub.close()  # the hub says goodbye on every connection
    assert not hc.connected and not client.connected
    with pytest.raises(NetworkError) as info:  # the error that ended the connection
        await client.open(type="conversation", target="a")
    assert info.value.code == "hub_shutdown"
    await client.close()
    await hc.close()
