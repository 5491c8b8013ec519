"""Hostile uploads against a real `mastertape serve` (worker processes): every file ends `completed` or
`failed` with a message a musician can act on, no answer is a 5xx, nothing is left stuck, the other jobs
in the queue (a control track before and after) are unaffected, every original stays stored as sent, and
decoding a header that lies about its size takes memory in proportion to the file, not to the claim."""

from __future__ import annotations

import secrets

import httpx
import pytest

from mastertape.config import Settings
from tests.integration import hostile_files as hf
from tests.integration import server_process

#: the many-hours case is run against this limit (the default, 3 h, is checked separately)
TEST_MAX_DURATION_S = 600


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    key = "mt_" + secrets.token_urlsafe(24)
    data_dir = tmp / "data"
    with server_process.running(
        data_dir, workers=1, MASTERTAPE_API_KEY=key, MASTERTAPE_MAX_DURATION_S=str(TEST_MAX_DURATION_S)
    ) as server:
        run = hf.run_cases(server.url, key, tmp, timeout_s=300)
        health = httpx.get(f"{server.url}/healthz", timeout=10).status_code
    return run, data_dir, server.log(), health


def _by_name(run: hf.HostileRun) -> dict[str, hf.Outcome]:
    return {o.case.name: o for o in run.outcomes}


@pytest.mark.parametrize("case", hf.CASES, ids=[c.name for c in hf.CASES])
def test_each_hostile_file_ends_with_a_result_or_an_actionable_error(hostile, case):
    run = hostile[0]
    o = _by_name(run)[case.name]
    st = o.status
    assert st is not None and st["status"] == case.outcome, (case.name, st)
    if case.outcome == "failed":
        assert st["is_failed"] and not st["is_complete"] and st["download_url"] is None
        msg = st["error_message"]
        assert msg and any(p in msg.lower() for p in case.phrases), msg
        assert not any(leak in msg.lower() for leak in hf.LEAKS), msg
        assert st["status_details"]["error_code"] not in ("internal_error", "out_of_memory")
        assert o.master_id is None
    else:
        metrics = st["status_details"]["metrics"]
        for name, value in case.expect.items():
            assert metrics[name] == pytest.approx(value, abs=0.01), (name, metrics)
        ms = o.master_status
        assert ms is not None and ms["status"] in hf.TERMINAL, ms
        if ms["status"] == "failed":  # a one-sample file or pure DC cannot be mastered: it must say why
            assert ms["error_message"] and not any(leak in ms["error_message"].lower() for leak in hf.LEAKS)
            assert ms["status_details"]["error_code"] not in ("internal_error", "out_of_memory")


def test_expected_master_outcomes(hostile):
    by_name = _by_name(hostile[0])
    for name in ("square_full_scale", "rate_8k", "huge_metadata_tag", "mp4_video_and_audio"):
        assert by_name[name].master_status["status"] == "completed", by_name[name].master_status
    assert "0.4 s" in by_name["one_sample"].master_status["error_message"]
    assert by_name["dc_only"].master_status["status"] == "failed"
    # the video's audio track was taken: 3 s at its 48 kHz
    mp4 = by_name["mp4_video_and_audio"].status["status_details"]
    assert mp4["format"]["codec"] == "aac"


def test_no_5xx_nothing_stuck_originals_intact_other_jobs_unaffected(hostile):
    run, data_dir, log, health = hostile
    assert len(run.outcomes) == len(hf.CASES)
    assert run.server_errors == 0, sorted(run.http_statuses)
    assert run.stuck() == []
    assert hf.originals_lost(data_dir, run) == []
    for control in run.controls:
        assert control.status["status"] == "completed"
        assert control.status["status_details"]["metrics"]["duration_s"] == pytest.approx(3.0, abs=1e-3)
        assert control.master_status["status"] == "completed"
    assert health == 200
    assert "Traceback" not in log and "internal error" not in log


def test_lying_header_wav_decodes_in_memory_bounded_by_the_file(tmp_path):
    """The WAV's data chunk claims ~4 GB (the 10 s it holds as float32 would be 1.7 MiB): the decoder
    must not allocate for the claim."""
    path = tmp_path / "liar.wav"
    path.write_bytes(hf.lying_wav(tmp_path))
    base, peak, outcome = hf.decode_peak_rss_mib(path)
    assert outcome == "TruncatedAudio"
    assert peak - base < 32, (base, peak)


def test_many_hours_file_stops_at_the_limit_in_bounded_memory(tmp_path):
    """5 h of silence in ~40 kB: decoding stops past the limit, holding at most the limit's samples
    (600 s of 8 kHz mono float32 = 18 MiB; the 5 h would be 550 MiB)."""
    assert Settings.model_fields["max_duration_s"].default == 3 * 3600.0
    path = tmp_path / "hours.flac"
    path.write_bytes(hf.hours_of_silence(tmp_path))
    assert path.stat().st_size < 100_000
    base, peak, outcome = hf.decode_peak_rss_mib(path, TEST_MAX_DURATION_S)
    assert outcome == "AudioTooLong"
    assert peak - base < 18.4 + 32, (base, peak)


def test_many_hours_file_under_the_default_limit_is_stopped_by_its_expansion(tmp_path):
    """Under the default 3 h limit the same 40 kB file would make the decoder hold 3 h of samples (330 MiB
    at 8 kHz mono; 16 GiB at 192 kHz stereo): it is refused once it has expanded past 256 MiB of float32,
    a thousand times what any real codec reaches for a file of its size."""
    path = tmp_path / "hours.flac"
    path.write_bytes(hf.hours_of_silence(tmp_path))
    base, peak, outcome = hf.decode_peak_rss_mib(path, Settings.model_fields["max_duration_s"].default)
    assert outcome == "UnsupportedAudio"
    assert peak - base < 256 + 48, (base, peak)
