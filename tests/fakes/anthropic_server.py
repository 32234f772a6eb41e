"""A fake Anthropic Messages API (``POST /v1/messages``, JSON and SSE) on loopback.

Usage::

    from tests.fakes import FakeAnthropicServer, text, tool_call

    with FakeAnthropicServer([tool_call("add", {"a": 1}), "done"]) as server:
        config = AnthropicConfig(model="claude-test", base_url=server.url, api_key="test")
        ...
        assert server.last_body["system"][0]["text"] == "You are terse."

Or use the ``anthropic_server`` pytest fixture (a started, empty server; script it with
``anthropic_server.add(...)``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from ._base import FakeProviderServer, FakeUsage, Reply, SSEWriter, iter_tool_ids

__all__ = ["FakeAnthropicServer", "anthropic_server"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _usage(u: FakeUsage | None) -> dict[str, Any]:
    if u is None:
        return {"input_tokens": 0, "output_tokens": 0}
    out: dict[str, Any] = {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens}
    if u.cache_read_tokens is not None:
        out["cache_read_input_tokens"] = u.cache_read_tokens
    if u.cache_creation_tokens is not None:
        out["cache_creation_input_tokens"] = u.cache_creation_tokens
    if u.reasoning_tokens is not None:
        out["output_tokens_details"] = {"thinking_tokens": u.reasoning_tokens}
    return out


class FakeAnthropicServer(FakeProviderServer):
    """Speaks enough of the Anthropic Messages API for ``anthropic.AsyncAnthropic``.

    ``url`` is the SDK ``base_url`` (the SDK appends ``/v1/messages``). A ``Reply``
    renders as text blocks (one per entry of ``text``) followed by ``tool_use`` blocks;
    ``stop_reason`` defaults to ``tool_use`` when there are tool calls, else ``end_turn``.
    Streaming requests (``"stream": true``) get the real event sequence
    (``message_start``, ``content_block_*`` with ``text_delta``/``input_json_delta``,
    ``message_delta`` with the stop reason and usage, ``message_stop``).
    """

    def _route(self, method: str, path: str) -> bool:
        return method == "POST" and path.rstrip("/").endswith("/v1/messages")

    def _blocks(self, reply: Reply) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": t} for t in reply.text_blocks]
        ids = iter_tool_ids(self, "toolu", reply.tool_calls)
        for call, call_id in zip(reply.tool_calls, ids, strict=True):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call_id,
                    "name": call.name,
                    "input": dict(call.arguments),
                }
            )
        return blocks

    @staticmethod
    def _stop_reason(reply: Reply) -> str:
        if reply.stop_reason is not None:
            return reply.stop_reason
        return "tool_use" if reply.tool_calls else "end_turn"

    def _render_json(self, reply: Reply, request: dict[str, Any]) -> Any:
        return {
            "id": reply.id or self.next_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": reply.model or request.get("model", "fake-model"),
            "content": self._blocks(reply),
            "stop_reason": self._stop_reason(reply),
            "stop_sequence": None,
            "usage": _usage(reply.usage),
        }

    def _render_stream(self, reply: Reply, request: dict[str, Any], sse: SSEWriter) -> None:
        usage = _usage(reply.usage)
        start_usage = dict(usage, output_tokens=1 if reply.usage is not None else 0)
        sse.event(
            {
                "type": "message_start",
                "message": {
                    "id": reply.id or self.next_id("msg"),
                    "type": "message",
                    "role": "assistant",
                    "model": reply.model or request.get("model", "fake-model"),
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
            "message_start",
        )
        sse.event({"type": "ping"}, "ping")
        for index, block in enumerate(self._blocks(reply)):
            if block["type"] == "text":
                sse.event(
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                    "content_block_start",
                )
                for piece in _split(block["text"]):
                    sse.event(
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": piece},
                        },
                        "content_block_delta",
                    )
            else:
                sse.event(
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                    "content_block_start",
                )
                for piece in _split(json.dumps(block["input"])):
                    sse.event(
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                        "content_block_delta",
                    )
            sse.event({"type": "content_block_stop", "index": index}, "content_block_stop")
        sse.event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self._stop_reason(reply), "stop_sequence": None},
                "usage": usage,
            },
            "message_delta",
        )
        sse.event({"type": "message_stop"}, "message_stop")

    def _error_body(self, status: int, message: str, error_type: str | None) -> Any:
        kind = error_type or _ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}


def _split(s: str, size: int = 4) -> list[str]:
    """Cut a string into small deltas (at least one, possibly empty, piece)."""
    return [s[i : i + size] for i in range(0, len(s), size)] or [""]


@pytest.fixture
def anthropic_server() -> Iterator[FakeAnthropicServer]:
    """A started, empty :class:`FakeAnthropicServer`; closed after the test."""
    with FakeAnthropicServer() as server:
        yield server
