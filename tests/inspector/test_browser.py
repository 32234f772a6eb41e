"""The inspector's pages in a real headless Chromium (Debian's /usr/bin/chromium via playwright).

Offline: the sessions page and its filters, a session timeline (lanes, texts,
audience arrows, the close and a violation marked), the step control and the
state it shows, the agents page. Live: ``hubbub serve --ui`` as a subprocess,
agents posting over WebSocket from this process, and a new envelope appearing
on an open session's page without a reload. Screenshots go to
``test-artifacts/inspector/`` (git-ignored).
"""

from __future__ import annotations

from typing import Any

from tests.inspector._stores import ANSWER, QUESTION, acks_only
from tests.inspector.conftest import ARTIFACTS, TOKEN, Served
from tests.processes._children import READY, children

from hubbub import Agent
from hubbub.network import HubClient, Passport, Resume, WsLink
from hubbub.testing import TestConfig

TIMEOUT_MS = 15_000


async def page_of(browser: Any, url: str) -> Any:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    await page.goto(url)
    return page


async def lane_names(page: Any) -> list[str]:
    names: list[str] = await page.eval_on_selector_all(
        "#lanes .lane", "nodes => nodes.map(n => n.textContent)"
    )
    return names


async def test_the_sessions_page_lists_and_filters(browser: Any, served: Served) -> None:
    s = served.facts.sessions
    page = await page_of(browser, served.url + f"/sessions?token={TOKEN}")
    await page.wait_for_selector("body[data-loaded]", timeout=TIMEOUT_MS)
    rows = page.locator("#sessions tbody tr")
    assert await rows.count() == 4
    assert await page.inner_text("#total") == "(4)"
    first = rows.nth(0)
    assert await first.get_attribute("data-session") == s["open"]
    assert "carol, dave" in await first.inner_text()
    await page.screenshot(path=str(ARTIFACTS / "sessions.png"))

    await page.select_option("select[name=state]", "closed")
    await page.fill("input[name=agent]", "alice")
    await page.click("#filters button[type=submit]")
    await page.wait_for_function("document.querySelectorAll('#sessions tbody tr').length === 2")
    ids = await rows.evaluate_all("rows => rows.map(r => r.dataset.session)")
    assert ids == [s["silent"], s["consulting"]]
    assert "state=closed" in page.url and "agent=alice" in page.url

    await page.fill("input[name=q]", "explicit")
    await page.fill("input[name=agent]", "")
    await page.click("#filters button[type=submit]")
    await page.wait_for_function("document.querySelectorAll('#sessions tbody tr').length === 1")
    assert await rows.nth(0).get_attribute("data-session") == s["chat"]
    await rows.nth(0).locator("a").click()
    await page.wait_for_url(f"**/sessions/{s['chat']}")
    await page.wait_for_selector("body[data-loaded]", timeout=TIMEOUT_MS)
    assert await lane_names(page) == ["carol", "dave"]
    assert page.errors == []


async def test_a_timeline_has_lanes_texts_arrows_and_the_close(
    browser: Any, served: Served
) -> None:
    sid = served.facts.sessions["chat"]
    page = await page_of(browser, served.url + f"/sessions/{sid}?token={TOKEN}")
    await page.wait_for_selector("body[data-loaded]", timeout=TIMEOUT_MS)
    assert await lane_names(page) == ["carol", "dave"]
    rows = page.locator(".row.envelope")
    assert await rows.count() == 9

    reply = page.locator(".row.envelope[data-seq='5']")
    assert await reply.get_attribute("data-sender") == "dave"
    assert await reply.get_attribute("data-audience") == "carol"
    assert "Yes. Tuesday works." in await reply.inner_text()
    assert "in 120 / out 30 tok" in await reply.inner_text()  # its usage
    assert await reply.locator(".arrow.left[data-to='carol']").count() == 1
    # the card sits in dave's lane, the second column
    assert await reply.locator(".card").evaluate("c => c.style.gridColumn") == "2"

    only_dave = page.locator(".row.envelope[data-seq='8']")
    assert await only_dave.get_attribute("data-audience") == "dave"
    assert await only_dave.locator(".arrow.right[data-to='dave']").count() == 1

    closed = page.locator(".close-marker")
    assert await closed.count() == 1
    assert "session closed: explicit_close" in await closed.inner_text()
    assert await page.inner_text("#state") == "closed"
    # usage table: dave's replies, — for carol's
    assert "320" in await page.inner_text("#usage tr[data-agent='dave']")
    assert "—" in await page.inner_text("#usage tr[data-agent='carol']")
    await page.screenshot(path=str(ARTIFACTS / "timeline.png"), full_page=True)
    assert page.errors == []


