"""WebSocket workloads against the reference (``ag2==1.2.1``, ``ag2.network``).

Runs ONLY under the reference venv (``.bench-ref/bin/python``). Invoked by
``bench/run.py``, one workload per fresh process, which then starts the hub and the
clients as children (``ws_echo.Procs``: all stopped and killed in ``finally``)::

    .bench-ref/bin/python bench/ws_ref.py latency --n 2000
    .bench-ref/bin/python bench/ws_ref.py turns   --n 2000 --profile /tmp/prof-ref

The hub is served by ag2's own ``ag2.network.transport.ws.serve_ws`` (one
``WsLinkEndpoint`` per socket, attached to the hub's frame loop); clients are
``HubClient(WsLink(url))`` with no in-process hub, i.e. ag2's cross-process mode
(control-plane calls as ``RequestFrame`` RPCs). Its default auth registry (NoAuth,
allowed on loopback) is used: ag2 has no bearer-token scheme. Memory store only
(``--variant memory``; ag2's SQLite store rewrites whole blobs per append, S2).

Mirrors ``ws_hubbub.py`` step for step (ag2's "channel" is hubbub's "session"):
same workloads (``latency``, ``turns``, ``fanout``), same sizes, same cap — see that
module's docstring.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _ws_workloads import CAP_S, WARMUP, ws_workloads
from ws_echo import Control, main, say

logging.disable(logging.CRITICAL)

REPLY = "ok, noted."


# ── children ─────────────────────────────────────────────────────────────────


def role_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--store", default="memory")
    ap.add_argument("--db", default="")
    ap.add_argument("--count", type=int, default=0, help="hub: say DONE after this many texts")
    ap.add_argument("--cap", type=float, default=CAP_S)
    ap.add_argument("--url", default="")
    ap.add_argument("--names", default="")
    ap.add_argument("--peers", default="")
    ap.add_argument("--per-conn", type=int, default=1000)
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=WARMUP)


class TextCounter:
    """Wraps the hub's conversation ``fold``: stamps every folded EV_TEXT, says DONE at N."""

    def __init__(self, hub: Any, n: int, cap: float, text_event: str) -> None:
        adapter = hub._adapters[("conversation", 1)]
        self._fold = adapter.fold
        adapter.fold = self.fold
        self.n, self.cap, self.text_event = n, cap, text_event
        self.seen: set[str] = set()
        self.stamps: list[float] = []  # clock at every folded text
        self.finished = False

    def fold(self, envelope: Any, state: Any) -> Any:
        if envelope.event_type == self.text_event and not self.finished and self.n:
            eid = envelope.envelope_id
            if eid not in self.seen:
                self.seen.add(eid)
                self.stamps.append(time.perf_counter())
                count = len(self.seen)
                if count == 1:
                    asyncio.get_running_loop().call_later(self.cap, self.finish, True)
                if count >= self.n:
                    self.finish(False)
        return self._fold(envelope, state)

    def finish(self, capped: bool) -> None:
        if self.finished:
            return
        self.finished = True
        ts = self.stamps
        count = len(ts)
        seconds = ts[-1] - ts[0] if ts else 0.0
        tenth = count // 10  # rates over the first and the last tenth of the texts
        say(
            "DONE",
            {
                "texts": count,
                "seconds": seconds,
                "texts_per_s": (count - 1) / seconds if seconds > 0 else None,
                "first_tenth_per_s": tenth / (ts[tenth] - ts[0]) if tenth else None,
                "last_tenth_per_s": tenth / (ts[-1] - ts[-1 - tenth]) if tenth else None,
                "capped": int(capped),
                "cap_s": self.cap,
            },
        )


