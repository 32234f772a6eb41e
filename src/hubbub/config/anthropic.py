"""``AnthropicConfig``: the Anthropic Messages API behind the ``ModelConfig`` protocol.

Mapping (agent-core spec §12.2, with hubbub's deliberate fixes):

* ``system`` = ``context.prompt`` joined by "\\n" (one text block with an ephemeral
  ``cache_control`` when ``prompt_caching``; omitted when empty).
* History → ``messages``: ``ModelRequest`` → user; ``ModelResponse`` → assistant text +
  ``tool_use`` blocks; ``ToolResultsEvent`` → user ``tool_result`` blocks (``is_error``
  for tool errors); ``CompactionSummary`` → user text. Orphan tool calls/results are
  dropped. **Consecutive same-role messages are merged** (the network seeds other
  agents' messages as consecutive user turns) and a leading assistant turn gets a
  placeholder user turn before it, because the API wants the conversation to open
  with the user. Bare ``ModelMessage`` events are not rendered: an agent's own earlier
  messages reach the model as ``ModelResponse(ModelMessage(text))`` (rendering both
  would duplicate text when a stream persists transient events).
* Response: **all text blocks are concatenated with ""** (the same text streaming
  yields; multi-block answers are normally one answer split around citations), so the
  reply body never loses text — ag2 kept only the last block. ``tool_use`` →
  ``ToolCallEvent(id, name, arguments=json.dumps(input))``; ``stop_reason`` →
  ``finish_reason``; ``pause_turn`` is continued up to 5 times.
* Usage: prompt = ``input_tokens`` (excludes cache reads/writes), completion =
  ``output_tokens``, total = prompt + completion, cache read/creation copied,
  thinking = ``output_tokens_details.thinking_tokens``.

The ``anthropic`` SDK is imported lazily; one ``AsyncAnthropic`` per config instance and
event loop is built on first use and reused by every client the config creates.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hubbub.config._convert import (
    LoopLocal,
    Serializer,
    ToolPairing,
    binary_base64,
    join_prompt,
    parse_arguments,
    part_text,
    require_sdk,
    result_text,
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
    ModelReasoning,
    ModelRequest,
    ModelResponse,
    ToolCallEvent,
    ToolCallsEvent,
    ToolErrorEvent,
    ToolResultEvent,
    ToolResultsEvent,
    Usage,
)
from hubbub.exceptions import UnsupportedInputError

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic
    from anthropic.types import Message

    from hubbub.context import ConversationContext
    from hubbub.tool_schema import FunctionToolSchema

__all__ = ["AnthropicClient", "AnthropicConfig", "build_request", "convert_messages"]

_PROVIDER = ModelProvider.ANTHROPIC.value
_EPHEMERAL: dict[str, str] = {"type": "ephemeral"}
MAX_PAUSE_CONTINUATIONS = 5
LEADING_USER_PLACEHOLDER = "(conversation so far)"
"""User text put before a history that would otherwise open with an assistant turn."""

_DOCUMENT_TYPES = {"application/pdf": "base64", "text/plain": "text"}


@dataclass(slots=True)
class AnthropicConfig:
    """Configuration for Claude models through the official ``anthropic`` SDK.

    ``None`` means "not sent" / "SDK default": ``api_key``/``base_url`` then come from
    ``ANTHROPIC_API_KEY``/``ANTHROPIC_BASE_URL`` (the SDK's own resolution), ``timeout``
    is the SDK's default request timeout. ``temperature``/``top_p``/``top_k`` go in the
    request body (the SDK signature no longer lists them); ``extra_body`` is merged last.
    ``timeout`` and ``max_retries`` are handed to the SDK client (retries on connection
    errors, 408/409/429/5xx with back-off). SDK failures surface as
    :class:`hubbub.config.errors.ProviderError` subclasses; with no key, token or
    credentials provider anywhere, the first call raises
    :class:`~hubbub.config.errors.MissingCredentialsError` naming ``ANTHROPIC_API_KEY``.
    """

    model: str
    max_tokens: int = 4096
    api_key: str | None = None
    base_url: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    streaming: bool = False
    stop_sequences: Sequence[str] | None = None
    timeout: float | None = None
    max_retries: int = 2
    default_headers: Mapping[str, str] | None = None
    http_client: Any = None
    metadata: Mapping[str, Any] | None = None
    service_tier: str | None = None
    prompt_caching: bool = True
    extra_body: Mapping[str, Any] | None = None
    _sdk_clients: LoopLocal[AsyncAnthropic] = field(
        default_factory=LoopLocal, init=False, repr=False, compare=False
    )

    @property
    def provider(self) -> ModelProvider:
        """Return :attr:`ModelProvider.ANTHROPIC`."""
        return ModelProvider.ANTHROPIC

    def copy(self, **overrides: Any) -> AnthropicConfig:
        """Return a copy with ``overrides`` applied (it gets its own SDK clients)."""
        return replace(self, **overrides)

    def create(self) -> AnthropicClient:
        """Return a client for one turn (cheap; the SDK client is shared per event loop).

        Raises:
            ImportError: the ``anthropic`` package is not installed.
        """
        _require_sdk()
        return AnthropicClient(self)

    async def sdk_client(self) -> AsyncAnthropic:
        """Return this config's ``AsyncAnthropic`` for the running event loop.

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

    def _build_sdk_client(self) -> AsyncAnthropic:
        from anthropic import AsyncAnthropic

        kwargs = sdk_kwargs(
            max_retries=self.max_retries,
            api_key=self.api_key,
            base_url=self.base_url,
            timeout=self.timeout,
            default_headers=self.default_headers,
            http_client=self.http_client,
        )
        client = AsyncAnthropic(**kwargs)
        if not _has_credentials(client):
            raise missing_key_error(
                provider=_PROVIDER,
                model=self.model,
                variable="ANTHROPIC_API_KEY",
                config="AnthropicConfig",
            )
        return client


def _has_credentials(client: AsyncAnthropic) -> bool:
    """Whether the SDK resolved a way to authenticate (what its header check accepts).

    A key or token (argument or environment) shows as an ``X-Api-Key`` / ``Authorization``
    default header; a credentials provider (profile, workload identity) as ``credentials``.
    Without any of them the SDK would fail the request with a bare ``TypeError``.
    """
    if getattr(client, "credentials", None) is not None:
        return True
    for name, value in client.default_headers.items():
        if name.lower() in ("x-api-key", "authorization") and isinstance(value, str) and value:
            return True
    return False


async def _close_sdk(client: AsyncAnthropic) -> None:
    await client.close()


def _require_sdk() -> None:
    require_sdk("anthropic", "AnthropicConfig", "anthropic")


class AnthropicClient:
    """The per-turn :class:`hubbub.config.LLMClient` of an :class:`AnthropicConfig`."""

    __slots__ = ("config",)

    def __init__(self, config: AnthropicConfig) -> None:
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
        """Send the history to the Messages API and return the model's response.

        ``response_schema`` is not supported by this client and is ignored.

        Raises:
            MissingCredentialsError: no API key is configured (names ``ANTHROPIC_API_KEY``).
            ProviderError: the SDK failed (timeout, connection, HTTP status), as
                ``raise ... from`` the SDK exception.
        """
        import anthropic
        from anthropic.types import TextBlock, ThinkingBlock, ToolUseBlock

        config = self.config
        request = build_request(config, messages, context.prompt, tools, serializer)
        text_parts: list[str] = []
        calls: list[ToolCallEvent] = []
        usage = Usage()
        message: Message | None = None
        try:
            sdk = await config.sdk_client()
            for _ in range(MAX_PAUSE_CONTINUATIONS + 1):
                if config.streaming:
                    message = await _stream_once(sdk, request, context)
                else:
                    message = await sdk.messages.create(**request)
                    for block in message.content:
                        if isinstance(block, ThinkingBlock) and block.thinking:
                            await context.send(ModelReasoning(block.thinking))
                for b in message.content:
                    if isinstance(b, TextBlock):
                        text_parts.append(b.text)
                    elif isinstance(b, ToolUseBlock):
                        calls.append(ToolCallEvent(b.name, id=b.id, arguments=json.dumps(b.input)))
                usage = usage + _usage(message)
                if message.stop_reason != "pause_turn":
                    break
                request = {
                    **request,
                    "messages": [
                        *request["messages"],
                        {"role": "assistant", "content": _replay_blocks(message)},
                    ],
                }
        except anthropic.AnthropicError as exc:
            raise wrap_sdk_error(exc, anthropic, provider=_PROVIDER, model=config.model) from exc
        assert message is not None

        text = "".join(text_parts)
        reply = ModelMessage(text) if text else None
        if reply is not None:
            await context.send(reply)
        return ModelResponse(
            reply,
            tool_calls=ToolCallsEvent(calls),
            usage=usage,
            model=message.model,
            provider=_PROVIDER,
            finish_reason=message.stop_reason,
            response_id=message.id,
        )


async def _stream_once(
    sdk: AsyncAnthropic, request: dict[str, Any], context: ConversationContext
) -> Message:
    async with sdk.messages.stream(**request) as stream:
        async for event in stream:
            if event.type == "text" and event.text:
                await context.send(ModelMessageChunk(event.text))
            elif event.type == "thinking" and event.thinking:
                await context.send(ModelReasoning(event.thinking))
        final: Message = await stream.get_final_message()
        return final


def _usage(message: Message) -> Usage:
    u = message.usage
    details = u.output_tokens_details
    return Usage(
        prompt_tokens=u.input_tokens,
        completion_tokens=u.output_tokens,
        total_tokens=u.input_tokens + u.output_tokens,
        cache_read_input_tokens=u.cache_read_input_tokens,
        cache_creation_input_tokens=u.cache_creation_input_tokens,
        thinking_tokens=details.thinking_tokens if details is not None else None,
    )


def _replay_blocks(message: Message) -> list[dict[str, Any]]:
    """The assistant content of a paused turn, as request blocks."""
    out: list[dict[str, Any]] = []
    for block in message.content:
        if block.type == "text":
            if block.text:
                out.append({"type": "text", "text": block.text})
        else:
            out.append(block.to_dict(exclude_none=True))
    return out


# --------------------------------------------------------------------------- request building


def build_request(
    config: AnthropicConfig,
    messages: Sequence[BaseEvent],
    prompt: Sequence[str],
    tools: Iterable[FunctionToolSchema],
    serializer: Serializer | None = None,
) -> dict[str, Any]:
    """Return the keyword arguments of ``messages.create``/``messages.stream`` for a turn."""
    request: dict[str, Any] = {
        "model": config.model,
        "max_tokens": config.max_tokens,
        "messages": convert_messages(
            messages, serializer, prompt_caching=config.prompt_caching, model=config.model
        ),
    }
    system = join_prompt(prompt)
    if system:
        request["system"] = (
            [{"type": "text", "text": system, "cache_control": dict(_EPHEMERAL)}]
            if config.prompt_caching
            else system
        )
    tool_params = [_tool_param(t) for t in tools]
    if tool_params:
        request["tools"] = tool_params
    if config.stop_sequences:
        request["stop_sequences"] = list(config.stop_sequences)
    if config.metadata:
        request["metadata"] = dict(config.metadata)
    if config.service_tier is not None:
        request["service_tier"] = config.service_tier
    extra: dict[str, Any] = {}
    for name in ("temperature", "top_p", "top_k"):
        value = getattr(config, name)
        if value is not None:
            extra[name] = value
    if config.extra_body:
        extra.update(config.extra_body)
    if extra:
        request["extra_body"] = extra
    return request


def _tool_param(schema: FunctionToolSchema) -> dict[str, Any]:
    fn = schema.function
    params = dict(fn.parameters)
    params["type"] = "object"
    out: dict[str, Any] = {"name": fn.name, "input_schema": params}
    if fn.description:
        out["description"] = fn.description
    return out


def convert_messages(
    events: Sequence[BaseEvent],
    serializer: Serializer | None = None,
    *,
    prompt_caching: bool = False,
    model: str = "",
) -> list[dict[str, Any]]:
    """Convert a history to Anthropic ``messages`` (see the module docstring for the rules)."""
    pairing = ToolPairing.of(events)
    out: list[dict[str, Any]] = []

    def push(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})

    for ev in events:
        if isinstance(ev, ModelRequest):
            push("user", [b for p in ev.parts if (b := _part_block(p, serializer, model))])
        elif isinstance(ev, ModelResponse):
            blocks = _text_blocks(ev.content or "")
            blocks.extend(
                {
                    "type": "tool_use",
                    "id": call.id,
                    "name": call.name,
                    "input": parse_arguments(call.arguments),
                }
                for call in pairing.calls(ev)
            )
            push("assistant", blocks)
        elif isinstance(ev, ToolResultsEvent | ToolResultEvent):
            push("user", [_result_block(r, serializer, model) for r in pairing.results(ev)])
        elif isinstance(ev, CompactionSummary):
            push("user", _text_blocks(ev.summary))

    for msg in out:
        if msg["role"] == "user":
            # The API wants tool results ahead of any other content of their user turn.
            msg["content"].sort(key=lambda b: b.get("type") != "tool_result")
    if out and out[0]["role"] != "user":
        out.insert(0, {"role": "user", "content": _text_blocks(LEADING_USER_PLACEHOLDER)})
    if prompt_caching:
        for msg in reversed(out):
            if msg["role"] == "user":
                msg["content"][-1] = {**msg["content"][-1], "cache_control": dict(_EPHEMERAL)}
                break
    for msg in out:
        content = msg["content"]
        if len(content) == 1 and content[0].get("type") == "text" and len(content[0]) == 2:
            msg["content"] = content[0]["text"]
    return out


