"""The default handler: empty replies, tools closing sessions, failures, what reaches the model."""

from __future__ import annotations

import dataclasses

from hubbub.events import ModelMessage, ModelRequest, ModelResponse, TextInput, ToolCallEvent
from hubbub.network.adapters import ConversationAdapter
from hubbub.network.client import SessionInject, default_handler
from hubbub.network.envelope import EV_SESSION_CLOSED, EV_TEXT, Envelope
from hubbub.network.hub import AUDIT_KIND_TURN_FAILED
from hubbub.network.session import SessionState
from hubbub.testing import TestConfig, TrackingConfig


def _text_from(sender_id: str):
    return lambda e: e.event_type == EV_TEXT and e.sender_id == sender_id


def _is_close(e: Envelope) -> bool:
    return e.event_type == EV_SESSION_CLOSED


async def test_empty_reply_sends_nothing_and_halts_the_chain(net, tap) -> None:
    tracking = TrackingConfig(TestConfig(""))
    alice = await net.agent("alice", "unused")
    bob = await net.agent("bob", config=tracking)
    bob_tap = tap(bob)

    session = await alice.open(type="conversation", target="bob")
    first = await session.send("anyone there?")
    await bob_tap.wait(lambda e: e.envelope_id == first)

    assert len(tracking.calls) == 1  # the model was asked ...
    wal = await net.hub.read_wal(session.session_id)
    texts = [e for e in wal if e.event_type == EV_TEXT]
    assert [e.envelope_id for e in texts] == [first]  # ... but nothing was posted
    assert session.state is SessionState.ACTIVE


async def test_agent_side_tool_closes_its_session(net) -> None:
    async def end_conversation(reason: str, session: SessionInject) -> str:
        """End the current conversation."""
        if session is None:
            return "Error: not in a session"
        await session.close(reason=f"agent_close:{reason}")
        return "closed"

    alice = await net.agent("alice", "unused")
    bob = await net.agent(
        "bob",
        ToolCallEvent("end_conversation", arguments='{"reason": "done"}'),
        "Goodbye!",
        tools=[end_conversation],
    )
    session = await alice.open(type="conversation", target="bob")
    await session.send("Let's wrap up.")

    env = await alice.wait_for_session_event(
        session_id=session.session_id, predicate=_is_close, timeout=10.0
    )
    assert env.event_data["reason"] == "agent_close:done"
    await bob.wait_for_session_event(
        session_id=session.session_id, predicate=_is_close, timeout=10.0
    )
    wal = await net.hub.read_wal(session.session_id)
    # Bob's final "Goodbye!" is not posted into the closed session, and no failure is audited.
    assert [e.sender_id for e in wal if e.event_type == EV_TEXT] == [alice.agent_id]
    audit = await net.hub.audit_log.read_all()
    assert not [r for r in audit if r.get("kind") == AUDIT_KIND_TURN_FAILED]


async def test_sessions_tool_close_defaults_to_current_session(net) -> None:
    alice = await net.agent("alice", "unused")
    await net.agent("bob", ToolCallEvent("sessions", arguments='{"action": "close"}'), "bye")
    session = await alice.open(type="conversation", target="bob")
    await session.send("close it, please")
    env = await alice.wait_for_session_event(
        session_id=session.session_id, predicate=_is_close, timeout=10.0
    )
    assert env.event_data["reason"] == "closed_by_agent"


async def test_turn_failure_is_reported_and_the_session_stays_alive(net, tap) -> None:
    alice = await net.agent("alice", "unused")
    bob = await net.agent("bob", RuntimeError("model exploded"))
    bob_tap = tap(bob)
    alice_tap = tap(alice, quiet=True)

    session = await alice.open(type="conversation", target="bob")
    first = await session.send("hello?")
    await bob_tap.wait(lambda e: e.envelope_id == first)

    audit = await net.hub.audit_log.read_all()
    failures = [r for r in audit if r.get("kind") == AUDIT_KIND_TURN_FAILED]
    assert len(failures) == 1
    assert failures[0]["agent_id"] == bob.agent_id
    assert failures[0]["envelope_id"] == first
    assert failures[0]["session_id"] == session.session_id
    assert "model exploded" in failures[0]["exc_message"]
    assert (await session.info()).state is SessionState.ACTIVE

    # The session still works: a fixed model answers the next message.
    bob.agent.config = TestConfig("recovered")
    second = await session.send("try again")
    reply = await alice_tap.wait(_text_from(bob.agent_id))
    assert reply.event_data["text"] == "recovered"
    assert reply.causation_id == second