async def role_hub(args: argparse.Namespace, ctl: Control) -> None:
    from ag2.knowledge import MemoryKnowledgeStore, SqliteKnowledgeStore
    from ag2.network import EV_TEXT, Hub
    from ag2.network.transport.ws import serve_ws

    if args.store == "sqlite":
        store: Any = SqliteKnowledgeStore(args.db)
    else:
        store = MemoryKnowledgeStore()
    hub = await Hub.open(store, ttl_sweep_interval=0, expectation_sweep_interval=0)
    TextCounter(hub, args.count, args.cap, EV_TEXT)
    try:
        # The default AuthRegistry (NoAuth): served on loopback only, as ag2 requires.
        async with serve_ws(hub, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            say("URL", f"ws://127.0.0.1:{port}")
            await ctl.closed.wait()
    finally:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(hub.close(), 5)
        if args.store == "sqlite":
            with contextlib.suppress(BaseException):
                await store.close()


def _agent(name: str) -> Any:
    from ag2 import Agent
    from ag2.testing import TestConfig

    # TestConfig.create() is called per ask, so one scripted string answers every turn.
    return Agent(name, prompt="Reply briefly.", config=TestConfig(REPLY))


async def _close(hcs: list[Any]) -> None:
    for hc in hcs:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(hc.close(), 3)


async def role_agents(args: argparse.Namespace, ctl: Control) -> None:
    """Register ``--names`` (``--per-conn`` per HubClient); on OPEN open a conversation
    from each to its ``--peers`` entry; on GO send each one's first text."""
    from ag2.network import HubClient, Passport, Resume
    from ag2.network.transport.ws import WsLink

    names = args.names.split(",")
    peers = args.peers.split(",") if args.peers else []
    hcs: list[Any] = []
    clients = []
    try:
        for i, name in enumerate(names):
            if i % args.per_conn == 0:
                hcs.append(HubClient(WsLink(args.url)))
            clients.append(await hcs[-1].register(_agent(name), Passport(name=name), Resume()))
        say("READY")
        if peers:
            await ctl.wait("OPEN")
            channels = await asyncio.gather(
                *(
                    c.open(type="conversation", target=p)
                    for c, p in zip(clients, peers, strict=True)
                )
            )
            say("OPENED")
            await ctl.wait("GO")
            await asyncio.gather(*(ch.send("Hi, let's talk.") for ch in channels))
        await ctl.closed.wait()
    finally:
        await _close(hcs)


async def role_latency(args: argparse.Namespace, ctl: Control) -> None:
    """``--names`` is this agent; with ``--peers`` it is the sender (alice), else bob."""
    from ag2.network import EV_TEXT, Envelope, HubClient, Passport, Resume
    from ag2.network.transport.ws import WsLink

    name = args.names
    sender = bool(args.peers)
    total = args.warmup + args.n
    one_way: list[int] = []
    rtt: list[int] = []
    done = asyncio.Event()
    hc = HubClient(WsLink(args.url))
    try:
        me = await hc.register(_agent(name), Passport(name=name), Resume())
        sent_at = [0]

        async def post(channel_id: str, i: int, text: str) -> None:
            t = time.perf_counter_ns()
            sent_at[0] = t
            await me.send_envelope(
                Envelope(
                    channel_id=channel_id,
                    sender_id=me.agent_id,
                    audience=None,
                    event_type=EV_TEXT,
                    event_data={"text": text, "i": i, "t_ns": t},
                )
            )

        async def handler(envelope: Any) -> None:
            if envelope.event_type != EV_TEXT:
                # acks the invite (ag2 documents _run_default_handler as the way back)
                await me._run_default_handler(envelope)
                return
            arrived = time.perf_counter_ns()
            data = envelope.event_data
            i = data["i"]
            if i >= args.warmup:
                one_way.append(arrived - data["t_ns"])
            if sender:  # a pong: time the round trip, send the next ping
                if i >= args.warmup:
                    rtt.append(arrived - sent_at[0])
                if i + 1 < total:
                    await post(envelope.channel_id, i + 1, "ping")
                else:
                    done.set()
            else:
                await post(envelope.channel_id, i, "pong")
                if i + 1 >= total:
                    done.set()

        me.on_envelope(handler)
        say("READY")
        if sender:
            await ctl.wait("OPEN")
            channel = await me.open(type="conversation", target=args.peers)
            say("OPENED")
            await ctl.wait("GO")
            await post(channel.channel_id, 0, "ping")
        await done.wait()
        say("LAT", {"one_way": one_way, "rtt": rtt})
        await ctl.closed.wait()
    finally:
        await _close([hc])


ROLES = {"hub": role_hub, "agents": role_agents, "latency": role_latency}


WORKLOADS = ws_workloads(__file__)

if __name__ == "__main__":
    main(WORKLOADS, ROLES, role_args)
