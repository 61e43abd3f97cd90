"""The web page (``GET /``) in a real browser: Debian's Chromium driven by Playwright, against a
real bridge with real RTSP cameras, Mosquitto, ONNX detection and ffmpeg timelapse renders.

One browser and one bridge serve the whole module (each test opens its own browser context, so
its cookies are its own). Screenshots of each page go to the test's output directory, and into
``docs/web/`` when ``UPDATE_DOCS_SCREENSHOTS=1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bridge.api import auth

from .conftest import make_config, running
from .fake_mediamtx import FakeMediamtx
from .peers import REPO, SHARED, RtspServer, free_port

playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
MODEL = SHARED / "models" / "yolox_nano.onnx"
DOCS_SHOTS = REPO / "docs" / "web"
#: what a browser logs for an HTTP error answer to a request of the page (a 400 or 403 a test
#: provokes on purpose); any other console error fails the test
HTTP_ERROR = re.compile(r"^Failed to load resource: the server responded with a status of (\d{3})")

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (scripts/setup.sh)")


@dataclass
class Site:
    """The bridge and browser of the module, and what every page of it did."""

    bridge: Any
    browser: Any
    url: str
    admin_key: str
    viewer_key: str
    flaky: RtspServer
    rtsp_url: str
    shots: Path
    mediamtx: FakeMediamtx
    players: str  #: base URL of the fake MediaMTX player pages
    requests: list[str] = field(default_factory=list)
    responses: list[tuple[str, int]] = field(default_factory=list)

    async def page(self, key: str | None = None, *, width: int = 1280) -> Any:
        """A new browser context and page on the bridge's page, logged in with ``key``; its
        console errors and page errors are collected on ``page.errors``."""
        context = await self.browser.new_context(viewport={"width": width, "height": 900})
        page = watched(await context.new_page())
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("response", lambda r: self.responses.append((r.url, r.status)))
        await page.goto(self.url)
        if key is not None:
            await page.get_by_label("API key").fill(key)
            await page.get_by_role("button", name="Log in").click()
            await page.get_by_role("navigation", name="Pages").wait_for()
        return page

    async def shot(self, page: Any, name: str, *, full_page: bool = True) -> None:
        """A screenshot ``name.png`` into the test output (and docs/web/)."""
        path = self.shots / f"{name}.png"
        await page.screenshot(path=str(path), full_page=full_page)
        if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
            DOCS_SHOTS.mkdir(exist_ok=True)
            shutil.copyfile(path, DOCS_SHOTS / path.name)


def watched(page: Any) -> Any:
    """``page`` collecting its console and page errors on ``page.errors`` and the HTTP error
    answers to its requests (Playwright responses) on ``page.failed``."""
    page.errors = []
    page.failed = []
    page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
    page.on("pageerror", lambda e: page.errors.append(f"page error: {e}"))
    page.on("response", lambda r: r.status >= 400 and page.failed.append(r))
    # pictures of each camera on their way at once: the page asks for one at a time
    page.pictures = {"now": {}, "most": {}}

    def picture(request: Any, step: int) -> None:
        match = re.search(r"/api/cameras/([^/]+)/snapshot\.jpg", request.url)
        if match:
            now = page.pictures["now"]
            now[match[1]] = now.get(match[1], 0) + step
            page.pictures["most"][match[1]] = max(page.pictures["most"].get(match[1], 0), now[match[1]])

    page.on("request", lambda r: picture(r, 1))
    page.on("requestfinished", lambda r: picture(r, -1))
    page.on("requestfailed", lambda r: picture(r, -1))
    return page


def console_errors(page: Any, *allowed_statuses: int) -> list[str]:
    """The page's console errors, less HTTP error answers with one of ``allowed_statuses``."""
    errors = []
    for text in page.errors:
        match = HTTP_ERROR.match(text)
        if match and int(match.group(1)) in allowed_statuses:
            continue
        errors.append(text)
    return errors