async def test_identity_line_and_own_messages_reach_the_model(net, tap) -> None:
    tracking = TrackingConfig(TestConfig("noted"))
    alice = await net.agent("alice", "unused")
    bob = await net.agent("bob", config=tracking)
    alice_tap = tap(alice, quiet=True)

    session = await alice.open(type="conversation", target="bob")
    await session.send("one")
    await alice_tap.wait(_text_from(bob.agent_id))
    await session.send("two")
    await alice_tap.wait(lambda e: len([x for x in alice_tap.seen if x.event_type == EV_TEXT]) == 2)

    assert len(tracking.calls) == 2
    call = tracking.calls[-1]
    assert call.prompt[0] == f"You are bob (agent_id: {bob.agent_id})."
    assert "Be bob." in call.prompt
    shaped = [_shape(m) for m in call.messages]
    assert shaped == [("user", "one"), ("assistant", "noted"), ("user", "two")]
    # The turn's DI carries the session handle and the client.
    session_dep = call.dependencies["ag2.network.session"]
    assert session_dep.session_id == session.session_id
    assert call.dependencies["ag2.network.agent_client"] is bob
    tool_names = {t.function.name for t in call.tools}
    assert {"sessions", "peers"} <= tool_names


async def test_attach_plugin_false_leaves_the_agent_bare(net, tap) -> None:
    tracking = TrackingConfig(TestConfig("ok"))
    alice = await net.agent("alice", "unused")
    bob = await net.agent("bob", config=tracking, attach_plugin=False)
    alice_tap = tap(alice, quiet=True)
    session = await alice.open(type="conversation", target="bob")
    await session.send("hi")
    await alice_tap.wait(_text_from(bob.agent_id))
    call = tracking.calls[-1]
    assert not any(p.startswith("You are bob") for p in call.prompt)
    assert not call.tools


async def test_current_handling_depth_inside_a_handler(net, tap) -> None:
    depths: list[int] = []
    alice = await net.agent("alice", "unused")
    bob = await net.agent("bob")

    async def record(envelope: Envelope) -> None:
        depths.append(bob.current_handling_depth)
        await default_handler(envelope, bob)  # still acks the invite

    bob_tap = tap(bob, inner=record)
    tap(alice, quiet=True)  # alice does not answer: no auto-driven chain
    session = await alice.open(type="conversation", target="bob")
    sent = await session.send("deep", depth=3)
    await bob_tap.wait(lambda e: e.envelope_id == sent)
    assert depths[-1] == 3
    assert bob.current_handling_depth == 0


def _shape(event: object) -> tuple[str, str]:
    if isinstance(event, ModelRequest):
        part = event.parts[0]
        assert isinstance(part, TextInput)
        return ("user", part.content)
    if isinstance(event, ModelResponse):
        assert event.message is not None
        return ("assistant", event.message.content)
    return (type(event).__name__, "")


class _BatchOnlyView:
    """A custom view policy without ``projection()``: the handler falls back to the WAL."""

    name = "batch_only"

    async def project(self, wal_slice, *, participant_id, session, render_envelope=None):
        out = []
        for env in wal_slice:
            text = render_envelope(env) if render_envelope is not None else None
            if text is None:
                continue
            if env.sender_id == participant_id:
                out.append(ModelResponse(ModelMessage(f"[me] {text}")))
            else:
                out.append(ModelRequest([TextInput(f"[them] {text}")]))
        return out


class _BatchConversation(ConversationAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.manifest = dataclasses.replace(self.manifest, type="batch_conversation")

    def default_view_policy(self, metadata, participant_id):
        return _BatchOnlyView()


async def test_custom_view_without_projection_reads_the_wal(net, tap) -> None:
    net.hub.register_adapter(_BatchConversation())
    tracking = TrackingConfig(TestConfig("noted"))
    alice = await net.agent("alice", "unused")
    bob = await net.agent("bob", config=tracking)
    alice_tap = tap(alice, quiet=True)
    session = await alice.open(type="batch_conversation", target="bob")
    await session.send("one")
    await alice_tap.wait(_text_from(bob.agent_id))
    await session.send("two")
    await alice_tap.wait(lambda e: len([x for x in alice_tap.seen if x.event_type == EV_TEXT]) == 2)
    shaped = [_shape(m) for m in tracking.calls[-1].messages]
    assert shaped == [("user", "[them] one"), ("assistant", "[me] noted"), ("user", "two")]
