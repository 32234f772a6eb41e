"""Tools: Python callables offered to the model, with schemas built once per tool.

:func:`tool` turns a function into a :class:`FunctionTool`. Its JSON schema (pydantic,
minus hidden DI parameters) and its argument model are built **at creation**, so a turn
only looks them up. Execution: arguments are validated from the model's JSON, hidden
parameters are injected, sync functions run in a worker thread (``sync_to_thread``),
async ones on the loop. Failures become :class:`~hubbub.events.ToolErrorEvent` carrying the
formatted traceback — any ``BaseException`` a tool raises (``SystemExit``,
``KeyboardInterrupt``, a stray ``CancelledError``) included: only a real cancellation of the
running task (:func:`is_cancellation`) and :class:`~hubbub.exceptions.HumanInputError`
propagate. Concurrent tool calls run in child tasks, where a ``SystemExit`` that escaped
would stop the event loop itself.
"""

from __future__ import annotations

import asyncio
import copy
import traceback
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, overload

import pydantic

from hubbub.context import ConversationContext
from hubbub.di import MISSING, CallPlan
from hubbub.events import (
    ToolCallEvent,
    ToolErrorEvent,
    ToolNotFoundEvent,
    ToolResult,
    ToolResultEvent,
)
from hubbub.exceptions import HumanInputError, ToolConflictError, ToolNotFoundError
from hubbub.tool_schema import FunctionDefinition, FunctionToolSchema, ToolSchema

__all__ = [
    "FunctionDefinition",
    "FunctionTool",
    "FunctionToolSchema",
    "Tool",
    "ToolMiddleware",
    "ToolResult",
    "ToolSchema",
    "Toolkit",
    "ensure_tool",
    "error_event",
    "format_tool_error",
    "is_cancellation",
    "not_found_event",
    "tool",
]

ToolMiddleware = Callable[
    [
        Callable[[ToolCallEvent, ConversationContext], Awaitable[ToolResultEvent]],
        ToolCallEvent,
        ConversationContext,
    ],
    Awaitable[ToolResultEvent],
]
"""``async (call_next, call, ctx) -> ToolResultEvent`` wrapped around one tool execution."""


def format_tool_error(exc: BaseException) -> str:
    """Return the traceback text the model receives for a failed tool call."""
    return "".join(traceback.format_exception(exc))


def is_cancellation(exc: BaseException) -> bool:
    """True when ``exc`` is a real cancellation: a ``CancelledError`` while the running task
    is being cancelled (``Task.cancelling()``), which must propagate.

    A ``CancelledError`` a callee raised on its own (the task was not cancelled) is False:
    it is an ordinary failure, like any other ``BaseException``.
    """
    if not isinstance(exc, asyncio.CancelledError):
        return False
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


def error_event(call: ToolCallEvent, exc: BaseException) -> ToolErrorEvent:
    """Build the :class:`ToolErrorEvent` answering ``call`` with ``exc``."""
    return ToolErrorEvent(call.id, call.name, ToolResult(format_tool_error(exc)), error=exc)


def not_found_event(call: ToolCallEvent) -> ToolNotFoundEvent:
    """Build the :class:`ToolNotFoundEvent` answering a call to an unknown tool."""
    message = f"Tool `{call.name}` not found"
    return ToolNotFoundEvent(
        call.id, call.name, ToolResult(message), error=ToolNotFoundError(message)
    )


class Tool(ABC):
    """Something the model can call: offers schemas and executes calls by name."""

    name: str

    @abstractmethod
    async def schemas(self, ctx: ConversationContext) -> Iterable[FunctionToolSchema]:
        """Return the schemas this tool offers in the turn of ``ctx``."""

    @abstractmethod
    async def invoke(self, call: ToolCallEvent, ctx: ConversationContext) -> ToolResultEvent:
        """Execute ``call``; return a result event (a ToolErrorEvent on failure, never raise)."""

    def iter_tools(self) -> Iterator[Tool]:
        """Yield the leaf tools (a Toolkit yields its members)."""
        yield self


_BASEMODEL_NAMES = frozenset(dir(pydantic.BaseModel))


def _argument_model(name: str, plan: CallPlan) -> type[pydantic.BaseModel]:
    fields: dict[str, Any] = {}
    for p in plan.visible:
        default = ... if p.default is MISSING else p.default
        if p.name.startswith("_") or p.name in _BASEMODEL_NAMES:
            field_name = f"arg_{p.name.lstrip('_')}_"
            fields[field_name] = (p.annotation, pydantic.Field(default, alias=p.name))
        else:
            fields[p.name] = (p.annotation, default)
    model: type[pydantic.BaseModel] = pydantic.create_model(
        f"{name}_arguments",
        __config__=pydantic.ConfigDict(
            arbitrary_types_allowed=True, protected_namespaces=(), populate_by_name=True
        ),
        **fields,
    )
    return model