async def close(page: Any, *allowed_statuses: int) -> None:
    """Close the page's context, failing the test on an unexpected console error (the message
    names the requests that were answered with an HTTP error), or when the page asked for more
    than one picture of a camera at once."""
    errors = console_errors(page, *allowed_statuses)
    failed = [await _described(r) for r in page.failed if r.status not in allowed_statuses]
    await page.context.close()
    assert not errors, f"console errors: {errors}; requests answered with an error: {failed}"
    crowded = {cam: n for cam, n in page.pictures["most"].items() if n > 1}
    assert not crowded, f"more than one picture of a camera asked for at once: {crowded}"


async def _described(response: Any) -> str:
    """``STATUS METHOD URL: body`` of an HTTP error answer (the body cut short)."""
    try:
        body = (await response.text())[:300]
    except Exception as exc:  # the body may be gone (page navigated away)
        body = f"(body unavailable: {type(exc).__name__})"
    return f"{response.status} {response.request.method} {response.url}: {body}"


async def until(predicate: Any, timeout: float, what: str) -> Any:
    """Poll the coroutine function ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
def flaky(clip: Path) -> Any:
    """The RTSP server of the camera ``yard``, killed and restarted by a test."""
    server = RtspServer(clip)
    server.start()
    yield server
    server.stop()


@contextlib.asynccontextmanager
async def players() -> AsyncIterator[str]:
    """MediaMTX's player pages, as far as the page sees them: ``{base}/webrtc/{path}/`` and
    ``{base}/hls/{path}/`` answer a page naming the player and its path (everything else 404)."""
    from aiohttp import web

    async def player(request: web.Request) -> web.Response:
        kind, path = request.match_info["kind"], request.match_info["path"]
        return web.Response(text=f"<!doctype html><title>{kind}</title><p data-player='{kind}'>{kind} player of {path}",
                            content_type="text/html")

    app = web.Application()
    app.router.add_get(r"/{kind:webrtc|hls}/{path:[a-z0-9_]+}/", player)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture(scope="module")
async def site(broker, rtsp, flaky, tmp_path_factory) -> AsyncIterator[Site]:
    """The bridge (three RTSP cameras, detection with clips on ``street``, two timelapses,
    MediaMTX: the contract-checked fake and fake player pages) and the browser of the module."""
    cameras = {
        "front": {"name": "Front door", "url": rtsp.url, "snapshot": {"interval": 1}},
        "street": {"name": "Street", "url": rtsp.url, "snapshot": {"interval": 1},
                   "detect": {"enabled": True, "model": str(MODEL), "clips": {"pre": 1, "post": 1, "min_free_mb": 1}}},
        "yard": {"name": "Yard", "url": flaky.url, "snapshot": {"interval": 1}, "open_timeout": 2,
                 "stall_timeout": 2},
    }
    async with FakeMediamtx() as media, players() as player_base:
        async for found in _site(broker, rtsp, flaky, tmp_path_factory, cameras, media, player_base):
            yield found


async def _site(broker, rtsp, flaky, tmp_path_factory, cameras, media, player_base) -> AsyncIterator[Site]:
    admin_key, viewer_key = auth.generate_key(), auth.generate_key()
    config = make_config(
        broker.port, f"web{os.getpid()}", cameras,
        api={"auth": "required", "rate_limit": {"rate": 1000, "burst": 1000}, "keys": [
            {"name": "admin", "hash": auth.hash_key(admin_key), "role": "admin"},
            {"name": "wall-tablet", "hash": auth.hash_key(viewer_key), "role": "viewer"}]},
        data_dir=tmp_path_factory.mktemp("web-state"),
        sections={"timelapse": {"min_free_mb": 1, "fps": 10, "width": 320},
                  "timelapses": {"driveway": {"name": "Driveway", "camera": "front", "interval": 1},
                                 "gate": {"name": "Gate", "camera": "street", "interval": 1, "autostart": False}},
                  "mediamtx": {"enabled": True, "api_url": media.url, "health_interval": 0.5, "request_timeout": 2,
                               "hls_url": f"{player_base}/hls", "webrtc_url": f"{player_base}/webrtc"}})
    shots = tmp_path_factory.mktemp("web-screenshots")
    print(f"web page screenshots: {shots}")
    async with running(config) as bridge, playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            assert bridge.api is not None and bridge.api.port
            deadline = time.monotonic() + 20
            while any(bridge.snapshots[c].latest is None for c in cameras):
                assert time.monotonic() < deadline, "the cameras made no snapshot"
                await asyncio.sleep(0.1)
            yield Site(bridge, browser, f"http://127.0.0.1:{bridge.api.port}/", admin_key, viewer_key,
                       flaky, rtsp.url, shots, media, player_base)
        finally:
            await browser.close()


async def img_src(page: Any, selector: str) -> str | None:
    """The ``src`` of the image at ``selector`` once the browser has loaded it, else None."""
    return await page.eval_on_selector(
        selector, "img => img.complete && img.naturalWidth > 0 ? img.getAttribute('src') : null")


# ---------------------------------------------------------------------------------------------


async def test_login_then_the_grid_shows_every_camera_and_its_pictures_change(site, caplog):
    caplog.set_level(logging.DEBUG)
    page = await site.page()
    await page.get_by_label("API key").wait_for()
    await site.shot(page, "login")
    await page.get_by_label("API key").fill(site.admin_key)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("heading", name="Cameras (3)").wait_for()
    cookie = next(c for c in await page.context.cookies() if c["name"] == "cb_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > time.time() + 3600

    for cam in ("front", "street", "yard"):
        card = page.locator(f"article[data-camera={cam}]")
        await card.locator(".badge[data-state=streaming]").wait_for()
        assert await card.locator("dd").nth(1).inner_text() == "1280×720"
    # each picture changes within 2 GOPs (1 s each): snapshot events, not polling
    first = {cam: await until(lambda cam=cam: img_src(page, f"article[data-camera={cam}] img"), 5, f"{cam}'s picture")
             for cam in ("front", "street", "yard")}
    started = time.monotonic()
    for cam, src in first.items():
        await until(lambda cam=cam, src=src: _changed(page, cam, src), 2.5, f"a new picture of {cam}")
    assert time.monotonic() - started < 2.5
    snapshot_gets = [u for u in site.requests if "/snapshot.jpg" in u]
    assert all("width=640" in u for u in snapshot_gets)
    await site.shot(page, "cameras")

    await page.set_viewport_size({"width": 390, "height": 844})  # a phone
    await page.locator("article[data-camera=yard]").scroll_into_view_if_needed()
    widths = await page.evaluate("() => [document.documentElement.scrollWidth, innerWidth]")
    assert widths[0] <= widths[1], f"the page is wider than a phone: {widths}"
    await site.shot(page, "cameras-phone")
    await close(page)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "admin (admin) logged in" in logged
    assert site.admin_key not in logged and cookie["value"] not in logged


async def _changed(page: Any, cam: str, before: str) -> bool:
    now = await img_src(page, f"article[data-camera={cam}] img")
    return now is not None and now != before


async def test_a_killed_camera_server_shows_backoff_with_its_error_and_comes_back(site):
    page = await site.page(site.admin_key)
    card = page.locator("article[data-camera=yard]")
    await card.locator(".badge[data-state=streaming]").wait_for()
    site.flaky.kill()
    try:
        await card.locator(".badge[data-state=backoff]").wait_for(timeout=20_000)
        status = site.bridge.cameras["yard"].status  # the page shows the bridge's error in words
        await until(lambda: _shows_error(card, status), 10, "the camera's error on its card")
        await site.shot(page, "camera-backoff")
    finally:
        site.flaky.start()
    await card.locator(".badge[data-state=streaming]").wait_for(timeout=30_000)
    assert await card.locator(".camera-error").count() == 0
    await close(page)


async def test_adding_a_camera_shows_errors_at_their_field_and_a_good_one_appears(site):
    page = await site.page(site.admin_key)
    page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await page.get_by_role("link", name="Set-up").click()
    form = page.locator("form[aria-labelledby=add-title]")
    await form.get_by_label("Camera id").fill("porch")
    await form.get_by_label("Name", exact=True).fill("Porch")
    await form.get_by_label("URL").fill("ftp://192.0.2.1/cam")
    await form.get_by_role("button", name="Add camera").click()
    url_error = form.locator("[data-field=url] .field-error")
    await url_error.wait_for()
    assert "expected rtsp://" in await url_error.inner_text()
    assert await form.get_by_label("URL").get_attribute("aria-invalid") == "true"
    assert "porch" not in site.bridge.cameras
    await site.shot(page, "setup-errors")

    await form.get_by_label("URL").fill(f"rtsp://127.0.0.1:{_closed_port()}/cam")
    await form.get_by_label("Snapshot every").fill("-1")
    await form.get_by_role("button", name="Add camera").click()
    interval_error = form.locator("[data-field='snapshot.interval'] .field-error")
    await interval_error.wait_for()
    assert "snapshot.interval" not in await interval_error.inner_text()  # the message, at its field
    assert await url_error.count() == 0 and "porch" not in site.bridge.cameras
    await form.get_by_label("Snapshot every").fill("1")
    await form.get_by_role("button", name="Test connection").click()
    await form.locator("[data-probe=failed]").wait_for()
    assert "cannot open" in await form.locator("[data-probe]").inner_text()
    await form.get_by_label("URL").fill(site.rtsp_url)
    await form.get_by_role("button", name="Test connection").click()
    await form.locator("[data-probe=ok]").wait_for(timeout=10_000)
    assert "h264 1280×720" in await form.locator("[data-probe]").inner_text()
    assert "porch" not in site.bridge.cameras
    await site.shot(page, "setup")
    await form.get_by_role("button", name="Add camera").click()
    await page.locator("tr[data-camera=porch]").wait_for()

    await page.get_by_role("link", name="Cameras").click()
    await page.locator("article[data-camera=porch] .badge[data-state=streaming]").wait_for(timeout=15_000)
    await page.get_by_role("link", name="Set-up").click()
    await page.get_by_role("button", name="Edit Porch").click()
    edit = page.locator("form[aria-labelledby=edit-porch-title]")
    await edit.get_by_label("Name", exact=True).fill("Back porch")
    await edit.get_by_role("button", name="Save").click()
    await page.locator("tr[data-camera=porch]", has_text="Back porch").wait_for()
    assert site.bridge.cameras["porch"].config.display_name == "Back porch"
    await page.get_by_role("button", name="Remove Back porch").click()
    await page.locator("tr[data-camera=porch]").wait_for(state="detached")
    assert "porch" not in site.bridge.cameras
    await close(page, 400)


async def _shows_error(card: Any, status: Any) -> bool:
    shown = await card.locator(".camera-error").inner_text()
    return bool(shown) and shown == status.error


def _closed_port() -> int:
    return free_port()


async def test_a_detection_event_appears_on_the_events_page_with_its_snapshot(site):
    page = await site.page(site.admin_key)
    await page.get_by_role("link", name="Events").click()
    event = page.locator("li[data-label=person][data-camera=street]").first
    await event.wait_for(timeout=30_000)
    await until(lambda: event.locator("img").evaluate("i => i.complete && i.naturalWidth > 0"), 15,
                "the event's snapshot")
    starts = await page.eval_on_selector_all("li[data-event]", "els => els.map(e => Number(e.dataset.start))")
    assert starts == sorted(starts, reverse=True), "events are not newest first"
    ids = set(await page.eval_on_selector_all("li[data-event]", "els => els.map(e => e.dataset.event)"))
    # live: events the bridge detects while the page is open appear without a reload
    await until(lambda: _new_event(page, ids), 20, "a new detection event on the open page")
    await page.get_by_label("Label").select_option("person")
    await page.get_by_label("Camera").select_option("front")
    assert await page.locator("li[data-label]").count() == 0  # front has no detection
    await page.get_by_label("Camera").select_option("street")
    assert await page.locator("li[data-label=person]").count() >= 1
    await site.shot(page, "events", full_page=False)
    await close(page)


async def _new_event(page: Any, seen: set[str]) -> bool:
    now = await page.eval_on_selector_all("li[data-event]", "els => els.map(e => e.dataset.event)")
    return bool(set(now) - seen)


async def test_switching_detection_off_shows_off_once_the_bridge_confirms(site):
    page = await site.page(site.admin_key)
    await page.goto(site.url + "#/camera/street")
    switch = page.get_by_role("switch", name="Detection")
    await until(switch.is_checked, 10, "detection shown on")
    await page.locator(".motion").wait_for()
    occupancy = page.locator(".occupancy")
    await until(lambda: _async_text_starts(occupancy, "person: "), 10, "the persons seen now")
    live = page.get_by_role("img", name="Live picture of Street (MJPEG)")
    await until(lambda: live.evaluate("i => i.naturalWidth === 1280"), 10, "the MJPEG live view")
    await site.shot(page, "camera", full_page=False)
    await switch.click()
    await until(lambda: _not(switch.is_checked), 10, "detection shown off")
    assert site.bridge.detectors["street"].enabled is False
    assert await page.locator("label[for=switch-detection] [data-confirmed]").inner_text() == "off"
    await until(lambda: _async_text(occupancy, "none"), 10, "no objects seen once detection is off")
    # switching off ended the camera's events: each ended one shows its clip (detect.clips), which plays
    clip = page.locator("li[data-camera=street] video[data-clip-video]").first
    await clip.wait_for(timeout=20_000)
    event_id = await clip.get_attribute("data-clip-video")
    assert await clip.get_attribute("src") == f"/api/events/{event_id}/clip.mp4"
    assert "(ended)" in await page.locator(f"li[data-event='{event_id}']").inner_text()
    await clip.evaluate("v => { v.muted = true; return v.play().catch(() => null); }")
    await until(lambda: clip.evaluate("v => v.readyState >= 2"), 15, "the clip at HAVE_CURRENT_DATA")
    await clip.evaluate("v => v.pause()")
    await page.get_by_role("heading", name="Recent detections").scroll_into_view_if_needed()
    await site.shot(page, "camera-events", full_page=False)
    await switch.click()
    await until(switch.is_checked, 10, "detection shown on again")
    assert site.bridge.detectors["street"].enabled is True
    await close(page)


async def _async_text(locator: Any, text: str) -> bool:
    return await locator.inner_text() == text


async def _async_text_starts(locator: Any, text: str) -> bool:
    return (await locator.inner_text()).startswith(text)


async def _not(check: Any) -> bool:
    return not await check()


async def test_the_camera_page_plays_mediamtx_webrtc_or_hls_and_switches_recording(site):
    page = await site.page(site.admin_key)
    await page.goto(site.url + "#/camera/front")
    views = page.get_by_role("group", name="Live view")
    mjpeg = views.get_by_role("radio", name="MJPEG")
    await mjpeg.wait_for()
    assert await mjpeg.is_checked()  # MJPEG first, even with MediaMTX
    live = page.get_by_role("img", name="Live picture of Front door (MJPEG)")
    await until(lambda: live.evaluate("i => i.naturalWidth === 1280"), 10, "the MJPEG live view")
    for kind, label in (("webrtc", "WebRTC"), ("hls", "HLS")):
        await views.get_by_role("radio", name=label).check()
        player = page.locator(f"iframe[data-player={kind}]")
        await player.wait_for()
        # MediaMTX's own player page of the camera's path (stream_urls: `…/front`, `…/front/index.m3u8`)
        assert await player.get_attribute("src") == f"{site.players}/{kind}/front/"
        assert await player.get_attribute("title") == f"{label} player of Front door (MediaMTX)"
        shown = page.frame_locator(f"iframe[data-player={kind}]").locator(f"p[data-player={kind}]")
        await shown.wait_for()
        assert await shown.inner_text() == f"{kind} player of front"
        assert await live.count() == 0  # the MJPEG stream is not read meanwhile
        if kind == "webrtc":
            await site.shot(page, "camera-webrtc", full_page=False)
    await mjpeg.check()
    await until(lambda: live.evaluate("i => i.naturalWidth === 1280"), 10, "the MJPEG live view again")

    # recording (off as configured): shown on once the bridge confirms, and MediaMTX records
    switch = page.get_by_role("switch", name="Recording")
    assert not await switch.is_checked()
    await switch.click()
    await until(switch.is_checked, 10, "recording shown on")
    assert site.mediamtx.paths["front"]["record"] is True
    assert await page.locator("label[for=switch-recording] [data-confirmed]").inner_text() == "on"
    await switch.click()
    await until(lambda: _not(switch.is_checked), 10, "recording shown off")
    assert site.mediamtx.paths["front"]["record"] is False
    await close(page)


async def test_a_timelapse_render_reaches_100_percent_and_its_video_plays(site):
    page = await site.page(site.admin_key)
    await page.get_by_role("link", name="Timelapses").click()
    card = page.locator("article[data-timelapse=driveway]")
    await card.wait_for()
    manager = site.bridge.timelapses
    await until(lambda: _async(manager.timelapses["driveway"].frames >= 3), 20, "3 timelapse frames")
    await card.get_by_role("button", name="render").click()
    progress = card.locator("progress")
    await until(lambda: progress.evaluate("p => p.value >= 100"), 60, "the render's progress at 100 %")
    assert "100 %" in await card.locator("label").inner_text()
    await card.get_by_role("button", name="render", exact=True).wait_for()  # it may render again
    assert await card.get_by_role("button", name="cancel").count() == 0  # nothing left to cancel
    video = card.locator("video").first
    await video.wait_for(timeout=10_000)
    await video.evaluate("v => { v.muted = true; return v.play().catch(() => null); }")
    await until(lambda: video.evaluate("v => v.readyState >= 2"), 15, "the video at HAVE_CURRENT_DATA")
    src = await video.get_attribute("src")
    assert any(url.endswith(src) and status == 206 for url, status in site.responses), \
        "the video was not read with Range requests"
    await site.shot(page, "timelapses")
    await close(page)


async def _async(value: Any) -> Any:
    return value


async def test_timelapse_start_pause_resume_stop_show_the_state_the_bridge_confirms(site):
    page = await site.page(site.admin_key)
    await page.get_by_role("link", name="Timelapses").click()
    card = page.locator("article[data-timelapse=gate]")
    await card.locator(".badge[data-state=created]").wait_for()  # autostart: false
    gate = site.bridge.timelapses.timelapses["gate"]
    steps = (("start", "running", {"pause", "stop"}), ("pause", "paused", {"resume", "stop"}),
             ("resume", "running", {"pause", "stop"}), ("stop", "stopped", set()))
    for action, state, then in steps:
        await card.get_by_role("button", name=action, exact=True).click()
        await card.locator(f".badge[data-state={state}]").wait_for(timeout=10_000)
        assert str(gate.lifecycle) == state
        buttons = set(await card.locator(".row button").all_inner_texts()) - {"render", "cancel"}
        assert buttons == then, (action, buttons)  # what the state allows, once the bridge confirmed it
    await site.shot(page, "timelapses-actions")
    await close(page)


async def test_a_viewer_sees_no_set_up_nor_switches_and_its_posts_get_403(site):
    page = await site.page(site.viewer_key)
    await page.get_by_role("heading", name="Cameras (3)").wait_for()
    assert await page.get_by_role("link", name="Set-up").count() == 0
    await page.goto(site.url + "#/camera/front")
    await page.get_by_role("heading", name="Front door").wait_for()
    assert await page.get_by_role("switch").count() == 0
    await page.goto(site.url + "#/setup")
    await page.get_by_text("Set-up needs the admin role.").wait_for()

    session = await (await page.context.request.get(site.url + "api/session")).json()
    assert session["role"] == "viewer" and session["method"] == "session"
    csrf = {"X-CSRF-Token": session["csrf_token"]}
    request = page.context.request  # the page's cookies, from outside the page
    add = await request.post(site.url + "api/cameras", data={"id": "x", "url": site.rtsp_url}, headers=csrf)
    assert add.status == 403 and (await add.json())["error"] == "forbidden"
    snap = await request.post(site.url + "api/cameras/front/snapshot", headers=csrf)
    assert snap.status == 403
    no_csrf = await request.put(site.url + "api/cameras/front/enabled", data={"enabled": False})
    assert no_csrf.status == 403 and (await no_csrf.json())["error"] == "csrf_failed"
    assert (await request.get(site.url + "api/cameras")).status == 200

    await page.goto(site.url + "#/bridge")
    await page.locator("[data-fact=mqtt]").wait_for()
    assert (await page.locator("[data-fact=mqtt]").inner_text()).startswith("connected")
    await site.shot(page, "bridge")
    await page.get_by_role("button", name="Log out").click()
    await page.get_by_label("API key").wait_for()
    after = await request.get(site.url + "api/cameras")
    assert after.status == 401
    await close(page)


async def test_no_request_carried_a_key_in_its_url(site):
    assert len(site.requests) > 20
    for url in site.requests:
        assert site.admin_key not in url and site.viewer_key not in url, url
        assert "key=" not in url and "token=" not in url, url


async def test_the_bridge_page_shows_the_errors_of_a_rejected_reload(site, broker, rtsp, tmp_path):
    import yaml

    from bridge.app import Bridge
    from bridge.config import parse

    path = tmp_path / "config.yaml"
    text = yaml.safe_dump({"mqtt": {"host": "127.0.0.1", "port": broker.port, "base_topic": f"webreload{os.getpid()}"},
                           "api": {"port": 0}, "data_dir": str(tmp_path / "data"),
                           "cameras": {"porch": {"url": rtsp.url}}})
    path.write_text(text)
    async with Bridge(parse(text), config_path=path, config_text=text) as bridge:
        assert bridge.reloader is not None and bridge.api is not None
        path.write_text(text.replace("    url:", "    ulr:"))
        rejected = await bridge.reloader.reload("test")
        assert rejected.errors and not rejected.applied
        context = await site.browser.new_context(viewport={"width": 1280, "height": 900})
        page = watched(await context.new_page())
        await page.goto(f"http://127.0.0.1:{bridge.api.port}/#/bridge")
        alert = page.locator("[data-fact=config-error]")
        await alert.wait_for()
        shown = await alert.inner_text()
        assert "cameras.porch.ulr: unknown key" in shown and "previous configuration" in shown
        path.write_text(text)
        assert (await bridge.reloader.reload("test")).errors == ()
        await page.reload()
        await page.locator("[data-fact=mqtt]").wait_for()
        assert await alert.count() == 0
        # without MediaMTX a camera's live view is MJPEG, with no player to choose
        await page.goto(f"http://127.0.0.1:{bridge.api.port}/#/camera/porch")
        live = page.get_by_role("img", name="Live picture of Porch (MJPEG)")
        await until(lambda: live.evaluate("i => i.naturalWidth === 1280"), 20, "the MJPEG live view")
        assert await page.get_by_role("group", name="Live view").count() == 0
        assert await page.locator("iframe").count() == 0
        await close(page)
