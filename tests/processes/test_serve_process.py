"""``hubbub serve`` as a real subprocess: ready line, ``/healthz``, clients over WebSocket, SIGTERM.

The hub runs as ``python -m hubbub.cli serve`` on each store kind (memory, SQLite,
Redis, PostgreSQL); clients in the test's process reach it with
``HubClient(WsLink(url, token=...))``. What the hub accepted is read back from the
store with a fresh ``Hub`` after the process exited. Refusals to start (no
credential, no-auth off loopback, a bad store URL, a store another hub holds) exit
non-zero with a message and never print the ready line.

Redis and PostgreSQL skip when their server is down and fail when ``CI`` is set
(``tests/durability/_stores.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests._certificates import self_signed
from tests.knowledge._services import (
    POSTGRES_DSN,
    REDIS_URL,
    delete_prefix,
    drop_schema,
    new_prefix,
    new_schema,
    require_postgres,
    require_redis,
)
from tests.processes._children import TOKENS, children, get_json, http_url, stop, stored_wal

from hubbub import Agent
from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_TEXT,
    AgentClient,
    Envelope,
    HubClient,
    NetworkError,
    Passport,
    Resume,
    WsLink,
)
from hubbub.testing import TestConfig

QUESTION = "What's the single most important property of a distributed system?"
ANSWER = "Fault tolerance."


@dataclass(frozen=True, slots=True)
class StoreCase:
    """A store URL for ``--store``; ``durable`` stores are read back after the hub exits."""

    url: str
    durable: bool


@pytest.fixture(params=["memory", "sqlite", "redis", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreCase]:
    """A private store location of each kind, removed afterwards."""
    kind = request.param
    if kind == "memory":
        yield StoreCase("memory:", durable=False)
    elif kind == "sqlite":
        yield StoreCase(f"sqlite:///{tmp_path}/hub.db", durable=True)
    elif kind == "redis":
        await require_redis()
        prefix = new_prefix()
        try:
            yield StoreCase(f"{REDIS_URL}?prefix={prefix}", durable=True)
        finally:
            await delete_prefix(prefix)
    else:
        await require_postgres()
        schema = new_schema()
        try:
            yield StoreCase(f"{POSTGRES_DSN}?schema={schema}", durable=True)
        finally:
            await drop_schema(schema)


def remote(url: str, role: str) -> HubClient:
    """A HubClient of ``role`` over WebSocket that does not reconnect (so an end is seen)."""
    return HubClient(WsLink(url, token=TOKENS[role], reconnect=0))


async def register(client: HubClient, name: str, reply: str) -> AgentClient:
    return await client.register(
        Agent(name, prompt="Answer in one short sentence.", config=TestConfig(reply)),
        Passport(name=name),
        Resume(),
    )


def is_closed(envelope: Envelope) -> bool:
    return envelope.event_type == EV_SESSION_CLOSED


async def consult(alice: AgentClient, bob: AgentClient) -> str:
    """Alice asks bob once in a consulting session; return the session id once it closed."""
    session = await alice.open(type="consulting", target="bob")
    await session.send(QUESTION, audience=[bob.agent_id])
    closed = await alice.wait_for_session_event(
        session_id=session.session_id, predicate=is_closed, timeout=15
    )
    assert closed.event_data["reason"] == "consulting_complete"
    return session.session_id


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds (a HubClient offers no event for its end)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"not true within {timeout:g} s"
        await asyncio.sleep(0.01)


def texts(wal: list[Envelope]) -> list[str]:
    return [e.event_data["text"] for e in wal if e.event_type == EV_TEXT]


async def test_serve_health_talk_and_sigterm(store: StoreCase) -> None:
    async with children() as kids:
        hub, url = await kids.hub(store.url)
        assert url.startswith("ws://127.0.0.1:")
        status, health = await get_json(http_url(url, "/healthz"))
        assert status == 200
        assert health["status"] == "ok"
        assert health["registered_agents"] == 0

        alice_hc, bob_hc = remote(url, "alice"), remote(url, "bob")
        try:
            alice = await register(alice_hc, "alice", QUESTION)
            bob = await register(bob_hc, "bob", ANSWER)
            session_id = await consult(alice, bob)
            wire = await alice.read_wal(session_id)  # as a participant, over the wire
            assert texts(wire) == [QUESTION, ANSWER]
            assert [e.sender_id for e in wire if e.event_type == EV_TEXT] == [
                alice.agent_id,
                bob.agent_id,
            ]
            assert [e.envelope_id for e in await bob.read_wal(session_id)] == [
                e.envelope_id for e in wire
            ]

            status, health = await get_json(http_url(url, "/healthz"))
            assert (status, health["status"]) == (200, "ok")
            assert health["registered_agents"] == 2
            assert health["connections"] == 2

            connection = alice_hc.connection
            await stop(hub)
            # The hub said goodbye before closing: the client knows why it ended.
            await eventually(lambda: not alice_hc.connected)
            assert connection.end_error is not None
            assert connection.end_error.code == "hub_shutdown"
        finally:
            await alice_hc.close()
            await bob_hc.close()

    if store.durable:
        stored = await stored_wal(store.url, session_id)
        assert [(e.envelope_id, e.sequence, e.event_type) for e in stored] == [
            (e.envelope_id, e.sequence, e.event_type) for e in wire
        ]
        assert texts(stored) == [QUESTION, ANSWER]


async def test_sigterm_during_a_burst_keeps_every_accepted_envelope(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/hub.db"
    async with children() as kids:
        hub, url = await kids.hub(db)
        alice_hc, bob_hc = remote(url, "alice"), remote(url, "bob")
        try:
            alice = await register(alice_hc, "alice", "more?")
            await register(bob_hc, "bob", "")  # an empty reply: bob acks, never answers
            session = await alice.open(type="conversation", target="bob")
            sends = [asyncio.ensure_future(session.send(f"burst {i}")) for i in range(200)]
            await asyncio.wait_for(sends[0], 10)  # the others are in flight now
            hub.terminate()
            results = await asyncio.wait_for(asyncio.gather(*sends, return_exceptions=True), 15)
            exited = await hub.wait(10)
            assert exited.returncode == 0, hub.describe()
        finally:
            await alice_hc.close()
            await bob_hc.close()

    accepted = [r for r in results if isinstance(r, str)]
    refused = [r for r in results if not isinstance(r, str)]
    assert all(isinstance(r, NetworkError) for r in refused), refused[:3]
    stored = await stored_wal(db, session.session_id)
    stored_ids = {e.envelope_id for e in stored}
    assert set(accepted) <= stored_ids  # an accept the client saw is in the WAL
    sequences = [e.sequence for e in stored]
    assert sequences == list(range(sequences[0], sequences[0] + len(stored)))  # no gap


async def test_a_refused_credential_leaves_the_hub_serving() -> None:
    async with children() as kids:
        hub, url = await kids.hub("memory:")
        intruder = HubClient(WsLink(url, token="not-a-token", reconnect=0))
        try:
            with pytest.raises(NetworkError) as refused:
                await register(intruder, "mallory", "hi")
            assert refused.value.code == "unauthenticated"
        finally:
            await intruder.close()
        alice_hc = remote(url, "alice")
        try:
            alice = await register(alice_hc, "alice", "hi")
            assert alice.agent_id
        finally:
            await alice_hc.close()
        await stop(hub)


@pytest.mark.parametrize(
    ("args", "tokens", "says"),
    [
        pytest.param(["--store", "memory:"], False, "no credentials", id="no-credential"),
        pytest.param(
            ["--store", "memory:", "--insecure-no-auth", "--host", "0.0.0.0"],
            False,
            "refusing --insecure-no-auth on host '0.0.0.0'",
            id="no-auth-off-loopback",
        ),
        pytest.param(
            ["--store", "bogus:"], True, "unknown store URL scheme 'bogus:'", id="bogus-store"
        ),
        pytest.param(
            ["--store", "memory:", "--setup", "no_such_module_xyz:setup"],
            True,
            "--setup 'no_such_module_xyz:setup': cannot import 'no_such_module_xyz'",
            id="setup-import",
        ),
        pytest.param(
            ["--store", "memory:", "--setup", "json:no_such_function"],
            True,
            "'json' has no function 'no_such_function'",
            id="setup-function",
        ),
        pytest.param(
            ["--store", "memory:", "--setup", "json"],
            True,
            "expected MODULE:FUNCTION",
            id="setup-spec",
        ),
    ],
)
async def test_refuses_to_start(args: list[str], tokens: bool, says: str) -> None:
    async with children() as kids:
        hub = await kids.start(
            "hubbub serve", "-m", "hubbub.cli", "serve", "--port", "0", *args,
            *(f"--token={s}:{t}" for s, t in TOKENS.items() if tokens),
        )  # fmt: skip
        exited = await hub.wait()
    assert exited.returncode == 2, exited
    assert exited.stdout == ""  # never said it serves
    assert exited.stderr.startswith("hubbub serve: error: ")
    assert says in exited.stderr


async def test_a_second_hub_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/hub.db"
    async with children() as kids:
        first, url = await kids.hub(db)
        second = await kids.serve(db, "--port", "0")
        exited = await second.wait()
        assert exited.returncode == 1, exited
        assert exited.stdout == ""
        assert "is locked by" in exited.stderr
        assert f"pid {first.pid}" in exited.stderr  # names the holder
        status, health = await get_json(http_url(url, "/healthz"))
        assert (status, health["status"]) == (200, "ok")  # the first one still serves
        await stop(first)


async def test_a_taken_port_is_refused_in_one_line() -> None:
    async with children() as kids:
        first, url = await kids.hub("memory:")
        port = url.rsplit(":", 1)[1]
        second = await kids.serve("memory:", "--port", port)
        exited = await second.wait()
        assert exited.returncode == 1, exited
        assert exited.stdout == ""
        assert exited.stderr == (  # a message, not a traceback
            f"hubbub serve: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
        )
        await stop(first)


async def test_a_call_after_the_hub_shut_down_raises_its_network_error() -> None:
    async with children() as kids:
        hub, url = await kids.hub("memory:")
        alice_hc = remote(url, "alice")
        try:
            alice = await register(alice_hc, "alice", "hi")
            await stop(hub)
            await eventually(lambda: not alice_hc.connected)
            with pytest.raises(NetworkError) as ended:
                await alice.list_sessions()
            assert ended.value.code == "hub_shutdown"
        finally:
            await alice_hc.close()


SETUP = """
from hubbub.network import ConversationAdapter, SessionManifest


