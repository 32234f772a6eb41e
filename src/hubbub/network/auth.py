"""Authentication: who a connection is, and how a registering agent's claim is checked.

Two levels, each with pluggable schemes:

* **Connections.** The hello frame of a connection carries ``auth_scheme`` and
  ``auth_claim``; :class:`ServerAuth` hands the claim to the
  :class:`ConnectionAuth` of that scheme, which returns the connection's
  **principal** (the subject that owns the names the connection registers) or
  raises :class:`~hubbub.network.errors.UnauthenticatedError`. Built in:
  :class:`BearerTokens` (``"bearer"``: a static token → subject table, e.g. from
  a token file) and :class:`SignedTokens` (``"hmac"``: self-contained tokens
  signed with a shared secret, with an expiry). Scheme ``"none"`` (principal
  ``"anonymous"``) is accepted only when the server allows anonymous connections.
* **Registrations.** ``AuthRegistry`` maps ``Passport.auth.scheme`` to an
  :class:`AuthAdapter`; the hub awaits ``adapter.validate(passport,
  passport.auth.claim)`` before registering.

Secrets never appear in error messages: a refusal says what is wrong (no token,
bad signature, expired, ...), not what was presented.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

from hubbub.network.errors import AuthError, InvalidValueError, UnauthenticatedError
from hubbub.network.identity import Passport

__all__ = [
    "ANONYMOUS",
    "OPERATOR_PRINCIPAL",
    "RESERVED_PRINCIPALS",
    "ApiKeyAuth",
    "AuthAdapter",
    "AuthRegistry",
    "BearerTokens",
    "ConnectionAuth",
    "MAX_TOKEN_CHARS",
    "NoAuth",
    "ServerAuth",
    "SignedTokens",
    "derived_subject",
    "parse_token_entry",
    "read_token_file",
]


@runtime_checkable
class AuthAdapter(Protocol):
    """Validates the claim a passport presents for one scheme."""

    scheme: str

    async def validate(self, passport: Passport, claim: dict[str, Any]) -> None:
        """Return if the claim is good; raise AuthError to reject."""
        ...


class NoAuth:
    """Scheme ``"none"``: accepts every passport."""

    scheme = "none"

    async def validate(self, passport: Passport, claim: dict[str, Any]) -> None:
        """Accept unconditionally."""
        return None


class ApiKeyAuth:
    """Scheme ``"api_key"``: ``claim["token"]`` must equal the key issued for the name.

    Keys come from a static mapping ``{agent name: key}`` and/or an async
    ``resolver(name) -> key | None`` (for rotation without restart). Comparison
    is constant-time.
    """

    scheme = "api_key"

    def __init__(
        self,
        keys: Mapping[str, str] | None = None,
        *,
        resolver: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        self._keys = dict(keys or {})
        self._resolver = resolver

    async def validate(self, passport: Passport, claim: dict[str, Any]) -> None:
        """Raise AuthError unless the presented token matches the agent's key."""
        token = claim.get("token")
        if not isinstance(token, str) or not token:
            raise AuthError(f"api_key auth for {passport.name!r}: claim has no token")
        expected = self._keys.get(passport.name)
        if expected is None and self._resolver is not None:
            expected = await self._resolver(passport.name)
        # Compare against a dummy when no key exists so timing does not reveal names.
        ok = hmac.compare_digest(token.encode(), (expected or "\x00" * len(token)).encode())
        if expected is None or not ok:
            raise AuthError(f"api_key auth for {passport.name!r}: invalid token")


class AuthRegistry:
    """Scheme name → adapter lookup used by the hub at registration."""

    _default: ClassVar[AuthRegistry | None] = None

    def __init__(self, adapters: Iterable[AuthAdapter] = ()) -> None:
        self._adapters: dict[str, AuthAdapter] = {}
        for adapter in adapters:
            self.register(adapter)

    @classmethod
    def default(cls) -> AuthRegistry:
        """The process-wide registry holding only NoAuth."""
        if cls._default is None:
            cls._default = AuthRegistry([NoAuth()])
        return cls._default

    def register(self, adapter: AuthAdapter, scheme: str | None = None) -> AuthRegistry:
        """Add (or replace) the adapter for its scheme; returns self for chaining.

        ``register("hmac", adapter)`` (the docs' argument order) is accepted too.
        """
        if isinstance(adapter, str):  # docs spelling: register(scheme, adapter)
            adapter, scheme = scheme, adapter  # type: ignore[assignment]
        self._adapters[scheme or adapter.scheme] = adapter
        return self

    def get(self, scheme: str) -> AuthAdapter:
        """Return the adapter for ``scheme``; AuthError if none is registered."""
        try:
            return self._adapters[scheme]
        except KeyError:
            raise AuthError(f"unknown auth scheme {scheme!r}") from None

    def schemes(self) -> list[str]:
        """Registered scheme names, sorted."""
        return sorted(self._adapters)


