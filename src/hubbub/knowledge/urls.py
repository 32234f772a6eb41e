"""Store URLs: one string names a knowledge store (``hubbub serve --store URL``).

==========================================  ==========================================
URL                                         store
==========================================  ==========================================
``memory:``                                 ``MemoryKnowledgeStore`` (nothing survives)
``disk:PATH`` (``disk:///abs/path`` too)    ``DiskKnowledgeStore`` rooted at ``PATH``
``sqlite:///rel/path``,                     ``SqliteKnowledgeStore`` on that file
``sqlite:////abs/path``
``redis://[:PASSWORD@]HOST[:PORT][/DB]``,   ``RedisKnowledgeStore``; ``?prefix=P`` sets
``rediss://...`` (TLS)                      its key prefix
``postgresql://USER@HOST[:PORT]/DB``,       ``PostgresKnowledgeStore``; ``?schema=S``
``postgres://...``                          sets its schema, other query parameters
                                            go to ``asyncpg`` (``sslmode=...``)
==========================================  ==========================================

``open_store`` only builds the store: servers are reached (and the SQLite file
opened) at first use, so a store that is down fails there with
``StoreUnavailableError``. A URL that names no store is refused with
``InvalidValueError``; messages never show a password from the URL.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from hubbub.knowledge.base import KnowledgeStore
from hubbub.knowledge.disk import DiskKnowledgeStore
from hubbub.knowledge.memory import MemoryKnowledgeStore
from hubbub.knowledge.sqlite import SqliteKnowledgeStore
from hubbub.network.errors import InvalidValueError

__all__ = ["ACCEPTED", "open_store"]

#: The URL forms :func:`open_store` accepts, as messages list them.
ACCEPTED = (
    "memory:",
    "disk:PATH",
    "sqlite:///PATH",
    "redis://HOST...",
    "rediss://HOST...",
    "postgresql://HOST...",
    "postgres://HOST...",
)

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def open_store(url: str) -> KnowledgeStore:
    """Build the knowledge store a URL names (see the module docstring for the forms).

    Args:
        url: the store URL.

    Returns:
        The store, not yet connected; the caller closes it.

    Raises:
        InvalidValueError: the URL has no scheme, an unknown one, or is not a
            valid URL of its scheme (the message says which and lists the forms);
            a ``redis``/``postgres`` URL when its driver is not installed.
        StoreUnavailableError: a ``disk:`` root that cannot be created.
        StoreLockedError: code ``foreign_store``: a ``disk:`` root holding other files.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidValueError(f"a store URL must be a non-empty string, got {url!r}")
    if _SCHEME.match(url) is None:
        hint = f"; for an SQLite file, sqlite:///{url}" if "/" in url or "." in url else ""
        raise InvalidValueError(
            f"store URL {url!r} has no scheme{hint} (accepted: {', '.join(ACCEPTED)})"
        )
    scheme, _, rest = url.partition(":")
    opener = _OPENERS.get(scheme.lower())
    if opener is None:
        raise InvalidValueError(
            f"unknown store URL scheme {scheme + ':'!r} (accepted: {', '.join(ACCEPTED)})"
        )
    return opener(url, rest)


def _memory(url: str, rest: str) -> KnowledgeStore:
    if rest:
        raise InvalidValueError(f"a memory store URL is just 'memory:', got {url!r}")
    return MemoryKnowledgeStore()


def _disk(url: str, rest: str) -> KnowledgeStore:
    path = rest
    if path.startswith("//"):  # the file-URL spelling, disk:///abs/path
        if not path.startswith("///"):
            raise InvalidValueError(
                f"a disk store URL is disk:PATH or disk:///abs/path, got {url!r}"
            )
        path = path[2:]
    if not path:
        raise InvalidValueError(f"a disk store URL needs a directory: disk:PATH, got {url!r}")
    return DiskKnowledgeStore(path)


def _sqlite(url: str, rest: str) -> KnowledgeStore:
    if not rest.startswith("///") or len(rest) == 3:
        raise InvalidValueError(
            "an SQLite store URL is sqlite:///relative/path or sqlite:////absolute/path, "
            f"got {url!r}"
        )
    path = rest[3:]
    if "?" in path or "#" in path:
        raise InvalidValueError(f"an SQLite store URL takes no query or fragment, got {url!r}")
    return SqliteKnowledgeStore(path)


def _split(url: str, kind: str) -> tuple[SplitResult, dict[str, str]]:
    """The URL's parts and its query parameters, each given once.

    Raises:
        InvalidValueError: a bad port, or a parameter given twice.
    """
    shown = _redact(url)
    try:
        parts = urlsplit(url)
        _ = parts.port  # parses the port: a bad one raises ValueError
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise InvalidValueError(f"bad {kind} store URL {shown}: {exc}") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise InvalidValueError(f"{kind} store URL {shown} gives {name!r} twice")
        params[name] = value
    return parts, params


def _redis(url: str, rest: str) -> KnowledgeStore:
    del rest
    parts, params = _split(url, "Redis")
    prefix = params.pop("prefix", None)
    if params:
        raise InvalidValueError(
            f"Redis store URL {_redact(url)}: unknown parameter {sorted(params)[0]!r} "
            "(the one parameter is prefix)"
        )
    if prefix is not None and not prefix:
        raise InvalidValueError(f"Redis store URL {_redact(url)}: prefix is empty")
    _require_driver("redis", parts.scheme, "redis")
    from hubbub.knowledge.redis import RedisKnowledgeStore

    base = urlunsplit(parts._replace(query="", fragment=""))
    try:
        if prefix is None:
            return RedisKnowledgeStore(base)
        return RedisKnowledgeStore(base, key_prefix=prefix)
    except ValueError as exc:  # redis-py's URL parser
        raise InvalidValueError(f"bad Redis store URL {_redact(url)}: {exc}") from exc


def _postgres(url: str, rest: str) -> KnowledgeStore:
    del rest
    parts, params = _split(url, "PostgreSQL")
    schema = params.pop("schema", None)
    _require_driver("asyncpg", parts.scheme, "postgres")
    from hubbub.knowledge.postgres import PostgresKnowledgeStore

    dsn = urlunsplit(parts._replace(query=urlencode(params), fragment=""))
    try:
        if schema is None:
            return PostgresKnowledgeStore(dsn)
        return PostgresKnowledgeStore(dsn, schema=schema)
    except ValueError as exc:  # the schema is not a lowercase SQL identifier
        raise InvalidValueError(f"PostgreSQL store URL {_redact(url)}: {exc}") from exc


def _require_driver(module: str, scheme: str, extra: str) -> None:
    """Refuse a server URL whose driver package is not installed (checked before building)."""
    if importlib.util.find_spec(module) is None:
        raise InvalidValueError(
            f"{scheme}:// store URLs need the {module} package: pip install 'hubbub[{extra}]'"
        )


def _redact(url: str) -> str:
    """The URL with any password replaced by ``***``, quoted for a message."""
    try:
        parts = urlsplit(url)
        if parts.password is not None:
            user, _, host = parts.netloc.rpartition("@")
            name = user.partition(":")[0]
            url = urlunsplit(parts._replace(netloc=f"{name}:***@{host}"))
    except ValueError:
        return "(unparsable URL)"
    return repr(url)


_OPENERS: dict[str, Callable[[str, str], KnowledgeStore]] = {
    "memory": _memory,
    "disk": _disk,
    "sqlite": _sqlite,
    "redis": _redis,
    "rediss": _redis,
    "postgresql": _postgres,
    "postgres": _postgres,
}