class Shouting(ConversationAdapter):
    \"\"\"A conversation type only this hub knows: 'shouting'.\"\"\"

    def __init__(self):
        super().__init__()
        self.manifest = SessionManifest(
            type="shouting", version=1, participants=self.manifest.participants
        )


async def setup(hub):
    hub.register_adapter(Shouting())
"""


async def test_setup_registers_hub_side_code_before_serving(tmp_path: Path) -> None:
    """``--setup FILE.py:FUNCTION`` runs in the hub process before it serves: here it
    registers a session type the built-in hub does not have (its clients know the
    adapter too: they run its pure logic for their own turns)."""
    script = tmp_path / "hub_setup.py"
    script.write_text(SETUP, encoding="utf-8")
    namespace: dict[str, Any] = {}
    exec(compile(SETUP, str(script), "exec"), namespace)
    shouting = namespace["Shouting"]
    async with children() as kids:
        hub, url = await kids.hub("memory:", "--setup", f"{script}:setup")
        alice_hc = HubClient(WsLink(url, token=TOKENS["alice"], reconnect=0), adapters=[shouting()])
        bob_hc = HubClient(WsLink(url, token=TOKENS["bob"], reconnect=0), adapters=[shouting()])
        try:
            alice = await alice_hc.register(
                Agent("alice", config=TestConfig("")), Passport(name="alice"), Resume()
            )
            await bob_hc.register(
                Agent("bob", config=TestConfig(ANSWER)), Passport(name="bob"), Resume()
            )
            session = await alice.open(type="shouting", target="bob")
            assert (await alice.get_session(session.session_id)).manifest.type == "shouting"
            await session.send(QUESTION)
            reply = await alice.wait_for_session_event(
                session_id=session.session_id,
                predicate=lambda e: e.event_type == EV_TEXT and e.sender_id != alice.agent_id,
                timeout=10,
            )
            assert reply.event_data["text"] == ANSWER
        finally:
            await alice_hc.close()
            await bob_hc.close()
        await stop(hub)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (PEM files)."""
    return self_signed(tmp_path)


