"""The HumanClient's bounded queues (``_Feed``) against a reference model, with Hypothesis.

Any sequence of arrivals, takes (with or without a predicate) and limit changes:
what is taken, kept and counted as dropped is what a plain list model says.
"""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from hubbub.network.client.human_client import _Feed, _Waiter
from hubbub.network.envelope import EV_TEXT, Envelope


def env(n: int) -> Envelope:
    return Envelope("s1", "a", None, EV_TEXT, {"text": str(n)}, envelope_id=f"e{n}")


def even(e: Envelope) -> bool:
    return int(e.event_data["text"]) % 2 == 0


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("offer"), st.integers(0, 99)),
        st.tuples(st.just("take"), st.booleans()),
        st.tuples(st.just("limit"), st.integers(0, 5)),
    ),
    max_size=60,
)


@given(st.integers(0, 5), _ops)
def test_feed_matches_a_list_model(limit: int, ops: list[tuple[str, object]]) -> None:
    feed = _Feed(limit)
    model: list[int] = []
    dropped = 0
    for op, arg in ops:
        if op == "offer":
            assert isinstance(arg, int)
            feed.offer(env(arg))
            model.append(arg)
        elif op == "limit":
            assert isinstance(arg, int)
            feed.limit = limit = arg
            continue  # takes effect at the next arrival
        else:
            predicate = even if arg else None
            got = feed.take(predicate)
            expected = None
            while model:
                first = model.pop(0)
                if predicate is None or first % 2 == 0:
                    expected = first
                    break
            assert (None if got is None else int(got.event_data["text"])) == expected
            continue
        while len(model) > limit:
            model.pop(0)
            dropped += 1
        assert [int(e.event_data["text"]) for e in feed.buffer] == model
        assert feed.dropped == dropped


async def test_arrivals_go_to_the_first_matching_waiter_else_the_buffer() -> None:
    loop = asyncio.get_running_loop()
    feed = _Feed(10)
    odd_waiter = _Waiter(lambda e: not even(e), loop.create_future())
    any_waiter = _Waiter(None, loop.create_future())
    feed.waiters += [odd_waiter, any_waiter]
    feed.offer(env(2))  # not odd: the next waiter takes it
    assert any_waiter.future.result().envelope_id == "e2"
    feed.waiters.remove(any_waiter)
    feed.offer(env(4))  # no waiter wants it: kept
    assert [e.envelope_id for e in feed.buffer] == ["e4"]
    feed.offer(env(5))
    assert odd_waiter.future.result().envelope_id == "e5"

    def broken(e: Envelope) -> bool:
        raise ValueError("predicate bug")

    failing = _Waiter(broken, loop.create_future())
    late = _Waiter(None, loop.create_future())
    feed.waiters[:] = [failing, late]
    feed.offer(env(6))
    assert isinstance(failing.future.exception(), ValueError)  # the consumer's own error
    assert late.future.result().envelope_id == "e6"  # and the envelope went on

    ending = _Waiter(None, loop.create_future())
    feed.waiters[:] = [ending]
    feed.end()
    assert feed.ended and ending.future.result() is None  # end of stream
