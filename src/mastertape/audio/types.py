"""The one audio layout used everywhere: samples of shape (channels, frames) with the rate beside them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Audio:
    """Audio buffer: `samples` is float32 (or float64) of shape (channels, frames), full scale = 1.0."""

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        if self.samples.ndim != 2:
            raise ValueError(f"samples must be (channels, frames), got shape {self.samples.shape}")
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.frames / float(self.sample_rate)

    def with_samples(self, samples: np.ndarray) -> Audio:
        """Same sample rate, new samples."""
        return Audio(samples, self.sample_rate)
