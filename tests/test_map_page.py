"""The map page in a real browser (Debian's chromium driven by playwright's client) against a live `maas serve`
of the built-in sample, as a person would use it after `make run`: the page loads with no console error, a plan is
drawn in route colours, a closure posted as CAP appears on the map with its text, and a booking completes (offer →
book with the sandbox card → live event → cancel). Screenshots go to the folder printed at the start.

Skips, with the reason, when chromium is not at /usr/bin/chromium (``scripts/ensure-chromium.sh`` installs it; `make
test` calls it), when the playwright client is missing, or when the vendored map library is not installed.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import urllib.request
from pathlib import Path

import pytest

from api.pages import missing_assets
from api_support_http import ROOT, maas_serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-default-apps", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
SCREENSHOTS = Path(os.environ.get("MAAS_SCREENSHOT_DIR", ROOT / ".cache" / "screenshots"))
CAP = ROOT / "examples" / "closure-cap.xml"
TOKYO = dt.timezone(dt.timedelta(hours=9))
WAIT_MS = 30_000

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing (scripts/ensure-chromium.sh installs Debian's chromium; make test runs it)",
                allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api", reason="the playwright client is not installed (pip: .[dev])")
if missing_assets():
    pytest.skip(f"map library files missing ({', '.join(missing_assets())}): run scripts/ensure-assets.sh",
                allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with maas_serve(tmp_path_factory.mktemp("map-page")) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(request):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\nmap page screenshots: {SCREENSHOTS}")
    return SCREENSHOTS


class Console:
    """Every console error, uncaught exception and failed request of a page."""

    def __init__(self, page):
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url} {r.failure}"))


def open_page(browser, server, **viewport):
    page = browser.new_page(viewport=viewport or {"width": 1280, "height": 860}, locale="en-US")
    console = Console(page)
    page.goto(server + "/")
    # a function, not an expression: playwright polls an expression with eval(), which the page's CSP forbids
    page.wait_for_function("() => window.maasMap && window.maasMap.state.network !== null", timeout=WAIT_MS)
    return page, console


def settle(page) -> None:
    """Let the map finish its zoom/pan animation (mid-animation, vector layers are drawn scaled)."""
    page.wait_for_timeout(700)


def pick(page, which: str, text: str, stop_id: str) -> None:
    page.fill(f"#{which}", text)
    page.click(f'#{which}-suggest li[data-id="{stop_id}"]', timeout=WAIT_MS)


def post_cap(server: str) -> dict:
    req = urllib.request.Request(server + "/v1/closures", data=CAP.read_bytes(), method="POST", headers={
        "Authorization": "Bearer dev-disaster-key", "Content-Type": "application/cap+xml"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201
        return json.loads(r.read())


def lift(server: str, closure_id: str) -> None:
    req = urllib.request.Request(f"{server}/v1/closures/{closure_id}", method="DELETE",
                                 headers={"Authorization": "Bearer dev-disaster-key"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 204


def test_plan_book_and_closure_in_the_browser(server, browser, shots):
    page, console = open_page(browser, server)
    assert page.locator("html").get_attribute("lang") == "en"  # the browser's language (en-US) picks English
    lines = page.evaluate("window.maasMap.state.network.features.filter(f => f.properties.kind === 'line').length")
    assert lines > 5  # the sample's subway, bus and shuttle lines are on the map
    operators = page.locator("#network-list input[data-operator]")
    assert {operators.nth(i).get_attribute("data-operator") for i in range(operators.count())} >= {
        "toei-subway", "toei-bus", "shuttle-nishishinjuku"}
    page.uncheck('#network-list input[data-operator="toei-bus"]')  # an operator looks at its own lines alone
    shown = page.evaluate("window.maasMap.layers.lines.getLayers().length")
    page.check('#network-list input[data-operator="toei-bus"]')
    assert page.evaluate("window.maasMap.layers.lines.getLayers().length") == shown + 1

    # plan: the next 10:00 or 16:00 Tokyo at least an hour away (inside the shuttle's 24 h booking window; "tomorrow
    # 10:00" is beyond it between 00:00 and 10:00), from the shuttle's Shinjuku West Exit stop to Tochomae (by its
    # English name)
    now = dt.datetime.now(TOKYO)
    when = min(t for t in (now.replace(hour=h, minute=0, second=0, microsecond=0) + dt.timedelta(days=k)
                           for k in (0, 1) for h in (10, 16)) if t >= now + dt.timedelta(hours=1))
    page.fill("#when", when.strftime("%Y-%m-%dT%H:%M"))
    pick(page, "from", "新宿駅西口", "shuttle-nishishinjuku:NS-P01")
    pick(page, "to", "Tochomae", "toei-subway:P-tochomae")
    page.click("#plan-btn")
    page.wait_for_selector(".itinerary.selected", timeout=WAIT_MS)
    drawn = page.evaluate("""() => window.maasMap.layers.itinerary.getLayers()
        .filter(l => l instanceof L.Polyline && !(l instanceof L.CircleMarker)).map(l => l.options.color)""")
    assert drawn, "the selected itinerary is drawn"
    assert page.locator("#status.error").count() == 0, page.inner_text("#status")
    assert page.locator(".itinerary .fare").count() >= 1  # prices come with the plan
    first = page.inner_text(".itinerary .sum")
    page.click("#later-btn")  # the next page of itineraries, then back
    page.wait_for_function("(first) => document.querySelector('.itinerary .sum').textContent !== first", arg=first,
                           timeout=WAIT_MS)
    later = page.inner_text(".itinerary .sum")
    page.click("#earlier-btn")
    # the earlier page drawn (the later page's list, still shown until then, has a selected itinerary too)
    page.wait_for_function("(later) => document.querySelector('.itinerary .sum').textContent !== later", arg=later,
                           timeout=WAIT_MS)
    page.wait_for_selector(".itinerary.selected", timeout=WAIT_MS)
    shuttle = page.locator('.itinerary[data-modes*="SHUTTLE"]').first
    shuttle.click()
    colours = page.evaluate("""() => window.maasMap.layers.itinerary.getLayers()
        .filter(l => l instanceof L.Polyline && !(l instanceof L.CircleMarker)).map(l => l.options.color)""")
    assert "#00A0E9" in colours  # the shuttle leg in its route colour (walking legs are grey, dashed)
    settle(page)
    page.screenshot(path=str(shots / "plan-drawn.png"))
    assert (shots / "plan-drawn.png").stat().st_size > 10_000

    # book: offer → book with the sandbox card → the live event arrives → cancel
    shuttle.locator(".offer-btn").click()
    page.wait_for_selector("#offer", timeout=WAIT_MS)
    page.click("#book-btn")
    page.wait_for_selector('#booking-state[data-state="CONFIRMED"]', timeout=WAIT_MS)
    booking_id = page.get_attribute("#booking-state", "data-booking")
    page.wait_for_selector('#events-list li[data-event="booking.status"]', timeout=WAIT_MS)
    assert booking_id in page.inner_text("#events-list")

    # a closure from the example CAP file appears as an area with its text (the page polls; refresh to not wait)
    accepted = post_cap(server)["accepted"][0]
    page.click("#closures-refresh")
    item = page.locator(f'#closures-list li[data-closure="{accepted["id"]}"]')
    item.wait_for(timeout=WAIT_MS)
    assert "Flooding closes the area around Tochomae" in item.inner_text()
    assert page.evaluate("window.maasMap.layers.closures.getLayers().length") == 1
    # the booked shuttle ends inside the flooded area: the booking is disrupted and the page says so live
    page.wait_for_selector('#events-list li[data-event="disrupted"]', timeout=WAIT_MS)
    page.wait_for_selector("#booking #disruption", timeout=WAIT_MS)
    item.click()
    page.wait_for_selector(".leaflet-popup-content .sev-severe", timeout=WAIT_MS)
    page.wait_for_timeout(400)  # the popup fades in
    page.screenshot(path=str(shots / "closure-drawn.png"))
    assert (shots / "closure-drawn.png").stat().st_size > 10_000

    page.click("#cancel-btn")
    page.wait_for_selector('#booking-state[data-state="CANCELLED"]', timeout=WAIT_MS)
    assert console.errors == []

    lift(server, accepted["id"])  # the other tests plan through Tochomae
    page.click("#closures-refresh")
    page.wait_for_selector(f'#closures-list li[data-closure="{accepted["id"]}"]', state="detached", timeout=WAIT_MS)

    # departures board of a station, in Japanese: click the station on the map, then "発車案内" in its popup
    page.click("#lang-btn")
    assert page.inner_text("#plan-btn") == "経路検索"
    page.evaluate("() => { window.maasMap.map.closePopup(); }")
    x, y = page.evaluate("""() => { const m = window.maasMap.map;
        const s = window.maasMap.state.network.features.find(f => f.properties.id === 'toei-subway:P-tochomae');
        const [lon, lat] = s.geometry.coordinates; m.setView([lat, lon], 17, { animate: false });
        const p = m.latLngToContainerPoint([lat, lon]); const r = m.getContainer().getBoundingClientRect();
        return [r.left + p.x, r.top + p.y]; }""")
    page.mouse.click(x, y)
    page.click('.leaflet-popup-content button[data-act="departures"]', timeout=WAIT_MS)
    page.wait_for_selector("#departures-body tr td", timeout=WAIT_MS)
    assert "都庁前" in page.inner_text("#departures-title")
    assert page.locator("#departures-body tr").count() >= 3  # the Oedo line runs every few minutes at 10:00
    assert console.errors == []
    page.close()


def test_closures_of_stations_lines_and_segments_are_drawn(server, browser):
    """A duty officer's view: a warning that names a station, a line and a segment (our closure JSON) is drawn on
    those elements, in the warning colour, with its text; lifting it removes it."""
    page, console = open_page(browser, server)
    closure = {"id": "test-warning-oedo", "severity": "warning", "effect": "SIGNIFICANT_DELAYS",
               "message": {"ja": "大江戸線 遅延", "en": "Oedo line delayed"},
               "targets": {"stations": ["toei-subway:P-tochomae"], "routes": ["toei-bus:shuku75"],
                           "segments": [{"route": "toei-subway:E", "from_stop": "toei-subway:E-37",
                                         "to_stop": "toei-subway:E-36"}]}}
    req = urllib.request.Request(server + "/v1/closures", data=json.dumps(closure).encode(), method="POST",
                                 headers={"Authorization": "Bearer dev-disaster-key",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 201
    try:
        page.click("#closures-refresh")
        item = page.locator('#closures-list li[data-closure="test-warning-oedo"]')
        item.wait_for(timeout=WAIT_MS)
        assert "Oedo line delayed" in item.inner_text() and "sev-warning" in item.get_attribute("class")
        parts = page.evaluate("""() => window.maasMap.layers.closures.getLayers()[0].getLayers()
            .map(l => [l instanceof L.CircleMarker ? 'stop' : l instanceof L.GeoJSON ? 'line' : 'segment',
                       (l.options.color || l.getLayers()[0].options.color)])""")
        kinds = sorted(k for k, _ in parts)
        assert kinds[0] == "line" and "stop" in kinds and "segment" in kinds, parts
        assert {c for _, c in parts} == {"#e07b00"}  # warnings are orange, severe closures red
    finally:
        lift(server, "test-warning-oedo")
    page.click("#closures-refresh")
    page.wait_for_selector('#closures-list li[data-closure="test-warning-oedo"]', state="detached", timeout=WAIT_MS)
    assert console.errors == []
    page.close()


def test_the_page_fits_a_phone_screen(server, browser, shots):
    page, console = open_page(browser, server, width=390, height=844)
    box = page.locator("#map").bounding_box()
    assert box["width"] <= 390 and box["height"] > 250  # the map on top, full width
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing overflows sideways
    # origin picked on the map (a tap, then "From here"), destination by name
    settle(page)
    page.evaluate("() => { window.maasMap.map.setView([35.6905, 139.6935], 17, { animate: false }); }")
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2 + 40, box["y"] + box["height"] / 2 + 40)
    page.click('.leaflet-popup-content button[data-act="from"]', timeout=WAIT_MS)
    origin = page.evaluate("() => window.maasMap.state.places.from")
    assert abs(origin["lat"] - 35.69) < 0.01 and abs(origin["lon"] - 139.69) < 0.01, origin
    pick(page, "to", "Odaiba", "toei-bus:0469")
    page.click("#plan-btn")
    page.wait_for_selector(".itinerary.selected", timeout=WAIT_MS)
    settle(page)
    page.screenshot(path=str(shots / "phone.png"), full_page=False)
    assert console.errors == []
    page.close()


def test_without_a_demo_key_the_page_asks_for_one(server, browser):
    page = browser.new_page()
    console = Console(page)
    page.add_init_script("localStorage.setItem('maas.key', 'not-a-key')")
    page.goto(server + "/")
    page.wait_for_selector("#key-section:not([hidden])", timeout=WAIT_MS)
    assert "401" in page.inner_text("#status")
    page.fill("#key-input", "dev-partner-key")
    page.click("#key-form button[type=submit]")
    page.wait_for_function("() => window.maasMap.state.network !== null", timeout=WAIT_MS)
    assert page.evaluate("localStorage.getItem('maas.key')") == "dev-partner-key"
    # the 401s before the key was fixed are expected: nothing else went wrong
    assert [e for e in console.errors if "401" not in e] == []
    page.close()


def test_docs_ui_renders_the_openapi_document(server, browser, shots):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console = Console(page)
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=WAIT_MS)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/v1/plan" in p for p in paths) and any("/v1/closures" in p for p in paths)
    # what the old home-made page could not show: a body in several media types (JSON oneOf, CAP XML, protobuf)
    page.click("#operations-closures-postClosures .opblock-summary")
    body = page.locator("#operations-closures-postClosures .opblock-body")
    body.wait_for(timeout=WAIT_MS)
    # Swagger UI fills the media-type select after the body opens: wait for its options, not just the body
    page.wait_for_function(
        "() => document.querySelectorAll("
        "'#operations-closures-postClosures .opblock-section-request-body select option').length >= 3",
        timeout=WAIT_MS,
    )
    media = body.locator(".opblock-section-request-body select option").all_inner_texts()
    assert {"application/json", "application/cap+xml", "application/x-protobuf"} <= set(media), media
    page.screenshot(path=str(shots / "docs.png"))
    assert console.errors == []
    page.close()
