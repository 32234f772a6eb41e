"""The Agent: an LLM + tools loop with DI, plugins, assembly policies and tasks."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from hubbub._loop import TurnPlan, run_turn
from hubbub.assembly import AssemblyPolicy
from hubbub.config.base import LLMClient, ModelConfig
from hubbub.context import ConversationContext
from hubbub.events import ModelRequest, ModelResponse
from hubbub.exceptions import ConfigNotProvidedError
from hubbub.plugin import Contributions, Observer, Plugin, PromptHook
from hubbub.stream import History, MemoryStream, Stream
from hubbub.tool_schema import FunctionToolSchema
from hubbub.tools import FunctionTool, Tool
from hubbub.usage import UsageReport

if TYPE_CHECKING:
    from hubbub.task import Task

__all__ = ["AGENT_DEP", "CONFIG_DEP", "Agent", "AgentReply"]

log = logging.getLogger(__name__)

AGENT_DEP = "__ag2_agent__"
CONFIG_DEP = "__ag2_model_config__"
DEFAULT_MAX_TOOL_ROUNDS = 50

_ToolIndex = tuple[dict[str, Tool], tuple[FunctionToolSchema, ...]]
_AgentToolIndex = tuple[dict[str, Tool], tuple[FunctionToolSchema, ...], tuple[Tool, ...]]


class AgentReply:
    """The result of one turn: final response, context, and continuation on the same stream."""

    __slots__ = ("_agent", "_client", "_config", "context", "response")

    def __init__(
        self,
        agent: Agent,
        response: ModelResponse,
        context: ConversationContext,
        client: LLMClient,
        config: ModelConfig,
    ) -> None:
        self._agent = agent
        self.response = response
        self.context = context
        self._client = client
        self._config = config

    @property
    def body(self) -> str | None:
        """Text of the final model response, or None when it had no text."""
        return self.response.content

    @property
    def history(self) -> History:
        """The turn stream's history (``await reply.history.get_events()``)."""
        return self.context.stream.history

    @property
    def stream(self) -> Stream:
        """The stream the turn ran on."""
        return self.context.stream

    async def usage(self) -> UsageReport:
        """Token totals over the whole stream history."""
        return UsageReport.from_events(await self.history.get_events())

    async def content(self, *, retries: int = 0) -> str | None:
        """Return the reply content (the body; response schemas are not implemented)."""
        return self.body

    async def ask(self, *msg: Any, **kwargs: Any) -> AgentReply:
        """Continue on the same stream with the same client (a TestConfig script continues)."""
        kwargs.setdefault("stream", self.context.stream)
        return await self._agent._ask(
            msg, client=self._client, client_config=self._config, **kwargs
        )

    def __repr__(self) -> str:
        return f"AgentReply(body={self.body!r})"


