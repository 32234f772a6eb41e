"""Workloads against hubbub (``hubbub.network``), the seed API.

Runs under the hubbub venv (``.venv/bin/python``). Invoked by ``bench/run.py``,
one workload per fresh process::

    .venv/bin/python bench/workloads_hubbub.py conversation --n 1000

Mirrors ``workloads_ref.py`` step for step (ag2's "channel" is our "session").
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
try:  # the venv normally has hubbub installed (editable); else use the checkout
    import hubbub  # noqa: F401
except ImportError:
    sys.path.insert(1, os.path.join(os.path.dirname(_HERE), "src"))

from _common import (  # noqa: E402
    Metrics,
    allocated_blocks,
    main,
    now,
    rate,
    rss_bytes,
    wait_until,
)

from hubbub import Agent  # noqa: E402
from hubbub.knowledge import MemoryKnowledgeStore  # noqa: E402
from hubbub.network import (  # noqa: E402
    EV_SESSION_CLOSED,
    EV_SESSION_INVITE_ACK,
    EV_TEXT,
    Envelope,
    Hub,
    HubClient,
    LocalLink,
    Passport,
    Resume,
)
from hubbub.testing import TestConfig  # noqa: E402

logging.disable(logging.WARNING)

REPLY = "ok, noted."


async def open_hub() -> Hub:
    return await Hub.open(
        MemoryKnowledgeStore(), ttl_sweep_interval=0, expectation_sweep_interval=0
    )


async def two_agents(hub: Hub) -> tuple[HubClient, HubClient, object, object]:
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


def _discard_inbox(client: object, sid: str) -> None:
    """Spec API (``AgentClient.discard_session_inbox``); tolerate its absence."""
    discard = getattr(client, "discard_session_inbox", None)
    if discard is not None:
        discard(sid)


async def close_all(hub: Hub, *hcs: HubClient) -> None:
    for hc in hcs:
        await hc.close()
    await hub.close()


# ── (a) two-agent conversation ───────────────────────────────────────────────


async def conversation(args: argparse.Namespace) -> Metrics:
    n = args.n or 100
    hub = await open_hub()
    alice_hc, bob_hc, alice, _bob = await two_agents(hub)
    session = await alice.open(type="conversation", target="bob")
    cid = session.session_id

    def turns() -> int:
        return hub._adapter_states[cid].turn_count  # operator API

    t0 = now()
    await session.send("Hi bob, let's talk.")
    await wait_until(lambda: turns() >= n, limit=args.timeout - 5, what=f"{n} texts")
    elapsed = now() - t0
    count = turns()
    await session.close()
    wal = await hub.read_wal(cid)
    texts = sum(1 for e in wal if e.event_type == EV_TEXT)
    await close_all(hub, alice_hc, bob_hc)
    return {
        "turns": count,
        "wal_texts": texts,
        "seconds": elapsed,
        "turns_per_s": rate(count, elapsed),
    }


# ── (b) consulting: open + ask + answer + auto-close, sequential ─────────────


async def consulting(args: argparse.Namespace) -> Metrics:
    n = args.n or 200
    hub = await open_hub()
    alice_hc, bob_hc, alice, bob = await two_agents(hub)

    async def one() -> None:
        ses = await alice.open(type="consulting", target="bob")
        await ses.send("Question?", audience=[bob.agent_id])
        await alice.wait_for_session_event(
            session_id=ses.session_id,
            predicate=lambda e: e.event_type == EV_SESSION_CLOSED,
            timeout=30.0,
        )
        _discard_inbox(alice, ses.session_id)

    for _ in range(min(10, n)):  # warm-up
        await one()
    t0 = now()
    for _ in range(n):
        await one()
    elapsed = now() - t0
    await close_all(hub, alice_hc, bob_hc)
    return {"consults": n, "seconds": elapsed, "consults_per_s": rate(n, elapsed)}


# ── (c) raw post_envelope into one open session ──────────────────────────────


async def _hub_only_session(hub: Hub, manifest_type: str = "conversation") -> tuple[str, str, str]:
    """Register two bare identities (no client attached) and open one session.

    The invite goes nowhere (no endpoint bound), so we post bob's
    EV_SESSION_INVITE_ACK ourselves, exactly as bob's client would.
    """
    a = await hub.register(Passport(name="alice"), Resume())
    b = await hub.register(Passport(name="bob"), Resume())
    return a.agent_id, b.agent_id, await _open_hub_only(hub, a.agent_id, b.agent_id, manifest_type)


async def _open_hub_only(hub: Hub, a_id: str, b_id: str, manifest_type: str) -> str:
    """create_session, then answer the invite as bob's client would (no client bound)."""
    before = len(hub._sessions)
    task = asyncio.ensure_future(
        hub.create_session(creator_id=a_id, manifest_type=manifest_type, participants=[b_id])
    )
    while len(hub._sessions) == before and not task.done():  # noqa: ASYNC110 - tick until invited
        await asyncio.sleep(0)
    if task.done():
        return (await task).session_id
    cid = next(reversed(hub._sessions))  # metadata is cached before the invite is posted
    await hub.post_envelope(
        Envelope(
            session_id=cid,
            sender_id=b_id,
            audience=None,
            event_type=EV_SESSION_INVITE_ACK,
            event_data={"session_id": cid},
        )
    )
    return (await task).session_id


