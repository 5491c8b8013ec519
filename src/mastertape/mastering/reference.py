"""Reference mastering: what the chain takes from a finished track the user points at.

`analyze_reference` reduces the reference to summaries (no samples are kept): its long-term tonal balance
of mid and side per 1/3 octave (the EQ then moves the mix onto it, see `mastering.eq`), and its loudness
range (EBU Tech 3342 LRA, the spread of its short-term loudness), which the chain's slow leveller matches
(`mastering.dynamics_match`). `target_lufs` and the true-peak ceiling are never taken from the reference:
they hold as in every master.

`settings.ReferenceMatch` says how much of each to take, 0..1 (1: all of it; 0 for all three gives the
blind master exactly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mastertape.audio.types import Audio
from mastertape.dsp.loudness import (
    ABSOLUTE_GATE_LUFS,
    integrated_loudness_from_energy,
    kweighted_energy,
    loudness_range_from_energy,
)
from mastertape.errors import EmptyAudio, InvalidAudioValues, SilentAudio, TooManyChannels
from mastertape.mastering.analysis import segment_spectra
from mastertape.mastering.eq import TonalBalance, tonal_balance

#: A reference shorter than this says little about a long-term balance.
MIN_REFERENCE_S = 3.0


@dataclass(frozen=True)
class Reference:
    """Summaries of a reference track: tonal balance (mid, side per 1/3 octave), integrated loudness
    (LUFS), loudness range (LU), channels and duration."""

    balance: TonalBalance
    integrated_lufs: float
    loudness_range_lu: float
    channels: int
    duration_s: float


def analyze_reference(audio: Audio) -> Reference:
    """The `Reference` of `audio` (mono or stereo, at least `MIN_REFERENCE_S` long, not silent).

    Raises EmptyAudio, SilentAudio, TooManyChannels, InvalidAudioValues, each naming the field
    "reference_id" so that the API and CLI can say which file is at fault.
    """
    x = audio.samples
    channels = x.shape[0]
    if channels not in (1, 2):
        raise TooManyChannels(
            f"a reference must be mono or stereo, got {channels} channels", field="reference_id"
        )
    if audio.duration_s < MIN_REFERENCE_S:
        raise EmptyAudio(
            f"the reference is {audio.duration_s:.2f} s long: at least {MIN_REFERENCE_S:g} s are needed "
            "to measure its tonal balance and dynamics",
            field="reference_id",
        )
    spectra = segment_spectra(x, audio.sample_rate)
    if not np.all(np.isfinite(spectra.psd)):
        raise InvalidAudioValues("the reference's samples contain NaN or infinite values", field="reference_id")
    energy = kweighted_energy(x, audio.sample_rate)
    lufs = integrated_loudness_from_energy(energy)
    if not math.isfinite(lufs) or lufs < ABSOLUTE_GATE_LUFS:
        raise SilentAudio("the reference is silent or near-silent: it has no balance to match", field="reference_id")
    return Reference(
        balance=tonal_balance(spectra),
        integrated_lufs=float(lufs),
        loudness_range_lu=float(loudness_range_from_energy(energy)),
        channels=channels,
        duration_s=audio.duration_s,
    )
