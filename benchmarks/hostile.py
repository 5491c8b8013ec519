"""Every hostile case of issue 5 against a real `mastertape serve`, and the figures that say it held.

Starts the server as a subprocess (127.0.0.1, a free port, a temporary data dir, a known API key, the
default limits unless given; private links off), then sends:
- every hostile upload of tests/integration/hostile_files.py (a control track before and after them),
  and a master of every upload that imported;
- every private-address spelling and non-http scheme of that module to POST /from-link;
- abuse: each bad kind of key on each keyed route, another key's ids on each route, JSON bodies over
  the limit (with and without Content-Length).
and prints: hostile cases tried, 5xx answers, jobs left stuck (not completed/failed at the end), originals
lost (stored upload missing or not byte-identical), and the peak RSS of a fresh process decoding the
lying-header WAV (10 s of audio whose header claims ~4 GB) and the many-hours FLAC (5 h of silence in
~40 kB, stopped at the server's duration limit).

    python3 benchmarks/hostile.py                      # default limits (3 h duration limit)
    python3 benchmarks/hostile.py --max-duration-s 600 --workers 2
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.integration import hostile_files as hf  # noqa: E402
from tests.integration import server_process  # noqa: E402

KEYED = [
    ("GET", "/status/audio/{id}", None),
    ("GET", "/download/audio/{id}", None),
    ("POST", "/master-audio", {"audio_id": "{id}"}),
    ("POST", "/upscale-audio", {"audio_id": "{id}", "preset": "declip"}),
]


def _body(body, value):
    return None if body is None else {k: v.format(id=value) for k, v in body.items()}


def link_cases(client: httpx.Client, statuses: list[int]) -> tuple[int, list[str], list[str]]:
    """(cases tried, ids of imports queued, cases that were accepted and not refused)."""
    tried, queued, accepted = 0, [], []
    for target in [f"http://{h}/song.wav" for h in hf.PRIVATE_SPELLINGS] + list(hf.OTHER_SCHEMES):
        tried += 1
        r = client.post("/from-link", json={"url": target})
        statuses.append(r.status_code)
        if r.status_code == 200:
            queued.append(r.json()["audio_id"])
        elif r.status_code != 422:
            accepted.append(f"{target}: {r.status_code}")
    return tried, queued, accepted


def abuse_cases(client: httpx.Client, audio_id: str, other_key: str, statuses: list[int]) -> tuple[int, list[str]]:
    """(cases tried, cases answered otherwise than expected)."""
    tried, wrong = 0, []
    good = client.headers["X-API-Key"]
    bad_keys = [None, "", "mt_" + "A" * 43, good[:-1] + ("A" if good[-1] != "A" else "B"), good + "x", "k" * 8000]
    for method, path, body in KEYED:
        for key in bad_keys:
            headers = {"X-API-Key": key} if key is not None else {}
            r = httpx.request(method, str(client.base_url) + path.format(id=audio_id), headers=headers,
                              json=_body(body, audio_id), follow_redirects=False, timeout=60)
            statuses.append(r.status_code)
            tried += 1
            if r.status_code != 401:
                wrong.append(f"{method} {path} key={str(key)[:12]!r}: {r.status_code}")
        for object_id in (audio_id, str(uuid.uuid4())):  # another key's id, an unknown id: both 404
            r = httpx.request(method, str(client.base_url) + path.format(id=object_id),
                              headers={"X-API-Key": other_key}, json=_body(body, object_id), timeout=60)
            statuses.append(r.status_code)
            tried += 1
            if r.status_code != 404:
                wrong.append(f"{method} {path} other key: {r.status_code}")
    big = b'{"audio_id": "%s", "pad": "%s"}' % (audio_id.encode(), b"x" * (2 * 2**20))
    for content in (big, (big[i : i + 65536] for i in range(0, len(big), 65536))):
        r = client.post("/master-audio", content=content, headers={"content-type": "application/json"})
        statuses.append(r.status_code)
        tried += 1
        if r.status_code != 413:
            wrong.append(f"oversize JSON body: {r.status_code}")
    return tried, wrong


def wait_terminal(client: httpx.Client, ids: list[str], statuses: list[int], timeout_s: float) -> list[str]:
    """Ids of imports still not completed/failed after `timeout_s`."""
    pending, deadline = list(ids), time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for audio_id in list(pending):
            r = client.get(f"/status/audio/{audio_id}")
            statuses.append(r.status_code)
            if r.status_code == 200 and r.json()["status"] in hf.TERMINAL:
                pending.remove(audio_id)
        if pending:
            time.sleep(0.25)
    return pending


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-duration-s", type=float, default=None, help="server limit (default: 3 h)")
    parser.add_argument("--timeout-s", type=float, default=900.0, help="how long jobs may take to end")
    args = parser.parse_args()

    key = "mt_" + secrets.token_urlsafe(24)
    env = {"MASTERTAPE_API_KEY": key}
    if args.max_duration_s is not None:
        env["MASTERTAPE_MAX_DURATION_S"] = str(args.max_duration_s)
    max_duration_s = args.max_duration_s or 3 * 3600.0
    with tempfile.TemporaryDirectory(prefix="mastertape-hostile-") as tmp_name:
        tmp = Path(tmp_name)
        data_dir = tmp / "data"
        t0 = time.monotonic()
        with server_process.running(data_dir, workers=args.workers, **env) as server:
            run = hf.run_cases(server.url, key, tmp, timeout_s=args.timeout_s)
            statuses = list(run.http_statuses)
            with httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=60) as client:
                n_links, link_ids, links_accepted = link_cases(client, statuses)
                other = _second_key(data_dir)
                n_abuse, abuse_wrong = abuse_cases(client, run.controls[0].audio_id, other, statuses)
                links_stuck = wait_terminal(client, link_ids, statuses, 120.0)
                links_not_refused = []
                for audio_id in link_ids:
                    st = client.get(f"/status/audio/{audio_id}").json()
                    if st["status"] != "failed":
                        links_not_refused.append(audio_id)
            alive = httpx.get(f"{server.url}/healthz", timeout=10).status_code == 200
        elapsed = time.monotonic() - t0
        lost = hf.originals_lost(data_dir, run)
        stuck = run.stuck() + [f"link import {i}" for i in links_stuck]
        unexpected = [
            f"{o.case.name}: {o.status and o.status['status']}" for o in run.outcomes
            if o.status is None or o.status["status"] != o.case.outcome
        ]
        lying = tmp / "liar.wav"
        lying.write_bytes(hf.lying_wav(tmp))
        lying_mib = lying.stat().st_size / 2**20
        base, peak, outcome = hf.decode_peak_rss_mib(lying, max_duration_s)
        hours = tmp / "hours.flac"
        hours.write_bytes(hf.hours_of_silence(tmp))
        h_base, h_peak, h_outcome = hf.decode_peak_rss_mib(hours, max_duration_s)

    n_masters = sum(1 for o in run.outcomes + run.controls if o.master_id)
    tried = len(run.outcomes) + n_links + n_abuse
    print(f"server: {args.workers} worker(s), duration limit {max_duration_s:g} s; run took {elapsed:.1f} s")
    print(f"hostile cases tried:        {tried} ({len(run.outcomes)} files, {n_links} links, {n_abuse} abuse "
          f"requests; plus {n_masters} masters and 2 control tracks)")
    print(f"HTTP answers:               {len(statuses)}")
    print(f"5xx answers:                {sum(1 for s in statuses if s >= 500)}")
    print(f"jobs left stuck:            {len(stuck)}{' ' + str(stuck) if stuck else ''}")
    print(f"originals lost:             {len(lost)}{' ' + str(lost) if lost else ''}")
    print(f"files ending otherwise than expected: {len(unexpected)}{' ' + str(unexpected) if unexpected else ''}")
    print(f"links not refused:          {len(links_accepted) + len(links_not_refused)}")
    print(f"abuse answered wrongly:     {len(abuse_wrong)}{' ' + str(abuse_wrong[:5]) if abuse_wrong else ''}")
    print(f"controls completed:         {sum(1 for c in run.controls if c.status['status'] == 'completed')}/2, "
          f"server healthy after: {alive}")
    print(f"peak RSS decoding the lying-header WAV (claims {hf.LYING_CLAIM_BYTES / 2**30:.1f} GiB, holds "
          f"{lying_mib:.2f} MiB): {peak:.1f} MiB "
          f"(process after imports {base:.1f} MiB, +{peak - base:.1f} MiB; {outcome})")
    print(f"peak RSS decoding the {hf.HOURS_CASE_S / 3600:g} h FLAC with a {max_duration_s:g} s limit: "
          f"{h_peak:.1f} MiB (+{h_peak - h_base:.1f} MiB; {h_outcome})")


def _second_key(data_dir: Path) -> str:
    """A second API key, made with the CLI the way an operator would."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "mastertape", "keys", "create", "--name", "other"],
        env=server_process.mastertape_env(data_dir), capture_output=True, text=True, check=True, timeout=60,
    )
    return proc.stdout.strip().splitlines()[-1]


if __name__ == "__main__":
    main()
