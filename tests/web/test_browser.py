"""The page in a real browser: Debian's Chromium driven by Playwright against `slidebatch serve`.

Skipped locally when /usr/bin/chromium is missing; a failure when CI is set, because then the
browser test is the only proof that the page works.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest
from pptx import Presentation

from slidebatch.core.cost import Spend
from slidebatch.testing.fake_behaviour import FakeUpstreamConfig
from slidebatch.testing.fake_upstream import FakeUpstreamServer
from slidebatch.testing.serve_process import free_port, start_serve, stop_serve

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page, Route

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SERVER_START_TIMEOUT = 60.0
# Browser waits in milliseconds: generous, since CI machines are slow and shared.
WAIT_MS = 90_000
SLIDES_IN_EXAMPLE = 5
CONFIGURED_PRICE = 0.2  # UPSTREAM_PRICE_PER_IMAGE: the estimate before any image
REPORTED_PRICE = 0.134  # the fake OpenRouter's usage.cost per image
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'"
)


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing; CI must install Debian's chromium")
    pytest.skip(f"{CHROMIUM} is not installed")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real `slidebatch serve` on a free loopback port with the offline renderer."""
    # A short render delay so cards visibly pass through "generating".
    with _serve(tmp_path, IMAGE_PROVIDER="local", LOCAL_RENDER_DELAY_SECONDS="0.2") as url:
        yield url


@pytest.fixture
def priced_server(tmp_path: Path) -> Iterator[str]:
    """`slidebatch serve` whose image model is the fake OpenRouter, which reports usage.cost."""
    _require_chromium()
    config = FakeUpstreamConfig(rpm=None, latency_median=0.05, latency_p95=0.06)
    with (
        FakeUpstreamServer(config) as upstream,
        _serve(
            tmp_path,
            IMAGE_PROVIDER="openrouter",
            LLM_API_KEY="sk-test-browser-cost",
            LLM_API_BASE=upstream.openrouter_base,
            UPSTREAM_PRICE_PER_IMAGE=str(CONFIGURED_PRICE),
        ) as url,
    ):
        yield url


