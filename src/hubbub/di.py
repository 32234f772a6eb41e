"""Small dependency injection for tools, prompt hooks and stream subscribers.

A callable's signature is analysed **once** into a :class:`CallPlan`. Parameters annotated
``Context`` (or ``ConversationContext``), ``Annotated[T, Inject(...)]``,
``Annotated[T, Variable(...)]`` or ``Annotated[T, Depends(fn)]`` are *hidden*: they are
resolved from the turn's :class:`~hubbub.context.ConversationContext` and never appear in
tool schemas. The remaining parameters are *visible* (model arguments for a tool; the
event for a subscriber; the triggering request for a prompt hook).
"""

from __future__ import annotations

import contextlib
import enum
import inspect
import sys
import typing
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, FunctionType, MethodType
from typing import Annotated, Any

from hubbub.context import ConversationContext
from hubbub.exceptions import DependencyResolutionError

__all__ = [
    "MISSING",
    "CallPlan",
    "Context",
    "Depends",
    "Inject",
    "Param",
    "ParamKind",
    "Variable",
]


class _Missing(enum.Enum):
    MISSING = enum.auto()

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing.MISSING
"""Sentinel: no default given."""


class Inject:
    """Marks a parameter as resolved from ``ctx.dependencies[key]`` (hidden from schemas).

    Use as ``Annotated[T, Inject("key")]``; the key defaults to the parameter name. A missing
    key with no default raises :class:`~hubbub.exceptions.DependencyResolutionError`; with a
    default (or ``default_factory``) the default is used and written back into the dependencies.
    """

    __slots__ = ("cast", "default", "default_factory", "real_name")

    _source = "dependencies"

    def __init__(
        self,
        real_name: str = "",
        *,
        default: Any = MISSING,
        default_factory: Callable[[], Any] | None = None,
        cast: bool = False,
    ) -> None:
        self.real_name = real_name
        self.default = default
        self.default_factory = default_factory
        self.cast = cast

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.real_name!r})"


class Variable(Inject):
    """Like :class:`Inject` but resolved from ``ctx.variables``."""

    __slots__ = ()

    _source = "variables"


class Depends:
    """Marks a parameter as the result of calling ``dependency`` (itself DI-resolved) per call."""

    __slots__ = ("_plan", "dependency", "use_cache")

    def __init__(self, dependency: Callable[..., Any], *, use_cache: bool = True) -> None:
        self.dependency = dependency
        self.use_cache = use_cache
        self._plan: CallPlan | None = None

    def plan(self) -> CallPlan:
        """Return the (cached) call plan of the dependency."""
        if self._plan is None:
            self._plan = CallPlan(self.dependency)
        return self._plan

    def __repr__(self) -> str:
        return f"Depends({getattr(self.dependency, '__name__', self.dependency)!r})"


class _ContextMarker:
    __slots__ = ()


Context = Annotated[ConversationContext, _ContextMarker()]
"""Annotation for a parameter receiving the live :class:`ConversationContext`."""


class ParamKind(enum.Enum):
    """How a parameter is resolved."""

    VISIBLE = "visible"
    CONTEXT = "context"
    INJECT = "inject"
    VARIABLE = "variable"
    DEPENDS = "depends"


@dataclass(slots=True)
class Param:
    """One analysed parameter."""

    name: str
    kind: ParamKind
    annotation: Any
    default: Any
    marker: Any = None
    positional_only: bool = False


def _type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """Resolve annotations; per parameter on failure (unresolvable names become ``Any``)."""
    target: Any = fn
    if not (inspect.isfunction(fn) or inspect.ismethod(fn)):
        target = getattr(fn, "__call__", fn)  # noqa: B004 - callable objects
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:
        pass
    func = getattr(target, "__func__", target)
    globalns = dict(getattr(func, "__globals__", {}))
    # Like pydantic's parent-namespace lookup: names local to the defining scope (common with
    # ``from __future__ import annotations``) are taken from the first caller frame outside
    # hubbub, i.e. the user's code creating the tool/plugin/agent.
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("hubbub."):
        frame = frame.f_back
    if frame is not None:
        globalns.update(frame.f_locals)
    code, closure = getattr(func, "__code__", None), getattr(func, "__closure__", None)
    if code is not None and closure:
        for name, cell in zip(code.co_freevars, closure, strict=False):
            with contextlib.suppress(ValueError):
                globalns[name] = cell.cell_contents
    hints: dict[str, Any] = {}
    for name, ann in getattr(func, "__annotations__", {}).items():
        if isinstance(ann, str):
            try:
                ann = eval(ann, globalns)  # annotations are code by definition
            except Exception:
                ann = Any
        hints[name] = ann
    return hints


def _classify(annotation: Any, default: Any) -> tuple[ParamKind, Any, Any]:
    """Return (kind, marker, bare annotation) for one parameter."""
    bare = annotation
    markers: tuple[Any, ...] = ()
    if typing.get_origin(annotation) is Annotated:
        bare, *rest = typing.get_args(annotation)
        markers = tuple(rest)
    if isinstance(default, (Inject, Depends)):
        markers = (*markers, default)
    for m in markers:
        if isinstance(m, _ContextMarker):
            return ParamKind.CONTEXT, m, bare
        if isinstance(m, Variable):
            return ParamKind.VARIABLE, m, bare
        if isinstance(m, Inject):
            return ParamKind.INJECT, m, bare
        if isinstance(m, Depends):
            return ParamKind.DEPENDS, m, bare
    if bare is ConversationContext:
        return ParamKind.CONTEXT, None, bare
    return ParamKind.VISIBLE, None, annotation


