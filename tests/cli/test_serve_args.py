"""``hubbub serve`` without a server: arguments, exit codes and messages, auth and TLS set-up.

The WebSocket endpoint is not part of these tests: where a test runs the whole
command, a stand-in ``hubbub.network.transport.ws`` module records what
``run_server`` was given and uses the hub it got.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import ssl
import subprocess
import sys
import tomllib
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hubbub.cli import build_parser, main
from hubbub.cli._errors import UsageError
from hubbub.cli.serve import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    TRANSPORT_MODULE,
    ServeOptions,
    build_auth,
    client_ssl_context,
    is_loopback,
    options_from_args,
    server_ssl_context,
)
from hubbub.network import Hub, Passport
from hubbub.network.auth import ServerAuth, SignedTokens, derived_subject
from hubbub.network.errors import InvalidValueError, UnauthenticatedError

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"0123456789abcdef0123456789abcdef"


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["serve", *argv])


def options(*argv: str) -> ServeOptions:
    return options_from_args(parse(*argv))


def usage_error(*argv: str) -> str:
    with pytest.raises(UsageError) as info:
        opts = options(*argv)
        build_auth(opts)
    return str(info.value)


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# ------------------------------------------------------------------------- parsing


def test_defaults() -> None:
    opts = options("--store", "memory:", "--token", "tok")
    assert opts == ServeOptions(store="memory:", tokens=("tok",))
    assert (opts.host, opts.port) == (DEFAULT_HOST, DEFAULT_PORT) == ("127.0.0.1", 8765)


def test_every_option() -> None:
    opts = options(
        "--store", "sqlite:///hub.db", "--host", "0.0.0.0", "--port", "0",
        "--token", "a:1", "--token", "b:2", "--token-file", "t", "--hmac-secret-file", "s",
        "--tls-cert", "c.pem", "--tls-key", "k.pem",
    )  # fmt: skip
    assert opts == ServeOptions(
        store="sqlite:///hub.db",
        host="0.0.0.0",
        port=0,
        tokens=("a:1", "b:2"),
        token_file="t",
        hmac_secret_file="s",
        tls_cert="c.pem",
        tls_key="k.pem",
    )


def test_no_credentials_says_how_to_pass_them(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_main(capsys, "serve", "--store", "memory:")
    assert status == 2
    assert out == ""
    assert err.startswith("hubbub serve: error: no credentials")
    for option in ("--token", "--token-file", "--hmac-secret-file", "--insecure-no-auth"):
        assert option in err


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost", "LocalHost"])
def test_no_auth_on_loopback_is_allowed(host: str) -> None:
    assert is_loopback(host)
    opts = options("--store", "memory:", "--insecure-no-auth", "--host", host)
    auth = build_auth(opts)
    assert auth.allow_anonymous
    assert auth.schemes() == ["none"]
    assert asyncio.run(auth.authenticate("none", {})) == "anonymous"


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.com", "localhost.evil", "::ffff:1"],
)
def test_no_auth_elsewhere_is_refused(capsys: pytest.CaptureFixture[str], host: str) -> None:
    assert not is_loopback(host)
    status, _, err = run_main(
        capsys, "serve", "--store", "memory:", "--insecure-no-auth", "--host", host
    )
    assert status == 2
    assert f"refusing --insecure-no-auth on host {host!r}" in err
    assert "loopback" in err


def test_no_auth_beside_credentials_accepts_both() -> None:
    auth = build_auth(options("--store", "memory:", "--insecure-no-auth", "--token", "alice:tok"))
    assert auth.schemes() == ["bearer", "none"]
    assert asyncio.run(auth.authenticate("bearer", {"token": "tok"})) == "alice"


@pytest.mark.parametrize(
    "argv", [("--tls-cert", "c.pem"), ("--tls-key", "k.pem")], ids=["cert-only", "key-only"]
)
def test_tls_needs_both_files(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    status, _, err = run_main(capsys, "serve", "--store", "memory:", "--token", "t", *argv)
    assert status == 2
    assert "--tls-cert and --tls-key go together" in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ((), "the following arguments are required: --store"),
        (("--store", "memory:", "--token", "t", "--port", "70000"), "not a port number"),
        (("--store", "memory:", "--token", "t", "--port", "http"), "not a port number"),
        (("--store", "memory:", "--token", "t", "--bogus"), "unrecognized arguments: --bogus"),
        (("--store", "memory:", "--token", "t", "--host", ""), "--host is empty"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], says: str
) -> None:
    status, _, err = run_main(capsys, "serve", *argv)
    assert status == 2
    assert says in err


def test_top_level(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run_main(capsys)
    assert status == 2 and "serve" in err  # no command: the help, on stderr
    status, out, _ = run_main(capsys, "--help")
    assert status == 0 and "serve" in out
    status, out, _ = run_main(capsys, "--version")
    assert status == 0 and out.startswith("hubbub ")
    status, out, _ = run_main(capsys, "serve", "--help")
    assert status == 0 and "--insecure-no-auth" in out
    status, _, err = run_main(capsys, "frobnicate")
    assert status == 2 and "invalid choice" in err


# ------------------------------------------------------------------------- credentials


async def test_tokens_from_the_command_line_and_a_file(tmp_path: Path) -> None:
    token_file = tmp_path / "tokens"
    token_file.write_text("# ops\ncarol:tok-carol\ntok-dave\n", encoding="utf-8")
    argv = [
        "--store",
        "memory:",
        "--token",
        "alice:tok-alice",
        "--token",
        "tok-bob",
        "--token-file",
    ]
    auth = build_auth(options(*argv, str(token_file)))
    assert auth.schemes() == ["bearer"]
    assert not auth.allow_anonymous
    for token, subject in [
        ("tok-alice", "alice"),
        ("tok-bob", derived_subject("tok-bob")),
        ("tok-carol", "carol"),
        ("tok-dave", derived_subject("tok-dave")),
    ]:
        assert await auth.authenticate("bearer", {"token": token}) == subject
    with pytest.raises(UnauthenticatedError):
        await auth.authenticate("none", {})


async def test_hmac_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(SECRET + b"\n")
    auth = build_auth(options("--store", "memory:", "--hmac-secret-file", str(secret)))
    assert auth.schemes() == ["hmac"]
    token = SignedTokens(SECRET).issue("alice", 60)
    assert await auth.authenticate("hmac", {"token": token}) == "alice"


def test_bad_credentials_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad_file = tmp_path / "tokens"
    bad_file.write_text("alice:tok-1\nbob:tok-1\n", encoding="utf-8")
    short = tmp_path / "short"
    short.write_bytes(b"abc")
    dup = tmp_path / "dup"
    dup.write_text("tok-9\n", encoding="utf-8")
    cases = [
        (("--token", "a b"), "--token #1: the token contains whitespace"),
        (
            ("--token", "x", "--token", "operator:y"),
            "--token #2: the subject 'operator' is reserved",
        ),
        (("--token", "t", "--token", "bob:t"), "--token #2: the same token as an earlier --token"),
        (("--token", ""), "--token #1: the token is empty"),
        (("--token-file", str(bad_file)), f"--token-file: {bad_file}:2: the same token as line 1"),
        (("--token-file", str(tmp_path / "nope")), "cannot read token file"),
        (("--token", "tok-9", "--token-file", str(dup)), "a token is also given by --token"),
        (("--hmac-secret-file", str(short)), "at least 32 bytes"),
        (("--hmac-secret-file", str(tmp_path / "nope")), "cannot read hmac secret file"),
    ]
    for argv, says in cases:
        assert says in usage_error("--store", "memory:", *argv), argv
        status, _, err = run_main(capsys, "serve", "--store", "memory:", *argv)
        assert status == 2, argv
        assert says in err, argv
        assert "tok-1" not in err and "tok-9" not in err


# ------------------------------------------------------------------------- TLS


def _cert_with_cryptography(cert: Path, key: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _cert_with_openssl(cert: Path, key: Path) -> None:
    command = (
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
        " -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
    )
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=30,
    )


def make_self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` / 127.0.0.1 and its key (PEM files)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        importlib.import_module("cryptography")
    except ImportError:
        _cert_with_openssl(cert, key)
    else:
        _cert_with_cryptography(cert, key)
    return cert, key


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed(tmp_path_factory.mktemp("tls"))


async def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str) -> bytes:
    """Open a TLS connection over loopback and echo one line through it."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(await reader.readline())
            await writer.drain()
        except (ssl.SSLError, ConnectionError):
            pass  # the client refused the certificate
        finally:
            writer.close()

    listener = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server)
    port = listener.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client, server_hostname=hostname
        )
        try:
            writer.write(b"hello\n")
            return await reader.readline()
        finally:
            writer.close()
            await writer.wait_closed()
    finally:
        listener.close()
        await listener.wait_closed()


