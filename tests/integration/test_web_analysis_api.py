"""GET /analysis/{object_type}/{object_id} and the page's static routes, in-process (jobs run inline)."""

from __future__ import annotations

import pytest

from mastertape.api.routes.analysis import analysis_key
from tests.signals import music_like

TARGET_LUFS = -14.0
TRACK_S = 12.0


@pytest.fixture
def mastered(service):
    """(audio_id, mastered_id) of a generated track mastered to TARGET_LUFS without restoration."""
    path = service.wav(music_like(seconds=TRACK_S, sample_rate=44100, level_db=-20.0))
    audio_id = service.upload(path)
    mastered_id = service.master(audio_id=audio_id, use_restored=False, target_lufs=TARGET_LUFS)
    service.run_jobs()
    assert service.status("mastered", mastered_id)["is_complete"]
    return audio_id, mastered_id


def test_analysis_values_and_cache(service, mastered):
    audio_id, mastered_id = mastered
    c, h = service.client, service.headers
    r = c.get(f"/analysis/mastered/{mastered_id}", headers=h)
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["object_type"] == "mastered" and m["object_id"] == mastered_id
    assert service.rt.blobs.exists(analysis_key("mastered", mastered_id))
    assert c.get(f"/analysis/mastered/{mastered_id}", headers=h).json() == m  # served from the cached blob
    original = c.get(f"/analysis/audio/{audio_id}", headers=h).json()

    mm, om = m["metrics"], original["metrics"]
    assert mm["integrated_lufs"] == pytest.approx(TARGET_LUFS, abs=0.2)
    assert mm["true_peak_dbtp"] <= -1.0 + 0.05
    assert mm["plr_db"] == pytest.approx(mm["true_peak_dbtp"] - mm["integrated_lufs"], abs=0.02)
    # agrees with what the master job recorded, and the limiter's gain reduction comes from its report
    details = service.status("mastered", mastered_id)["status_details"]
    assert mm["integrated_lufs"] == pytest.approx(details["metrics"]["integrated_lufs"], abs=0.01)
    limiter_gr_db = abs(details["report"]["limiter_max_gain_reduction_db"])
    assert mm["max_gain_reduction_db"] == pytest.approx(limiter_gr_db, abs=0.01)
    assert om["max_gain_reduction_db"] is None
    assert om["integrated_lufs"] < mm["integrated_lufs"] - 1.0
    assert original["duration_s"] == pytest.approx(TRACK_S, abs=0.01)
    assert m["waveform"]["columns"] == 1000 and len(m["waveform"]["max"]) == 1000
    assert max(m["waveform"]["max"]) <= 10 ** (-1.0 / 20) + 1e-3  # sample peaks under the true-peak ceiling
    assert len(m["short_term_lufs"]["values"]) == pytest.approx((TRACK_S - 3.0) * 10 + 1, abs=1)
    assert m["spectrum"]["centers_hz"][0] == 20.0
    names = [p["name"] for p in m["platforms"]]
    assert names == ["Spotify", "Apple Music", "YouTube", "Amazon Music", "Tidal", "Deezer"]
    spotify = m["platforms"][0]
    assert spotify["gain_db"] == pytest.approx(-14.0 - mm["integrated_lufs"], abs=0.02)


def test_analysis_errors_and_ownership(service, mastered):
    audio_id, mastered_id = mastered
    c, h = service.client, service.headers
    r = c.get(f"/analysis/stem/{mastered_id}", headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "object_type"
    assert c.get(f"/analysis/audio/{mastered_id}", headers=h).status_code == 404  # an id of another kind
    assert c.get(f"/analysis/mastered/{mastered_id}").status_code == 401
    other = service.new_key()
    r = c.get(f"/analysis/mastered/{mastered_id}", headers={"X-API-Key": other})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert c.get(f"/analysis/audio/{audio_id}", headers={"X-API-Key": other}).status_code == 404
    # not complete yet: 409, like a download
    pending = service.master(audio_id=audio_id, use_restored=False, target_lufs=-16.0)
    r = c.get(f"/analysis/mastered/{pending}", headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_ready"


def test_analysis_is_documented(service):
    spec = service.client.get("/openapi.json").json()
    op = spec["paths"]["/analysis/{object_type}/{object_id}"]["get"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/AnalysisResponse")
    assert {"401", "404", "409", "422"} <= set(op["responses"])
    props = spec["components"]["schemas"]["AnalysisResponse"]["properties"]
    assert {"metrics", "waveform", "short_term_lufs", "spectrum", "platforms"} <= set(props)
    assert "/" not in spec["paths"] and not any(p.startswith("/static") for p in spec["paths"])


def test_page_and_static_files(service):
    c = service.client
    page = c.get("/")  # the page needs no key
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="static/app.js"' in page.text
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        r = c.get(f"/static/{name}", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
        assert r.headers.get("content-encoding") == "gzip"
        assert c.get(f"/static/{name}", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    for bad in ("/static/nope.js", "/static/..%2Fanalysis.py", "/static/%2e%2e%2f__init__.py",
                "/static/../web/analysis.py"):
        assert c.get(bad).status_code == 404, bad
