"""AnthropicConfig end to end: hubbub → real ``anthropic`` SDK → fake Messages API on loopback."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import anthropic
import pytest
from tests.fakes import (
    ErrorReply,
    FakeAnthropicServer,
    FakeUsage,
    RawReply,
    Reply,
    ToolCall,
    text,
    tool_call,
)

from hubbub import Agent, MemoryStream, ToolResult
from hubbub.config import AnthropicConfig, LLMClient, ModelConfig, ModelProvider
from hubbub.config.anthropic import LEADING_USER_PLACEHOLDER, convert_messages
from hubbub.config.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderStatusError,
    ProviderTimeoutError,
)
from hubbub.events import (
    CompactionSummary,
    DataInput,
    ModelMessage,
    ModelMessageChunk,
    ModelReasoning,
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

EPHEMERAL = {"type": "ephemeral"}


@pytest.fixture(autouse=True)
def _no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(tmp_path))


def cfg(server: FakeAnthropicServer, **kw: Any) -> AnthropicConfig:
    return AnthropicConfig(model="claude-test", base_url=server.url, api_key="test", **kw)


def request(*texts: str) -> ModelRequest:
    return ModelRequest([TextInput(t) for t in texts])


# --------------------------------------------------------------------------- the config object


def test_config_shape_and_protocols() -> None:
    config = AnthropicConfig(model="claude-x")
    assert isinstance(config, ModelConfig)
    assert config.provider is ModelProvider.ANTHROPIC
    assert config.model == "claude-x"
    assert config.max_tokens == 4096
    assert config.max_retries == 2
    assert config.prompt_caching is True
    assert not hasattr(config, "__dict__")  # slots
    other = config.copy(temperature=0.5)
    assert other is not config
    assert other.temperature == 0.5
    assert other.model == "claude-x"
    assert config.temperature is None
    assert other == config.copy(temperature=0.5)
    assert isinstance(config.create(), LLMClient)
    assert "_sdk_clients" not in repr(config)
    assert {f.name for f in dataclasses.fields(config) if f.init} >= {
        "model",
        "max_tokens",
        "api_key",
        "base_url",
        "temperature",
        "top_p",
        "top_k",
        "streaming",
        "stop_sequences",
        "timeout",
        "max_retries",
        "default_headers",
        "http_client",
        "metadata",
        "service_tier",
        "prompt_caching",
        "extra_body",
    }


async def test_sdk_client_is_reused_per_config_and_loop(
    anthropic_server: FakeAnthropicServer,
) -> None:
    config = cfg(anthropic_server)
    first = await config.sdk_client()
    assert await config.sdk_client() is first
    assert await config.copy().sdk_client() is not first
    await config.aclose()
    assert first.is_closed()
    assert await config.sdk_client() is not first


# --------------------------------------------------------------------------- direct client calls


async def test_text_reply_system_prompt_usage_and_published_message(
    anthropic_server: FakeAnthropicServer, make_context: Any
) -> None:
    anthropic_server.add(
        Reply(
            text="Hi!",
            usage=FakeUsage(
                20, 10, cache_read_tokens=12, cache_creation_tokens=3, reasoning_tokens=4
            ),
        )
    )
    ctx, stream = make_context("You are terse.", "Answer in English.")
    response = await cfg(anthropic_server).create()([request("hello")], ctx)

    assert response.content == "Hi!"
    assert response.provider == "anthropic"
    assert response.model == "claude-test"
    assert response.finish_reason == "end_turn"
    assert response.response_id
    assert response.usage == Usage(
        prompt_tokens=20,
        completion_tokens=10,
        total_tokens=30,
        cache_read_input_tokens=12,
        cache_creation_input_tokens=3,
        thinking_tokens=4,
    )
    assert stream.events == [ModelMessage("Hi!")]

    body = anthropic_server.last_body
    assert body["model"] == "claude-test"
    assert body["max_tokens"] == 4096
    assert body["system"] == [
        {"type": "text", "text": "You are terse.\nAnswer in English.", "cache_control": EPHEMERAL}
    ]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hello", "cache_control": EPHEMERAL}]}
    ]
    assert "tools" not in body
    for absent in ("temperature", "top_p", "top_k", "stop_sequences", "metadata", "service_tier"):
        assert absent not in body


async def test_options_and_no_prompt_caching(
    anthropic_server: FakeAnthropicServer, make_context: Any
) -> None:
    anthropic_server.add("ok")
    config = cfg(
        anthropic_server,
        prompt_caching=False,
        temperature=0.2,
        top_p=0.9,
        top_k=5,
        stop_sequences=["STOP"],
        metadata={"user_id": "u1"},
        service_tier="auto",
        max_tokens=99,
        extra_body={"custom": 1},
        default_headers={"x-extra": "yes"},
    )
    ctx, _ = make_context("Sys.")
    await config.create()([request("hello")], ctx)
    body = anthropic_server.last_body
    assert body["system"] == "Sys."
    assert body["messages"] == [{"role": "user", "content": "hello"}]
    assert (body["temperature"], body["top_p"], body["top_k"]) == (0.2, 0.9, 5)
    assert body["stop_sequences"] == ["STOP"]
    assert body["metadata"] == {"user_id": "u1"}
    assert body["service_tier"] == "auto"
    assert body["max_tokens"] == 99
    assert body["custom"] == 1
    assert anthropic_server.requests[-1].headers["x-extra"] == "yes"


async def test_empty_prompt_omits_system(
    anthropic_server: FakeAnthropicServer, make_context: Any
) -> None:
    anthropic_server.add("ok")
    ctx, _ = make_context()
    await cfg(anthropic_server).create()([request("hello")], ctx)
    assert "system" not in anthropic_server.last_body


async def test_all_text_blocks_are_concatenated(
    anthropic_server: FakeAnthropicServer, make_context: Any
) -> None:
    anthropic_server.add(Reply(text=["First block. ", "Second block."]))
    ctx, stream = make_context()
    response = await cfg(anthropic_server).create()([request("hi")], ctx)
    assert response.content == "First block. Second block."
    assert stream.events == [ModelMessage("First block. Second block.")]


async def test_tool_use_parsing_and_tools_param(
    anthropic_server: FakeAnthropicServer, make_context: Any
) -> None:
    anthropic_server.add(
        Reply(
            text="Let me check.",
            tool_calls=[ToolCall("lookup", {"q": "x"}, id="toolu_a"), ToolCall("now", {})],
        )
    )
    schema = FunctionToolSchema(
        FunctionDefinition(
            "lookup",
            "Look something up.",
            {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
        )
    )
    bare = FunctionToolSchema(FunctionDefinition("now", "", {"properties": {}}))
    ctx, _ = make_context()
    response = await cfg(anthropic_server).create()([request("hi")], ctx, tools=[schema, bare])

    assert response.content == "Let me check."
    assert response.finish_reason == "tool_use"
    calls = response.tool_calls.calls
    assert [(c.id, c.name, json.loads(c.arguments)) for c in calls[:1]] == [
        ("toolu_a", "lookup", {"q": "x"})
    ]
    assert calls[1].name == "now" and calls[1].id.startswith("toolu_")
    assert anthropic_server.last_body["tools"] == [
        {
            "name": "lookup",
            "description": "Look something up.",
            "input_schema": {
                "type": "object",
                "properties": {"q": {"type": "string"}},
                "required": ["q"],
            },
        },
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "type" not in bare.function.parameters  # the schema object was not mutated


async def test_streaming_publishes_chunks_and_returns_the_same_response(
    anthropic_server: FakeAnthropicServer, make_context: Any
) -> None:
    anthropic_server.add(
        Reply(
            text="Streaming works fine.",
            tool_calls=[ToolCall("f", {"k": "some value"}, id="toolu_s")],
            usage=FakeUsage(11, 6, cache_read_tokens=1),
        )
    )
    ctx, stream = make_context("Sys.")
    response = await cfg(anthropic_server, streaming=True).create()([request("hi")], ctx)

    assert anthropic_server.last_body["stream"] is True
    chunks = [e.content for e in stream.events if isinstance(e, ModelMessageChunk)]
    assert len(chunks) > 1
    assert "".join(chunks) == "Streaming works fine."
    assert stream.events[-1] == ModelMessage("Streaming works fine.")
    assert response.content == "Streaming works fine."
    assert response.tool_calls.calls[0].id == "toolu_s"
    assert json.loads(response.tool_calls.calls[0].arguments) == {"k": "some value"}
    assert response.finish_reason == "tool_use"
    assert response.usage.prompt_tokens == 11
    assert response.usage.completion_tokens == 6
    assert response.usage.cache_read_input_tokens == 1


async def test_thinking_blocks_are_published_as_reasoning(
    anthropic_server: FakeAnthropicServer, make_context: Any
) -> None:
    anthropic_server.add(
        RawReply(
            {
                "id": "msg_t",
                "type": "message",
                "role": "assistant",
                "model": "claude-test",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "Answer."},
                ],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 1, "output_tokens": 1},
            }
        )
    )
    ctx, stream = make_context()
    response = await cfg(anthropic_server).create()([request("hi")], ctx)
    assert stream.events == [ModelReasoning("hmm"), ModelMessage("Answer.")]
    assert response.content == "Answer."


async def test_pause_turn_is_continued(
    anthropic_server: FakeAnthropicServer, make_context: Any
) -> None:
    anthropic_server.add(
        Reply(text="part one, ", stop_reason="pause_turn", usage=FakeUsage(5, 1)),
        Reply(text="part two", usage=FakeUsage(6, 2)),
    )
    ctx, _ = make_context()
    response = await cfg(anthropic_server).create()([request("go")], ctx)
    assert response.content == "part one, part two"
    assert response.finish_reason == "end_turn"
    assert response.usage.prompt_tokens == 11
    second = anthropic_server.bodies[1]["messages"]
    assert second[-1] == {"role": "assistant", "content": [{"type": "text", "text": "part one, "}]}


# --------------------------------------------------------------------------- history conversion


def test_convert_merges_roles_and_opens_with_user() -> None:
    events = [
        ModelResponse(ModelMessage("I spoke first.")),
        ModelRequest([TextInput("[bob]: hi")]),
        ModelRequest([TextInput("[carol]: hello"), DataInput({"k": 1})]),
        ModelResponse(ModelMessage("My earlier reply.")),
        ModelResponse(ModelMessage("   ")),  # whitespace-only: dropped
        ModelResponse(ModelMessage("And a follow-up.")),
        CompactionSummary("Summary of older turns.", 4),
        ModelRequest([TextInput("now?")]),
        ModelMessage("bare messages are not rendered"),
    ]
    assert convert_messages(events) == [
        {"role": "user", "content": LEADING_USER_PLACEHOLDER},
        {"role": "assistant", "content": "I spoke first."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "[bob]: hi"},
                {"type": "text", "text": "[carol]: hello"},
                {"type": "text", "text": '{"k":1}'},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "My earlier reply."},
                {"type": "text", "text": "And a follow-up."},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Summary of older turns."},
                {"type": "text", "text": "now?"},
            ],
        },
    ]


def test_convert_tool_rounds_errors_and_orphans() -> None:
    answered = ToolCallEvent("add", id="t1", arguments='{"a": 1}')
    failed = ToolCallEvent("boom", id="t2", arguments="{}")
    orphan_call = ToolCallEvent("lost", id="t3", arguments="{}")
    ok = ToolResultEvent.from_call(answered, ToolResult("2"))
    err = ToolErrorEvent("t2", "boom", ToolResult("Traceback: kaboom"), error=ValueError("kaboom"))
    stray = ToolResultEvent("t9", "ghost", ToolResult("no call"))
    events = [
        request("go"),
        ModelResponse(
            ModelMessage("Working."), tool_calls=ToolCallsEvent([answered, failed, orphan_call])
        ),
        ToolCallsEvent([answered, failed, orphan_call]),
        ok,  # loose copy of a wrapped result: rendered once, from the wrapper
        ToolResultsEvent([ok, err]),
        stray,
        request("and then?"),
    ]
    assert convert_messages(events, prompt_caching=True) == [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Working."},
                {"type": "tool_use", "id": "t1", "name": "add", "input": {"a": 1}},
                {"type": "tool_use", "id": "t2", "name": "boom", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "2"},
                {
                    "type": "tool_result",
                    "tool_use_id": "t2",
                    "content": "Traceback: kaboom",
                    "is_error": True,
                },
                {"type": "text", "text": "and then?", "cache_control": EPHEMERAL},
            ],
        },
    ]


def test_convert_uses_a_loose_result_without_wrapper_and_the_serializer() -> None:
    call = ToolCallEvent("data", id="d1")
    events = [
        request("go"),
        ModelResponse(tool_calls=ToolCallsEvent([call])),
        ToolResultEvent.from_call(call, ToolResult({"x": 1})),
    ]
    out = convert_messages(events, serializer=lambda obj: "SERIALIZED")
    assert out[-1] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "d1", "content": "SERIALIZED"}],
    }


# --------------------------------------------------------------------------- through the Agent


async def test_agent_tool_round_trip(anthropic_server: FakeAnthropicServer) -> None:
    anthropic_server.add(
        tool_call("add", {"a": 2, "b": 3}, id="toolu_add", usage=FakeUsage(20, 10)),
        text("The sum is 5.", usage=FakeUsage(40, 8, cache_read_tokens=12)),
    )
    ran: list[tuple[int, int]] = []

    def add(a: int, b: int) -> int:
        """Add two integers."""
        ran.append((a, b))
        return a + b

    agent = Agent("calc", "You add numbers.", config=cfg(anthropic_server), tools=[add])
    reply = await agent.ask("What is 2 + 3?")

    assert reply.body == "The sum is 5."
    assert ran == [(2, 3)]
    first, second = anthropic_server.bodies
    assert first["system"][0]["text"] == "You add numbers."
    assert first["tools"][0]["name"] == "add"
    assert first["tools"][0]["description"] == "Add two integers."
    assert set(first["tools"][0]["input_schema"]["properties"]) == {"a", "b"}
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "user"]
    assert second["messages"][1]["content"] == [
        {"type": "tool_use", "id": "toolu_add", "name": "add", "input": {"a": 2, "b": 3}}
    ]
    assert second["messages"][2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "toolu_add",
            "content": "5",
            "cache_control": EPHEMERAL,
        }
    ]
    report = await reply.usage()
    assert report.total.prompt_tokens == 60
    assert report.total.completion_tokens == 18
    assert report.total.total_tokens == 78
    assert report.total.cache_read_input_tokens == 12


async def test_agent_tool_error_is_sent_with_is_error(
    anthropic_server: FakeAnthropicServer,
) -> None:
    anthropic_server.add(tool_call("explode", {}, id="toolu_x"), "Sorry, that failed.")

    def explode() -> str:
        """Always fails."""
        raise ValueError("kaboom")

    agent = Agent("a", "p", config=cfg(anthropic_server), tools=[explode])
    reply = await agent.ask("try it")
    assert reply.body == "Sorry, that failed."
    result = anthropic_server.bodies[1]["messages"][-1]["content"][0]
    assert result["type"] == "tool_result"
    assert result["tool_use_id"] == "toolu_x"
    assert result["is_error"] is True
    assert "kaboom" in result["content"]


async def test_agent_own_earlier_messages_reach_the_model(
    anthropic_server: FakeAnthropicServer,
) -> None:
    anthropic_server.add("Noted.")
    stream = MemoryStream()
    await stream.history.storage.set_history(
        stream.id,
        [
            ModelRequest([TextInput("[bob]: shall we start?")]),
            ModelMessage("Yes, I am ready."),  # our own envelope, as the network seeds it
            ModelRequest([TextInput("[bob]: good")]),
            ModelRequest([TextInput("[carol]: me too")]),
        ],
    )
    agent = Agent("alice", "You are Alice.", config=cfg(anthropic_server, prompt_caching=False))
    reply = await agent.ask("[bob]: what did you say earlier?", stream=stream)

    assert reply.body == "Noted."
    assert anthropic_server.last_body["messages"] == [
        {"role": "user", "content": "[bob]: shall we start?"},
        {"role": "assistant", "content": "Yes, I am ready."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "[bob]: good"},
                {"type": "text", "text": "[carol]: me too"},
                {"type": "text", "text": "[bob]: what did you say earlier?"},
            ],
        },
    ]


async def test_agent_streaming_round_trip(anthropic_server: FakeAnthropicServer) -> None:
    anthropic_server.add(tool_call("echo", {"s": "hello world"}), "Echoed: hello world")

    def echo(s: str) -> str:
        """Echo a string."""
        return s

    agent = Agent("a", "p", config=cfg(anthropic_server, streaming=True), tools=[echo])
    reply = await agent.ask("echo it")
    assert reply.body == "Echoed: hello world"
    assert all(b.get("stream") is True for b in anthropic_server.bodies)
    assert anthropic_server.bodies[1]["messages"][-1]["content"][0]["content"] == "hello world"


# --------------------------------------------------------------------------- retries, timeouts, errors


async def test_retries_on_500_and_429(
    anthropic_server: FakeAnthropicServer, make_context: Any
) -> None:
    anthropic_server.add(ErrorReply(500), ErrorReply(429), "finally")
    ctx, _ = make_context()
    response = await cfg(anthropic_server, max_retries=2).create()([request("hi")], ctx)
    assert response.content == "finally"
    assert len(anthropic_server.requests) == 3
    assert [r.headers.get("x-stainless-retry-count") for r in anthropic_server.requests] == [
        "0",
        "1",
        "2",
    ]


async def test_retries_exhausted_raise_wrapped_status_error(
    anthropic_server: FakeAnthropicServer, make_context: Any
) -> None:
    anthropic_server.add(ErrorReply(500, "upstream down"), ErrorReply(503, "still down"))
    ctx, _ = make_context()
    with pytest.raises(ProviderStatusError) as info:
        await cfg(anthropic_server, max_retries=1).create()([request("hi")], ctx)
    err = info.value
    assert err.status_code == 503
    assert err.provider == "anthropic"
    assert err.model == "claude-test"
    assert "still down" in str(err)
    assert isinstance(err.__cause__, anthropic.InternalServerError)
    assert len(anthropic_server.requests) == 2


async def test_rate_limit_and_auth_errors(
    anthropic_server: FakeAnthropicServer, make_context: Any
) -> None:
    anthropic_server.add(ErrorReply(429), ErrorReply(401, "bad key"))
    ctx, _ = make_context()
    client = cfg(anthropic_server, max_retries=0).create()
    with pytest.raises(ProviderRateLimitError):
        await client([request("hi")], ctx)
    with pytest.raises(ProviderAuthError) as info:
        await client([request("hi")], ctx)
    assert info.value.status_code == 401
    assert isinstance(info.value.__cause__, anthropic.AuthenticationError)


async def test_timeout_raises_provider_timeout(
    anthropic_server: FakeAnthropicServer, make_context: Any
) -> None:
    anthropic_server.add(Reply(text="too late", delay=30))
    ctx, _ = make_context()
    config = cfg(anthropic_server, timeout=0.3, max_retries=0)
    with pytest.raises(ProviderTimeoutError, match="timed out") as info:
        await config.create()([request("hi")], ctx)
    assert isinstance(info.value, TimeoutError)
    assert isinstance(info.value.__cause__, anthropic.APITimeoutError)


async def test_timeout_is_retried(anthropic_server: FakeAnthropicServer, make_context: Any) -> None:
    anthropic_server.add(Reply(text="slow", delay=30), "fast")
    ctx, _ = make_context()
    response = await cfg(anthropic_server, timeout=0.3, max_retries=1).create()(
        [request("hi")], ctx
    )
    assert response.content == "fast"
    assert len(anthropic_server.requests) == 2


async def test_unreachable_server_raises_connection_error(make_context: Any) -> None:
    with FakeAnthropicServer() as server:
        url = server.url
    ctx, _ = make_context()
    config = AnthropicConfig(model="m", base_url=url, api_key="k", max_retries=0)
    with pytest.raises(ProviderConnectionError) as info:
        await config.create()([request("hi")], ctx)
    assert isinstance(info.value, ConnectionError)
    assert isinstance(info.value, ProviderError)
    assert isinstance(info.value.__cause__, anthropic.APIConnectionError)


async def test_environment_settings_are_honoured(
    anthropic_server: FakeAnthropicServer, make_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic_server.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    anthropic_server.add("from env")
    ctx, _ = make_context()
    response = await AnthropicConfig(model="m").create()([request("hi")], ctx)
    assert response.content == "from env"
    headers = anthropic_server.requests[0].headers
    assert "env-key" in (headers.get("x-api-key", "") + headers.get("authorization", ""))


# --------------------------------------------------------------------------- lifecycle / imports


def test_sdk_client_is_closed_when_its_loop_shuts_down() -> None:
    import asyncio

    from hubbub.context import ConversationContext

    class Sink:
        async def send(self, event: Any, context: Any = None) -> None:
            pass

    with FakeAnthropicServer(default="hi") as server:
        config = cfg(server)

        async def turn() -> Any:
            ctx = ConversationContext(stream=Sink())  # type: ignore[arg-type]
            await config.create()([request("hello")], ctx)
            return await config.sdk_client()

        first = asyncio.run(turn())
        assert first.is_closed()  # closed by loop.shutdown_asyncgens(), inside its loop
        second = asyncio.run(turn())
        assert second is not first
        assert len(server.requests) == 2


def test_provider_modules_import_their_sdk_lazily() -> None:
    import subprocess
    import sys

    code = (
        "import sys, hubbub.config, hubbub.config.anthropic, hubbub.config.openai;"
        "from hubbub.config import AnthropicConfig, OpenAIConfig;"
        "AnthropicConfig(model='m'); OpenAIConfig(model='m');"
        "print(sorted(m for m in ('anthropic', 'openai') if m in sys.modules))"
    )
    import os
    from pathlib import Path

    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    assert out.stdout.strip() == "[]"