async def test_tls_contexts_load_a_self_signed_certificate(
    self_signed: tuple[Path, Path],
) -> None:
    cert, key = self_signed
    server = server_ssl_context(str(cert), str(key))
    client = client_ssl_context(str(cert))
    assert server.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert client.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert client.check_hostname and client.verify_mode == ssl.CERT_REQUIRED
    assert await _handshake(server, client, "localhost") == b"hello\n"


async def test_client_context_checks_the_certificate(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    server = server_ssl_context(str(cert), str(key))
    with pytest.raises(ssl.SSLCertVerificationError, match=r"Hostname mismatch|match"):
        await _handshake(server, client_ssl_context(str(cert)), "hub.example.com")
    with pytest.raises(ssl.SSLCertVerificationError, match=r"self-signed|self signed"):
        await _handshake(server, client_ssl_context(), "localhost")  # not in the system CAs


def test_tls_files_that_do_not_load(tmp_path: Path, self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    other_cert, other_key = make_self_signed(tmp_path)
    with pytest.raises(InvalidValueError, match="cannot load TLS certificate"):
        server_ssl_context(str(cert), str(other_key))  # not the certificate's key
    with pytest.raises(InvalidValueError, match="No such file"):
        server_ssl_context(str(tmp_path / "missing.pem"), str(key))
    with pytest.raises(InvalidValueError, match="cannot load TLS certificate"):
        server_ssl_context(str(key), str(key))  # a key is no certificate
    with pytest.raises(InvalidValueError, match="cannot load TLS certificate authorities"):
        client_ssl_context(str(tmp_path / "missing.pem"))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(InvalidValueError, match="cannot load TLS certificate authorities"):
        client_ssl_context(str(garbage))
    assert other_cert.exists()


def test_bad_tls_files_exit_2(
    tmp_path: Path, self_signed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cert, _ = self_signed
    status, _, err = run_main(
        capsys, "serve", "--store", "memory:", "--token", "t",
        "--tls-cert", str(cert), "--tls-key", str(tmp_path / "missing.pem"),
    )  # fmt: skip
    assert status == 2
    assert "cannot load TLS certificate" in err


# ------------------------------------------------------------------------- the whole command


@dataclass
class FakeTransport:
    """Stands in for ``hubbub.network.transport.ws``: records each call, uses the hub."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    action: Callable[[Hub], Any] | None = None

    async def run_server(
        self,
        hub: Hub,
        *,
        host: str,
        port: int,
        auth: ServerAuth,
        ssl: ssl.SSLContext | None,
        ready: Callable[[str], None],
    ) -> None:
        self.calls.append({"hub": hub, "host": host, "port": port, "auth": auth, "ssl": ssl})
        ready(f"{'wss' if ssl else 'ws'}://{host}:{port}")
        if self.action is not None:
            await self.action(hub)


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTransport]:
    fake = FakeTransport()
    module = types.ModuleType(TRANSPORT_MODULE)
    module.run_server = fake.run_server  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, TRANSPORT_MODULE, module)
    yield fake


def test_serve_opens_the_store_and_hands_the_hub_over(
    tmp_path: Path, transport: FakeTransport, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "hub.db"
    argv = ("serve", "--store", f"sqlite:///{db}", "--port", "0", "--token", "alice:tok")

    async def register(hub: Hub) -> None:
        assert hub.health()["registered_agents"] == 0
        await hub.register(Passport(name="probe"))

    transport.action = register
    status, out, err = run_main(capsys, *argv)
    assert (status, err) == (0, "")
    assert out == "hubbub: serving ws://127.0.0.1:0\n"
    (call,) = transport.calls
    assert isinstance(call["hub"], Hub)
    assert (call["host"], call["port"], call["ssl"]) == ("127.0.0.1", 0, None)
    assert asyncio.run(call["auth"].authenticate("bearer", {"token": "tok"})) == "alice"

    async def sees_the_first_run(hub: Hub) -> None:
        assert hub.health()["registered_agents"] == 1
        assert (await hub.get_agent("probe")).name == "probe"

    # The first run closed its hub and store (the writer lock is free again), and
    # what it wrote is in the file.
    transport.action = sees_the_first_run
    assert run_main(capsys, *argv)[0] == 0
    assert len(transport.calls) == 2


def test_serve_with_tls(
    tmp_path: Path,
    self_signed: tuple[Path, Path],
    transport: FakeTransport,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cert, key = self_signed
    status, out, _ = run_main(
        capsys, "serve", "--store", "memory:", "--insecure-no-auth", "--host", "::1",
        "--tls-cert", str(cert), "--tls-key", str(key),
    )  # fmt: skip
    assert status == 0
    assert out == "hubbub: serving wss://::1:8765\n"
    (call,) = transport.calls
    assert isinstance(call["ssl"], ssl.SSLContext)
    assert call["auth"].allow_anonymous


def test_a_bad_store_url_exits_2(
    transport: FakeTransport, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run_main(capsys, "serve", "--store", "mysql://db/hub", "--token", "t")
    assert status == 2
    assert "hubbub serve: error: --store: unknown store URL scheme 'mysql:'" in err
    assert transport.calls == []


def test_a_store_that_cannot_open_exits_1(
    tmp_path: Path, transport: FakeTransport, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("someone else's")
    status, _, err = run_main(capsys, "serve", "--store", f"disk:{tmp_path}", "--token", "t")
    assert status == 1
    assert err.startswith("hubbub serve: error:") and "notes.txt" in err
    assert transport.calls == []


def test_without_the_transport_serve_exits_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, TRANSPORT_MODULE, None)  # makes the import fail
    status, _, err = run_main(
        capsys, "serve", "--store", f"disk:{tmp_path / 'hub'}", "--token", "t"
    )
    assert status == 1
    assert "the WebSocket transport is not available" in err
    assert not (tmp_path / "hub").exists()  # nothing was opened


# ------------------------------------------------------------------------- entry points


def test_python_dash_m(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "hubbub.cli", "serve", "--store", "memory:"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2
    assert "hubbub serve: error: no credentials" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "hubbub.cli", "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0 and "serve" in done.stdout


def test_console_script_entry() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["hubbub"] == "hubbub.cli:main"
    module, _, name = project["scripts"]["hubbub"].partition(":")
    assert getattr(importlib.import_module(module), name) is main
    assert any(dep.startswith("websockets") for dep in project["dependencies"])
