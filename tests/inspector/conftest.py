"""Fixtures of the inspector tests: a populated SQLite store, a served inspector, a browser."""

from __future__ import annotations

import asyncio
import os
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.inspector._stores import Facts, populate

from hubbub.inspector import offline_inspector, serve_inspector
from hubbub.knowledge.sqlite import SqliteKnowledgeStore
from hubbub.network.auth import BearerTokens, ServerAuth

#: Where the browser tests leave their screenshots (git-ignored).
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "inspector"
CHROMIUM = "/usr/bin/chromium"
TOKEN = "inspector-test-token"


@dataclass
class Populated:
    """A SQLite file :func:`populate` wrote, and what it holds."""

    db: str
    facts: Facts


@pytest.fixture(scope="session")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Populated:
    db = str(tmp_path_factory.mktemp("inspector") / "hub.db")
    facts = asyncio.run(populate(db))
    return Populated(db, facts)


def token_auth() -> ServerAuth:
    return ServerAuth([BearerTokens({TOKEN: "viewer"})])


@dataclass
class Served:
    """An inspector served on loopback over the populated store."""

    url: str
    facts: Facts


@pytest.fixture
async def served(populated: Populated) -> AsyncIterator[Served]:
    store = SqliteKnowledgeStore(populated.db)
    try:
        async with serve_inspector(
            offline_inspector(store, token_auth()), host="127.0.0.1", port=0
        ) as url:
            yield Served(url, populated.facts)
    finally:
        await store.close()


async def http(
    url: str, *, token: str | None = TOKEN, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """GET ``url`` in a thread (no redirects followed): status, headers, JSON body (or text)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    def get() -> tuple[int, dict[str, str], Any]:
        request = urllib.request.Request(url, headers=dict(headers or {}))
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=10) as response:
                status, got, body = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            status, got, body = exc.code, dict(exc.headers), exc.read()
        try:
            return status, got, orjson.loads(body)
        except orjson.JSONDecodeError:
            return status, got, body.decode()

    return await asyncio.to_thread(get)


def require_chromium(path: str) -> None:
    """Fail (never skip) the test when the browser is not installed."""
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is missing: run bash scripts/setup (apt-get install chromium)")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """A headless Chromium (Debian's /usr/bin/chromium) driven by playwright.

    A missing Chromium fails the test: ``bash scripts/setup`` installs it.
    """
    require_chromium(CHROMIUM)
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as driver:
        chromium = await driver.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield chromium
        finally:
            await chromium.close()
