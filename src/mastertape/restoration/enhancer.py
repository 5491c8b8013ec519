"""`universal_enhancer`, the default preset: analyse first, then apply only the repairs the analysis asks for.

Analysis (all on the input): clipping (declip.detect_clipping), mains hum (hum.detect_hum), a stationary
noise floor (denoise.estimate_noise_profile: its `noise_found` and programme-to-noise ratio), and the band
limit (bandwidth.detect_cutoff_hz). Each becomes a decision with the measured value and the threshold,
reported in RestoreReport.metrics["decisions"]; the repairs that ran are listed in `repairs`, in this order:

1. declip   when the clipped share of samples >= CLIP_MIN_FRACTION (A-SPADE; reliable samples stay exact);
2. dehum    when hum is detected (zero-phase notches at the detected harmonics only);
3. denoise  when a stationary noise floor is found with SNR <= NOISE_MAX_SNR_DB (denoise.denoise_routed:
            MMSE-LSA, or DeepFilterNet3 for speech);
4. extend_bandwidth when the effective cutoff is below BWE_MAX_CUTOFF_HZ.

Why 15 kHz: lossy encoders low-pass at 15-17 kHz (two of the four music files in ../shared/audio are cut
at ~16 kHz); what lies above carries little energy, is inaudible to many adult listeners, and synthesising
it risks audible artefacts for little gain, so a band limit at or above 15 kHz counts as a property of
the source, not damage. Below it (8 kHz telephone or low-bitrate band limits, 11 kHz old transfers) the
missing octave is audible and is rebuilt.

On clean input nothing is applied and the output is the input, sample for sample (float32). No
phase-shifting filter is used anywhere (no DC high-pass; the notches run forwards and backwards).
"""

from __future__ import annotations

import numpy as np

from mastertape.audio.types import Audio
from mastertape.restoration.settings import RestoreReport, RestoreSettings

CLIP_MIN_FRACTION = 1e-4
NOISE_MAX_SNR_DB = 50.0
BWE_MAX_CUTOFF_HZ = 15000.0


def _bandwidth_module():
    try:
        from mastertape.restoration import bandwidth
    except ImportError as exc:  # pragma: no cover - only while the bandwidth module is absent
        return None, f"bandwidth analysis unavailable ({exc})"
    return bandwidth, None


