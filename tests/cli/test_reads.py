"""The read commands (``agents``, ``sessions``, ``show``, ``wal``, ``audit``, ``replay``) offline.

A SQLite store is filled once per module by a real network run (the quick start's
consulting session and the conversation seed, scripted agents, in-process; see
``_fill.py``); each command runs through ``main(argv)`` on it (one through a
subprocess), and what it prints is checked against what the store holds, read
independently through a ``SqliteKnowledgeStore``.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.cli._fill import ANSWER, OPENING, QUESTION, Filled, fill

from hubbub.cli import _output, main
from hubbub.cli.reads import parse_since
from hubbub.knowledge import SqliteKnowledgeStore
from hubbub.network import EV_SESSION_INVITE_ACK, EV_TEXT, Envelope, Hub, Passport, Resume
from hubbub.network.hub import layout
from hubbub.network.hub.reader import StoreReader

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Filled:
    """The store of one network run (both seeds), shared by the module's tests (read only)."""
    return asyncio.run(fill(tmp_path_factory.mktemp("cli") / "hub.db"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``main(argv)``: its exit status, stdout and stderr."""
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    status, out, err = run(capsys, *argv, "--json")
    assert status == 0, err
    return json.loads(out)


def wal_lines(url: str, session_id: str) -> list[str]:
    """A session's WAL lines, read straight from the SQLite store."""

    async def read() -> list[str]:
        store = SqliteKnowledgeStore(url.removeprefix("sqlite:///"))
        try:
            return await store.read_lines(layout.wal_path(session_id))
        finally:
            await store.close()

    return asyncio.run(read())


def envelopes(url: str, session_id: str) -> list[Envelope]:
    return [Envelope.from_wal_line(line, session_id) for line in wal_lines(url, session_id)]


def dump_tables(db: str) -> list[tuple[Any, ...]]:
    """Every row of the store's tables (what a reader must leave as it was)."""
    with sqlite3.connect(db) as con:
        return (
            con.execute("SELECT * FROM files").fetchall()
            + con.execute("SELECT * FROM records").fetchall()
        )


# ---------------------------------------------------------------------- sessions


def test_sessions_table_names_counts_and_close_reasons(
    filled: Filled, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "sessions", "--store", filled.url)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == [
        "ID",
        "TYPE",
        "STATE",
        "PARTICIPANTS",
        "ENVELOPES",
        "CREATED",
        "CLOSED",
        "REASON",
    ]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    consulting, conversation = rows[filled.consulting_id], rows[filled.conversation_id]
    assert consulting[1:4] == ["consulting", "closed", "alice,bob"]
    assert consulting[-1] == "consulting_complete"
    assert int(consulting[4]) == len(wal_lines(filled.url, filled.consulting_id)) == 6
    assert conversation[1:4] == ["conversation", "closed", "alice,bob"]
    assert conversation[-1] == "explicit_close"
    assert int(conversation[4]) == len(wal_lines(filled.url, filled.conversation_id))
    # newest first: the conversation was opened after the consulting session
    assert [line.split()[0] for line in lines[1:]] == [filled.conversation_id, filled.consulting_id]


def test_sessions_json_and_filters(filled: Filled, capsys: pytest.CaptureFixture[str]) -> None:
    docs = run_json(capsys, "sessions", "--store", filled.url)
    by_id = {d["session_id"]: d for d in docs}
    conv = by_id[filled.conversation_id]
    assert conv["participant_names"] == ["alice", "bob"]
    assert conv["participants"] == [filled.alice_id, filled.bob_id]
    assert conv["envelopes"] == len(wal_lines(filled.url, filled.conversation_id))
    last = envelopes(filled.url, filled.conversation_id)[-1]
    assert conv["closed_at"] == last.created_at and conv["close_reason"] == "explicit_close"

    def ids(*flags: str) -> list[str]:
        return [
            d["session_id"] for d in run_json(capsys, "sessions", "--store", filled.url, *flags)
        ]

    assert ids("--type", "consulting") == [filled.consulting_id]
    assert ids("--state", "closed") == [filled.conversation_id, filled.consulting_id]
    assert ids("--state", "active") == []
    assert ids("--agent", "bob") == [filled.conversation_id, filled.consulting_id]
    assert ids("--agent", filled.alice_id, "--type", "conversation") == [filled.conversation_id]
    assert ids("--limit", "1") == [filled.conversation_id]
    assert ids("--since", "1h") == [filled.conversation_id, filled.consulting_id]
    assert ids("--since", "2999-01-01T00:00:00Z") == []
    assert ids("--since", "2000-01-01") == [filled.conversation_id, filled.consulting_id]


class _Recording:
    """A store (its ``KnowledgeStore`` methods only) that records every line read."""

    def __init__(self, store: SqliteKnowledgeStore) -> None:
        self._store = store
        self.line_reads: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        if name == "last_lines":  # not a protocol method: the reader falls back
            raise AttributeError(name)
        return getattr(self._store, name)

    async def read_lines(
        self, path: str, start_line: int = 0, end_line: int | None = None
    ) -> list[str]:
        self.line_reads.append((path, start_line))
        return await self._store.read_lines(path, start_line, end_line)

    async def read_lines_many(self, requests: Sequence[tuple[str, int]]) -> list[list[str]]:
        self.line_reads.extend(requests)
        return await self._store.read_lines_many(requests)


def test_sessions_reads_only_the_last_line_of_each_wal(filled: Filled) -> None:
    """The listing asks each WAL for its line count and last line, never for the whole log;
    SQLite's ``last_lines`` answers the same as the generic line count + last line."""
    wals = [layout.wal_path(sid) for sid in (filled.conversation_id, filled.consulting_id)]

    async def listing() -> tuple[list[tuple[str, int]], list[Any], list[Any], list[Any]]:
        sqlite = SqliteKnowledgeStore(filled.url.removeprefix("sqlite:///"))
        store = _Recording(sqlite)
        try:
            generic = await StoreReader(store).sessions()  # type: ignore[arg-type]
            native = await StoreReader(sqlite).sessions()
            tails = await sqlite.last_lines([*wals, "/missing"])
            return store.line_reads, generic, native, tails
        finally:
            await sqlite.close()

    reads, generic, native, tails = asyncio.run(listing())
    assert generic == native and len(native) == 2
    counts = [
        len(wal_lines(filled.url, sid)) for sid in (filled.conversation_id, filled.consulting_id)
    ]
    assert sorted(reads) == sorted((path, n - 1) for path, n in zip(wals, counts, strict=True))
    last = [
        wal_lines(filled.url, sid)[-1] for sid in (filled.conversation_id, filled.consulting_id)
    ]
    assert tails == [(counts[0], last[0]), (counts[1], last[1]), (0, None)]


# ---------------------------------------------------------------------- agents


def test_agents_table_and_json(filled: Filled, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "agents", "--store", filled.url)
    assert status == 0, err
    header, *rows = out.splitlines()
    assert header.split() == [
        "NAME",
        "ID",
        "KIND",
        "ONLINE",
        "CAPABILITIES",
        "OBSERVED",
        "TOKENS",
        "COST",
    ]
    assert [r.split()[:4] for r in rows] == [
        ["alice", filled.alice_id, "agent", "—"],
        ["bob", filled.bob_id, "agent", "—"],
    ]
    assert "answering, ml" in rows[1]
    docs = run_json(capsys, "agents", "--store", filled.url)
    assert [(d["name"], d["agent_id"], d["online"]) for d in docs] == [
        ("alice", filled.alice_id, None),
        ("bob", filled.bob_id, None),
    ]
    assert docs[1]["capabilities"] == ["answering", "ml"]
    # the scripted model reports no usage: zero tokens, no cost
    assert docs[1]["usage"]["input_tokens"] == 0 and docs[1]["usage"]["cost_usd"] is None


# ---------------------------------------------------------------------- show, wal


def test_show_transcript(filled: Filled, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "show", filled.consulting_id, "--store", filled.url)
    assert status == 0, err
    assert f"session {filled.consulting_id}  consulting  closed" in out
    assert "participants: alice, bob" in out
    assert "close reason: consulting_complete" in out
    lines = out.splitlines()
    question = next(line for line in lines if line.endswith(QUESTION))
    assert question.split()[0] == "4" and question.split()[2:5] == ["alice", "bob", "msg.text"]
    answer = next(line for line in lines if line.endswith(ANSWER))
    assert answer.split()[2:5] == ["bob", "all", "msg.text"]
    closed = next(line for line in lines if "session.closed" in line)
    assert closed.endswith("reason: consulting_complete")

    doc = run_json(capsys, "show", filled.conversation_id, "--store", filled.url)
    wal = envelopes(filled.url, filled.conversation_id)
    assert [e["sequence"] for e in doc["envelopes"]] == [e.sequence for e in wal]
    texts = [e["event_data"]["text"] for e in doc["envelopes"] if e["event_type"] == EV_TEXT]
    assert texts[0] == OPENING and len(texts) == filled.conversation_texts
    assert doc["session"]["close_reason"] == "explicit_close"
    assert [r["kind"] for r in doc["audit"]] == ["session_created", "session_closed"]


def test_wal_prints_the_lines_as_stored(filled: Filled, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "wal", filled.conversation_id, "--store", filled.url)
    assert status == 0
    assert out.splitlines() == wal_lines(filled.url, filled.conversation_id)
    docs = run_json(capsys, "wal", filled.consulting_id, "--store", filled.url)
    assert docs == [orjson.loads(line) for line in wal_lines(filled.url, filled.consulting_id)]


# ---------------------------------------------------------------------- audit


def test_audit_filters(filled: Filled, capsys: pytest.CaptureFixture[str]) -> None:
    records = run_json(capsys, "audit", "--store", filled.url)
    assert [r["kind"] for r in records] == [
        "agent_registered",
        "agent_registered",
        "session_created",
        "session_closed",
        "session_created",
        "session_closed",
    ]
    closed = run_json(capsys, "audit", "--store", filled.url, "--kind", "session_closed")
    assert [(r["session_id"], r["reason"]) for r in closed] == [
        (filled.consulting_id, "consulting_complete"),
        (filled.conversation_id, "explicit_close"),
    ]
    one = run_json(capsys, "audit", "--store", filled.url, "--session", filled.consulting_id)
    assert [r["kind"] for r in one] == ["session_created", "session_closed"]
    bob = run_json(capsys, "audit", "--store", filled.url, "--agent", "bob")
    assert [r["kind"] for r in bob] == ["agent_registered", *[r["kind"] for r in records[2:]]]
    status, out, _ = run(capsys, "audit", "--store", filled.url, "--kind", "agent_registered")
    assert status == 0
    assert [line.split()[4] for line in out.splitlines()[1:]] == ["alice", "bob"]


def test_audit_follow_prints_new_records(filled: Filled, tmp_path: Path) -> None:
    """``audit --follow`` in its own process keeps printing what a hub appends meanwhile."""
    db = tmp_path / "follow.db"
    shutil.copyfile(filled.url.removeprefix("sqlite:///"), db)
    url = f"sqlite:///{db}"
    with subprocess.Popen(
        [sys.executable, "-m", "hubbub", "audit", "--follow", "--json", "--store", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    ) as proc:
        _follow(proc, db)


def _follow(proc: subprocess.Popen[str], db: Path) -> None:
    try:
        assert proc.stdout is not None
        first = [json.loads(proc.stdout.readline()) for _ in range(6)]
        assert first[0]["kind"] == "agent_registered"

        async def register_carol() -> None:
            store = SqliteKnowledgeStore(db)
            hub = await Hub.open(store, ttl_sweep_interval=0)
            await hub.register(Passport(name="carol"), Resume())
            await hub.close()
            await store.close()

        asyncio.run(register_carol())
        new = json.loads(proc.stdout.readline())  # the test's timeout bounds this wait
        assert (new["kind"], new["name"]) == ("agent_registered", "carol")
    finally:
        proc.kill()
        proc.wait(10)


# ---------------------------------------------------------------------- replay


def test_replay_all_reports_final_states(
    filled: Filled, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_output, "PROGRESS_MIN", 1)
    status, out, err = run(capsys, "replay", "--all", "--store", filled.url)
    assert status == 0, err
    assert "2 session(s) replayed, 0 diverged" in out
    assert "hubbub replay: 2/2 sessions replayed" in err  # progress on stderr
    doc = run_json(capsys, "replay", filled.conversation_id, "--store", filled.url)
    (report,) = doc["sessions"]
    assert report["ok"] and report["state"] == "closed"
    assert report["close_reason"] == "explicit_close"
    assert (
        report["sequence"] == report["lines"] == len(wal_lines(filled.url, filled.conversation_id))
    )


def test_replay_reports_divergence_and_quarantine(
    filled: Filled, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A WAL with a line that breaks the sequence diverges; the hub quarantined it, replay says so."""
    db = tmp_path / "bad.db"
    shutil.copyfile(filled.url.removeprefix("sqlite:///"), db)
    url = f"sqlite:///{db}"
    first = wal_lines(url, filled.consulting_id)[3]  # the question, sequence 4

    async def corrupt_and_open() -> dict[str, str]:
        store = SqliteKnowledgeStore(db)
        await store.append(layout.wal_path(filled.consulting_id), first + "\n")
        hub = await Hub.open(store, ttl_sweep_interval=0)
        try:
            return dict(hub.health()["quarantined_sessions"])
        finally:
            await hub.close()
            await store.close()

    # the consulting session is closed: the hub quarantines it when it reads it back
    async def read_back() -> None:
        store = SqliteKnowledgeStore(db)
        hub = await Hub.open(store, ttl_sweep_interval=0)
        try:
            with pytest.raises(Exception, match="quarantined"):
                await hub.get_session(filled.consulting_id)
        finally:
            await hub.close()
            await store.close()

    asyncio.run(corrupt_and_open())
    asyncio.run(read_back())
    status, out, err = run(capsys, "replay", "--all", "--store", url)
    assert status == 1
    assert f"1 session(s) do not replay: {filled.consulting_id}" in err
    row = next(line for line in out.splitlines() if line.startswith(filled.consulting_id))
    assert "DIVERGED" in row and "WAL line 7" in row
    doc = json.loads(run(capsys, "replay", filled.consulting_id, "--store", url, "--json")[1])
    (report,) = doc["sessions"]
    assert not report["ok"] and report["quarantined"] and "WAL line 7" in report["quarantined"]
    ok = next(line for line in out.splitlines() if line.startswith(filled.conversation_id))
    assert " ok " in ok


# ---------------------------------------------------------------------- read only, subprocess


def test_offline_reads_change_nothing(filled: Filled, capsys: pytest.CaptureFixture[str]) -> None:
    db = filled.url.removeprefix("sqlite:///")
    before = dump_tables(db)
    for argv in (
        ["agents"],
        ["sessions", "--limit", "0"],
        ["show", filled.consulting_id],
        ["wal", filled.conversation_id],
        ["audit"],
        ["replay", "--all"],
    ):
        assert run(capsys, *argv, "--store", filled.url)[0] == 0
    assert dump_tables(db) == before


def test_sessions_in_a_subprocess_with_the_store_from_the_environment(filled: Filled) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hubbub", "sessions"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**__import__("os").environ, "HUBBUB_STORE": filled.url},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert filled.consulting_id in done.stdout and "consulting_complete" in done.stdout
    assert "alice,bob" in done.stdout


# ---------------------------------------------------------------------- usage


async def _open_hub_only(
    hub: Hub, a_id: str, b_id: str, manifest_type: str = "conversation", ttl: str | None = None
) -> str:
    """create_session for a, answering the invite as b's client would (no client bound)."""
    task = asyncio.ensure_future(
        hub.create_session(
            creator_id=a_id, manifest_type=manifest_type, participants=[b_id], ttl=ttl
        )
    )
    while not task.done():
        pending = await hub.list_sessions(agent_id=a_id, state="pending")
        if pending and await hub.read_wal(pending[0].session_id):  # the invite is logged
            sid = pending[0].session_id
            await hub.post_envelope(Envelope(sid, b_id, None, EV_SESSION_INVITE_ACK, {}))
            break
        await asyncio.sleep(0.001)
    return (await task).session_id


def test_tokens_and_cost_are_summed_from_reply_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "usage.db"

    def usage(inp: int, out: int, cost: float | None) -> dict[str, Any]:
        return {
            "model": "m",
            "input_tokens": inp,
            "output_tokens": out,
            "cache_read_tokens": 1,
            "cache_write_tokens": 0,
            "latency_ms": 2.5,
            "cost_usd": cost,
        }

    async def build() -> tuple[str, str]:
        store = SqliteKnowledgeStore(db)
        hub = await Hub.open(store, ttl_sweep_interval=0)
        a = await hub.register(Passport(name="alice"), Resume())
        b = await hub.register(Passport(name="bob"), Resume())
        assert a.agent_id and b.agent_id
        sid = await _open_hub_only(hub, a.agent_id, b.agent_id)
        posts = [
            (a.agent_id, {"text": "q"}),
            (b.agent_id, {"text": "r1", "usage": usage(100, 20, 0.5)}),
            (b.agent_id, {"text": "r2", "usage": usage(50, 5, None)}),
            (a.agent_id, {"text": "r3", "usage": usage(7, 3, 0.25)}),
        ]
        for sender, data in posts:
            await hub.post_envelope(Envelope(sid, sender, None, EV_TEXT, data))
        await hub.close()
        await store.close()
        return sid, b.agent_id

    sid, bob_id = asyncio.run(build())
    url = f"sqlite:///{db}"
    docs = {d["name"]: d for d in run_json(capsys, "agents", "--store", url)}
    assert docs["bob"]["usage"] == {
        "replies": 2,
        "input_tokens": 150,
        "output_tokens": 25,
        "cache_read_tokens": 2,
        "cache_write_tokens": 0,
        "cost_usd": 0.5,
    }
    assert docs["alice"]["usage"]["input_tokens"] == 7
    status, out, _ = run(capsys, "agents", "--store", url)
    bob_row = next(line for line in out.splitlines() if line.startswith("bob"))
    assert bob_row.split()[-2:] == ["175", "$0.5000"]
    status, out, _ = run(capsys, "show", sid, "--store", url)
    assert "tokens: 185  cost: $0.7500" in out
    (listed,) = run_json(capsys, "sessions", "--store", url, "--usage")
    assert listed["usage"]["input_tokens"] == 157 and listed["usage"]["cost_usd"] == 0.75
    assert listed["state"] == "active" and listed["envelopes"] == 7


# ---------------------------------------------------------------------- bad arguments


def test_unknown_session_exits_1_naming_it(
    filled: Filled, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("show", "wal", "replay"):
        status, out, err = run(capsys, command, "01NOSUCHSESSION", "--store", filled.url)
        assert status == 1, command
        assert err.strip() == f"hubbub {command}: error: unknown session '01NOSUCHSESSION'"
        assert out == ""


def test_unknown_agent_exits_1(filled: Filled, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "sessions", "--store", filled.url, "--agent", "carol")
    assert status == 1 and "no agent named or with id 'carol'" in err


def test_bad_store_urls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "sessions", "--store", "nope://x")
    assert status == 2 and "--store: unknown store URL scheme 'nope:'" in err
    status, _, err = run(capsys, "sessions", "--store", str(tmp_path / "x.db"))
    assert status == 2 and "has no scheme" in err
    missing = tmp_path / "missing.db"
    status, _, err = run(capsys, "agents", "--store", f"sqlite:///{missing}")
    assert status == 1 and f"the file {missing} does not exist" in err
    assert not missing.exists()  # a reader never creates a store
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as con:
        con.execute("CREATE TABLE notes(x)")
    before = foreign.read_bytes()
    status, _, err = run(capsys, "sessions", "--store", f"sqlite:///{foreign}")
    assert status == 1 and "does not carry the hubbub store marker" in err
    assert foreign.read_bytes() == before
    status, _, err = run(capsys, "audit", "--store", f"disk:{tmp_path / 'none'}")
    assert status == 1 and "does not exist" in err and not (tmp_path / "none").exists()


def test_usage_errors(
    filled: Filled, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HUBBUB_STORE", raising=False)
    status, _, err = run(capsys, "sessions")
    assert status == 2 and "no store: pass --store URL" in err
    status, _, err = run(capsys, "sessions", "--store", filled.url, "--hub", "ws://127.0.0.1:1")
    assert status == 2 and "not both" in err
    status, _, err = run(capsys, "replay", "--store", filled.url)
    assert status == 2 and "give a SESSION or --all" in err
    status, _, err = run(capsys, "sessions", "--store", filled.url, "--since", "yesterday")
    assert status == 2 and "--since" in err
    status, _, err = run(capsys, "sessions", "--store", filled.url, "--state", "dead")
    assert status == 2 and "invalid choice" in err
    monkeypatch.delenv("HUBBUB_TOKEN", raising=False)
    status, _, err = run(capsys, "agents", "--hub", "ws://127.0.0.1:1")
    assert status == 2 and "--hub needs --token" in err


def test_parse_since() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
    assert parse_since("2h", now) == "2026-12-03T10:00:00.000000Z"
    assert parse_since("90s", now) == "2026-12-03T11:58:30.000000Z"
    assert parse_since("2026-12-01T00:00:00+01:00") == "2026-11-30T23:00:00.000000Z"


# ---------------------------------------------------------------------- violations, expiry


def test_violations_and_expiry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A consulting session bob never answers is closed by ``reply_within``; a conversation
    whose TTL runs out expires: ``sessions``, ``show``, ``audit`` and ``replay`` say so."""
    from hubbub.network import MockClock

    db = tmp_path / "faults.db"

    async def build() -> tuple[str, str, str]:
        clock = MockClock()
        store = SqliteKnowledgeStore(db)
        hub = await Hub.open(store, clock=clock, ttl_sweep_interval=0, expectation_sweep_interval=0)
        a = await hub.register(Passport(name="alice"), Resume())
        b = await hub.register(Passport(name="bob"), Resume())
        assert a.agent_id and b.agent_id
        consulting = await _open_hub_only(hub, a.agent_id, b.agent_id, "consulting")
        await hub.post_envelope(
            Envelope(consulting, a.agent_id, [b.agent_id], EV_TEXT, {"text": "q?"})
        )
        clock.advance(601)
        await hub.check_expectations()
        conversation = await _open_hub_only(hub, a.agent_id, b.agent_id, "conversation", ttl="10s")
        clock.advance(11)
        assert await hub.expire_due() == 1
        await hub.close()
        await store.close()
        return consulting, conversation, b.agent_id

    consulting, conversation, bob_id = asyncio.run(build())
    url = f"sqlite:///{db}"
    by_id = {d["session_id"]: d for d in run_json(capsys, "sessions", "--store", url)}
    assert by_id[consulting]["state"] == "closed"
    assert by_id[consulting]["close_reason"] == "expectation_violated:reply_within"
    assert (by_id[conversation]["state"], by_id[conversation]["close_reason"]) == (
        "expired",
        "ttl_expired",
    )
    assert [
        d["session_id"] for d in run_json(capsys, "sessions", "--store", url, "--state", "expired")
    ] == [conversation]
    status, out, _ = run(capsys, "show", consulting, "--store", url)
    assert status == 0
    assert "close reason: expectation_violated:reply_within" in out
    assert "violations (1):" in out
    assert out.rstrip().splitlines()[-1].split()[-2:] == ["reply_within", "bob"]
    doc = run_json(capsys, "show", consulting, "--store", url)
    assert [v["violators"] for v in doc["violations"]] == [[bob_id]]
    records = run_json(capsys, "audit", "--store", url, "--kind", "expectation_violated")
    assert [(r["session_id"], r["expectation"]) for r in records] == [(consulting, "reply_within")]
    status, out, _ = run(capsys, "audit", "--store", url, "--kind", "expectation_violated")
    assert "violators=[bob]" in out
    report = run_json(capsys, "replay", "--all", "--store", url)
    states = {r["session_id"]: (r["state"], r["close_reason"], r["ok"]) for r in report["sessions"]}
    assert states == {
        consulting: ("closed", "expectation_violated:reply_within", True),
        conversation: ("expired", "ttl_expired", True),
    }
