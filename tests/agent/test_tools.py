"""Tool declaration, schemas, DI and execution semantics (spec §7, §8, §13)."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Annotated, Any, Literal

import pydantic
import pytest

from hubbub import Agent, Context, DataInput, Depends, Inject, Toolkit, ToolResult, Variable, tool
from hubbub.events import (
    ToolCallEvent,
    ToolErrorEvent,
    ToolNotFoundEvent,
    ToolResultEvent,
    ToolResultsEvent,
)
from hubbub.exceptions import MaxToolRoundsExceeded, ToolConflictError
from hubbub.testing import TestConfig, TrackingConfig


def params(t: Any) -> dict[str, Any]:
    return dict(t.schema.function.parameters)


# -- the worked example of §13 ----------------------------------------------------------


async def test_get_weather_worked_example() -> None:
    ran: list[tuple[Any, ...]] = []

    def get_weather(
        city: str,
        unit: str = "C",
        *,
        secret: Annotated[str, Inject("api_secret")],
        ctx: Context,
    ) -> str:
        ran.append((city, unit, secret, ctx.tool_call_id))
        return f"sunny in {city}"

    call = ToolCallEvent(name="get_weather", arguments='{"city":"Paris"}')
    agent = Agent(
        "a",
        config=TestConfig(call, "It is sunny in Paris."),
        tools=[get_weather],
        dependencies={"api_secret": "s3cr3t"},
    )
    schema = params(agent.tools[0])
    assert schema == {
        "type": "object",
        "properties": {
            "city": {"title": "City", "type": "string"},
            "unit": {"default": "C", "title": "Unit", "type": "string"},
        },
        "required": ["city"],
    }
    reply = await agent.ask("Weather?")
    assert reply.body == "It is sunny in Paris."
    assert ran == [("Paris", "C", "s3cr3t", call.id)]


# -- schema generation ------------------------------------------------------------------


def test_literal_becomes_enum_and_optional_any_of_null_and_list_array() -> None:
    @tool
    def f(mode: Literal["a", "b"], limit: int | None = None, tags: list[str] | None = None) -> None:
        pass

    props = params(f)["properties"]
    assert props["mode"]["enum"] == ["a", "b"]
    assert {"type": "null"} in props["limit"]["anyOf"]
    assert props["limit"]["default"] is None
    assert {"type": "array", "items": {"type": "string"}} in props["tags"]["anyOf"]
    assert params(f)["required"] == ["mode"]
    assert "title" not in params(f)


class Address(pydantic.BaseModel):
    street: str = pydantic.Field(description="Street and number")


def _dep() -> int:
    return 1


def test_pydantic_model_goes_to_defs_with_field_descriptions() -> None:
    @tool
    def ship(to: Address) -> None:
        pass

    schema = params(ship)
    assert schema["properties"]["to"] == {"$ref": "#/$defs/Address"}
    assert schema["$defs"]["Address"]["properties"]["street"]["description"] == "Street and number"


def test_no_visible_params_gives_empty_object() -> None:
    @tool
    def now(ctx: Context, key: Annotated[str, Inject()]) -> str:
        return ""

    assert params(now) == {"type": "object", "properties": {}}


def test_hidden_params_excluded_and_docstring_kept_raw() -> None:
    dep = _dep

    @tool
    def f(
        x: int,
        v: Annotated[str, Variable("vv")],
        d: Annotated[int, Depends(dep)],
    ) -> None:
        """First line.

        Args:
            x: the x.
        """

    assert list(params(f)["properties"]) == ["x"]
    assert f.description.startswith("First line.\n\n        Args:")


def test_overrides_and_source() -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}

    @tool(name="lookup", description="Look it up.", schema=schema)
    def f(q: str) -> str:
        return q

    assert f.name == "lookup"
    assert f.schema.function.description == "Look it up."
    assert f.schema.function.parameters == schema
    assert f.schema.type == "function"
    assert f.source.endswith(":lookup") and f.source.startswith("function:")


def test_schema_is_built_once_per_tool() -> None:
    @tool
    def f(x: int) -> int:
        return x

    assert f.schema is f.schema
    agent = Agent("a", tools=[f])
    assert agent.tools[0] is not f  # attached as a copy
    assert agent.tools[0].schema is f.schema  # ... sharing the precomputed schema


def test_toolkit_conflict() -> None:
    kit = Toolkit(tool(lambda: 1, name="x"))
    with pytest.raises(ToolConflictError):
        kit.add_tool(tool(lambda: 2, name="x"))


# -- execution ----------------------------------------------------------------------------


async def test_sync_tools_run_in_a_worker_thread_async_on_the_loop() -> None:
    threads: dict[str, int] = {}

    def sync_tool() -> str:
        threads["sync"] = threading.get_ident()
        return "s"

    async def async_tool() -> str:
        threads["async"] = threading.get_ident()
        return "a"

    config = TestConfig([ToolCallEvent(name="sync_tool"), ToolCallEvent(name="async_tool")], "ok")
    await Agent("a", config=config, tools=[sync_tool, async_tool]).ask("go")
    assert threads["async"] == threading.get_ident()
    assert threads["sync"] != threading.get_ident()


async def test_calls_of_one_response_run_concurrently_results_in_call_order() -> None:
    order: list[str] = []
    both_started = asyncio.Event()
    started = 0

    async def slow(name: str) -> str:
        nonlocal started
        order.append(f"start {name}")
        started += 1
        if started == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), 5)
        if name == "1":
            await asyncio.sleep(0)  # let call 2 finish first
        order.append(f"end {name}")
        return name

    config = TestConfig(
        [
            ToolCallEvent(name="slow", arguments='{"name":"1"}'),
            ToolCallEvent(name="slow", arguments='{"name":"2"}'),
        ],
        "ok",
    )
    reply = await Agent("a", config=config, tools=[slow]).ask("go")
    assert order[:2] == ["start 1", "start 2"]
    assert order[2:] == ["end 2", "end 1"]
    results = next(e for e in await reply.history.get_events() if isinstance(e, ToolResultsEvent))
    assert [r.result.parts[0].content for r in results.results] == ["1", "2"]  # type: ignore[attr-defined]


async def test_unknown_tool_gives_not_found_event_to_the_model() -> None:
    config = TrackingConfig(TestConfig(ToolCallEvent(name="nope"), "ok", raise_tool_errors=False))
    reply = await Agent("a", config=config).ask("go")
    assert reply.body == "ok"
    (nf,) = [e for e in await reply.history.get_events() if isinstance(e, ToolNotFoundEvent)]
    assert nf.content == "Tool `nope` not found"
    assert isinstance(nf, ToolErrorEvent)


async def test_bad_arguments_become_a_validation_error_event() -> None:
    config = TestConfig(
        ToolCallEvent(name="f", arguments='{"x":"not-an-int"}'), "ok", raise_tool_errors=False
    )
    reply = await Agent("a", config=config, tools=[tool(lambda x: x, name="f")]).ask("go")
    # a lambda has no annotations: anything validates
    assert reply.body == "ok"

    def typed(x: int) -> int:
        return x

    reply = await Agent("a", config=config, tools=[tool(typed, name="f")]).ask("go")
    (err,) = [e for e in await reply.history.get_events() if isinstance(e, ToolErrorEvent)]
    assert isinstance(err.error, pydantic.ValidationError)


async def test_missing_dependency_is_a_tool_error_and_default_is_written_back() -> None:
    seen: dict[str, Any] = {}

    def needs(key: Annotated[str, Inject("missing")]) -> str:
        return key

    def defaults(ctx: Context, key: Annotated[str | None, Inject("opt", default=None)]) -> str:
        seen["key"] = key
        seen["has"] = "opt" in ctx.dependencies
        return "ok"

    config = TestConfig(
        [ToolCallEvent(name="needs"), ToolCallEvent(name="defaults")], "ok", raise_tool_errors=False
    )
    reply = await Agent("a", config=config, tools=[needs, defaults]).ask("go")
    (err,) = [e for e in await reply.history.get_events() if isinstance(e, ToolErrorEvent)]
    assert err.name == "needs" and isinstance(err.error, LookupError)
    assert seen == {"key": None, "has": True}


async def test_variables_and_depends_resolve_per_call() -> None:
    def base(ctx: Context) -> int:
        return int(ctx.variables["n"])

    def f(v: Annotated[int, Variable("n")], d: Annotated[int, Depends(base)]) -> str:
        return f"{v}+{d}"

    config = TestConfig(ToolCallEvent(name="f"), "ok")
    reply = await Agent("a", config=config, tools=[f]).ask("go", variables={"n": 3})
    (res,) = [e for e in await reply.history.get_events() if type(e) is ToolResultEvent]
    assert res.content == "3+3"


async def test_return_objects_are_kept_as_python_objects() -> None:
    @dataclasses.dataclass
    class Handoff:
        target: str
        reason: str

    def handoff() -> Handoff:
        return Handoff("bob", "hi")

    config = TestConfig(ToolCallEvent(name="handoff"), "ok")
    reply = await Agent("a", config=config, tools=[handoff]).ask("go")
    (res,) = [e for e in await reply.history.get_events() if type(e) is ToolResultEvent]
    (part,) = res.result.parts
    assert isinstance(part, DataInput) and part.data == Handoff("bob", "hi")
    assert res.content == '{"target":"bob","reason":"hi"}'


async def test_final_tool_result_ends_the_turn_without_another_model_call() -> None:
    config = TrackingConfig(TestConfig(ToolCallEvent(name="fin", arguments='{"s":"s"}'), "unused"))

    def fin(s: str) -> ToolResult:
        return ToolResult(f"FINAL: {s}", final=True)

    reply = await Agent("a", config=config, tools=[fin]).ask("go")
    assert reply.body == "FINAL: s"
    assert len(config.calls) == 1


async def test_max_tool_rounds_cap() -> None:
    config = TestConfig(*[ToolCallEvent(name="again") for _ in range(5)], "done")
    agent = Agent("a", config=config, tools=[tool(lambda: "x", name="again")], max_tool_rounds=3)
    with pytest.raises(MaxToolRoundsExceeded, match="max_tool_rounds=3"):
        await agent.ask("go")
    assert (await agent.ask("go", max_tool_rounds=5)).body == "done"
    assert (await agent.ask("go", max_tool_rounds=None)).body == "done"


async def test_tool_middleware_wraps_execution() -> None:
    seen: list[str] = []

    async def mw(call_next: Any, call: ToolCallEvent, ctx: Any) -> ToolResultEvent:
        seen.append(f"before {call.name}")
        result: ToolResultEvent = await call_next(call, ctx)
        seen.append("after")
        return result

    t = tool(lambda: "x", name="t", middleware=[mw])
    await Agent("a", config=TestConfig(ToolCallEvent(name="t"), "ok"), tools=[t]).ask("go")
    assert seen == ["before t", "after"]
