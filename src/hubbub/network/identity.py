"""Identity records: Passport (who), Resume (what it can do), and their parts.

Plain data: ``to_dict``/``from_dict`` round-trip every record, nested values
included. The hub stamps ``Passport.agent_id`` and ``created_at`` at registration.

Every record checks its fields where it is built (``__post_init__``, and
``from_dict`` for untrusted dicts): a wrong type or a nonsense value raises
``InvalidValueError`` (a ``NetworkError`` and a ``ValueError``) whose message
starts with the field's path (``Passport.cost.input_per_mtok``,
``Resume.examples[2].title``) and shows the value. Lists are copied, so a record
never shares a list with its caller. Records are built at registration, never
per envelope, so the checks cost nothing on the hub's hot path.

The field checks at the end of this module (``check_*``, ``record_fields``,
``build``) are shared with ``rule.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

from hubbub.network.errors import InvalidValueError, ProtocolError
from hubbub.network.jsonvalue import check_json_value

__all__ = [
    "MAX_NAME_LENGTH",
    "PASSPORT_KINDS",
    "AgentRuntime",
    "AuthBlock",
    "CostProfile",
    "ObservedStat",
    "Passport",
    "PassportKind",
    "Resume",
    "ResumeExample",
]

PassportKind = Literal["agent", "human", "remote_agent"]
PASSPORT_KINDS: tuple[str, ...] = ("agent", "human", "remote_agent")

#: Longest ``Passport.name`` accepted, in characters.
MAX_NAME_LENGTH = 128

_R = TypeVar("_R")


@dataclass(slots=True)
class AuthBlock:
    """How an agent proves its identity: a scheme name plus the claim it presents.

    ``claim`` must be a JSON object (it is stored with the passport).
    """

    scheme: str = "none"
    issuer: str | None = None
    audience: str | None = None
    key_fingerprint: str | None = None
    claim: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._check("AuthBlock")

    def _check(self, where: str) -> None:
        self.scheme = check_str(self.scheme, f"{where}.scheme", non_empty=True)
        for name in ("issuer", "audience", "key_fingerprint"):
            check_optional_str(getattr(self, name), f"{where}.{name}")
        self.claim = check_json_object(self.claim, f"{where}.claim")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AuthBlock:
        """Rebuild from ``to_dict`` output (missing keys take defaults; None = defaults).

        Raises:
            InvalidValueError: ``data`` is not a dict, has unknown keys or a bad field.
        """
        if data is None:
            return cls()
        kwargs = record_fields(data, "AuthBlock", _fields_of(cls))
        return build(cls, "AuthBlock", kwargs)


@dataclass(slots=True)
class CostProfile:
    """Advertised price and latency tier of an agent's model.

    Prices are finite non-negative numbers (stored as floats) or None.
    """

    input_per_mtok: float | None = None
    output_per_mtok: float | None = None
    latency_tier: str | None = None

    def __post_init__(self) -> None:
        self._check("CostProfile")

    def _check(self, where: str) -> None:
        self.input_per_mtok = check_price(self.input_per_mtok, f"{where}.input_per_mtok")
        self.output_per_mtok = check_price(self.output_per_mtok, f"{where}.output_per_mtok")
        check_optional_str(self.latency_tier, f"{where}.latency_tier")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CostProfile | None:
        """Rebuild from ``to_dict`` output; None stays None.

        Raises:
            InvalidValueError: ``data`` is not a dict, has unknown keys or a bad field.
        """
        if data is None:
            return None
        return build(cls, "CostProfile", record_fields(data, "CostProfile", _fields_of(cls)))


@dataclass(slots=True)
class Passport:
    """Immutable identity of one registered agent; change it by re-registering.

    ``name`` is a non-empty string of at most :data:`MAX_NAME_LENGTH` characters,
    with no control characters and no leading or trailing whitespace.
    """

    name: str
    owner: str = ""
    provider: str | None = None
    model: str | None = None
    cost: CostProfile | None = None
    region: str | None = None
    auth: AuthBlock = field(default_factory=AuthBlock)
    kind: PassportKind | None = None
    version: int = 1
    agent_id: str | None = None
    created_at: str = ""

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        check_name(self.name, "Passport.name")
        check_str(self.owner, "Passport.owner")
        for name in ("provider", "model", "region", "agent_id"):
            check_optional_str(getattr(self, name), f"Passport.{name}")
        # Nested blocks are checked again: they may have been changed since they were built.
        if self.cost is not None:
            check_record(self.cost, CostProfile, "Passport.cost")
            self.cost._check("Passport.cost")
        check_record(self.auth, AuthBlock, "Passport.auth")
        self.auth._check("Passport.auth")
        if self.kind is not None and (
            not isinstance(self.kind, str) or self.kind not in PASSPORT_KINDS
        ):
            raise InvalidValueError(
                f"Passport.kind must be one of {PASSPORT_KINDS} or None, got {show(self.kind)}"
            )
        check_count(self.version, "Passport.version")
        check_str(self.created_at, "Passport.created_at")

    @property
    def effective_kind(self) -> str:
        """The kind with None resolved to ``"agent"``."""
        return self.kind or "agent"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (nested records as dicts).

        Raises:
            InvalidValueError: a field was changed to a bad value after the record was built.
        """
        self._check()
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Passport:
        """Rebuild from ``to_dict`` output.

        Raises:
            InvalidValueError: ``data`` is not a dict, lacks ``name``, has unknown
                keys or a bad field (the message names it: ``Passport.cost.input_per_mtok``).
        """
        kwargs = dict(record_fields(data, "Passport", _fields_of(cls)))
        if "name" not in kwargs:
            raise InvalidValueError("Passport.name is missing")
        kwargs["cost"] = nested("Passport.cost", CostProfile.from_dict, kwargs.get("cost"))
        kwargs["auth"] = nested("Passport.auth", AuthBlock.from_dict, kwargs.get("auth"))
        return build(cls, "Passport", kwargs)


