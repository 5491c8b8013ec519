"""The web page against a real `mastertape serve`, in a real browser (Debian Chromium via Playwright).

One server for the module (the /analysis endpoint and the static routes are tested in-process in
test_web_analysis_api.py). The browser test uploads a generated 15 s track, masters it, waits for the
metrics, switches A/B (position kept) and the matched-loudness switch (gain changes), and checks the
/analysis JSON the plots are drawn from. A screenshot is written to $MASTERTAPE_WEB_SCREENSHOT (the
README's docs/screenshot.png is made that way), else into the test's temporary folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from mastertape.audio import encode
from tests.integration.web_server import ConsoleRecorder, launch_chromium, run_server
from tests.signals import music_like

TARGET_LUFS = -14.0
TRACK_S = 15.0


@pytest.fixture(scope="module")
def browser():
    with launch_chromium() as chromium:  # first, so a missing browser skips before a server starts
        yield chromium


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with run_server(tmp_path_factory.mktemp("web-data")) as srv:
        yield srv


@pytest.fixture(scope="module")
def track(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("web-track") / "generated track.wav"
    encode(music_like(seconds=TRACK_S, sample_rate=44100, level_db=-20.0), path, "wav", bit_depth=24)
    return path


def test_page_masters_and_compares(browser, server, track, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    console = ConsoleRecorder(page)
    page.goto(server.url + "/")
    page.wait_for_load_state("networkidle")
    assert console.errors == []

    page.fill("#api-key", server.api_key)
    page.click("#key-form button[type=submit]")
    page.wait_for_function("document.querySelector('#genre').options.length > 1")
    assert page.evaluate("localStorage.getItem('mastertape.apiKey')") == server.api_key
    page.focus("#key-forget")
    page.keyboard.press("Tab")  # the drop zone is a real file input, next in the tab order
    assert page.evaluate("document.activeElement.id") == "file"
    page.click(".chip:has-text('Spotify')")
    assert page.input_value("#target") == "-14"
    page.select_option("#bit-depth", "24")
    page.select_option("#preset", "")  # no restoration: use_restored false

    page.set_input_files("#file", str(track))
    page.wait_for_function("document.querySelector('#upload-progress').value >= 100", timeout=60_000)
    page.click("#master")
    page.wait_for_selector("#result[data-analysis='ready'], #error:not([hidden])", timeout=300_000)
    assert page.is_hidden("#error"), f"{page.text_content('#error')}\n{server.log_tail()}"
    page.wait_for_selector("#player[data-ready='true']", timeout=60_000)
    assert page.text_content("#job-stage") == "Mastered"

    # metrics table and the analysis JSON agree, and the master hit its target
    master_lufs_cell = page.text_content("#metrics td[data-key='integrated_lufs']")
    master_lufs = float(master_lufs_cell.replace("\u2212", "-"))
    assert master_lufs == pytest.approx(TARGET_LUFS, abs=0.2)
    assert page.locator("#platforms tbody tr").count() == 6
    # the plots' data: the master the page made, as the API reports it
    audio_id, mastered_id = page.evaluate("[state.audioId, state.masterId]")
    headers = {"X-API-Key": server.api_key}
    analysis = httpx.get(f"{server.url}/analysis/mastered/{mastered_id}", headers=headers,
                         timeout=60).json()
    assert analysis["metrics"]["integrated_lufs"] == pytest.approx(TARGET_LUFS, abs=0.2)
    assert analysis["metrics"]["integrated_lufs"] == pytest.approx(master_lufs, abs=0.05)
    original = httpx.get(f"{server.url}/analysis/audio/{audio_id}", headers=headers, timeout=60).json()
    assert original["duration_s"] == pytest.approx(TRACK_S, abs=0.01)

    audio = "document.getElementById('audio-original')"
    master = "document.getElementById('audio-master')"
    lufs = page.evaluate("[state.lufs.original, state.lufs.master]")
    expected_db = -(lufs[1] - lufs[0])
    assert expected_db < -1.0  # the master is louder: it is the one turned down
    assert page.evaluate(f"{master}.volume") == pytest.approx(10 ** (expected_db / 20), rel=1e-3)
    assert page.evaluate(f"{audio}.volume") == pytest.approx(1.0)
    shown_db = float(page.get_attribute("#player", "data-gain-master-db"))
    assert shown_db == pytest.approx(expected_db, abs=0.01)

    # A/B keeps the position: seek (keyboard-operable slider), then switch
    page.focus("#seek")
    page.evaluate("(() => { const s = document.getElementById('seek'); s.value = '400';"
                  " s.dispatchEvent(new Event('input', {bubbles: true})); })()")
    pos = page.evaluate(f"{audio}.currentTime")
    assert pos == pytest.approx(0.4 * TRACK_S, abs=0.1)
    page.click("#ab-master")
    assert page.get_attribute("#player", "data-active") == "master"
    assert page.get_attribute("#ab-master", "aria-pressed") == "true"
    assert page.evaluate(f"{master}.currentTime") == pytest.approx(pos, abs=0.05)

    # while playing: play B, switch to A, the original continues where the master was
    page.click("#play")
    page.wait_for_function(f"!{master}.paused && {master}.currentTime > {pos + 0.3}", timeout=20_000)
    page.keyboard.press("b")  # keyboard shortcut, same as the A button
    assert page.get_attribute("#player", "data-active") == "original"
    t_master, t_original = page.evaluate(f"[{master}.currentTime, {audio}.currentTime]")
    assert page.evaluate(f"{master}.paused") is True
    assert t_original == pytest.approx(t_master, abs=0.1)
    page.wait_for_function(f"!{audio}.paused && {audio}.currentTime > {t_original + 0.2}", timeout=20_000)
    page.click("#play")  # pause

    # matched loudness off: both at their real level; on again: the master is turned down again
    page.click("#matched")
    assert page.evaluate(f"[{audio}.volume, {master}.volume]") == [1.0, 1.0]
    assert page.get_attribute("#player", "data-gain-master-db") == "0.00"
    page.click("#matched")
    assert page.evaluate(f"{master}.volume") == pytest.approx(10 ** (expected_db / 20), rel=1e-3)

    # the WAV download follows the 307 to a signed URL
    with page.expect_download(timeout=60_000) as dl:
        page.click("#dl-wav")
    assert dl.value.suggested_filename == "generated track_master.wav"  # named by the server
    head = Path(dl.value.path()).read_bytes()[:12]
    assert head[:4] == b"RIFF" and head[8:12] == b"WAVE"

    shot = Path(os.environ.get("MASTERTAPE_WEB_SCREENSHOT") or tmp_path / "screenshot.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # phone width: nothing wider than the screen
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    if os.environ.get("MASTERTAPE_WEB_SCREENSHOT"):
        page.screenshot(path=str(shot.with_name(shot.stem + "-phone.png")), full_page=True)
    assert console.errors == [], console.errors
    context.close()


def test_page_shows_a_failed_upload(browser, server, tmp_path):
    bad = tmp_path / "not audio.wav"
    bad.write_bytes(b"this is not a wave file at all " * 200)
    context = browser.new_context()
    page = context.new_page()
    console = ConsoleRecorder(page)
    page.goto(server.url + "/")
    page.evaluate(f"localStorage.setItem('mastertape.apiKey', {server.api_key!r})")
    page.reload()
    page.wait_for_function("document.querySelector('#genre').options.length > 1")
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#error:not([hidden])", timeout=60_000)
    message = page.text_content("#error")
    assert message.startswith("The upload could not be used:")
    assert re.search(r"[a-z]{4,}", message[len("The upload could not be used:"):])  # a readable reason
    assert page.text_content("#job-stage") == "Upload failed"
    assert page.evaluate("document.querySelector('#upload-progress').value") == 100  # upload itself OK
    assert page.is_disabled("#master")  # nothing to master until another file is chosen
    assert console.errors == [], console.errors
    context.close()