# ==================================================================== connections

#: The principal of a connection that presented scheme ``"none"`` (when allowed).
ANONYMOUS = "anonymous"

#: Principals no credential can claim: ``"operator"`` owns what the hub's own
#: process registers (``hubbub.network.hub.registry.OPERATOR``), ``"anonymous"``
#: is every unauthenticated connection. A token for either would let its holder
#: take over names it does not own.
RESERVED_PRINCIPALS = frozenset({"operator", ANONYMOUS})

#: The principal of a connection that presented an operator token (``ServerAuth``).
OPERATOR_PRINCIPAL = "operator"

#: Longest token a claim may carry (characters); longer ones are refused unread.
MAX_TOKEN_CHARS = 8192


@runtime_checkable
class ConnectionAuth(Protocol):
    """Turns the claim of a connection's hello frame into the connection's principal."""

    scheme: str

    async def authenticate(self, claim: dict[str, Any]) -> str:
        """Return the principal the claim proves.

        Raises:
            UnauthenticatedError: the claim is missing, malformed or not accepted.
        """
        ...


def _claim_token(scheme: str, claim: object) -> str:
    """The ``token`` of a claim, checked for shape only.

    Raises:
        UnauthenticatedError: the claim is not an object, or has no usable token.
    """
    if not isinstance(claim, dict):
        raise UnauthenticatedError(f"{scheme} auth: the claim must be an object")
    token = claim.get("token")
    if not isinstance(token, str) or not token:
        raise UnauthenticatedError(f"{scheme} auth: the claim has no token")
    if len(token) > MAX_TOKEN_CHARS:
        raise UnauthenticatedError(f"{scheme} auth: the token is too long")
    return token


def _principal_problem(value: object) -> str | None:
    """What keeps ``value`` from being a principal, or ``None`` if it can be one."""
    if not isinstance(value, str) or not value.strip():
        return "is not a non-empty string"
    if value != value.strip():
        return "starts or ends with whitespace"
    if value in RESERVED_PRINCIPALS:
        return "is reserved (see RESERVED_PRINCIPALS)"
    return None


def _check_subject(subject: object, what: str) -> str:
    """Return ``subject`` if it can be a principal.

    Raises:
        InvalidValueError: it is not a non-empty string, is padded, or is reserved.
    """
    problem = _principal_problem(subject)
    if problem is not None or not isinstance(subject, str):
        raise InvalidValueError(f"{what} {subject!r} {problem}")
    return subject


def _digest(token: str) -> bytes:
    """SHA-256 of a token (any string, lone surrogates included)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def derived_subject(token: str) -> str:
    """The subject of a token listed without one: ``"token-<first 8 hex of its sha256>"``."""
    return "token-" + _digest(token).hex()[:8]


def parse_token_entry(entry: str) -> tuple[str, str]:
    """Split one token entry, ``subject:token`` or ``token`` alone, into ``(subject, token)``.

    A token alone gets :func:`derived_subject`. The split is at the first ``":"``,
    so a token listed without a subject cannot contain one.

    Args:
        entry: the entry; whitespace around it and around either part is ignored.

    Raises:
        InvalidValueError: an empty subject or token, whitespace inside the token,
            or a reserved subject. The message never contains the token.
    """
    subject, sep, token = entry.partition(":")
    if not sep:
        subject, token = "", subject
    subject, token = subject.strip(), token.strip()
    if not token:
        raise InvalidValueError("the token is empty")
    if any(ch.isspace() for ch in token):
        raise InvalidValueError("the token contains whitespace")
    if not sep:
        return derived_subject(token), token
    return _check_subject(subject, "the subject"), token


def read_token_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a token file into ``{token: subject}``.

    One entry per line (:func:`parse_token_entry`); blank lines and lines
    starting with ``#`` are skipped.

    Args:
        path: the file, UTF-8.

    Raises:
        InvalidValueError: the file cannot be read, holds no token, or a line is
            bad or repeats an earlier token; the message names the file and line.
    """
    where = os.fspath(path)
    try:
        with open(where, encoding="utf-8") as file:
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidValueError(f"cannot read token file {where}: {reason}") from exc
    tokens: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            subject, token = parse_token_entry(stripped)
        except InvalidValueError as exc:
            raise InvalidValueError(f"{where}:{number}: {exc.message}") from None
        if token in tokens:
            raise InvalidValueError(f"{where}:{number}: the same token as line {first_line[token]}")
        tokens[token] = subject
        first_line[token] = number
    if not tokens:
        raise InvalidValueError(f"token file {where} holds no token")
    return tokens


