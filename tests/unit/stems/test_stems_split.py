"""`split()` end to end: stems sum back to the mix, the vocal model finds a sung voice, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from mastertape.audio import Audio
from mastertape.errors import InvalidAudioValues, PresetUnavailable
from mastertape.stems import PRESET_NAMES, StemSettings, get, split
from tests.signals import music_like
from tests.unit.stems.stem_signals import sung_voice

MODEL_PRESETS = ("2_tracks", "acapella", "instrumental", "4_tracks")
RESTORATION_PRESETS = ("denoise", "denoise_debleed", "dereverb", "decrowd", "phantom_center")


def _residual_db(mix: Audio, stems: dict[str, Audio]) -> float:
    x = mix.samples.astype(np.float64)
    r = x - sum(s.samples.astype(np.float64) for s in stems.values())
    return float(10 * np.log10(np.sum(r**2) / np.sum(x**2)))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel().astype(np.float64)
    b = b.ravel().astype(np.float64)
    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))


def _si_sdr_db(ref: np.ndarray, est: np.ndarray) -> float:
    ref = ref.ravel().astype(np.float64)
    est = est.ravel().astype(np.float64)
    target = np.dot(est, ref) / np.dot(ref, ref) * ref
    return float(10 * np.log10(np.sum(target**2) / np.sum((est - target) ** 2)))


@pytest.fixture(scope="module")
def song() -> tuple[Audio, Audio, Audio]:
    """(mix, voice, music): the sung voice in the centre over music_like, 6 s at 44.1 kHz."""
    voice = sung_voice(6.0, 44100, level_db=-20.0)
    music = music_like(6.0, 44100, level_db=-18.0)
    return voice.with_samples(voice.samples + music.samples), voice, music


def _check_sum(mix: Audio, preset: str) -> tuple[dict[str, Audio], object]:
    stems, report = split(mix, StemSettings(preset=preset, with_complement=True))
    names = get(preset).stems + ((get(preset).complement,) if get(preset).complement else ())
    assert tuple(stems) == names
    for s in stems.values():
        assert s.sample_rate == mix.sample_rate and s.samples.shape == mix.samples.shape
        assert s.samples.dtype == np.float32 and np.all(np.isfinite(s.samples))
    assert _residual_db(mix, stems) <= -40.0
    assert report.metrics["sum_residual_db"] <= -40.0
    assert report.stems == names and report.backends
    return stems, report


@pytest.mark.parametrize("preset", MODEL_PRESETS)
def test_model_presets_sum_to_the_mix(preset: str, song, stem_model) -> None:
    stems, report = _check_sum(song[0], preset)
    assert "spleeter_2stems" in report.backends
    assert "Spleeter" in report.notes["vocals"]


@pytest.mark.parametrize("preset", RESTORATION_PRESETS)
def test_restoration_presets_sum_to_the_mix(preset: str) -> None:
    reason = get(preset).unavailable_reason()
    if reason is not None:
        pytest.skip(f"restoration preset {preset}: {reason}")
    mix = music_like(4.0, 44100, level_db=-20.0)
    noisy = mix.with_samples(
        mix.samples + 0.003 * np.random.default_rng(0).standard_normal(mix.samples.shape).astype(np.float32)
    )
    _check_sum(noisy, preset)


def test_every_runnable_preset_is_covered() -> None:
    runnable = {n for n in PRESET_NAMES if get(n).target is not None}
    assert runnable == set(MODEL_PRESETS) | set(RESTORATION_PRESETS)


def test_vocal_stem_holds_the_voice(song, stem_model) -> None:
    mix, voice, music = song
    stems, report = split(mix, StemSettings(preset="2_tracks"))
    vocals, instrumental = stems["vocals"].samples, stems["instrumental"].samples
    assert _corr(vocals, voice.samples) > _corr(instrumental, voice.samples) + 0.5
    assert _corr(instrumental, music.samples) > _corr(vocals, music.samples) + 0.5
    # separation gain over leaving the mix as it is: at least 6 dB on each stem
    assert _si_sdr_db(voice.samples, vocals) >= _si_sdr_db(voice.samples, mix.samples) + 6.0
    assert _si_sdr_db(music.samples, instrumental) >= _si_sdr_db(music.samples, mix.samples) + 6.0
    assert set(report.timings_s) >= {"model"}


def test_four_tracks_vocals_match_two_tracks(song, stem_model) -> None:
    two, _ = split(song[0], StemSettings(preset="2_tracks"))
    four, report = split(song[0], StemSettings(preset="4_tracks"))
    np.testing.assert_allclose(four["vocals"].samples, two["vocals"].samples, atol=1e-5)
    resid = two["instrumental"].samples - four["drums"].samples - four["bass"].samples - four["other"].samples
    assert np.max(np.abs(resid)) < 1e-5
    assert "not a model" in report.notes["drums"] and "hpss_median" in report.backends


def test_single_stem_presets_deliver_one_stem(song, stem_model) -> None:
    a, _ = split(song[0], StemSettings(preset="acapella"))
    i, _ = split(song[0], StemSettings(preset="instrumental"))
    assert list(a) == ["vocals"] and list(i) == ["instrumental"]
    np.testing.assert_allclose(a["vocals"].samples + i["instrumental"].samples, song[0].samples, atol=1e-5)


@pytest.mark.parametrize(("rate", "channels"), [(48000, 2), (44100, 1), (22050, 1)])
def test_other_rates_and_mono(rate: int, channels: int, stem_model) -> None:
    voice = sung_voice(3.0, rate, level_db=-20.0)
    music = music_like(3.0, rate, level_db=-20.0)
    mix = Audio((voice.samples + music.samples)[:channels], rate)
    stems, _ = _check_sum(mix, "2_tracks")
    assert _corr(stems["vocals"].samples, voice.samples[:channels]) > 0.5


def test_longer_than_one_model_block(stem_model) -> None:
    # 13 s: two model blocks (~11.9 s each) joined by a crossfade
    voice = sung_voice(13.0, 44100, level_db=-20.0)
    mix = voice.with_samples(voice.samples + music_like(13.0, 44100, level_db=-18.0).samples)
    stems, _ = _check_sum(mix, "2_tracks")
    late = slice(11 * 44100, 13 * 44100)  # the second block, past the crossfade
    assert _corr(stems["vocals"].samples[:, late], voice.samples[:, late]) > 0.8


def test_very_short_and_empty_input(stem_model) -> None:
    short = music_like(0.05, 44100)
    stems, _ = _check_sum(short, "2_tracks")
    empty, report = split(Audio(np.zeros((2, 0), np.float32), 44100), StemSettings(preset="4_tracks"))
    assert list(empty) == ["vocals", "drums", "bass", "other"] and all(s.frames == 0 for s in empty.values())


def test_non_finite_input_is_refused(stem_model) -> None:
    x = np.zeros((2, 1000), np.float32)
    x[0, 10] = np.nan
    with pytest.raises(InvalidAudioValues):
        split(Audio(x, 44100), StemSettings(preset="2_tracks"))


def test_unregistered_restoration_backend_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    from mastertape.restoration import registry as restoration

    monkeypatch.delitem(restoration._REGISTRY, "denoise", raising=False)
    monkeypatch.setattr(restoration, "_ensure_loaded", lambda: None)
    with pytest.raises(PresetUnavailable, match="restoration backend"):
        split(music_like(1.0), StemSettings(preset="denoise"))