class Agent(Contributions):
    """An LLM agent: prompt, tools and DI around a model config.

    Args:
        name: Free-form name (task owner id, logs).
        prompt: Static fragments (``str``) and/or dynamic prompt hooks (callables).
        config: Default model config (may be supplied per call instead).
        tools: Functions or Tools (Tools are copied when attached).
        observers: Observers registered on every turn's stream.
        dependencies: Agent-level dependencies (call-level values win).
        variables: Agent-level variables (call-level values win).
        plugins: Plugins applied at the end of construction.
        assembly: Assembly policies run before every model call.
        hitl_hook: Human-in-the-loop hook (stored; not used by the core loop).
        response_schema: Passed to the model client on every call.
        max_tool_rounds: Cap on tool rounds per turn (None = unlimited); exceeding raises
            :class:`~hubbub.exceptions.MaxToolRoundsExceeded`.
    """

    def __init__(
        self,
        name: str,
        prompt: str | PromptHook | Iterable[str | PromptHook] = (),
        *,
        config: ModelConfig | None = None,
        hitl_hook: Callable[..., Any] | None = None,
        tools: Iterable[Callable[..., Any] | Tool] = (),
        observers: Iterable[Observer] = (),
        dependencies: dict[Any, Any] | None = None,
        variables: dict[str, Any] | None = None,
        response_schema: Any = None,
        plugins: Iterable[Plugin] = (),
        assembly: Iterable[AssemblyPolicy] = (),
        max_tool_rounds: int | None = DEFAULT_MAX_TOOL_ROUNDS,
    ) -> None:
        super().__init__(
            prompt=prompt,
            hitl_hook=hitl_hook,
            tools=tools,
            observers=observers,
            dependencies=dependencies,
            variables=variables,
            assembly=assembly,
        )
        self.name = name
        self.config = config
        self.response_schema = response_schema
        self.max_tool_rounds = max_tool_rounds
        self.dependency_provider: dict[Any, Any] = {}
        self._tool_key: tuple[Tool, ...] | None = None
        self._tool_index: _AgentToolIndex = ({}, (), ())
        self._locks: weakref.WeakValueDictionary[Any, asyncio.Lock] = weakref.WeakValueDictionary()
        for plugin in plugins:
            self._apply_plugin(plugin)

    def __repr__(self) -> str:
        return f"Agent({self.name!r})"

    @property
    def dependencies(self) -> Mapping[Any, Any]:
        """Agent-level dependencies (read-only view)."""
        return MappingProxyType(self._dependencies)

    @property
    def variables(self) -> Mapping[str, Any]:
        """Agent-level variables (read-only view)."""
        return MappingProxyType(self._variables)

    # -- plugins -----------------------------------------------------------------------

    def _apply_plugin(self, plugin: Plugin) -> None:
        """Apply ``plugin`` permanently: tools, prompt, policies and observers are appended.

        Plugin dependencies are defaults (the agent's keys win); plugin variables overwrite.
        Policies apply to every later turn, whether or not the agent had policies before.
        """
        self.tools.extend(plugin.tools)
        self._static_prompt.extend(plugin._static_prompt)
        self._prompt_hooks.extend(plugin._prompt_hooks)
        self._policies.extend(plugin._policies)
        self._observers.extend(plugin._observers)
        for key, value in plugin._dependencies.items():
            self._dependencies.setdefault(key, value)
        self._variables.update(plugin._variables)
        if plugin._hitl_hook is not None:
            self.hitl_hook(plugin._hitl_hook)

    def apply_plugin(self, plugin: Plugin) -> Agent:
        """Apply ``plugin`` permanently (public alias of ``_apply_plugin``); chainable."""
        self._apply_plugin(plugin)
        return self

    # -- tasks -------------------------------------------------------------------------

    def task(
        self,
        title: str,
        *,
        description: str = "",
        payload: dict[str, Any] | None = None,
        capability: str | None = None,
        ttl_seconds: float | None = None,
        context: ConversationContext | None = None,
    ) -> Task:
        """Return an un-entered :class:`~hubbub.task.Task` owned by this agent (use ``async with``)."""
        from hubbub.task import Task, TaskSpec

        spec = TaskSpec(title, description, dict(payload or {}), capability)
        return Task(self.name, spec, context=context, ttl_seconds=ttl_seconds)

    # -- turns -------------------------------------------------------------------------

    async def ask(
        self,
        *msg: Any,
        stream: Stream | None = None,
        dependencies: Mapping[Any, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        prompt: Iterable[str] = (),
        config: ModelConfig | None = None,
        tools: Iterable[Tool] = (),
        plugins: Iterable[Plugin] = (),
        observers: Iterable[Observer] = (),
        response_schema: Any = None,
        max_tool_rounds: int | None = -1,
    ) -> AgentReply:
        """Run one turn: ``msg`` parts form one user request; return the final reply.

        Args:
            msg: Parts of the user turn (``str`` → text; other objects → data).
            stream: Conversation to run on (pre-filled history seeds it); fresh if None.
            dependencies: Merged over the agent's (call wins).
            variables: Merged over the agent's (call wins).
            prompt: When non-empty, replaces the agent's static and dynamic prompt.
            config: Overrides ``agent.config`` for this turn.
            tools: Extra Tool objects for this turn (later declaration wins on a name clash).
            plugins: Per-turn plugins (tools, prompt, policies, observers, DI defaults).
            observers: Per-turn observers.
            response_schema: Overrides the agent's response schema for this turn.
            max_tool_rounds: Overrides the agent's cap (-1 = use the agent's).

        Raises:
            ConfigNotProvidedError: neither ``config`` nor ``agent.config`` is set.
            MaxToolRoundsExceeded: the model kept calling tools beyond the cap.
        """
        return await self._ask(
            msg,
            stream=stream,
            dependencies=dependencies,
            variables=variables,
            prompt=prompt,
            config=config,
            tools=tools,
            plugins=plugins,
            observers=observers,
            response_schema=response_schema,
            max_tool_rounds=max_tool_rounds,
        )

    def _agent_tools(self) -> _AgentToolIndex:
        key = tuple(self.tools)
        if key != self._tool_key:
            index: dict[str, Tool] = {}
            schemas: dict[str, FunctionToolSchema] = {}
            dynamic: list[Tool] = []
            for t in key:
                for leaf in t.iter_tools():
                    if not isinstance(leaf, FunctionTool):
                        dynamic.append(leaf)  # context-dependent schemas: resolved per turn
                        continue
                    if leaf.name in index:
                        log.warning(
                            "agent %r: tool %r declared twice; later wins", self.name, leaf.name
                        )
                    index[leaf.name] = leaf
                    schemas[leaf.name] = leaf.schema
            self._tool_key = key
            self._tool_index = (index, tuple(schemas.values()), tuple(dynamic))
        return self._tool_index

    async def _turn_tools(self, extra: list[Tool], ctx: ConversationContext) -> _ToolIndex:
        index, schemas, dynamic = self._agent_tools()
        if not extra and not dynamic:
            return index, schemas
        merged = dict(index)
        by_name = {s.function.name: s for s in schemas}
        for t in (*dynamic, *extra):
            for leaf in t.iter_tools():
                for schema in await leaf.schemas(ctx):
                    name = schema.function.name
                    if name in merged and merged[name] is not leaf:
                        log.warning("agent %r: tool %r overridden for this turn", self.name, name)
                    merged[name] = leaf
                    by_name[name] = schema
        return merged, tuple(by_name.values())

    def _lock_for(self, stream: Stream) -> asyncio.Lock:
        lock = getattr(stream, "turn_lock", None)
        if isinstance(lock, asyncio.Lock):
            return lock
        lock = self._locks.get(stream.id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[stream.id] = lock
        return lock

    async def _ask(
        self,
        msg: tuple[Any, ...],
        *,
        stream: Stream | None = None,
        dependencies: Mapping[Any, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        prompt: Iterable[str] = (),
        config: ModelConfig | None = None,
        tools: Iterable[Tool] = (),
        plugins: Iterable[Plugin] = (),
        observers: Iterable[Observer] = (),
        response_schema: Any = None,
        max_tool_rounds: int | None = -1,
        client: LLMClient | None = None,
        client_config: ModelConfig | None = None,
    ) -> AgentReply:
        cfg = config or client_config or self.config
        if cfg is None:
            raise ConfigNotProvidedError(
                f"No model config provided for agent {self.name!r}: pass config= to Agent or ask()"
            )
        if stream is None:
            stream = MemoryStream()
        deps = dict(self._dependencies)
        if dependencies:
            deps.update(dependencies)
        deps[AGENT_DEP] = self
        deps[CONFIG_DEP] = cfg
        vars_ = dict(self._variables)
        if variables:
            vars_.update(variables)
        call_prompt = list(prompt)
        ctx = ConversationContext(
            stream, self.dependency_provider or None, vars_, deps, call_prompt
        )
        extra_tools = list(tools)
        policies: list[AssemblyPolicy] = self._policies
        turn_observers: list[Observer] = self._observers
        hooks = self._prompt_hooks
        static = self._static_prompt
        plugins = tuple(plugins)
        if plugins or observers:
            policies, turn_observers = list(policies), [*turn_observers, *observers]
            static, hooks = list(static), list(hooks)
            for p in plugins:
                extra_tools.extend(p.tools)
                static.extend(p._static_prompt)
                hooks.extend(p._prompt_hooks)
                policies.extend(p._policies)
                turn_observers.extend(p._observers)
                for k, v in p._dependencies.items():
                    deps.setdefault(k, v)
                for k, v in p._variables.items():
                    vars_.setdefault(k, v)
        request = ModelRequest.ensure_request(msg)
        async with self._lock_for(stream):
            if not call_prompt:
                call_prompt.extend(static)
                for hook in hooks:
                    call_prompt.append(await _run_hook(hook, request, ctx))
            if client is None:
                client = cfg.create()
            index, schemas = await self._turn_tools(extra_tools, ctx)
            plan = TurnPlan(
                client,
                index,
                schemas,
                tuple(policies),
                self.max_tool_rounds if max_tool_rounds == -1 else max_tool_rounds,
                response_schema if response_schema is not None else self.response_schema,
            )
            if turn_observers:
                sub_ids = [s for o in turn_observers for s in o.register(stream, ctx)]
                try:
                    response = await run_turn(request, plan, ctx)
                finally:
                    for s in sub_ids:
                        stream.unsubscribe(s)
            else:
                response = await run_turn(request, plan, ctx)
        return AgentReply(self, response, ctx, client, cfg)


async def _run_hook(hook: Any, request: ModelRequest, ctx: ConversationContext) -> str:
    kwargs = await hook.resolve_hidden(ctx) if hook.hidden else {}
    if hook.visible:
        kwargs[hook.visible[0].name] = request
    args, kwargs = hook.bind(kwargs)
    value = hook.fn(*args, **kwargs)
    if asyncio.iscoroutine(value):
        value = await value
    return str(value)
