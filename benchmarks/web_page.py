"""Web page figures: time from dropping a 3-minute track to a playable master, and first-load transfer size.

    python3 benchmarks/web_page.py [FOLDER] [--minutes 3] [--reps 3] [--workers N] [--json]

FOLDER (default ../shared/audio/music) is concatenated (`_util.concat_audio`, looped or cut to `--minutes`)
into a 24-bit FLAC. A real `python -m mastertape serve` runs this tree's sources on a free loopback port with a
temporary data dir and a fixed MASTERTAPE_API_KEY (`tests/integration/web_server.run_server`); the page is
driven by Playwright in Debian's headless Chromium (`/usr/bin/chromium`, `launch_chromium`; no browser
download).

- **first load**: a fresh browser context (empty cache) opens `/` and waits for network idle. Bytes are taken
  from the Chrome DevTools Protocol: `Network.loadingFinished.encodedDataLength` per request = bytes on the
  wire (response headers + body as sent, i.e. gzip-compressed where the server compresses), the figure
  DevTools shows as "transferred"; the body share is that minus the header bytes of `Network.responseReceived`,
  and the decoded size is the sum of `Network.dataReceived.dataLength`. Three cases: no key stored (what a new
  visitor downloads), a key already in local storage (the page also fetches /genres and /presets), and a
  reload of the latter with a warm cache (ETag revalidation).
- **drop to playable**: per repetition a fresh context opens the page, the key is typed and saved (the page
  then loads genres and presets), the file is set on the page's file input (`#file`; its `change` handler and
  the drop zone's `drop` handler both call the page's `onFile`), Master is clicked with the page's defaults,
  and the clock stops when the page marks its player ready (`#player[data-ready=true]`: both <audio> elements,
  original and master, fired `canplay`). Wall clock in this process, and the page's own `performance` marks
  (`mt-file` -> `mt-playable`) with a breakdown from Resource Timing: upload (POST /from-file answered),
  import (until POST /master-audio is sent), mastering (until the master's download is requested), player
  load. The time until the metrics and plots are drawn (`#result[data-analysis=ready]`) is printed too.

Every repetition uploads the file again (a new audio object and a new master job). The first repetition
runs right after the server starts (its workers are cold) unless `--warmup` runs are added.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _util as u  # noqa: E402

sys.path.insert(0, str(u.REPO))
from tests.integration.web_server import CHROMIUM, launch_chromium, run_server  # noqa: E402

API_KEY = "mt-bench-web-key-0123456789abcdef"
DEFAULT_FOLDER = u.REPO.parent / "shared" / "audio" / "music"
PAGE_TIMEOUT_MS = 1_800_000

# Resource Timing keeps 250 entries by default; a long job polls its status more often than that.
INIT_SCRIPT = "performance.setResourceTimingBufferSize(100000);"

# In-page timings (ms since the page's time origin): the page's marks and the requests that bound each phase.
TIMINGS_JS = """() => {
  const mark = (n) => { const e = performance.getEntriesByName(n, "mark"); return e.length ? e[0].startTime : null; };
  const res = performance.getEntriesByType("resource");
  const first = (re) => res.find((e) => re.test(new URL(e.name).pathname));
  const upload = first(/\\/from-file$/);
  const post = res.find((e) => /\\/master-audio$/.test(new URL(e.name).pathname) && e.initiatorType === "fetch");
  const dl = first(/\\/download\\/mastered\\//);
  return {
    file: mark("mt-file"),
    playable: mark("mt-playable"),
    upload_end: upload ? upload.responseEnd : null,
    master_post: post ? post.startTime : null,
    master_download: dl ? dl.startTime : null,
  };
}"""


def check_browser() -> None:
    """Exit with a clear message (not a pytest skip) when Playwright or Chromium is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        raise SystemExit("Playwright for Python is not installed (no browser download needed)") from exc
    if not CHROMIUM.exists():
        raise SystemExit(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")


def make_track(folder: Path, work: Path, minutes: float) -> tuple[Path, float]:
    files = u.audio_files(folder)
    _, sample_rate, _ = u.probe_audio(files[0])
    src = u.concat_audio(files, work / "concat.flac", sample_rate=sample_rate)
    duration_s = u.probe_audio(src)[0]
    want_s = minutes * 60.0
    if abs(duration_s - want_s) > 0.5:
        src = u.loop_audio(src, work / "track.flac", seconds=want_s)
        duration_s = u.probe_audio(src)[0]
    return src, duration_s


# --- first-load transfer ---
class NetworkLog:
    """Per-request bytes of one page from CDP Network events (wire bytes, header bytes, decoded body bytes)."""

    def __init__(self, context, page) -> None:
        self.rows: dict[str, dict] = {}
        self.cdp = context.new_cdp_session(page)
        self.cdp.on("Network.requestWillBeSent", self._sent)
        self.cdp.on("Network.responseReceived", self._response)
        self.cdp.on("Network.dataReceived", self._data)
        self.cdp.on("Network.loadingFinished", self._finished)
        self.cdp.on("Network.loadingFailed", self._failed)
        self.cdp.send("Network.enable")

    def _row(self, rid: str) -> dict:
        return self.rows.setdefault(rid, {"url": "", "status": 0, "header_bytes": 0, "decoded_bytes": 0,
                                          "wire_bytes": None, "done": False, "failed": ""})

    def _sent(self, ev: dict) -> None:
        if ev["request"]["url"].startswith("data:"):
            return
        self._row(ev["requestId"])["url"] = ev["request"]["url"]

    def _response(self, ev: dict) -> None:
        r = self._row(ev["requestId"])
        r["status"] = int(ev["response"]["status"])
        r["header_bytes"] = int(ev["response"].get("encodedDataLength") or 0)
        r["encoding"] = {k.lower(): v for k, v in ev["response"]["headers"].items()}.get("content-encoding", "")

    def _data(self, ev: dict) -> None:
        if ev["requestId"] in self.rows:
            self.rows[ev["requestId"]]["decoded_bytes"] += int(ev["dataLength"])

    def _finished(self, ev: dict) -> None:
        if ev["requestId"] in self.rows:
            r = self.rows[ev["requestId"]]
            r["wire_bytes"] = int(ev["encodedDataLength"])
            r["done"] = True

    def _failed(self, ev: dict) -> None:
        if ev["requestId"] in self.rows:
            r = self.rows[ev["requestId"]]
            r["failed"] = ev.get("errorText", "failed")
            r["done"] = True

    def settle(self, page, timeout_s: float = 10.0) -> None:
        """Wait until every request seen has finished or failed (events arrive while Playwright waits)."""
        deadline = time.monotonic() + timeout_s
        while any(r["url"] and not r["done"] for r in self.rows.values()):
            if time.monotonic() > deadline:
                raise RuntimeError("requests still open after network idle")
            page.wait_for_timeout(50)

    def summary(self, base_url: str) -> dict:
        rows = [r for r in self.rows.values() if r["url"]]
        out = []
        for r in rows:
            wire = r["wire_bytes"] or 0
            out.append({"path": r["url"].removeprefix(base_url) or "/", "status": r["status"],
                        "encoding": r.get("encoding", ""), "wire_bytes": wire,
                        "body_wire_bytes": max(0, wire - r["header_bytes"]), "decoded_bytes": r["decoded_bytes"],
                        "failed": r["failed"]})
        return {"requests": len(out), "wire_bytes": sum(r["wire_bytes"] for r in out),
                "body_wire_bytes": sum(r["body_wire_bytes"] for r in out),
                "decoded_bytes": sum(r["decoded_bytes"] for r in out), "rows": out}


def first_load(browser, url: str, api_key: str) -> dict[str, dict]:
    results = {}
    for case, stored_key in (("no key stored", False), ("key stored", True)):
        context = browser.new_context()
        if stored_key:
            context.add_init_script(f"localStorage.setItem('mastertape.apiKey', {json.dumps(api_key)})")
        page = context.new_page()
        log = NetworkLog(context, page)
        page.goto(url + "/")
        page.wait_for_load_state("networkidle")
        if stored_key:  # the genres the page fetched with the stored key are in the select
            page.wait_for_function("document.querySelector('#genre').options.length > 1")
        log.settle(page)
        results[case] = log.summary(url)
        if stored_key:
            log.rows.clear()
            page.reload()
            page.wait_for_load_state("networkidle")
            log.settle(page)
            results["reload, warm cache, key stored"] = log.summary(url)
        context.close()
    return results


# --- drop to playable ---
def one_run(browser, url: str, api_key: str, track: Path) -> dict:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(INIT_SCRIPT)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    try:
        page.goto(url + "/")
        page.fill("#api-key", api_key)
        page.click("#key-form button[type=submit]")
        page.wait_for_function("document.querySelector('#genre').options.length > 1")
        t0 = time.perf_counter()
        page.set_input_files("#file", str(track))
        page.click("#master")  # defaults: genre, -14 LUFS, no restoration, 24-bit
        page.wait_for_selector("#player[data-ready='true'], #error:not([hidden])", timeout=PAGE_TIMEOUT_MS)
        t_playable = time.perf_counter()
        if page.is_visible("#error"):
            raise RuntimeError(f"the page failed: {page.text_content('#error')}")
        page.wait_for_selector("#result[data-analysis='ready'], #error:not([hidden])", timeout=PAGE_TIMEOUT_MS)
        t_plots = time.perf_counter()
        if page.is_visible("#error"):
            raise RuntimeError(f"the page failed after playback was ready: {page.text_content('#error')}")
        marks = page.evaluate(TIMINGS_JS)
        settings = page.evaluate("""() => ({genre: document.querySelector('#genre').value,
            target: document.querySelector('#target').value, preset: document.querySelector('#preset').value,
            bit_depth: document.querySelector('#bit-depth').value})""")
    finally:
        context.close()

    def span(a: str, b: str) -> float | None:
        return (marks[b] - marks[a]) / 1000.0 if marks.get(a) is not None and marks.get(b) is not None else None

    return {
        "playable_s": t_playable - t0,
        "page_playable_s": span("file", "playable"),
        "plots_s": t_plots - t0,
        "upload_s": span("file", "upload_end"),
        "import_s": span("upload_end", "master_post"),
        "mastering_s": span("master_post", "master_download"),
        "player_load_s": span("master_download", "playable"),
        "settings": settings,
        "page_errors": errors,
    }


def _f(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", type=Path, default=DEFAULT_FOLDER, help="folder of audio files")
    ap.add_argument("--minutes", type=float, default=3.0, help="length of the concatenated track (default 3)")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions (default 3)")
    ap.add_argument("--warmup", type=int, default=0, help="untimed runs first (default 0: rep 1 is cold)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="server worker processes (default: the server's own default, the number of cores)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = ap.parse_args()
    check_browser()

    with tempfile.TemporaryDirectory(prefix="mt-bench-web-") as tmp:
        work = Path(tmp)
        track, duration_s = make_track(args.folder, work, args.minutes)
        size = track.stat().st_size
        with run_server(work / "data", api_key=API_KEY, workers=args.workers) as server, \
                launch_chromium() as browser:
            loads = first_load(browser, server.url, API_KEY)
            for _ in range(args.warmup):
                one_run(browser, server.url, API_KEY, track)
            runs = []
            for k in range(args.reps):
                runs.append(one_run(browser, server.url, API_KEY, track))
                if not args.json:
                    r = runs[-1]
                    print(f"  rep {k + 1}: playable {r['playable_s']:.2f} s (page {_f(r['page_playable_s'])} s), "
                          f"plots {r['plots_s']:.2f} s", file=sys.stderr, flush=True)
            browser_version = browser.version

    med = {key: u.median([r[key] for r in runs if r[key] is not None])
           for key in ("playable_s", "page_playable_s", "plots_s", "upload_s", "import_s", "mastering_s",
                       "player_load_s")}
    result = {
        "track": {"folder": str(args.folder), "format": "FLAC 24-bit", "duration_s": round(duration_s, 3),
                  "bytes": size},
        "server_workers": args.workers,
        "cores": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "chromium": browser_version,
        "machine": platform.machine(),
        "first_load": loads,
        "runs": runs,
        "median": med,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return

    print("first load of / (CDP Network: bytes on the wire = headers + body as sent; decoded = body after gzip)")
    rows = []
    for case, s in loads.items():
        rows.append([case, str(s["requests"]), str(s["wire_bytes"]), str(s["body_wire_bytes"]),
                     str(s["decoded_bytes"])])
    print(u.format_table(["case", "requests", "wire B", "body wire B", "decoded B"], rows))
    print("per request:")
    for case, s in loads.items():
        for r in s["rows"]:
            print(f"  {case[:14]:14} {r['status']} {r['path']:<18} wire {r['wire_bytes']:>6} B  body "
                  f"{r['body_wire_bytes']:>6} B {r['encoding'] or 'identity':<8} decoded {r['decoded_bytes']:>6} B")
    print()
    print(f"drop to playable master: {duration_s:.1f} s track ({size / 1e6:.1f} MB FLAC 24-bit), page defaults "
          f"{runs[0]['settings']}, server --workers {args.workers}, {os.cpu_count()} cores, "
          f"Chromium {browser_version}")
    headers = ["run", "playable s", "page s", "upload s", "import s", "master s", "players s", "plots s"]
    table = [[str(k + 1), f"{r['playable_s']:.2f}", _f(r["page_playable_s"]), _f(r["upload_s"]),
              _f(r["import_s"]), _f(r["mastering_s"]), _f(r["player_load_s"]), f"{r['plots_s']:.2f}"]
             for k, r in enumerate(runs)]
    table.append(["median", _f(med["playable_s"]), _f(med["page_playable_s"]), _f(med["upload_s"]),
                  _f(med["import_s"]), _f(med["mastering_s"]), _f(med["player_load_s"]), _f(med["plots_s"])])
    print(u.format_table(headers, table))
    print("playable = file set -> both players fired canplay (wall clock here); page = the page's own marks "
          "mt-file -> mt-playable;\nupload/import/master/players = phases from Resource Timing; plots = until "
          "metrics and plots are drawn")
    errs = sorted({e for r in runs for e in r["page_errors"]})
    print(f"page console errors: {len(errs)}" + "".join(f"\n  {e}" for e in errs))
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
