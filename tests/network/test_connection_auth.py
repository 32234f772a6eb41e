"""Connection authentication: bearer tokens, signed tokens, token files, the server's scheme table."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.network.auth import (
    ANONYMOUS,
    MAX_TOKEN_CHARS,
    RESERVED_PRINCIPALS,
    BearerTokens,
    ConnectionAuth,
    ServerAuth,
    SignedTokens,
    derived_subject,
    parse_token_entry,
    read_token_file,
)
from hubbub.network.errors import (
    AuthError,
    InvalidValueError,
    UnauthenticatedError,
    error_from_code,
)
from hubbub.network.hub.registry import OPERATOR

SECRET = b"s" * 32


class Clock:
    """A settable unix clock."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(payload: Any, secret: bytes = SECRET) -> str:
    """A token with any payload, signed as SignedTokens signs (to test what it refuses)."""
    head = b64(json.dumps(payload).encode())
    return f"{head}.{b64(hmac.new(secret, head.encode(), hashlib.sha256).digest())}"


async def refused(auth: ConnectionAuth, claim: Any) -> str:
    """The message of the UnauthenticatedError ``auth`` raises for ``claim``."""
    with pytest.raises(UnauthenticatedError) as info:
        await auth.authenticate(claim)
    assert info.value.code == "unauthenticated"
    return info.value.message


# ------------------------------------------------------------------------- the error


def test_unauthenticated_is_an_auth_error_with_its_own_code() -> None:
    err = UnauthenticatedError("no")
    assert isinstance(err, AuthError)
    assert err.code == "unauthenticated"
    rebuilt = error_from_code("unauthenticated", "remote said no")
    assert type(rebuilt) is UnauthenticatedError
    assert rebuilt.message == "remote said no"


def test_operator_principal_is_reserved() -> None:
    assert OPERATOR in RESERVED_PRINCIPALS
    assert ANONYMOUS in RESERVED_PRINCIPALS


# ------------------------------------------------------------------------- bearer


async def test_bearer_maps_each_token_to_its_subject() -> None:
    auth = BearerTokens({"tok-a": "alice", "tok-b": "bob"})
    assert isinstance(auth, ConnectionAuth)
    assert auth.scheme == "bearer"
    assert await auth.authenticate({"token": "tok-a"}) == "alice"
    assert await auth.authenticate({"token": "tok-b"}) == "bob"
    assert auth.subjects() == ["alice", "bob"]


@pytest.mark.parametrize(
    ("claim", "says"),
    [
        ({"token": "tok-c"}, "not accepted"),
        ({"token": "tok-a "}, "not accepted"),
        ({"token": "TOK-A"}, "not accepted"),
        ({"token": ""}, "no token"),
        ({"token": 7}, "no token"),
        ({}, "no token"),
        ({"tok": "tok-a"}, "no token"),
        ("tok-a", "must be an object"),
        (None, "must be an object"),
        ({"token": "x" * (MAX_TOKEN_CHARS + 1)}, "too long"),
    ],
)
async def test_bearer_refusals(claim: Any, says: str) -> None:
    message = await refused(BearerTokens({"tok-a": "alice"}), claim)
    assert says in message
    assert "tok-a" not in message


@pytest.mark.parametrize(
    "tokens",
    [
        {},
        {"": "alice"},
        {"t": ""},
        {"t": "  "},
        {"t": " alice"},
        {"t": "operator"},
        {"t": "anonymous"},
    ],
)
def test_bearer_refuses_bad_tables(tokens: dict[str, str]) -> None:
    with pytest.raises(InvalidValueError):
        BearerTokens(tokens)


# ------------------------------------------------------------------------- token entries and files


