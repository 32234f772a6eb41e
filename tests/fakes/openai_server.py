"""A fake OpenAI Chat Completions API (``POST /v1/chat/completions``, JSON and SSE) on loopback.

Usage::

    from tests.fakes import FakeOpenAIServer, tool_call

    with FakeOpenAIServer(["hello"]) as server:
        config = OpenAIConfig(model="gpt-test", base_url=server.url)  # no key needed
        ...
        assert server.last_body["messages"][0]["role"] == "system"

Or use the ``openai_server`` pytest fixture (a started, empty server).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ._base import FakeProviderServer, FakeUsage, Reply, SSEWriter, iter_tool_ids

__all__ = ["FakeOpenAIServer", "openai_server"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}


def _usage(u: FakeUsage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
    }
    if u.cache_read_tokens is not None:
        out["prompt_tokens_details"] = {"cached_tokens": u.cache_read_tokens}
    if u.reasoning_tokens is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": u.reasoning_tokens}
    return out


class FakeOpenAIServer(FakeProviderServer):
    """Speaks enough of OpenAI Chat Completions for ``openai.AsyncOpenAI``.

    ``url`` ends in ``/v1`` (the SDK appends ``/chat/completions``), like an
    OpenAI-compatible server (Ollama, vLLM). A ``Reply`` becomes one choice whose
    ``content`` is the concatenated text (None when empty) and whose ``tool_calls``
    list the calls; ``finish_reason`` defaults to ``tool_calls``/``stop``. Streaming
    requests get ``chat.completion.chunk`` events (role, content deltas, tool-call
    deltas by index, a finish chunk, a usage chunk when
    ``stream_options.include_usage`` is set) and ``data: [DONE]``.
    """

    url_suffix = "/v1"

    def _route(self, method: str, path: str) -> bool:
        return method == "POST" and path.rstrip("/").endswith("/chat/completions")

    @staticmethod
    def _finish(reply: Reply) -> str:
        if reply.stop_reason is not None:
            return reply.stop_reason
        return "tool_calls" if reply.tool_calls else "stop"

    def _tool_calls(self, reply: Reply) -> list[dict[str, Any]]:
        ids = iter_tool_ids(self, "call", reply.tool_calls)
        return [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments))},
            }
            for call, call_id in zip(reply.tool_calls, ids, strict=True)
        ]

    def _render_json(self, reply: Reply, request: dict[str, Any]) -> Any:
        content = "".join(reply.text_blocks) or None
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if reply.tool_calls:
            message["tool_calls"] = self._tool_calls(reply)
        out: dict[str, Any] = {
            "id": reply.id or self.next_id("chatcmpl"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model or request.get("model", "fake-model"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": self._finish(reply),
                    "logprobs": None,
                }
            ],
        }
        if reply.usage is not None:
            out["usage"] = _usage(reply.usage)
        return out

    def _render_stream(self, reply: Reply, request: dict[str, Any], sse: SSEWriter) -> None:
        base = {
            "id": reply.id or self.next_id("chatcmpl"),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": reply.model or request.get("model", "fake-model"),
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
            sse.event(dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": finish}]))

        chunk({"role": "assistant", "content": ""})
        for piece in _split("".join(reply.text_blocks)):
            chunk({"content": piece})
        for index, call in enumerate(self._tool_calls(reply)):
            fn = call["function"]
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": fn["name"], "arguments": ""},
                        }
                    ]
                }
            )
            for piece in _split(fn["arguments"]):
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        chunk({}, self._finish(reply))
        options = request.get("stream_options") or {}
        if options.get("include_usage") and reply.usage is not None:
            sse.event(dict(base, choices=[], usage=_usage(reply.usage)))
        sse.event("[DONE]")

    def _error_body(self, status: int, message: str, error_type: str | None) -> Any:
        kind = error_type or _ERROR_TYPES.get(status, "server_error")
        return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


def _split(s: str, size: int = 4) -> list[str]:
    return [s[i : i + size] for i in range(0, len(s), size)]


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    """A started, empty :class:`FakeOpenAIServer`; closed after the test."""
    with FakeOpenAIServer() as server:
        yield server
