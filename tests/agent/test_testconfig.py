"""TestConfig / TrackingConfig script semantics (spec §13)."""

from __future__ import annotations

import pytest

from hubbub import Agent, MemoryStream, tool
from hubbub.events import (
    ModelMessage,
    ModelMessageChunk,
    ModelResponse,
    ToolCallEvent,
    ToolErrorEvent,
    ToolNotFoundEvent,
    Usage,
)
from hubbub.testing import ModelCall, ScriptExhaustedError, TestConfig, TrackingConfig


async def test_str_item_publishes_message_and_returns_response() -> None:
    stream = MemoryStream()
    seen: list[object] = []
    stream.subscribe(seen.append, sync_to_thread=False, condition=ModelMessage)
    reply = await Agent("a", config=TestConfig("hello")).ask("hi", stream=stream)
    assert reply.body == "hello"
    assert reply.response == ModelResponse(ModelMessage("hello"))
    assert seen == [ModelMessage("hello")]
    assert not reply.response.usage


async def test_restart_per_ask() -> None:
    agent = Agent("a", config=TestConfig("first", "second"))
    assert (await agent.ask("x")).body == "first"
    assert (await agent.ask("y")).body == "first"


async def test_reply_ask_continues_the_script_on_the_same_stream() -> None:
    agent = Agent("a", config=TestConfig("first", "second"))
    reply = await agent.ask("x")
    again = await reply.ask("y")
    assert again.body == "second"
    assert again.context.stream is reply.context.stream
    kinds = [type(e).__name__ for e in await again.history.get_events()]
    assert kinds == ["ModelRequest", "ModelResponse", "ModelRequest", "ModelResponse"]


async def test_tool_loop_consumes_successive_items() -> None:
    agent = Agent("a", config=TestConfig(ToolCallEvent(name="ping"), "done"))

    @agent.tool
    def ping() -> str:
        return "pong"

    assert (await agent.ask("go")).body == "done"


async def test_iterable_of_calls_is_one_response() -> None:
    config = TrackingConfig(
        TestConfig([ToolCallEvent(name="ping"), ToolCallEvent(name="ping")], "done")
    )
    agent = Agent("a", config=config, tools=[tool(lambda: "pong", name="ping")])
    reply = await agent.ask("go")
    assert reply.body == "done"
    assert len(config.calls) == 2
    events = await reply.history.get_events()
    assert sum(type(e).__name__ == "ToolResultEvent" for e in events) == 2


async def test_model_response_item_returned_verbatim_without_message() -> None:
    stream = MemoryStream()
    seen: list[object] = []
    stream.subscribe(seen.append, sync_to_thread=False, condition=ModelMessage)
    scripted = ModelResponse(ModelMessage("x"), usage=Usage(1, 2, 3), model="m")
    reply = await Agent("a", config=TestConfig(scripted)).ask("hi", stream=stream)
    assert reply.response == scripted
    assert seen == []


async def test_empty_model_response_gives_none_body() -> None:
    reply = await Agent("a", config=TestConfig(ModelResponse())).ask("hi")
    assert reply.body is None


async def test_exception_item_is_raised() -> None:
    agent = Agent("a", config=TestConfig(TimeoutError("dropped")))
    with pytest.raises(TimeoutError, match="dropped"):
        await agent.ask("hi")


async def test_other_events_are_published_without_consuming_a_turn() -> None:
    stream = MemoryStream()
    chunks: list[str] = []
    stream.subscribe(
        lambda e: chunks.append(e.content), sync_to_thread=False, condition=ModelMessageChunk
    )
    config = TestConfig(ModelMessageChunk("Tok"), ModelMessageChunk("en"), "Token")
    reply = await Agent("a", config=config).ask("hi", stream=stream)
    assert reply.body == "Token"
    assert chunks == ["Tok", "en"]
    # transient chunks are not persisted
    assert all(not isinstance(e, ModelMessageChunk) for e in await reply.history.get_events())


async def test_raise_tool_errors_true_reraises_the_tool_error() -> None:
    agent = Agent("a", config=TestConfig(ToolCallEvent(name="boom"), "never"))

    @agent.tool
    def boom() -> str:
        raise ValueError("kaboom")

    with pytest.raises(ValueError, match="kaboom"):
        await agent.ask("go")


async def test_raise_tool_errors_true_reraises_not_found() -> None:
    agent = Agent("a", config=TestConfig(ToolCallEvent(name="nope"), "never"))
    with pytest.raises(Exception, match="Tool `nope` not found"):
        await agent.ask("go")


async def test_raise_tool_errors_false_gives_the_model_the_traceback() -> None:
    config = TrackingConfig(
        TestConfig(ToolCallEvent(name="boom"), "recovered", raise_tool_errors=False)
    )
    agent = Agent("a", config=config)

    @agent.tool
    def boom() -> str:
        raise ValueError("kaboom")

    reply = await agent.ask("go")
    assert reply.body == "recovered"
    errors = [e for e in config.calls[1].messages if isinstance(e, ToolErrorEvent)]
    assert len(errors) == 1
    assert isinstance(errors[0].error, ValueError)
    text = errors[0].content
    assert "Traceback" in text and "ValueError: kaboom" in text
    assert not isinstance(errors[0], ToolNotFoundEvent)


async def test_exhausted_script_raises_a_runtime_error() -> None:
    agent = Agent("a", config=TestConfig(ToolCallEvent(name="ping")))

    @agent.tool
    def ping() -> str:
        return "pong"

    with pytest.raises(ScriptExhaustedError, match="script exhausted") as info:
        await agent.ask("go")
    assert isinstance(info.value, RuntimeError)


def test_provider_and_model_properties() -> None:
    bare = TestConfig()
    with pytest.raises(NotImplementedError):
        _ = bare.provider
    with pytest.raises(NotImplementedError):
        _ = bare.model
    named = TestConfig(provider="test", model="m1")
    assert (named.provider, named.model) == ("test", "m1")
    assert bare.copy() is bare
    with pytest.raises(NotImplementedError):
        bare.create_files_client()
    assert TestConfig.__test__ is False


async def test_tracking_config_records_prompt_tools_deps_and_last_event() -> None:
    config = TrackingConfig(TestConfig("ok"))
    agent = Agent("a", "Be brief.", config=config, dependencies={"k": 1})

    @agent.tool
    def search(query: str) -> str:
        """Search."""
        return query

    await agent.ask("hi", variables={"v": 2})
    assert len(config.calls) == 1
    call = config.calls[0]
    assert isinstance(call, ModelCall)
    assert call.prompt == ("Be brief.",)
    assert [t.function.name for t in call.tools] == ["search"]
    assert call.dependencies["k"] == 1
    assert call.variables == {"v": 2}
    mock = config.mock
    await agent.ask("again")
    (arg,), _ = mock.call_args
    assert type(arg).__name__ == "ModelRequest"
