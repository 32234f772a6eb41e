"""``OpenAIConfig``: OpenAI Chat Completions (and compatible servers) behind ``ModelConfig``.

Mapping (agent-core spec §12.3):

* ``messages`` open with a ``system`` message holding ``context.prompt`` joined by
  "\\n" (left out when the prompt is empty); ``ModelRequest`` → user (a string for a
  single text part, else content parts); ``ModelResponse`` → assistant ``content`` +
  ``tool_calls``; every tool result → ``{"role": "tool", "tool_call_id", "content"}``
  (errors carry the traceback text); ``CompactionSummary`` → user. Orphan tool calls and
  results are dropped; bare ``ModelMessage`` events are not rendered (own earlier
  messages arrive as ``ModelResponse(ModelMessage(text))``).
* Tools: ``{"type": "function", "function": {name, description, parameters}}`` with
  ``additionalProperties: false`` at the top level of ``parameters``.
* Options left ``None`` are not sent; ``tool_choice``/``parallel_tool_calls`` are only
  sent with tools (the API rejects them otherwise).
* Response: first choice; ``content`` → ``ModelMessage``; function tool calls →
  ``ToolCallEvent``; usage: prompt/completion/total, ``cached_tokens`` → cache read,
  ``reasoning_tokens`` → thinking. Streaming asks for ``include_usage`` and accumulates
  tool-call deltas by index.

Works with any OpenAI-compatible server (Ollama, vLLM, ...) through ``base_url``; when a
``base_url`` is configured (argument or ``OPENAI_BASE_URL``) and no key is available
(argument or ``OPENAI_API_KEY``), a placeholder key is sent so the SDK does not refuse.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hubbub.config._convert import (
    LoopLocal,
    Serializer,
    ToolPairing,
    binary_base64,
    join_prompt,
    part_text,
    require_sdk,
    sdk_kwargs,
    wrap_sdk_error,
)
from hubbub.config.base import ModelProvider
from hubbub.config.errors import missing_key_error
from hubbub.events import (
    BaseEvent,
    BinaryInput,
    CompactionSummary,
    Input,
    ModelMessage,
    ModelMessageChunk,
    ModelRequest,
    ModelResponse,
    TextInput,
    ToolCallEvent,
    ToolCallsEvent,
    ToolResultEvent,
    ToolResultsEvent,
    Usage,
)
from hubbub.exceptions import UnsupportedInputError

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from openai.types import CompletionUsage

    from hubbub.context import ConversationContext
    from hubbub.tool_schema import FunctionToolSchema

__all__ = ["OpenAIClient", "OpenAIConfig", "build_request", "convert_messages"]

_PROVIDER = ModelProvider.OPENAI.value
PLACEHOLDER_API_KEY = "hubbub-no-key"
"""Sent to OpenAI-compatible servers configured by ``base_url`` when no key is set."""

_OPTIONAL = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "reasoning_effort",
)
_TOOL_OPTIONS = ("tool_choice", "parallel_tool_calls")


@dataclass(slots=True)
class OpenAIConfig:
    """Configuration for OpenAI chat models (or an OpenAI-compatible server).

    Every optional request field left ``None`` is not sent. ``api_key``/``base_url``
    default to ``OPENAI_API_KEY``/``OPENAI_BASE_URL`` (the SDK's own resolution);
    ``timeout``/``max_retries`` are handed to the SDK client. SDK failures surface as
    :class:`hubbub.config.errors.ProviderError` subclasses; with no key (and no
    ``base_url``, which sends a placeholder) the first call raises
    :class:`~hubbub.config.errors.MissingCredentialsError` naming ``OPENAI_API_KEY``.
    """

    model: str
    api_key: str | None = None
    base_url: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | Sequence[str] | None = None
    seed: int | None = None
    tool_choice: str | Mapping[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    streaming: bool = False
    timeout: float | None = None
    max_retries: int = 2
    default_headers: Mapping[str, str] | None = None
    http_client: Any = None
    extra_body: Mapping[str, Any] | None = None
    reasoning_effort: str | None = None
    _sdk_clients: LoopLocal[AsyncOpenAI] = field(
        default_factory=LoopLocal, init=False, repr=False, compare=False
    )

    @property
    def provider(self) -> ModelProvider:
        """Return :attr:`ModelProvider.OPENAI`."""
        return ModelProvider.OPENAI

    def copy(self, **overrides: Any) -> OpenAIConfig:
        """Return a copy with ``overrides`` applied (it gets its own SDK clients)."""
        return replace(self, **overrides)

    def create(self) -> OpenAIClient:
        """Return a client for one turn (cheap; the SDK client is shared per event loop).

        Raises:
            ImportError: the ``openai`` package is not installed.
        """
        _require_sdk()
        return OpenAIClient(self)

    async def sdk_client(self) -> AsyncOpenAI:
        """Return this config's ``AsyncOpenAI`` for the running event loop.

        Built on first use and reused by every turn on that loop; closed when the loop
        shuts down (``asyncio.run``/``asyncio.Runner``) or on :meth:`aclose`. A
        caller-supplied ``http_client`` is never closed by hubbub.
        """
        return await self._sdk_clients.get(
            self._build_sdk_client, None if self.http_client is not None else _close_sdk
        )

    async def aclose(self) -> None:
        """Close the running loop's SDK client now (a later call builds a new one)."""
        await self._sdk_clients.aclose()

    def _build_sdk_client(self) -> AsyncOpenAI:
        from openai import AsyncOpenAI

        api_key = self.api_key
        base_url = self.base_url
        if (
            api_key is None
            and not os.environ.get("OPENAI_API_KEY")
            and (base_url is not None or os.environ.get("OPENAI_BASE_URL"))
        ):
            api_key = PLACEHOLDER_API_KEY
        if (
            api_key is None
            and not os.environ.get("OPENAI_API_KEY")
            and not os.environ.get("OPENAI_ADMIN_KEY")
        ):
            raise missing_key_error(
                provider=_PROVIDER,
                model=self.model,
                variable="OPENAI_API_KEY",
                config="OpenAIConfig",
            )
        kwargs = sdk_kwargs(
            max_retries=self.max_retries,
            api_key=api_key,
            base_url=base_url,
            timeout=self.timeout,
            default_headers=self.default_headers,
            http_client=self.http_client,
        )
        return AsyncOpenAI(**kwargs)


async def _close_sdk(client: AsyncOpenAI) -> None:
    await client.close()


def _require_sdk() -> None:
    require_sdk("openai", "OpenAIConfig", "openai")


class OpenAIClient:
    """The per-turn :class:`hubbub.config.LLMClient` of an :class:`OpenAIConfig`."""

    __slots__ = ("config",)

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config

    async def __call__(
        self,
        messages: Sequence[BaseEvent],
        context: ConversationContext,
        *,
        tools: Iterable[FunctionToolSchema] = (),
        response_schema: Any = None,
        serializer: Serializer | None = None,
    ) -> ModelResponse:
        """Send the history to Chat Completions and return the model's response.

        ``response_schema`` is not supported by this client and is ignored.

        Raises:
            MissingCredentialsError: no API key is configured (names ``OPENAI_API_KEY``).
            ProviderError: the SDK failed (timeout, connection, HTTP status), as
                ``raise ... from`` the SDK exception.
        """
        import openai

        config = self.config
        request = build_request(config, messages, context.prompt, tools, serializer)
        try:
            sdk = await config.sdk_client()
            if config.streaming:
                response = await _stream(sdk, request, context)
            else:
                completion = await sdk.chat.completions.create(**request)
                choice = completion.choices[0]
                calls = [
                    ToolCallEvent(
                        tc.function.name, id=tc.id, arguments=tc.function.arguments or "{}"
                    )
                    for tc in choice.message.tool_calls or ()
                    if tc.type == "function"
                ]
                response = _Parsed(
                    text=choice.message.content or "",
                    calls=calls,
                    usage=_usage(completion.usage),
                    model=completion.model,
                    finish_reason=choice.finish_reason,
                    response_id=completion.id,
                )
        except openai.OpenAIError as exc:
            raise wrap_sdk_error(exc, openai, provider=_PROVIDER, model=config.model) from exc

        reply = ModelMessage(response.text) if response.text else None
        if reply is not None:
            await context.send(reply)
        return ModelResponse(
            reply,
            tool_calls=ToolCallsEvent(response.calls),
            usage=response.usage,
            model=response.model,
            provider=_PROVIDER,
            finish_reason=response.finish_reason,
            response_id=response.response_id,
        )


@dataclass(slots=True)
class _Parsed:
    text: str
    calls: list[ToolCallEvent]
    usage: Usage
    model: str | None
    finish_reason: str | None
    response_id: str | None


@dataclass(slots=True)
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


async def _stream(
    sdk: AsyncOpenAI, request: dict[str, Any], context: ConversationContext
) -> _Parsed:
    text: list[str] = []
    partial: dict[int, _PartialCall] = {}
    parsed = _Parsed("", [], Usage(), None, None, None)
    stream = await sdk.chat.completions.create(
        **request, stream=True, stream_options={"include_usage": True}
    )
    async with stream:
        async for chunk in stream:
            parsed.model = chunk.model or parsed.model
            parsed.response_id = chunk.id or parsed.response_id
            if chunk.usage is not None:
                parsed.usage = _usage(chunk.usage)
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            if choice.finish_reason is not None:
                parsed.finish_reason = choice.finish_reason
            delta = choice.delta
            if delta.content:
                text.append(delta.content)
                await context.send(ModelMessageChunk(delta.content))
            for tc in delta.tool_calls or ():
                slot = partial.setdefault(tc.index, _PartialCall())
                if tc.id:
                    slot.id = tc.id
                if tc.function is not None:
                    if tc.function.name:
                        slot.name = tc.function.name
                    if tc.function.arguments:
                        slot.arguments.append(tc.function.arguments)
    parsed.text = "".join(text)
    parsed.calls = [
        ToolCallEvent(p.name, id=p.id, arguments="".join(p.arguments) or "{}")
        if p.id
        else ToolCallEvent(p.name, arguments="".join(p.arguments) or "{}")
        for _, p in sorted(partial.items())
    ]
    return parsed


def _usage(usage: CompletionUsage | None) -> Usage:
    if usage is None:
        return Usage()
    prompt_details = usage.prompt_tokens_details
    completion_details = usage.completion_tokens_details
    return Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        cache_read_input_tokens=prompt_details.cached_tokens if prompt_details else None,
        thinking_tokens=completion_details.reasoning_tokens if completion_details else None,
    )


