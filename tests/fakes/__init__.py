"""Scriptable fake LLM provider servers on loopback, for end-to-end tests through the real SDKs.

Two real HTTP servers (stdlib ``ThreadingHTTPServer`` on ``127.0.0.1:<ephemeral port>``,
served from a daemon thread, so they work from sync and async tests alike):

* :class:`FakeAnthropicServer` — ``POST /v1/messages`` (JSON and SSE streaming);
* :class:`FakeOpenAIServer` — ``POST /v1/chat/completions`` (JSON and SSE streaming).

``server.url`` is what you pass as ``base_url`` to the config (or SDK)::

    from tests.fakes import FakeAnthropicServer, FakeOpenAIServer, ErrorReply, Reply, text, tool_call

    with FakeAnthropicServer([tool_call("get_weather", {"city": "Paris"}), "Sunny."]) as srv:
        agent = Agent("a", "Be brief.",
                      config=AnthropicConfig(model="claude-test", base_url=srv.url, api_key="test"))
        reply = await agent.ask("Weather?")
        assert reply.body == "Sunny."
        assert srv.bodies[1]["messages"][-1]["content"][0]["type"] == "tool_result"

    with FakeOpenAIServer(["hi"]) as srv:          # OpenAIConfig(model=..., base_url=srv.url)
        ...

Scripting. Each HTTP request (every SDK retry included) takes the next item of the reply
queue (``replies=`` at construction, or ``server.add(*replies)`` later); when the queue is
empty ``responder(request_json)`` is called if given, else ``default`` is used if given,
else the server answers HTTP 418 (non-retryable) "no reply scripted". Items:

* ``"text"`` or ``text("a", usage=FakeUsage(20, 10))`` or ``Reply(text=[...blocks])`` — an answer;
* ``tool_call(name, {args}, id=None)`` or ``Reply(text=..., tool_calls=[ToolCall(...), ...])``;
* ``ErrorReply(500)`` / ``ErrorReply(429)`` — provider-shaped error; sends ``retry-after-ms: 10``
  so SDK retries are fast (``headers={"x-should-retry": "false"}`` forbids retrying);
* any spec with ``delay=<seconds>`` — sleeps before answering (client timeout tests;
  the sleep is cut short when the server closes);
* ``RawReply(body, status=200)`` — anything else, verbatim.

Streaming is chosen by the request (``"stream": true``); the same specs render as SSE.

Inspection: ``server.requests`` (``RecordedRequest(method, path, headers, body)``, one per
attempt), ``server.bodies`` (JSON bodies), ``server.last_body``, ``server.pending``.

Pytest fixtures ``anthropic_server`` and ``openai_server`` yield a started, empty server
(script it with ``.add(...)``). To use them from another test directory, import them
into that directory's ``conftest.py``::

    from tests.fakes import anthropic_server, openai_server  # noqa: F401  (fixtures)

``tests`` must be importable: run pytest from the repository root with the root on
``sys.path`` (``python -m pytest`` does that; ``tests/config/conftest.py`` shows a
guarded ``sys.path`` fallback).
"""

from __future__ import annotations

from ._base import (
    ErrorReply,
    FakeProviderServer,
    FakeUsage,
    RawReply,
    RecordedRequest,
    Reply,
    ReplySpec,
    Responder,
    ToolCall,
    text,
    tool_call,
)
from .anthropic_server import FakeAnthropicServer, anthropic_server
from .openai_server import FakeOpenAIServer, openai_server

__all__ = [
    "ErrorReply",
    "FakeAnthropicServer",
    "FakeOpenAIServer",
    "FakeProviderServer",
    "FakeUsage",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "ReplySpec",
    "Responder",
    "ToolCall",
    "anthropic_server",
    "openai_server",
    "text",
    "tool_call",
]