def run_universal_enhancer(audio: Audio, settings: RestoreSettings) -> tuple[Audio, RestoreReport]:
    """Preset `universal_enhancer` (see the module docstring)."""
    from mastertape.restoration import declip, denoise, hum

    x = np.asarray(audio.samples)
    sr = audio.sample_rate
    decisions: dict[str, dict] = {}
    notes: list[str] = []
    repairs: list[str] = []
    backends: list[str] = []

    clip = declip.detect_clipping(x)
    do_declip = clip.clipped_fraction >= CLIP_MIN_FRACTION and settings.strength > 0
    decisions["declip"] = {
        "applied": do_declip,
        "clipped_fraction": clip.clipped_fraction,
        "threshold": CLIP_MIN_FRACTION,
    }
    hum_info = hum.detect_hum(x, sr)
    decisions["dehum"] = {
        "applied": hum_info.detected,
        "max_line_prominence_db": hum_info.max_prominence_db,
        "threshold_db": hum.MIN_PROMINENCE_DB,
        "mains_hz": hum_info.mains_hz,
        "harmonics_hz": list(hum_info.harmonics_hz),
    }
    profile = denoise.estimate_noise_profile(x, sr)
    do_denoise = profile.noise_found and profile.snr_db <= NOISE_MAX_SNR_DB and settings.strength > 0
    decisions["denoise"] = {
        "applied": do_denoise,
        "noise_found": profile.noise_found,
        "noise_presence": profile.presence,
        "presence_threshold": denoise.MIN_NOISE_PRESENCE,
        "snr_db": profile.snr_db if profile.noise_found else None,
        "snr_threshold_db": NOISE_MAX_SNR_DB,
    }
    bandwidth, bw_reason = _bandwidth_module()
    cutoff = None
    if bandwidth is not None:
        cutoff = bandwidth.detect_cutoff_hz(x, sr)
    else:
        notes.append(str(bw_reason))
    do_bwe = cutoff is not None and cutoff < BWE_MAX_CUTOFF_HZ
    decisions["extend_bandwidth"] = {
        "applied": do_bwe,
        "cutoff_hz": cutoff,
        "threshold_hz": BWE_MAX_CUTOFF_HZ,
    }

    y = x
    if do_declip:
        rebuilt = declip.declip_samples(y, sr, clip)
        mixed = y.astype(np.float64) + settings.strength * (rebuilt.astype(np.float64) - y)
        y = np.where(clip.mask, mixed, y)
        repairs.append("declip")
        backends.append("a_spade")
        notes.append(
            f"declip: {clip.clipped_fraction:.3%} of samples clipped (>= {CLIP_MIN_FRACTION:.2%}), "
            "rebuilt with A-SPADE; the peaks may exceed full scale (restoration does not normalise)"
        )
    else:
        notes.append(
            f"declip skipped: {clip.clipped_fraction:.4%} of samples clipped (< {CLIP_MIN_FRACTION:.2%})"
        )
    if hum_info.detected:
        y = hum.remove_hum(y, sr, hum_info)
        repairs.append("dehum")
        backends.append("zero_phase_notch")
        notes.append(
            f"dehum: {hum_info.mains_hz:.0f} Hz hum at "
            f"{', '.join(f'{f:.1f}' for f in hum_info.harmonics_hz)} Hz notched (zero phase)"
        )
    else:
        notes.append(
            f"dehum skipped: no steady mains line (largest {hum_info.max_prominence_db:.1f} dB, "
            f"needs >= {hum.MIN_PROMINENCE_DB:.0f} dB on 2 harmonics)"
        )
    if do_denoise:
        y32 = np.asarray(y, dtype=np.float32)
        # the analysis profile describes y as long as no earlier repair changed it
        res = denoise.denoise_routed(
            y32, sr, settings.strength, settings.stereo_mode, profile=profile if y is x else None
        )
        y = res.samples
        repairs.append("denoise")
        backends.append(res.backend)
        decisions["denoise"].update(
            {"backend": res.backend, "speech_probability": res.metrics.get("speech_probability")}
        )
        notes.append(
            f"denoise ({res.backend}): stationary noise floor at {profile.noise_floor_db:.1f} dBFS, "
            f"SNR {profile.snr_db:.1f} dB (<= {NOISE_MAX_SNR_DB:.0f} dB)"
        )
    elif profile.noise_found:
        notes.append(
            f"denoise skipped: noise floor SNR {profile.snr_db:.1f} dB (> {NOISE_MAX_SNR_DB:.0f} dB)"
        )
    else:
        notes.append("denoise skipped: no stationary noise floor found")
    if do_bwe:
        y = bandwidth.extend_bandwidth(
            np.asarray(y, dtype=np.float32), sr, cutoff, multiband_ensemble=settings.multiband_ensemble
        )
        repairs.append("extend_bandwidth")
        backends.append("bandwidth_extension")
        notes.append(
            f"extend_bandwidth: band limit at {cutoff:.0f} Hz (< {BWE_MAX_CUTOFF_HZ:.0f} Hz) rebuilt"
        )
    elif cutoff is not None:
        notes.append(
            f"extend_bandwidth skipped: band limit at {cutoff:.0f} Hz is >= {BWE_MAX_CUTOFF_HZ:.0f} Hz "
            "(a lossy encoder's low-pass, not damage worth synthesising)"
        )
    elif bandwidth is not None:
        notes.append("extend_bandwidth skipped: full band")

    out = (
        np.nan_to_num(np.asarray(y, dtype=np.float32))
        if repairs
        else np.array(x, dtype=np.float32, copy=True)
    )
    backend = "+".join(backends) if backends else "analysis_only"
    metrics = {"decisions": decisions, "output_peak_dbfs": _peak_dbfs(out)}
    return audio.with_samples(out), RestoreReport(
        preset="universal_enhancer",
        backend=backend,
        repairs=tuple(repairs),
        metrics=metrics,
        notes=tuple(notes),
    )


def _peak_dbfs(x: np.ndarray) -> float:
    return float(20 * np.log10(max(float(np.max(np.abs(x), initial=0.0)), 1e-12)))