class FunctionTool(Tool):
    """A tool backed by a Python function; schema and argument model are precomputed.

    Attributes:
        name: Tool name offered to the model.
        description: Tool description (the raw docstring unless overridden).
        schema: The :class:`FunctionToolSchema` given to model clients.
        model: The pydantic model validating the model's arguments.
        source: ``"function:<module>:<qualname>:<name>"``.
        middleware: Tool middleware, outermost first.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        schema: dict[str, Any] | None = None,
        sync_to_thread: bool = True,
        middleware: Sequence[ToolMiddleware] = (),
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.description = description if description is not None else (fn.__doc__ or "")
        self.sync_to_thread = sync_to_thread
        self.middleware: tuple[ToolMiddleware, ...] = tuple(middleware)
        self.plan = CallPlan(fn)
        self.model = _argument_model(self.name, self.plan)
        self._names = tuple((f, a.alias or f) for f, a in self.model.model_fields.items())
        if schema is None:
            schema = self.model.model_json_schema()
            schema.pop("title", None)
        self.schema = FunctionToolSchema(FunctionDefinition(self.name, self.description, schema))
        self._schemas = (self.schema,)
        module = getattr(fn, "__module__", "?")
        qualname = getattr(fn, "__qualname__", type(fn).__name__)
        self.source = f"function:{module}:{qualname}:{self.name}"

    def __repr__(self) -> str:
        return f"FunctionTool({self.name!r})"

    def __deepcopy__(self, memo: dict[int, Any]) -> FunctionTool:
        # The callable, plan, model and schema are immutable once built; share them.
        return copy.copy(self)

    def with_middleware(self, *middleware: ToolMiddleware) -> FunctionTool:
        """Return a copy with ``middleware`` appended (innermost)."""
        clone = copy.copy(self)
        clone.middleware = (*self.middleware, *middleware)
        return clone

    async def schemas(self, ctx: ConversationContext) -> Iterable[FunctionToolSchema]:
        """Return the single precomputed schema."""
        return self._schemas

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the underlying function directly (awaiting it when async)."""
        result = self.fn(*args, **kwargs)
        if asyncio.iscoroutine(result):
            return await result
        return result

    async def run(self, call: ToolCallEvent, ctx: ConversationContext) -> Any:
        """Validate arguments, inject hidden parameters, run the function; return its value."""
        plan = self.plan
        kwargs: dict[str, Any]
        if plan.visible:
            validated = self.model.model_validate_json(call.arguments or "{}")
            kwargs = {real: getattr(validated, f) for f, real in self._names}
        else:
            kwargs = {}
        if plan.hidden:
            kwargs.update(await plan.resolve_hidden(ctx))
        args, kwargs = plan.bind(kwargs)
        if plan.is_async:
            return await self.fn(*args, **kwargs)
        if self.sync_to_thread:
            return await asyncio.to_thread(self.fn, *args, **kwargs)
        return self.fn(*args, **kwargs)

    async def _execute(self, call: ToolCallEvent, ctx: ConversationContext) -> ToolResultEvent:
        try:
            value = await self.run(call, ctx)
        except HumanInputError:
            raise
        except BaseException as exc:  # SystemExit & co. are the tool's failure too
            if is_cancellation(exc):
                raise
            return error_event(call, exc)
        return ToolResultEvent(call.id, call.name, ToolResult.ensure_result(value))

    async def invoke(self, call: ToolCallEvent, ctx: ConversationContext) -> ToolResultEvent:
        """Execute ``call`` with ``ctx.tool_call_id`` set; errors become ToolErrorEvent."""
        tool_ctx = ctx.for_tool_call(call.id)
        if not self.middleware:
            return await self._execute(call, tool_ctx)
        handler: Callable[[ToolCallEvent, ConversationContext], Awaitable[ToolResultEvent]]
        handler = self._execute
        for mw in reversed(self.middleware):
            handler = _wrap(mw, handler)
        try:
            return await handler(call, tool_ctx)
        except HumanInputError:
            raise
        except BaseException as exc:
            if is_cancellation(exc):
                raise
            return error_event(call, exc)