def test_token_entries() -> None:
    assert parse_token_entry("alice:abc") == ("alice", "abc")
    assert parse_token_entry("  alice : abc  ") == ("alice", "abc")
    assert parse_token_entry("bob:a:b") == ("bob", "a:b")  # split at the first colon
    expected = "token-" + hashlib.sha256(b"abc").hexdigest()[:8]
    assert derived_subject("abc") == expected
    assert parse_token_entry("abc") == (expected, "abc")


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("", "token is empty"),
        ("alice:", "token is empty"),
        (":abc", "subject"),
        ("a b", "whitespace"),
        ("alice:a b", "whitespace"),
        ("operator:abc", "reserved"),
    ],
)
def test_bad_token_entries(entry: str, says: str) -> None:
    with pytest.raises(InvalidValueError) as info:
        parse_token_entry(entry)
    assert says in info.value.message
    assert "abc" not in info.value.message


async def test_token_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(
        "# hub tokens\n\nalice:tok-alice\n   # indented comment\n  tok-anon  \nbob:tok-bob\n",
        encoding="utf-8",
    )
    tokens = read_token_file(path)
    assert tokens == {
        "tok-alice": "alice",
        "tok-anon": derived_subject("tok-anon"),
        "tok-bob": "bob",
    }
    auth = BearerTokens.from_file(path)
    assert await auth.authenticate({"token": "tok-bob"}) == "bob"
    assert await auth.authenticate({"token": "tok-anon"}) == derived_subject("tok-anon")
    await refused(auth, {"token": "# hub tokens"})


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("alice:tok-1\nbob:\n", ":2: the token is empty"),
        ("\n\nalice:tok 1\n", ":3: the token contains whitespace"),
        ("alice:tok-1\nbob:tok-1\n", ":2: the same token as line 1"),
        ("operator:tok-1\n", ":1: the subject 'operator' is reserved"),
        ("# nothing\n\n", "holds no token"),
        ("", "holds no token"),
    ],
)
def test_bad_token_files(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "tokens"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidValueError) as info:
        BearerTokens.from_file(path)
    assert str(path) in info.value.message
    assert says in info.value.message
    assert "tok-1" not in info.value.message and "tok 1" not in info.value.message


def test_unreadable_token_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidValueError, match=r"cannot read token file .*missing"):
        read_token_file(tmp_path / "missing")
    (tmp_path / "latin1").write_bytes(b"alice:caf\xe9\n")
    with pytest.raises(InvalidValueError, match=r"cannot read token file .*latin1"):
        read_token_file(tmp_path / "latin1")
    with pytest.raises(InvalidValueError, match="cannot read token file"):
        read_token_file(tmp_path)  # a directory


# ------------------------------------------------------------------------- signed tokens


async def test_signed_token_round_trip() -> None:
    clock = Clock(1_700_000_000)
    auth = SignedTokens(SECRET, clock=clock)
    assert isinstance(auth, ConnectionAuth)
    assert auth.scheme == "hmac"
    token = auth.issue("alice", 60)
    head = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert head == {"sub": "alice", "iat": 1_700_000_000, "exp": 1_700_000_060}
    assert await auth.authenticate({"token": token}) == "alice"
    clock.now += 59.5
    assert await auth.authenticate({"token": token}) == "alice"


async def test_signed_token_expiry_and_leeway() -> None:
    clock = Clock(1_000)
    token = SignedTokens(SECRET, clock=clock).issue("alice", 10)
    clock.now = 1_010
    message = await refused(SignedTokens(SECRET, clock=clock), {"token": token})
    assert "expired" in message
    assert await SignedTokens(SECRET, clock=clock, leeway=5).authenticate({"token": token}) == (
        "alice"
    )
    clock.now = 1_015
    assert "expired" in await refused(SignedTokens(SECRET, clock=clock, leeway=5), {"token": token})


async def test_signed_token_issued_in_the_future() -> None:
    clock = Clock(1_000)
    token = sign({"sub": "alice", "iat": 1_100, "exp": 2_000})
    assert "future" in await refused(SignedTokens(SECRET, clock=clock), {"token": token})
    clock.now = 1_100
    assert await SignedTokens(SECRET, clock=clock).authenticate({"token": token}) == "alice"


