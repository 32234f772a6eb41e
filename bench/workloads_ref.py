"""Workloads against the reference implementation (``ag2==1.2.1``, ``ag2.network``).

Runs ONLY under the reference venv (``.bench-ref/bin/python``). Invoked by
``bench/run.py``, one workload per fresh process::

    .bench-ref/bin/python bench/workloads_ref.py conversation --n 1000

In ag2 a "session" is called a "channel"; otherwise the workloads mirror
``workloads_hubbub.py`` step for step.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (
    BuildCache,
    GcTimer,
    Metrics,
    allocated_blocks,
    diffs,
    main,
    now,
    rate,
    rss_bytes,
    wait_until,
)
from ag2 import Agent
from ag2.knowledge import DiskKnowledgeStore, MemoryKnowledgeStore, SqliteKnowledgeStore
from ag2.network import (
    EV_CHANNEL_CLOSED,
    EV_CHANNEL_INVITE_ACK,
    EV_TEXT,
    Envelope,
    Hub,
    HubClient,
    InboxFull,
    LocalLink,
    Passport,
    Resume,
)
from ag2.testing import TestConfig

logging.disable(logging.WARNING)

REPLY = "ok, noted."


async def open_hub(store: Any = None) -> Hub:
    return await Hub.open(
        store if store is not None else MemoryKnowledgeStore(),
        ttl_sweep_interval=0,
        expectation_sweep_interval=0,
    )


async def two_agents(hub: Hub) -> tuple[Any, Any, Any, Any]:
    link = LocalLink(hub)
    alice_hc = HubClient(link, hub=hub)
    bob_hc = HubClient(link, hub=hub)
    # TestConfig.create() is called per ask, so one scripted string answers every turn.
    alice = await alice_hc.register(
        Agent("alice", prompt="Reply briefly.", config=TestConfig(REPLY)),
        Passport(name="alice"),
        Resume(),
    )
    bob = await bob_hc.register(
        Agent("bob", prompt="Reply briefly.", config=TestConfig(REPLY)),
        Passport(name="bob"),
        Resume(),
    )
    return alice_hc, bob_hc, alice, bob


def _discard_inbox(client: Any, cid: str) -> None:
    client.discard_channel_inbox(cid)


async def close_all(hub: Hub, *hcs: object) -> None:
    for hc in hcs:
        await hc.close()
    await hub.close()


# ── (a) two-agent conversation ───────────────────────────────────────────────


def stop_at_text(hub: Hub, n: int) -> tuple[asyncio.Event, list[float]]:
    """Stamp the clock when the n-th EV_TEXT is folded: exact, no polling.

    Wraps the hub's conversation adapter ``fold`` (called once per admitted
    envelope, under the hub's ordering); install before opening the channel.
    """
    adapter = hub._adapters[("conversation", 1)]
    fold = adapter.fold
    seen: set[str] = set()
    done = asyncio.Event()
    stamp: list[float] = []  # clock at every tenth of n, the last one at n
    tenth = max(1, n // 10)

    def counting_fold(envelope: Any, state: Any) -> Any:
        eid = envelope.envelope_id
        if envelope.event_type == EV_TEXT and len(seen) < n and eid not in seen:
            seen.add(eid)
            if len(seen) % tenth == 0 or len(seen) == n:
                stamp.append(now())
            if len(seen) == n:
                done.set()
        return fold(envelope, state)

    adapter.fold = counting_fold
    return done, stamp


async def conversation(args: argparse.Namespace) -> Metrics:
    n = args.n or 100
    hub = await open_hub()
    done, stamp = stop_at_text(hub, n)
    alice_hc, bob_hc, alice, _bob = await two_agents(hub)
    channel = await alice.open(type="conversation", target="bob")
    cid = channel.channel_id
    with GcTimer() as gct:
        t0 = now()
        await channel.send("Hi bob, let's talk.")
        await asyncio.wait_for(done.wait(), args.timeout - 5)
    elapsed = stamp[-1] - t0
    tenth = max(1, n // 10)
    await channel.close()
    wal = await hub.read_wal(cid)
    texts = sum(1 for e in wal if e.event_type == EV_TEXT)
    await close_all(hub, alice_hc, bob_hc)
    return {
        "turns": n,
        "wal_texts": texts,
        "seconds": elapsed,
        "turns_per_s": rate(n, elapsed),
        "first_tenth_per_s": rate(tenth, stamp[0] - t0),
        "last_tenth_per_s": rate(tenth, stamp[9] - stamp[8]) if len(stamp) >= 10 else None,
        **gct.metrics(),
    }


# ── (b) consulting: open + ask + answer + auto-close, sequential ─────────────


async def consulting(args: argparse.Namespace) -> Metrics:
    n = args.n or 200
    hub = await open_hub()
    alice_hc, bob_hc, alice, bob = await two_agents(hub)

    async def one() -> None:
        ch = await alice.open(type="consulting", target="bob")
        await ch.send("Question?", audience=[bob.agent_id])
        await alice.wait_for_channel_event(
            channel_id=ch.channel_id,
            predicate=lambda e: e.event_type == EV_CHANNEL_CLOSED,
            timeout=30.0,
        )
        alice.discard_channel_inbox(ch.channel_id)

    for _ in range(min(10, n)):  # warm-up
        await one()
    t0 = now()
    for _ in range(n):
        await one()
    elapsed = now() - t0
    await close_all(hub, alice_hc, bob_hc)
    return {"consults": n, "seconds": elapsed, "consults_per_s": rate(n, elapsed)}


# ── (c) raw post_envelope into one open channel ──────────────────────────────


async def _hub_only_channel(hub: Hub, manifest_type: str = "conversation") -> tuple[str, str, str]:
    """Register two bare identities (no client attached) and open one channel.

    The invite goes nowhere (no endpoint bound), so we post bob's
    EV_CHANNEL_INVITE_ACK ourselves, exactly as bob's client would.
    """
    a = await hub.register_identity(Passport(name="alice"), Resume())
    b = await hub.register_identity(Passport(name="bob"), Resume())
    return a.agent_id, b.agent_id, await _open_hub_only(hub, a.agent_id, b.agent_id, manifest_type)


async def _open_hub_only(hub: Hub, a_id: str, b_id: str, manifest_type: str) -> str:
    """create_channel, then answer the invite as bob's client would (no client bound)."""
    before = len(hub._channels)
    task = asyncio.ensure_future(
        hub.create_channel(creator_id=a_id, manifest_type=manifest_type, participants=[b_id])
    )
    spins = 0
    while len(hub._channels) == before and not task.done():
        spins += 1  # a loop tick at first; then short sleeps while a store thread works
        await asyncio.sleep(0 if spins < 50 else 0.0002)
    if task.done():
        return (await task).channel_id
    cid = next(reversed(hub._channels))  # metadata is cached before the invite is posted
    await hub.post_envelope(
        Envelope(
            channel_id=cid,
            sender_id=b_id,
            audience=None,
            event_type=EV_CHANNEL_INVITE_ACK,
            event_data={"channel_id": cid},
        )
    )
    return (await task).channel_id