def _wrap(
    mw: ToolMiddleware,
    inner: Callable[[ToolCallEvent, ConversationContext], Awaitable[ToolResultEvent]],
) -> Callable[[ToolCallEvent, ConversationContext], Awaitable[ToolResultEvent]]:
    async def handler(call: ToolCallEvent, ctx: ConversationContext) -> ToolResultEvent:
        return await mw(inner, call, ctx)

    return handler


@overload
def tool(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    schema: dict[str, Any] | None = None,
    sync_to_thread: bool = True,
    middleware: Sequence[ToolMiddleware] = (),
) -> FunctionTool: ...


@overload
def tool(
    fn: None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    schema: dict[str, Any] | None = None,
    sync_to_thread: bool = True,
    middleware: Sequence[ToolMiddleware] = (),
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    schema: dict[str, Any] | None = None,
    sync_to_thread: bool = True,
    middleware: Sequence[ToolMiddleware] = (),
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Turn a function into a :class:`FunctionTool` (bare decorator, called decorator or call).

    Args:
        fn: The function; omitted when used as ``@tool(...)``.
        name: Tool name (default: the function name).
        description: Tool description (default: the whole raw docstring, or "").
        schema: JSON schema of the parameters (default: generated from the signature).
        sync_to_thread: Run a sync function in a worker thread.
        middleware: Tool middleware.
    """

    def make(f: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(
            f,
            name=name,
            description=description,
            schema=schema,
            sync_to_thread=sync_to_thread,
            middleware=middleware,
        )

    if fn is None:
        return make
    return make(fn)


def tool_decorator(
    add: Callable[[FunctionTool], object], fn: Callable[..., Any] | None, **options: Any
) -> Any:
    """The body of every ``.tool`` decorator: build a FunctionTool, hand it to ``add``, return it.

    Works bare (``fn`` given) or called (``fn`` None: returns the decorator).
    """

    def make(f: Callable[..., Any]) -> FunctionTool:
        t = FunctionTool(f, **options)
        add(t)
        return t

    return make if fn is None else make(fn)


def ensure_tool(obj: Callable[..., Any] | Tool) -> Tool:
    """Return ``obj`` as a Tool: Tools are copied, callables wrapped with :func:`tool`."""
    if isinstance(obj, Tool):
        return copy.deepcopy(obj)
    return tool(obj)


class Toolkit(Tool):
    """A named group of tools; ``|`` merges toolkits; duplicate names are an error."""

    def __init__(
        self,
        *tools: Callable[..., Any] | Tool,
        name: str | None = None,
        middleware: Sequence[ToolMiddleware] = (),
    ) -> None:
        self.name = name or "toolkit"
        self.middleware: tuple[ToolMiddleware, ...] = tuple(middleware)
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.add_tool(t)

    def add_tool(self, obj: Callable[..., Any] | Tool) -> Toolkit:
        """Add a tool (or function); raise ToolConflictError on a duplicate name."""
        t = ensure_tool(obj)
        for leaf in t.iter_tools():
            if leaf.name in self._tools:
                raise ToolConflictError(f"tool {leaf.name!r} already exists in {self.name!r}")
            if self.middleware and isinstance(leaf, FunctionTool):
                leaf = leaf.with_middleware(*self.middleware)
            self._tools[leaf.name] = leaf
        return self

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
        """Decorator adding a function tool to the kit; returns the FunctionTool."""

        return tool_decorator(
            self.add_tool,
            fn,
            name=name,
            description=description,
            schema=schema,
            sync_to_thread=sync_to_thread,
            middleware=middleware,
        )

    @property
    def tools(self) -> tuple[Tool, ...]:
        """The member tools."""
        return tuple(self._tools.values())

    def __or__(self, other: Toolkit) -> Toolkit:
        return Toolkit(*self.tools, *other.tools, name=self.name)

    def iter_tools(self) -> Iterator[Tool]:
        """Yield the member tools."""
        for t in self._tools.values():
            yield from t.iter_tools()

    async def schemas(self, ctx: ConversationContext) -> Iterable[FunctionToolSchema]:
        """Return the schemas of every member."""
        out: list[FunctionToolSchema] = []
        for t in self._tools.values():
            out.extend(await t.schemas(ctx))
        return out

    async def invoke(self, call: ToolCallEvent, ctx: ConversationContext) -> ToolResultEvent:
        """Dispatch ``call`` to the member with that name."""
        member = self._tools.get(call.name)
        if member is None:
            return not_found_event(call)
        return await member.invoke(call, ctx)
