"""Hypothesis over the public API's inputs: refusals are NetworkErrors that write nothing.

Issue 8: every call of the public API (the hub's operator methods and the
clients) with any input either returns or raises a ``NetworkError`` (never a
bare ``TypeError``/``ValueError``/``KeyError``/``OverflowError``/``RecursionError``
or a store's path error); a refused call writes nothing (the store's files and
their contents, audit aside, are unchanged); and the hub serves the next
ordinary call.

Each example gets its own world: a Hub on a MemoryKnowledgeStore, two agents
(alice, bob) registered through HubClients on a LocalLink, and an ACTIVE
conversation between them. Bob's handler acks invites but never answers, so
nothing is written behind the test's back. The first half of this file is
properties over generated inputs; the second is a catalogue of the specific
hostile inputs issue 8 lists, one test case each, so a failure names its input.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubbub.agent import Agent
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import (
    EV_TEXT,
    Envelope,
    Hub,
    HubClient,
    LocalLink,
    NetworkError,
    Passport,
    Resume,
    Rule,
)
from hubbub.network.client import AgentClient, Session, default_handler
from hubbub.network.envelope import is_protocol_event
from hubbub.testing import TestConfig

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Longest any single call may take; a call that hangs fails the property.
CALL_TIMEOUT = 5.0
REFUSED = object()


# --------------------------------------------------------------------------- the world


class World:
    """One hub, alice and bob registered through HubClients, and an ACTIVE conversation."""

    hub: Hub
    store: MemoryKnowledgeStore
    alice: AgentClient
    bob: AgentClient
    session: Session
    clients: list[HubClient]

    @classmethod
    async def build(cls) -> World:
        world = cls()
        world.store = MemoryKnowledgeStore()
        world.hub = await Hub.open(
            world.store, ttl_sweep_interval=0, expectation_sweep_interval=0, invite_ack_timeout=2
        )
        link = LocalLink(world.hub)
        world.clients = [HubClient(link, hub=world.hub), HubClient(link, hub=world.hub)]
        world.alice = await world.register(world.clients[0], "alice")
        world.bob = await world.register(world.clients[1], "bob")
        world.session = await world.alice.open(type="conversation", target="bob")
        return world

    @staticmethod
    async def register(hc: HubClient, name: str) -> AgentClient:
        # No network plugin: building its tools' schemas would dominate each example.
        client = await hc.register(
            Agent(name, config=TestConfig("ok")), Passport(name=name), Resume(), attach_plugin=False
        )

        async def quiet(envelope: Envelope) -> None:
            # Ack invites (protocol events get the default handling); never answer text,
            # so no model turn writes to the store while the test compares snapshots.
            if is_protocol_event(envelope.event_type):
                await default_handler(envelope, client)

        client.on_envelope(quiet)
        return client

    @property
    def sid(self) -> str:
        return self.session.session_id

    async def snapshot(self) -> dict[str, str | None]:
        """Every file in the store (path -> content), the audit log aside."""
        files: dict[str, str | None] = {}
        dirs = ["/"]
        while dirs:
            path = dirs.pop()
            for entry in await self.store.list(path):
                full = path.rstrip("/") + "/" + entry.rstrip("/")
                if entry.endswith("/"):
                    if full != "/audit":
                        dirs.append(full)
                else:
                    files[full] = await self.store.read(full)
        return files

    async def ordinary(self) -> None:
        """The hub serves an ordinary call: a text in a live session is logged."""
        meta = await self.hub.get_session(self.sid)
        sid = self.sid
        if meta.state.value != "active":
            sid = (await self.alice.open(type="conversation", target="bob")).session_id
        before = len(await self.hub.read_wal(sid))
        await self.hub.post_envelope(
            Envelope(sid, self.alice.agent_id, None, EV_TEXT, {"text": "still here"})
        )
        assert len(await self.hub.read_wal(sid)) == before + 1

    async def close(self) -> None:
        for hc in self.clients:
            await hc.close()
        await self.hub.close()


def run(scenario: Callable[[World], Awaitable[None]]) -> None:
    """Run ``scenario`` against a fresh world in a fresh event loop."""

    async def main() -> None:
        world = await World.build()
        try:
            await scenario(world)
        finally:
            await world.close()

    asyncio.run(main())


async def refused_cleanly_or_done(
    world: World, call: Callable[[], Awaitable[Any]], *, writes: bool = True
) -> Any:
    """Make ``call``; a refusal must be a NetworkError that changed nothing.

    Returns the call's result, or ``REFUSED``. Any other exception propagates and
    fails the property. Afterwards the hub must serve an ordinary call. With
    ``writes=False`` (a read) the store must be unchanged whatever the outcome.
    """
    before = await world.snapshot()
    try:
        result = await asyncio.wait_for(call(), CALL_TIMEOUT)
    except NetworkError:
        after = await world.snapshot()
        assert _diff(before, after) == {}, "a refused call wrote to the store"
        result = REFUSED
    else:
        if not writes:
            assert _diff(before, await world.snapshot()) == {}, "a read wrote to the store"
    await world.ordinary()
    return result


def _diff(before: dict[str, str | None], after: dict[str, str | None]) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(set(before) | set(after)):
        if path not in before:
            out[path] = "created"
        elif path not in after:
            out[path] = "deleted"
        elif before[path] != after[path]:
            out[path] = "changed"
    return out


# --------------------------------------------------------------------------- strategies


def deep(levels: int) -> Any:
    """A value nested ``levels`` containers deep (dicts for odd counts, lists for even)."""
    value: Any = "bottom"
    for _ in range(levels):
        value = {"d": value} if levels % 2 else [value]
    return value


@dataclasses.dataclass(frozen=True)
class Deep:
    """Stands in for ``deep(levels)`` in generated data: Hypothesis prints it short
    (its printer recurses, so it cannot show a value thousands of levels deep)."""

    levels: int

    def __repr__(self) -> str:
        return f"deep({self.levels})"


def real(value: Any) -> Any:
    """``value`` with every Deep stand-in replaced by the deep value it names."""
    if isinstance(value, Deep):
        return deep(value.levels)
    if isinstance(value, dict):
        return {k: real(v) for k, v in value.items()}
    if isinstance(value, list):
        return [real(v) for v in value]
    if isinstance(value, tuple):
        return tuple(real(v) for v in value)
    return value


HOSTILE_SCALARS: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    2**64,
    2**70,
    -(2**63) - 1,
    10**400,
    "\ud800",
    "ok\udfffok",
    b"bytes",
    {1, 2},
    frozenset({"a"}),
    object(),
    Decimal("1.5"),
    datetime(2026, 1, 1),
    1j,
    Ellipsis,
    type,
]
plain_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
scalars = plain_scalars | st.sampled_from(HOSTILE_SCALARS)
keys = st.text(max_size=8) | st.integers() | st.none() | st.just("\udc80") | st.just((1, 2))
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.tuples(inner) | st.dictionaries(keys, inner, max_size=3)
    ),
    max_leaves=12,
) | st.integers(min_value=60, max_value=3000).map(Deep)

SESSION_IDS: list[Any] = [
    ".",
    "..",
    "\x00",
    "a\x00b",
    "/",
    "a/b",
    "../agents",
    "..\\..",
    "",
    " ",
    "x" * 10_000,
    "\ud800",
    "sessions",
    "wal.jsonl",
    "%2e%2e",
    None,
    5,
    b"sid",
    ["sid"],
    {"id": 1},
]
session_ids = st.sampled_from(SESSION_IDS) | st.text(max_size=30)

DURATIONS: list[Any] = [
    math.inf,
    -math.inf,
    math.nan,
    1e300,
    -1,
    -5.5,
    "99999999999999d",
    "9" * 5000,
    "abc",
    "-5s",
    "1.5h",
    True,
    [1],
    {"s": 1},
    b"5s",
    10**400,
    "30s",
    60,
    None,
]
durations = st.sampled_from(DURATIONS) | st.integers() | st.floats() | st.text(max_size=8)

junk = (
    scalars
    | st.sampled_from(SESSION_IDS)
    | st.lists(scalars, max_size=3)
    | st.dictionaries(keys, scalars, max_size=3)
)

EVENT_TYPES = [
    EV_TEXT,
    "app.custom",
    "ag2.session.closed",
    "ag2.session.opened",
    "ag2.session.invite",
    "ag2.session.invite.ack",
    "ag2.session.made_up",
    "ag2.task.progress",
    "ag2.task.made_up",
    "",
    "x" * 5000,
    "\ud800",
    None,
    5,
]
ENVELOPE_FIELDS = [f.name for f in dataclasses.fields(Envelope)]


@st.composite
def envelope_changes(draw: st.DrawFn) -> dict[str, Any]:
    """Which fields of an otherwise good envelope to replace, and with what."""
    changes: dict[str, Any] = {"event_data": {"text": draw(st.text(max_size=5)), "v": draw(values)}}
    for name in draw(st.lists(st.sampled_from(ENVELOPE_FIELDS), max_size=3, unique=True)):
        if name == "session_id":
            changes[name] = draw(session_ids)
        elif name == "event_type":
            changes[name] = draw(st.sampled_from(EVENT_TYPES) | junk)
        elif name == "event_data":
            changes[name] = draw(values | junk)
        else:
            changes[name] = draw(junk)
    return changes


def good_envelope(world: World) -> Envelope:
    return Envelope(world.sid, world.alice.agent_id, None, EV_TEXT, {"text": "hi"})


# --------------------------------------------------------------------------- properties


@FUZZ
@given(envelope_changes(), st.booleans())
def test_post_envelope_returns_or_refuses_cleanly(changes: dict[str, Any], by_hub: bool) -> None:
    """Any envelope, posted by the operator (hub) or a client connection."""

    async def scenario(world: World) -> None:
        env = good_envelope(world)
        for name, value in changes.items():
            object.__setattr__(env, name, real(value))
        post = world.hub.post_envelope if by_hub else world.alice.connection.post
        await refused_cleanly_or_done(world, lambda: post(env))

    run(scenario)


@FUZZ
@given(
    content=st.text(max_size=20) | junk,
    audience=st.none() | junk,
    causation_id=st.none() | junk,
    event_type=st.sampled_from(EVENT_TYPES) | junk,
    event_data=st.none() | values | junk,
    depth=st.none() | junk,
)
def test_session_send_returns_or_refuses_cleanly(
    content: Any, audience: Any, causation_id: Any, event_type: Any, event_data: Any, depth: Any
) -> None:
    async def scenario(world: World) -> None:
        await refused_cleanly_or_done(
            world,
            lambda: world.session.send(
                content,
                audience=audience,
                causation_id=causation_id,
                event_type=event_type,
                event_data=real(event_data),
                depth=depth,
            ),
        )

    run(scenario)


@st.composite
def create_kwargs(draw: st.DrawFn) -> dict[str, Any]:
    """create_session arguments: each one either good or hostile."""
    kwargs: dict[str, Any] = {}
    choices = {
        "creator_id": st.just("ALICE") | junk,
        "manifest_type": st.sampled_from(["conversation", "consulting"]) | junk,
        "participants": st.just(["BOB"]) | junk | st.lists(junk, max_size=2),
        "ttl": durations,
        "knobs": st.none() | values | junk,
        "intent": st.none() | st.text(max_size=10) | junk,
        "labels": st.none()
        | st.dictionaries(keys, scalars, max_size=3)
        | st.just({"big": "x" * 5_000_000})
        | junk,
        "required_acks": junk,
        "manifest_version": junk,
    }
    for name in ("creator_id", "manifest_type", "participants"):
        kwargs[name] = draw(choices[name])
    for name in draw(
        st.lists(
            st.sampled_from(
                ["ttl", "knobs", "intent", "labels", "required_acks", "manifest_version"]
            ),
            max_size=3,
            unique=True,
        )
    ):
        kwargs[name] = draw(choices[name])
    return kwargs


def _resolve(world: World, kwargs: dict[str, Any]) -> dict[str, Any]:
    ids = {"ALICE": world.alice.agent_id, "BOB": world.bob.agent_id}
    out = dict(kwargs)
    if out.get("creator_id") == "ALICE":
        out["creator_id"] = ids["ALICE"]
    if out.get("participants") == ["BOB"]:
        out["participants"] = [ids["BOB"]]
    return out


@FUZZ
@given(create_kwargs())
def test_create_session_returns_or_refuses_cleanly(kwargs: dict[str, Any]) -> None:
    async def scenario(world: World) -> None:
        args = real(_resolve(world, kwargs))
        await refused_cleanly_or_done(world, lambda: world.hub.create_session(**args))

    run(scenario)


@FUZZ
@given(
    type_=st.sampled_from(["conversation", "consulting"]) | junk,
    target=st.sampled_from(["bob", ["bob"], None, [], [None], ["bob", 5], "nobody", ""]) | junk,
    ttl=durations,
    knobs=st.none() | values | junk,
    intent=st.none() | junk,
    labels=st.none() | st.dictionaries(keys, scalars, max_size=2) | junk,
)
def test_agent_open_returns_or_refuses_cleanly(
    type_: Any, target: Any, ttl: Any, knobs: Any, intent: Any, labels: Any
) -> None:
    async def scenario(world: World) -> None:
        await refused_cleanly_or_done(
            world,
            lambda: world.alice.open(
                type=type_,
                target=target,
                ttl=ttl,
                knobs=real(knobs),
                intent=intent,
                labels=labels,
            ),
        )

    run(scenario)


@FUZZ
@given(
    session_id=st.just("REAL") | session_ids,
    since=st.sampled_from([0, -1, -(10**20), 10**20, 1.5, math.nan, "3", None, True]) | junk,
    until=st.sampled_from([None, -1, 0, 10**20, "x", math.inf]) | junk,
    by_hub=st.booleans(),
)
def test_read_wal_returns_a_list_or_refuses_and_writes_nothing(
    session_id: Any, since: Any, until: Any, by_hub: bool
) -> None:
    async def scenario(world: World) -> None:
        sid = world.sid if session_id == "REAL" else session_id
        if by_hub:
            call = lambda: world.hub.read_wal(sid, since=since, until=until)  # noqa: E731
        else:
            call = lambda: world.alice.read_wal(sid, since=since, until=until)  # noqa: E731
        result = await refused_cleanly_or_done(world, call, writes=False)
        assert result is REFUSED or isinstance(result, list)

    run(scenario)


@FUZZ
@given(session_id=session_ids, op=st.sampled_from(["get", "close", "post", "client_close"]))
def test_hostile_session_ids_are_refused_cleanly(session_id: Any, op: str) -> None:
    async def scenario(world: World) -> None:
        hub = world.hub
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "get": lambda: hub.get_session(session_id),
            "close": lambda: hub.close_session(session_id),
            "post": lambda: hub.post_envelope(
                Envelope(session_id, world.alice.agent_id, None, EV_TEXT, {"text": "x"})
            ),
            "client_close": lambda: world.alice.close_session(session_id),
        }
        result = await refused_cleanly_or_done(world, calls[op])
        assert result is REFUSED, f"{op}({session_id!r}) was accepted"

    run(scenario)


PASSPORT_FIELDS = [f.name for f in dataclasses.fields(Passport)]
RESUME_FIELDS = [f.name for f in dataclasses.fields(Resume)]
RULE_PATHS = [
    ("version",),
    ("access", "inbound_from"),
    ("access", "outbound_to"),
    ("access", "session_types", "accept"),
    ("limits", "session_ttl_default"),
    ("limits", "task_ttl_default"),
    ("limits", "max_concurrent_sessions"),
    ("limits", "delegation_depth"),
    ("limits", "rate", "per_minute"),
    ("limits", "inbox", "max_pending"),
    ("limits", "inbox", "overflow"),
    ("limits", "inbox", "high_water"),
]


def _set_path(record: Any, path: tuple[str, ...], value: Any) -> None:
    for name in path[:-1]:
        record = getattr(record, name)
    object.__setattr__(record, path[-1], value)


@st.composite
def registrations(draw: st.DrawFn) -> dict[str, Any]:
    """A passport, resume and rule: records changed after construction, or not records at all."""
    passport: Any = Passport(name="carol")
    resume: Any = Resume()
    rule: Any = Rule()
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "not_a_record"]))
    if kind == "mutated":
        for name in draw(st.lists(st.sampled_from(PASSPORT_FIELDS), max_size=2, unique=True)):
            object.__setattr__(passport, name, draw(junk | st.just("BOB_ID")))
        for name in draw(st.lists(st.sampled_from(RESUME_FIELDS), max_size=2, unique=True)):
            object.__setattr__(resume, name, draw(junk))
        for path in draw(st.lists(st.sampled_from(RULE_PATHS), max_size=2, unique=True)):
            _set_path(rule, path, draw(junk | durations))
    else:
        passport = draw(
            st.sampled_from(
                [passport, {"name": "carol"}, "carol", None, 5, [passport], Resume(), Rule()]
            )
        )
        resume = draw(st.sampled_from([resume, None, {"summary": "x"}, "sql", Rule(), 0]))
        rule = draw(st.sampled_from([rule, None, {"version": 1}, "strict", Resume(), 0]))
    return {"passport": passport, "resume": resume, "rule": rule}


@FUZZ
@given(registrations(), st.booleans())
def test_register_returns_or_refuses_cleanly(records: dict[str, Any], by_hub: bool) -> None:
    """A refused registration writes nothing and claims no name; an accepted one reloads."""

    async def scenario(world: World) -> None:
        passport = records["passport"]
        if isinstance(passport, Passport) and passport.name == "BOB_ID":
            object.__setattr__(passport, "name", world.bob.agent_id)
        if by_hub:

            async def call() -> Any:
                return await world.hub.register(passport, records["resume"], rule=records["rule"])
        else:
            hc = HubClient(LocalLink(world.hub), hub=world.hub)
            world.clients.append(hc)

            async def call() -> Any:
                return await hc.register(
                    Agent("carol", config=TestConfig("ok")),
                    passport,
                    records["resume"],
                    rule=records["rule"],
                    attach_plugin=False,
                )

        result = await refused_cleanly_or_done(world, call)
        known_ids = {world.alice.agent_id, world.bob.agent_id}
        if result is REFUSED:
            # Nothing was claimed: the name can still be registered properly.
            registered = await world.hub.register(Passport(name="carol"), Resume())
            assert registered.agent_id
        else:
            stamped = result if isinstance(result, Passport) else result.passport
            assert stamped.name not in known_ids, "a name equal to another agent's id"
            await _stored_records_reload(world, stamped.agent_id)

    run(scenario)


async def _stored_records_reload(world: World, agent_id: str) -> None:
    """What the registry stored for ``agent_id`` reads back as records (the hub can reopen)."""
    from hubbub.network.hub import layout

    for path, cls in (
        (layout.passport_path(agent_id), Passport),
        (layout.resume_path(agent_id), Resume),
        (layout.rule_path(agent_id), Rule),
    ):
        raw = await world.store.read(path)
        if raw is None:
            continue
        data = orjson.loads(raw)
        if cls is Passport:
            data = {k: v for k, v in data.items() if k in PASSPORT_FIELDS}
        cls.from_dict(data)  # type: ignore[attr-defined]


@FUZZ
@given(
    path=st.sampled_from(RULE_PATHS),
    value=junk | durations,
    as_dict=st.booleans(),
    target=st.sampled_from(["alice", "ghost", None, 5]),
)
def test_set_rule_returns_or_refuses_cleanly(
    path: tuple[str, ...], value: Any, as_dict: bool, target: Any
) -> None:
    async def scenario(world: World) -> None:
        rule: Any = Rule()
        _set_path(rule, path, value)
        if as_dict:
            rule = {"limits": {path[-1]: value}} if path[0] == "limits" else {path[-1]: value}
        agent_id = world.alice.agent_id if target == "alice" else target
        result = await refused_cleanly_or_done(world, lambda: world.hub.set_rule(agent_id, rule))
        if result is not REFUSED:
            await _stored_records_reload(world, world.alice.agent_id)
        await world.hub.set_rule(world.alice.agent_id, Rule())  # and it takes a good one

    run(scenario)


@FUZZ
@given(
    field_=st.sampled_from(RESUME_FIELDS), value=junk, target=st.sampled_from(["alice", "ghost"])
)
def test_set_resume_returns_or_refuses_cleanly(field_: str, value: Any, target: str) -> None:
    async def scenario(world: World) -> None:
        resume = Resume()
        object.__setattr__(resume, field_, value)
        agent_id = world.alice.agent_id if target == "alice" else target
        result = await refused_cleanly_or_done(
            world, lambda: world.hub.set_resume(agent_id, resume)
        )
        if result is not REFUSED:
            await _stored_records_reload(world, world.alice.agent_id)

    run(scenario)


# --------------------------------------------------------------------------- the catalogue
# Issue 8, item 7: the inputs that escaped as non-NetworkErrors. One case each.


def _post_data(data: Any) -> Callable[[World], Awaitable[Any]]:
    async def call(world: World) -> Any:
        return await world.hub.post_envelope(
            Envelope(world.sid, world.alice.agent_id, None, EV_TEXT, data)
        )

    return call


def _send_data(data: Any) -> Callable[[World], Awaitable[Any]]:
    async def call(world: World) -> Any:
        return await world.session.send(event_data=data)

    return call


def _post_field(name: str, value: Any) -> Callable[[World], Awaitable[Any]]:
    async def call(world: World) -> Any:
        env = good_envelope(world)
        object.__setattr__(env, name, value)
        return await world.hub.post_envelope(env)

    return call


def _client_post_field(name: str, value: Any) -> Callable[[World], Awaitable[Any]]:
    async def call(world: World) -> Any:
        env = good_envelope(world)
        object.__setattr__(env, name, value)
        return await world.alice.connection.post(env)

    return call


def _client_read_wal(session_id: Any) -> Callable[[World], Awaitable[Any]]:
    async def call(world: World) -> Any:
        return await world.alice.read_wal(session_id)

    return call


def _create(**kwargs: Any) -> Callable[[World], Awaitable[Any]]:
    async def call(world: World) -> Any:
        args = {
            "creator_id": world.alice.agent_id,
            "manifest_type": "conversation",
            "participants": [world.bob.agent_id],
            **kwargs,
        }
        return await world.hub.create_session(**args)

    return call


def _open(**kwargs: Any) -> Callable[[World], Awaitable[Any]]:
    async def call(world: World) -> Any:
        return await world.alice.open(**{"type": "conversation", "target": "bob", **kwargs})

    return call


def _hub(method: str, *args: Any, **kwargs: Any) -> Callable[[World], Awaitable[Any]]:
    async def call(world: World) -> Any:
        named = {"SID": world.sid, "ALICE": world.alice.agent_id}
        real = [named.get(a, a) if isinstance(a, str) else a for a in args]
        return await getattr(world.hub, method)(*real, **kwargs)

    return call


def _register(passport: Any, resume: Any = None, rule: Any = None) -> Callable[[World], Any]:
    async def call(world: World) -> Any:
        return await world.hub.register(passport, resume, rule=rule)

    return call


def _client_register(passport: Any) -> Callable[[World], Awaitable[Any]]:
    async def call(world: World) -> Any:
        hc = HubClient(LocalLink(world.hub), hub=world.hub)
        world.clients.append(hc)
        return await hc.register(
            Agent("carol", config=TestConfig("ok")), passport, Resume(), attach_plugin=False
        )

    return call


def _mutated_rule(*path: str, value: Any) -> Callable[[World], Awaitable[Any]]:
    async def call(world: World) -> Any:
        rule = Rule()
        _set_path(rule, path, value)
        return await world.hub.set_rule(world.alice.agent_id, rule)

    return call


def _mutated_register(field_: str, value: Any) -> Callable[[World], Awaitable[Any]]:
    async def call(world: World) -> Any:
        passport = Passport(name="carol")
        object.__setattr__(passport, field_, value)
        return await world.hub.register(passport, Resume())

    return call


CATALOGUE: dict[str, Callable[[World], Awaitable[Any]]] = {
    "post-nan": _post_data({"x": math.nan}),
    "post-inf": _post_data({"x": math.inf}),
    "post-set": _post_data({"x": {1, 2}}),
    "post-bytes": _post_data({"x": b"raw"}),
    "post-object": _post_data({"x": object()}),
    "post-datetime": _post_data({"x": datetime(2026, 1, 1)}),
    "post-int-key": _post_data({1: "x"}),
    "post-lone-surrogate": _post_data({"text": "\ud800"}),
    "post-lone-surrogate-key": _post_data({"\udc00": 1}),
    "post-deep-100": _post_data(deep(100)),
    "post-deep-100000": _post_data(deep(100_000)),
    "post-huge-int": _post_data({"n": 2**70}),
    "post-int-2**64": _post_data({"n": 2**64}),
    "post-int-10**5000": _post_data({"n": 10**5000}),
    "send-nan": _send_data({"x": math.nan}),
    "send-lone-surrogate": _send_data({"text": "a\udfff"}),
    "send-deep": _send_data(deep(1000)),
    "send-huge-int": _send_data({"n": 2**70}),
    "send-set": _send_data({"x": {1}}),
    "session-id-dot": _hub("read_wal", "."),
    "session-id-dotdot": _hub("read_wal", ".."),
    "session-id-nul": _hub("read_wal", "a\x00b"),
    "session-id-slash": _hub("read_wal", "a/b"),
    "session-id-empty": _hub("get_session", ""),
    "session-id-long": _hub("get_session", "x" * 100_000),
    "session-id-none": _hub("get_session", None),
    "session-id-int": _hub("close_session", 5),
    "session-id-list": _hub("get_session", ["sid"]),
    "session-id-dict": _hub("close_session", {"id": 1}),
    "client-read-wal-session-id-list": _client_read_wal(["sid"]),
    "post-priority-dict": _post_field("priority", {}),
    "post-idempotency-key-surrogate": _post_field("idempotency_key", "\ud800"),
    "post-trace-id-surrogate": _post_field("trace_id", "\udfff"),
    "post-event-type-surrogate": _post_field("event_type", "app.\ud800"),
    "post-audience-surrogate": _post_field("audience", ["\ud800"]),
    "post-priority-list": _post_field("priority", []),
    "client-post-sender-list": _client_post_field("sender_id", []),
    "get-session-dotdot": _hub("get_session", ".."),
    "close-session-dot": _hub("close_session", "."),
    "read-wal-since-minus-1": _hub("read_wal", "SID", since=-1),
    "read-wal-since-str": _hub("read_wal", "SID", since="3"),
    "read-wal-until-minus-1": _hub("read_wal", "SID", until=-1),
    "read-wal-since-float": _hub("read_wal", "SID", since=1.5),
    "create-ttl-inf": _create(ttl=math.inf),
    "create-ttl-nan": _create(ttl=math.nan),
    "create-ttl-1e300": _create(ttl=1e300),
    "create-ttl-99999999999999d": _create(ttl="99999999999999d"),
    "create-ttl-list": _create(ttl=[1]),
    "create-ttl-10**400": _create(ttl=10**400),
    "create-knobs-str": _create(knobs="str"),
    "create-knobs-list": _create(knobs=[1, 2]),
    "create-knobs-non-json": _create(knobs={"x": {1, 2}}),
    "create-knobs-nan": _create(knobs={"x": math.nan}),
    "create-knobs-deep": _create(knobs={"d": deep(1000)}),
    "create-labels-str": _create(labels="str"),
    "create-labels-int-value": _create(labels={"k": 5}),
    "create-labels-non-json": _create(labels={"k": object()}),
    "create-labels-5MB": _create(labels={"big": "x" * 5_000_000}),
    "create-intent-int": _create(intent=5),
    "create-participants-none": _create(participants=None),
    "create-participants-str": _create(participants="bob"),
    "create-participants-junk": _create(participants=[None]),
    "create-manifest-type-none": _create(manifest_type=None),
    "create-creator-none": _create(creator_id=None),
    "open-target-none": _open(target=None),
    "open-target-int": _open(target=5),
    "open-target-list-none": _open(target=[None]),
    "open-type-none": _open(type=None),
    "open-ttl-inf": _open(ttl=math.inf),
    "open-ttl-99999999999999d": _open(ttl="99999999999999d"),
    "open-knobs-str": _open(knobs="str"),
    "open-knobs-non-json": _open(knobs={"x": object()}),
    "open-labels-str": _open(labels="str"),
    "register-passport-dict": _register({"name": "carol"}),
    "register-passport-str": _register("carol"),
    "register-passport-none": _register(None),
    "register-resume-dict": _register(Passport(name="carol"), {"summary": "x"}),
    "register-rule-dict": _register(Passport(name="carol"), None, {"version": 1}),
    "register-rule-str": _register(Passport(name="carol"), None, "strict"),
    "client-register-passport-dict": _client_register({"name": "carol"}),
    "register-name-int": _mutated_register("name", 5),
    "register-name-surrogate": _mutated_register("name", "\ud800"),
    "register-name-nul": _mutated_register("name", "a\x00b"),
    "register-name-long": _mutated_register("name", "x" * 100_000),
    "register-version-str": _mutated_register("version", "2"),
    "register-auth-dict": _mutated_register("auth", {"scheme": "none"}),
    "register-cost-dict": _mutated_register("cost", {"input_per_mtok": 1}),
    "set-rule-ttl-abc": _mutated_rule("limits", "session_ttl_default", value="abc"),
    "set-rule-ttl-inf": _mutated_rule("limits", "session_ttl_default", value=math.inf),
    "set-rule-max-pending-lots": _mutated_rule("limits", "inbox", "max_pending", value="lots"),
    "set-rule-outbound-to-str": _mutated_rule("access", "outbound_to", value="alice"),
    "set-rule-outbound-to-int": _mutated_rule("access", "outbound_to", value=[1]),
    "set-rule-dict": _hub("set_rule", "ALICE", {"version": 1}),
}


@pytest.mark.parametrize("case", sorted(CATALOGUE))
def test_hostile_input_is_refused_or_served_cleanly(case: str) -> None:
    async def scenario(world: World) -> None:
        call = CATALOGUE[case]
        await refused_cleanly_or_done(world, lambda: call(world))

    run(scenario)