async def test_the_step_control_shows_the_folded_state(browser: Any, served: Served) -> None:
    sid = served.facts.sessions["chat"]
    page = await page_of(browser, served.url + f"/sessions/{sid}?token={TOKEN}")
    await page.wait_for_selector("body[data-loaded]", timeout=TIMEOUT_MS)
    await page.wait_for_function("document.getElementById('state-at').textContent === '9'")
    assert await page.inner_text("#fold-state") == "closed"

    await page.click("#first")
    await page.wait_for_function("document.getElementById('state-at').textContent === '0'")
    assert await page.inner_text("#fold-state") == "pending"
    assert await page.locator(".row.envelope.future").count() == 9

    await page.fill("#at", "5")
    await page.dispatch_event("#at", "change")
    await page.wait_for_function("document.getElementById('state-at').textContent === '5'")
    assert await page.inner_text("#fold-state") == "active"
    assert await page.inner_text("#fold-seq") == "5"
    adapter_state = await page.inner_text("#fold-adapter-state")
    assert '"turn_count": 2' in adapter_state
    assert served.facts.agents["dave"] in adapter_state  # the last speaker
    assert await page.inner_text("#fold-may-send") == "carol ✓, dave ✓"
    assert await page.locator(".row.envelope.current").get_attribute("data-seq") == "5"
    assert await page.locator(".row.envelope.future").count() == 4

    await page.click("#back")
    await page.wait_for_function("document.getElementById('state-at').textContent === '4'")
    assert '"turn_count": 1' in await page.inner_text("#fold-adapter-state")
    await page.click("#fwd")
    await page.click("#fwd")
    await page.wait_for_function("document.getElementById('state-at').textContent === '6'")
    assert '"turn_count": 3' in await page.inner_text("#fold-adapter-state")
    await page.screenshot(path=str(ARTIFACTS / "step.png"), full_page=True)
    assert page.errors == []


async def test_a_violation_is_marked_on_its_timeline(browser: Any, served: Served) -> None:
    sid = served.facts.sessions["silent"]
    page = await page_of(browser, served.url + f"/sessions/{sid}?token={TOKEN}")
    await page.wait_for_selector("body[data-loaded]", timeout=TIMEOUT_MS)
    banner = page.locator("[data-violation='reply_within']")
    assert await banner.count() == 1
    assert "expectation violated: reply_within by mute" in await banner.inner_text()
    # after the question, before the close it caused
    order = await page.eval_on_selector_all(
        "#timeline .row",
        "rows => rows.map(r => r.dataset.violation ? 'violation' : (r.dataset.seq || 'close'))",
    )
    assert order == ["1", "2", "3", "4", "violation", "5", "close"]
    assert "expectation_violated:reply_within" in await page.inner_text(".close-marker")
    await page.screenshot(path=str(ARTIFACTS / "violation.png"), full_page=True)


