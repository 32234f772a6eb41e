"""OpenAIConfig end to end: hubbub → real ``openai`` SDK → fake Chat Completions API on loopback."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import openai
import pytest
from tests.fakes import (
    ErrorReply,
    FakeOpenAIServer,
    FakeUsage,
    Reply,
    ToolCall,
    text,
    tool_call,
)

from hubbub import Agent, MemoryStream, ToolResult
from hubbub.config import LLMClient, ModelConfig, ModelProvider, OpenAIConfig
from hubbub.config.errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderStatusError,
    ProviderTimeoutError,
)
from hubbub.config.openai import PLACEHOLDER_API_KEY, convert_messages
from hubbub.events import (
    CompactionSummary,
    DataInput,
    ModelMessage,
    ModelMessageChunk,
    ModelRequest,
    ModelResponse,
    TextInput,
    ToolCallEvent,
    ToolCallsEvent,
    ToolErrorEvent,
    ToolResultEvent,
    ToolResultsEvent,
    Usage,
)
from hubbub.tool_schema import FunctionDefinition, FunctionToolSchema


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ADMIN_KEY", "OPENAI_CUSTOM_HEADERS"):
        monkeypatch.delenv(name, raising=False)


def cfg(server: FakeOpenAIServer, **kw: Any) -> OpenAIConfig:
    return OpenAIConfig(model="gpt-test", base_url=server.url, **kw)


def request(*texts: str) -> ModelRequest:
    return ModelRequest([TextInput(t) for t in texts])


def auth(server: FakeOpenAIServer, index: int = -1) -> str:
    return server.requests[index].headers.get("authorization", "")


# --------------------------------------------------------------------------- the config object


def test_config_shape_and_protocols() -> None:
    config = OpenAIConfig(model="gpt-x")
    assert isinstance(config, ModelConfig)
    assert config.provider is ModelProvider.OPENAI
    assert config.model == "gpt-x"
    assert not hasattr(config, "__dict__")
    assert config.copy(seed=3).seed == 3
    assert config.seed is None
    assert isinstance(config.create(), LLMClient)  # no SDK client (and no key check) yet
    assert {f.name for f in dataclasses.fields(config) if f.init} >= {
        "model",
        "api_key",
        "base_url",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "tool_choice",
        "parallel_tool_calls",
        "streaming",
        "timeout",
        "max_retries",
        "default_headers",
        "http_client",
        "extra_body",
        "reasoning_effort",
    }


async def test_sdk_client_is_reused(openai_server: FakeOpenAIServer, make_context: Any) -> None:
    openai_server.add("one", "two")
    config = cfg(openai_server)
    ctx, _ = make_context()
    await config.create()([request("a")], ctx)
    sdk = await config.sdk_client()
    await config.create()([request("b")], ctx)
    assert await config.sdk_client() is sdk


# --------------------------------------------------------------------------- direct client calls


async def test_text_reply_system_message_and_usage(
    openai_server: FakeOpenAIServer, make_context: Any
) -> None:
    openai_server.add(text("Hi!", usage=FakeUsage(30, 7, cache_read_tokens=10, reasoning_tokens=2)))
    ctx, stream = make_context("You are terse.", "Answer in English.")
    response = await cfg(openai_server).create()([request("hello")], ctx)

    assert response.content == "Hi!"
    assert response.provider == "openai"
    assert response.model == "gpt-test"
    assert response.finish_reason == "stop"
    assert response.response_id
    assert response.usage == Usage(
        prompt_tokens=30,
        completion_tokens=7,
        total_tokens=37,
        cache_read_input_tokens=10,
        thinking_tokens=2,
    )
    assert stream.events == [ModelMessage("Hi!")]
    body = openai_server.last_body
    assert body["messages"] == [
        {"role": "system", "content": "You are terse.\nAnswer in English."},
        {"role": "user", "content": "hello"},
    ]
    assert set(body) == {"model", "messages"}  # nothing optional was sent


async def test_options_are_sent_only_when_set(
    openai_server: FakeOpenAIServer, make_context: Any
) -> None:
    openai_server.add("a", "b")
    config = cfg(
        openai_server,
        temperature=0.1,
        top_p=0.5,
        max_tokens=50,
        max_completion_tokens=60,
        stop=["END"],
        seed=7,
        reasoning_effort="low",
        tool_choice="auto",
        parallel_tool_calls=False,
        extra_body={"custom": True},
        default_headers={"x-extra": "1"},
    )
    ctx, _ = make_context()
    await config.create()([request("no tools")], ctx)
    body = openai_server.last_body
    assert "system" not in [m["role"] for m in body["messages"]]
    assert (body["temperature"], body["top_p"], body["seed"]) == (0.1, 0.5, 7)
    assert (body["max_tokens"], body["max_completion_tokens"]) == (50, 60)
    assert body["stop"] == ["END"]
    assert body["reasoning_effort"] == "low"
    assert body["custom"] is True
    assert "tool_choice" not in body and "parallel_tool_calls" not in body  # no tools
    assert openai_server.requests[-1].headers["x-extra"] == "1"

    schema = FunctionToolSchema(FunctionDefinition("t", "A tool.", {"type": "object"}))
    await config.create()([request("with tools")], ctx, tools=[schema])
    body = openai_server.last_body
    assert body["tool_choice"] == "auto"
    assert body["parallel_tool_calls"] is False
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "t",
                "description": "A tool.",
                "parameters": {"type": "object", "additionalProperties": False},
            },
        }
    ]
    assert schema.function.parameters == {"type": "object"}  # not mutated


async def test_tool_call_parsing(openai_server: FakeOpenAIServer, make_context: Any) -> None:
    openai_server.add(
        Reply(
            text="Checking.",
            tool_calls=[ToolCall("lookup", {"q": "x"}, id="call_a"), ToolCall("now")],
        )
    )
    ctx, stream = make_context()
    response = await cfg(openai_server).create()([request("hi")], ctx)
    assert response.content == "Checking."
    assert response.finish_reason == "tool_calls"
    calls = response.tool_calls.calls
    assert (calls[0].id, calls[0].name, json.loads(calls[0].arguments)) == (
        "call_a",
        "lookup",
        {"q": "x"},
    )
    assert calls[1].name == "now" and json.loads(calls[1].arguments) == {}
    assert stream.events == [ModelMessage("Checking.")]


async def test_no_text_publishes_nothing(
    openai_server: FakeOpenAIServer, make_context: Any
) -> None:
    openai_server.add(Reply(usage=None))
    ctx, stream = make_context()
    response = await cfg(openai_server).create()([request("hi")], ctx)
    assert response.message is None
    assert response.content is None
    assert not response.usage
    assert stream.events == []


async def test_streaming_text_tools_and_usage(
    openai_server: FakeOpenAIServer, make_context: Any
) -> None:
    openai_server.add(
        Reply(
            text="Streaming works.",
            tool_calls=[ToolCall("f", {"k": "a long value"}, id="call_s"), ToolCall("g", {})],
            usage=FakeUsage(12, 4, cache_read_tokens=3),
        )
    )
    ctx, stream = make_context("Sys.")
    response = await cfg(openai_server, streaming=True).create()([request("hi")], ctx)

    body = openai_server.last_body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    chunks = [e.content for e in stream.events if isinstance(e, ModelMessageChunk)]
    assert len(chunks) > 1 and "".join(chunks) == "Streaming works."
    assert stream.events[-1] == ModelMessage("Streaming works.")
    assert response.content == "Streaming works."
    assert [(c.id, c.name) for c in response.tool_calls.calls] == [
        ("call_s", "f"),
        (response.tool_calls.calls[1].id, "g"),
    ]
    assert json.loads(response.tool_calls.calls[0].arguments) == {"k": "a long value"}
    assert response.finish_reason == "tool_calls"
    assert response.usage.total_tokens == 16
    assert response.usage.cache_read_input_tokens == 3
    assert response.model == "gpt-test"


# --------------------------------------------------------------------------- history conversion


def test_convert_messages() -> None:
    call = ToolCallEvent("add", id="c1", arguments='{"a": 1}')
    failing = ToolCallEvent("boom", id="c2")
    orphan = ToolCallEvent("lost", id="c3")
    ok = ToolResultEvent.from_call(call, ToolResult({"sum": 2}))
    err = ToolErrorEvent("c2", "boom", ToolResult("Traceback: kaboom"), error=ValueError("kaboom"))
    events = [
        ModelRequest([TextInput("[bob]: hi"), DataInput({"k": 1})]),
        ModelResponse(ModelMessage("Earlier me.")),
        request("go"),
        ModelResponse(tool_calls=ToolCallsEvent([call, failing, orphan])),
        ok,
        ToolResultsEvent([ok, err]),
        ToolResultEvent("c9", "ghost", ToolResult("stray")),
        CompactionSummary("Older turns, summarised.", 3),
        ModelResponse(),  # empty reply: nothing to render
        ModelMessage("bare: not rendered"),
    ]
    assert convert_messages(events) == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "[bob]: hi"},
                {"type": "text", "text": '{"k":1}'},
            ],
        },
        {"role": "assistant", "content": "Earlier me."},
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 1}'},
                },
                {"id": "c2", "type": "function", "function": {"name": "boom", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"sum":2}'},
        {"role": "tool", "tool_call_id": "c2", "content": "Traceback: kaboom"},
        {"role": "user", "content": "Older turns, summarised."},
    ]


# --------------------------------------------------------------------------- through the Agent


async def test_agent_tool_round_trip(openai_server: FakeOpenAIServer) -> None:
    openai_server.add(
        tool_call("add", {"a": 2, "b": 3}, id="call_add", usage=FakeUsage(20, 10)),
        text("The sum is 5.", usage=FakeUsage(40, 8)),
    )
    ran: list[tuple[int, int]] = []

    def add(a: int, b: int) -> int:
        """Add two integers."""
        ran.append((a, b))
        return a + b

    agent = Agent("calc", "You add numbers.", config=cfg(openai_server), tools=[add])
    reply = await agent.ask("What is 2 + 3?")

    assert reply.body == "The sum is 5."
    assert ran == [(2, 3)]
    first, second = openai_server.bodies
    assert first["messages"][0] == {"role": "system", "content": "You add numbers."}
    tool = first["tools"][0]
    assert tool["function"]["name"] == "add"
    assert tool["function"]["parameters"]["additionalProperties"] is False
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]
    assert second["messages"][2]["tool_calls"][0]["id"] == "call_add"
    assert second["messages"][3] == {"role": "tool", "tool_call_id": "call_add", "content": "5"}
    report = await reply.usage()
    assert report.total.prompt_tokens == 60
    assert report.total.total_tokens == 78


async def test_agent_own_earlier_messages_and_streaming(openai_server: FakeOpenAIServer) -> None:
    openai_server.add("Streamed answer.")
    stream = MemoryStream()
    await stream.history.storage.set_history(
        stream.id,
        [request("[bob]: ready?"), ModelMessage("I am ready."), request("[bob]: go")],
    )
    agent = Agent("alice", "You are Alice.", config=cfg(openai_server, streaming=True))
    reply = await agent.ask("[carol]: and?", stream=stream)
    assert reply.body == "Streamed answer."
    assert openai_server.last_body["messages"] == [
        {"role": "system", "content": "You are Alice."},
        {"role": "user", "content": "[bob]: ready?"},
        {"role": "assistant", "content": "I am ready."},
        {"role": "user", "content": "[bob]: go"},
        {"role": "user", "content": "[carol]: and?"},
    ]


# --------------------------------------------------------------------------- keys, retries, timeouts


async def test_local_server_needs_no_key(
    openai_server: FakeOpenAIServer, make_context: Any
) -> None:
    openai_server.add("a", "b", "c")
    ctx, _ = make_context()
    await cfg(openai_server).create()([request("hi")], ctx)
    assert auth(openai_server) == f"Bearer {PLACEHOLDER_API_KEY}"
    await cfg(openai_server, api_key="explicit").create()([request("hi")], ctx)
    assert auth(openai_server) == "Bearer explicit"


async def test_environment_settings_are_honoured(
    openai_server: FakeOpenAIServer, make_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.url)
    openai_server.add("x", "y")
    ctx, _ = make_context()
    await OpenAIConfig(model="m").create()([request("hi")], ctx)
    assert auth(openai_server) == f"Bearer {PLACEHOLDER_API_KEY}"
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    await OpenAIConfig(model="m").create()([request("hi")], ctx)
    assert auth(openai_server) == "Bearer env-key"


async def test_missing_key_for_the_real_api_is_a_provider_error(make_context: Any) -> None:
    ctx, _ = make_context()
    with pytest.raises(ProviderError, match="OPENAI_API_KEY"):
        await OpenAIConfig(model="gpt-x").create()([request("hi")], ctx)


async def test_retries_then_success_and_exhaustion(
    openai_server: FakeOpenAIServer, make_context: Any
) -> None:
    openai_server.add(ErrorReply(500), ErrorReply(429), "ok")
    ctx, _ = make_context()
    response = await cfg(openai_server, max_retries=2).create()([request("hi")], ctx)
    assert response.content == "ok"
    assert len(openai_server.requests) == 3

    openai_server.add(ErrorReply(502, "bad gateway"), ErrorReply(429, "slow down"))
    with pytest.raises(ProviderRateLimitError) as info:
        await cfg(openai_server, max_retries=1).create()([request("hi")], ctx)
    assert isinstance(info.value, ProviderStatusError)
    assert info.value.status_code == 429
    assert isinstance(info.value.__cause__, openai.RateLimitError)
    assert len(openai_server.requests) == 5


async def test_timeout_and_connection_errors(
    openai_server: FakeOpenAIServer, make_context: Any
) -> None:
    openai_server.add(Reply(text="late", delay=30))
    ctx, _ = make_context()
    with pytest.raises(ProviderTimeoutError) as info:
        await cfg(openai_server, timeout=0.3, max_retries=0).create()([request("hi")], ctx)
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value.__cause__, openai.APITimeoutError)

    with FakeOpenAIServer() as gone:
        url = gone.url
    with pytest.raises(ProviderConnectionError) as conn:
        await OpenAIConfig(model="m", base_url=url, max_retries=0).create()([request("hi")], ctx)
    assert isinstance(conn.value.__cause__, openai.APIConnectionError)
