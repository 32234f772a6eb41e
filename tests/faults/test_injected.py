"""Injected store faults, on every store: a failed append, read or write is clean.

The contract (architecture.md, "If the append fails" and "Durability contract";
issue 8): a post whose append fails raises ``StoreUnavailableError`` and nothing of
it is applied — no sequence number used up, no fold, no delivery; appends in flight
behind it may fail the same way; the next post after the store recovers gets the
next number; other sessions are not disturbed; ``Hub.open`` on a store whose reads
fail raises ``StoreUnavailableError``. After every scenario the hub reopens on the
inner store (never ``ReplayError``), every acknowledged envelope is in its WAL once
and in order, sequences have no gaps, and state equals the fold of the WAL
(``Net.verify``).
"""

from __future__ import annotations

import asyncio

import pytest
from tests.faults._faulty import FaultyStore, _Fault
from tests.faults._net import Net, assert_no_gap, open_hub

from hubbub.knowledge import KnowledgeStore
from hubbub.network import (
    EV_SESSION_CLOSED,
    EV_SESSION_INVITE,
    EV_SESSION_INVITE_ACK,
    EV_SESSION_OPENED,
    EV_TEXT,
    Passport,
    SessionState,
)
from hubbub.network.errors import NetworkError, StoreUnavailableError
from hubbub.network.hub import layout

INVITE = f'"{EV_SESSION_INVITE}"'
ACK = f'"{EV_SESSION_INVITE_ACK}"'
CLOSED = f'"{EV_SESSION_CLOSED}"'


def assert_unavailable(exc: BaseException | None) -> None:
    assert isinstance(exc, StoreUnavailableError), (
        f"expected StoreUnavailableError, got {type(exc).__module__}.{type(exc).__name__}: {exc!r}"
    )
    assert isinstance(exc, NetworkError) and exc.code == "store_unavailable"


def arm(faulty: FaultyStore, kind: str, n: int) -> _Fault:
    """Fail the ``n``th read, write or append (of any path) from now on, once."""
    if kind == "read":
        return faulty.fail_read(n)
    if kind == "write":
        return faulty.fail_write(n)
    return faulty.fail_append(n, wal_only=False)


async def last_sequence(net: Net, sid: str) -> int:
    wal = await net.hub.read_wal(sid)
    return wal[-1].sequence if wal else 0


# ---------------------------------------------------------------- the harness itself


async def test_baseline_without_faults_verifies(net: Net, faulty: FaultyStore) -> None:
    """No fault armed: the checks of every scenario hold (this one must pass today)."""
    faulty.trace = True
    one, two = await net.open_session(), await net.open_session()
    for i in range(5):
        assert (await net.post(one, f"one-{i}")).envelope_id
        assert (await net.post(two, f"two-{i}")).envelope_id
    await net.hub.close_session(two)
    assert {op for op, _ in faulty.calls} >= {"append", "write"}
    await net.wait_delivered(one)
    assert net.recipient.texts(one) == [f"one-{i}" for i in range(5)]
    await net.verify()


# ---------------------------------------------------------------- appends of posts


async def test_failed_append_mid_run_uses_no_sequence_and_is_never_delivered(
    net: Net, faulty: FaultyStore
) -> None:
    sid = await net.open_session()
    for i in range(5):
        assert (await net.post(sid, f"before-{i}")).envelope_id
    seq = await last_sequence(net, sid)

    fault = faulty.fail_append()  # the next WAL append, once
    failed = await net.post(sid, "lost")
    assert fault.fired == 1
    assert_unavailable(failed.error)
    assert await last_sequence(net, sid) == seq, "the failed post left a line in the WAL"
    assert net.hub.adapter_state(sid).turn_count == 5, "the failed post was folded"

    nxt = await net.post(sid, "after-0")
    assert nxt.envelope_id, f"the post after the failure raised {nxt.error!r}"
    wal = await net.hub.read_wal(sid)
    assert (wal[-1].envelope_id, wal[-1].sequence) == (nxt.envelope_id, seq + 1)
    for i in range(1, 4):
        assert (await net.post(sid, f"after-{i}")).envelope_id
    assert net.hub.adapter_state(sid).turn_count == 9

    await net.wait_delivered(sid)
    assert net.recipient.texts(sid) == [o.text for o in net.acked(sid)]
    assert "lost" not in net.recipient.texts(sid)
    await net.verify()