class BearerTokens:
    """Scheme ``"bearer"``: claim ``{"token": T}``; a static table maps each token to its subject.

    The presented token is compared (constant-time, on SHA-256 digests) with
    every known token, so timing reveals neither whether nor which one matched.
    """

    scheme = "bearer"

    def __init__(self, tokens: Mapping[str, str]) -> None:
        """Accept the tokens of ``tokens``.

        Args:
            tokens: ``{token: subject}``; at least one.

        Raises:
            InvalidValueError: no token, an empty token or subject, or a reserved
                subject (the message never contains a token).
        """
        if not tokens:
            raise InvalidValueError("BearerTokens needs at least one token")
        self._entries: list[tuple[bytes, str]] = []
        for token, subject in tokens.items():
            if not isinstance(token, str) or not token:
                raise InvalidValueError("a bearer token must be a non-empty string")
            self._entries.append((_digest(token), _check_subject(subject, "subject")))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> BearerTokens:
        """The tokens of a token file (format: :func:`read_token_file`).

        Raises:
            InvalidValueError: as :func:`read_token_file`.
        """
        return cls(read_token_file(path))

    def subjects(self) -> list[str]:
        """The distinct subjects the tokens map to, sorted."""
        return sorted({subject for _, subject in self._entries})

    async def authenticate(self, claim: dict[str, Any]) -> str:
        """Return the subject of the presented token.

        Raises:
            UnauthenticatedError: no token, or not a known one.
        """
        presented = _digest(_claim_token(self.scheme, claim))
        found: str | None = None
        for digest, subject in self._entries:  # no early exit: same work for every token
            if hmac.compare_digest(digest, presented):
                found = subject
        if found is None:
            raise UnauthenticatedError("bearer auth: the token is not accepted")
        return found


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _b64decode(text: str) -> bytes | None:
    """Decode unpadded base64url; ``None`` unless ``text`` is the canonical encoding."""
    if not text or not _B64URL.issuperset(text):
        return None
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return data if _b64encode(data) == text else None


def _int_claim(payload: dict[str, Any], name: str, *, default: int | None = None) -> int:
    """An integer field of a signed payload.

    Raises:
        UnauthenticatedError: it is missing (without a default) or not an integer.
    """
    value = payload.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnauthenticatedError(f"hmac auth: malformed token ({name} is not an integer)")
    return value


