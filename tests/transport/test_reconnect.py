"""Gap-free reconnect: a cut TCP connection and a restarted hub lose nothing, duplicate nothing.

Alice talks to bob over real WebSockets on loopback; bob's model answers every
message ("ok"). Alice's connection goes through a forwarder the test controls
(cut mid-conversation), or the hub process itself is killed and started again on
its SQLite file. Afterwards what each side received is compared with the WAL:
every envelope exactly once, in order, and every message alice sent is in the WAL
exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.faults._forwarder import Forwarder

from hubbub import Agent
from hubbub.knowledge import MemoryKnowledgeStore, SqliteKnowledgeStore
from hubbub.network import EV_TEXT, Envelope, Hub, HubClient, Passport, Resume, visible_to
from hubbub.network.auth import BearerTokens, ServerAuth
from hubbub.network.client.agent_client import AgentClient
from hubbub.network.transport.ws import WsLink, serve_ws
from hubbub.testing import TestConfig

TOKENS = {"ta": "owner-a", "tb": "owner-b"}
N = 40


class Recorder:
    """Alice's handler: keeps every envelope delivered to her, in order."""

    def __init__(self) -> None:
        self.got: list[Envelope] = []
        self.changed = asyncio.Event()

    async def __call__(self, envelope: Envelope) -> None:
        self.got.append(envelope)
        self.changed.set()

    async def wait_texts(self, sender_id: str, count: int, timeout: float = 30.0) -> None:
        async def wait() -> None:
            while (
                sum(1 for e in self.got if e.sender_id == sender_id and e.event_type == EV_TEXT)
                < count
            ):
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(wait(), timeout)


async def _pair(
    alice_url: str, bob_url: str
) -> tuple[HubClient, HubClient, AgentClient, AgentClient, Recorder]:
    a = HubClient(WsLink(alice_url, token="ta", reconnect=30))
    b = HubClient(WsLink(bob_url, token="tb", reconnect=30))
    alice = await a.register(
        Agent("alice", config=TestConfig("unused")), Passport(name="alice"), Resume()
    )
    recorder = Recorder()
    alice.on_envelope(recorder)
    bob = await b.register(Agent("bob", config=TestConfig("ok")), Passport(name="bob"), Resume())
    return a, b, alice, bob, recorder


def _check_against_wal(wal: list[Envelope], alice: AgentClient, recorder: Recorder) -> None:
    me = alice.agent_id
    expected = [  # what the hub delivers to alice: visible, not her own broadcasts, no acks
        e
        for e in wal
        if (e.sender_id != me if e.audience is None else me in e.audience)
        and e.event_type != "ag2.session.invite.ack"
    ]
    got_ids = [e.envelope_id for e in recorder.got]
    assert len(got_ids) == len(set(got_ids)), "an envelope was delivered twice"
    assert got_ids == [e.envelope_id for e in expected], (
        "a gap, or out of order",
        [
            (e.sequence, e.event_type[8:], e.envelope_id[-4:], e.session_id[-4:])
            for e in recorder.got
        ],
        [(e.sequence, e.event_type[8:], e.envelope_id[-4:], e.session_id[-4:]) for e in expected],
    )
    sent = [e.event_data["text"] for e in wal if e.sender_id == me and e.event_type == EV_TEXT]
    assert sent == [f"m{i}" for i in range(N)], "a send was lost or written twice"


async def test_a_cut_connection_resumes_without_gap_or_duplicate() -> None:
    hub = await Hub.open(MemoryKnowledgeStore())
    auth = ServerAuth([BearerTokens(TOKENS)])
    async with serve_ws(hub, port=0, auth=auth) as url:
        fwd = await Forwarder.start("127.0.0.1", int(url.rsplit(":", 1)[1]))
        a, b, alice, bob, recorder = await _pair(f"ws://127.0.0.1:{fwd.port}", url)
        try:
            session = await alice.open(type="conversation", target="bob")
            for i in range(N):
                if i in (10, 25):  # twice: while bob's replies are in flight to alice
                    assert fwd.cut() == 1
                await session.send(f"m{i}")
            await recorder.wait_texts(bob.agent_id, N)
            assert a.connection.reconnects == 2
            assert b.connection.reconnects == 0
            _check_against_wal(await hub.read_wal(session.session_id), alice, recorder)
            # The resumed agent is the same agent: same id, still answering in the session.
            assert (await hub.get_agent("alice")).agent_id == alice.agent_id
        finally:
            await a.close()
            await b.close()
            await fwd.close()
    await hub.close()