# --------------------------------------------------------------------------- request building


def build_request(
    config: OpenAIConfig,
    messages: Sequence[BaseEvent],
    prompt: Sequence[str],
    tools: Iterable[FunctionToolSchema],
    serializer: Serializer | None = None,
) -> dict[str, Any]:
    """Return the keyword arguments of ``chat.completions.create`` for a turn (no ``stream``)."""
    wire: list[dict[str, Any]] = []
    system = join_prompt(prompt)
    if system:
        wire.append({"role": "system", "content": system})
    wire.extend(convert_messages(messages, serializer, model=config.model))
    request: dict[str, Any] = {"model": config.model, "messages": wire}
    for name in _OPTIONAL:
        value = getattr(config, name)
        if value is not None:
            request[name] = list(value) if name == "stop" and not isinstance(value, str) else value
    tool_params = [_tool_param(t) for t in tools]
    if tool_params:
        request["tools"] = tool_params
        for name in _TOOL_OPTIONS:
            value = getattr(config, name)
            if value is not None:
                request[name] = dict(value) if isinstance(value, Mapping) else value
    if config.extra_body:
        request["extra_body"] = dict(config.extra_body)
    return request


def _tool_param(schema: FunctionToolSchema) -> dict[str, Any]:
    fn = schema.function
    params = dict(fn.parameters)
    params.setdefault("type", "object")
    params.setdefault("additionalProperties", False)
    function: dict[str, Any] = {"name": fn.name, "parameters": params}
    if fn.description:
        function["description"] = fn.description
    return {"type": "function", "function": function}