class SignedTokens:
    """Scheme ``"hmac"``: claim ``{"token": T}``, a token signed with a shared secret.

    ``T`` is ``<base64url(payload)>.<base64url(HMAC-SHA256(secret, first part))>``
    (unpadded), the payload a JSON object with ``sub`` (the subject, a string),
    ``exp`` (expiry, integer unix seconds) and optionally ``iat`` (issue time).
    Anyone holding the secret can :meth:`issue` tokens; the hub needs no table.
    The signature is checked (constant-time) before the payload is parsed.
    """

    scheme = "hmac"

    #: Shortest secret accepted, in bytes (the HMAC-SHA256 block's worth of key).
    MIN_SECRET_BYTES = 32

    def __init__(
        self,
        secret: bytes,
        *,
        clock: Callable[[], float] | None = None,
        leeway: float = 0,
    ) -> None:
        """Check and issue tokens with ``secret``.

        Args:
            secret: the shared key, at least :attr:`MIN_SECRET_BYTES` bytes.
            clock: returns the current unix time in seconds (default ``time.time``).
            leeway: seconds of clock difference tolerated on ``exp`` and ``iat``.

        Raises:
            InvalidValueError: the secret is too short, or the leeway negative.
        """
        if not isinstance(secret, bytes) or len(secret) < self.MIN_SECRET_BYTES:
            raise InvalidValueError(
                f"the hmac secret must be at least {self.MIN_SECRET_BYTES} bytes"
            )
        if isinstance(leeway, bool) or not isinstance(leeway, int | float) or not leeway >= 0:
            raise InvalidValueError(f"leeway must be a number of seconds >= 0, got {leeway!r}")
        self._secret = secret
        self._clock = clock or time.time
        self._leeway = leeway

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] | None = None,
        leeway: float = 0,
    ) -> SignedTokens:
        """The scheme with the secret held in a file (its bytes, surrounding whitespace removed).

        ``openssl rand -hex 32 > secret`` makes a good one.

        Raises:
            InvalidValueError: the file cannot be read, or the secret is too short.
        """
        where = os.fspath(path)
        try:
            with open(where, "rb") as file:
                secret = file.read().strip()
        except OSError as exc:
            raise InvalidValueError(
                f"cannot read hmac secret file {where}: {exc.strerror or exc}"
            ) from exc
        try:
            return cls(secret, clock=clock, leeway=leeway)
        except InvalidValueError as exc:
            raise InvalidValueError(f"hmac secret file {where}: {exc.message}") from None

    def __repr__(self) -> str:
        return f"SignedTokens(secret=<{len(self._secret)} bytes>, leeway={self._leeway})"

    def _sign(self, payload_part: str) -> bytes:
        return hmac.new(self._secret, payload_part.encode("ascii"), hashlib.sha256).digest()

    def issue(self, subject: str, ttl_seconds: int) -> str:
        """A token for ``subject`` that expires ``ttl_seconds`` from now (by the clock).

        Args:
            subject: the principal the token proves.
            ttl_seconds: lifetime, a positive integer.

        Raises:
            InvalidValueError: an empty or reserved subject, or a bad lifetime.
        """
        _check_subject(subject, "the subject")
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, int) or ttl_seconds <= 0:
            raise InvalidValueError(f"ttl_seconds must be a positive integer, got {ttl_seconds!r}")
        now = int(self._clock())
        payload = {"sub": subject, "iat": now, "exp": now + ttl_seconds}
        payload_part = _b64encode(json.dumps(payload, separators=(",", ":")).encode())
        return f"{payload_part}.{_b64encode(self._sign(payload_part))}"

    async def authenticate(self, claim: dict[str, Any]) -> str:
        """Return the token's subject if it is signed with the secret and not expired.

        Raises:
            UnauthenticatedError: malformed, bad signature, expired, issued in the
                future, or no usable ``sub``.
        """
        token = _claim_token(self.scheme, claim)
        payload_part, sep, signature_part = token.partition(".")
        signature = _b64decode(signature_part) if sep else None
        raw = _b64decode(payload_part)
        if raw is None or signature is None:
            raise UnauthenticatedError(
                "hmac auth: malformed token (expected <payload>.<signature>, base64url)"
            )
        if not hmac.compare_digest(self._sign(payload_part), signature):
            raise UnauthenticatedError("hmac auth: bad signature")
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise UnauthenticatedError("hmac auth: malformed token (payload is not a JSON object)")
        return self._check_payload(payload)

    def _check_payload(self, payload: dict[str, Any]) -> str:
        """The subject of a correctly signed payload, if its times and subject are good."""
        subject = payload.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise UnauthenticatedError("hmac auth: the token has no subject (sub)")
        problem = _principal_problem(subject)
        if problem is not None:
            raise UnauthenticatedError(f"hmac auth: the token's subject {problem}")
        exp, iat = _int_claim(payload, "exp"), _int_claim(payload, "iat", default=0)
        now = self._clock()
        if now >= exp + self._leeway:
            raise UnauthenticatedError(f"hmac auth: the token expired (exp {exp}, now {int(now)})")
        if iat > now + self._leeway:
            raise UnauthenticatedError("hmac auth: the token is issued in the future (iat)")
        return subject