def _text_blocks(text: str) -> list[dict[str, Any]]:
    # The API rejects empty (and whitespace-only) text blocks.
    return [{"type": "text", "text": text}] if text.strip() else []


def _part_block(part: Input, serializer: Serializer | None, model: str) -> dict[str, Any] | None:
    if isinstance(part, BinaryInput):
        return _binary_block(part, model)
    text = part_text(part, serializer)
    return {"type": "text", "text": text} if text.strip() else None


def _binary_block(part: BinaryInput, model: str) -> dict[str, Any]:
    media = part.media_type
    if media.startswith("image/"):
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": media, "data": binary_base64(part)},
        }
    kind = _DOCUMENT_TYPES.get(media)
    if kind == "base64":
        return {
            "type": "document",
            "source": {"type": "base64", "media_type": media, "data": binary_base64(part)},
        }
    if kind == "text":
        return {
            "type": "document",
            "source": {"type": "text", "media_type": media, "data": part.data.decode()},
        }
    raise UnsupportedInputError(f"Anthropic cannot take a {media!r} input part (model {model!r})")


def _result_block(
    result: ToolResultEvent, serializer: Serializer | None, model: str
) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": result.parent_id}
    text = result_text(result.result, serializer)
    media = [_binary_block(p, model) for p in result.result.parts if isinstance(p, BinaryInput)]
    if media:
        block["content"] = [*_text_blocks(text), *media]
    elif text:
        block["content"] = text
    if isinstance(result, ToolErrorEvent):
        block["is_error"] = True
    return block