@pytest.mark.parametrize("mode", ["one", "window"])
async def test_failed_appends_under_concurrent_posts(
    net: Net, faulty: FaultyStore, mode: str
) -> None:
    """Many posts to one session in flight; some appends fail: acked → logged once, failed → not."""
    sid = await net.open_session()
    for i in range(3):
        assert (await net.post(sid, f"warm-{i}")).envelope_id
    net.ordered = False
    if mode == "one":
        # The append carrying burst-4 (alone or in a batch) fails after a few loop turns,
        # with the rest of the burst behind it.
        fault = faulty.fail_append(contains='"burst-4"', hold=3)
    else:
        fault = faulty.fail_appends_to(layout.wal_path(sid), hold=2)
    burst = [net.post(sid, f"burst-{i}") for i in range(30)]
    async with asyncio.timeout(20):
        await asyncio.gather(*burst, return_exceptions=True)
    faulty.disarm()
    assert fault.fired >= 1
    net.assert_failures_clean()
    if mode == "window":
        assert len(net.acked(sid)) == 3, "a post was acknowledged while every append failed"

    wal = await net.wal(sid)
    assert_no_gap(sid, wal)
    logged = {e.envelope_id for e in wal}
    for o in net.acked(sid):
        assert o.envelope_id in logged, f"acknowledged {o.text!r} is not in the WAL"
    logged_texts = [e.event_data["text"] for e in wal if e.event_type == EV_TEXT]
    for o in net.failed(sid):
        assert o.text not in logged_texts, f"{o.text!r} failed yet is in the WAL"
    assert net.hub.adapter_state(sid).turn_count == len(net.acked(sid)), "a failed post was folded"

    seq = await last_sequence(net, sid)
    nxt = await net.post(sid, "after")
    assert nxt.envelope_id, f"the post after disarming raised {nxt.error!r}"
    assert (await net.hub.read_wal(sid))[-1].sequence == seq + 1
    await net.wait_delivered(sid)
    received = net.recipient.texts(sid)
    assert sorted(received) == sorted(o.text for o in net.acked(sid))
    await net.verify()


async def test_failed_appends_on_one_session_leave_another_alone(
    net: Net, faulty: FaultyStore
) -> None:
    broken, healthy = await net.open_session(), await net.open_session()
    for sid in (broken, healthy):
        assert (await net.post(sid, f"{sid}-warm")).envelope_id
    net.ordered = False
    faulty.fail_appends_to(layout.wal_path(broken), hold=1)
    posts = [net.post(sid, f"{sid}-{i}") for i in range(10) for sid in (broken, healthy)]
    async with asyncio.timeout(20):
        await asyncio.gather(*posts)
    faulty.disarm()

    assert len(net.failed(broken)) == 10
    net.assert_failures_clean()
    assert [o.error for o in net.failed(healthy)] == []
    assert len(net.acked(healthy)) == 11
    assert net.hub.adapter_state(healthy).turn_count == 11, "the healthy session lost posts"
    assert net.hub.adapter_state(broken).turn_count == 1, "failed posts were folded"

    seq = await last_sequence(net, broken)
    nxt = await net.post(broken, "recovered")
    assert nxt.envelope_id, f"the post after disarming raised {nxt.error!r}"
    assert (await net.hub.read_wal(broken))[-1].sequence == seq + 1
    await net.wait_delivered(healthy)
    await net.wait_delivered(broken)
    assert net.recipient.texts(broken) == [f"{broken}-warm", "recovered"]
    await net.verify()


# ---------------------------------------------------------------- lifecycle appends


