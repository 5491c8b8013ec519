"""DSP inpainting (inpaint.py) and stable_audio_3 with inpaint_regions and no weights."""

import numpy as np
import pytest

from mastertape.audio import Audio
from mastertape.restoration import InpaintRegion, RestoreSettings, restore
from mastertape.restoration.inpaint import fill_gap, inpaint, region_samples

SR = 44100


def tonal(seconds: float = 3.0, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 660.5 * t + 1) + 0.1 * np.sin(2 * np.pi * 1234 * t)
    return np.stack([x, 0.8 * np.roll(x, 37)][:channels]).astype(np.float32)


def gap_snr_db(ref: np.ndarray, est: np.ndarray, s: int, e: int) -> float:
    err = ref[:, s:e].astype(np.float64) - est[:, s:e]
    return float(10 * np.log10(np.sum(ref[:, s:e].astype(np.float64) ** 2) / np.sum(err**2)))


@pytest.mark.parametrize("gap_s", [0.01, 0.05, 0.1])
def test_gap_in_a_tonal_signal_is_rebuilt(gap_s):
    x = tonal()
    s, e = SR, SR + int(gap_s * SR)
    holed = x.copy()
    holed[:, s:e] = 0.0
    out = inpaint(holed, SR, [InpaintRegion(1.0, 1.0 + gap_s)])
    assert gap_snr_db(x, holed, s, e) == pytest.approx(0.0, abs=1e-6)  # silence: 0 dB
    assert gap_snr_db(x, out, s, e) > 20.0
    untouched = np.ones(x.shape[1], bool)
    untouched[s:e] = False
    np.testing.assert_array_equal(out[:, untouched], holed[:, untouched])


def test_gap_at_the_start_uses_the_right_side_only():
    x = tonal(channels=1)
    n = int(0.02 * SR)
    rebuilt = fill_gap(np.concatenate([np.zeros(n), x[0, n:]]), 0, n, SR)
    assert 10 * np.log10(np.sum(x[0, :n] ** 2) / np.sum((x[0, :n] - rebuilt) ** 2)) > 20.0


def test_regions_are_clipped_and_merged():
    regions = [InpaintRegion(0.5, 0.7), InpaintRegion(0.6, 0.8), InpaintRegion(2.0, 9.0), InpaintRegion(5.0, 6.0)]
    assert region_samples(regions, 1000, 3000) == [(500, 800), (2000, 3000)]


def test_stable_audio_3_without_weights_inpaints_and_says_so():
    x = tonal()
    s, e = SR, SR + int(0.04 * SR)
    holed = x.copy()
    holed[:, s:e] = 0.0
    out, report = restore(Audio(holed, SR), RestoreSettings(preset="stable_audio_3",
                                                            inpaint_regions=(InpaintRegion(1.0, 1.04),)))
    assert report.backend == "dsp_inpainting (no model weights)" and report.repairs == ("inpaint",)
    assert any("no model weights" in n for n in report.notes)
    assert gap_snr_db(x, out.samples, s, e) > 20.0
