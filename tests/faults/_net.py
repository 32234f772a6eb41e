"""A small network for the fault suite, and the checks that must hold after every fault.

``Net`` runs a real ``Hub`` on a store (usually a ``FaultyStore``) with two agents:
alice, registered by the operator (``hub.register``), who creates sessions and posts
texts; and bob, a client connected through ``HubClient(LocalLink(hub), hub=hub)``,
who acks invites and records what is delivered to him. Every post is tracked by a
unique text: acknowledged (with its envelope id) or failed (with its error).

``Net.verify()`` closes everything and checks the durability contract on the inner
store: the hub reopens (never ``ReplayError``), each WAL's sequences are 1..n,
every acknowledged envelope is in its WAL exactly once and in acknowledgement order,
no cleanly failed post is in it, and each session's state in the hub that ran the
scenario equals the fold of its WAL (a fresh hub's, with and without snapshots).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from hubbub.agent import Agent
from hubbub.knowledge import KnowledgeStore
from hubbub.network import (
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_TEXT,
    Envelope,
    Hub,
    LocalLink,
    Passport,
    Resume,
)
from hubbub.network.client import HubClient
from hubbub.network.errors import NetworkError, NotFoundError, StoreUnavailableError
from hubbub.network.hub import layout
from hubbub.testing import TestConfig

HUB_OPTIONS: dict[str, Any] = {
    "ttl_sweep_interval": 0,
    "expectation_sweep_interval": 0,
    "snapshot_interval": 0,
    "invite_ack_timeout": 2,
}


async def open_hub(store: KnowledgeStore) -> Hub:
    return await Hub.open(store, **HUB_OPTIONS)


@dataclass
class Outcome:
    """What became of one post."""

    session_id: str
    text: str
    envelope_id: str | None = None  # set when acknowledged
    error: BaseException | None = None  # set when it raised

    def __repr__(self) -> str:
        what = f"acked {self.envelope_id}" if self.envelope_id else f"failed {self.error!r}"
        return f"<post {_short(self.text)!r} to {self.session_id}: {what}>"


class Recipient:
    """Bob's side: acks invites (recording a refused ack), records deliveries."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []
        self.ack_errors: list[BaseException] = []
        self.changed = asyncio.Condition()
        self.client: Any = None

    async def handle(self, envelope: Envelope) -> None:
        async with self.changed:
            self.received.append(envelope)
            self.changed.notify_all()
        if envelope.event_type == EV_SESSION_INVITE:
            ack = Envelope(
                envelope.session_id,
                self.client.agent_id,
                None,
                EV_SESSION_INVITE_ACK,
                {"session_id": envelope.session_id},
                causation_id=envelope.envelope_id,
            )
            try:
                await self.client.send_envelope(ack)
            except Exception as exc:
                self.ack_errors.append(exc)

    def texts(self, session_id: str) -> list[str]:
        return [
            e.event_data["text"]
            for e in self.received
            if e.session_id == session_id and e.event_type == EV_TEXT
        ]

    async def wait_for_envelope(self, envelope_id: str, timeout: float = 5.0) -> None:
        async def _wait() -> None:
            async with self.changed:
                await self.changed.wait_for(
                    lambda: any(e.envelope_id == envelope_id for e in self.received)
                )

        await asyncio.wait_for(_wait(), timeout)


