"""check_json_value names what JSON cannot carry and where; json_bytes counts encoded bytes."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.network.errors import ProtocolError
from hubbub.network.jsonvalue import MAX_DEPTH, check_json_value, json_bytes

WHERE = "envelope.event_data"


def refusal(value: Any) -> str:
    with pytest.raises(ProtocolError) as info:
        check_json_value(value, WHERE)
    assert info.value.code == "bad_envelope"
    return info.value.message


def nested(depth: int) -> Any:
    """A value of exactly ``depth`` container levels."""
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"text": "hi", "n": 1, "x": 1.5, "ok": True, "none": None},
        {"items": [1, [2, (3, 4)], {"k": "é😀"}]},
        {"big": 2**63 - 1, "small": -(2**63)},
        {"": "empty key is fine"},
        nested(MAX_DEPTH),
        "a string on its own",
    ],
)
def test_plain_json_values_pass(value: Any) -> None:
    check_json_value(value, WHERE)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"items": [0, 1, 2, {"x": math.nan}]},
            "envelope.event_data.items[3].x is NaN (JSON has no NaN/Infinity)",
        ),
        ({"x": math.inf}, "envelope.event_data.x is Infinity (JSON has no NaN/Infinity)"),
        ({"x": -math.inf}, "envelope.event_data.x is -Infinity (JSON has no NaN/Infinity)"),
        ({"tags": {1, 2}}, "envelope.event_data.tags is a set, not a JSON value"),
        ({"b": b"raw"}, "envelope.event_data.b is a bytes, not a JSON value"),
        ({"d": Decimal("1.5")}, "envelope.event_data.d is a Decimal, not a JSON value"),
        ({"o": object()}, "envelope.event_data.o is a object, not a JSON value"),
        ({5: "x"}, "envelope.event_data key 5 is not a string"),
        ({"a": {None: 1}}, "envelope.event_data.a key None is not a string"),
        ({"s": "ok\ud800"}, "envelope.event_data.s contains a lone surrogate (U+D800 at index 2)"),
        ({"k\udfff": 1}, "envelope.event_data key 'k\\udfff' contains a lone surrogate"),
        (
            {"n": 2**70},
            "envelope.event_data.n integer 2**70 is outside the 64-bit range JSON peers accept",
        ),
        ({"n": 2**63}, "integer 2**63 is outside the 64-bit range"),
        ({"n": -(2**63) - 1}, "integer -9223372036854775809 is outside the 64-bit range"),
        ({"n": 10**5000}, "integer <16610-bit number> is outside the 64-bit range"),
        ({"with space": [math.nan]}, "envelope.event_data['with space'][0] is NaN"),
    ],
)
def test_refusals_name_the_path_and_the_problem(value: Any, message: str) -> None:
    assert message in refusal(value)


def test_deep_nesting_is_refused_without_recursion() -> None:
    assert refusal(nested(MAX_DEPTH + 1)).endswith(f"nests deeper than {MAX_DEPTH} levels")
    # Far deeper than the interpreter's recursion limit: still a clean refusal.
    assert "nests deeper than" in refusal({"d": nested(200_000)})


def test_a_cycle_is_refused_as_too_deep() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert "nests deeper than" in refusal({"loop": loop})


def test_first_problem_in_document_order_is_reported() -> None:
    message = refusal({"a": [1, {"b": math.nan}], "c": {1, 2}})
    assert message.startswith("envelope.event_data.a[1].b is NaN")


def test_hostile_keys_are_shortened_in_messages() -> None:
    message = refusal({"k" * 1_000_000 + " ": math.nan})
    assert len(message) < 300


def test_json_bytes_counts_utf8_bytes_not_characters() -> None:
    assert json_bytes({"a": 1}) == len(b'{"a":1}')
    assert json_bytes("é") == 4  # two quotes + two bytes
    assert json_bytes("😀" * 10) == 2 + 40
    with pytest.raises(ProtocolError, match="key 1 is not a string") as info:
        json_bytes({1: 2})
    assert info.value.code == "bad_envelope"
    with pytest.raises(ProtocolError, match="lone surrogate"):
        json_bytes({"s": "\ud800"})


# --- properties ------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
anything = st.recursive(
    json_scalars
    | st.floats()
    | st.integers()
    | st.binary(max_size=4)
    | st.sets(st.integers(), max_size=2)
    | st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text() | st.integers() | st.none(), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_every_json_value_passes_and_round_trips(value: Any) -> None:
    check_json_value(value, WHERE)
    assert orjson.loads(orjson.dumps(value)) == value
    assert json_bytes(value) == len(orjson.dumps(value))


@settings(max_examples=300, deadline=None)
@given(anything)
def test_anything_either_passes_and_encodes_or_is_a_bad_envelope(value: Any) -> None:
    try:
        check_json_value(value, WHERE)
    except ProtocolError as exc:
        assert exc.code == "bad_envelope"
        assert exc.message.startswith(WHERE)
    else:
        # Accepted means orjson encodes it and it decodes to an equal value.
        assert orjson.loads(orjson.dumps(value)) == _as_lists(value)


def _as_lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _as_lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_lists(v) for v in value]
    return value


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text() | st.integers(), anything, max_size=4))
def test_the_logged_copy_is_the_json_round_trip_and_shares_nothing(data: dict[Any, Any]) -> None:
    """``logged_copy`` (what the hub logs and delivers) equals what the envelope's JSON
    decodes to, or is refused with ``bad_envelope``; its containers are new objects."""
    from hubbub.network.hub.admission import logged_copy

    try:
        raw = orjson.dumps(data)
    except TypeError:
        raw = None
    try:
        copy = logged_copy(data)
    except ProtocolError as exc:
        assert exc.code == "bad_envelope"
        return
    if raw is None:  # a flat huge int or lone surrogate: the WAL line's encoding refuses it
        with pytest.raises(ProtocolError):
            check_json_value(data, WHERE)
        return
    assert copy == orjson.loads(raw) or orjson.loads(orjson.dumps(copy)) == orjson.loads(raw)
    assert copy is not data
    for key, value in copy.items():
        if isinstance(value, dict | list):
            assert value is not data[key]