async def test_serve_over_tls(certificate: tuple[Path, Path]) -> None:
    """``--tls-cert/--tls-key``: the hub's own event loop (uvloop when installed) serves
    ``wss://`` and ``https://…/healthz`` on one port; a client that trusts the
    certificate talks, one that does not is refused."""
    import importlib.util

    from hubbub.cli.serve import client_ssl_context

    cert, key = certificate
    trust = client_ssl_context(str(cert))
    async with children() as kids:
        hub, url = await kids.hub(
            "memory:", "--tls-cert", str(cert), "--tls-key", str(key), "--log-level", "INFO"
        )
        assert url.startswith("wss://127.0.0.1:")
        alice_hc = HubClient(WsLink(url, token=TOKENS["alice"], ssl=trust, reconnect=0))
        bob_hc = HubClient(WsLink(url, token=TOKENS["bob"], ssl=trust, reconnect=0))
        untrusting = HubClient(WsLink(url, token=TOKENS["alice"], reconnect=0))
        try:
            alice = await register(alice_hc, "alice", QUESTION)
            bob = await register(bob_hc, "bob", ANSWER)
            session_id = await consult(alice, bob)
            assert texts(await alice.read_wal(session_id)) == [QUESTION, ANSWER]
            with pytest.raises(NetworkError) as refused:
                await untrusting.connect()
            assert refused.value.code == "connection_lost"

            def health() -> Any:
                import json
                import urllib.request

                address = url.replace("wss://", "https://", 1) + "/healthz"
                with urllib.request.urlopen(address, timeout=10, context=trust) as response:
                    return json.loads(response.read())

            assert (await asyncio.to_thread(health))["connections"] == 2
        finally:
            await alice_hc.close()
            await bob_hc.close()
            await untrusting.close()
        exited = await stop(hub)
        assert exited.returncode == 0
        loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
        assert f"on the {loop} event loop" in exited.stderr, exited.stderr[-2000:]