def convert_messages(
    events: Sequence[BaseEvent], serializer: Serializer | None = None, *, model: str = ""
) -> list[dict[str, Any]]:
    """Convert a history to chat ``messages`` (without the system message)."""
    pairing = ToolPairing.of(events)
    out: list[dict[str, Any]] = []
    for ev in events:
        if isinstance(ev, ModelRequest):
            content = _user_content(ev.parts, serializer, model)
            if content:
                out.append({"role": "user", "content": content})
        elif isinstance(ev, ModelResponse):
            calls = pairing.calls(ev)
            if not ev.content and not calls:
                continue
            msg: dict[str, Any] = {"role": "assistant", "content": ev.content or None}
            if calls:
                msg["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments or "{}"},
                    }
                    for c in calls
                ]
            out.append(msg)
        elif isinstance(ev, ToolResultsEvent | ToolResultEvent):
            out.extend(
                {
                    "role": "tool",
                    "tool_call_id": r.parent_id,
                    "content": _result_text(r, serializer),
                }
                for r in pairing.results(ev)
            )
        elif isinstance(ev, CompactionSummary) and ev.summary:
            out.append({"role": "user", "content": ev.summary})
    return out


def _result_text(result: ToolResultEvent, serializer: Serializer | None) -> str:
    return "\n".join(
        part_text(p, serializer) for p in result.result.parts if not isinstance(p, BinaryInput)
    )


def _user_content(
    parts: Sequence[Input], serializer: Serializer | None, model: str
) -> str | list[dict[str, Any]]:
    if len(parts) == 1 and isinstance(parts[0], TextInput):
        return parts[0].content
    content: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, BinaryInput):
            if not p.media_type.startswith("image/"):
                raise UnsupportedInputError(
                    f"OpenAI chat cannot take a {p.media_type!r} input part (model {model!r})"
                )
            url = f"data:{p.media_type};base64,{binary_base64(p)}"
            content.append({"type": "image_url", "image_url": {"url": url}})
        else:
            text = part_text(p, serializer)
            if text:
                content.append({"type": "text", "text": text})
    if len(content) == 1 and content[0]["type"] == "text":
        return str(content[0]["text"])
    return content
