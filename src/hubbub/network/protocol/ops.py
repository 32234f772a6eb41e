"""The control-plane operations a client may ask of the hub, and how their values travel.

Each operation has named parameters of a few **kinds** and a result kind. The
client encodes parameters with :func:`encode_params`, the server decodes them
with :func:`decode_params` (refusing a missing, unknown or mistyped one with
``invalid_value``, naming it); results go the other way with
:func:`encode_result` / :func:`decode_result`. Encoded values are JSON-ready, so
the same code runs in-process (``LocalLink`` passes the dicts as they are) and
over a wire (the WebSocket link serialises them).

A parameter of kind ``"own"`` is an agent id that must belong to the connection
asking (:class:`~hubbub.network.protocol.server.ServerProtocol` checks it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hubbub.network.envelope import Envelope
from hubbub.network.errors import InvalidValueError, ProtocolError
from hubbub.network.identity import Passport, Resume
from hubbub.network.jsonvalue import check_json_value
from hubbub.network.rule import Rule
from hubbub.network.session import SessionMetadata
from hubbub.network.task_records import task_from_dict
from hubbub.task import TaskMetadata

__all__ = [
    "MAX_NAMES",
    "OPS",
    "READ_ONLY",
    "OpSpec",
    "Registered",
    "decode_params",
    "decode_result",
    "encode_params",
    "encode_result",
    "own_params",
]

_REQUIRED: Any = object()

#: Most agent ids one ``names_for`` request resolves.
MAX_NAMES = 1000


@dataclass(frozen=True, slots=True)
class Registered:
    """The result of ``register``: the stored records, and whether the name came back."""

    passport: Passport
    resume: Resume
    rule: Rule
    existing: bool


@dataclass(frozen=True, slots=True)
class OpSpec:
    """One operation: its parameters (name → (kind, default)) and its result kind."""

    params: dict[str, tuple[str, Any]]
    result: str


def _p(kind: str, default: Any = _REQUIRED) -> tuple[str, Any]:
    return (kind, default)


#: Every operation a connection may request, by name.
OPS: dict[str, OpSpec] = {
    "register": OpSpec(
        {
            "passport": _p("passport"),
            "resume": _p("resume?", None),
            "skill_md": _p("str?", None),
            "rule": _p("rule?", None),
            "cursors": _p("cursors?", None),
        },
        "registered",
    ),
    "unregister": OpSpec({"agent_id": _p("own")}, "none"),
    "get_agent": OpSpec({"name_or_id": _p("str")}, "passport"),
    "get_resume": OpSpec({"agent_id": _p("str")}, "resume"),
    "names_for": OpSpec({"agent_ids": _p("ids")}, "names"),
    "find_agent_id": OpSpec({"name": _p("str")}, "str?"),
    "get_skill": OpSpec({"agent_id": _p("str")}, "str?"),
    "list_agents": OpSpec(
        {
            "capability": _p("str?", None),
            "query": _p("str?", None),
            "kind": _p("str?", None),
            "sort_by": _p("str?", None),
            "limit": _p("int", 50),
            "online": _p("bool?", None),
        },
        "passports",
    ),
    "set_resume": OpSpec({"agent_id": _p("own"), "resume": _p("resume")}, "resume"),
    "set_skill": OpSpec({"agent_id": _p("own"), "skill_md": _p("str?")}, "none"),
    "set_rule": OpSpec({"agent_id": _p("own"), "rule": _p("rule")}, "rule"),
    "create_session": OpSpec(
        {
            "creator_id": _p("own"),
            "manifest_type": _p("str"),
            "participants": _p("ids"),
            "manifest_version": _p("int", 1),
            "ttl": _p("ttl", None),
            "knobs": _p("json?", None),
            "intent": _p("str?", None),
            "labels": _p("json?", None),
            "wait_online": _p("number?", None),
        },
        "metadata",
    ),
    "close_session": OpSpec(
        {"session_id": _p("str"), "caller_id": _p("own"), "reason": _p("str", "")}, "metadata"
    ),
    "get_session": OpSpec({"session_id": _p("str"), "caller_id": _p("own")}, "metadata"),
    "list_sessions": OpSpec(
        {"caller_id": _p("own"), "include_terminal": _p("bool", False), "limit": _p("int", 50)},
        "metadatas",
    ),
    "read_wal": OpSpec(
        {
            "session_id": _p("str"),
            "caller_id": _p("own"),
            "since": _p("int", 0),
            "until": _p("int?", None),
        },
        "envelopes",
    ),
    "can_send": OpSpec(
        {"session_id": _p("str"), "sender_id": _p("own"), "event_type": _p("str?", None)}, "bool"
    ),
    "adapter_state": OpSpec({"session_id": _p("str"), "caller_id": _p("own")}, "json"),
    "turn_probe": OpSpec({"session_id": _p("str"), "caller_id": _p("own")}, "json"),
    "usage": OpSpec({"agent_id": _p("own"), "session_id": _p("str?", None)}, "json"),
    "report_turn_failure": OpSpec(
        {
            "session_id": _p("str"),
            "agent_id": _p("own"),
            "envelope_id": _p("str"),
            "error_type": _p("str"),
            "error_message": _p("str", ""),
        },
        "none",
    ),
    # Operator reads: the hub's store, read only (for ``hubbub --hub``; refused with
    # ``access_denied`` unless the connection's principal is the operator). Each answer
    # holds what fits in about half a MiB; the client asks again for the rest.
    "store_list": OpSpec({"path": _p("str", "/")}, "json"),
    "store_read": OpSpec({"paths": _p("ids")}, "json"),
    "store_read_lines": OpSpec(
        {"path": _p("str"), "start": _p("int", 0), "end": _p("int?", None)}, "json"
    ),
    "store_read_lines_many": OpSpec({"paths": _p("ids"), "starts": _p("ints")}, "json"),
    "store_line_counts": OpSpec({"paths": _p("ids")}, "json"),
    # tasks (spec §20): the hub observes what agents run; checkpoints let a task resume
    "observe_task": OpSpec({"metadata": _p("task")}, "task"),
    "update_task": OpSpec(
        {
            "task_id": _p("str"),
            "state": _p("str?", None),
            "progress": _p("json?", None),
            "result": _p("any", None),
            "error": _p("str?", None),
        },
        "task",
    ),
    "get_task": OpSpec({"task_id": _p("str")}, "task"),
    "list_tasks": OpSpec(
        {
            "owner_id": _p("str?", None),
            "session_id": _p("str?", None),
            "state": _p("str?", None),
            "limit": _p("int", 50),
        },
        "tasks",
    ),
    "record_observation": OpSpec(
        {
            "agent_id": _p("own"),
            "capability": _p("str"),
            "outcome": _p("str"),
            "latency_ms": _p("int?", None),
            "task_id": _p("str?", None),
        },
        "resume",
    ),
    "save_checkpoint": OpSpec(
        {"agent_id": _p("own"), "key": _p("str"), "data": _p("json")}, "none"
    ),
    "load_checkpoint": OpSpec({"agent_id": _p("own"), "key": _p("str")}, "json"),
    "delete_checkpoint": OpSpec({"agent_id": _p("own"), "key": _p("str")}, "none"),
}


#: Operations that change nothing: a client may send one again after a reconnect.
READ_ONLY = frozenset(
    {
        "get_agent",
        "get_resume",
        "names_for",
        "find_agent_id",
        "get_skill",
        "list_agents",
        "get_session",
        "list_sessions",
        "read_wal",
        "can_send",
        "adapter_state",
        "turn_probe",
        "store_list",
        "store_read",
        "store_read_lines",
        "store_read_lines_many",
        "store_line_counts",
        "get_task",
        "list_tasks",
        "load_checkpoint",
        "usage",
    }
)


# ---------------------------------------------------------------- value kinds


def _is_int(v: Any) -> bool:
    return type(v) is int


def _kind_error(op: str, name: str, kind: str, value: Any) -> InvalidValueError:
    want = {
        "str": "a string",
        "own": "an agent id (string)",
        "str?": "a string or null",
        "int": "an integer",
        "int?": "an integer or null",
        "bool": "true or false",
        "bool?": "true, false or null",
        "number?": "a non-negative number or null",
        "ids": "a list of strings",
        "ints": "a list of non-negative integers",
        "ttl": "a duration (string or integer) or null",
        "json?": "a JSON object or null",
        "cursors": "an object of session id → sequence (non-negative integers)",
        "passport": "a passport object",
        "resume": "a resume object",
        "resume?": "a resume object or null",
        "rule": "a rule object",
        "rule?": "a rule object or null",
        "task": "a task metadata object",
        "any": "a JSON value",
    }.get(kind, kind)
    return InvalidValueError(f"{op}: parameter {name!r} must be {want}, got {type(value).__name__}")


def _decode_value(op: str, name: str, kind: str, value: Any) -> Any:
    optional = kind.endswith("?")
    if optional and value is None:
        return None
    base = kind.rstrip("?")
    if base in ("str", "own"):
        if isinstance(value, str):
            return value
    elif base == "int":
        if _is_int(value):
            return value
    elif base == "bool":
        if type(value) is bool:
            return value
    elif base == "number":
        if (_is_int(value) or type(value) is float) and value >= 0 and value == value:
            return float(value)
    elif base == "ids":
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    elif base == "ints":
        if isinstance(value, list) and all(_is_int(v) and v >= 0 for v in value):
            return list(value)
    elif base == "ttl":
        if value is None or isinstance(value, str) or _is_int(value):
            return value
    elif base == "json":
        if isinstance(value, dict):
            check_json_value(value, f"{op}.{name}")
            return value
    elif base == "any":
        try:
            check_json_value(value, f"{op}.{name}")
        except ProtocolError as exc:  # a parameter, not an envelope: invalid_value
            raise InvalidValueError(str(exc)) from exc
        return value
    elif base == "cursors":
        if isinstance(value, dict) and all(
            isinstance(k, str) and _is_int(v) and v >= 0 for k, v in value.items()
        ):
            return dict(value)
    elif base in _RECORDS:
        if isinstance(value, dict):
            return _RECORDS[base](value)
        if isinstance(value, _RECORD_TYPES[base]):  # an in-process caller's object
            return value
    raise _kind_error(op, name, kind, value)


def _encode_value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    base = kind.rstrip("?")
    if base in _RECORDS and hasattr(value, "to_dict"):
        return value.to_dict()
    return value  # a plain value travels as it is; the hub checks it


_RECORDS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "passport": Passport.from_dict,
    "resume": Resume.from_dict,
    "rule": Rule.from_dict,
    "task": task_from_dict,
}
_RECORD_TYPES: dict[str, type] = {
    "passport": Passport,
    "resume": Resume,
    "rule": Rule,
    "task": TaskMetadata,
}


def _spec(op: Any) -> OpSpec:
    spec = OPS.get(op) if isinstance(op, str) else None
    if spec is None:
        raise ProtocolError(f"unknown operation {op!r}", code="unknown_op")
    return spec


def encode_params(op: str, params: dict[str, Any]) -> dict[str, Any]:
    """The JSON-ready parameters of a request (records as dicts).

    Raises:
        ProtocolError: ``op`` is not an operation (``unknown_op``).
    """
    spec = _spec(op)
    out: dict[str, Any] = {}
    for name, value in params.items():
        kind = spec.params.get(name, ("json?", None))[0]
        out[name] = _encode_value(kind, value)
    return out


def decode_params(op: Any, params: Any) -> dict[str, Any]:
    """Check and rebuild a request's parameters; defaults fill what was left out.

    Raises:
        ProtocolError: ``op`` is not an operation (``unknown_op``).
        InvalidValueError: a parameter is missing, unknown or of the wrong kind
            (the message names it).
    """
    spec = _spec(op)
    if not isinstance(params, dict):
        raise InvalidValueError(f"{op}: params must be an object, got {type(params).__name__}")
    unknown = set(params) - set(spec.params)
    if unknown:
        raise InvalidValueError(f"{op}: unknown parameter(s) {sorted(map(str, unknown))}")
    out: dict[str, Any] = {}
    for name, (kind, default) in spec.params.items():
        if name in params:
            out[name] = _decode_value(op, name, kind, params[name])
        elif default is _REQUIRED:
            raise InvalidValueError(f"{op}: parameter {name!r} is required")
        else:
            out[name] = default
    return out


def own_params(op: str) -> list[str]:
    """The parameters of ``op`` that must name one of the connection's agents."""
    return [name for name, (kind, _) in _spec(op).params.items() if kind == "own"]