#: Analyses of plain functions and of bound methods' functions (the same for every
#: instance): a callable made per call, e.g. a subscription's bound method, is analysed
#: once, not per call (resolving string annotations compiles them).
_FUNCTIONS: weakref.WeakKeyDictionary[Any, _Shape] = weakref.WeakKeyDictionary()
_METHODS: weakref.WeakKeyDictionary[Any, _Shape] = weakref.WeakKeyDictionary()


@dataclass(frozen=True, slots=True)
class _Shape:
    """What :class:`CallPlan` needs to know of a callable's signature."""

    is_async: bool
    params: tuple[Param, ...]
    visible: tuple[Param, ...]
    hidden: tuple[Param, ...]
    has_positional_only: bool


def _analysis(fn: Callable[..., Any]) -> _Shape:
    """The shape of ``fn``, cached for functions and bound methods."""
    if isinstance(fn, FunctionType):  # what inspect.isfunction / ismethod test, without the calls
        cache, key = _FUNCTIONS, fn
    elif isinstance(fn, MethodType) and isinstance(fn.__func__, FunctionType):
        cache, key = _METHODS, fn.__func__
    else:
        return _analyse(fn)  # partials, callable objects: as they are
    found = cache.get(key)
    if found is None:
        found = cache[key] = _analyse(fn)
    return found


def _analyse(fn: Callable[..., Any]) -> _Shape:
    is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004
    )
    hints = _type_hints(fn)
    sig = inspect.signature(fn)
    params: list[Param] = []
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        ann = hints.get(p.name, p.annotation)
        if ann is inspect.Parameter.empty:
            ann = Any
        default = MISSING if p.default is inspect.Parameter.empty else p.default
        kind, marker, bare = _classify(ann, default)
        if kind is not ParamKind.VISIBLE and isinstance(default, (Inject, Depends)):
            default = MISSING
        params.append(Param(p.name, kind, bare, default, marker, p.kind is p.POSITIONAL_ONLY))
    return _Shape(
        is_async,
        tuple(params),
        tuple(p for p in params if p.kind is ParamKind.VISIBLE),
        tuple(p for p in params if p.kind is not ParamKind.VISIBLE),
        any(p.positional_only for p in params),
    )


class CallPlan:
    """The analysed signature of a callable: visible and hidden parameters, sync/async.

    Build once per callable; :meth:`resolve_hidden` is the per-call work.
    """

    __slots__ = ("fn", "has_positional_only", "hidden", "is_async", "params", "visible")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        shape = _analysis(fn)
        self.is_async = shape.is_async
        self.params: tuple[Param, ...] = shape.params
        self.visible: tuple[Param, ...] = shape.visible
        self.hidden: tuple[Param, ...] = shape.hidden
        self.has_positional_only = shape.has_positional_only

    async def resolve_hidden(
        self, ctx: ConversationContext, cache: dict[Any, Any] | None = None
    ) -> dict[str, Any]:
        """Resolve every hidden parameter from ``ctx``.

        Raises:
            DependencyResolutionError: a required dependency/variable is missing.
        """
        out: dict[str, Any] = {}
        for p in self.hidden:
            kind = p.kind
            if kind is ParamKind.CONTEXT:
                out[p.name] = ctx
            elif kind is ParamKind.DEPENDS:
                out[p.name] = await _resolve_depends(p.marker, ctx, cache)
            else:
                out[p.name] = _resolve_inject(p, ctx)
        return out

    def bind(self, kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Split keyword values into (args, kwargs) honouring positional-only parameters."""
        if not self.has_positional_only:
            return [], kwargs
        args = [kwargs.pop(p.name) for p in self.params if p.positional_only and p.name in kwargs]
        return args, kwargs


def _resolve_inject(p: Param, ctx: ConversationContext) -> Any:
    marker: Inject = p.marker
    key = marker.real_name or p.name
    store: dict[Any, Any] = ctx.variables if marker._source == "variables" else ctx.dependencies
    try:
        value = store[key]
    except KeyError:
        if marker.default is not MISSING:
            value = marker.default
        elif marker.default_factory is not None:
            value = marker.default_factory()
        elif p.default is not MISSING:
            return p.default
        else:
            raise DependencyResolutionError(
                f"{'variable' if marker._source == 'variables' else 'dependency'} {key!r} "
                f"required by parameter {p.name!r} is not provided"
            ) from None
        store[key] = value
    if marker.cast:
        value = _adapter(p.annotation).validate_python(value)
    return value


_ADAPTERS: dict[Any, Any] = {}


def _adapter(annotation: Any) -> Any:
    adapter = _ADAPTERS.get(annotation)
    if adapter is None:
        from pydantic import TypeAdapter

        adapter = TypeAdapter(annotation)
        _ADAPTERS[annotation] = adapter
    return adapter


async def _resolve_depends(
    dep: Depends, ctx: ConversationContext, cache: dict[Any, Any] | None
) -> Any:
    target = dep.dependency
    overrides = ctx.dependency_provider
    if overrides and target in overrides:
        target = overrides[target]
        plan = CallPlan(target)
    else:
        plan = dep.plan()
    if cache is None:
        cache = {}
    if dep.use_cache and target in cache:
        return cache[target]
    kwargs = await plan.resolve_hidden(ctx, cache)
    args, kwargs = plan.bind(kwargs)
    value = target(*args, **kwargs)
    if inspect.isawaitable(value):
        value = await value
    if dep.use_cache:
        cache[target] = value
    return value
