"""Plugins: bags of contributions (tools, prompt, policies, observers, DI values).

:class:`Contributions` holds what both :class:`Plugin` and :class:`~hubbub.agent.Agent`
accept imperatively or through decorators (``tool``, ``prompt``, ``observer``,
``add_policy``, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

from hubbub.assembly import AssemblyPolicy
from hubbub.context import ConversationContext
from hubbub.di import CallPlan
from hubbub.events import BaseEvent, Condition
from hubbub.stream import Stream
from hubbub.tools import Tool, ToolMiddleware, ensure_tool, tool_decorator

__all__ = ["Contributions", "Observer", "Plugin", "PromptHook", "observer"]

log = logging.getLogger(__name__)

PromptHook = Callable[..., Any]
"""A dynamic prompt fragment: DI-resolved, sync or async, returns ``str``."""


@runtime_checkable
class Observer(Protocol):
    """Something registered on a turn's stream for the duration of the turn."""

    def register(self, stream: Stream, ctx: ConversationContext) -> Iterable[Any]:
        """Subscribe on ``stream``; return the subscription ids to remove after the turn."""
        ...


class _CallbackObserver:
    """A plain stream subscription as an observer."""

    __slots__ = ("callback", "condition", "interrupt", "sync_to_thread")

    def __init__(
        self,
        condition: Condition | type[BaseEvent] | None,
        callback: Callable[..., Any],
        *,
        interrupt: bool,
        sync_to_thread: bool,
    ) -> None:
        self.condition = condition
        self.callback = callback
        self.interrupt = interrupt
        self.sync_to_thread = sync_to_thread

    def register(self, stream: Stream, ctx: ConversationContext) -> Iterable[Any]:
        return (
            stream.subscribe(
                self.callback,
                interrupt=self.interrupt,
                sync_to_thread=self.sync_to_thread,
                condition=self.condition,
            ),
        )


def observer(
    condition: Condition | type[BaseEvent] | None = None,
    callback: Callable[..., Any] | None = None,
    *,
    interrupt: bool = False,
    sync_to_thread: bool = True,
) -> Any:
    """Build an observer subscribing ``callback`` to ``condition`` (or decorate a callback)."""
    if callback is None:

        def decorator(fn: Callable[..., Any]) -> Observer:
            return _CallbackObserver(
                condition, fn, interrupt=interrupt, sync_to_thread=sync_to_thread
            )

        return decorator
    return _CallbackObserver(
        condition, callback, interrupt=interrupt, sync_to_thread=sync_to_thread
    )


def split_prompt(
    prompt: str | PromptHook | Iterable[str | PromptHook],
) -> tuple[list[str], list[CallPlan]]:
    """Split a prompt argument into static fragments and dynamic hook plans."""
    items: Iterable[str | PromptHook]
    items = (prompt,) if isinstance(prompt, str) or callable(prompt) else prompt
    static: list[str] = []
    hooks: list[CallPlan] = []
    for item in items:
        if isinstance(item, str):
            static.append(item)
        else:
            hooks.append(CallPlan(item))
    return static, hooks


class Contributions:
    """Tools, prompt fragments/hooks, policies, observers and DI values, with decorators."""

    def __init__(
        self,
        *,
        prompt: str | PromptHook | Iterable[str | PromptHook] = (),
        hitl_hook: Callable[..., Any] | None = None,
        tools: Iterable[Callable[..., Any] | Tool] = (),
        observers: Iterable[Observer] = (),
        dependencies: dict[Any, Any] | None = None,
        variables: dict[str, Any] | None = None,
        assembly: Iterable[AssemblyPolicy] = (),
    ) -> None:
        self._static_prompt, self._prompt_hooks = split_prompt(prompt)
        self._hitl_hook = hitl_hook
        self.tools: list[Tool] = [ensure_tool(t) for t in tools]
        self._observers: list[Observer] = list(observers)
        self._dependencies: dict[Any, Any] = dict(dependencies or {})
        self._variables: dict[str, Any] = dict(variables or {})
        self._policies: list[AssemblyPolicy] = list(assembly)

    # -- decorators / imperative API -------------------------------------------------

    def tool(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        schema: dict[str, Any] | None = None,
        sync_to_thread: bool = True,
        middleware: Sequence[ToolMiddleware] = (),
    ) -> Any:
        """Decorator (bare or called) building a tool and adding it; returns the FunctionTool."""

        return tool_decorator(
            self.tools.append,
            fn,
            name=name,
            description=description,
            schema=schema,
            sync_to_thread=sync_to_thread,
            middleware=middleware,
        )

    def add_tool(self, obj: Callable[..., Any] | Tool) -> Any:
        """Add a tool (a copy of a Tool, or a function wrapped with ``tool``); chainable."""
        self.tools.append(ensure_tool(obj))
        return self

    def prompt(self, fn: PromptHook) -> PromptHook:
        """Register a dynamic prompt hook (evaluated once per turn); returns ``fn``."""
        self._prompt_hooks.append(CallPlan(fn))
        return fn

    def add_policy(self, policy: AssemblyPolicy) -> Any:
        """Add an assembly policy (runs before every model call); chainable."""
        self._policies.append(policy)
        return self

    def add_observer(self, obs: Observer) -> Any:
        """Add an observer registered on every turn's stream; chainable."""
        self._observers.append(obs)
        return self

    def observer(
        self,
        condition: Condition | type[BaseEvent] | None = None,
        callback: Callable[..., Any] | None = None,
        *,
        interrupt: bool = False,
        sync_to_thread: bool = True,
    ) -> Any:
        """Register a stream callback for every turn (decorator when ``callback`` is None)."""
        if callback is not None:
            self.add_observer(
                observer(condition, callback, interrupt=interrupt, sync_to_thread=sync_to_thread)
            )
            return callback

        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add_observer(
                observer(condition, fn, interrupt=interrupt, sync_to_thread=sync_to_thread)
            )
            return fn

        return decorator

    def hitl_hook(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Register the human-in-the-loop hook (first one wins)."""
        if self._hitl_hook is None:
            self._hitl_hook = fn
        else:
            log.warning("HITL hook already set; ignoring %r", fn)
        return fn

    # -- read-only views ---------------------------------------------------------------

    @property
    def system_prompt(self) -> tuple[str, ...]:
        """The static prompt fragments."""
        return tuple(self._static_prompt)

    @property
    def dynamic_prompt(self) -> tuple[Callable[..., Any], ...]:
        """The dynamic prompt hooks."""
        return tuple(p.fn for p in self._prompt_hooks)

    @property
    def assembly(self) -> tuple[AssemblyPolicy, ...]:
        """The assembly policies, in order."""
        return tuple(self._policies)

    @property
    def observers(self) -> tuple[Observer, ...]:
        """The observers."""
        return tuple(self._observers)

    @property
    def has_hitl_hook(self) -> bool:
        """Whether a HITL hook is set."""
        return self._hitl_hook is not None


class Plugin(Contributions):
    """A reusable bag of contributions applied to an agent (permanently or per call).

    Args:
        prompt: Static fragments and/or dynamic prompt hooks.
        hitl_hook: Human-in-the-loop hook.
        tools: Functions or Tools.
        observers: Observers registered on every turn.
        dependencies: Dependency defaults (the agent's own keys win).
        variables: Variables (overwrite the agent's when applied permanently).
        assembly: Assembly policies.
    """

    @property
    def dependencies(self) -> dict[Any, Any]:
        """The plugin's dependency defaults."""
        return self._dependencies

    @property
    def variables(self) -> dict[str, Any]:
        """The plugin's variables."""
        return self._variables
