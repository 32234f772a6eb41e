"""The inspector's HTTP API on a real server (uvicorn on loopback) over a populated store."""

from __future__ import annotations

import asyncio
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from tests._certificates import self_signed
from tests.inspector._stores import register_pair
from tests.inspector.conftest import TOKEN, Populated, Served, http, token_auth

from hubbub.cli.serve import client_ssl_context
from hubbub.inspector import offline_inspector, serve_inspector
from hubbub.knowledge.sqlite import SqliteKnowledgeStore
from hubbub.network import Hub


async def test_every_route_wants_a_credential(served: Served) -> None:
    for path in ("/api/sessions", "/api/agents", "/api/audit", "/api/info"):
        status, _, body = await http(served.url + path, token=None)
        assert status == 401 and body["error"]["code"] == "unauthenticated", path
        status, _, body = await http(served.url + path, token="wrong")
        assert status == 401, path
    status, _, page = await http(served.url + "/sessions", token=None)
    assert status == 401 and "?token=" in page


async def test_a_token_in_the_address_becomes_a_cookie(served: Served) -> None:
    status, headers, _ = await http(served.url + f"/sessions?token={TOKEN}&state=open", token=None)
    assert status == 303
    assert headers["location"] == "/sessions?state=open"  # the token is gone from the address
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"hubbub_inspector_token={TOKEN};") and "HttpOnly" in cookie
    status, _, body = await http(
        served.url + "/api/sessions",
        token=None,
        headers={"Cookie": f"hubbub_inspector_token={TOKEN}"},
    )
    assert status == 200 and body["total"] == 4


async def test_the_listing_api(served: Served) -> None:
    s = served.facts.sessions
    status, _, body = await http(served.url + "/api/sessions?state=open")
    assert status == 200
    assert [row["session_id"] for row in body["sessions"]] == [s["open"]]
    assert [p["name"] for p in body["sessions"][0]["participants"]] == ["carol", "dave"]
    _, _, body = await http(served.url + "/api/sessions?limit=2&offset=2")
    assert body["total"] == 4 and [r["session_id"] for r in body["sessions"]] == [
        s["chat"],
        s["consulting"],
    ]
    status, _, body = await http(served.url + "/api/sessions?state=sleeping")
    assert status == 400 and body["error"]["code"] == "invalid_value"
    assert "state must be one of open, closed, expired" in body["error"]["message"]
    status, _, body = await http(served.url + "/api/sessions?limit=-3")
    assert status == 400 and "limit" in body["error"]["message"]


async def test_a_session_and_its_steps(served: Served) -> None:
    sid = served.facts.sessions["chat"]
    status, _, body = await http(served.url + f"/api/sessions/{sid}")
    assert status == 200
    texts = [e["text"] for e in body["envelopes"] if e["text"] is not None]
    assert texts == [
        "Shall we plan the launch?",
        "Yes. Tuesday works.",
        "Tuesday it is; I will tell the team.",
        "Great, send me the notes.",
        "Notes to dave only.",
    ]
    assert body["closed"]["event_data"]["reason"] == "explicit_close"
    assert body["final"]["state"] == "closed"
    assert body["usage"]["total"]["output_tokens"] == 80
    _, _, step = await http(served.url + f"/api/sessions/{sid}/state?at=4")
    assert (step["state"], step["sequence"], step["adapter_state"]["turn_count"]) == (
        "active",
        4,
        1,
    )
    _, _, beyond = await http(served.url + f"/api/sessions/{sid}/state?at=99")
    assert beyond["at"] == 9 and beyond["state"] == "closed"
    status, _, body = await http(served.url + "/api/sessions/01NOSUCHSESSION/state")
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_violations_and_the_audit_api(served: Served) -> None:
    sid = served.facts.sessions["silent"]
    _, _, body = await http(served.url + f"/api/sessions/{sid}")
    (violation,) = body["violations"]
    assert violation["expectation"] == "reply_within"
    _, _, audit = await http(served.url + "/api/audit?kind=session_closed")
    assert audit["total"] == 3  # consulting, chat, silent
    _, _, page = await http(served.url + "/api/audit?limit=2")
    assert len(page["records"]) == 2 and page["total"] > 2
    assert page["records"][0]["at"] >= page["records"][1]["at"]  # newest first


