"""examples/cookbook/08_triage_with_tasks.py run as a test through ``examples/harness.py``:
in-process (LocalLink), over a real WebSocket (``serve_ws`` + ``WsLink``, one socket per
agent) and with ``hubbub serve`` and every agent in its own process. The workflow ends
with ``sequence_complete``, the hub holds one completed task per specialist and ticket,
and each specialist's track record counts its three tickets."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from types import ModuleType

import harness
import pytest

from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import HubClient, LocalLink
from hubbub.network.auth import BearerTokens, ServerAuth
from hubbub.network.hub import Hub
from hubbub.network.transport.ws import WsLink, serve_ws

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cookbook" / "08_triage_with_tasks.py"


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


@pytest.fixture(params=["local", "ws"])
async def connect(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], HubClient]]:
    hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0, invite_ack_timeout=10)
    try:
        if request.param == "local":
            yield lambda: HubClient(LocalLink(hub), hub=hub)
        else:
            auth = ServerAuth([BearerTokens({"t": "team"})])
            async with AsyncExitStack() as stack:
                url = await stack.enter_async_context(
                    serve_ws(hub, host="127.0.0.1", port=0, auth=auth)
                )
                yield lambda: HubClient(WsLink(url, token="t", reconnect=0))
    finally:
        await hub.close()


def check(outcome: harness.Outcome, module: ModuleType) -> None:
    assert outcome.reason == "sequence_complete"
    speakers = [name for name, _ in outcome.transcript]
    assert speakers == ["triage", *module.SPECIALISTS]
    assert outcome.transcript[0] == ("triage", module.PLAN)
    assert outcome.extra["context"] == {"queue": module.QUEUE}
    tasks = outcome.extra["tasks"]
    expected = [
        (name, ticket, "completed") for name in module.SPECIALISTS for ticket in module.QUEUE
    ]
    assert sorted(tasks) == sorted(expected)
    # the specialists worked in the sequence's order
    owners = [owner for owner, _, _ in tasks]
    assert owners == sorted(owners, key=list(module.SPECIALISTS).index)
    for name in module.SPECIALISTS:
        stat = outcome.extra["observed"][name]
        assert stat is not None, name
        assert (stat.n, stat.completed, stat.failed) == (3, 3, 0)
        assert stat.p50_latency_ms is not None


async def test_08(connect: Callable[[], HubClient]) -> None:
    module = harness.load(EXAMPLE)
    check(await harness.run(module, connect=connect), module)


def test_08_with_every_agent_in_its_own_process() -> None:
    check(harness.run_processes(EXAMPLE), harness.load(EXAMPLE))
