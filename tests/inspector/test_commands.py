"""``hubbub inspect`` and ``hubbub serve --ui``: their arguments, and both as real processes."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from tests.inspector.conftest import CHROMIUM, TOKEN, Populated, http, require_chromium
from tests.processes._children import READY, children

from hubbub.cli import build_parser, main

INSPECTOR = "hubbub: inspector at "


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--store", "sqlite:///no/such/file.db", "--insecure-no-auth"], "no SQLite file at"),
        (["--store", "disk:/no/such/dir", "--insecure-no-auth"], "no store directory at"),
        (["--store", "memory:", "--insecure-no-auth"], "a memory: store is empty"),
        (["--store", "nonsense", "--insecure-no-auth"], "has no scheme"),
        (["--store", "sqlite:///x.db"], "no credentials"),
        (["--store", "sqlite:///x.db", "--insecure-no-auth", "--host", "0.0.0.0"], "loopback"),
        (["--store", "sqlite:///x.db", "--token", "t", "--tls-cert", "c.pem"], "go together"),
    ],
)
def test_inspect_refuses_bad_arguments(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hubbub inspect: error: ") and says in err, err


def test_serve_takes_ui_options() -> None:
    args = build_parser().parse_args(
        ["serve", "--store", "memory:", "--insecure-no-auth", "--ui", "--ui-port", "0"]
    )
    assert (args.ui, args.ui_port) == (True, 0)
    plain = build_parser().parse_args(["serve", "--store", "memory:", "--insecure-no-auth"])
    assert (plain.ui, plain.ui_port) == (False, 8780)
    assert build_parser().parse_args(["inspect", "--store", "disk:x"]).port == 8780


async def test_inspect_serves_a_store_until_sigterm(populated: Populated) -> None:
    async with children() as started:
        child = await started.start(
            "hubbub inspect",
            *("-m", "hubbub.cli", "inspect", "--store", f"sqlite:///{populated.db}"),
            *("--port", "0", "--token", f"viewer:{TOKEN}"),
        )
        line = await child.readline()
        assert line.startswith(INSPECTOR + "http://127.0.0.1:"), child.describe()
        url = line.removeprefix(INSPECTOR)
        status, _, body = await http(url + "/healthz", token=None)
        assert (status, body) == (200, {"status": "ok", "mode": "offline"})
        status, _, body = await http(url + "/api/sessions")
        assert status == 200 and body["total"] == 4
        assert (await http(url + "/api/sessions", token=None))[0] == 401
        child.terminate()
        exited = await child.wait()
        assert exited.returncode == 0, child.describe()


async def test_serve_ui_on_a_taken_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with children() as started:
            hub = await started.start(
                "hubbub serve --ui",
                *("-m", "hubbub.cli", "serve", "--store", f"sqlite:///{tmp_path / 'h.db'}"),
                *("--port", "0", "--ui", "--ui-port", str(port), "--insecure-no-auth"),
            )
            exited = await hub.wait()
    assert exited.returncode == 1, exited
    assert exited.stdout == ""
    assert exited.stderr == (
        f"hubbub serve: error: cannot listen on 127.0.0.1:{port} for the inspector: "
        "Address already in use\n"
    )


async def test_serve_ui_and_the_hub_share_credentials(tmp_path: Path) -> None:
    async with children() as started:
        hub = await started.start(
            "hubbub serve --ui",
            *("-m", "hubbub.cli", "serve", "--store", f"sqlite:///{tmp_path / 'h.db'}"),
            *("--port", "0", "--ui", "--ui-port", "0", "--token", f"alice:{TOKEN}"),
        )
        ui = (await hub.readline()).removeprefix(INSPECTOR)
        assert (await hub.readline()).startswith(READY)
        status, _, info = await http(ui + "/api/info")
        assert (status, info["mode"]) == (200, "live")
        assert (await http(ui + "/api/info", token="not-the-token"))[0] == 401
        hub.terminate()
        assert (await hub.wait()).returncode == 0, hub.describe()


def test_the_browser_tests_fail_without_chromium(tmp_path: Path) -> None:
    require_chromium(CHROMIUM)  # installed by scripts/setup: passes
    with pytest.raises(pytest.fail.Exception, match="missing: run bash scripts/setup"):
        require_chromium(str(tmp_path / "chromium"))