@dataclass(slots=True)
class ResumeExample:
    """One worked example an agent advertises (or the hub observed)."""

    title: str
    outcome: str = ""
    task_id: str | None = None
    session_id: str | None = None
    when: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        self._check("ResumeExample")

    def _check(self, where: str) -> None:
        for name in ("title", "outcome", "note"):
            check_str(getattr(self, name), f"{where}.{name}")
        for name in ("task_id", "session_id", "when"):
            check_optional_str(getattr(self, name), f"{where}.{name}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResumeExample:
        """Rebuild from ``to_dict`` output.

        Raises:
            InvalidValueError: ``data`` is not a dict, lacks ``title``, has unknown
                keys or a bad field.
        """
        kwargs = record_fields(data, "ResumeExample", _fields_of(cls))
        if "title" not in kwargs:
            raise InvalidValueError("ResumeExample.title is missing")
        return build(cls, "ResumeExample", kwargs)


@dataclass(slots=True)
class ObservedStat:
    """Hub-observed track record for one capability (non-negative counts)."""

    n: int = 0
    completed: int = 0
    failed: int = 0
    expired: int = 0
    p50_latency_ms: int | None = None

    def __post_init__(self) -> None:
        self._check("ObservedStat")

    def _check(self, where: str) -> None:
        for name in ("n", "completed", "failed", "expired"):
            check_count(getattr(self, name), f"{where}.{name}")
        if self.p50_latency_ms is not None:
            check_count(self.p50_latency_ms, f"{where}.p50_latency_ms")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObservedStat:
        """Rebuild from ``to_dict`` output (missing keys take defaults).

        Raises:
            InvalidValueError: ``data`` is not a dict, has unknown keys or a bad field.
        """
        return build(cls, "ObservedStat", record_fields(data, "ObservedStat", _fields_of(cls)))


@dataclass(slots=True)
class Resume:
    """Capability claims plus the hub's observed track record."""

    claimed_capabilities: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    summary: str = ""
    examples: list[ResumeExample] = field(default_factory=list)
    observed: dict[str, ObservedStat] = field(default_factory=dict)
    version: int = 1
    last_updated: str = ""

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        self.claimed_capabilities = check_str_list(
            self.claimed_capabilities, "Resume.claimed_capabilities", "capability names"
        )
        self.domains = check_str_list(self.domains, "Resume.domains", "domain names")
        check_str(self.summary, "Resume.summary")
        if not isinstance(self.examples, list | tuple):
            raise InvalidValueError(
                f"Resume.examples must be a list of ResumeExample, got {show(self.examples)}"
            )
        for i, example in enumerate(self.examples):
            check_record(example, ResumeExample, f"Resume.examples[{i}]")
            example._check(f"Resume.examples[{i}]")
        self.examples = list(self.examples)
        if not isinstance(self.observed, dict):
            raise InvalidValueError(
                "Resume.observed must be a dict of capability name to ObservedStat, "
                f"got {show(self.observed)}"
            )
        for key, stat in self.observed.items():
            check_str(key, f"Resume.observed key {show(key)}", non_empty=True)
            check_record(stat, ObservedStat, f"Resume.observed[{show(key)}]")
            stat._check(f"Resume.observed[{show(key)}]")
        self.observed = dict(self.observed)
        check_count(self.version, "Resume.version")
        check_str(self.last_updated, "Resume.last_updated")

    def capabilities(self) -> set[str]:
        """Claimed and observed capability names together."""
        return set(self.claimed_capabilities) | set(self.observed)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (nested records as dicts).

        Raises:
            InvalidValueError: a field was changed to a bad value after the record was built.
        """
        self._check()
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Resume:
        """Rebuild from ``to_dict`` output (missing keys take defaults).

        Raises:
            InvalidValueError: ``data`` is not a dict, has unknown keys or a bad
                field (the message names it: ``Resume.examples[0].title``).
        """
        kwargs = dict(record_fields(data, "Resume", _fields_of(cls)))
        examples = kwargs.get("examples")
        if examples is not None:
            if not isinstance(examples, list):
                raise InvalidValueError(
                    f"Resume.examples must be a list of objects, got {show(examples)}"
                )
            kwargs["examples"] = [
                nested(f"Resume.examples[{i}]", ResumeExample.from_dict, e)
                for i, e in enumerate(examples)
            ]
        observed = kwargs.get("observed")
        if observed is not None:
            if not isinstance(observed, dict):
                raise InvalidValueError(f"Resume.observed must be an object, got {show(observed)}")
            kwargs["observed"] = {
                k: nested(f"Resume.observed[{show(k)}]", ObservedStat.from_dict, v)
                for k, v in observed.items()
            }
        for name in ("claimed_capabilities", "domains", "examples", "observed"):
            if kwargs.get(name, ()) is None:  # null in stored data means "none"
                del kwargs[name]
        return build(cls, "Resume", kwargs)


@dataclass(slots=True)
class AgentRuntime:
    """Where an agent is reachable right now (hub bookkeeping, never persisted as truth)."""

    agent_id: str
    binding: str = "local"
    target: str | None = None
    reachable: bool = True
    last_heartbeat: str | None = None

    def __post_init__(self) -> None:
        check_str(self.agent_id, "AgentRuntime.agent_id", non_empty=True)
        check_str(self.binding, "AgentRuntime.binding", non_empty=True)
        check_optional_str(self.target, "AgentRuntime.target")
        if not isinstance(self.reachable, bool):
            raise InvalidValueError(
                f"AgentRuntime.reachable must be true or false, got {show(self.reachable)}"
            )
        check_optional_str(self.last_heartbeat, "AgentRuntime.last_heartbeat")


# ---------------------------------------------------------------- field checks
# Shared with rule.py. Each raises InvalidValueError whose message starts with
# ``where`` (the field's path), which is what ``build`` relies on.

_SHOW = 60  # longest value text quoted in a message
_MAX_INT = 2**63 - 1  # what the JSON store (orjson) can encode


def show(value: Any) -> str:
    """``repr(value)``, cut to about 60 characters (a hostile value can be megabytes)."""
    text = repr(value)
    return text if len(text) <= _SHOW else f"{text[: _SHOW - 3]}..."


def check_str(value: Any, where: str, *, non_empty: bool = False) -> str:
    """Return ``value`` if it is a string that encodes as UTF-8 (and is non-empty if asked).

    Raises:
        InvalidValueError: not a string, empty when ``non_empty``, or a lone surrogate.
    """
    if not isinstance(value, str) or (non_empty and not value):
        kind = "a non-empty string" if non_empty else "a string"
        raise InvalidValueError(f"{where} must be {kind}, got {show(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValueError(
            f"{where} contains a lone surrogate (not valid UTF-8): {show(value)}"
        ) from None
    return value


def check_optional_str(value: Any, where: str) -> str | None:
    """Return ``value`` if it is None or a UTF-8-encodable string; InvalidValueError otherwise."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidValueError(f"{where} must be a string or None, got {show(value)}")
    return check_str(value, where)


def check_name(value: Any, where: str) -> str:
    """Return ``value`` if it is an acceptable agent name.

    A name is a non-empty string of at most :data:`MAX_NAME_LENGTH` characters,
    with no control characters (U+0000-U+001F, U+007F-U+009F) and no leading or
    trailing whitespace.

    Raises:
        InvalidValueError: naming the problem.
    """
    name = check_str(value, where, non_empty=True)
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidValueError(
            f"{where} is {len(name)} characters long, over the {MAX_NAME_LENGTH} limit"
        )
    for i, ch in enumerate(name):
        if ch < " " or "\x7f" <= ch <= "\x9f":
            raise InvalidValueError(
                f"{where} contains a control character (U+{ord(ch):04X} at index {i}): {show(name)}"
            )
    if name != name.strip():
        raise InvalidValueError(f"{where} has leading or trailing whitespace: {show(name)}")
    return name


def check_count(value: Any, where: str) -> int:
    """Return ``value`` if it is an int in [0, 2**63); ``bool`` is not a count.

    Raises:
        InvalidValueError: ``"<where> must be a non-negative integer, got 'lots'"``.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_INT:
        raise InvalidValueError(f"{where} must be a non-negative integer, got {show(value)}")
    return value


def check_price(value: Any, where: str) -> float | None:
    """Return ``value`` as a float if it is a finite non-negative number, None if None.

    Raises:
        InvalidValueError: a bool, a non-number, NaN, infinite or negative.
    """
    if value is None:
        return None
    if not isinstance(value, bool) and isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            number = math.inf
        if math.isfinite(number) and number >= 0:
            return number
    raise InvalidValueError(f"{where} must be a finite non-negative number, got {show(value)}")


def check_str_list(value: Any, where: str, what: str = "strings") -> list[str]:
    """Return a new list of the strings in ``value`` (a list or tuple).

    A bare string is refused, not read as a list of one-character strings.

    Raises:
        InvalidValueError: ``"<where> must be a list of <what>, got 'alice'"`` or
            ``"<where>[0] must be a string, got 1"``.
    """
    if not isinstance(value, list | tuple):
        raise InvalidValueError(f"{where} must be a list of {what}, got {show(value)}")
    return [check_str(item, f"{where}[{i}]") for i, item in enumerate(value)]


def check_json_object(value: Any, where: str) -> dict[str, Any]:
    """Return a shallow copy of ``value`` if it is a dict holding only JSON values.

    Raises:
        InvalidValueError: not a dict, or a value JSON cannot carry (the message
            names its path, as ``check_json_value`` does).
    """
    if not isinstance(value, dict):
        raise InvalidValueError(f"{where} must be a dict (JSON object), got {show(value)}")
    try:
        check_json_value(value, where)
    except ProtocolError as exc:
        raise InvalidValueError(exc.message) from None
    return dict(value)


def check_record(value: Any, cls: type, where: str) -> None:
    """Raise InvalidValueError unless ``value`` is an instance of ``cls``."""
    if not isinstance(value, cls):
        raise InvalidValueError(
            f"{where} must be a {cls.__name__}, got {type(value).__name__} {show(value)}"
        )


def record_fields(data: Any, where: str, allowed: Iterable[str]) -> dict[str, Any]:
    """Return ``data`` if it is a dict whose keys are all in ``allowed``.

    Raises:
        InvalidValueError: ``data`` is not a dict, or has keys outside ``allowed``.
    """
    if not isinstance(data, dict):
        raise InvalidValueError(f"{where} must be an object (dict), got {show(data)}")
    known = set(allowed)
    unknown = [k for k in data if k not in known]
    if unknown:
        listed = ", ".join(show(k) for k in unknown[:5])
        raise InvalidValueError(
            f"{where} has unknown field(s): {listed} (known: {', '.join(sorted(known))})"
        )
    return data


def build(cls: Callable[..., _R], where: str, kwargs: dict[str, Any]) -> _R:
    """``cls(**kwargs)``, its errors naming fields by ``where`` rather than by class.

    A record's own checks name fields from its class (``InboxBlock.max_pending``);
    built inside another record's ``from_dict`` they should name the full path
    (``Rule.limits.inbox.max_pending``). The checks' messages start with the
    class name, so that prefix is replaced.
    """
    try:
        return cls(**kwargs)
    except InvalidValueError as exc:
        raise _rerooted(exc, getattr(cls, "__name__", ""), where) from None


def nested(where: str, from_dict: Callable[[Any], _R], data: Any) -> _R:
    """``from_dict(data)`` for a record nested at ``where``, errors naming the full path."""
    try:
        return from_dict(data)
    except InvalidValueError as exc:
        owner = getattr(from_dict, "__self__", None)
        raise _rerooted(exc, getattr(owner, "__name__", ""), where) from None


def _rerooted(exc: InvalidValueError, name: str, where: str) -> InvalidValueError:
    """``exc`` with its leading class name ``name`` replaced by the path ``where``."""
    message = exc.message
    if (
        name
        and where != name
        and message.startswith(name)
        and message[len(name) : len(name) + 1] in (".", "[", " ", ":")
    ):
        return InvalidValueError(where + message[len(name) :])
    return exc


def _fields_of(cls: Any) -> tuple[str, ...]:
    return tuple(cls.__dataclass_fields__)