class ServerAuth:
    """The connection schemes a server accepts, and whether it lets anonymous connections in."""

    def __init__(
        self,
        schemes: Iterable[ConnectionAuth] = (),
        *,
        allow_anonymous: bool = False,
        operator_tokens: Iterable[str] = (),
    ) -> None:
        """Accept connections by ``schemes`` (and by ``"none"`` if ``allow_anonymous``).

        Args:
            schemes: one :class:`ConnectionAuth` per scheme name.
            allow_anonymous: accept scheme ``"none"`` as principal ``"anonymous"``.
                Meant for local development; the ``hubbub serve`` command allows
                it on a loopback address only.
            operator_tokens: bearer tokens whose holder is the principal
                ``"operator"`` (``hubbub serve --operator-token``): the hub's own
                authority, which may read every session, the audit log and the
                store. No other scheme can give that principal.

        Raises:
            InvalidValueError: two schemes of one name, a scheme named ``"none"``,
                or nothing accepted at all.
        """
        self._schemes: dict[str, ConnectionAuth] = {}
        for auth in schemes:
            name = auth.scheme
            if not isinstance(name, str) or not name or name == NoAuth.scheme:
                raise InvalidValueError(
                    f"a connection scheme needs a name other than 'none', got {name!r}"
                )
            if name in self._schemes:
                raise InvalidValueError(f"two connection schemes named {name!r}")
            self._schemes[name] = auth
        self._operator: list[bytes] = []
        for token in operator_tokens:
            if not isinstance(token, str) or not token:
                raise InvalidValueError("an operator token must be a non-empty string")
            self._operator.append(_digest(token))
        if not self._schemes and not allow_anonymous and not self._operator:
            raise InvalidValueError(
                "ServerAuth accepts nothing: give it a scheme, or allow_anonymous=True"
            )
        self.allow_anonymous = allow_anonymous

    def schemes(self) -> list[str]:
        """The scheme names accepted, sorted (``"none"`` when anonymous is allowed)."""
        names = set(self._schemes)
        if self._operator:
            names.add(BearerTokens.scheme)
        if self.allow_anonymous:
            names.add(NoAuth.scheme)
        return sorted(names)

    async def authenticate(self, scheme: str, claim: dict[str, Any]) -> str:
        """Return the principal of a connection whose hello presented ``scheme`` and ``claim``.

        Raises:
            UnauthenticatedError: the scheme is unknown here, ``"none"`` while
                anonymous connections are not allowed, or its check refused the
                claim (an ``AuthError`` of a custom scheme is reported as this).
        """
        if not isinstance(scheme, str):
            raise UnauthenticatedError("the auth scheme must be a string")
        if scheme == NoAuth.scheme:
            if self.allow_anonymous:
                return ANONYMOUS
            raise UnauthenticatedError(
                "this hub does not accept anonymous connections; present a credential "
                f"(schemes: {', '.join(self.schemes())})"
            )
        if self._operator and scheme == BearerTokens.scheme and self._is_operator(claim):
            return OPERATOR_PRINCIPAL
        auth = self._schemes.get(scheme)
        if auth is None:
            shown = scheme if len(scheme) <= 40 else scheme[:40] + "..."
            raise UnauthenticatedError(
                f"unknown auth scheme {shown!r}; this hub accepts: {', '.join(self.schemes())}"
            )
        try:
            principal = await auth.authenticate(claim)
        except UnauthenticatedError:
            raise
        except AuthError as exc:
            raise UnauthenticatedError(exc.message) from exc
        problem = _principal_problem(principal)
        if problem is not None:
            raise UnauthenticatedError(f"auth scheme {scheme!r} gave a principal that {problem}")
        return principal

    def _is_operator(self, claim: dict[str, Any]) -> bool:
        """Whether a bearer claim holds an operator token (constant time over all of them)."""
        presented = _digest(_claim_token(BearerTokens.scheme, claim))
        found = False
        for digest in self._operator:  # no early exit: same work for every token
            if hmac.compare_digest(digest, presented):
                found = True
        return found
