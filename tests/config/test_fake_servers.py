"""The fake provider servers speak enough of each API for the unmodified SDKs."""

from __future__ import annotations

import anthropic
import openai
import pytest
from tests.fakes import (
    ErrorReply,
    FakeAnthropicServer,
    FakeOpenAIServer,
    FakeUsage,
    RawReply,
    Reply,
    ToolCall,
    text,
    tool_call,
)


async def test_anthropic_json_text_and_tool_use(anthropic_server: FakeAnthropicServer) -> None:
    anthropic_server.add(
        Reply(text=["a", "b"], tool_calls=[ToolCall("f", {"x": 1}, id="toolu_1")]),
    )
    async with anthropic.AsyncAnthropic(api_key="k", base_url=anthropic_server.url) as sdk:
        msg = await sdk.messages.create(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
    assert [b.type for b in msg.content] == ["text", "text", "tool_use"]
    assert msg.content[2].input == {"x": 1}  # type: ignore[union-attr]
    assert msg.stop_reason == "tool_use"
    assert msg.model == "m"
    assert msg.usage.input_tokens == 10
    req = anthropic_server.requests[0]
    assert req.method == "POST"
    assert req.path == "/v1/messages"
    assert req.json["messages"] == [{"role": "user", "content": "hi"}]


async def test_anthropic_sse_stream(anthropic_server: FakeAnthropicServer) -> None:
    anthropic_server.add(
        Reply(
            text="Hello there",
            tool_calls=[ToolCall("f", {"q": "long enough"})],
            usage=FakeUsage(7, 3, cache_read_tokens=2),
        )
    )
    async with (
        anthropic.AsyncAnthropic(api_key="k", base_url=anthropic_server.url) as sdk,
        sdk.messages.stream(
            model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        chunks = [t async for t in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(chunks) == "Hello there"
    assert len(chunks) > 1
    assert final.content[1].input == {"q": "long enough"}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (7, 3)
    assert final.usage.cache_read_input_tokens == 2
    assert anthropic_server.last_body["stream"] is True


async def test_openai_json_and_stream(openai_server: FakeOpenAIServer) -> None:
    openai_server.add(
        tool_call("f", {"a": 1}, id="call_1"),
        text("streamed text", usage=FakeUsage(4, 2)),
    )
    async with openai.AsyncOpenAI(api_key="k", base_url=openai_server.url) as sdk:
        done = await sdk.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        stream = await sdk.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        pieces: list[str] = []
        usage = None
        async with stream:
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
    call = done.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert (call.id, call.function.name, call.function.arguments) == ("call_1", "f", '{"a": 1}')  # type: ignore[union-attr]
    assert done.choices[0].finish_reason == "tool_calls"
    assert "".join(pieces) == "streamed text"
    assert usage is not None and usage.total_tokens == 6
    assert openai_server.requests[0].path == "/v1/chat/completions"


def test_reply_selection_queue_then_responder_then_default() -> None:
    seen: list[dict[str, object]] = []

    def responder(body: dict[str, object]) -> str:
        seen.append(body)
        return f"echo {body['model']}"

    server = FakeAnthropicServer(["queued"], responder=responder)
    assert server._next_reply({"model": "x"}) == "queued"
    assert server._next_reply({"model": "y"}) == "echo y"
    assert seen == [{"model": "y"}]
    fallback = FakeOpenAIServer(default="always")
    assert fallback._next_reply({}) == "always"
    assert FakeOpenAIServer()._next_reply({}) is None


async def test_unscripted_request_is_a_non_retryable_error(
    anthropic_server: FakeAnthropicServer,
) -> None:
    async with anthropic.AsyncAnthropic(
        api_key="k", base_url=anthropic_server.url, max_retries=3
    ) as sdk:
        with pytest.raises(anthropic.APIStatusError) as info:
            await sdk.messages.create(
                model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
    assert info.value.status_code == 418
    assert "no reply scripted" in str(info.value)
    assert len(anthropic_server.requests) == 1


async def test_error_and_raw_replies(openai_server: FakeOpenAIServer) -> None:
    openai_server.add(
        ErrorReply(400, "bad things"),
        RawReply({"weird": True}, status=200),
    )
    async with openai.AsyncOpenAI(api_key="k", base_url=openai_server.url) as sdk:
        with pytest.raises(openai.BadRequestError, match="bad things"):
            await sdk.chat.completions.create(model="m", messages=[])
        raw = await sdk.chat.completions.with_raw_response.create(model="m", messages=[])
        assert raw.http_response.json() == {"weird": True}


def test_unknown_path_is_404() -> None:
    import json
    import urllib.error
    import urllib.request

    with FakeOpenAIServer(default="x") as server:
        req = urllib.request.Request(f"{server.url}/nope", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=5)
        assert info.value.code == 404
        assert "no route" in json.loads(info.value.read())["error"]["message"]
        info.value.close()