async def test_signed_token_from_another_secret_or_tampered() -> None:
    clock = Clock(1_000)
    auth = SignedTokens(SECRET, clock=clock)
    other = SignedTokens(b"o" * 32, clock=clock).issue("alice", 60)
    assert "bad signature" in await refused(auth, {"token": other})

    token = auth.issue("alice", 60)
    head, _, tail = token.partition(".")
    forged_head = b64(json.dumps({"sub": "mallory", "iat": 1_000, "exp": 1_060}).encode())
    assert "bad signature" in await refused(auth, {"token": f"{forged_head}.{tail}"})
    flipped = tail[:-2] + ("A" if tail[-2] != "A" else "B") + tail[-1]
    assert "bad signature" in await refused(auth, {"token": f"{head}.{flipped}"})
    assert "bad signature" in await refused(auth, {"token": f"{head}.{b64(b'x' * 32)}"})


@pytest.mark.parametrize(
    "token",
    [
        "no-dot",
        ".",
        "abc.",
        ".abc",
        "a.b.c",
        "ab$c.def",
        "abc.de=f",
        "abc.de+f",
        "abc.de/f",
        "ééé.abc",
        "A.abc",  # one base64 character is no byte sequence
    ],
)
async def test_malformed_signed_tokens(token: str) -> None:
    message = await refused(SignedTokens(SECRET), {"token": token})
    assert "malformed" in message or "bad signature" in message


async def test_non_canonical_base64_is_malformed() -> None:
    auth = SignedTokens(SECRET, clock=Clock(1_000))
    head, _, tail = auth.issue("alice", 60).partition(".")
    # 32 bytes encode to 43 characters whose last one carries 2 unused bits; setting
    # them decodes to the same bytes but is not the encoding the hub made.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(tail[-1])
    variant = tail[:-1] + alphabet[last | 1 if last % 4 == 0 else last & ~3]
    assert variant != tail
    assert base64.urlsafe_b64decode(variant + "=") == base64.urlsafe_b64decode(tail + "=")
    assert "malformed" in await refused(auth, {"token": f"{head}.{variant}"})


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({"exp": 2_000}, "no subject"),
        ({"sub": "", "exp": 2_000}, "no subject"),
        ({"sub": " ", "exp": 2_000}, "no subject"),
        ({"sub": 5, "exp": 2_000}, "no subject"),
        ({"sub": "operator", "exp": 2_000}, "reserved"),
        ({"sub": "anonymous", "exp": 2_000}, "reserved"),
        ({"sub": "alice ", "exp": 2_000}, "whitespace"),
        ({"sub": "alice"}, "exp is not an integer"),
        ({"sub": "alice", "exp": "2000"}, "exp is not an integer"),
        ({"sub": "alice", "exp": 2_000.5}, "exp is not an integer"),
        ({"sub": "alice", "exp": True}, "exp is not an integer"),
        ({"sub": "alice", "exp": 2_000, "iat": "0"}, "iat is not an integer"),
        (["alice", 2_000], "not a JSON object"),
        ("alice", "not a JSON object"),
    ],
)
async def test_signed_but_unusable_payloads(payload: Any, says: str) -> None:
    message = await refused(SignedTokens(SECRET, clock=Clock(1_000)), {"token": sign(payload)})
    assert says in message


async def test_signed_payload_that_is_not_json() -> None:
    head = b64(b"\xff not json")
    token = f"{head}.{b64(hmac.new(SECRET, head.encode(), hashlib.sha256).digest())}"
    assert "not a JSON object" in await refused(SignedTokens(SECRET), {"token": token})


