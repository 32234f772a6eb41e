"""The hub's seams in-process: listeners, arbiters and the audit sink (spec §15).

Real runs: agents with scripted TestConfig models talk through LocalLink; every
listener event checked here comes from what the hub really did.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from hubbub.agent import Agent
from hubbub.knowledge.memory import MemoryKnowledgeStore
from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_TEXT,
    AccessDeniedError,
    AuditLog,
    BaseHubArbiter,
    BaseHubListener,
    Deny,
    Envelope,
    Hub,
    HubArbiter,
    HubClient,
    HubListener,
    InboxBlock,
    InboxFull,
    LimitsBlock,
    LocalLink,
    MockClock,
    Passport,
    ProtocolError,
    Resume,
    Rule,
    RuleBasedArbiter,
    SessionMetadata,
)
from hubbub.network.client.agent_client import AgentClient
from hubbub.network.errors import InvalidValueError, NetworkError
from hubbub.network.hub import HubInterceptor
from hubbub.network.identity import Passport as PassportT
from hubbub.network.rule import Rule as RuleT
from hubbub.network.session import SessionManifest
from hubbub.testing import TestConfig

DEADLINE = 10.0


@pytest.fixture
async def hub() -> AsyncIterator[Hub]:
    h = await Hub.open(
        MemoryKnowledgeStore(),
        clock=MockClock(),
        ttl_sweep_interval=0,
        expectation_sweep_interval=0,
        invite_ack_timeout=5.0,
    )
    yield h
    await h.close()


async def register(hub: Hub, name: str, *replies: Any, rule: Rule | None = None) -> AgentClient:
    hc = HubClient(LocalLink(hub), hub=hub)
    agent = Agent(name, prompt=f"Be {name}.", config=TestConfig(*(replies or ("ok",))))
    return await hc.register(agent, Passport(name=name), Resume(), rule=rule)


async def consult(alice: AgentClient, question: str = "What matters?") -> str:
    session = await alice.open(type="consulting", target="bob")
    await session.send(question)
    await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
        timeout=DEADLINE,
    )
    return session.session_id


class Recorder(BaseHubListener):
    """Records every event it hears as (method, args)."""

    def __init__(self, tag: str = "", log: list[tuple[str, str]] | None = None) -> None:
        self.tag = tag
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        self.log = log if log is not None else []

    def _hear(self, name: str, *args: Any) -> None:
        self.events.append((name, args))
        self.log.append((self.tag, name))

    async def on_envelope_posted(self, envelope: Envelope, metadata: SessionMetadata) -> None:
        self._hear("on_envelope_posted", envelope, metadata)

    async def on_envelope_rejected(self, envelope: Envelope, reason: str) -> None:
        self._hear("on_envelope_rejected", envelope, reason)

    async def on_dispatch_failed(
        self, envelope: Envelope, recipient_id: str, exc: BaseException
    ) -> None:
        self._hear("on_dispatch_failed", envelope, recipient_id, exc)

    async def on_session_event(self, session_id: str, kind: str, payload: dict[str, Any]) -> None:
        self._hear("on_session_event", session_id, kind, payload)

    async def on_agent_event(self, agent_id: str, kind: str, payload: dict[str, Any]) -> None:
        self._hear("on_agent_event", agent_id, kind, payload)

    async def on_expectation_fired(self, session_id: str, expectation: Any, violation: Any) -> None:
        self._hear("on_expectation_fired", session_id, expectation, violation)

    async def on_turn_failed(
        self, session_id: str, agent_id: str, envelope_id: str, exc: BaseException
    ) -> None:
        self._hear("on_turn_failed", session_id, agent_id, envelope_id, exc)

    async def on_inbox_pressure(self, agent_id: str, pending: int, cap: int) -> None:
        self._hear("on_inbox_pressure", agent_id, pending, cap)

    def of(self, name: str) -> list[tuple[Any, ...]]:
        return [args for n, args in self.events if n == name]


# ---------------------------------------------------------------------------- listeners


async def test_a_consulting_run_reaches_the_listener_in_order(hub: Hub) -> None:
    rec = Recorder()
    hub.register_listener(rec)
    assert isinstance(rec, HubListener)
    alice = await register(hub, "alice", "unused")
    bob = await register(hub, "bob", "Fault tolerance.")
    sid = await consult(alice)
    await hub.flush_listeners()

    agents = rec.of("on_agent_event")
    assert [(a[0], a[1]) for a in agents] == [
        (alice.agent_id, "registered"),
        (bob.agent_id, "registered"),
    ]
    assert agents[0][2]["name"] == "alice"
    kinds = [(a[0], a[1]) for a in rec.of("on_session_event")]
    assert kinds == [(sid, "created"), (sid, "opened"), (sid, "closed")]
    assert rec.of("on_session_event")[-1][2] == {"reason": "consulting_complete"}
    posted = rec.of("on_envelope_posted")
    wal = await hub.read_wal(sid)
    # every envelope the WAL holds, in WAL order, with the session's metadata
    assert [e.envelope_id for e, _ in posted] == [e.envelope_id for e in wal]
    assert all(isinstance(meta, SessionMetadata) for _, meta in posted)
    assert posted[-1][1].close_reason == "consulting_complete"
    texts = [e.event_data["text"] for e, _ in posted if e.event_type == EV_TEXT]
    assert texts == ["What matters?", "Fault tolerance."]
    assert hub.health()["registered_listeners"] == 1


async def test_listeners_are_called_in_registration_order_and_a_raising_one_is_isolated(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    log: list[tuple[str, str]] = []

    class Broken(Recorder):
        async def on_agent_event(self, agent_id: str, kind: str, payload: dict[str, Any]) -> None:
            self._hear("on_agent_event")
            raise RuntimeError("listener bug")

    first, broken, last = Recorder("first", log), Broken("broken", log), Recorder("last", log)
    for listener in (first, broken, last):
        hub.register_listener(listener)
    hub.register_listener(first)  # twice is once
    assert hub.listeners == [first, broken, last]
    alice = await register(hub, "alice", "unused")  # the hub is unaffected by the bug
    await register(hub, "bob", "fine")
    sid = await consult(alice)
    await hub.flush_listeners()
    agent_calls = [tag for tag, name in log if name == "on_agent_event"]
    assert agent_calls == ["first", "broken", "last"] * 2
    assert "listener bug" in caplog.text
    assert (await hub.get_session(sid)).close_reason == "consulting_complete"
    # per event: first, then broken, then last
    for i in range(0, len(log), 3):
        assert [tag for tag, _ in log[i : i + 3]] == ["first", "broken", "last"]

    hub.unregister_listener(broken)
    hub.unregister_listener(broken)  # unknown: ignored
    await alice.set_rule(Rule())
    await hub.flush_listeners()
    assert [tag for tag, name in log[-2:]] == ["first", "last"]
    assert first.of("on_agent_event")[-1][1] == "rule_set"


async def test_rejected_envelopes_reach_the_listener_with_their_code(hub: Hub) -> None:
    rec = Recorder()
    hub.register_listener(rec)
    alice = await register(hub, "alice", "unused")
    bob = await register(hub, "bob", "reply")
    session = await alice.open(type="consulting", target="bob")
    with pytest.raises(ProtocolError) as info:
        await bob.send_envelope(
            Envelope(session.session_id, bob.agent_id, None, EV_TEXT, {"text": "first!"})
        )
    await hub.flush_listeners()
    [(env, reason)] = rec.of("on_envelope_rejected")
    assert env.sender_id == bob.agent_id
    assert reason == f"{info.value.code}: {info.value}"
    assert "initiator" in reason


async def test_turn_failures_reach_the_listener(hub: Hub) -> None:
    rec = Recorder()
    hub.register_listener(rec)
    alice = await register(hub, "alice", "unused")
    bob = await register(hub, "bob", RuntimeError("model down"))
    session = await alice.open(type="consulting", target="bob")
    await session.send("Are you there?")

    async def failed() -> None:
        while not rec.of("on_turn_failed"):
            await hub.flush_listeners()
            await asyncio.sleep(0.01)

    await asyncio.wait_for(failed(), DEADLINE)
    [(sid, agent_id, envelope_id, exc)] = rec.of("on_turn_failed")
    assert (sid, agent_id) == (session.session_id, bob.agent_id)
    assert "model down" in str(exc)
    wal = await hub.read_wal(sid)
    assert envelope_id in {e.envelope_id for e in wal}


async def test_dispatch_failures_and_inbox_pressure_reach_the_listener(hub: Hub) -> None:
    rec = Recorder()
    hub.register_listener(rec)
    alice = await register(hub, "alice", "unused")
    # bob's inbox signals pressure at 2 unreceipted envelopes
    bob_rule = Rule(limits=LimitsBlock(inbox=InboxBlock(max_pending=10, high_water=2)))
    bob_hc = HubClient(LocalLink(hub), hub=hub)
    bob = await bob_hc.register(
        Agent("bob", config=TestConfig("x")), Passport(name="bob"), Resume(), rule=bob_rule
    )
    endpoint = hub._router.bound[bob.agent_id]
    session = await alice.open(type="conversation", target="bob")
    await hub.flush_listeners()
    # the handshake's two deliveries (invite, opened) reached the mark already
    assert rec.of("on_inbox_pressure") == [(bob.agent_id, 2, 2)]
    hub._router.clear_inbox()
    del rec.events[:]

    def broken_deliver(recipient_id: str, env: Envelope) -> None:
        raise ConnectionError("socket gone")

    endpoint.deliver = broken_deliver  # type: ignore[method-assign]
    await session.send("one")
    await session.send("two")
    await hub.flush_listeners()
    failed = rec.of("on_dispatch_failed")
    assert [(e.event_data["text"], rid) for e, rid, _ in failed] == [
        ("one", bob.agent_id),
        ("two", bob.agent_id),
    ]
    assert isinstance(failed[0][2], ConnectionError)
    assert rec.of("on_inbox_pressure") == [(bob.agent_id, 2, 2)]


async def test_expectations_firing_reach_the_listener() -> None:
    clock = MockClock()
    hub = await Hub.open(
        MemoryKnowledgeStore(),
        clock=clock,
        ttl_sweep_interval=0,
        expectation_sweep_interval=0,
    )
    rec = Recorder()
    hub.register_listener(rec)
    alice = await register(hub, "alice", "unused")
    await register(hub, "bob", "hi")
    session = await alice.open(type="conversation", target="bob")
    clock.advance(3700)  # conversation: max_silence(3600 s, audit)
    await hub.check_expectations()
    await hub.flush_listeners()
    [(sid, expectation, violation)] = rec.of("on_expectation_fired")
    assert sid == session.session_id
    assert expectation.name == "max_silence"
    assert violation.expectation is expectation
    await hub.close()


async def test_unregistering_an_agent_reaches_the_listener(hub: Hub) -> None:
    rec = Recorder()
    hub.register_listener(rec)
    alice = await register(hub, "alice")
    await alice.set_skill("# alice")
    await alice.unregister()
    await hub.flush_listeners()
    assert [a[1] for a in rec.of("on_agent_event")] == ["registered", "skill_set", "unregistered"]


# ---------------------------------------------------------------------------- arbiters


class Gate(RuleBasedArbiter):
    """The rules, plus switchable denials of every kind."""

    def __init__(self) -> None:
        self.deny: set[str] = set()
        self.calls: list[str] = []

    def authorize_register(self, passport: PassportT, rule: RuleT, principal: str) -> Any:
        if "register" in self.deny and passport.name == "mallory":
            return Deny("mallory may not register here", code="register_denied")
        return super().authorize_register(passport, rule, principal)

    def authorize_session_open(
        self,
        manifest: SessionManifest,
        creator: PassportT,
        creator_rule: RuleT,
        invitees: Sequence[PassportT],
        invitee_rules: Sequence[RuleT],
        active_creator_sessions: int,
    ) -> Any:
        self.calls.append(f"open:{manifest.type}:{','.join(p.name for p in invitees)}")
        if "open" in self.deny:
            return Deny(f"{creator.name} may not open {manifest.type} sessions today")
        return super().authorize_session_open(
            manifest, creator, creator_rule, invitees, invitee_rules, active_creator_sessions
        )

    def authorize_send(
        self, envelope: Envelope, sender: PassportT, sender_rule: RuleT, recipients: Any
    ) -> Any:
        if envelope.event_data.get("text") == "secret":
            return Deny(f"{sender.name} may not tell secrets", code="send_denied")
        return super().authorize_send(envelope, sender, sender_rule, recipients)

    def authorize_inbox(
        self, envelope: Envelope, recipient: PassportT, recipient_rule: RuleT, current_pending: int
    ) -> Any:
        if envelope.event_data.get("text") == "flood":
            return Deny(f"{recipient.name} is busy", error=InboxFull)
        return super().authorize_inbox(envelope, recipient, recipient_rule, current_pending)

    def authorize_dispatch(
        self, envelope: Envelope, sender: Any, recipient: Any, recipient_rule: Any
    ) -> Any:
        if envelope.event_data.get("text") == "hidden":
            return Deny(f"{recipient.name} may not see this")
        return super().authorize_dispatch(envelope, sender, recipient, recipient_rule)


async def test_the_default_arbiter_is_rule_based_and_can_be_replaced(hub: Hub) -> None:
    assert type(hub.arbiter) is RuleBasedArbiter
    gate = Gate()
    assert hub.register_arbiter(gate) is not gate
    assert hub.arbiter is gate
    assert isinstance(gate, HubArbiter)
    with pytest.raises(InvalidValueError, match="does not implement HubArbiter"):
        hub.register_arbiter(object())  # type: ignore[arg-type]


async def test_arbiter_denials_reach_the_caller_in_process(hub: Hub) -> None:
    gate = Gate()
    hub.register_arbiter(gate)
    rec = Recorder()
    hub.register_listener(rec)
    gate.deny.add("register")
    # a Deny with a code of its own reaches a client as a NetworkError carrying that code
    with pytest.raises(NetworkError, match="mallory may not register") as denied:
        await register(hub, "mallory")
    assert denied.value.code == "register_denied"
    assert "mallory" not in {p.name for p in await hub.list_agents()}
    alice = await register(hub, "alice", "unused")
    await register(hub, "bob", "The answer.")

    gate.deny.add("open")
    with pytest.raises(AccessDeniedError, match="may not open consulting sessions today") as e:
        await alice.open(type="consulting", target="bob")
    assert e.value.code == "access_denied"
    assert await hub.list_sessions() == []  # nothing was written
    gate.deny.discard("open")

    session = await alice.open(type="consulting", target="bob")
    assert gate.calls[-1] == "open:consulting:bob"
    before = await hub.read_wal(session.session_id)
    with pytest.raises(NetworkError, match="may not tell secrets") as e:
        await session.send("secret")
    assert e.value.code == "send_denied"
    with pytest.raises(InboxFull, match="bob is busy") as e:
        await session.send("flood")
    assert e.value.code == "inbox_full"
    assert await hub.read_wal(session.session_id) == before
    await hub.flush_listeners()
    reasons = [r for _, r in rec.of("on_envelope_rejected")]
    assert reasons == ["send_denied: alice may not tell secrets", "inbox_full: bob is busy"]

    # dispatch: durable, not delivered to bob, reported to the listeners
    await session.send("hidden")
    await hub.flush_listeners()
    [(env, rid, exc)] = rec.of("on_dispatch_failed")
    assert (env.event_data["text"], rid) == ("hidden", hub._registry.by_name["bob"])
    assert isinstance(exc, AccessDeniedError)
    assert hub.pending_inbox(rid) == 0
    assert not hub._router.delivered_to(env, rid)


async def test_a_base_arbiter_allows_what_the_rules_forbid(hub: Hub) -> None:
    alice = await register(hub, "alice", "unused")
    await register(hub, "bob", "ok", rule=Rule.from_dict({"access": {"inbound_from": ["carol"]}}))
    with pytest.raises(AccessDeniedError, match="does not accept sessions from alice"):
        await alice.open(type="consulting", target="bob")
    hub.register_arbiter(BaseHubArbiter())
    sid = await consult(alice)
    assert (await hub.get_session(sid)).close_reason == "consulting_complete"


async def test_an_arbiter_may_resolve_an_unknown_audience(hub: Hub) -> None:
    alice = await register(hub, "alice", "unused")
    bob = await register(hub, "bob", "ok")
    carol = await register(hub, "carol", "ok")
    session = await alice.open(type="conversation", target="bob")
    with pytest.raises(ProtocolError, match="not a participant") as e:
        await session.send("psst", audience=[carol.agent_id])
    assert e.value.code == "bad_envelope"

    class Redirect(RuleBasedArbiter):
        def resolve_unknown_audience(
            self, envelope: Envelope, unknown_ids: list[str]
        ) -> list[str] | None:
            return [bob.agent_id] if unknown_ids == [carol.agent_id] else [carol.agent_id]

    hub.register_arbiter(Redirect())
    eid = await session.send("psst", audience=[carol.agent_id])
    [logged] = [e for e in await hub.read_wal(session.session_id) if e.envelope_id == eid]
    assert logged.audience == [bob.agent_id]
    with pytest.raises(ProtocolError, match="not a participant") as e:  # resolved to a stranger
        await session.send("psst", audience=["nobody"])
    assert e.value.code == "bad_envelope"


# ---------------------------------------------------------------------------- audit sink


class TeeAuditLog(AuditLog):
    """An audit sink that also keeps every record in a list (e.g. for shipping elsewhere)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shipped: list[dict[str, Any]] = []

    async def append(self, record: dict[str, Any]) -> None:
        await super().append(record)
        self.shipped.append(record)