@dataclass
class Net:
    store: Any  # the FaultyStore (or a plain store)
    hub: Hub
    alice: str
    bob: str
    bob_client: HubClient
    recipient: Recipient
    outcomes: list[Outcome] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)
    closed: bool = False
    ordered: bool = True  # False once posts ran concurrently (acked in completion order)

    @property
    def inner(self) -> KnowledgeStore:
        return getattr(self.store, "inner", self.store)

    @classmethod
    async def start(cls, store: Any) -> Net:
        hub = await open_hub(store)
        alice = (await hub.register(Passport(name="alice"))).agent_id
        recipient = Recipient()
        hc = HubClient(LocalLink(hub), hub=hub)
        client = await hc.register(
            Agent("bob", config=TestConfig("unused")),
            Passport(name="bob"),
            Resume(),
            attach_plugin=False,
        )
        client.on_envelope(recipient.handle)
        recipient.client = client
        return cls(store, hub, alice, client.agent_id, hc, recipient)

    # -- acting ------------------------------------------------------------------------

    async def open_session(self) -> str:
        meta = await self.hub.create_session(
            creator_id=self.alice, manifest_type="conversation", participants=[self.bob]
        )
        self.sessions.append(meta.session_id)
        return meta.session_id

    async def post(self, session_id: str, text: str) -> Outcome:
        """Post a text as alice; record and return the outcome (never raises)."""
        outcome = Outcome(session_id, text)
        self.outcomes.append(outcome)
        try:
            outcome.envelope_id = await self.hub.post_envelope(
                Envelope(session_id, self.alice, None, EV_TEXT, {"text": text})
            )
        except BaseException as exc:  # recorded; the test decides what was allowed
            outcome.error = exc
        return outcome

    def acked(self, session_id: str | None = None) -> list[Outcome]:
        return [
            o
            for o in self.outcomes
            if o.envelope_id is not None and (session_id is None or o.session_id == session_id)
        ]

    def failed(self, session_id: str | None = None) -> list[Outcome]:
        return [
            o
            for o in self.outcomes
            if o.error is not None and (session_id is None or o.session_id == session_id)
        ]

    async def wal(self, session_id: str) -> list[Envelope]:
        """The session's WAL, read from the inner store (not through the faults)."""
        lines = await self.inner.read_lines(layout.wal_path(session_id))
        return [Envelope.from_wal_line(line, session_id) for line in lines if line]

    async def wait_delivered(self, session_id: str) -> None:
        """Wait until bob has every acknowledged text of the session."""
        acked = self.acked(session_id)
        if acked:
            await self.recipient.wait_for_envelope(acked[-1].envelope_id or "")

    # -- checks ------------------------------------------------------------------------

    def assert_failures_clean(self, *, allow_other: bool = False) -> None:
        """Every failed post raised ``StoreUnavailableError`` (a NetworkError, code store_unavailable)."""
        for o in self.failed():
            err = o.error
            if allow_other and isinstance(err, NetworkError):
                continue
            assert isinstance(err, StoreUnavailableError), (
                f"post {_short(o.text)!r} raised {type(err).__module__}.{type(err).__name__}: {err!r}, "
                "not StoreUnavailableError"
            )
            assert isinstance(err, NetworkError) and err.code == "store_unavailable", err

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        disarm = getattr(self.store, "disarm", None)
        if disarm is not None:
            disarm()
        with contextlib.suppress(Exception):
            await self.bob_client.close()
        await self.hub.close()

    async def check_deliveries(self) -> None:
        """Bob (while connected) got every acknowledged text once and no failed one."""
        if self.closed or not self.bob_client.connected:
            return
        for sid in {o.session_id for o in self.outcomes}:
            async with asyncio.timeout(10):
                await self.wait_delivered(sid)
            got = self.recipient.texts(sid)
            acked = [o.text for o in self.acked(sid)]
            if self.ordered:
                assert got == acked, f"session {sid}: bob got {len(got)} texts, {len(acked)} acked"
            else:
                assert sorted(got) == sorted(acked), (
                    f"session {sid}: bob got other texts than acked"
                )
            for o in self.failed(sid):
                assert o.text not in got, f"bob received {_short(o.text)!r}, whose post failed"

    async def verify(self, *, failed_may_be_logged: bool = False) -> None:
        """Close the hub and check the durability contract on the inner store.

        ``failed_may_be_logged``: a failed post may still be in the WAL (at most once) —
        for real outages, where a cut connection leaves the outcome of a write unknown.
        """
        hub = self.hub
        disarm = getattr(self.store, "disarm", None)
        if disarm is not None:
            disarm()
        session_ids = sorted(
            name.rstrip("/") for name in await self.inner.list(layout.SESSIONS_DIR)
        )
        before = {sid: await _session_view(hub, sid) for sid in session_ids}
        await self.check_deliveries()
        await self.close()

        # Every WAL: sequences 1..n, acknowledged envelopes once and in order.
        for sid in session_ids:
            wal = await self.wal(sid)
            assert_no_gap(sid, wal)
            ids = [e.envelope_id for e in wal]
            texts = [e.event_data.get("text") for e in wal if e.event_type == EV_TEXT]
            acked = self.acked(sid)
            for o in acked:
                assert ids.count(o.envelope_id) == 1, (
                    f"acknowledged {_short(o.text)!r} ({o.envelope_id}) is {ids.count(o.envelope_id)} "
                    f"times in the WAL of {sid}"
                )
            positions = [ids.index(o.envelope_id) for o in acked]
            assert positions == sorted(positions) or not self.ordered, (
                f"session {sid}: acknowledged envelopes out of order in the WAL"
            )
            for o in self.failed(sid):
                n = texts.count(o.text)
                if failed_may_be_logged:
                    assert n <= 1, (
                        f"failed post {_short(o.text)!r} is {n} times in the WAL of {sid}"
                    )
                else:
                    assert n == 0, (
                        f"post {_short(o.text)!r} failed ({o.error!r}) yet is in the WAL of {sid}"
                    )
            for text in set(texts):
                assert texts.count(text) == 1, (
                    f"{_short(text)!r} is {texts.count(text)} times in {sid}"
                )

        # The hub reopens on the store, and what it folds is what the old hub held.
        for drop_snapshots in (False, True):
            if drop_snapshots:
                for sid in session_ids:
                    await self.inner.delete(layout.snapshot_path(sid))
            again = await open_hub(self.inner)
            try:
                after = {sid: await _session_view(again, sid) for sid in session_ids}
            finally:
                await again.close()
            where = "from the WAL alone" if drop_snapshots else "with snapshots"
            for sid in session_ids:
                assert after[sid] == before[sid], (
                    f"session {sid}: the hub that ran held {before[sid]}, "
                    f"a reopened hub folds {after[sid]} ({where})"
                )


def assert_no_gap(session_id: str, wal: list[Envelope]) -> None:
    """The WAL's sequences are exactly 1..n."""
    seqs = [e.sequence for e in wal]
    if seqs != list(range(1, len(wal) + 1)):
        bad = next(i for i, s in enumerate(seqs) if s != i + 1)
        raise AssertionError(
            f"session {session_id}: WAL line {bad + 1} has sequence {seqs[bad]} "
            f"(sequences {seqs[max(0, bad - 3) : bad + 4]} around it, {len(seqs)} lines)"
        )


def _short(text: object) -> str:
    text = str(text)
    return text if len(text) <= 48 else text[:45] + "..."


async def _session_view(hub: Hub, session_id: str) -> tuple[Any, ...]:
    """What must equal the fold of the WAL: lifecycle state and the adapter state."""
    try:
        meta = await hub.get_session(session_id)
    except NotFoundError:
        return ("not found",)
    return (
        meta.state,
        meta.close_reason,
        sorted(meta.pending_acks),
        hub.adapter_state(session_id),
    )
