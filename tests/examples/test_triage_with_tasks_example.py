"""examples/cookbook/08_triage_with_tasks.py run as a test, in-process and over a real
WebSocket (``serve_ws`` + ``WsLink``, one socket per agent): the workflow ends with
``sequence_complete``, the hub holds one completed task per specialist and ticket, and
each specialist's track record counts its three tickets.

The example needs the workflow adapter (``hubbub.network.transitions``, spec §11). Without
it this module fails at collection — it does not skip — so a missing adapter is seen.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import HubClient, LocalLink
from hubbub.network.auth import BearerTokens, ServerAuth
from hubbub.network.hub import Hub
from hubbub.network.transport.ws import WsLink, serve_ws

if importlib.util.find_spec("hubbub.network.transitions") is None:
    pytest.fail(
        "hubbub.network.transitions is missing: examples/cookbook/08_triage_with_tasks.py needs "
        "the workflow adapter (TransitionGraph, WORKFLOW_TYPE; spec §10.6/§11) — merge it first",
        pytrace=False,
    )

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cookbook" / "08_triage_with_tasks.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cookbook_08_triage_with_tasks", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check(out: dict[str, Any], module: ModuleType) -> None:
    assert out["reason"] == "sequence_complete"
    speakers = [line.split(":", 1)[0] for line in out["transcript"]]
    assert speakers == ["triage", *module.SPECIALISTS]
    assert out["transcript"][0] == f"triage: {module.PLAN}"
    assert out["context"] == {"queue": module.QUEUE}
    expected = [
        (name, ticket, "completed") for name in module.SPECIALISTS for ticket in module.QUEUE
    ]
    assert sorted(out["tasks"]) == sorted(expected)
    # the specialists worked in the sequence's order
    owners = [owner for owner, _, _ in out["tasks"]]
    assert owners == sorted(owners, key=list(module.SPECIALISTS).index)
    for name in module.SPECIALISTS:
        stat = out["observed"][name]
        assert stat is not None, name
        assert (stat.n, stat.completed, stat.failed) == (3, 3, 0)
        assert stat.p50_latency_ms is not None


async def run_with(connect_factory: Callable[[Hub, AsyncExitStack], Any]) -> None:
    module = load()
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0, invite_ack_timeout=10)
    try:
        async with AsyncExitStack() as stack:
            connect = await connect_factory(hub, stack)
            out = await module.run(connect, module.offline_configs())
    finally:
        await hub.close()
    check(out, module)


async def test_08_in_process() -> None:
    async def local(hub: Hub, stack: AsyncExitStack) -> Callable[[], HubClient]:
        return lambda: HubClient(LocalLink(hub), hub=hub)

    await run_with(local)


async def test_08_over_websocket() -> None:
    auth = ServerAuth([BearerTokens({"t": "team"})])

    async def remote(hub: Hub, stack: AsyncExitStack) -> Callable[[], HubClient]:
        url = await stack.enter_async_context(serve_ws(hub, host="127.0.0.1", port=0, auth=auth))
        return lambda: HubClient(WsLink(url, token="t", reconnect=0))

    await run_with(remote)