async def test_replace_audit_log_sends_every_record_to_the_new_sink(hub: Hub) -> None:
    old = hub.audit_log
    await register(hub, "early")
    sink_store = MemoryKnowledgeStore()
    tee = TeeAuditLog(sink_store)
    await tee.open()
    assert hub.replace_audit_log(tee) is old
    assert hub.audit_log is tee
    alice = await register(hub, "alice", "unused")
    await register(hub, "bob", "answer")
    sid = await consult(alice)
    kinds = [r["kind"] for r in tee.shipped]
    assert kinds == ["agent_registered", "agent_registered", "session_created", "session_closed"]
    assert tee.shipped[-1]["session_id"] == sid
    assert [r["kind"] for r in await tee.read_all()] == kinds  # stored in the sink's store
    assert [r["kind"] for r in await old.read_all()] == ["agent_registered"]  # the old stays
    assert hub.health()["audit_log_bytes"] == tee.bytes_written
    with pytest.raises(InvalidValueError, match="expected an AuditLog"):
        hub.replace_audit_log(object())  # type: ignore[arg-type]


async def test_a_hung_listener_does_not_keep_the_hub_from_closing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import hubbub.network.hub.core as core

    monkeypatch.setattr(core, "_LISTENER_CLOSE_TIMEOUT", 0.2)
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0)
    never = asyncio.Event()

    class Hung(BaseHubListener):
        async def on_agent_event(self, agent_id: str, kind: str, payload: dict[str, Any]) -> None:
            await never.wait()

    hub.register_listener(Hung())
    await register(hub, "alice")
    await register(hub, "bob")
    await asyncio.wait_for(hub.close(), DEADLINE)
    assert "did not finish" in caplog.text
    assert hub._seam.pending == 0


