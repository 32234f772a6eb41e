"""Failed turns: contained, posted to the others at once, bounded by a timeout (issue 8, 5 & 14).

A model or tool raising anything (``SystemExit`` and ``KeyboardInterrupt`` included) is a
turn failure: the failing agent's client posts ``EV_TURN_FAILED`` into the session, the
hub audits it, and every other session goes on. In consulting the failure closes the
session with ``turn_failed``, so the asker returns at once instead of at its timeout.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from hubbub import Agent
from hubbub.config import AnthropicConfig
from hubbub.config.errors import ProviderError
from hubbub.context import ConversationContext
from hubbub.events import BaseEvent, ModelResponse, ToolCallEvent, ToolErrorEvent
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_TEXT,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
)
from hubbub.network.adapters import ConsultingAdapter, ConsultingState, ConversationAdapter
from hubbub.network.client.agent_client import DEFAULT_TURN_TIMEOUT
from hubbub.network.envelope import EV_TURN_FAILED, Envelope
from hubbub.network.errors import (
    InvalidValueError,
    NetworkError,
    ProtocolError,
    SessionTimeoutError,
)
from hubbub.network.hub import AUDIT_KIND_TURN_FAILED
from hubbub.network.session import Participant, ParticipantRole, SessionMetadata, SessionState
from hubbub.testing import TestConfig, TrackingConfig


def _is_close(e: Envelope) -> bool:
    return e.event_type == EV_SESSION_CLOSED


def _is_failure(e: Envelope) -> bool:
    return e.event_type == EV_TURN_FAILED


class _Bye(BaseException):
    """A BaseException that is neither SystemExit nor KeyboardInterrupt."""


class HangConfig:
    """A model that never answers: ``started`` is set on the call, ``cancelled`` when the
    call is cancelled."""

    provider = "test"
    model = "hang"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    def copy(self, **overrides: Any) -> HangConfig:
        return self

    def create(self) -> HangConfig:
        return self

    async def __call__(
        self,
        messages: Sequence[BaseEvent],
        context: ConversationContext,
        *,
        tools: Iterable[Any] = (),
        response_schema: Any = None,
        serializer: Any = None,
    ) -> ModelResponse:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        raise AssertionError("unreachable")


async def _failures_audited(net: Any) -> list[dict[str, Any]]:
    audit = await net.hub.audit_log.read_all()
    return [r for r in audit if r.get("kind") == AUDIT_KIND_TURN_FAILED]


# ------------------------------------------------------------------ contained, reported, served on


@pytest.mark.parametrize(
    "raised",
    [SystemExit(3), KeyboardInterrupt(), _Bye("gone"), asyncio.CancelledError()],
    ids=["SystemExit", "KeyboardInterrupt", "BaseException", "stray-CancelledError"],
)
async def test_model_raising_system_exit_becomes_turn_failure_and_hub_serves_on(
    net: Any, raised: BaseException
) -> None:
    alice = await net.agent("alice", "unused")
    bob = await net.agent("bob", raised)
    session = await alice.open(type="conversation", target="bob")
    first = await session.send("hello?")

    failure = await alice.wait_for_session_event(
        session_id=session.session_id, predicate=_is_failure, timeout=10.0
    )
    assert failure.sender_id == bob.agent_id
    assert failure.causation_id == first
    assert failure.event_data["code"] == "turn_failed"
    assert failure.event_data["envelope_id"] == first
    assert failure.event_data["message"].startswith(type(raised).__name__)
    audited = await _failures_audited(net)
    assert [(r["agent_id"], r["envelope_id"]) for r in audited] == [(bob.agent_id, first)]
    assert (await session.info()).state is SessionState.ACTIVE

    # The worker, the client and the hub go on: the same session and a new one are served.
    bob.agent.config = TestConfig("recovered")
    second = await session.send("try again")
    reply = await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_TEXT and e.sender_id == bob.agent_id,
        timeout=10.0,
    )
    assert (reply.event_data["text"], reply.causation_id) == ("recovered", second)
    other = await alice.open(type="consulting", target="bob")
    await other.send("still there?", audience=[bob.agent_id])
    closed = await alice.wait_for_session_event(
        session_id=other.session_id, predicate=_is_close, timeout=10.0
    )
    assert closed.event_data["reason"] == "consulting_complete"


async def test_tool_raising_system_exit_in_a_concurrent_round_is_a_tool_error(net: Any) -> None:
    def explode() -> str:
        """Blow up."""
        raise SystemExit("tool quit")

    async def fine() -> str:
        """Work."""
        return "fine"

    tracking = TrackingConfig(
        TestConfig(
            [ToolCallEvent("explode"), ToolCallEvent("fine")],  # one round, two child tasks
            "handled it",
            raise_tool_errors=False,
        )
    )
    alice = await net.agent("alice", "unused")
    bob = await net.agent("bob", config=tracking, tools=[explode, fine])
    session = await alice.open(type="conversation", target="bob")
    await session.send("use your tools")
    reply = await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_TEXT and e.sender_id == bob.agent_id,
        timeout=10.0,
    )
    assert reply.event_data["text"] == "handled it"
    errors = [
        r
        for m in tracking.calls[-1].messages
        for r in getattr(m, "results", ())
        if isinstance(r, ToolErrorEvent)
    ]
    assert [type(e.error) for e in errors] == [SystemExit]
    assert await _failures_audited(net) == []


async def test_tool_raising_keyboard_interrupt_fails_the_turn_when_the_model_raises_it(
    net: Any,
) -> None:
    async def interrupt() -> str:
        """Interrupt."""
        raise KeyboardInterrupt

    alice = await net.agent("alice", "unused")
    bob = await net.agent("bob", ToolCallEvent("interrupt"), "unreached", tools=[interrupt])
    session = await alice.open(type="consulting", target="bob")
    await session.send("go", audience=[bob.agent_id])
    closed = await alice.wait_for_session_event(
        session_id=session.session_id, predicate=_is_close, timeout=10.0
    )
    assert closed.event_data["reason"] == "turn_failed"


async def test_custom_handler_raising_system_exit_does_not_stop_the_worker(net: Any) -> None:
    alice = await net.agent("alice", "unused")
    bob = await net.agent("bob", "unused")
    handled: list[str] = []
    second_done = asyncio.Event()

    async def handler(envelope: Envelope) -> None:
        if envelope.event_type != EV_TEXT:
            from hubbub.network.client import default_handler

            await default_handler(envelope, bob)
            return
        handled.append(envelope.event_data["text"])
        if len(handled) == 1:
            raise SystemExit("custom handler quit")
        second_done.set()

    bob.on_envelope(handler)
    session = await alice.open(type="conversation", target="bob")
    await session.send("one")
    await session.send("two")
    await asyncio.wait_for(second_done.wait(), 10.0)
    assert handled == ["one", "two"]


# ------------------------------------------------------------------------- consulting closes


async def test_consulting_closes_with_turn_failed_when_respondent_model_raises(net: Any) -> None:
    alice = await net.agent("alice", "unused")
    bob = await net.agent("bob", RuntimeError("model exploded"))
    session = await alice.open(type="consulting", target="bob")
    question = await session.send("What matters most?", audience=[bob.agent_id])

    closed = await alice.wait_for_session_event(
        session_id=session.session_id, predicate=_is_close, timeout=10.0
    )
    assert closed.event_data["reason"] == "turn_failed"
    assert session.state is SessionState.CLOSED
    meta = await net.hub.get_session(session.session_id)
    assert meta.close_reason == "turn_failed"
    wal = await net.hub.read_wal(session.session_id)
    failures = [e for e in wal if e.event_type == EV_TURN_FAILED]
    assert len(failures) == 1
    assert failures[0].sender_id == bob.agent_id
    assert failures[0].causation_id == question
    assert failures[0].event_data == {
        "code": "turn_failed",
        "message": "RuntimeError: model exploded",
        "envelope_id": question,
    }
    assert [e.event_type for e in wal[-2:]] == [EV_TURN_FAILED, EV_SESSION_CLOSED]
    assert len(await _failures_audited(net)) == 1


async def test_provider_error_reaches_the_asker_with_code_provider_error(net: Any) -> None:
    alice = await net.agent("alice", "unused")
    await net.agent("bob", ProviderError("upstream down", provider="anthropic", model="m"))
    session = await alice.open(type="conversation", target="bob")
    await session.send("hi")
    failure = await alice.wait_for_session_event(
        session_id=session.session_id, predicate=_is_failure, timeout=10.0
    )
    assert failure.event_data["code"] == "provider_error"
    assert failure.event_data["message"] == "ProviderError: upstream down"


async def test_failure_message_is_cut_to_500_characters(net: Any) -> None:
    alice = await net.agent("alice", "unused")
    await net.agent("bob", RuntimeError("x" * 5000))
    session = await alice.open(type="conversation", target="bob")
    await session.send("hi")
    failure = await alice.wait_for_session_event(
        session_id=session.session_id, predicate=_is_failure, timeout=10.0
    )
    assert len(failure.event_data["message"]) == 500


async def test_default_handler_never_runs_a_turn_on_a_turn_failure(net: Any, tap: Any) -> None:
    class EverythingIsAQuestion(ConversationAdapter):
        """A conversation whose turns answer any envelope, EV_TURN_FAILED included."""

        def __init__(self) -> None:
            super().__init__()
            self.manifest = dataclasses.replace(self.manifest, type="eager_conversation")

        def extract_turn_input(self, envelope: Envelope) -> Any:
            return envelope.event_data.get("text") or envelope.event_data.get("message")

    net.hub.register_adapter(EverythingIsAQuestion())
    tracking = TrackingConfig(TestConfig("should not be asked"))
    alice = await net.agent("alice", config=tracking)
    await net.agent("bob", RuntimeError("boom"))
    alice_tap = tap(alice)
    session = await alice.open(type="eager_conversation", target="bob")
    await session.send("hi")
    await alice_tap.wait(_is_failure)
    assert tracking.calls == []


# ------------------------------------------------------------------------------- turn timeout


async def test_hung_model_turn_times_out_and_peer_hears(net: Any) -> None:
    hang = HangConfig()
    alice = await net.agent("alice", "unused")
    bob = await net.agent("bob", config=hang)
    assert bob.turn_timeout == DEFAULT_TURN_TIMEOUT == 300.0
    bob.turn_timeout = 0.05
    session = await alice.open(type="conversation", target="bob")
    first = await session.send("are you there?")

    failure = await alice.wait_for_session_event(
        session_id=session.session_id, predicate=_is_failure, timeout=10.0
    )
    assert failure.event_data["code"] == "timeout"
    assert failure.event_data["envelope_id"] == first
    assert "did not finish within 0.05 s" in failure.event_data["message"]
    assert hang.cancelled.is_set()  # the hung call was cancelled, not left running
    audited = await _failures_audited(net)
    assert [r["exc_type"] for r in audited] == ["SessionTimeoutError"]


async def test_hung_respondent_closes_consulting_with_turn_failed(net: Any) -> None:
    alice = await net.agent("alice", "unused")
    bob = await net.agent("bob", config=HangConfig())
    bob.turn_timeout = 0.05
    session = await alice.open(type="consulting", target="bob")
    await session.send("quick question", audience=[bob.agent_id])
    closed = await alice.wait_for_session_event(
        session_id=session.session_id, predicate=_is_close, timeout=10.0
    )
    assert closed.event_data["reason"] == "turn_failed"


async def test_disconnect_cancels_a_hung_turn_without_reporting_a_failure(net: Any) -> None:
    hang = HangConfig()
    alice = await net.agent("alice", "unused")
    bob = await net.agent("bob", config=hang)
    session = await alice.open(type="conversation", target="bob")
    await session.send("hello")
    await asyncio.wait_for(hang.started.wait(), 10.0)

    await bob.disconnect()  # a real cancellation of the handling task: it propagates

    assert hang.cancelled.is_set()
    wal = await net.hub.read_wal(session.session_id)
    assert [e for e in wal if e.event_type == EV_TURN_FAILED] == []
    assert await _failures_audited(net) == []


@pytest.mark.parametrize("bad", [0, -1, float("inf"), float("nan"), "5", True])
async def test_turn_timeout_refuses_nonsense(net: Any, bad: Any) -> None:
    bob = await net.agent("bob")
    with pytest.raises(InvalidValueError, match="turn_timeout"):
        bob.turn_timeout = bad
    bob.turn_timeout = None
    assert bob.turn_timeout is None
    bob.turn_timeout = 2
    assert bob.turn_timeout == 2.0


# -------------------------------------------------------------------- README without an API key


async def test_readme_first_example_without_a_key_closes_with_turn_failed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in ("ANTHROPIC_CONFIG_DIR", "ANTHROPIC_PROFILE", "ANTHROPIC_CUSTOM_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))

    config = AnthropicConfig(model="claude-sonnet-4-6")
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0)
    link = LocalLink(hub)
    alice_hc, bob_hc = HubClient(link, hub=hub), HubClient(link, hub=hub)
    try:
        alice = await alice_hc.register(
            Agent("alice", prompt="Ask one focused question and stop.", config=config),
            Passport(name="alice"),
            Resume(),
        )
        bob = await bob_hc.register(
            Agent("bob", prompt="Answer in one short sentence.", config=config),
            Passport(name="bob"),
            Resume(),
        )
        session = await alice.open(type="consulting", target="bob")
        await session.send(
            "What's the most important property of a distributed system?",
            audience=[bob.agent_id],
        )
        # The README waits 60 s; a short timeout proves it does not wait for it.
        closed = await alice.wait_for_session_event(
            session_id=session.session_id, predicate=_is_close, timeout=10
        )
        assert closed.event_data["reason"] == "turn_failed"
        wal = await hub.read_wal(session.session_id)
        (failure,) = [e for e in wal if e.event_type == EV_TURN_FAILED]
        assert failure.event_data["code"] == "provider_error"
        assert "ANTHROPIC_API_KEY" in failure.event_data["message"]
    finally:
        await alice_hc.close()
        await bob_hc.close()
        await hub.close()


# ------------------------------------------------------------------------ wait_for_session_event


async def test_wait_for_session_event_timeout_is_network_and_timeout_error(net: Any) -> None:
    alice = await net.agent("alice", "unused")
    await net.agent("bob", "")  # answers nothing
    session = await alice.open(type="conversation", target="bob")
    with pytest.raises(SessionTimeoutError) as info:
        await alice.wait_for_session_event(
            session_id=session.session_id, predicate=_is_close, timeout=0.01
        )
    err = info.value
    assert isinstance(err, NetworkError)
    assert isinstance(err, TimeoutError)
    assert isinstance(err, asyncio.TimeoutError)
    assert err.code == "timeout"
    assert session.session_id in str(err)
    assert "0.01 s" in str(err)

    # Through the HubClient, and caught the way existing callers catch it.
    try:
        await alice.hub_client.wait_for_session_event(
            session_id=session.session_id, predicate=_is_close, timeout=0.01
        )
    except asyncio.TimeoutError as exc:  # noqa: UP041 - the spelling existing callers use
        assert isinstance(exc, SessionTimeoutError)
    else:  # pragma: no cover - the wait must time out
        raise AssertionError("the wait did not time out")


async def test_wait_keeps_a_timeout_error_its_predicate_raised(net: Any) -> None:
    alice = await net.agent("alice", "unused")
    await net.agent("bob", "pong")
    session = await alice.open(type="conversation", target="bob")

    def predicate(envelope: Envelope) -> bool:
        raise TimeoutError("the predicate's own")

    waiting = asyncio.ensure_future(
        alice.wait_for_session_event(
            session_id=session.session_id, predicate=predicate, timeout=10.0
        )
    )
    # The waiting task runs (and registers) at the send's first suspension, long before
    # bob's reply can be delivered.
    await session.send("ping")
    with pytest.raises(TimeoutError, match="the predicate's own") as info:
        await waiting
    assert not isinstance(info.value, SessionTimeoutError)


# ------------------------------------------------------------------- the adapters (sans-I/O)


def _consulting_meta() -> tuple[ConsultingAdapter, SessionMetadata]:
    adapter = ConsultingAdapter()
    return adapter, SessionMetadata(
        session_id="s1",
        manifest=adapter.manifest,
        creator_id="alice",
        participants=[
            Participant("alice", ParticipantRole.INITIATOR, 0),
            Participant("bob", ParticipantRole.RESPONDENT, 1),
        ],
        state=SessionState.ACTIVE,
    )


def _failed(sender: str, **data: Any) -> Envelope:
    event_data = {"code": "turn_failed", "message": "boom", "envelope_id": "e1", **data}
    return Envelope("s1", sender, None, EV_TURN_FAILED, event_data)


def test_consulting_closes_only_on_the_respondents_failure_after_the_question() -> None:
    adapter, meta = _consulting_meta()
    asked = ConsultingState(initiator_sent=True)
    assert adapter.on_accepted(meta, _failed("bob"), asked).auto_close_reason == "turn_failed"
    assert adapter.on_accepted(meta, _failed("bob"), asked).next_state is SessionState.CLOSED
    # The initiator's own failure, a failure before the question, or after the reply: stay.
    assert adapter.on_accepted(meta, _failed("alice"), asked).next_state is None
    assert adapter.on_accepted(meta, _failed("bob"), ConsultingState()).next_state is None
    answered = ConsultingState(initiator_sent=True, respondent_replied=True)
    assert adapter.on_accepted(meta, _failed("bob"), answered).next_state is None
    # Folding a failure changes nothing: replay decides the same close from the WAL.
    assert adapter.fold(_failed("bob"), asked) is asked


@pytest.mark.parametrize("adapter_cls", [ConsultingAdapter, ConversationAdapter])
@pytest.mark.parametrize(
    "data",
    [{"code": ""}, {"code": 3}, {"message": None}, {"envelope_id": 7}],
    ids=["empty-code", "int-code", "no-message", "int-envelope-id"],
)
def test_malformed_turn_failure_is_refused_as_bad_envelope(
    adapter_cls: type[Any], data: dict[str, Any]
) -> None:
    _, meta = _consulting_meta()
    adapter = adapter_cls()
    meta.manifest = adapter.manifest
    state = adapter.initial_state(meta)
    adapter.validate_send(meta, _failed("bob"), state)  # well formed: accepted
    with pytest.raises(ProtocolError) as info:
        adapter.validate_send(meta, _failed("bob", **data), state)
    assert info.value.code == "bad_envelope"


async def test_conversation_delivers_a_failure_and_stays_open(net: Any, tap: Any) -> None:
    alice = await net.agent("alice", "unused")
    await net.agent("bob", RuntimeError("boom"))
    alice_tap = tap(alice, quiet=True)
    session = await alice.open(type="conversation", target="bob")
    await session.send("hi")
    await alice_tap.wait(_is_failure)
    assert (await session.info()).state is SessionState.ACTIVE