async def test_failed_invite_append_fails_create_session_cleanly(
    net: Net, faulty: FaultyStore
) -> None:
    fault = faulty.fail_append(contains=INVITE)
    with pytest.raises(StoreUnavailableError) as info:
        await net.open_session()
    assert fault.fired == 1
    assert info.value.code == "store_unavailable"

    # The hub goes on: a new session opens, and bob never saw the failed invite.
    sid = await net.open_session()
    assert (await net.post(sid, "hello")).envelope_id
    await net.wait_delivered(sid)
    invites = [e.session_id for e in net.recipient.received if e.event_type == EV_SESSION_INVITE]
    assert invites == [sid], f"bob received invites for {invites}, only {sid} was logged"
    await net.verify()


async def test_failed_ack_append_fails_create_session_cleanly(
    net: Net, faulty: FaultyStore
) -> None:
    """The invitee's ack fails to append: the invitee is told (StoreUnavailableError) and so
    is the creator, at once — create_session raises it instead of waiting for the timeout."""
    fault = faulty.fail_append(contains=ACK)
    with pytest.raises(StoreUnavailableError) as info:
        await net.open_session()
    assert fault.fired == 1
    assert info.value.code == "store_unavailable"
    assert len(net.recipient.ack_errors) == 1
    assert_unavailable(net.recipient.ack_errors[0])

    sid = await net.open_session()
    wal = await net.wal(sid)
    assert [(e.sequence, e.event_type) for e in wal] == [
        (1, EV_SESSION_INVITE),
        (2, EV_SESSION_INVITE_ACK),
        (3, EV_SESSION_OPENED),
    ]
    assert (await net.post(sid, "hello")).envelope_id
    await net.verify()


async def test_failed_close_append_leaves_the_session_open(net: Net, faulty: FaultyStore) -> None:
    sid = await net.open_session()
    assert (await net.post(sid, "one")).envelope_id
    seq = await last_sequence(net, sid)
    fault = faulty.fail_append(contains=CLOSED)
    with pytest.raises(StoreUnavailableError) as info:
        await net.hub.close_session(sid)
    assert fault.fired == 1
    assert info.value.code == "store_unavailable"
    meta = await net.hub.get_session(sid)
    assert meta.state is SessionState.ACTIVE, f"a close that was never logged left {meta.state}"
    assert await last_sequence(net, sid) == seq

    assert (await net.post(sid, "two")).envelope_id, (
        "the session refuses posts after a failed close"
    )
    closed = await net.hub.close_session(sid)
    assert closed.state is SessionState.CLOSED
    wal = await net.wal(sid)
    assert [e.event_type for e in wal].count(EV_SESSION_CLOSED) == 1
    assert wal[-1].event_type == EV_SESSION_CLOSED and wal[-1].sequence == seq + 2
    await net.wait_delivered(sid)
    await net.verify()


# ---------------------------------------------------------------- every mutation of an operation


@pytest.mark.parametrize("kind", ["write", "append"])
async def test_each_failed_mutation_of_create_session_is_clean(
    net: Net, faulty: FaultyStore, kind: str
) -> None:
    """Fail the 1st, 2nd, ... write (or append, WAL or not) of ``create_session`` in turn."""
    for n in range(1, 30):
        fault = arm(faulty, kind, n)
        try:
            sid = await net.open_session()
        except StoreUnavailableError:
            assert fault.fired == 1
            continue
        except BaseException as exc:
            raise AssertionError(
                f"{kind} #{n} of create_session failed with "
                f"{type(exc).__module__}.{type(exc).__name__}: {exc!r}"
            ) from exc
        finally:
            faulty.disarm()
        assert fault.fired == 0, (
            f"{kind} #{n} of create_session ({fault.fired_on[0][0]}) failed, "
            "yet create_session returned"
        )
        break
    else:
        raise AssertionError("create_session did more than 30 mutations")
    assert n > 1, f"create_session does no {kind}"
    assert (await net.post(sid, "hello")).envelope_id
    await net.verify()