def encode_result(op: str, result: Any) -> Any:
    """The JSON-ready result of an operation."""
    kind = _spec(op).result
    if kind == "registered":
        return {
            "passport": result.passport.to_dict(),
            "resume": result.resume.to_dict(),
            "rule": result.rule.to_dict(),
            "existing": bool(result.existing),
        }
    if kind in ("passport", "resume", "rule", "metadata", "task"):
        return result.to_dict()
    if kind == "tasks":
        return [t.to_dict() for t in result]
    if kind == "passports":
        return [p.to_dict() for p in result]
    if kind == "metadatas":
        return [m.to_dict() for m in result]
    if kind == "envelopes":
        return [e.to_dict() for e in result]
    if kind == "none":
        return None
    return result


def decode_result(op: str, data: Any) -> Any:
    """Rebuild an operation's result on the client.

    Raises:
        ProtocolError: the hub's answer does not have the result's shape (``bad_frame``).
    """
    kind = _spec(op).result
    try:
        if kind == "registered":
            return Registered(
                Passport.from_dict(data["passport"]),
                Resume.from_dict(data["resume"]),
                Rule.from_dict(data["rule"]),
                bool(data["existing"]),
            )
        if kind == "passport":
            return Passport.from_dict(data)
        if kind == "resume":
            return Resume.from_dict(data)
        if kind == "rule":
            return Rule.from_dict(data)
        if kind == "metadata":
            return SessionMetadata.from_dict(data)
        if kind == "passports":
            return [Passport.from_dict(d) for d in data]
        if kind == "metadatas":
            return [SessionMetadata.from_dict(d) for d in data]
        if kind == "envelopes":
            return [Envelope.from_dict(d) for d in data]
        if kind == "task":
            return task_from_dict(data)
        if kind == "tasks":
            return [task_from_dict(d) for d in data]
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(
            f"{op}: the hub's result does not decode: {exc}", code="bad_frame"
        ) from exc
    if kind == "bool" and type(data) is not bool:
        raise ProtocolError(f"{op}: the hub's result must be a bool", code="bad_frame")
    if kind == "int" and not _is_int(data):
        raise ProtocolError(f"{op}: the hub's result must be an int", code="bad_frame")
    if kind == "names" and not (
        isinstance(data, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in data.items())
    ):
        raise ProtocolError(
            f"{op}: the hub's result must be an object of agent id → name", code="bad_frame"
        )
    if kind == "str?" and data is not None and not isinstance(data, str):
        raise ProtocolError(f"{op}: the hub's result must be a string or null", code="bad_frame")
    return data
