"""universal_enhancer (enhancer.py): analyse, repair only what is damaged, leave clean audio alone."""

import types

import numpy as np
import pytest

from mastertape.audio import Audio
from mastertape.dsp.metrics import sdr_db, si_sdr_db
from mastertape.restoration import RestoreSettings, enhancer, restore
from tests.signals import music_like
from tests.unit.restoration.cleanup_signals import add_noise, clip_to_sdr
from tests.unit.restoration.space_signals import voice_like
from tests.unit.restoration.test_space_hum import hum_tone, programme

SR = 44100


@pytest.fixture(autouse=True)
def full_band(monkeypatch):
    """Bandwidth analysis stubbed as "full band" so that these tests check the enhancer's own decisions."""
    calls = []

    def extend(samples, sr, cutoff_hz, *, multiband_ensemble=True):
        calls.append((cutoff_hz, multiband_ensemble))
        return samples

    fake = types.SimpleNamespace(
        detect_cutoff_hz=lambda samples, sr: None, extend_bandwidth=extend, calls=calls
    )
    monkeypatch.setattr(enhancer, "_bandwidth_module", lambda: (fake, None))
    return fake


@pytest.mark.parametrize("make", [lambda: music_like(8.0, SR).samples, lambda: voice_like(6.0, SR, seed=3)])
def test_clean_input_is_left_untouched(make):
    x = make()
    out, report = restore(Audio(x, SR), RestoreSettings())
    assert report.preset == "universal_enhancer" and report.repairs == ()
    assert report.backend == "analysis_only"
    assert si_sdr_db(x, out.samples) >= 30.0
    np.testing.assert_array_equal(out.samples, x)
    d = report.metrics["decisions"]
    assert set(d) == {"declip", "dehum", "denoise", "extend_bandwidth"}
    assert not any(v["applied"] for v in d.values())
    assert d["declip"]["threshold"] == enhancer.CLIP_MIN_FRACTION


def test_clipping_is_repaired():
    x = music_like(6.0, SR).samples
    y, _ = clip_to_sdr(x, 8.0)
    out, report = restore(Audio(y, SR), RestoreSettings())
    assert "declip" in report.repairs and report.repairs[0] == "declip"
    assert report.metrics["decisions"]["declip"]["clipped_fraction"] > enhancer.CLIP_MIN_FRACTION
    assert sdr_db(x, out.samples) > sdr_db(x, y) + 3.0


def test_hum_is_removed_and_reported():
    x = programme(12.0)  # pink noise + tones: the enhancer also finds a noise floor to reduce in it
    hum = np.tile(hum_tone(x.shape[1], 50.0, -40.0), (2, 1))
    y = (x + hum).astype(np.float32)
    out, report = restore(Audio(y, SR), RestoreSettings())
    assert report.repairs[0] == "dehum"  # declip (not needed) -> dehum -> denoise
    assert report.metrics["decisions"]["dehum"]["mains_hz"] == 50.0
    # the hum lines themselves: at least 15 dB down (narrowband power at 50, 100, 150 Hz)
    spec_in = np.abs(np.fft.rfft(y[0, SR:-SR])) ** 2
    spec_out = np.abs(np.fft.rfft(out.samples[0, SR:-SR])) ** 2
    freqs = np.fft.rfftfreq(y.shape[1] - 2 * SR, 1 / SR)
    for f in (50.0, 100.0, 150.0):
        band = np.abs(freqs - f) < 0.3
        assert 10 * np.log10(spec_in[band].sum() / spec_out[band].sum()) > 15.0


def test_white_noise_is_reduced():
    x = music_like(8.0, SR).samples
    y = add_noise(x, 10.0, "white")
    out, report = restore(Audio(y, SR), RestoreSettings())
    assert "denoise" in report.repairs
    dec = report.metrics["decisions"]["denoise"]
    assert dec["noise_found"] and dec["snr_db"] <= enhancer.NOISE_MAX_SNR_DB
    assert si_sdr_db(x, out.samples) > si_sdr_db(x, y) + 3.0


def test_band_limit_decision(full_band):
    x = music_like(4.0, SR).samples
    full_band.detect_cutoff_hz = lambda samples, sr: 16000.0  # a lossy encoder's low-pass: left alone
    out, report = restore(Audio(x, SR), RestoreSettings())
    assert report.repairs == () and full_band.calls == []
    assert report.metrics["decisions"]["extend_bandwidth"]["cutoff_hz"] == 16000.0
    full_band.detect_cutoff_hz = lambda samples, sr: 8000.0
    out, report = restore(Audio(x, SR), RestoreSettings(multiband_ensemble=False))
    assert report.repairs == ("extend_bandwidth",)
    assert full_band.calls == [(8000.0, False)]


def test_real_bandwidth_module_keeps_clean_music_clean(monkeypatch):
    bandwidth = pytest.importorskip("mastertape.restoration.bandwidth")
    monkeypatch.setattr(enhancer, "_bandwidth_module", lambda: (bandwidth, None))
    x = music_like(8.0, SR).samples
    out, report = restore(Audio(x, SR), RestoreSettings())
    assert si_sdr_db(x, out.samples) >= 30.0