# ---------------------------------------------------------------------------- interceptors


async def test_interceptors_run_around_every_post_outermost_first(hub: Hub) -> None:
    trail: list[str] = []

    class Trace:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        async def intercept_admit(self, envelope: Envelope, call_next: Any) -> Envelope:
            trail.append(f"{self.tag}>")
            try:
                logged = await call_next(envelope)
            except ProtocolError as exc:
                trail.append(f"{self.tag}!{exc.code}")
                raise
            trail.append(f"{self.tag}<{logged.sequence}")
            return logged  # type: ignore[no-any-return]

    outer, inner = Trace("outer"), Trace("inner")
    alice = await register(hub, "alice", "unused")
    bob = await register(hub, "bob", "hi")
    session = await alice.open(type="consulting", target="bob")
    hub.register_interceptor(outer)
    hub.register_interceptor(inner)
    hub.register_interceptor(outer)  # twice is once
    with pytest.raises(ProtocolError) as info:
        await bob.send_envelope(
            Envelope(session.session_id, bob.agent_id, None, EV_TEXT, {"text": "me first"})
        )
    code = info.value.code
    assert trail == ["outer>", "inner>", f"inner!{code}", f"outer!{code}"]
    del trail[:]
    hub.unregister_interceptor(inner)
    eid = await session.send("question")
    [logged] = [e for e in await hub.read_wal(session.session_id) if e.envelope_id == eid]
    assert trail[:2] == ["outer>", f"outer<{logged.sequence}"]
    with pytest.raises(InvalidValueError, match="has neither intercept_admit nor on_durable"):
        hub.register_interceptor(object())  # type: ignore[arg-type]