async def test_signed_refusals_never_show_the_secret_or_token() -> None:
    secret = b"very-secret-value-" * 2
    auth = SignedTokens(secret, clock=Clock(1_000))
    token = auth.issue("alice", 1)
    auth_later = SignedTokens(secret, clock=Clock(5_000))
    for claim in ({"token": token}, {"token": token + "x"}, {"token": "x." + token}):
        message = await refused(auth_later, claim)
        assert "very-secret" not in message and token not in message
    assert "very-secret" not in repr(auth)


@pytest.mark.parametrize("secret", [b"", b"short", b"x" * 31, "x" * 40])
def test_signed_tokens_refuse_weak_secrets(secret: Any) -> None:
    with pytest.raises(InvalidValueError, match="at least 32 bytes"):
        SignedTokens(secret)


@pytest.mark.parametrize("leeway", [-1, float("nan"), "5", True])
def test_signed_tokens_refuse_bad_leeway(leeway: Any) -> None:
    with pytest.raises(InvalidValueError, match="leeway"):
        SignedTokens(SECRET, leeway=leeway)


@pytest.mark.parametrize(
    ("subject", "ttl"),
    [("", 60), ("operator", 60), ("anonymous", 60), ("alice", 0), ("alice", -5), ("alice", 1.5)],
)
def test_issue_refuses_bad_arguments(subject: str, ttl: Any) -> None:
    with pytest.raises(InvalidValueError):
        SignedTokens(SECRET).issue(subject, ttl)


async def test_secret_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"  " + b"k" * 40 + b"\n")
    clock = Clock(1_000)
    token = SignedTokens(b"k" * 40, clock=clock).issue("alice", 60)
    assert await SignedTokens.from_file(path, clock=clock).authenticate({"token": token}) == "alice"

    (tmp_path / "short").write_bytes(b"abc\n")
    with pytest.raises(InvalidValueError, match=r"secret file .*short: .*at least 32 bytes"):
        SignedTokens.from_file(tmp_path / "short")
    with pytest.raises(InvalidValueError, match=r"cannot read hmac secret file .*missing"):
        SignedTokens.from_file(tmp_path / "missing")


# ------------------------------------------------------------------------- the server's table


async def test_server_auth_dispatches_by_scheme() -> None:
    signed = SignedTokens(SECRET, clock=Clock(1_000))
    server = ServerAuth([BearerTokens({"tok-a": "alice"}), signed])
    assert server.schemes() == ["bearer", "hmac"]
    assert not server.allow_anonymous
    assert await server.authenticate("bearer", {"token": "tok-a"}) == "alice"
    assert await server.authenticate("hmac", {"token": signed.issue("bob", 60)}) == "bob"
    with pytest.raises(UnauthenticatedError, match="not accepted"):
        await server.authenticate("bearer", {"token": "tok-b"})
    with pytest.raises(UnauthenticatedError, match=r"bad signature|malformed"):
        await server.authenticate("hmac", {"token": "tok-a"})


async def test_anonymous_is_refused_unless_allowed() -> None:
    strict = ServerAuth([BearerTokens({"tok-a": "alice"})])
    with pytest.raises(UnauthenticatedError, match="does not accept anonymous") as info:
        await strict.authenticate("none", {})
    assert "bearer" in info.value.message  # says what to present instead
    assert info.value.code == "unauthenticated"

    open_hub = ServerAuth([BearerTokens({"tok-a": "alice"})], allow_anonymous=True)
    assert open_hub.schemes() == ["bearer", "none"]
    assert await open_hub.authenticate("none", {}) == ANONYMOUS
    assert await open_hub.authenticate("none", {"token": "ignored"}) == ANONYMOUS
    assert await open_hub.authenticate("bearer", {"token": "tok-a"}) == "alice"

    only_anonymous = ServerAuth(allow_anonymous=True)
    assert only_anonymous.schemes() == ["none"]
    with pytest.raises(UnauthenticatedError, match="unknown auth scheme 'bearer'"):
        await only_anonymous.authenticate("bearer", {"token": "tok-a"})


