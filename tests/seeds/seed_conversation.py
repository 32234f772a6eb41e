# The conversation seed's code blocks, verbatim except `autogen.beta` -> `hubbub` in the imports
# and one added import line for EV_TEXT (the page uses it without importing it).
# It uses top-level await, as the page does: run it with tests/seeds/run_toplevel.py.
# ruff: noqa
from hubbub.network import EV_TEXT
from hubbub import Agent
from hubbub.config import AnthropicConfig
from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import Hub, HubClient, LocalLink, Passport, Resume

config = AnthropicConfig(model="claude-sonnet-4-6")
hub = await Hub.open(MemoryKnowledgeStore(), ttl_sweep_interval=0)
link = LocalLink(hub)

alice_hc = HubClient(link, hub=hub)
bob_hc = HubClient(link, hub=hub)

alice = await alice_hc.register(
    Agent("alice", prompt="Curious novice. One short sentence with a follow-up.", config=config),
    Passport(name="alice"),
    Resume(),
)
bob = await bob_hc.register(
    Agent("bob", prompt="Patient expert. One short sentence, no questions back.", config=config),
    Passport(name="bob"),
    Resume(),
)

session = await alice.open(type="conversation", target="bob")
await session.send("Hi bob, what's a good first ML concept to learn?")


# Cap by message count, then explicit close.
async def wait_for_text_count(hub, session_id, expected, *, timeout=120.0):
    import asyncio

    deadline = asyncio.get_event_loop().time() + timeout
    while asyncio.get_event_loop().time() < deadline:
        wal = await hub.read_wal(session_id)
        if sum(1 for e in wal if e.event_type == EV_TEXT) >= expected:
            return
        await asyncio.sleep(0.05)
    raise asyncio.TimeoutError("did not reach expected count")


await wait_for_text_count(hub, session.session_id, expected=6)
await session.close()