async def test_one_interceptor_seam_for_admissions_and_durable_envelopes(hub: Hub) -> None:
    """``HubInterceptor`` subclasses and ``register_interceptor`` share one list: a hook
    left as the base has it is not run, ``on_durable`` hears every durable envelope in
    WAL order, and unregistering stops both hooks."""

    class Durable(HubInterceptor):
        def __init__(self) -> None:
            self.seen: list[int] = []

        def on_durable(self, envelope: Envelope) -> None:
            self.seen.append(envelope.sequence)

    class Refuse(HubInterceptor):
        async def intercept_admit(self, envelope: Envelope, call_next: Any) -> Envelope:
            if envelope.event_data.get("text") == "forbidden":
                raise InvalidValueError("envelope.event_data.text is forbidden here")
            return await call_next(envelope)

    durable, refuse = Durable(), Refuse()
    alice = await register(hub, "alice", "unused")
    await register(hub, "bob", "")
    session = await alice.open(type="conversation", target="bob")
    hub.register_interceptor(durable)
    hub.register_interceptor(refuse)
    assert hub.interceptors == (durable, refuse)
    await session.send("one")
    with pytest.raises(InvalidValueError, match="forbidden"):
        await session.send("forbidden")
    await session.send("two")
    texts = [e.sequence for e in await hub.read_wal(session.session_id) if e.event_type == EV_TEXT]
    assert durable.seen[-2:] == texts and len(texts) == 2  # nothing of the refused one
    hub.unregister_interceptor(durable)
    hub.unregister_interceptor(refuse)
    assert hub.interceptors == ()
    seen = list(durable.seen)
    await session.send("forbidden")  # no longer refused
    assert durable.seen == seen