async def test_unknown_schemes() -> None:
    server = ServerAuth([BearerTokens({"tok-a": "alice"})])
    with pytest.raises(
        UnauthenticatedError, match=r"unknown auth scheme 'api_key'.*accepts: bearer"
    ):
        await server.authenticate("api_key", {"token": "tok-a"})
    with pytest.raises(UnauthenticatedError) as info:
        await server.authenticate("x" * 10_000, {})
    assert len(info.value.message) < 200
    with pytest.raises(UnauthenticatedError, match="must be a string"):
        await server.authenticate(None, {})  # type: ignore[arg-type]


def test_server_auth_refuses_bad_tables() -> None:
    with pytest.raises(InvalidValueError, match="accepts nothing"):
        ServerAuth()
    with pytest.raises(InvalidValueError, match="two connection schemes named 'bearer'"):
        ServerAuth([BearerTokens({"a": "alice"}), BearerTokens({"b": "bob"})])

    class NamedNone:
        scheme = "none"

        async def authenticate(self, claim: dict[str, Any]) -> str:
            return "someone"

    with pytest.raises(InvalidValueError, match="other than 'none'"):
        ServerAuth([NamedNone()])


class Custom:
    """A custom scheme whose behaviour the test sets."""

    scheme = "custom"

    def __init__(self, result: Any = "carol", error: Exception | None = None) -> None:
        self.result = result
        self.error = error

    async def authenticate(self, claim: dict[str, Any]) -> str:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[no-any-return]


async def test_custom_schemes_are_held_to_the_contract() -> None:
    assert await ServerAuth([Custom()]).authenticate("custom", {}) == "carol"
    with pytest.raises(UnauthenticatedError, match="key revoked") as info:
        await ServerAuth([Custom(error=AuthError("key revoked"))]).authenticate("custom", {})
    assert isinstance(info.value.__cause__, AuthError)
    for result in ("", None, 5, OPERATOR, ANONYMOUS):
        with pytest.raises(UnauthenticatedError, match="principal"):
            await ServerAuth([Custom(result=result)]).authenticate("custom", {})
    with pytest.raises(RuntimeError):  # a bug in a scheme is not dressed up as a refusal
        await ServerAuth([Custom(error=RuntimeError("bug"))]).authenticate("custom", {})


# ------------------------------------------------------------------------- properties

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

_b64_text = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.+/", max_size=80
)

_tokens = st.one_of(
    st.text(max_size=60),
    _b64_text,
    st.builds(lambda a, b: f"{a}.{b}", _b64_text, _b64_text),
    # well signed, arbitrary payload: exercises every check after the signature
    st.builds(sign, _json),
    st.builds(
        lambda sub, exp, iat: sign({"sub": sub, "exp": exp, "iat": iat}),
        _json | st.text(max_size=10),
        _json | st.integers(),
        _json | st.integers(),
    ),
)

_claims = st.one_of(
    _json,
    st.dictionaries(st.text(max_size=8), _json, max_size=3),
    st.builds(
        lambda token, extra: {**extra, "token": token},
        _tokens | _json,
        st.dictionaries(st.text(max_size=5), _json, max_size=2),
    ),
)

_SERVER = ServerAuth([BearerTokens({"tok-a": "alice"}), SignedTokens(SECRET, clock=Clock(1_000))])


@settings(max_examples=400, deadline=None)
@given(
    scheme=st.sampled_from(["bearer", "hmac", "none", "api_key", ""]) | st.text(max_size=8),
    claim=_claims,
)
async def test_random_claims_raise_nothing_but_unauthenticated(scheme: str, claim: Any) -> None:
    try:
        principal = await _SERVER.authenticate(scheme, claim)
    except UnauthenticatedError as exc:
        assert exc.code == "unauthenticated"
        assert "s" * 32 not in exc.message  # never the secret
    else:
        assert isinstance(principal, str) and principal.strip()
        assert principal not in RESERVED_PRINCIPALS