async def raw_post(args: argparse.Namespace) -> Metrics:
    """Variants: ``detached`` — no client bound, the hub only validates, appends,
    folds (dispatch finds no endpoint); ``attached`` — bob's LocalLink client
    receives every envelope (no-op handler), timed until all are delivered."""
    n = args.n or 10_000
    hub = await open_hub()
    received = 0
    hcs: list[object] = []
    if args.variant == "detached":
        a_id, b_id, cid = await _hub_only_channel(hub)
    else:
        alice_hc, bob_hc, alice, bob = await two_agents(hub)
        hcs = [alice_hc, bob_hc]
        channel = await alice.open(type="conversation", target="bob")
        cid, a_id, b_id = channel.channel_id, alice.agent_id, bob.agent_id

        async def count(env: Envelope) -> None:
            nonlocal received
            if env.event_type == EV_TEXT:
                received += 1
            # ag2's AgentClient.receive also queues every envelope in a per-channel
            # inbox that only `delegate` drains; drop it so memory does not skew.
            alice.discard_channel_inbox(cid)
            bob.discard_channel_inbox(cid)

        bob.on_envelope(count)
        alice.on_envelope(count)

    # The first and last fifth of the run, each timed as 4 windows of n/20 whose
    # median is used: one scheduler stall on a shared machine does not skew it.
    window = max(1, n // 20)
    chunk = 4 * window
    marks: list[float] = []
    t0 = now()
    # Senders alternate: ag2 drains a recipient's inbox counter only when that
    # recipient posts (W3), so a one-way stream hits InboxFull at 1000.
    pair = ((a_id, [b_id]), (b_id, [a_id]))
    waits = 0
    gct = GcTimer().start()
    for i in range(n):
        sender, audience = pair[i & 1]
        env = Envelope(
            channel_id=cid,
            sender_id=sender,
            audience=audience,
            event_type=EV_TEXT,
            event_data={"text": f"x{i}"},
        )
        while True:
            try:
                await hub.post_envelope(env)
                break
            except InboxFull:  # backpressure: let the receiver drain its inbox
                waits += 1
                await asyncio.sleep(0)
        if (i + 1) % window == 0:
            marks.append(now())
    posted = now() - t0
    gct.stop()
    metrics: Metrics = {
        "envelopes": n,
        "post_seconds": posted,
        "post_per_s": rate(n, posted),
        "first_chunk_per_s": rate(window, statistics.median(diffs([t0, *marks[:4]]))),
        "last_chunk_per_s": rate(window, statistics.median(diffs(marks[-5:]))),
        "chunk": chunk,
        "inbox_full_waits": waits,
        **gct.metrics(),
    }
    if args.variant != "detached":
        await wait_until(lambda: received >= n, limit=args.timeout - 10, what="delivery")
        delivered = now() - t0
        metrics["delivered_per_s"] = rate(n, delivered)
    await close_all(hub, *hcs)
    return metrics


async def _store_bytes(store: Any, path: str = "/") -> int:
    """Bytes of content held by a store (walked through list/read)."""
    total = 0
    for child in await store.list(path):
        full = path.rstrip("/") + "/" + child
        if child.endswith("/"):
            total += await _store_bytes(store, full)
        else:
            total += len((await store.read(full)) or "")
    return total


# ── (d) memory per open channel ──────────────────────────────────────────────


async def memory(args: argparse.Namespace) -> Metrics:
    """Variants: ``agents`` — two registered Agents, handshake through their
    default handlers (what an application sees); ``hub`` — two bare identities,
    no client attached (hub-only state), memory store; ``hub-disk`` — the same on
    a DiskKnowledgeStore, so RSS holds no store content, only the hub's own state."""
    n = args.n or 2000
    tmp = tempfile.TemporaryDirectory(prefix="bench-") if args.variant == "hub-disk" else None
    store = DiskKnowledgeStore(tmp.name) if tmp else MemoryKnowledgeStore()
    hub = await open_hub(store)
    hcs: list[object] = []
    clients: list[object] = []
    if args.variant != "agents":
        a = await hub.register_identity(Passport(name="alice"), Resume())
        b = await hub.register_identity(Passport(name="bob"), Resume())

        async def open_one() -> str:
            return await _open_hub_only(hub, a.agent_id, b.agent_id, "conversation")

    else:
        alice_hc, bob_hc, alice, bob = await two_agents(hub)
        hcs, clients = [alice_hc, bob_hc], [alice, bob]

        async def open_one() -> str:
            ch = await alice.open(type="conversation", target="bob")
            return ch.channel_id

    # Sessions opened first and kept open: the heap holes that importing and
    # compiling left are filled before measuring, so the figure is the cost of one
    # more open session whether or not the modules came from cached bytecode.
    kept = [await open_one() for _ in range(n // 2)]
    for _ in range(50):  # warm-up: one-time allocations, caches, code paths
        await hub.close_channel(await open_one())
    rss0, blocks0 = rss_bytes(), allocated_blocks()
    t0 = now()
    ids = [await open_one() for _ in range(n)]
    open_s = now() - t0
    rss1, blocks1 = rss_bytes(), allocated_blocks()

    async def close_and_drop(ids: list[str]) -> None:
        for cid in ids:
            await hub.close_channel(cid)
        for client in clients:
            for cid in ids:
                _discard_inbox(client, cid)
        ids.clear()
        await asyncio.sleep(0.05)

    await close_and_drop(ids)
    rss2, blocks2 = rss_bytes(), allocated_blocks()
    # A second batch, opened and closed: whatever closed sessions keep for ever
    # grows again by the same amount; a bounded cache of closed sessions does not.
    ids = [await open_one() for _ in range(n)]
    await close_and_drop(ids)
    rss3, blocks3 = rss_bytes(), allocated_blocks()
    store_bytes = 0 if tmp else await _store_bytes(store)
    await close_all(hub, *hcs)
    if tmp:
        tmp.cleanup()
    return {
        "sessions": n,
        "kept_open": len(kept),
        "store_kib_per_session": store_bytes / 1024 / (2 * n + 50 + len(kept)),
        "open_per_s": rate(n, open_s),
        "rss_kib_per_session": (rss1 - rss0) / 1024 / n,
        "blocks_per_session": (blocks1 - blocks0) / n,
        "rss_kib_per_session_after_close": (rss2 - rss0) / 1024 / n,
        "blocks_per_session_after_close": (blocks2 - blocks0) / n,
        "rss_kib_growth_per_closed_session": (rss3 - rss2) / 1024 / n,
        "blocks_growth_per_closed_session": (blocks3 - blocks2) / n,
    }


# ── (e) durable appends on SQLite, 100 concurrent sessions ───────────────────

SESSIONS_E = 100


async def durable_append(args: argparse.Namespace) -> Metrics:
    """N EV_TEXT over 100 open channels, one concurrent poster per channel, on
    the SQLite store; an envelope counts once ``post_envelope`` returned."""
    n = args.n or 10_000
    with tempfile.TemporaryDirectory(prefix="bench-ref-") as tmp:
        hub = await Hub.open(
            SqliteKnowledgeStore(os.path.join(tmp, "hub.db")),
            ttl_sweep_interval=0,
            expectation_sweep_interval=0,
        )
        a = await hub.register_identity(Passport(name="alice"), Resume())
        b = await hub.register_identity(Passport(name="bob"), Resume())
        cids = [
            await _open_hub_only(hub, a.agent_id, b.agent_id, "conversation")
            for _ in range(SESSIONS_E)
        ]
        per = n // SESSIONS_E
        pair = ((a.agent_id, [b.agent_id]), (b.agent_id, [a.agent_id]))
        half_marks: list[float] = []

        async def poster(cid: str) -> None:
            for i in range(per):
                sender, audience = pair[i & 1]
                await hub.post_envelope(
                    Envelope(
                        channel_id=cid,
                        sender_id=sender,
                        audience=audience,
                        event_type=EV_TEXT,
                        event_data={"text": f"x{i}"},
                    )
                )
                if i == per // 2 - 1:
                    half_marks.append(now())

        t0 = now()
        await asyncio.gather(*(poster(c) for c in cids))
        elapsed = now() - t0
        await hub.close()
    half = max(half_marks) - t0
    total = per * SESSIONS_E
    return {
        "envelopes": total,
        "sessions": SESSIONS_E,
        "seconds": elapsed,
        "env_per_s": rate(total, elapsed),
        "first_half_per_s": rate(total / 2, half),
        "second_half_per_s": rate(total / 2, elapsed - half),
    }


# ── (f) Hub.open on a SQLite store that holds many envelopes ─────────────────

ENVELOPES_PER_SESSION_F = 100


async def _copy_store(src: object, dst: object, path: str = "/") -> int:
    """Copy every entry through the KnowledgeStore protocol (list/read/write)."""
    copied = 0
    for child in await src.list(path):
        full = path.rstrip("/") + "/" + child
        if child.endswith("/"):
            copied += await _copy_store(src, dst, full)
        else:
            content = await src.read(full)
            if content is not None:
                await dst.write(full, content)
                copied += 1
    return copied


async def hydrate(args: argparse.Namespace) -> Metrics:
    """Fill a store with N envelopes over N/100 channels, then time ``Hub.open``.

    ag2's SQLite store rewrites a channel's whole WAL blob per append (~900/s), so
    the history is built on the memory store and copied entry by entry into SQLite;
    the resulting database is exactly what ag2 would have written. The database is
    kept per N for later repetitions of the same ``run.py`` invocation
    (``BuildCache``), which open a copy of it; the open is timed the same way.
    """
    n = args.n or 100_000
    sessions = max(1, n // ENVELOPES_PER_SESSION_F)
    with tempfile.TemporaryDirectory(prefix="bench-ref-") as tmp:
        db = os.path.join(tmp, "hub.db")
        cache = BuildCache(db, f"hydrate-ref-{n}")
        built = cache.restore()
        if built is None:
            built = await _build_history(db, sessions)
            cache.save(built)
        dst = SqliteKnowledgeStore(db)  # a fresh store object: nothing cached
        t0 = now()
        hub2 = await Hub.open(dst, ttl_sweep_interval=0, expectation_sweep_interval=0)
        open_s = now() - t0
        loaded = len(hub2._channels)
        await hub2.close()
    return {
        **built,
        "sessions": sessions,
        "open_seconds": open_s,
        "env_per_s_hydrated": rate(int(built["envelopes"]), open_s),
        "sessions_loaded": loaded,
    }


async def _build_history(db: str, sessions: int) -> Metrics:
    """Post 100 envelopes into each of ``sessions`` channels (memory store), copy to ``db``."""
    mem = MemoryKnowledgeStore()
    hub = await Hub.open(mem, ttl_sweep_interval=0, expectation_sweep_interval=0)
    a = await hub.register_identity(Passport(name="alice"), Resume())
    b = await hub.register_identity(Passport(name="bob"), Resume())
    pair = ((a.agent_id, [b.agent_id]), (b.agent_id, [a.agent_id]))
    t_build = now()
    posted = 0
    for s_i in range(sessions):
        cid = await _open_hub_only(hub, a.agent_id, b.agent_id, "conversation")
        for i in range(ENVELOPES_PER_SESSION_F):
            sender, audience = pair[i & 1]
            await hub.post_envelope(
                Envelope(
                    channel_id=cid,
                    sender_id=sender,
                    audience=audience,
                    event_type=EV_TEXT,
                    event_data={"text": f"message {s_i}/{i}"},
                )
            )
            posted += 1
    await hub.close()
    fill_s = now() - t_build
    entries = await _copy_store(mem, SqliteKnowledgeStore(db))
    return {
        "envelopes": posted,
        "store_entries": entries,
        "fill_per_s": rate(posted, fill_s),
        "build_seconds": now() - t_build,
    }


# ── (g) multi-party: 3-agent discussion, 3-agent round-robin workflow ────────


def stop_at_turn(hub: Hub, manifest_type: str, n: int) -> tuple[asyncio.Event, list[float]]:
    """Stamp the clock when the n-th turn (EV_TEXT, or EV_PACKET for workflow) is folded.

    Same hook as ``stop_at_text``, on the discussion/workflow adapter.
    """
    adapter = hub._adapters[(manifest_type, 1)]
    fold = adapter.fold
    turn_types = (EV_TEXT, "ag2.packet")
    seen: set[str] = set()
    done = asyncio.Event()
    stamp: list[float] = []
    tenth = max(1, n // 10)

    def counting_fold(envelope: Any, state: Any) -> Any:
        eid = envelope.envelope_id
        if envelope.event_type in turn_types and len(seen) < n and eid not in seen:
            seen.add(eid)
            if len(seen) % tenth == 0 or len(seen) == n:
                stamp.append(now())
            if len(seen) == n:
                done.set()
        return fold(envelope, state)

    adapter.fold = counting_fold
    return done, stamp


async def three_agents(hub: Hub) -> tuple[list[Any], list[Any]]:
    link = LocalLink(hub)
    hcs, agents = [], []
    for name in ("alice", "bob", "carol"):
        hc = HubClient(link, hub=hub)
        hcs.append(hc)
        agents.append(
            await hc.register(
                Agent(name, prompt="Reply briefly.", config=TestConfig(REPLY)),
                Passport(name=name),
                Resume(),
            )
        )
    return hcs, agents


async def multiparty(args: argparse.Namespace) -> Metrics:
    """``--variant discussion``: a 3-agent round-robin discussion to N texts.
    ``--variant workflow``: a 3-agent ``TransitionGraph.round_robin`` workflow to N turns
    (``max_turns=N`` closes it). Every turn is a default-handler model call."""
    from ag2.network import TransitionGraph

    n = args.n or 200
    kind = args.variant if args.variant in ("discussion", "workflow") else "discussion"
    hub = await open_hub()
    done, stamp = stop_at_turn(hub, kind, n)
    hcs, (alice, bob, carol) = await three_agents(hub)
    knobs = None
    if kind == "workflow":
        ids = [alice.agent_id, bob.agent_id, carol.agent_id]
        knobs = {"graph": TransitionGraph.round_robin(ids, max_turns=n).to_dict()}
    channel = await alice.open(type=kind, target=["bob", "carol"], knobs=knobs)
    with GcTimer() as gct:
        t0 = now()
        await channel.send("Let's begin.")
        await asyncio.wait_for(done.wait(), args.timeout - 5)
    elapsed = stamp[-1] - t0
    tenth = max(1, n // 10)
    await channel.close()
    wal = await hub.read_wal(channel.channel_id)
    turns = sum(1 for e in wal if e.event_type in (EV_TEXT, "ag2.packet"))
    for hc in hcs:
        await hc.close()
    await hub.close()
    return {
        "turns": n,
        "wal_turns": turns,
        "seconds": elapsed,
        "turns_per_s": rate(n, elapsed),
        "first_tenth_per_s": rate(tenth, stamp[0] - t0),
        "last_tenth_per_s": rate(tenth, stamp[9] - stamp[8]) if len(stamp) >= 10 else None,
        **gct.metrics(),
    }


WORKLOADS = {
    "conversation": conversation,
    "multiparty": multiparty,
    "consulting": consulting,
    "raw_post": raw_post,
    "memory": memory,
    "durable_append": durable_append,
    "hydrate": hydrate,
}

if __name__ == "__main__":
    main(WORKLOADS)
