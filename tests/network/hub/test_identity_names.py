"""Identity, names and ownership: random ids, separate namespaces, atomic and resumable registration.

Every test runs on a real SQLite file; "a restart" is a new Hub opened on the same
file after the first one closed.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from hubbub.agent import Agent
from hubbub.knowledge import KnowledgeStore
from hubbub.knowledge.sqlite import SqliteKnowledgeStore
from hubbub.network import (
    EV_TEXT,
    AccessBlock,
    Envelope,
    Hub,
    HubClient,
    InvalidValueError,
    LocalLink,
    NameTakenError,
    NotFoundError,
    Passport,
    Resume,
    Rule,
    StoreUnavailableError,
)
from hubbub.network.hub import layout
from hubbub.network.ids import ID_LENGTH, looks_like_id, make_id
from hubbub.network.transport.client import ClientConnection
from hubbub.testing import TestConfig

HUB_KW: dict[str, Any] = {
    "ttl_sweep_interval": 0,
    "expectation_sweep_interval": 0,
    "snapshot_interval": 0,
    "invite_ack_timeout": 5,
}
CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


class FailingStore:
    """A store that fails chosen writes or appends (once each), and can slow writes down."""

    def __init__(self, inner: KnowledgeStore) -> None:
        self.inner = inner
        self.fail_write: list[str] = []  # path suffixes: the next write to each fails once
        self.fail_append: list[str] = []
        self.write_delay = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def write(self, path: str, content: str) -> None:
        for suffix in self.fail_write:
            if path.endswith(suffix):
                self.fail_write.remove(suffix)
                raise OSError(28, "No space left on device")
        if self.write_delay:
            await asyncio.sleep(self.write_delay)
        await self.inner.write(path, content)

    async def append(self, path: str, content: str) -> int:
        for prefix in self.fail_append:
            if path.startswith(prefix):
                self.fail_append.remove(prefix)
                raise OSError(28, "No space left on device")
        return await self.inner.append(path, content)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "hub.db"


@pytest.fixture
async def store(db: Path) -> AsyncIterator[SqliteKnowledgeStore]:
    s = SqliteKnowledgeStore(db)
    yield s
    await s.close()


def agent(name: str, *replies: str) -> Agent:
    return Agent(name, prompt=f"You are {name}.", config=TestConfig(*(replies or ("ok",))))


async def restart(hub: Hub, db: Path) -> tuple[Hub, SqliteKnowledgeStore]:
    """Close ``hub`` and its store; open a new hub on the same file."""
    store = hub.store
    await hub.close()
    await store.close()
    new_store = SqliteKnowledgeStore(db)
    return await Hub.open(new_store, **HUB_KW), new_store


async def connection_for(hub: Hub, principal: str) -> ClientConnection:
    """An open connection acting for ``principal``, as one a wire transport authenticated."""
    connection = ClientConnection(LocalLink(hub, principal=principal).client())
    await connection.open()
    return connection


async def register_as(hub: Hub, principal: str, passport: Passport) -> Passport:
    """Register ``passport`` through a new connection of ``principal``; the stamped passport."""
    return (await (await connection_for(hub, principal)).register(passport)).passport


# ---------------------------------------------------------------------------- ids


def test_an_ids_time_part_is_its_millisecond_in_base32() -> None:
    from hubbub.network.ids import _encode_time

    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

    def reference(ms: int) -> str:
        return "".join(alphabet[(ms >> (5 * k)) & 31] for k in range(9, -1, -1))

    base = 1_764_806_022_000
    # across the 1,024 ms steps where the cached high part changes, forwards and back
    moments = [base + d for d in (0, 1, 1023, 1024, 1025, 2047, 2048, 5, 1_000_000, 3)]
    moments += [0, 1, 2**48 - 1, 2**48 - 1024, 2**47]
    for ms in moments:
        assert _encode_time(ms) == reference(ms), ms
    before = time.time_ns() // 1_000_000
    made = make_id()
    after = time.time_ns() // 1_000_000
    decoded = int("".join(f"{alphabet.index(c):05b}" for c in made[:10]), 2)
    assert before <= decoded <= after


def test_ids_are_not_predictable() -> None:
    ids = [make_id() for _ in range(4000)]
    assert len(set(ids)) == len(ids)
    for i in ids:
        assert len(i) == ID_LENGTH and set(i) <= CROCKFORD and looks_like_id(i)
    # Time-sortable: the first 10 characters are the millisecond, so they never go back.
    times = [i[:10] for i in ids]
    assert times == sorted(times)
    # Beyond the time part nothing is shared: consecutive ids made in the same
    # millisecond have unrelated random parts (no base + counter, no common prefix).
    randoms = [i[10:] for i in ids]
    common = [_common_prefix(a, b) for a, b in itertools.pairwise(randoms)]
    assert max(common) <= 5  # P(6 equal leading characters) = 32**-6 per pair
    assert sum(common) / len(common) < 0.2  # expected ~1/31
    values = [int.from_bytes(r.encode(), "big") for r in randoms]
    diffs = {b - a for a, b in itertools.pairwise(values)}
    assert len(diffs) > len(values) // 2  # not an arithmetic progression
    # Every random character position is uniform-ish over the 32 symbols.
    for pos in range(16):
        seen = {r[pos] for r in randoms}
        assert len(seen) == 32, pos
    # A forked child never repeats the parent's ids.
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.write(write, "".join(make_id() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 1 << 16).decode()
    os.close(read)
    child_ids = {child[i : i + ID_LENGTH] for i in range(0, len(child), ID_LENGTH)}
    parent_ids = {make_id() for _ in range(50)}
    assert len(child_ids) == 50 and not child_ids & parent_ids


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


async def test_hub_assigned_ids_have_the_random_format(store: SqliteKnowledgeStore) -> None:
    hub = await Hub.open(store, **HUB_KW)
    hc = HubClient(LocalLink(hub), hub=hub)
    try:
        a = await hc.register(agent("a"), Passport(name="a"), Resume())
        a.on_envelope(_ignore)  # the creator needs no handler; b acks and answers once
        b = await hc.register(agent("b"), Passport(name="b"), Resume())
        session = await a.open(type="conversation", target="b")
        eid = await session.send("hi")
        for value in (a.agent_id, b.agent_id, session.session_id, eid):
            assert len(value) == ID_LENGTH and looks_like_id(value)
    finally:
        await hc.close()
        await hub.close()


async def _ignore(envelope: Envelope) -> None:
    """A handler that does nothing."""


# ---------------------------------------------------------------------------- namespaces


async def test_name_equal_to_another_agents_id_is_refused(store: SqliteKnowledgeStore) -> None:
    hub = await Hub.open(store, **HUB_KW)
    hc = HubClient(LocalLink(hub), hub=hub)
    try:
        bob = await hc.register(agent("bob"), Passport(name="bob"), Resume())
        squatters = [
            bob.agent_id,  # bob's id itself
            bob.agent_id.lower(),  # the same id in another letter case
            make_id(),  # an id nobody has yet (a future one)
            "0" * 32,  # the 32-hex form older stores hold
        ]
        for name in squatters:
            with pytest.raises(InvalidValueError, match=r"Passport\.name .* form of an agent id"):
                await hc.register(agent("x"), Passport(name=name), Resume())
            with pytest.raises(InvalidValueError, match=r"Passport\.name"):
                await hub.register(Passport(name=name))
        assert [p.name for p in await hub.list_agents()] == ["bob"]
        assert await store.list(layout.AGENTS_DIR) == [f"{bob.agent_id}/"]
        # Names that merely resemble ids are fine.
        ok = await hub.register(Passport(name=bob.agent_id[:-1]))
        assert ok.agent_id != bob.agent_id
    finally:
        await hc.close()
        await hub.close()


async def test_lookup_by_id_is_never_shadowed_by_a_name(
    db: Path, store: SqliteKnowledgeStore
) -> None:
    hub = await Hub.open(store, **HUB_KW)
    bob = await hub.register(Passport(name="bob"))
    assert bob.agent_id is not None
    # A store written before names were checked: an agent whose *name* is bob's id.
    squatter_id = make_id()
    squatter = Passport(name=bob.agent_id, agent_id=squatter_id, created_at=hub.now())
    await store.write(layout.passport_path(squatter_id), orjson.dumps(squatter.to_dict()).decode())
    hub, store = await restart(hub, db)
    try:
        assert {p.agent_id for p in await hub.list_agents()} == {bob.agent_id, squatter_id}
        assert (await hub.get_agent(bob.agent_id)).name == "bob"
        assert (await hub.get_agent("bob")).agent_id == bob.agent_id
        assert (await hub.get_agent(squatter_id)).agent_id == squatter_id
        # An id-shaped string is looked up as an id only, never as a name.
        with pytest.raises(NotFoundError):
            await hub.get_agent(make_id())
        # What is meant for bob reaches bob: a session opened "with bob's id".
        hc = HubClient(LocalLink(hub), hub=hub)
        alice = await hc.register(agent("alice"), Passport(name="alice"), Resume())
        bob_hc = HubClient(LocalLink(hub), hub=hub)
        bob_client = await bob_hc.register(agent("bob"), Passport(name="bob"), Resume())
        assert bob_client.agent_id == bob.agent_id
        session = await alice.open(type="conversation", target=bob.agent_id)
        assert set(session.metadata.participant_ids()) == {alice.agent_id, bob.agent_id}
        await hc.close()
        await bob_hc.close()
    finally:
        await hub.close()
        await store.close()


# ---------------------------------------------------------------------------- atomic registration


@pytest.mark.parametrize("fail", ["passport.json", "resume.json", "rule.json", "SKILL.md", "audit"])
async def test_failed_registration_write_leaves_no_ghost(db: Path, fail: str) -> None:
    store = FailingStore(SqliteKnowledgeStore(db))
    hub = await Hub.open(store, **HUB_KW)
    bob_hc = HubClient(LocalLink(hub), hub=hub)
    alice_hc = HubClient(LocalLink(hub), hub=hub)
    try:
        bob = await bob_hc.register(agent("bob"), Passport(name="bob"), Resume())
        if fail == "audit":
            store.fail_append.append(layout.AUDIT_DIR)
        else:
            store.fail_write.append(fail)
        with pytest.raises(StoreUnavailableError, match="No space left on device") as info:
            await alice_hc.register(
                agent("alice"), Passport(name="alice"), Resume(summary="asks"), skill_md="# alice"
            )
        assert info.value.code == "store_unavailable"
        # Nothing claimed: not in memory, not in the store, nobody can open a session with it.
        with pytest.raises(NotFoundError):
            await hub.get_agent("alice")
        assert [p.name for p in await hub.list_agents()] == ["bob"]
        assert hub._registry._claims == set()
        assert await store.list(layout.AGENTS_DIR) == [f"{bob.agent_id}/"]
        # Refused before any invite (an invite to a ghost would end in SessionTimeoutError).
        with pytest.raises(NotFoundError):
            await bob.open(type="conversation", target="alice")
        assert hub._table.live == {}
        # The retry succeeds once the store works, and survives a restart.
        alice = await alice_hc.register(
            agent("alice"), Passport(name="alice"), Resume(summary="asks"), skill_md="# alice"
        )
        assert (await hub.get_agent("alice")).agent_id == alice.agent_id
        await alice_hc.close()
        await bob_hc.close()
        await hub.close()
        await store.inner.close()
        store = FailingStore(SqliteKnowledgeStore(db))
        hub = await Hub.open(store, **HUB_KW)
        assert sorted(p.name for p in await hub.list_agents()) == ["alice", "bob"]
        assert (await hub.get_agent("alice")).agent_id == alice.agent_id
        assert (await hub.get_resume(alice.agent_id)).summary == "asks"
        assert await hub.get_skill(alice.agent_id) == "# alice"
    finally:
        await hub.close()
        await store.inner.close()


async def test_concurrent_registrations_of_one_name_claim_it_once(db: Path) -> None:
    store = FailingStore(SqliteKnowledgeStore(db))
    store.write_delay = 0.02  # every write yields: the registrations really overlap
    hub = await Hub.open(store, **HUB_KW)
    clients = [HubClient(LocalLink(hub), hub=hub) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(hc.register(agent("alice"), Passport(name="alice"), Resume()) for hc in clients),
            return_exceptions=True,
        )
        won = [r for r in results if not isinstance(r, BaseException)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1
        assert all(isinstance(e, NameTakenError) for e in lost), lost
        assert len(await store.list(layout.AGENTS_DIR)) == 1
    finally:
        for hc in clients:
            await hc.close()
        await hub.close()
        await store.inner.close()


async def test_register_arguments_are_checked(store: SqliteKnowledgeStore) -> None:
    hub = await Hub.open(store, **HUB_KW)
    hc = HubClient(LocalLink(hub), hub=hub)
    try:
        with pytest.raises(
            InvalidValueError, match=r"register\(passport=\.\.\.\) must be a Passport, got dict"
        ):
            await hc.register(agent("a"), {"name": "a"}, Resume())  # type: ignore[arg-type]
        with pytest.raises(InvalidValueError, match=r"register\(resume=\.\.\.\)"):
            await hc.register(agent("a"), Passport(name="a"), {"summary": "x"})  # type: ignore[arg-type]
        with pytest.raises(InvalidValueError, match=r"register\(rule=\.\.\.\)"):
            await hc.register(agent("a"), Passport(name="a"), Resume(), rule="open")  # type: ignore[arg-type]
        with pytest.raises(InvalidValueError, match=r"register\(agent=\.\.\.\)"):
            await hc.register("a", Passport(name="a"), Resume())  # type: ignore[arg-type]
        with pytest.raises(InvalidValueError, match="passport must be a Passport, got dict"):
            await hub.register(passport={"name": "a"})  # type: ignore[arg-type]
        with pytest.raises(InvalidValueError, match="resume must be a Resume"):
            await hub._registry.register(Passport(name="a"), "x")  # type: ignore[arg-type]
        assert await hub.list_agents() == []
        assert await store.list(layout.AGENTS_DIR) == []
    finally:
        await hc.close()
        await hub.close()


# ---------------------------------------------------------------------------- restart & ownership


async def test_reregister_after_restart_returns_same_agent_id(
    db: Path, store: SqliteKnowledgeStore
) -> None:
    hub = await Hub.open(store, **HUB_KW)
    hc = HubClient(LocalLink(hub), hub=hub)
    first = await hc.register(
        agent("alice"),
        Passport(name="alice", model="m1"),
        Resume(summary="asks questions", claimed_capabilities=["ask"]),
        skill_md="# v1",
    )
    created_at = first.passport.created_at
    await hc.close()
    hub, store = await restart(hub, db)
    try:
        # Same records: same id, nothing rewritten, no version bumped.
        hc = HubClient(LocalLink(hub), hub=hub)
        again = await hc.register(
            agent("alice"),
            Passport(name="alice", model="m1"),
            Resume(summary="asks questions", claimed_capabilities=["ask"]),
        )
        assert again.agent_id == first.agent_id
        assert again.passport.created_at == created_at
        assert again.passport.version == 1
        assert again.resume.version == 1
        assert await hub.get_skill(first.agent_id) == "# v1"  # None kept the stored skill
        await hc.close()
        hub, store = await restart(hub, db)
        # Different records: they replace the stored ones, versions bumped.
        hc = HubClient(LocalLink(hub), hub=hub)
        strict = Rule(access=AccessBlock(inbound_from=["bob"]))
        changed = await hc.register(
            agent("alice"),
            Passport(name="alice", model="m2"),
            Resume(summary="answers now", claimed_capabilities=["answer"]),
            rule=strict,
            skill_md="# v2",
        )
        assert changed.agent_id == first.agent_id
        assert changed.passport.model == "m2" and changed.passport.version == 2
        assert changed.passport.created_at == created_at
        assert changed.resume.summary == "answers now" and changed.resume.version == 2
        assert changed.rule.access.inbound_from == ["bob"] and changed.rule.version == 2
        assert hub.agents_with_capability("answer") == [first.agent_id]
        assert hub.agents_with_capability("ask") == []
        assert [p.agent_id for p in await hub.list_agents()] == [first.agent_id]
        await hc.close()
        hub, store = await restart(hub, db)
        assert (await hub.get_agent("alice")).model == "m2"
        assert (await hub.get_resume(first.agent_id)).summary == "answers now"
        assert (await hub.get_rule(first.agent_id)).access.inbound_from == ["bob"]
        assert await hub.get_skill(first.agent_id) == "# v2"
        # The operator's own surface takes the agent back too.
        assert (await hub.register(Passport(name="alice", model="m2"))).agent_id == first.agent_id
    finally:
        await hub.close()
        await store.close()


async def test_name_held_by_live_connection_is_refused(store: SqliteKnowledgeStore) -> None:
    hub = await Hub.open(store, **HUB_KW)
    holder = HubClient(LocalLink(hub), hub=hub)
    other = HubClient(LocalLink(hub), hub=hub)
    try:
        alice = await holder.register(agent("alice"), Passport(name="alice"), Resume())
        with pytest.raises(
            NameTakenError, match="name 'alice' is held by a live connection"
        ) as info:
            await other.register(agent("alice"), Passport(name="alice"), Resume())
        assert info.value.code == "name_taken"
        with pytest.raises(NameTakenError, match="held by a live connection"):
            await holder.register(agent("alice"), Passport(name="alice"), Resume())  # itself too
        with pytest.raises(NameTakenError, match="held by a live connection"):
            await hub.register(Passport(name="alice"))
        assert hub.is_online(alice.agent_id)
        # Once the holder disconnects, the owner may take the name back: same id.
        await holder.close()
        back = await other.register(agent("alice"), Passport(name="alice"), Resume())
        assert back.agent_id == alice.agent_id
        assert len(await hub.list_agents()) == 1
    finally:
        await holder.close()
        await other.close()
        await hub.close()


async def test_other_principal_gets_name_taken(db: Path, store: SqliteKnowledgeStore) -> None:
    hub = await Hub.open(store, **HUB_KW)
    alice = await register_as(hub, "tenant-a", Passport(name="alice"))
    await hub.close()
    await store.close()
    store = SqliteKnowledgeStore(db)
    hub = await Hub.open(store, **HUB_KW)
    try:
        # Nobody holds "alice" after the restart, but she belongs to tenant-a.
        for principal in ("tenant-b", "operator"):
            with pytest.raises(NameTakenError, match="name 'alice' belongs to another owner"):
                await register_as(hub, principal, Passport(name="alice"))
        with pytest.raises(NameTakenError, match="belongs to another owner"):
            await hub.register(Passport(name="alice"))  # the in-process operator is not tenant-a
        again = await register_as(hub, "tenant-a", Passport(name="alice"))
        assert again.agent_id == alice.agent_id
    finally:
        await hub.close()
        await store.close()


async def test_reregistered_agent_answers_in_its_live_sessions_with_their_history(
    db: Path, store: SqliteKnowledgeStore
) -> None:
    from hubbub.testing import TrackingConfig

    hub = await Hub.open(store, **HUB_KW)
    alice_hc = HubClient(LocalLink(hub), hub=hub)
    bob_hc = HubClient(LocalLink(hub), hub=hub)
    alice = await alice_hc.register(agent("alice"), Passport(name="alice"), Resume())
    alice.on_envelope(_ignore)
    bob = await bob_hc.register(agent("bob", "answer one"), Passport(name="bob"), Resume())
    session = await alice.open(type="conversation", target="bob")
    await session.send("question one")
    await alice.wait_for_session_event(
        session_id=session.session_id,
        predicate=lambda e: e.event_type == EV_TEXT and e.sender_id == bob.agent_id,
        timeout=10,
    )
    await alice_hc.close()
    await bob_hc.close()
    hub, store = await restart(hub, db)
    try:
        alice_hc = HubClient(LocalLink(hub), hub=hub)
        bob_hc = HubClient(LocalLink(hub), hub=hub)
        alice2 = await alice_hc.register(agent("alice"), Passport(name="alice"), Resume())
        alice2.on_envelope(_ignore)
        tracking = TrackingConfig(TestConfig("answer two"))
        bob2 = await bob_hc.register(
            Agent("bob", prompt="You are bob.", config=tracking), Passport(name="bob"), Resume()
        )
        assert (alice2.agent_id, bob2.agent_id) == (alice.agent_id, bob.agent_id)
        assert session.session_id in bob2._records  # adopted at registration
        await alice2.send_envelope(
            Envelope(session.session_id, alice2.agent_id, None, EV_TEXT, {"text": "question two"})
        )
        reply = await alice2.wait_for_session_event(
            session_id=session.session_id,
            predicate=lambda e: e.event_type == EV_TEXT and e.sender_id == bob.agent_id,
            timeout=10,
        )
        assert reply.event_data["text"] == "answer two"
        (call,) = tracking.calls
        seen = orjson.dumps([repr(m) for m in call.messages]).decode()
        assert "question one" in seen and "answer one" in seen  # the history from before
        texts = [
            e.event_data["text"]
            for e in await hub.read_wal(session.session_id)
            if e.event_type == EV_TEXT
        ]
        assert texts == ["question one", "answer one", "question two", "answer two"]
        await alice_hc.close()
        await bob_hc.close()
    finally:
        await hub.close()
        await store.close()


class CountingStore(FailingStore):
    """Counts single reads of agent records and bulk reads."""

    def __init__(self, inner: KnowledgeStore) -> None:
        super().__init__(inner)
        self.agent_reads = 0
        self.bulk_reads = 0

    async def read(self, path: str) -> str | None:
        if path.startswith(layout.AGENTS_DIR):
            self.agent_reads += 1
        return await self.inner.read(path)

    async def read_many(self, paths: list[str]) -> list[str | None]:
        if any(p.startswith(layout.AGENTS_DIR) for p in paths):
            self.bulk_reads += 1
        return await self.inner.read_many(paths)


async def test_registry_load_reads_every_agent_in_one_bulk_read(db: Path) -> None:
    store = SqliteKnowledgeStore(db)
    hub = await Hub.open(store, **HUB_KW)
    strict = Rule(access=AccessBlock(inbound_from=["a0"]))
    for i in range(60):
        await hub.register(Passport(name=f"a{i}"), Resume(summary=f"{i % 3}"), rule=strict)
    await hub.close()
    await store.close()
    counting = CountingStore(SqliteKnowledgeStore(db))
    hub = await Hub.open(counting, **HUB_KW)
    try:
        assert (counting.agent_reads, counting.bulk_reads) == (0, 1)
        agents = await hub.list_agents(limit=100, sort_by="name")
        assert len(agents) == 60
        rules = [await hub.get_rule(p.agent_id) for p in agents if p.agent_id]
        assert all(r.access.inbound_from == ["a0"] for r in rules)
        assert (await hub.get_resume(agents[1].agent_id or "")).summary == "1"  # a1
    finally:
        await hub.close()
        await counting.inner.close()