async def test_agents_api(served: Served) -> None:
    _, _, body = await http(served.url + "/api/agents")
    by_name = {a["name"]: a for a in body["agents"]}
    assert set(by_name) == {"alice", "bob", "carol", "dave", "mute"}
    assert by_name["dave"]["usage"]["cost_usd"] == pytest.approx(0.0032)
    assert by_name["alice"]["online"] is None  # offline: nobody's presence is known


async def test_the_offline_tail_shows_what_a_running_hub_appends(
    populated: Populated, tmp_path: Path
) -> None:
    """The inspector reads a store a hub holds and writes: the tail polls the WAL."""
    db = str(tmp_path / "copy.db")
    shutil.copy(populated.db, db)
    sid = populated.facts.sessions["open"]
    reader_store = SqliteKnowledgeStore(db)
    hub = await Hub.open(db, ttl_sweep_interval=0, expectation_sweep_interval=0)
    client, agents = await register_pair(hub, ("carol", "dave"), mute=("carol", "dave"))
    try:
        async with serve_inspector(
            offline_inspector(reader_store, token_auth()), host="127.0.0.1", port=0
        ) as url:
            _, _, body = await http(url + f"/api/sessions/{sid}")
            last = body["envelopes"][-1]["sequence"]
            events: asyncio.Queue[dict[str, object]] = asyncio.Queue()
            loop = asyncio.get_running_loop()

            def read_stream() -> None:
                request = urllib.request.Request(
                    url + f"/api/sessions/{sid}/events?after={last}",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                with urllib.request.urlopen(request, timeout=20) as response:
                    for raw in response:
                        line = raw.decode().rstrip("\n")
                        if line.startswith("data: "):
                            loop.call_soon_threadsafe(
                                events.put_nowait, orjson.loads(line.removeprefix("data: "))
                            )
                            return

            reading = asyncio.ensure_future(asyncio.to_thread(read_stream))
            carol = await agents["carol"].session(sid)
            await carol.send("Posted while the inspector watched.")
            env = await asyncio.wait_for(events.get(), 15)
            assert env["text"] == "Posted while the inspector watched."
            assert env["sequence"] == last + 1
            await asyncio.wait_for(reading, 15)
    finally:
        await client.close()
        await hub.close()
        await reader_store.close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


async def test_https_with_the_hubs_certificate(
    populated: Populated, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    store = SqliteKnowledgeStore(populated.db)
    try:
        app = offline_inspector(store, token_auth())
        async with serve_inspector(
            app, host="127.0.0.1", port=0, tls_files=(str(cert), str(key))
        ) as url:
            assert url.startswith("https://127.0.0.1:")
            trust = client_ssl_context(str(cert))

            def get() -> int:
                request = urllib.request.Request(
                    url + "/api/info", headers={"Authorization": f"Bearer {TOKEN}"}
                )
                with urllib.request.urlopen(request, timeout=10, context=trust) as response:
                    return int(response.status)

            assert await asyncio.to_thread(get) == 200
            with pytest.raises(urllib.error.URLError):  # the certificate is not trusted
                await asyncio.to_thread(urllib.request.urlopen, url + "/api/info", timeout=10)
    finally:
        await store.close()


async def test_an_unreadable_creation_record_is_listed_and_explained(
    populated: Populated, tmp_path: Path
) -> None:
    db = str(tmp_path / "broken.db")
    shutil.copy(populated.db, db)
    store = SqliteKnowledgeStore(db)
    try:
        await store.write("/sessions/01BROKENSESSION/metadata.json", "{not json")
        async with serve_inspector(
            offline_inspector(store, token_auth()), host="127.0.0.1", port=0
        ) as url:
            _, _, body = await http(url + "/api/sessions")
            assert body["total"] == 5
            (row,) = [r for r in body["sessions"] if r["session_id"] == "01BROKENSESSION"]
            assert row["state"] == "unreadable" and "creation record" in row["reason"]
            status, _, body = await http(url + "/api/sessions/01BROKENSESSION")
            assert status == 400 and body["error"]["code"] == "replay_diverged"
            assert "creation record does not load" in body["error"]["message"]
    finally:
        await store.close()
