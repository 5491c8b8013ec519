"""`stereo_mode` handling shared by every stereo-capable preset.

- single_pass: the backend sees all channels at once (joint analysis, e.g. one noise profile, one mask);
- left_right: each channel processed on its own;
- mid_sides: mid (L+R)/2 and side (L-R)/2 processed on their own, then back to L/R;
- mono: the mono downmix is processed and returned on every output channel.
Mono input is passed through as one channel whatever the mode.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Process = Callable[[np.ndarray], np.ndarray]  # (channels, frames) -> (channels, frames)


def apply_stereo_mode(samples: np.ndarray, stereo_mode: str, process: Process) -> np.ndarray:
    """Run `process` on `samples` (channels, frames) as `stereo_mode` says; same shape out."""
    if samples.shape[0] == 1 or stereo_mode == "single_pass":
        return process(samples)
    if stereo_mode == "left_right":
        return np.concatenate([process(samples[c : c + 1]) for c in range(samples.shape[0])], axis=0)
    if stereo_mode == "mid_sides":
        mid = 0.5 * (samples[0] + samples[1])
        side = 0.5 * (samples[0] - samples[1])
        m = process(mid[None, :])[0]
        s = process(side[None, :])[0]
        return np.stack([m + s, m - s]).astype(samples.dtype, copy=False)
    if stereo_mode == "mono":
        mono = process(samples.mean(axis=0, keepdims=True))
        return np.repeat(mono, samples.shape[0], axis=0)
    raise ValueError(f"unknown stereo_mode {stereo_mode!r}")
