"""``Rule.limits.rate`` is enforced per agent: a token bucket on the hub's clock."""

from __future__ import annotations

import pytest

from hubbub.knowledge import MemoryKnowledgeStore
from hubbub.network import EV_TEXT, Envelope, Hub, MockClock, ProtocolError, Rule
from hubbub.network.hub.ratelimit import RateLimiter
from hubbub.network.rule import LimitsBlock, RateBlock


def test_a_bucket_refills_at_the_rate_and_caps_at_the_burst() -> None:
    limiter = RateLimiter()
    rate = RateBlock(per_minute=60, burst=3)  # one a second, three at once
    assert [limiter.take("a", rate, 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a", rate, 0.0) == pytest.approx(1.0)  # next token in a second
    assert limiter.take("a", rate, 0.5) == pytest.approx(0.5)
    assert limiter.take("a", rate, 1.0) == 0.0
    assert limiter.take("a", rate, 100.0) == 0.0  # a long pause refills to the burst only
    assert [limiter.take("a", rate, 100.0) for _ in range(3)][-1] > 0
    assert limiter.take("b", RateBlock(), 0.0) == 0.0  # no rate: never limited
    assert limiter.take("c", RateBlock(per_minute=2), 0.0) == 0.0  # burst 0: a minute's worth
    assert limiter.take("c", RateBlock(per_minute=2), 0.0) == 0.0
    assert limiter.take("c", RateBlock(per_minute=2), 0.0) == pytest.approx(30.0)


async def _session(hub: Hub, rule: Rule) -> tuple[str, str, str]:
    import asyncio

    from hubbub.network import EV_SESSION_INVITE_ACK, Passport

    a = (await hub.register(Passport(name="alice"), rule=rule)).agent_id
    b = (await hub.register(Passport(name="bob"))).agent_id
    assert a and b
    opening = asyncio.ensure_future(
        hub.create_session(creator_id=a, manifest_type="conversation", participants=[b])
    )
    while not hub._table.live:
        await asyncio.sleep(0)
    sid = next(iter(hub._table.live))
    await hub.post_envelope(Envelope(sid, b, None, EV_SESSION_INVITE_ACK, {"session_id": sid}))
    await opening
    return a, b, sid


async def test_the_hub_refuses_posts_over_the_rate_and_writes_nothing() -> None:
    clock = MockClock()
    hub = await Hub.open(MemoryKnowledgeStore(), clock=clock)
    rule = Rule(limits=LimitsBlock(rate=RateBlock(per_minute=6, burst=2)))
    a, b, sid = await _session(hub, rule)
    text = lambda s, who: Envelope(sid, who, None, EV_TEXT, {"text": s})  # noqa: E731
    await hub.post_envelope(text("1", a))
    await hub.post_envelope(text("2", a))
    before = await hub.read_wal(sid)
    with pytest.raises(ProtocolError, match="over its rate of 6 envelopes a minute") as info:
        await hub.post_envelope(text("3", a))
    assert info.value.code == "rate_limited"
    assert await hub.read_wal(sid) == before
    await hub.post_envelope(text("bob has no rate", b))  # others are not affected
    clock.advance(10)  # 6 a minute: one token every 10 s
    await hub.post_envelope(text("3", a))
    with pytest.raises(ProtocolError):
        await hub.post_envelope(text("4", a))
    await hub.close()
