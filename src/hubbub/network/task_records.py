"""Observed tasks as values: the wire form of a task record, its updates, and track records.

The hub never runs a task: an agent runs it (``agent.task(...)``) and the hub keeps
what it is told (spec §20). This module holds the pure part of that bookkeeping,
values in and values out:

* :func:`task_from_dict` / :func:`check_task` — a :class:`~hubbub.task.TaskMetadata`
  from the wire (or from an in-process caller), every field checked, the message
  naming the field (``task.spec.payload`` ...);
* :func:`apply_update` — the metadata after ``update_task`` (a terminal task does not
  change any more; CREATED → RUNNING → a terminal state);
* :func:`observe_outcome` — an :class:`~hubbub.network.identity.ObservedStat` after one
  more terminal outcome, with the median latency of the recent samples.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from hubbub.network.errors import InvalidValueError, NetworkError
from hubbub.network.identity import ObservedStat
from hubbub.network.jsonvalue import check_json_value
from hubbub.task import TERMINAL_TASK_STATES, TaskMetadata, TaskSpec, TaskState

__all__ = [
    "LATENCY_SAMPLES",
    "OBSERVABLE_OUTCOMES",
    "apply_update",
    "check_key",
    "check_task",
    "copy_task",
    "observe_outcome",
    "parse_state",
    "task_from_dict",
]

#: Outcomes a track record counts (a cancelled task says nothing about a capability).
OBSERVABLE_OUTCOMES = frozenset({TaskState.COMPLETED, TaskState.FAILED, TaskState.EXPIRED})

#: How many recent latencies the median (``p50_latency_ms``) is taken over.
LATENCY_SAMPLES = 101

# A task id or checkpoint key becomes part of a store path: keep it to a safe alphabet.
_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}")

_FIELDS = frozenset(TaskMetadata.__dataclass_fields__)
_SPEC_FIELDS = frozenset(TaskSpec.__dataclass_fields__)


def check_key(value: Any, where: str) -> str:
    """``value`` if it is a usable task id / checkpoint key, else InvalidValueError naming ``where``.

    A key is 1-128 characters of letters, digits and ``_ . : -``, not starting with
    ``.``, ``:`` or ``-`` (it becomes part of a store path).
    """
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise InvalidValueError(
            f"{where} must be 1-128 characters of letters, digits and _.:- "
            f"(starting with a letter, digit or _), got {value!r}"
        )
    return value


def _json(value: Any, where: str) -> None:
    try:
        check_json_value(value, where)
    except NetworkError as exc:
        raise InvalidValueError(str(exc)) from exc


def _opt_str(value: Any, where: str) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidValueError(f"{where} must be a string or null, got {type(value).__name__}")


def parse_state(value: Any, where: str = "state") -> TaskState:
    """A TaskState from itself or its string value; InvalidValueError otherwise."""
    if isinstance(value, TaskState):
        return value
    if isinstance(value, str):
        try:
            return TaskState(value)
        except ValueError:
            pass
    allowed = ", ".join(s.value for s in TaskState)
    raise InvalidValueError(f"{where} must be one of {allowed}, got {value!r}")


def check_task(md: Any, where: str = "task") -> TaskMetadata:
    """A checked copy of ``md`` (a TaskMetadata); InvalidValueError names the bad field."""
    if not isinstance(md, TaskMetadata):
        raise InvalidValueError(f"{where} must be a TaskMetadata, got {type(md).__name__}")
    spec = md.spec
    if not isinstance(spec, TaskSpec):
        raise InvalidValueError(f"{where}.spec must be a TaskSpec, got {type(spec).__name__}")
    return task_from_dict(
        {
            **{name: getattr(md, name) for name in _FIELDS if name != "spec"},
            "state": parse_state(md.state, f"{where}.state").value,
            "spec": {name: getattr(spec, name) for name in _SPEC_FIELDS},
        },
        where,
    )


def task_from_dict(data: Any, where: str = "task") -> TaskMetadata:
    """Rebuild a TaskMetadata from its ``to_dict`` form, checking every field.

    Raises:
        InvalidValueError: not an object, an unknown or missing field, or a field of
            the wrong type (the message names it: ``task.spec.title``).
    """
    if not isinstance(data, dict):
        raise InvalidValueError(f"{where} must be an object, got {type(data).__name__}")
    d = dict(data)
    if "channel_id" in d:  # the older name of session_id
        d.setdefault("session_id", d.pop("channel_id"))
    unknown = sorted(set(map(str, d)) - _FIELDS)
    if unknown:
        raise InvalidValueError(f"{where}: unknown field(s) {unknown}")
    for name in ("task_id", "owner_id", "spec"):
        if name not in d:
            raise InvalidValueError(f"{where}.{name} is missing")
    check_key(d["task_id"], f"{where}.task_id")
    if not isinstance(d["owner_id"], str) or not d["owner_id"]:
        raise InvalidValueError(f"{where}.owner_id must be a non-empty string")
    spec = _spec_from(d["spec"], f"{where}.spec")
    state = parse_state(d.get("state", TaskState.CREATED), f"{where}.state")
    created_at = d.get("created_at", "")
    if not isinstance(created_at, str):
        raise InvalidValueError(f"{where}.created_at must be a string")
    for name in ("started_at", "completed_at", "expires_at", "last_progress_at", "session_id"):
        _opt_str(d.get(name), f"{where}.{name}")
    progress = d.get("progress", {})
    if not isinstance(progress, dict):
        raise InvalidValueError(f"{where}.progress must be an object")
    _json(progress, f"{where}.progress")
    result = d.get("result")
    _json(result, f"{where}.result")
    error = d.get("error", "")
    if not isinstance(error, str):
        raise InvalidValueError(f"{where}.error must be a string")
    return TaskMetadata(
        task_id=d["task_id"],
        owner_id=d["owner_id"],
        spec=spec,
        state=state,
        created_at=created_at,
        started_at=d.get("started_at"),
        completed_at=d.get("completed_at"),
        expires_at=d.get("expires_at"),
        last_progress_at=d.get("last_progress_at"),
        progress=copy.deepcopy(progress),
        result=copy.deepcopy(result),
        error=error,
        session_id=d.get("session_id"),
    )


def _spec_from(data: Any, where: str) -> TaskSpec:
    if not isinstance(data, dict):
        raise InvalidValueError(f"{where} must be an object, got {type(data).__name__}")
    unknown = sorted(set(map(str, data)) - _SPEC_FIELDS)
    if unknown:
        raise InvalidValueError(f"{where}: unknown field(s) {unknown}")
    title = data.get("title")
    if not isinstance(title, str):
        raise InvalidValueError(f"{where}.title must be a string")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise InvalidValueError(f"{where}.description must be a string")
    payload = data.get("payload", {})
    if not isinstance(payload, dict):
        raise InvalidValueError(f"{where}.payload must be an object")
    _json(payload, f"{where}.payload")
    capability = data.get("capability")
    if capability is not None and (not isinstance(capability, str) or not capability):
        raise InvalidValueError(f"{where}.capability must be a non-empty string or null")
    return TaskSpec(title, description, copy.deepcopy(payload), capability)


def copy_task(md: TaskMetadata) -> TaskMetadata:
    """An independent copy (nothing shared with ``md``)."""
    return TaskMetadata.from_dict(md.to_dict())


def apply_update(
    md: TaskMetadata,
    *,
    now: str,
    state: TaskState | str | None = None,
    progress: dict[str, Any] | None = None,
    result: Any = None,
    error: str | None = None,
) -> TaskMetadata | None:
    """The task after an update, or None when it does not change (it is terminal already).

    ``progress`` is merged into the progress record (``last_progress_at`` = ``now``);
    ``result`` / ``error`` replace theirs; a terminal ``state`` stamps ``completed_at``,
    RUNNING stamps ``started_at`` if unset.

    Raises:
        InvalidValueError: a bad value (named), or a move back to CREATED.
    """
    new_state = None if state is None else parse_state(state, "update_task: state")
    if progress is not None:
        if not isinstance(progress, dict):
            raise InvalidValueError("update_task: progress must be an object or null")
        _json(progress, "update_task: progress")
    _json(result, "update_task: result")
    if error is not None and not isinstance(error, str):
        raise InvalidValueError("update_task: error must be a string or null")
    if md.state in TERMINAL_TASK_STATES:
        return None
    if new_state is TaskState.CREATED and md.state is not TaskState.CREATED:
        raise InvalidValueError(f"update_task: task {md.task_id} cannot go back to created")
    out = copy_task(md)
    # deep copies: nothing of the caller's (in-process) objects is kept
    if progress:
        out.progress.update(copy.deepcopy(progress))
        out.last_progress_at = now
    if result is not None:
        out.result = copy.deepcopy(result)
    if error is not None:
        out.error = error
    if new_state is not None:
        out.state = new_state
        if new_state is TaskState.RUNNING and out.started_at is None:
            out.started_at = now
        if new_state in TERMINAL_TASK_STATES:
            out.completed_at = now
    return out


def observe_outcome(
    stat: ObservedStat | None,
    outcome: TaskState,
    latency_ms: int | None,
    samples: list[int],
) -> tuple[ObservedStat, list[int]]:
    """A capability's track record after one more terminal ``outcome``.

    ``samples`` are the recent latencies (oldest first); a new ``latency_ms`` joins
    them (the oldest beyond :data:`LATENCY_SAMPLES` drop out) and ``p50_latency_ms``
    is their median (the lower one of an even count).

    Raises:
        InvalidValueError: ``outcome`` is not completed/failed/expired.
    """
    if outcome not in OBSERVABLE_OUTCOMES:
        raise InvalidValueError(
            f"record_observation: outcome must be completed, failed or expired, got {outcome.value!r}"
        )
    old = stat or ObservedStat()
    new_samples = list(samples)
    if latency_ms is not None:
        new_samples = [*new_samples, latency_ms][-LATENCY_SAMPLES:]
    p50 = old.p50_latency_ms
    if new_samples:
        ordered = sorted(new_samples)
        p50 = ordered[(len(ordered) - 1) // 2]
    return (
        ObservedStat(
            n=old.n + 1,
            completed=old.completed + (outcome is TaskState.COMPLETED),
            failed=old.failed + (outcome is TaskState.FAILED),
            expired=old.expired + (outcome is TaskState.EXPIRED),
            p50_latency_ms=p50,
        ),
        new_samples,
    )