@pytest.mark.parametrize("kind", ["write", "append"])
async def test_failed_registration_leaves_no_ghost(
    net: Net, faulty: FaultyStore, kind: str
) -> None:
    for n in range(1, 20):
        fault = arm(faulty, kind, n)
        try:
            carol = await net.hub.register(Passport(name="carol"))
        except StoreUnavailableError:
            assert fault.fired == 1
            assert "carol" not in [p.name for p in await net.hub.list_agents()], (
                f"{kind} #{n} failed, yet carol is registered"
            )
            continue
        except BaseException as exc:
            raise AssertionError(
                f"{kind} #{n} of register failed with "
                f"{type(exc).__module__}.{type(exc).__name__}: {exc!r}"
            ) from exc
        finally:
            faulty.disarm()
        assert fault.fired == 0, f"{kind} #{n} failed but register returned"
        break
    else:
        raise AssertionError("register did more than 20 mutations")
    assert n > 1, f"register does no {kind}"
    meta = await net.hub.create_session(
        creator_id=carol.agent_id, manifest_type="conversation", participants=[net.bob]
    )
    assert meta.state is SessionState.ACTIVE
    await net.verify()


# ---------------------------------------------------------------- Hub.open


async def populate(store: FaultyStore) -> Net:
    """Two sessions with texts (one closed), the hub closed again."""
    net = await Net.start(store)
    live, done = await net.open_session(), await net.open_session()
    for i in range(3):
        assert (await net.post(live, f"live-{i}")).envelope_id
        assert (await net.post(done, f"done-{i}")).envelope_id
    await net.hub.close_session(done)
    await net.wait_delivered(live)
    await net.close()
    return net


@pytest.mark.parametrize("kind", ["read", "write", "append"])
async def test_each_failed_store_call_at_open_raises_store_unavailable(
    faulty: FaultyStore, inner: KnowledgeStore, kind: str
) -> None:
    """Fail the 1st, 2nd, ... read (write, append) of ``Hub.open``: it raises
    ``StoreUnavailableError`` — never a raw driver error, never a half-open hub — and
    opens once the store answers again."""
    net = await populate(faulty)
    opened = None
    for n in range(1, 80):
        fault = arm(faulty, kind, n)
        try:
            opened = await open_hub(faulty)
        except StoreUnavailableError:
            assert fault.fired == 1
            continue
        except BaseException as exc:
            raise AssertionError(
                f"{kind} #{n} of Hub.open ({fault.fired_on[0][0] if fault.fired_on else '?'}) "
                f"failed with {type(exc).__module__}.{type(exc).__name__}: {exc!r}"
            ) from exc
        finally:
            faulty.disarm()
        try:
            assert fault.fired == 0, (
                f"{kind} #{n} of Hub.open ({fault.fired_on[0][0]}) failed, yet Hub.open returned"
            )
        finally:
            await opened.close()
        break
    else:
        raise AssertionError("Hub.open did more than 80 store calls of one kind")
    # Nothing of the failed opens stuck: the store reopens as it was.
    net.hub = await open_hub(faulty)
    net.closed = False
    live = net.sessions[0]
    assert (await net.post(live, "after-open")).envelope_id
    await net.verify()


async def test_a_failed_usage_count_reaches_the_caller_and_the_next_call_retries(
    faulty: FaultyStore,
) -> None:
    """The usage already in the WALs is counted on first demand, not at open: a read
    failure then raises ``StoreUnavailableError`` from ``hub.usage()`` (the hub stays
    open and serving), nothing of the failed pass is kept, and the next call counts."""
    net = await populate(faulty)
    net.hub = await open_hub(faulty)
    net.closed = False
    assert net.hub.health()["usage"]["complete"] is False
    faulty.fail_read(1, path_contains="wal.jsonl")
    with pytest.raises(StoreUnavailableError) as info:
        await net.hub.usage()
    faulty.disarm()
    assert_unavailable(info.value)
    assert net.hub.health()["usage"]["complete"] is False
    assert (await net.post(net.sessions[0], "still-serving")).envelope_id
    assert (await net.hub.usage())["turns"] == 0  # the posts carry no usage record
    assert net.hub.health()["usage"]["complete"] is True
    await net.verify()
