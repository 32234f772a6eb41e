"""Agent construction, turns, plugins/policies, seeding, usage and serialisation (§2-§4, §14)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from hubbub import Agent, Context, MemoryStream, Plugin, tool
from hubbub.config import ModelConfig
from hubbub.context import ConversationContext
from hubbub.events import (
    BaseEvent,
    DataInput,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextInput,
    ToolCallEvent,
    Usage,
    UsageEvent,
)
from hubbub.exceptions import ConfigNotProvidedError
from hubbub.testing import TestConfig, TrackingConfig
from hubbub.usage import UsageReport


class PrefixPolicy:
    """An assembly policy prepending an identity line (like the network's)."""

    name = "network_context"

    def __init__(self, line: str) -> None:
        self.line = line
        self.runs = 0

    async def apply(
        self, prompts: list[str], events: list[BaseEvent], ctx: ConversationContext
    ) -> tuple[list[str], list[BaseEvent]]:
        self.runs += 1
        return [self.line, *prompts], events


def test_construction_needs_no_loop_and_exposes_composition() -> None:
    agent = Agent("bob", ["Static.", lambda: "dynamic"], tools=[tool(lambda: 1, name="one")])
    assert agent.name == "bob"
    assert agent.system_prompt == ("Static.",)
    assert len(agent.dynamic_prompt) == 1
    assert [t.name for t in agent.tools] == ["one"]
    assert agent.config is None


async def test_missing_config_fails_when_the_turn_starts() -> None:
    agent = Agent("a")
    with pytest.raises(ConfigNotProvidedError, match="No model config"):
        await agent.ask("hi")
    assert (await agent.ask("hi", config=TestConfig("ok"))).body == "ok"


async def test_parts_form_one_request() -> None:
    reply = await Agent("a", config=TestConfig("ok")).ask("text", {"k": 1}, TextInput("t2"))
    (request, _) = await reply.history.get_events()
    assert isinstance(request, ModelRequest)
    assert request.parts == [TextInput("text"), DataInput({"k": 1}), TextInput("t2")]


async def test_prompt_static_dynamic_and_call_override() -> None:
    config = TrackingConfig(TestConfig("ok"))
    agent = Agent("a", "Static.", config=config)

    @agent.prompt
    async def dynamic(request: ModelRequest, ctx: Context) -> str:
        return f"user said {request.parts[0].content}; v={ctx.variables['v']}"  # type: ignore[attr-defined]

    await agent.ask("hi", variables={"v": 1})
    await agent.ask("hi", prompt=["Only this."])
    assert config.calls[0].prompt == ("Static.", "user said hi; v=1")
    assert config.calls[1].prompt == ("Only this.",)


async def test_dependencies_merge_call_wins_and_agent_stored() -> None:
    config = TrackingConfig(TestConfig("ok"))
    agent = Agent("a", config=config, dependencies={"x": 1, "y": 1})
    await agent.ask("hi", dependencies={"y": 2, "z": 3})
    deps = config.calls[0].dependencies
    assert (deps["x"], deps["y"], deps["z"]) == (1, 2, 3)
    assert deps["__ag2_agent__"] is agent
    assert agent.dependencies == {"x": 1, "y": 1}


async def test_policy_applied_after_construction_runs_before_every_model_call() -> None:
    config = TrackingConfig(TestConfig(ToolCallEvent(name="t"), "done"))
    agent = Agent(
        "bob", "Answer in one sentence.", config=config, tools=[tool(lambda: "x", name="t")]
    )
    policy = PrefixPolicy("You are bob (agent_id: 1).")
    plugin = Plugin()
    plugin.add_policy(policy)
    agent._apply_plugin(plugin)
    await agent.ask("hi")
    assert policy.runs == 2
    for call in config.calls:
        assert call.prompt == ("You are bob (agent_id: 1).", "Answer in one sentence.")
    # the turn's own prompt list is not permanently modified
    other = PrefixPolicy("Second.")
    agent.apply_plugin(Plugin(assembly=[other]))
    reply = await agent.ask("again")
    # policies run in order, each on the previous one's output
    assert config.calls[-1].prompt == (
        "Second.",
        "You are bob (agent_id: 1).",
        "Answer in one sentence.",
    )
    assert reply.context.prompt == ["Answer in one sentence."]


async def test_per_call_plugin_contributes_for_one_turn_only() -> None:
    config = TrackingConfig(TestConfig("ok"))
    agent = Agent("a", "Base.", config=config, dependencies={"k": "agent"})
    plugin = Plugin(
        prompt="Extra.", tools=[tool(lambda: 1, name="say")], dependencies={"k": "p", "n": 1}
    )
    await agent.ask("hi", plugins=[plugin])
    await agent.ask("hi")
    first, second = config.calls
    assert first.prompt == ("Base.", "Extra.")
    assert [t.name for t in first.tools] == ["say"]
    assert (first.dependencies["k"], first.dependencies["n"]) == ("agent", 1)
    assert second.prompt == ("Base.",) and second.tools == ()
    assert agent.tools == []


async def test_apply_plugin_permanently() -> None:
    plugin = Plugin(prompt="P.", tools=[tool(lambda: 1, name="p")], dependencies={"k": "p", "n": 1})
    agent = Agent("a", "A.", dependencies={"k": "a"}, plugins=[plugin])
    assert agent.system_prompt == ("A.", "P.")
    assert [t.name for t in agent.tools] == ["p"]
    assert agent.dependencies == {"k": "a", "n": 1}


async def test_per_call_tools_later_declaration_wins() -> None:
    config = TrackingConfig(TestConfig(ToolCallEvent(name="t"), "ok"))
    agent = Agent("a", config=config, tools=[tool(lambda: "agent", name="t")])
    reply = await agent.ask("hi", tools=[tool(lambda: "call", name="t")])
    assert [t.name for t in config.calls[0].tools] == ["t"]
    results = [e for e in await reply.history.get_events() if type(e).__name__ == "ToolResultEvent"]
    assert results[0].content == "call"  # type: ignore[attr-defined]


async def test_seeded_history_and_own_messages_reach_the_model_as_assistant_turns() -> None:
    config = TrackingConfig(TestConfig("ok"))
    agent = Agent("bob", config=config)
    stream = MemoryStream()
    seed: list[BaseEvent] = [
        ModelRequest([TextInput("[alice]: hi bob")]),
        ModelResponse(ModelMessage("hi alice")),
        ModelMessage("(also a bare own message)"),
    ]
    await stream.history.storage.set_history(stream.id, seed)
    reply = await agent.ask("[alice]: how are you?", stream=stream)
    sent = config.calls[0].messages
    assert [type(e).__name__ for e in sent] == [
        "ModelRequest",
        "ModelResponse",
        "ModelResponse",
        "ModelRequest",
    ]
    assert sent[1] == ModelResponse(ModelMessage("hi alice"))
    assert sent[2] == ModelResponse(ModelMessage("(also a bare own message)"))
    history = await reply.history.get_events()
    assert history[:3] == seed and len(history) == 5


async def test_history_replace() -> None:
    stream = MemoryStream()
    await stream.history.replace([ModelRequest([TextInput("old")])])
    reply = await Agent("a", config=TestConfig("ok")).ask("new", stream=stream)
    assert len(await reply.history.get_events()) == 3


async def test_usage_event_precedes_response_and_report_sums_usage_events() -> None:
    config = TestConfig(
        ModelResponse(tool_calls=_calls("t"), usage=Usage(20, 10, 30), model="m1", provider="p"),
        ModelResponse(ModelMessage("done"), usage=Usage(40, 8, 48, 12), model="m2", provider="p"),
    )
    agent = Agent("a", config=config, tools=[tool(lambda: "x", name="t")])
    reply = await agent.ask("hi")
    events = await reply.history.get_events()
    usage_idx = [i for i, e in enumerate(events) if isinstance(e, UsageEvent)]
    assert len(usage_idx) == 2
    assert all(isinstance(events[i + 1], ModelResponse) for i in usage_idx)
    report = await reply.usage()
    assert report.total == Usage(60, 18, 78, 12)
    assert set(report.by_model) == {"m1", "m2"}
    assert report.by_provider["p"].total_tokens == 78
    assert report.records[0].kind == "model_call"
    assert UsageReport.from_events(events) == report


async def test_no_usage_means_empty_report() -> None:
    reply = await Agent("a", config=TestConfig("ok")).ask("hi")
    report = await reply.usage()
    assert not report and report.records == ()


async def test_turns_on_one_stream_are_serialised() -> None:
    gate = asyncio.Event()

    class SlowClient:
        async def __call__(
            self, messages: Sequence[BaseEvent], context: Any, **kw: Any
        ) -> ModelResponse:
            await gate.wait()
            return ModelResponse(ModelMessage("ok"))

    class SlowConfig:
        provider = "test"
        model = "slow"

        def copy(self, **overrides: Any) -> SlowConfig:
            return self

        def create(self) -> SlowClient:
            return SlowClient()

    config: ModelConfig = SlowConfig()
    agent = Agent("a", config=config)
    stream = MemoryStream()
    first = asyncio.create_task(agent.ask("one", stream=stream))
    second = asyncio.create_task(agent.ask("two", stream=stream))
    other = await asyncio.wait_for(_after(gate, agent.ask("other", config=config)), 5)
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    kinds = [type(e).__name__ for e in await stream.history.get_events()]
    assert kinds == ["ModelRequest", "ModelResponse", "ModelRequest", "ModelResponse"]
    assert other.body == "ok"


async def _after(gate: asyncio.Event, coro: Any) -> Any:
    task = asyncio.ensure_future(coro)
    await asyncio.sleep(0)
    gate.set()
    return await task


async def test_reply_exposes_response_context_and_stream() -> None:
    stream = MemoryStream()
    reply = await Agent("a", config=TestConfig("ok")).ask(
        "hi", stream=stream, dependencies={"d": 1}
    )
    assert reply.response.content == "ok"
    assert reply.context.stream is stream and reply.stream is stream
    assert reply.context.dependencies["d"] == 1
    assert await reply.content() == "ok"


async def test_enqueued_follow_up_is_drained_before_stopping() -> None:
    config = TrackingConfig(TestConfig(ToolCallEvent(name="t"), "first", "second"))

    def t(ctx: Context) -> str:
        ctx.enqueue("follow-up")
        return "x"

    reply = await Agent("a", config=config, tools=[t]).ask("hi")
    assert reply.body == "second"
    last_request = config.calls[-1].messages[-1]
    assert last_request == ModelRequest([TextInput("follow-up")])


async def test_agent_level_observer_sees_turn_events() -> None:
    seen: list[str] = []
    agent = Agent("a", config=TestConfig("ok"))

    @agent.observer(ModelResponse, sync_to_thread=False)
    def on_response(event: ModelResponse) -> None:
        seen.append(event.content or "")

    stream = MemoryStream()
    await agent.ask("hi", stream=stream)
    await stream.send(ModelResponse(ModelMessage("after")))
    assert seen == ["ok"]  # unsubscribed after the turn


def _calls(*names: str) -> Any:
    from hubbub.events import ToolCallsEvent

    return ToolCallsEvent([ToolCallEvent(name=n) for n in names])
