"""The read commands against a running hub (``--hub URL --token T``), and the operator reads.

``hubbub serve`` runs as a real subprocess on a store filled by both seeds, with
alice's token and an operator token; the commands run through ``main(argv)`` (in
a thread, while the test's loop keeps an agent connected) and must print what
the same commands print offline on a copy of the store — plus who is online.
A non-operator token is refused with ``access_denied``. In-process, the operator
read operations answer the operator's connection and refuse any other principal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.cli._fill import ANSWER, QUESTION, Filled, fill
from tests.processes._children import children

from hubbub import Agent
from hubbub.cli import build_parser, main
from hubbub.cli._errors import UsageError
from hubbub.cli.serve import build_auth, options_from_args
from hubbub.knowledge import SqliteKnowledgeStore
from hubbub.network import AccessDeniedError, Hub, HubClient, LocalLink, Passport, Resume, WsLink
from hubbub.network.hub import layout
from hubbub.testing import TestConfig

OPERATOR_TOKEN = "op-secret-token"


@pytest.fixture
async def filled(tmp_path: Path) -> Filled:
    return await fill(tmp_path / "hub.db")


async def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``main(argv)`` in a thread (it runs its own event loop): status, stdout, stderr."""
    status = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


async def test_reads_through_a_running_hub(
    filled: Filled, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    offline = tmp_path / "copy.db"
    shutil.copyfile(filled.url.removeprefix("sqlite:///"), offline)
    offline_url = f"sqlite:///{offline}"
    async with children() as kids:
        hub, url = await kids.hub(filled.url, "--operator-token", OPERATOR_TOKEN)
        remote = ("--hub", url, "--token", OPERATOR_TOKEN)
        carol_hc = HubClient(WsLink(url, token="ta"))  # principal alice registers carol
        try:
            await carol_hc.register(
                Agent("carol", config=TestConfig("hi")), Passport(name="carol"), Resume()
            )
            status, out, err = await run(capsys, "agents", *remote, "--json")
            assert status == 0, err
            online = {d["name"]: d["online"] for d in json.loads(out)}
            assert online == {"alice": False, "bob": False, "carol": True}
            status, out, _ = await run(capsys, "agents", *remote)
            assert [line.split()[3] for line in out.splitlines()[1:]] == ["no", "no", "yes"]

            for argv in (
                ["sessions"],
                ["sessions", "--type", "consulting"],
                ["show", filled.consulting_id],
                ["wal", filled.conversation_id],
                ["replay", "--all"],
            ):
                status, live, err = await run(capsys, *argv, *remote, "--json")
                assert status == 0, (argv, err)
                status, stored, err = await run(capsys, *argv, "--store", offline_url, "--json")
                assert status == 0, (argv, err)
                assert json.loads(live) == json.loads(stored), argv
            status, out, _ = await run(capsys, "show", filled.consulting_id, *remote)
            assert QUESTION in out and ANSWER in out and "consulting_complete" in out
            status, out, _ = await run(
                capsys, "audit", *remote, "--json", "--kind", "agent_registered"
            )
            # carol registered through the hub: the audit log says so
            assert [r["name"] for r in json.loads(out)] == ["alice", "bob", "carol"]

            # the store is held by the serving hub; an offline read of it works all the same
            status, out, err = await run(capsys, "sessions", "--store", filled.url)
            assert status == 0 and filled.consulting_id in out, err

            status, out, err = await run(capsys, "sessions", "--hub", url, "--token", "ta")
            assert status == 1 and out == ""
            assert "only the operator may read the hub's store" in err
            assert "this connection is 'alice'" in err
            status, _, err = await run(capsys, "show", "01NOSUCH", *remote)
            assert status == 1 and "unknown session '01NOSUCH'" in err
            status, _, err = await run(capsys, "agents", "--hub", url, "--token", "wrong")
            assert status == 1 and "not accepted" in err
            # audit --follow through the hub: a registration made meanwhile shows up
            follow = await kids.start(
                "audit --follow", "-m", "hubbub", "audit", "--follow", "--json", *remote
            )
            seen = [json.loads(await follow.readline()) for _ in range(7)]
            assert seen[-1]["kind"] == "agent_registered" and seen[-1]["name"] == "carol"
            dave_hc = HubClient(WsLink(url, token="tb"))  # principal bob registers dave
            try:
                await dave_hc.register(
                    Agent("dave", config=TestConfig("hi")), Passport(name="dave"), Resume()
                )
                new = json.loads(await follow.readline())
                assert (new["kind"], new["name"], new["principal"]) == (
                    "agent_registered",
                    "dave",
                    "bob",
                )
            finally:
                await dave_hc.close()
                await follow.kill()
        finally:
            await carol_hc.close()
        hub.terminate()
        assert (await hub.wait()).returncode == 0


async def test_operator_reads_in_process(tmp_path: Path) -> None:
    store = SqliteKnowledgeStore(tmp_path / "hub.db")
    hub = await Hub.open(store, ttl_sweep_interval=0)
    try:
        alice = await hub.register(Passport(name="alice"), Resume())
        operator = HubClient(LocalLink(hub))
        tenant = HubClient(LocalLink(hub, principal="tenant"))
        try:
            conn = await operator.connect()
            assert await conn.call("store_list", path="/agents") == [f"{alice.agent_id}/"]
            passport = layout.passport_path(alice.agent_id or "")
            texts: list[Any] = await conn.call("store_read", paths=[passport, "/nope"])
            assert json.loads(texts[0])["name"] == "alice" and texts[1] is None
            assert await conn.call("store_line_counts", paths=["/audit/audit-00000001.jsonl"]) == [
                1
            ]
            lines = await conn.call("store_read_lines", path="/audit/audit-00000001.jsonl")
            assert json.loads(lines[0])["kind"] == "agent_registered"
            other = await tenant.connect()
            for op, params in (
                ("store_list", {"path": "/"}),
                ("store_read", {"paths": [passport]}),
                ("store_read_lines", {"path": passport}),
                ("store_line_counts", {"paths": [passport]}),
            ):
                with pytest.raises(AccessDeniedError, match="only the operator"):
                    await other.call(op, **params)
        finally:
            await operator.close()
            await tenant.close()
    finally:
        await hub.close()
        await store.close()


def _serve_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", "--store", "memory:", *argv])


async def test_serve_operator_token_options(tmp_path: Path) -> None:
    # an operator token alone is a credential
    auth = build_auth(options_from_args(_serve_args("--operator-token", "opx")))
    assert await auth.authenticate("bearer", {"token": "opx"}) == "operator"
    both = build_auth(
        options_from_args(_serve_args("--token", "alice:ta", "--operator-token", "o"))
    )
    assert await both.authenticate("bearer", {"token": "ta"}) == "alice"
    assert await both.authenticate("bearer", {"token": "o"}) == "operator"
    with pytest.raises(UsageError, match="operator token is also given"):
        build_auth(
            options_from_args(_serve_args("--token", "alice:same", "--operator-token", "same"))
        )
    token_file = tmp_path / "ops"
    token_file.write_text("# operators\nfrom-file\n")
    auth = build_auth(options_from_args(_serve_args("--operator-token-file", str(token_file))))
    assert await auth.authenticate("bearer", {"token": "from-file"}) == "operator"
    (tmp_path / "empty").write_text("# nothing\n")
    with pytest.raises(UsageError, match="no token"):
        build_auth(options_from_args(_serve_args("--operator-token-file", str(tmp_path / "empty"))))


async def test_remote_store_pages_big_answers(
    filled: Filled, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a tiny answer budget every read comes in many parts and adds up to the store's."""
    from hubbub.cli.remote import RemoteStore
    from hubbub.network.hub import connection

    monkeypatch.setattr(connection, "_READ_BUDGET", 600)
    monkeypatch.setattr(connection, "_READ_MAX_LINES", 3)
    store = SqliteKnowledgeStore(filled.url.removeprefix("sqlite:///"))
    hub = await Hub.open(store, ttl_sweep_interval=0)
    remote = RemoteStore(HubClient(LocalLink(hub)), "local")
    try:
        wals = [layout.wal_path(filled.consulting_id), layout.wal_path(filled.conversation_id)]
        for path in wals:
            assert await remote.read_lines(path) == await store.read_lines(path)
            assert await remote.read_lines(path, 2, 5) == await store.read_lines(path, 2, 5)
        requests = [(wals[1], 1), (wals[0], 0), ("/missing", 0), (wals[1], 50)]
        assert await remote.read_lines_many(requests) == await store.read_lines_many(requests)
        paths = [*wals, "/nope", layout.session_meta_path(filled.consulting_id)]
        assert await remote.read_many(paths) == await store.read_many(paths)
        assert await remote.line_counts(wals) == [
            await store.line_count(wals[0]),
            await store.line_count(wals[1]),
        ]
        with pytest.raises(AccessDeniedError, match="read-only"):
            await remote.append(wals[0], "x\n")
    finally:
        await remote.close()
        await hub.close()
        await store.close()
