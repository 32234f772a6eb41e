"""WebSocket workloads against hubbub: a hub process, clients in other processes.

Runs under the hubbub venv (``.venv/bin/python``). Invoked by ``bench/run.py``, one
workload per fresh process, which then starts the hub and the clients as children
(``ws_echo.Procs``: all stopped and killed in ``finally``)::

    .venv/bin/python bench/ws_hubbub.py latency --n 2000 --variant memory
    .venv/bin/python bench/ws_hubbub.py turns   --n 2000 --variant sqlite --profile /tmp/prof

``--variant`` is the hub's store: ``memory`` (MemoryKnowledgeStore) or ``sqlite``
(SqliteKnowledgeStore in a temporary file, synchronous=FULL, the hub's default).
Mirrors ``ws_ref.py`` step for step (ag2's "channel" is our "session"). Workloads:

* ``latency`` — bob (one process) and alice (another), each on its own connection,
  in one conversation; alice posts ``ping i`` with ``time.perf_counter_ns()`` in its
  event_data, bob's handler stamps the arrival and answers ``pong i`` (stamped the
  same way), alice's handler stamps it and sends the next ping. One-way latency
  sender → hub → recipient is every arrival stamp minus the stamp in the data (both
  directions pooled; the clock is CLOCK_MONOTONIC, shared by the processes); the
  round trip is alice's ping-to-pong time. N round trips after 200 untimed.
* ``turns`` — alice and bob in two processes, registered Agents with the
  zero-latency scripted model and the default handlers; alice opens a conversation
  and sends the first text, both answer until the hub has folded N texts. The hub
  counts (its conversation adapter's ``fold`` wrapped, as in the in-process
  workload): turns/s from the first text to the N-th.
* ``fanout`` — 100 agents in 4 client processes (25 each, one HubClient connection
  per process carrying all 25), 50 conversations, each between an agent of process
  0/1 and one of process 2/3; every initiator sends a first text at once, then all
  answer as in ``turns``; texts/s over all sessions until N are folded.

A run that has not reached N after ``CAP_S`` seconds reports the rate at that point
(``capped`` = 1).
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

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
try:  # the venv normally has hubbub installed (editable); else use the checkout
    import hubbub  # noqa: F401
except ImportError:
    sys.path.insert(1, os.path.join(os.path.dirname(_HERE), "src"))

from _ws_workloads import CAP_S, WARMUP, ws_workloads  # noqa: E402
from ws_echo import (  # noqa: E402
    Control,
    main,
    say,
)

logging.disable(logging.CRITICAL)

REPLY = "ok, noted."
TOKEN = "bench-token"


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
        adapter = hub.adapters()[("conversation", 1)]
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
    from hubbub.knowledge import MemoryKnowledgeStore
    from hubbub.network import EV_TEXT, Hub
    from hubbub.network.auth import BearerTokens, ServerAuth
    from hubbub.network.transport.ws import serve_ws

    if args.store == "sqlite":
        from hubbub.knowledge.sqlite import SqliteKnowledgeStore

        store: Any = SqliteKnowledgeStore(args.db)
    else:
        store = MemoryKnowledgeStore()
    hub = await Hub.open(store, ttl_sweep_interval=0, expectation_sweep_interval=0)
    TextCounter(hub, args.count, args.cap, EV_TEXT)
    auth = ServerAuth([BearerTokens({TOKEN: "bench"})])
    try:
        async with serve_ws(hub, host="127.0.0.1", port=0, auth=auth) as url:
            say("URL", url)
            await ctl.closed.wait()
    finally:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(hub.close(), 5)
        if args.store == "sqlite":
            with contextlib.suppress(BaseException):
                await store.close()


def _agent(name: str) -> Any:
    from hubbub import Agent
    from hubbub.testing import TestConfig

    # TestConfig.create() is called per ask, so one scripted string answers every turn.
    return Agent(name, prompt="Reply briefly.", config=TestConfig(REPLY))


async def _close(hcs: list[Any]) -> None:
    for hc in hcs:
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(hc.close(), 3)


async def role_agents(args: argparse.Namespace, ctl: Control) -> None:
    """Register ``--names`` (``--per-conn`` per HubClient); on OPEN open a conversation
    from each to its ``--peers`` entry; on GO send each one's first text."""
    from hubbub.network import HubClient, Passport, Resume
    from hubbub.network.transport.ws import WsLink

    names = args.names.split(",")
    peers = args.peers.split(",") if args.peers else []
    hcs: list[Any] = []
    clients = []
    try:
        for i, name in enumerate(names):
            if i % args.per_conn == 0:
                hcs.append(HubClient(WsLink(args.url, token=TOKEN)))
            clients.append(await hcs[-1].register(_agent(name), Passport(name=name), Resume()))
        say("READY")
        if peers:
            await ctl.wait("OPEN")
            sessions = await asyncio.gather(
                *(
                    c.open(type="conversation", target=p)
                    for c, p in zip(clients, peers, strict=True)
                )
            )
            say("OPENED")
            await ctl.wait("GO")
            await asyncio.gather(*(s.send("Hi, let's talk.") for s in sessions))
        await ctl.closed.wait()
    finally:
        await _close(hcs)


async def role_latency(args: argparse.Namespace, ctl: Control) -> None:
    """``--names`` is this agent; with ``--peers`` it is the sender (alice), else bob."""
    from hubbub.network import EV_TEXT, Envelope, HubClient, Passport, Resume, default_handler
    from hubbub.network.transport.ws import WsLink

    name = args.names
    sender = bool(args.peers)
    total = args.warmup + args.n
    one_way: list[int] = []
    rtt: list[int] = []
    done = asyncio.Event()
    hc = HubClient(WsLink(args.url, token=TOKEN))
    try:
        me = await hc.register(_agent(name), Passport(name=name), Resume())
        sent_at = [0]

        async def post(session_id: str, i: int, text: str) -> None:
            t = time.perf_counter_ns()
            sent_at[0] = t
            await me.send_envelope(
                Envelope(
                    session_id=session_id,
                    sender_id=me.agent_id,
                    audience=None,
                    event_type=EV_TEXT,
                    event_data={"text": text, "i": i, "t_ns": t},
                )
            )

        async def handler(envelope: Any) -> None:
            if envelope.event_type != EV_TEXT:
                await default_handler(envelope, me)  # acks the invite
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
                    await post(envelope.session_id, i + 1, "ping")
                else:
                    done.set()
            else:
                await post(envelope.session_id, i, "pong")
                if i + 1 >= total:
                    done.set()

        me.on_envelope(handler)
        say("READY")
        if sender:
            await ctl.wait("OPEN")
            session = await me.open(type="conversation", target=args.peers)
            say("OPENED")
            await ctl.wait("GO")
            await post(session.session_id, 0, "ping")
        await done.wait()
        say("LAT", {"one_way": one_way, "rtt": rtt})
        await ctl.closed.wait()
    finally:
        await _close([hc])


ROLES = {"hub": role_hub, "agents": role_agents, "latency": role_latency}


WORKLOADS = ws_workloads(__file__)

if __name__ == "__main__":
    from hubbub.cli.serve import run_loop  # the hub runs on the loop ``hubbub serve`` runs on

    main(WORKLOADS, ROLES, role_args, loops={"hub": run_loop})
