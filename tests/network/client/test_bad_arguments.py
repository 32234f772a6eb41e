"""Bad argument types to the client API are NetworkErrors naming the argument (issue 8, item 7).

``AgentClient.open(target=None)`` used to raise ``TypeError`` from ``list(None)``; a list
as a session id raised ``TypeError: unhashable type`` from a dict lookup.
"""

from __future__ import annotations

from typing import Any

import pytest

from hubbub.network.errors import InvalidValueError, NetworkError, ProtocolError

# --------------------------------------------------------------------------- open() arguments


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"target": None}, "target="),
        ({"target": 42}, "target="),
        ({"target": ["bob", None]}, "target="),
        ({"target": [""]}, "target="),
        ({"type": None}, "type="),
        ({"type": ""}, "type="),
        ({"ttl": object()}, "ttl="),
        ({"ttl": True}, "ttl="),
        ({"knobs": "str"}, "knobs="),
        ({"knobs": {1: "x"}}, "knobs="),
        ({"labels": {"a": 1}}, "labels="),
        ({"labels": ["a"]}, "labels="),
        ({"intent": 5}, "intent="),
    ],
)
async def test_open_with_bad_argument_types_raises_invalid_value(
    net: Any, kwargs: dict[str, Any], argument: str
) -> None:
    alice = await net.agent("alice", "unused")
    await net.agent("bob")
    call: dict[str, Any] = {"type": "conversation", "target": "bob", **kwargs}
    with pytest.raises(InvalidValueError) as info:
        await alice.open(**call)
    assert isinstance(info.value, NetworkError)
    assert info.value.code == "invalid_value"
    assert argument in str(info.value)
    assert await alice.list_sessions(include_terminal=True) == []


_CALLS = {
    "get_session": lambda c, sid: c.get_session(sid),
    "close_session": lambda c, sid: c.close_session(sid),
    "read_wal": lambda c, sid: c.read_wal(sid),
    "session": lambda c, sid: c.session(sid),
    "adapter_state": lambda c, sid: c.adapter_state(sid),
    "adapter_for": lambda c, sid: c.adapter_for(sid),
    "can_send": lambda c, sid: c.can_send(sid),
    "wait_for_session_event": lambda c, sid: c.wait_for_session_event(
        session_id=sid, predicate=lambda e: True, timeout=0.01
    ),
}


@pytest.mark.parametrize("method", sorted(_CALLS))
@pytest.mark.parametrize("session_id", [["sid"], None, 7, ""], ids=["list", "None", "int", "empty"])
async def test_session_id_of_the_wrong_type_is_refused_by_name(
    net: Any, method: str, session_id: Any
) -> None:
    alice = await net.agent("alice", "unused")
    with pytest.raises(InvalidValueError, match=rf"{method}\(session_id=\.\.\.\)"):
        await _CALLS[method](alice, session_id)


@pytest.mark.parametrize("method", ["ensure_session_inbox", "discard_session_inbox"])
async def test_sync_session_calls_refuse_a_session_id_of_the_wrong_type(
    net: Any, method: str
) -> None:
    alice = await net.agent("alice", "unused")
    with pytest.raises(InvalidValueError, match="session_id"):
        getattr(alice, method)(["sid"])


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"predicate": None}, "predicate="),
        ({"timeout": "soon"}, "timeout="),
        ({"timeout": -1}, "timeout="),
        ({"timeout": float("nan")}, "timeout="),
    ],
)
async def test_wait_for_session_event_refuses_bad_arguments_by_name(
    net: Any, kwargs: dict[str, Any], argument: str
) -> None:
    alice = await net.agent("alice", "unused")
    await net.agent("bob")
    session = await alice.open(type="conversation", target="bob")
    call: dict[str, Any] = {"predicate": lambda e: True, "timeout": 1.0, **kwargs}
    with pytest.raises(InvalidValueError, match=argument):
        await alice.wait_for_session_event(session_id=session.session_id, **call)


@pytest.mark.parametrize("audience", [False, "bob", 3], ids=["bool", "str", "int"])
async def test_session_send_with_an_audience_of_the_wrong_type_is_a_bad_envelope(
    net: Any, audience: Any
) -> None:
    alice = await net.agent("alice", "unused")
    await net.agent("bob")
    session = await alice.open(type="conversation", target="bob")
    with pytest.raises(ProtocolError, match="audience") as info:
        await session.send("hi", audience=audience)
    assert info.value.code == "bad_envelope"
    assert [
        e for e in await net.hub.read_wal(session.session_id) if e.event_type.endswith("text")
    ] == []
