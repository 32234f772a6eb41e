"""LoopDetector and TokenMonitor on real agent turns with scripted TestConfig models."""

from __future__ import annotations

from typing import Any

import pytest

from hubbub import Agent
from hubbub.events import ModelMessage, ModelResponse, ToolCallEvent, Usage
from hubbub.observers import BaseObserver, LoopDetector, ObserverAlert, Severity, TokenMonitor
from hubbub.plugin import observer
from hubbub.testing import TestConfig
from hubbub.tools import tool


def collector() -> tuple[list[ObserverAlert], Any]:
    alerts: list[ObserverAlert] = []
    return alerts, observer(ObserverAlert, alerts.append, sync_to_thread=False)


def call(name: str, arguments: str) -> ToolCallEvent:
    return ToolCallEvent(name=name, arguments=arguments)


async def test_loop_detector_warns_once_per_repeated_call() -> None:
    searches: list[str] = []

    def search(q: str) -> str:
        searches.append(q)
        return "nothing found"

    config = TestConfig(
        call("search", '{"q": "x"}'),
        call("search", '{"q":"x"}'),  # the same call, spelt differently
        call("search", '{"q": "x"}'),
        call("search", '{"q": "x"}'),  # a fourth: still one alert
        call("search", '{"q": "y"}'),
        "giving up",
    )
    detector = LoopDetector(window_size=5, repeat_threshold=3)
    alerts, sink = collector()
    agent = Agent("a", config=config, tools=[tool(search)], observers=[detector])
    reply = await agent.ask("find x", observers=[sink])
    assert reply.body == "giving up"
    assert searches == ["x", "x", "x", "x", "y"]
    [alert] = alerts
    assert (alert.source, alert.severity) == ("loop-detector", Severity.WARNING)
    assert alert.data == {"tool": "search", "arguments": '{"q": "x"}', "repeats": 3}
    assert "called 3 times in a row" in alert.message
    # alerts are stream events the model never sees
    assert ObserverAlert.__conversational__ is False


async def test_loop_detector_is_quiet_for_varied_calls_and_resets() -> None:
    detector = LoopDetector(repeat_threshold=2)
    alerts, sink = collector()
    config = TestConfig(call("t", '{"n": 1}'), call("t", '{"n": 2}'), call("t", '{"n": 1}'), "ok")
    agent = Agent("a", config=config, tools=[tool(lambda n: n, name="t")], observers=[detector])
    await agent.ask("go", observers=[sink])
    assert alerts == []
    config2 = TestConfig(call("t", '{"n": 1}'), call("t", '{"n": 1}'), "ok")
    await agent.ask("again", config=config2, observers=[sink])
    assert [a.data["arguments"] for a in alerts] == ['{"n": 1}']
    detector.reset()
    await agent.ask(
        "again",
        config=TestConfig(call("t", '{"n": 1}'), call("t", '{"n": 1}'), "ok"),
        observers=[sink],
    )
    assert len(alerts) == 2  # reset forgets the loop already reported
    with pytest.raises(ValueError, match="repeat_threshold"):
        LoopDetector(repeat_threshold=1)
    with pytest.raises(ValueError, match="window_size"):
        LoopDetector(window_size=2, repeat_threshold=3)


def spend(tokens: int, text: str = "ok") -> ModelResponse:
    return ModelResponse(ModelMessage(text), usage=Usage(total_tokens=tokens))


async def test_token_monitor_warns_then_alerts_once_each_across_turns() -> None:
    monitor = TokenMonitor(warn_threshold=100, alert_threshold=250)
    alerts, sink = collector()
    agent = Agent("a", config=TestConfig("unused"), observers=[monitor])

    async def turn(tokens: int) -> None:
        await agent.ask("go", config=TestConfig(spend(tokens)), observers=[sink])

    await turn(60)
    assert (monitor.total_tokens, alerts) == (60, [])
    await turn(60)
    assert [a.severity for a in alerts] == [Severity.WARNING]
    assert alerts[0].data == {"total_tokens": 120, "threshold": 100}
    await turn(60)
    await turn(90)
    assert [a.severity for a in alerts] == [Severity.WARNING, Severity.CRITICAL]
    assert alerts[1].source == "token-monitor"
    assert alerts[1].data == {"total_tokens": 270, "threshold": 250}
    await turn(500)
    assert len(alerts) == 2 and monitor.total_tokens == 770
    monitor.reset()
    assert monitor.total_tokens == 0
    await turn(300)  # straight past both thresholds: the CRITICAL one
    assert [a.severity for a in alerts[2:]] == [Severity.CRITICAL]
    with pytest.raises(ValueError):
        TokenMonitor(warn_threshold=10, alert_threshold=5)


async def test_a_custom_observer_alerts_through_the_same_path() -> None:
    class Shouting(BaseObserver):
        def __init__(self) -> None:
            super().__init__("shouting", [ModelResponse])

        async def process(self, events: Any, ctx: Any) -> ObserverAlert | None:
            text = events[-1].content or ""
            return self.alert(Severity.INFO, "shouting", text=text) if text.isupper() else None

    alerts, sink = collector()
    agent = Agent("a", config=TestConfig("quiet"), observers=[Shouting()])
    await agent.ask("1", observers=[sink])
    await agent.ask("2", config=TestConfig("LOUD"), observers=[sink])
    assert [(a.source, a.data) for a in alerts] == [("shouting", {"text": "LOUD"})]


def test_the_observers_are_exported_from_hubbub_network_too() -> None:
    import hubbub.network as network

    assert network.LoopDetector is LoopDetector
    assert network.TokenMonitor is TokenMonitor
    assert network.ObserverAlert is ObserverAlert
    assert network.Severity is Severity