@contextmanager
def _serve(tmp_path: Path, **settings: str) -> Iterator[str]:
    _require_chromium()
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        # The test's server must not pick up a developer's database, keys or provider.
        if key.upper() not in {"DATABASE_URL", "LLM_API_KEY", "GEMINI_API_KEY", "OPENAI_API_KEY"}
    }
    env.update(
        DATA_DIR=str(tmp_path / "data"),
        LOG_DIR=str(tmp_path / "logs"),
        IMAGE_OUTPUT_DIR=str(tmp_path / "images"),
        PYTHONPATH=os.pathsep.join(
            [str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        **settings,
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        # cwd=tmp_path: no .env from the working tree leaks into the server's settings.
        try:
            proc = start_serve(
                port=port, env=env, cwd=tmp_path, timeout=SERVER_START_TIMEOUT, output=out
            )
        except RuntimeError as exc:
            pytest.fail(f"{exc}:\n{log.read_text()}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_serve(proc)


def _with_csp(route: Route) -> None:
    response = route.fetch()
    headers = dict(response.headers)
    headers.setdefault("content-security-policy", CSP)
    route.fulfill(response=response, headers=headers)


ALL_CARDS_SHOW_IMAGES = """(n) => {
  const cards = [...document.querySelectorAll('#slide-grid > li')];
  return cards.length === n && cards.every((card) => {
    const img = card.querySelector('img');
    return card.dataset.state === 'done' && img && !img.hidden && img.complete
      && img.naturalWidth > 0;
  });
}"""

# Records every state a card passes through, so the test sees a regeneration happen even
# when the new image is byte-identical (the offline renderer does not draw visual_desc).
WATCH_CARD_STATES = """(page) => {
  const card = document.querySelector(`#slide-grid > li[data-page="${page}"]`);
  window.__cardStates = [];
  new MutationObserver(() => window.__cardStates.push(card.dataset.state))
    .observe(card, { attributes: true, attributeFilter: ['data-state'] });
}"""

CARD_REGENERATED = """(page) => {
  const card = document.querySelector(`#slide-grid > li[data-page="${page}"]`);
  const img = card && card.querySelector('img');
  const left = (window.__cardStates || []).some((s) => s !== 'done');
  return Boolean(left && card.dataset.state === 'done' && img && !img.hidden && img.complete
    && img.naturalWidth > 0);
}"""

UNLABELLED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map((el) => el.id || el.name || el.outerHTML)"""


def test_page_generates_regenerates_and_downloads(server: str, tmp_path: Path) -> None:
    """The example deck runs end to end in Chromium: images, a regenerated slide, a PPTX."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                viewport={"width": 1366, "height": 900}, accept_downloads=True
            )
            # Enforce the page's CSP even if the server does not send it yet: the page must
            # work with no inline script or style and no request leaving the origin.
            context.route(lambda url: urlsplit(url).path in ("/", "/index.html"), _with_csp)
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            expect.set_options(timeout=WAIT_MS)
            # CSP violations and script errors show up here; the page must have none.
            page.on(
                "console",
                lambda msg: problems.append(msg.text) if _unexpected(msg) else None,
            )
            page.on("pageerror", lambda exc: problems.append(str(exc)))

            try:
                _drive_page(page, server, tmp_path)
            except Exception:
                # What the page showed when it went wrong: the first thing to look at in CI.
                page.screenshot(path=ARTIFACTS / "web-failure.png", full_page=True)
                raise
        finally:
            browser.close()
    assert problems == []


def _unexpected(msg: ConsoleMessage) -> bool:
    """A console error, except the 422 the test provokes on purpose with a mismatched format."""
    if msg.type != "error":
        return False
    provoked = msg.location.get("url", "").endswith("/api/deck/parse") and "422" in msg.text
    return not provoked


def _drive_page(page: Page, server: str, tmp_path: Path) -> None:
    _compose(page, server, tmp_path)
    batch_id = _generate_and_regenerate(page, server)
    _download_resume_delete(page, server, tmp_path, batch_id)


def _compose(page: Page, server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.goto(server)
    expect(page.locator("#server-info")).to_contain_text("provider")

    # Chinese deck (JSON) parses and shows its titles.
    page.get_by_role("button", name="中文示例").click()
    expect(page.locator("#deck-summary")).to_contain_text("5 slides")
    expect(page.locator("#deck-summary")).to_contain_text("谢谢观看")
    expect(page.get_by_label("Style prompt")).to_have_value(
        "商务简洁风格，深蓝 #1A365D 主色，金色 #D4AF37 点缀，留白充足，扁平图标"
    )

    # A .md upload leaves the format on Auto-detect: a JSON deck pasted next is read as JSON.
    markdown = tmp_path / "talk.md"
    front = "---\ntitle: Four\naspect_ratio: '4:3'\n---\n\n"
    markdown.write_text(front + "# First\n\nbody\n\n---\n\n# Second\n", encoding="utf-8")
    page.locator("#deck-file").set_input_files(str(markdown))
    expect(page.locator("#deck-summary")).to_contain_text("2 slides (Markdown")
    expect(page.locator("#deck-format")).to_have_value("auto")
    expect(page.get_by_label("Deck title")).to_have_value("Four")
    expect(page.get_by_label("Aspect ratio")).to_have_value("4:3")
    page.locator("#deck-text").fill('{"slides": [{"title": "Pasted in JSON"}]}')
    expect(page.locator("#deck-summary")).to_contain_text("1 slide (JSON")
    expect(page.locator("#deck-summary")).to_contain_text("Pasted in JSON")
    # The previous deck's front matter does not carry over; a title typed by hand does.
    expect(page.get_by_label("Deck title")).to_have_value("")
    expect(page.get_by_label("Aspect ratio")).to_have_value("16:9")
    page.get_by_label("Deck title").fill("Typed by hand")
    page.locator("#deck-text").fill('{"title": "Deck", "slides": [{"title": "Pasted in JSON"}]}')
    expect(page.locator("#deck-summary")).to_contain_text("1 slide (JSON")
    expect(page.get_by_label("Deck title")).to_have_value("Typed by hand")
    # A format forced against the text: the error says what to change.
    page.locator("#deck-format").select_option("markdown")
    expect(page.locator("#deck-summary")).to_contain_text(
        "This text looks like JSON: set Format to Auto-detect or JSON."
    )
    page.locator("#deck-format").select_option("auto")
    expect(page.locator("#deck-summary")).to_contain_text("1 slide (JSON")

    # English deck (Markdown) is the one we generate.
    page.get_by_role("button", name="Load example deck").click()
    expect(page.locator("#deck-summary")).to_contain_text("Markdown")
    expect(page.locator("#deck-summary")).to_contain_text("How it works")
    expect(page.get_by_label("Style prompt")).to_have_value(
        "Clean corporate style, deep blue #1F3A5F background accents, gold #C9A227 "
        "highlights, white space, flat icons"
    )
    expect(page.locator("#estimate")).to_contain_text("Estimate")
    expect(page.locator("#estimate")).to_contain_text("Cost: free (offline renderer).")
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    page.screenshot(path=ARTIFACTS / "web-01-compose.png", full_page=True)


def _generate_and_regenerate(page: Page, server: str) -> str:
    from playwright.sync_api import expect

    page.get_by_role("button", name="Generate slides").click()
    expect(page.locator("#slide-grid > li")).to_have_count(SLIDES_IN_EXAMPLE)
    page.wait_for_function(ALL_CARDS_SHOW_IMAGES, arg=SLIDES_IN_EXAMPLE)
    expect(page.locator("#batch-status")).to_have_text("Completed")
    expect(page.locator("#batch-progress")).to_have_attribute("value", "100")
    batch_id = page.evaluate("() => decodeURIComponent(location.hash.slice(7))")
    assert batch_id
    expect(page.locator(f'.history-item[data-batch-id="{batch_id}"]')).to_contain_text("Completed")
    # The offline renderer is free, and the page says so as the API does: $0, not nothing.
    expect(page.locator("#batch-counts")).to_contain_text("spent $0")
    expect(page.locator('#slide-grid > li[data-page="1"]')).to_contain_text("$0")
    page.screenshot(path=ARTIFACTS / "web-02-batch-done.png", full_page=True)

    # Regenerate slide 2 with a new visual description.
    card = page.locator('#slide-grid > li[data-page="2"]')
    page.evaluate(WATCH_CARD_STATES, 2)
    card.get_by_role("button", name="Edit & regenerate").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    new_desc = "A red rocket lifting off over a field of sunflowers"
    dialog.get_by_label("Visual description").fill(new_desc)
    dialog.get_by_role("button", name="Regenerate this slide").click()
    page.wait_for_function(CARD_REGENERATED, arg=2)
    expect(dialog.locator("#dialog-state")).to_contain_text("Done")
    page.screenshot(path=ARTIFACTS / "web-03-regenerated.png")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    status = httpx.get(f"{server}/api/slide/batch/{batch_id}", timeout=10).json()
    slide2 = next(r for r in status["results"] if r["page_num"] == 2)
    assert slide2["visual_desc"] == new_desc
    assert slide2["state"] == "done"
    return str(batch_id)


def _download_resume_delete(page: Page, server: str, tmp_path: Path, batch_id: str) -> None:
    from playwright.sync_api import expect

    # Download the PPTX through the page's link.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="PPTX").click()
    pptx_path = tmp_path / "deck.pptx"
    download_info.value.save_as(pptx_path)
    assert len(Presentation(str(pptx_path)).slides) == SLIDES_IN_EXAMPLE

    # A reload resumes from the URL: the snapshot re-renders every card.
    page.reload()
    page.wait_for_function(ALL_CARDS_SHOW_IMAGES, arg=SLIDES_IN_EXAMPLE)

    # Narrow screen: nothing overflows sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    page.screenshot(path=ARTIFACTS / "web-04-narrow.png", full_page=True)
    assert overflow <= 0

    # Delete, after confirming: the panel closes and the batch is gone on the server.
    page.once("dialog", lambda confirm: confirm.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.locator("#batch-view")).to_be_hidden()
    gone = httpx.get(f"{server}/api/slide/batch/{batch_id}", timeout=10)
    assert gone.status_code == 404


def test_api_key_field_sends_the_key(server: str) -> None:
    """When /api/info says auth_required, the key field shows; the key goes out as X-API-Key."""
    from playwright.sync_api import expect, sync_playwright

    def auth_required_info(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, json={**response.json(), "auth_required": True})

    sent_keys: list[str | None] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            page.route(f"{server}/api/info", auth_required_info)
            page.on(
                "request",
                lambda req: (
                    sent_keys.append(req.headers.get("x-api-key"))
                    if "/api/slide/batch?" in req.url
                    else None
                ),
            )
            page.goto(server)
            key_field = page.get_by_label("API key")
            expect(key_field).to_be_visible()
            key_field.fill("sk-test-123")
            with page.expect_request(lambda req: "/api/slide/batch?" in req.url):
                page.get_by_role("button", name="Save key").click()
            assert page.evaluate("() => localStorage.getItem('slidebatch.apiKey')") == "sk-test-123"
        finally:
            browser.close()
    assert sent_keys[-1] == "sk-test-123"


def test_reference_image_and_anchor_go_with_the_batch(server: str, tmp_path: Path) -> None:
    """A picked reference image gives the style prompt, then goes as a data URL with anchor."""
    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    picture = tmp_path / "look.png"
    Image.new("RGB", (64, 36), "teal").save(picture)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            page.goto(server)
            page.locator("#deck-text").fill('{"slides": [{"title": "Cover"}, {"title": "Two"}]}')
            expect(page.locator("#deck-summary")).to_contain_text("2 slides")
            page.get_by_label("Reference images").set_input_files(str(picture))
            # The style prompt derived from the picture (offline here: its colours by hex).
            page.get_by_role("button", name="Derive the style prompt from them").click()
            expect(page.get_by_label("Style prompt")).to_have_value(re.compile("#008080"))
            expect(page.locator("#derive-status")).to_contain_text("derived")
            page.get_by_label("Draw the cover first").check()
            with page.expect_response(lambda r: "/api/slide/batch/generate" in r.url) as caught:
                page.get_by_role("button", name="Generate slides").click()
            response = caught.value
            body = response.request.post_data_json
        finally:
            browser.close()
    assert response.status == 202
    assert body["anchor"] is True
    assert len(body["reference_images"]) == 1
    assert body["reference_images"][0].startswith("data:image/png;base64,")


def test_candidates_are_shown_and_one_is_picked(server: str) -> None:
    """Regenerate with 3 candidates in the dialog: three thumbnails show; 'Use' picks one."""
    from playwright.sync_api import expect, sync_playwright

    deck = {"slides": [{"id": "a", "title": "Cover"}, {"id": "b", "title": "Two"}]}
    batch_id = httpx.post(f"{server}/api/slide/batch/generate", json=deck, timeout=60).json()[
        "batch_id"
    ]
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            expect.set_options(timeout=WAIT_MS)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.goto(f"{server}/#batch={batch_id}")
            page.wait_for_function(ALL_CARDS_SHOW_IMAGES, arg=2)
            card = page.locator('#slide-grid > li[data-page="2"]')
            card.get_by_role("button", name="Edit & regenerate").click()
            dialog = page.get_by_role("dialog")
            expect(dialog.locator("#dialog-picks")).to_be_hidden()  # one image: nothing to pick
            dialog.get_by_label("Candidates", exact=True).select_option("3")
            with page.expect_request(lambda r: r.url.endswith("/slides/b/regenerate")) as sent:
                dialog.get_by_role("button", name="Regenerate this slide").click()
            assert sent.value.post_data_json["candidates"] == 3
            items = dialog.locator(".candidate")
            expect(items).to_have_count(3)
            expect(dialog.locator("#dialog-picks")).to_be_visible()
            with page.expect_response(lambda r: r.url.endswith("/candidates/1/pick")) as picked:
                dialog.get_by_role("button", name="Use candidate 1").click()
            assert picked.value.status == 200
            expect(items.first).to_have_attribute("data-chosen", "true")
            expect(items.first.get_by_role("button")).to_have_attribute("aria-pressed", "true")
        finally:
            browser.close()
    assert problems == []
    listed = httpx.get(f"{server}/api/slide/batch/{batch_id}/slides/b/candidates", timeout=10)
    assert [c["n"] for c in listed.json()["candidates"]] == [1, 2, 3]


def test_cost_shows_in_the_estimate_cards_header_and_history(
    priced_server: str, tmp_path: Path
) -> None:
    """With a priced model: the estimate, each card, the batch header and the history show it,
    in the CLI's words when a cost is estimated or unknown."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.set_default_timeout(WAIT_MS)
            expect.set_options(timeout=WAIT_MS)
            page.goto(priced_server)
            page.locator("#deck-text").fill(
                '{"slides": [{"title": "Cover"}, {"title": "Two"}, {"title": "Three"}]}'
            )
            expect(page.locator("#deck-summary")).to_contain_text("3 slides")
            page.get_by_label("Style prompt").fill("navy and gold")
            expect(page.locator("#estimate")).to_contain_text(
                "Cost estimate: $0.6 (3 x $0.2, configured)."
            )
            page.get_by_role("button", name="Generate slides").click()
            page.wait_for_function(ALL_CARDS_SHOW_IMAGES, arg=3)
            for card in page.locator("#slide-grid > li").all():
                expect(card).to_contain_text("$0.134")
            expect(page.locator("#batch-counts")).to_contain_text("spent $0.402")
            batch_id = page.evaluate("() => decodeURIComponent(location.hash.slice(7))")
            history = page.locator(f'.history-item[data-batch-id="{batch_id}"]')
            expect(history).to_contain_text("Completed")
            expect(history).to_contain_text("$0.402")
            # The next estimate is priced from what the model reported.
            expect(page.locator("#estimate")).to_contain_text(
                "Cost estimate: $0.402 (3 x $0.134, measured)."
            )
            page.screenshot(path=ARTIFACTS / "web-05-cost.png", full_page=True)
            _estimated_and_unknown_costs(page, priced_server, batch_id)
            page.screenshot(path=ARTIFACTS / "web-06-cost-estimated.png", full_page=True)
            assert page.evaluate(SPEND_TEXT, [list(c) for c in SPENDS]) == [
                Spend(*case).text() for case in SPENDS
            ]
        except Exception:
            page.screenshot(path=ARTIFACTS / "web-failure-cost.png", full_page=True)
            raise
        finally:
            browser.close()


# (total, estimated part, costs unknown): the page words each as the CLI does.
SPENDS = [
    (None, 0.0, 0),
    (None, 0.0, 3),
    (0.0, 0.0, 0),
    (0.4, 0.0, 0),
    (0.05, 0.05, 0),
    (0.15, 0.05, 0),
    (0.05, 0.0, 1),
    (0.05, 0.05, 11),
]
SPEND_TEXT = """async (cases) => {
  const { spendText } = await import('/format.js');
  return cases.map(([total, estimated, unknown]) => spendText(total, estimated, unknown));
}"""


def _estimated_and_unknown_costs(page: Page, server: str, batch_id: str) -> None:
    """The batch as the API answers it when slide 1's image was found on disk (priced at the
    model's price, estimated) and slide 2's price was never reported: cards, header and
    history say so."""
    from playwright.sync_api import expect

    status = httpx.get(f"{server}/api/slide/batch/{batch_id}", timeout=10).json()
    first, second = sorted(status["results"], key=lambda r: r["page_num"])[:2]
    first["cost_estimated"] = True
    second["cost"] = second["spent"] = None
    known = round(2 * REPORTED_PRICE, 6)
    status.update(cost=known, cost_estimated=True, costs_unknown=1)
    snapshot = f"event: snapshot\ndata: {json.dumps(status)}\n\n"

    def stream(route: Route) -> None:
        route.fulfill(status=200, content_type="text/event-stream", body=snapshot)

    def listed(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        for item in body["items"]:
            if item["batch_id"] == batch_id:
                item.update(cost=known, cost_estimated=True, costs_unknown=1)
        route.fulfill(response=response, json=body)

    page.route(lambda url: urlsplit(url).path.endswith(f"/{batch_id}/events"), stream)
    page.route(lambda url: urlsplit(url).path == "/api/slide/batch", listed)
    page.reload()
    cards = page.locator("#slide-grid > li")
    expect(cards).to_have_count(3)
    expect(page.locator('#slide-grid > li[data-page="1"]')).to_contain_text("$0.134 (estimated)")
    expect(page.locator('#slide-grid > li[data-page="2"]')).to_contain_text("cost unknown")
    expect(page.locator("#batch-counts")).to_contain_text(
        "spent at least $0.268 ($0.134 of it estimated), 1 cost unknown"
    )
    history = page.locator(f'.history-item[data-batch-id="{batch_id}"]')
    expect(history).to_contain_text("at least $0.268 (estimated), 1 cost unknown")


ARABIC_DECK = "# مراجعة الربع الثالث\n\nنتائج الفريق\n\n---\n\n# أهداف المنتج\n\n- إطلاق API جديد\n"


def test_arabic_deck_reads_right_to_left_on_the_page(server: str) -> None:
    """An Arabic deck: the text box, the card titles and the dialog's title run right to left."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(WAIT_MS)
            expect.set_options(timeout=WAIT_MS)
            page.goto(server)
            page.locator("#deck-text").fill(ARABIC_DECK)
            expect(page.locator("#deck-summary")).to_contain_text("2 slides")
            assert page.locator("#deck-text").evaluate("(el) => el.matches(':dir(rtl)')")
            page.get_by_label("Style prompt").fill("navy and gold")
            page.get_by_role("button", name="Generate slides").click()
            page.wait_for_function(ALL_CARDS_SHOW_IMAGES, arg=2)
            titles = page.locator("#slide-grid .card-title")
            assert titles.evaluate_all("(els) => els.every((el) => el.matches(':dir(rtl)'))")
            page.locator("#slide-grid > li").first.get_by_role(
                "button", name="Edit & regenerate"
            ).click()
            heading = page.get_by_role("dialog").locator("bdi")
            expect(heading).to_have_text("مراجعة الربع الثالث")
            assert heading.evaluate("(el) => el.matches(':dir(rtl)')")
        finally:
            browser.close()


@pytest.fixture
def gated_server(tmp_path: Path) -> Iterator[str]:
    """`slidebatch serve` on a fake OpenRouter allowing one start per 10 minutes: the gate
    (and the X-RateLimit figures it learns) hold every start after the first."""
    _require_chromium()
    config = FakeUpstreamConfig(rpm=1, window_seconds=600.0, latency_median=0.05)
    with (
        FakeUpstreamServer(config) as upstream,
        _serve(
            tmp_path,
            IMAGE_PROVIDER="openrouter",
            LLM_API_KEY="sk-test-browser-gate",
            LLM_API_BASE=upstream.openrouter_base,
            UPSTREAM_RPM="1",
            UPSTREAM_RATE_WINDOW_SECONDS="600",
        ) as url,
    ):
        yield url


WAIT_SECONDS = re.compile(r"waiting for the rate limit, next start in (\d+) s")


def _seconds_said(text: str) -> int:
    found = WAIT_SECONDS.search(text)
    assert found is not None, text
    return int(found.group(1))


def test_waiting_counts_down_and_a_regenerated_card_keeps_its_image(gated_server: str) -> None:
    """While the rate limit holds the next start, the batch line counts down between server
    updates (page clock), and a regenerated slide shows its old image and what it waits for."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.set_default_timeout(WAIT_MS)
            expect.set_options(timeout=WAIT_MS)
            page.goto(gated_server)
            page.locator("#deck-text").fill('{"slides": [{"title": "One"}, {"title": "Two"}]}')
            expect(page.locator("#deck-summary")).to_contain_text("2 slides")
            page.get_by_label("Style prompt").fill("navy and gold")
            # From here the page's timers run only when the test says (no sleeping).
            page.clock.install()
            page.clock.pause_at(1_900_000_000_000)
            page.get_by_role("button", name="Generate slides").click()
            first = page.locator('#slide-grid > li[data-page="1"]')
            expect(first).to_have_attribute("data-state", "done")
            eta = page.locator("#batch-eta")
            expect(eta).to_contain_text("waiting for the rate limit, next start in")
            said = _seconds_said(eta.inner_text())
            page.clock.run_for(5000)  # no server update in between: the page counts itself
            assert _seconds_said(eta.inner_text()) == said - 5

            first.get_by_role("button", name="Edit & regenerate").click()
            dialog = page.get_by_role("dialog")
            dialog.get_by_role("button", name="Regenerate this slide").click()
            page.keyboard.press("Escape")
            expect(first).to_have_attribute("data-state", "pending")
            image = first.locator(".thumb img")
            expect(image).to_be_visible()
            expect(first.locator(".thumb")).to_have_class(re.compile("has-image"))
            note = first.locator(".thumb-empty")
            expect(note).to_contain_text("waiting for the rate limit, next start in")
            before = _seconds_said(note.inner_text())
            page.clock.run_for(3000)
            assert _seconds_said(note.inner_text()) == before - 3
        finally:
            browser.close()
