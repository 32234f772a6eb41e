"""How long the inspector's sessions page takes on a large store (figures, not a test).

Fills a SQLite store through a real hub with N sessions (conversations of two
texts, every other one closed), then serves the offline inspector on it and
times ``GET /api/sessions`` (first page, 50 rows): the first request (it reads
every creation record, the index and the audit log), a later one (only what is
new), and a filtered one. ``python bench/inspector_listing.py [N] [DB]``
(default 10,000 sessions in a temporary file).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import urllib.request

from hubbub import Agent
from hubbub.inspector import offline_inspector, serve_inspector
from hubbub.knowledge.sqlite import SqliteKnowledgeStore
from hubbub.network import Hub, HubClient, LocalLink, Passport, Resume
from hubbub.network.auth import ServerAuth
from hubbub.testing import TestConfig


async def fill(db: str, count: int) -> None:
    hub = await Hub.open(db, ttl_sweep_interval=0, expectation_sweep_interval=0)
    client = HubClient(LocalLink(hub))
    try:
        a = await client.register(Agent("a", config=TestConfig("ok")), Passport(name="a"), Resume())
        b = await client.register(Agent("b", config=TestConfig("ok")), Passport(name="b"), Resume())
        for agent in (a, b):
            agent.on_envelope(_acks(agent))
        started = time.perf_counter()
        for i in range(0, count, 100):

            async def one(n: int) -> None:
                session = await a.open(type="conversation", target="b")
                await session.send(f"hello {n}")
                if n % 2:
                    await session.close()

            await asyncio.gather(*(one(n) for n in range(i, min(i + 100, count))))
        print(f"filled {count} sessions in {time.perf_counter() - started:.1f} s")
    finally:
        await client.close()
        await hub.close()


def _acks(agent: object) -> object:
    from hubbub.network import EV_SESSION_INVITE
    from hubbub.network.client.handlers import default_handler

    async def handle(envelope: object) -> None:
        if envelope.event_type == EV_SESSION_INVITE:  # type: ignore[attr-defined]
            await default_handler(envelope, agent)  # type: ignore[arg-type]

    return handle


def get(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
    return time.perf_counter() - started


async def measure(db: str) -> None:
    store = SqliteKnowledgeStore(db)
    try:
        app = offline_inspector(store, ServerAuth([], allow_anonymous=True))
        async with serve_inspector(app, host="127.0.0.1", port=0) as url:
            first = await asyncio.to_thread(get, url + "/api/sessions")
            again = [await asyncio.to_thread(get, url + "/api/sessions") for _ in range(5)]
            filtered = await asyncio.to_thread(
                get, url + "/api/sessions?state=open&q=a&offset=2000"
            )
            print(f"GET /api/sessions, first request: {first * 1000:.0f} ms")
            print(f"GET /api/sessions, later (median of 5): {sorted(again)[2] * 1000:.0f} ms")
            print(f"GET /api/sessions?state=open&q=a&offset=2000: {filtered * 1000:.0f} ms")
    finally:
        await store.close()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    db = sys.argv[2] if len(sys.argv) > 2 else os.path.join(tempfile.mkdtemp(), "big.db")
    if not os.path.exists(db):
        asyncio.run(fill(db, count))
    asyncio.run(measure(db))


if __name__ == "__main__":
    main()