async def test_a_send_in_flight_when_the_link_drops_is_written_once() -> None:
    hub = await Hub.open(MemoryKnowledgeStore())
    auth = ServerAuth([BearerTokens(TOKENS)])
    async with serve_ws(hub, port=0, auth=auth) as url:
        fwd = await Forwarder.start("127.0.0.1", int(url.rsplit(":", 1)[1]))
        a, b, alice, bob, recorder = await _pair(f"ws://127.0.0.1:{fwd.port}", url)
        try:
            session = await alice.open(type="conversation", target="bob")
            sends = [asyncio.ensure_future(session.send(f"m{i}")) for i in range(N)]
            await asyncio.sleep(0)  # the frames are written; most answers are not back yet
            fwd.cut()
            ids = await asyncio.gather(*sends)
            assert len(set(ids)) == N
            await recorder.wait_texts(bob.agent_id, N)
            _check_against_wal(await hub.read_wal(session.session_id), alice, recorder)
        finally:
            await a.close()
            await b.close()
            await fwd.close()
    await hub.close()


# ------------------------------------------------------------------ hub restart


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def _serve_process(db: Path, port: int) -> AsyncIterator[subprocess.Popen[bytes]]:
    cmd = [
        sys.executable,
        "-m",
        "hubbub.cli",
        "serve",
        "--store",
        f"sqlite:///{db}",
        "--port",
        str(port),
    ]
    for token, subject in TOKENS.items():
        cmd += ["--token", f"{subject}:{token}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        assert line.decode().startswith("hubbub: serving ws://"), line
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


async def test_a_hub_restart_on_sqlite_is_survived(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    port = _free_port()
    url = f"ws://127.0.0.1:{port}"
    async with _serve_process(db, port) as first:
        a, b, alice, bob, recorder = await _pair(url, url)
        try:
            session = await alice.open(type="conversation", target="bob")
            for i in range(15):
                await session.send(f"m{i}")
            os.kill(first.pid, signal.SIGKILL)  # no goodbye: the sockets just die
            first.wait(10)
            async with _serve_process(db, port):
                for i in range(15, N):
                    await session.send(f"m{i}")
                await recorder.wait_texts(bob.agent_id, N)
                assert a.connection.reconnects >= 1 and b.connection.reconnects >= 1
                wal = await alice.read_wal(session.session_id)  # as a participant, over the wire
        finally:
            await a.close()
            await b.close()
    # the hub is gone: read the file it left behind, as the operator
    store = SqliteKnowledgeStore(db)
    hub = await Hub.open(store)
    try:
        full = await hub.read_wal(session.session_id)
        assert [e.envelope_id for e in wal] == [
            e.envelope_id for e in full if visible_to(e, alice.agent_id)
        ]
        _check_against_wal(full, alice, recorder)
        bob_texts = [e for e in full if e.sender_id == bob.agent_id and e.event_type == EV_TEXT]
        assert len(bob_texts) == N  # bob answered every message exactly once
    finally:
        await hub.close()
        await store.close()


@pytest.mark.parametrize("code", ["unauthenticated"])
async def test_a_refused_credential_is_not_retried(code: str) -> None:
    hub = await Hub.open(MemoryKnowledgeStore())
    async with serve_ws(hub, port=0, auth=ServerAuth([BearerTokens(TOKENS)])) as url:
        hc = HubClient(WsLink(url, token="wrong", reconnect=30))
        with pytest.raises(Exception) as info:
            await hc.register(Agent("x", config=TestConfig("x")), Passport(name="x"), Resume())
        assert getattr(info.value, "code", None) == code
        await hc.close()
    await hub.close()
