"""Discussion and workflow driven end to end by default handlers, in-process and over
WebSocket: turn skipping (only the expected speaker calls its model), packets built
from the round's events, handoffs by name, and a handoff to a stranger refused
without wedging the session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from hubbub.agent import Agent
from hubbub.events import ToolCallEvent
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import (
    EV_CONTEXT_SET,
    EV_PACKET,
    EV_SESSION_CLOSED,
    EV_TEXT,
    EV_TURN_FAILED,
    AgentClient,
    AgentTarget,
    FromSpeaker,
    Handoff,
    HubClient,
    LocalLink,
    Passport,
    Resume,
    SessionInject,
    SessionState,
    SessionStateInject,
    TerminateTarget,
    Transition,
    TransitionGraph,
    delete_context,
    set_context,
)
from hubbub.network.auth import BearerTokens, ServerAuth
from hubbub.network.hub import Hub
from hubbub.network.transport.ws import WsLink, serve_ws
from hubbub.testing import TestConfig, TrackingConfig

TOKEN = "multiparty"
DEADLINE = 10.0


class Net:
    def __init__(self, hub: Hub, connect: Callable[[], HubClient]) -> None:
        self.hub = hub
        self.connect = connect
        self.made: list[HubClient] = []
        self.configs: dict[str, TrackingConfig] = {}

    async def agent(self, name: str, *script: Any, tools: list[Any] | None = None) -> AgentClient:
        hc = self.connect()
        self.made.append(hc)
        config = TrackingConfig(TestConfig(*(script or (f"{name} speaks",))))
        self.configs[name] = config
        return await hc.register(
            Agent(name, prompt=f"Be {name}.", config=config, tools=tools or []),
            Passport(name=name),
            Resume(),
        )

    def calls(self, name: str) -> int:
        return len(self.configs[name].calls)

    async def close(self) -> None:
        for hc in self.made:
            await hc.close()


@pytest.fixture(params=["local", "ws"])
async def net(request: pytest.FixtureRequest) -> AsyncIterator[Net]:
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0, expectation_sweep_interval=0)
    try:
        if request.param == "local":
            n = Net(hub, lambda: HubClient(LocalLink(hub), hub=hub))
            yield n
            await n.close()
        else:
            async with AsyncExitStack() as stack:
                url = await stack.enter_async_context(
                    serve_ws(
                        hub, host="127.0.0.1", port=0, auth=ServerAuth([BearerTokens({TOKEN: "t"})])
                    )
                )
                n = Net(hub, lambda: HubClient(WsLink(url, token=TOKEN, reconnect=0)))
                yield n
                await n.close()
    finally:
        await hub.close()


async def until(predicate: Callable[[], Any], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def closed(client: AgentClient, session_id: str) -> Any:
    return await client.wait_for_session_event(
        session_id=session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=DEADLINE,
    )


async def test_three_agent_discussion_only_the_expected_speaker_calls_its_model(net: Net) -> None:
    a = await net.agent("alice")
    await net.agent("bob")
    await net.agent("carol")
    session = await a.open(type="discussion", target=["bob", "carol"])
    sid = session.session_id
    await session.send("topic")

    async def enough() -> bool:
        return sum(e.event_type == EV_TEXT for e in await a.read_wal(sid)) >= 10

    await until(enough, "ten texts")
    await session.close(reason="cap_reached")
    await closed(a, sid)
    wal = await net.hub.read_wal(sid)
    texts = [e for e in wal if e.event_type == EV_TEXT]
    order = [
        a.agent_id,
        *[p for p in (await a.get_session(sid)).participant_ids() if p != a.agent_id],
    ]
    assert [e.sender_id for e in texts] == [order[i % 3] for i in range(len(texts))]
    assert not [e for e in wal if e.event_type == EV_TURN_FAILED]  # nobody was refused
    # every model call became a text (a reply racing the close may be dropped: at most one)
    made = net.calls("alice") + net.calls("bob") + net.calls("carol")
    assert len(texts) - 1 <= made <= len(texts)
    assert (await a.get_session(sid)).close_reason == "cap_reached"


async def test_three_step_workflow_by_default_handlers(net: Net) -> None:
    user = await net.agent("user")
    r = await net.agent("researcher", "facts")
    w = await net.agent("writer", "draft")
    e = await net.agent("editor", "final")
    graph = TransitionGraph.sequence(user.agent_id, r.agent_id, w.agent_id, e.agent_id)
    session = await user.open(
        type="workflow", target=["researcher", "writer", "editor"], knobs={"graph": graph.to_dict()}
    )
    await session.send("brief")
    done = await closed(user, session.session_id)
    assert done.event_data["reason"] == "sequence_complete"
    wal = await net.hub.read_wal(session.session_id)
    packets = [x for x in wal if x.event_type == EV_PACKET]
    assert [(p.sender_id, p.event_data["body"]) for p in packets] == [
        (r.agent_id, "facts"),
        (w.agent_id, "draft"),
        (e.agent_id, "final"),
    ]
    assert all(p.event_data["routing"] == {"kind": "text"} for p in packets)
    assert [net.calls(n) for n in ("user", "researcher", "writer", "editor")] == [0, 1, 1, 1]


async def test_a_handoff_by_name_routes_the_turn(net: Net) -> None:
    def go_security(reason: str) -> Handoff:
        return Handoff("security", reason)

    user = await net.agent("user")
    triage = await net.agent(
        "triage",
        ToolCallEvent("go_security", arguments='{"reason": "looks like fraud"}'),
        "handing over",
        tools=[go_security],
    )
    sec = await net.agent("security", "locked the account")
    graph = TransitionGraph(
        user.agent_id,
        [
            Transition(FromSpeaker(user.agent_id), AgentTarget(triage.agent_id)),
            Transition(FromSpeaker(sec.agent_id), TerminateTarget("secured")),
        ],
    )
    session = await user.open(
        type="workflow", target=["triage", "security"], knobs={"graph": graph.to_dict()}
    )
    await session.send("strange login")
    done = await closed(user, session.session_id)
    assert done.event_data["reason"] == "secured"
    packets = [x for x in await net.hub.read_wal(session.session_id) if x.event_type == EV_PACKET]
    assert packets[0].sender_id == triage.agent_id
    assert packets[0].event_data["routing"] == {
        "kind": "handoff",
        "tool": "go_security",
        "target": sec.agent_id,
        "reason": "looks like fraud",
    }
    assert packets[1].sender_id == sec.agent_id


async def test_a_handoff_to_a_stranger_fails_the_turn_and_the_session_goes_on(net: Net) -> None:
    def go_nowhere() -> Handoff:
        return Handoff("nobody-by-this-name")

    user = await net.agent("user")
    triage = await net.agent(
        "triage", ToolCallEvent("go_nowhere"), "handing over", tools=[go_nowhere]
    )
    other = await net.agent("other")
    graph = TransitionGraph(
        user.agent_id, [Transition(FromSpeaker(user.agent_id), AgentTarget(triage.agent_id))]
    )
    session = await user.open(
        type="workflow", target=["triage", "other"], knobs={"graph": graph.to_dict()}
    )
    sid = session.session_id
    await session.send("help")

    async def failed() -> bool:
        return any(x.event_type == EV_TURN_FAILED for x in await net.hub.read_wal(sid))

    await until(failed, "the failed turn")
    wal = await net.hub.read_wal(sid)
    failure = next(x for x in wal if x.event_type == EV_TURN_FAILED)
    assert failure.sender_id == triage.agent_id
    assert failure.event_data["code"] == "protocol_error"
    assert "nobody-by-this-name" in failure.event_data["message"]
    assert not [x for x in wal if x.event_type == EV_PACKET]
    meta = await user.get_session(sid)
    assert meta.state is SessionState.ACTIVE
    # the turn is still triage's: it can still speak, and nobody else can
    assert await triage.can_send(sid)
    assert not await other.can_send(sid)
    assert net.calls("other") == 0


async def test_tools_see_context_vars_and_set_context_lands_before_the_packet(net: Net) -> None:
    seen: list[Any] = []

    async def read_and_bump(state: SessionStateInject, session: SessionInject) -> str:
        seen.append(dict(state.context_vars))
        await set_context(session, "tier", "platinum")
        await delete_context(session, "old")
        return "ok"

    user = await net.agent("user")
    worker = await net.agent(
        "worker", ToolCallEvent("read_and_bump"), "bumped", tools=[read_and_bump]
    )
    graph = TransitionGraph(
        user.agent_id,
        [Transition(FromSpeaker(user.agent_id), AgentTarget(worker.agent_id))],
        default_target=TerminateTarget("done"),
    )
    session = await user.open(
        type="workflow",
        target=["worker"],
        knobs={"graph": graph.to_dict(), "context_vars": {"tier": "gold", "old": 1}},
    )
    await session.send("go")
    done = await closed(user, session.session_id)
    assert done.event_data["reason"] == "done"
    assert seen == [{"tier": "gold", "old": 1}]
    wal = await net.hub.read_wal(session.session_id)
    kinds = [e.event_type for e in wal if e.event_type in (EV_CONTEXT_SET, EV_PACKET)]
    assert kinds == [EV_CONTEXT_SET, EV_CONTEXT_SET, EV_PACKET]
    assert all(e.audience == [] for e in wal if e.event_type == EV_CONTEXT_SET)
    state = await user.adapter_state(session.session_id)
    assert state.context_vars == {"tier": "platinum"}


async def test_set_context_outside_a_workflow_is_a_runtime_error(net: Net) -> None:
    a = await net.agent("alice")
    await net.agent("bob")
    session = await a.open(type="conversation", target="bob")
    with pytest.raises(RuntimeError, match="not a workflow"):
        await set_context(session, "k", 1)
    with pytest.raises(RuntimeError, match="no session"):
        await delete_context(None, "k")


async def test_a_queued_message_that_was_not_its_turn_is_not_answered() -> None:
    """Round robin: when carol is slow to take alice's opener (bob's turn) and bob's
    reply (carol's turn) is already queued behind it, carol skips the opener by the
    probe it came with and answers bob's reply, seeing both — one reply, no extra
    request to the hub for the skipped one."""
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0, expectation_sweep_interval=0)
    link = LocalLink(hub)
    hcs = [HubClient(link, hub=hub) for _ in range(3)]
    try:
        agents = {}
        for hc, (name, reply) in zip(
            hcs, [("alice", ""), ("bob", "from bob"), ("carol", "from carol")], strict=True
        ):
            agents[name] = await hc.register(
                Agent(name, config=TestConfig(reply)), Passport(name=name), Resume()
            )
        carol = agents["carol"]
        gate = asyncio.Event()
        calls: list[str] = []
        real_call = carol.connection.call

        async def counted(op: str, **params: Any) -> Any:
            calls.append(op)
            return await real_call(op, **params)

        carol.connection.call = counted  # type: ignore[method-assign]
        real_handle = carol._handle_one

        async def slow(record: Any, envelope: Any) -> None:
            if envelope.event_type == EV_TEXT:
                await gate.wait()  # carol's worker holds the opener until bob's reply is queued
            await real_handle(record, envelope)

        carol._handle_one = slow  # type: ignore[method-assign]
        session = await agents["alice"].open(type="discussion", target=["bob", "carol"])
        await session.send("opener")
        async with asyncio.timeout(10):
            while not any(
                e.event_data.get("text") == "from bob"
                for e in await hub.read_wal(session.session_id)
            ):
                await asyncio.sleep(0.01)
        gate.set()
        async with asyncio.timeout(10):
            while not any(
                e.event_data.get("text") == "from carol"
                for e in await hub.read_wal(session.session_id)
            ):
                await asyncio.sleep(0.01)
        wal = await hub.read_wal(session.session_id)
        texts = [e for e in wal if e.event_type == EV_TEXT]
        assert [e.event_data["text"] for e in texts[:3]] == ["opener", "from bob", "from carol"]
        assert texts[2].causation_id == texts[1].envelope_id  # carol answered bob's reply
        assert "turn_probe" not in calls
    finally:
        for hc in hcs:
            await hc.close()
        await hub.close()


async def test_a_deliverys_probe_carries_the_state_only_to_the_next_speaker() -> None:
    """Round robin: of the two recipients of alice's opener, bob (whose turn it is)
    gets ``can_send`` with the adapter state; carol gets a bare no (her turn needs none)."""
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0, expectation_sweep_interval=0)
    link = LocalLink(hub)
    hcs = [HubClient(link, hub=hub) for _ in range(3)]
    try:
        agents = {}
        for hc, name in zip(hcs, ["alice", "bob", "carol"], strict=True):
            agents[name] = await hc.register(
                Agent(name, config=TestConfig("")), Passport(name=name), Resume()
            )
        probes: dict[str, list[Any]] = {"bob": [], "carol": []}
        for name, seen in probes.items():
            client = agents[name]
            real = client._deliver

            def spy(
                envelope: Any, probe: Any = None, *, _real: Any = real, _seen: Any = seen
            ) -> None:
                if envelope.event_type == EV_TEXT:
                    _seen.append(probe)
                _real(envelope, probe)

            client._deliver = spy  # type: ignore[method-assign]
        session = await agents["alice"].open(type="discussion", target=["bob", "carol"])
        await session.send("opener")
        assert probes["carol"] == [{"can_send": False, "state": None}]
        [bob_probe] = probes["bob"]
        assert bob_probe["can_send"] is True
        assert bob_probe["state"]["expected_next_speaker"] == agents["bob"].agent_id
    finally:
        for hc in hcs:
            await hc.close()
        await hub.close()


async def test_messages_that_were_not_its_turn_are_in_the_next_turns_history() -> None:
    """Round robin alice → bob → carol → alice: bob's reply reaches alice when it is
    carol's turn (passed over, no turn run); alice's next turn still sees the opener,
    bob's and carol's messages, in order."""
    from hubbub.events import ModelRequest, ModelResponse
    from hubbub.testing import TrackingConfig

    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0, expectation_sweep_interval=0)
    link = LocalLink(hub)
    hcs = [HubClient(link, hub=hub) for _ in range(3)]
    alice_config = TrackingConfig(TestConfig(""))  # alice answers with nothing: the round stops
    try:
        agents = {}
        for hc, name, config in zip(
            hcs,
            ["alice", "bob", "carol"],
            [alice_config, TestConfig("from bob"), TestConfig("from carol")],
            strict=True,
        ):
            agents[name] = await hc.register(
                Agent(name, config=config), Passport(name=name), Resume()
            )
        session = await agents["alice"].open(type="discussion", target=["bob", "carol"])
        await session.send("opener")
        async with asyncio.timeout(10):
            while not alice_config.calls:
                await asyncio.sleep(0.01)
        seen = []
        for event in alice_config.calls[0].messages:
            if isinstance(event, ModelRequest):
                seen.append(("user", event.parts[0].content))
            elif isinstance(event, ModelResponse):
                seen.append(("assistant", event.message.content if event.message else ""))
        assert seen == [("assistant", "opener"), ("user", "from bob"), ("user", "from carol")]
    finally:
        for hc in hcs:
            await hc.close()
        await hub.close()