async def test_the_agents_page_and_the_audit_page(browser: Any, served: Served) -> None:
    page = await page_of(browser, served.url + f"/agents?token={TOKEN}")
    dave = page.locator(f"#agents tr[data-agent='{served.facts.agents['dave']}']")
    await dave.wait_for(timeout=TIMEOUT_MS)
    text = await dave.inner_text()
    assert "dave" in text and "320" in text and "$0.0032" in text and "1000 ms" in text
    alice = await page.inner_text(f"#agents tr[data-agent='{served.facts.agents['alice']}']")
    assert "—" in alice
    await page.screenshot(path=str(ARTIFACTS / "agents.png"))
    await page.goto(served.url + "/audit")
    await page.wait_for_selector("#audit tbody tr", timeout=TIMEOUT_MS)
    assert "expectation_violated" in await page.inner_text("#audit")
    assert page.errors == []


async def test_live_an_envelope_appears_without_a_reload(browser: Any, tmp_path: Any) -> None:
    """``hubbub serve --ui``: agents over WebSocket post, the open page shows it at once."""
    db = tmp_path / "live.db"
    async with children() as started:
        hub = await started.start(
            "hubbub serve --ui",
            "-m",
            "hubbub.cli",
            "serve",
            *("--store", f"sqlite:///{db}", "--port", "0", "--ui", "--ui-port", "0"),
            *("--token", f"carol:{TOKEN}-carol", "--token", f"dave:{TOKEN}-dave"),
        )
        first = await hub.readline()
        assert first.startswith("hubbub: inspector at http://127.0.0.1:"), hub.describe()
        ui = first.removeprefix("hubbub: inspector at ")
        ws = (await hub.readline()).removeprefix(READY)
        carol_hc = HubClient(WsLink(ws, token=f"{TOKEN}-carol"))
        dave_hc = HubClient(WsLink(ws, token=f"{TOKEN}-dave"))
        try:
            carol = await carol_hc.register(
                Agent("carol", config=TestConfig(ANSWER)), Passport(name="carol"), Resume()
            )
            dave = await dave_hc.register(
                Agent("dave", config=TestConfig(ANSWER)), Passport(name="dave"), Resume()
            )

            for agent in (carol, dave):  # they ack invites; only the test speaks for them
                agent.on_envelope(acks_only(agent))
            session = await carol.open(type="conversation", target="dave")
            sid = session.session_id
            await session.send(QUESTION)

            page = await page_of(browser, ui + f"/sessions/{sid}?token={TOKEN}-carol")
            await page.wait_for_selector("body[data-loaded]", timeout=TIMEOUT_MS)
            await page.wait_for_function(
                "document.getElementById('live-status').textContent.includes('live')",
                timeout=TIMEOUT_MS,
            )
            assert await page.locator(".row.envelope").count() == 4
            assert await page.inner_text("#state") == "active"

            dave_session = await dave.session(sid)
            await dave_session.send("Answered live.")
            row = page.locator(".row.envelope[data-seq='5']")
            await row.wait_for(timeout=TIMEOUT_MS)
            assert "Answered live." in await row.inner_text()
            assert await row.get_attribute("data-sender") == "dave"
            # the step control followed the tail and folded the new envelope
            await page.wait_for_function(
                "document.getElementById('state-at').textContent === '5'", timeout=TIMEOUT_MS
            )
            assert '"turn_count": 2' in await page.inner_text("#fold-adapter-state")
            await page.screenshot(path=str(ARTIFACTS / "live.png"), full_page=True)

            await session.close()
            await page.locator(".close-marker").wait_for(timeout=TIMEOUT_MS)
            assert await page.inner_text("#state") == "closed"

            agents_page = await page_of(browser, ui + f"/agents?token={TOKEN}-dave")
            await agents_page.wait_for_selector("#agents tbody tr", timeout=TIMEOUT_MS)
            assert "online" in await agents_page.inner_text("#agents tbody")
            assert page.errors == [] and agents_page.errors == []
        finally:
            await carol_hc.close()
            await dave_hc.close()
        hub.terminate()
        exited = await hub.wait()
        assert exited.returncode == 0, hub.describe()
