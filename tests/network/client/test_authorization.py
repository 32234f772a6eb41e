"""Authorization applies through the client exactly as on the wire (W6)."""

from __future__ import annotations

import pytest

from hubbub.network.envelope import EV_TEXT, Envelope
from hubbub.network.errors import AccessDeniedError
from hubbub.network.session import SessionState


async def test_an_outsider_cannot_touch_a_session(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob")
    tap(alice, quiet=True)
    tap(bob, quiet=True)
    outsider_hc = net.hub_client()
    mallory = await net.agent("mallory", hc=outsider_hc)
    session = await alice.open(type="conversation", target="bob")
    await session.send("secret")

    with pytest.raises(AccessDeniedError):
        await outsider_hc.read_wal(session.session_id)
    with pytest.raises(AccessDeniedError):
        await mallory.read_wal(session.session_id)
    with pytest.raises(AccessDeniedError):
        await outsider_hc.get_session(session.session_id)
    with pytest.raises(AccessDeniedError):
        await outsider_hc.close_session(session.session_id, reason="hijack")
    with pytest.raises(AccessDeniedError):
        await mallory.close_session(session.session_id)
    with pytest.raises(AccessDeniedError):
        await outsider_hc.adapter_state(session.session_id)
    with pytest.raises(AccessDeniedError):
        await mallory.send_envelope(
            Envelope(session.session_id, "", None, EV_TEXT, {"text": "injected"})
        )
    assert not await outsider_hc.can_send(session.session_id, mallory.agent_id)
    assert (await net.hub.get_session(session.session_id)).state is SessionState.ACTIVE
    texts = [e for e in await net.hub.read_wal(session.session_id) if e.event_type == EV_TEXT]
    assert [e.event_data["text"] for e in texts] == ["secret"]


async def test_a_client_cannot_post_as_another_agent(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob")
    tap(bob, quiet=True)
    outsider_hc = net.hub_client()
    mallory = await net.agent("mallory", hc=outsider_hc)
    session = await alice.open(type="conversation", target="bob")

    forged = Envelope(session.session_id, alice.agent_id, None, EV_TEXT, {"text": "I am alice"})
    with pytest.raises(AccessDeniedError):
        await mallory.send_envelope(forged)
    with pytest.raises(AccessDeniedError):
        await outsider_hc.post_envelope(forged)
    with pytest.raises(AccessDeniedError):  # straight to the connection: the hub refuses too
        await outsider_hc.connection.post(forged)
    # Same connection, other identity: the client refuses as well.
    shared = net.hub_client()
    carol = await net.agent("carol", hc=shared)
    dave = await net.agent("dave", hc=shared)
    with pytest.raises(AccessDeniedError):
        await carol.send_envelope(
            Envelope(session.session_id, dave.agent_id, None, EV_TEXT, {"text": "x"})
        )
    texts = [e for e in await net.hub.read_wal(session.session_id) if e.event_type == EV_TEXT]
    assert texts == []


async def test_a_blank_sender_is_filled_in(net, tap) -> None:
    alice = await net.agent("alice")
    bob = await net.agent("bob")
    bob_tap = tap(bob, quiet=True)
    session = await alice.open(type="conversation", target="bob")
    env = Envelope(session.session_id, "", None, EV_TEXT, {"text": "hello"})
    envelope_id = await alice.send_envelope(env)
    got = await bob_tap.wait(lambda e: e.envelope_id == envelope_id)
    assert got.sender_id == alice.agent_id