async def raw_post(args: argparse.Namespace) -> Metrics:
    """Variants: ``detached`` — no client bound, the hub only validates, appends,
    folds (dispatch finds no endpoint); ``attached`` — bob's LocalLink client
    receives every envelope (no-op handler), timed until all are delivered."""
    n = args.n or 10_000
    hub = await open_hub()
    received = 0
    hcs: list[HubClient] = []
    if args.variant == "detached":
        a_id, b_id, cid = await _hub_only_session(hub)
    else:
        alice_hc, bob_hc, alice, bob = await two_agents(hub)
        hcs = [alice_hc, bob_hc]
        session = await alice.open(type="conversation", target="bob")
        cid, a_id, b_id = session.session_id, alice.agent_id, bob.agent_id

        async def count(env: Envelope) -> None:
            nonlocal received
            if env.event_type == EV_TEXT:
                received += 1
            # Mirrors the ref script (where AgentClient.receive queues every envelope).
            _discard_inbox(alice, cid)
            _discard_inbox(bob, cid)

        bob.on_envelope(count)
        alice.on_envelope(count)

    chunk = max(1, n // 5)
    marks: list[float] = []
    t0 = now()
    # Senders alternate, as in workloads_ref.py (where a one-way stream hits
    # ag2's InboxFull at 1000, W3), so both sides do identical work.
    pair = ((a_id, [b_id]), (b_id, [a_id]))
    for i in range(n):
        sender, audience = pair[i & 1]
        await hub.post_envelope(
            Envelope(
                session_id=cid,
                sender_id=sender,
                audience=audience,
                event_type=EV_TEXT,
                event_data={"text": f"x{i}"},
            )
        )
        if (i + 1) % chunk == 0:
            marks.append(now())
    posted = now() - t0
    metrics: Metrics = {
        "envelopes": n,
        "post_seconds": posted,
        "post_per_s": rate(n, posted),
        "first_chunk_per_s": rate(chunk, marks[0] - t0),
        "last_chunk_per_s": rate(chunk, marks[-1] - marks[-2]),
        "chunk": chunk,
    }
    if args.variant != "detached":
        await wait_until(lambda: received >= n, limit=args.timeout - 10, what="delivery")
        delivered = now() - t0
        metrics["delivered_per_s"] = rate(n, delivered)
    await close_all(hub, *hcs)
    return metrics


# ── (d) memory per open session ──────────────────────────────────────────────


async def memory(args: argparse.Namespace) -> Metrics:
    """Variants: ``agents`` — two registered Agents, handshake through their
    default handlers (what an application sees); ``hub`` — two bare identities,
    no client attached (hub-only state)."""
    n = args.n or 2000
    hub = await open_hub()
    hcs: list[HubClient] = []
    if args.variant == "hub":
        a = await hub.register(Passport(name="alice"), Resume())
        b = await hub.register(Passport(name="bob"), Resume())

        async def open_one() -> str:
            return await _open_hub_only(hub, a.agent_id, b.agent_id, "conversation")

    else:
        alice_hc, bob_hc, alice, bob = await two_agents(hub)
        hcs = [alice_hc, bob_hc]

        async def open_one() -> str:
            ses = await alice.open(type="conversation", target="bob")
            return ses.session_id

    for _ in range(50):  # warm-up: one-time allocations, caches, code paths
        await hub.close_session(await open_one())
    rss0, blocks0 = rss_bytes(), allocated_blocks()
    t0 = now()
    ids = [await open_one() for _ in range(n)]
    open_s = now() - t0
    rss1, blocks1 = rss_bytes(), allocated_blocks()
    for cid in ids:
        await hub.close_session(cid)
    if args.variant != "hub":
        for client in (alice, bob):
            for cid in ids:
                _discard_inbox(client, cid)
    ids.clear()
    await asyncio.sleep(0.05)
    rss2, blocks2 = rss_bytes(), allocated_blocks()
    await close_all(hub, *hcs)
    return {
        "sessions": n,
        "open_per_s": rate(n, open_s),
        "rss_kib_per_session": (rss1 - rss0) / 1024 / n,
        "blocks_per_session": (blocks1 - blocks0) / n,
        "rss_kib_per_session_after_close": (rss2 - rss0) / 1024 / n,
        "blocks_per_session_after_close": (blocks2 - blocks0) / n,
    }


WORKLOADS = {
    "conversation": conversation,
    "consulting": consulting,
    "raw_post": raw_post,
    "memory": memory,
}

if __name__ == "__main__":
    main(WORKLOADS)
