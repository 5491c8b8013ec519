"""Encode `Audio` to WAV, FLAC or a lossy preview (AAC in MP4/M4A, MP3, Opus in Ogg).

Lossless output is exact: a sample is scaled by 2^(bits-1), rounded to the nearest integer code
and clipped to the code range, and nothing else (no dither here: the mastering chain dithers and
quantises before encoding, so samples normally arrive already on the bit depth's grid and a
decode gives them back bit for bit). WAV is written by hand (see `_write_wav`); FLAC and the
lossy codecs go through PyAV (FFmpeg's flac, aac, libmp3lame and libopus encoders).

A path destination is written atomically: into a temporary file in the same folder, renamed over
the destination only once complete, so a failure never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import struct
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import BinaryIO

import av
import numpy as np

from mastertape.audio.resample import resample
from mastertape.audio.types import Audio
from mastertape.errors import EncodeError, InvalidAudioValues, InvalidSetting, UnknownFormat

SUPPORTED_OUTPUT_FORMATS = ("wav", "flac", "mp3", "aac", "opus")
# The file extension each format gets when a caller names the file (AAC goes in an MPEG-4 audio file).
OUTPUT_EXTENSIONS = {"wav": ".wav", "flac": ".flac", "mp3": ".mp3", "aac": ".m4a", "opus": ".opus"}
DEFAULT_BITRATE_KBPS = {"aac": 256, "mp3": 320, "opus": 160}
_BITRATE_RANGE_KBPS = {"aac": (16, 512), "mp3": (8, 320), "opus": (6, 510)}
_BIT_DEPTHS = {"wav": (16, 24, 32), "flac": (16, 24)}

# Sample rates each lossy codec can carry. Previews above 48 kHz are resampled to 48 kHz (44.1 kHz
# for the 88.2/176.4 kHz family): streaming players expect it and the extra band is inaudible.
_MP3_RATES_HZ = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_AAC_RATES_HZ = (7350, 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_OPUS_RATE_HZ = 48000  # Opus always runs at 48 kHz (RFC 6716 section 2)
# MPEG audio bit-rate ceilings: MPEG-1 layer III (32-48 kHz) 320 kbit/s, MPEG-2 (16-24 kHz) 160,
# MPEG-2.5 (8-12 kHz) 64 (ISO/IEC 11172-3 and 13818-3 bit-rate tables).
_MP3_MAX_KBPS = ((32000, 320), (16000, 160), (0, 64))

_RIFF_MAX_BYTES = 0xFFFFFFFF
_CHUNK_FRAMES = 1 << 16
_LOSSY = {
    # fmt: (FFmpeg encoder, sample format fed to it)
    "aac": ("aac", "fltp"),
    "mp3": ("libmp3lame", "fltp"),
    "opus": ("libopus", "flt"),
}
_CONTAINER_BY_EXTENSION = {
    "aac": {".m4a": "ipod", ".mp4": "mp4", ".m4b": "ipod", ".mov": "mov", ".aac": "adts"},
    "opus": {".opus": "opus", ".ogg": "ogg", ".oga": "ogg", ".webm": "webm", ".mka": "matroska"},
    "mp3": {},
}
_DEFAULT_CONTAINER = {"aac": "ipod", "opus": "ogg", "mp3": "mp3"}


def encode(
    audio: Audio,
    dest: str | os.PathLike | BinaryIO,
    fmt: str,
    *,
    bit_depth: int = 24,
    bitrate_kbps: int | None = None,
) -> None:
    """Write `audio` to `dest` (a path, written atomically, or a binary file object) as `fmt`.

    fmt: "wav" (bit_depth 16/24 integer PCM, 32 IEEE float), "flac" (16/24), or the lossy "mp3"
    (default 320 kbit/s), "aac" (256 kbit/s, in .m4a unless the path says .mp4/.mov/.aac) and
    "opus" (160 kbit/s, resampled to 48 kHz, in Ogg). `bit_depth` applies to WAV/FLAC only,
    `bitrate_kbps` to the lossy formats only. Raises UnknownFormat, InvalidSetting (field
    "bit_depth" / "bitrate_kbps"), InvalidAudioValues (NaN/Inf), EncodeError (write failure,
    WAV above the 4 GiB RIFF limit).
    """
    key = fmt.strip().lower() if isinstance(fmt, str) else ""
    if key not in SUPPORTED_OUTPUT_FORMATS:
        raise UnknownFormat(
            f"unknown output format {fmt!r}; choose one of {', '.join(SUPPORTED_OUTPUT_FORMATS)}",
            field="format",
        )
    samples = audio.samples
    if samples.ndim != 2 or not 1 <= samples.shape[0] <= 2:
        raise EncodeError(f"can only encode mono or stereo audio, got {samples.shape[0]} channels")
    if samples.shape[1] == 0:
        raise EncodeError("nothing to encode: the audio has no samples")
    if key == "wav" and bit_depth in _BIT_DEPTHS["wav"]:
        _wav_header(samples.shape[0], audio.sample_rate, samples.shape[1], bit_depth)  # size check first
    _check_finite(samples)

    if key in _BIT_DEPTHS:
        if bit_depth not in _BIT_DEPTHS[key]:
            allowed = " or ".join(str(b) for b in _BIT_DEPTHS[key])
            hint = " (32-bit float is available as WAV)" if key == "flac" else ""
            raise InvalidSetting(f"{key.upper()} takes bit_depth {allowed}{hint}, not {bit_depth}",
                                 field="bit_depth")
    else:
        bitrate_kbps = _check_bitrate(key, bitrate_kbps)

    if isinstance(dest, (str, os.PathLike)):
        path = os.path.abspath(os.fsdecode(os.fspath(dest)))
        ext = os.path.splitext(path)[1].lower()
        try:
            with _atomic_path(path) as tmp:
                if key == "wav":
                    with open(tmp, "wb") as fh:
                        _write_wav(samples, audio.sample_rate, fh, bit_depth)
                elif key == "flac":
                    _write_flac(samples, audio.sample_rate, tmp, bit_depth)
                else:
                    _write_lossy(audio, tmp, key, bitrate_kbps, ext, seekable_path=True)
        except OSError as exc:
            raise EncodeError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return
    if not hasattr(dest, "write"):
        raise TypeError(f"dest must be a path or a binary file object, not {type(dest).__name__}")
    ext = os.path.splitext(str(getattr(dest, "name", "")))[1].lower()
    if key == "wav":
        _write_wav(samples, audio.sample_rate, dest, bit_depth)
    elif key == "flac":
        _write_flac(samples, audio.sample_rate, dest, bit_depth)
    else:
        _write_lossy(audio, dest, key, bitrate_kbps, ext, seekable_path=False)


def _check_finite(samples: np.ndarray) -> None:
    for start in range(0, samples.shape[1], 1 << 18):
        if not np.isfinite(samples[:, start : start + (1 << 18)]).all():
            raise InvalidAudioValues("cannot encode audio that contains NaN or infinite samples")


def _check_bitrate(key: str, bitrate_kbps: int | None) -> int:
    if bitrate_kbps is None:
        return DEFAULT_BITRATE_KBPS[key]
    lo, hi = _BITRATE_RANGE_KBPS[key]
    if not lo <= bitrate_kbps <= hi:
        raise InvalidSetting(f"{key} bitrate must be {lo} to {hi} kbit/s, not {bitrate_kbps}",
                             field="bitrate_kbps")
    return int(bitrate_kbps)


@contextlib.contextmanager
def _atomic_path(path: str) -> Iterator[str]:
    """A fresh temporary path beside `path`; replaces `path` with it on success, removes it on failure.

    Created with mode 0o666 (before umask), as `open(path, "w")` would, unlike mkstemp's 0o600.
    """
    folder, name = os.path.split(path)
    while True:
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.part")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        break
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --- integer conversion --------------------------------------------------------------------------
def _int_codes(block: np.ndarray, bits: int) -> np.ndarray:
    """(channels, m) float -> (m, channels) interleaved integer codes: round(x * 2^(bits-1)), clipped.

    Multiplying by a power of two is exact in float32 and float64, and an on-grid value
    k / 2^(bits-1) (|k| < 2^23) is exact in float32, so quantised input maps back to k exactly.
    """
    scale = float(1 << (bits - 1))
    work = np.float64 if block.dtype == np.float64 else np.float32
    y = np.empty((block.shape[1], block.shape[0]), dtype=work)
    np.multiply(block.T, work(scale), out=y)
    np.rint(y, out=y)
    np.clip(y, -scale, scale - 1.0, out=y)
    return y.astype(np.int16 if bits == 16 else np.int32)


def _pack24(codes: np.ndarray) -> np.ndarray:
    """int32 codes (any shape, C order) -> their low three bytes each, little-endian, as uint8.

    Four samples fit three 32-bit words; shifting whole words is about 3x faster than a strided
    copy of the low bytes.
    """
    flat = codes.reshape(-1).view(np.uint32)
    n = flat.shape[0]
    if n % 4:
        flat = np.concatenate([flat, np.zeros(4 - n % 4, dtype=np.uint32)])
    q = flat.reshape(-1, 4)
    s0, s1, s2, s3 = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    words = np.empty((q.shape[0], 3), dtype=np.uint32)
    np.bitwise_or(s0 & 0xFFFFFF, s1 << 24, out=words[:, 0])
    np.bitwise_or((s1 >> 8) & 0xFFFF, s2 << 16, out=words[:, 1])
    np.bitwise_or((s2 >> 16) & 0xFF, s3 << 8, out=words[:, 2])
    return words.astype("<u4", copy=False).view(np.uint8).reshape(-1)[: 3 * n]


# --- WAV -----------------------------------------------------------------------------------------
def _wav_header(channels: int, sample_rate: int, frames: int, bit_depth: int) -> tuple[bytes, int]:
    """RIFF/WAVE header (Microsoft RIFF spec; IEEE float needs WAVEFORMATEX + `fact`), and data bytes.

    Integer PCM uses format tag 1 (WAVE_FORMAT_PCM) at 16 and 24 bit, as DAWs and libsndfile write
    for mono/stereo; 32 bit is float, tag 3 (WAVE_FORMAT_IEEE_FLOAT).
    """
    is_float = bit_depth == 32
    bytes_per = bit_depth // 8
    block_align = channels * bytes_per
    data_bytes = frames * block_align
    if is_float:
        fmt = struct.pack("<HHIIHHH", 3, channels, sample_rate, sample_rate * block_align, block_align,
                          bit_depth, 0)
        extra = b"fact" + struct.pack("<II", 4, frames & 0xFFFFFFFF)
    else:
        fmt = struct.pack("<HHIIHH", 1, channels, sample_rate, sample_rate * block_align, block_align,
                          bit_depth)
        extra = b""
    riff_size = 4 + 8 + len(fmt) + len(extra) + 8 + data_bytes + (data_bytes & 1)
    if riff_size > _RIFF_MAX_BYTES:
        raise EncodeError(
            f"the WAV file would be {riff_size / 2**30:.2f} GiB, above the 4 GiB limit of the WAV format: "
            f"choose FLAC, a lower bit depth, or a shorter selection"
        )
    header = (b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
              + extra + b"data" + struct.pack("<I", data_bytes))
    return header, data_bytes


def _write_wav(samples: np.ndarray, sample_rate: int, fh: BinaryIO, bit_depth: int) -> None:
    """WAV by hand with numpy + struct rather than through FFmpeg's pcm encoder: one vectorised pass
    (scale, round, clip, interleave, pack) straight into the file instead of building int frames for
    PyAV and letting it pack them again; the exact conversion and the header are fully in our hands."""
    channels, frames = samples.shape
    header, data_bytes = _wav_header(channels, sample_rate, frames, bit_depth)
    fh.write(header)
    for start in range(0, frames, _CHUNK_FRAMES):
        block = samples[:, start : start + _CHUNK_FRAMES]
        if bit_depth == 32:
            data = np.ascontiguousarray(block.T, dtype="<f4")
        elif bit_depth == 16:
            data = np.ascontiguousarray(_int_codes(block, 16), dtype="<i2")
        else:
            data = _pack24(_int_codes(block, 24))
        fh.write(memoryview(data).cast("B"))
    if data_bytes & 1:
        fh.write(b"\x00")  # RIFF chunks are padded to an even size


# --- PyAV encoders -------------------------------------------------------------------------------
def _layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


def _mux_frames(
    target: str | BinaryIO,
    container_fmt: str,
    codec: str,
    sample_rate: int,
    channels: int,
    frames: Iterator[tuple[np.ndarray, int]],
    sample_fmt: str,
    *,
    bit_rate: int | None = None,
    stream_options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> None:
    """Encode the (array, frame count) blocks from `frames` with `codec` into `container_fmt`."""
    options = {"fflags": "+bitexact"}  # no library version strings in the file: same input, same bytes
    options.update(container_options or {})
    try:
        out = av.open(target, mode="w", format=container_fmt, options=options)
    except av.FFmpegError as exc:
        raise EncodeError(f"cannot create the {container_fmt} output: {exc}") from exc
    try:
        stream = out.add_stream(codec, rate=sample_rate, options=stream_options or {})
        stream.codec_context.layout = _layout(channels)
        stream.codec_context.format = sample_fmt
        if bit_rate is not None:
            stream.codec_context.bit_rate = bit_rate
        time_base = Fraction(1, sample_rate)
        pts = 0
        for array, n in frames:
            frame = av.AudioFrame.from_ndarray(array, format=sample_fmt, layout=_layout(channels))
            frame.sample_rate = sample_rate
            frame.time_base = time_base
            frame.pts = pts
            pts += n
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    except av.FFmpegError as exc:
        raise EncodeError(f"the {codec} encoder failed: {exc}") from exc
    finally:
        out.close()


def _write_flac(samples: np.ndarray, sample_rate: int, target: str | BinaryIO, bit_depth: int) -> None:
    """FLAC through FFmpeg's encoder (compression level 5, the reference encoder's default)."""
    channels, frames = samples.shape

    def blocks() -> Iterator[tuple[np.ndarray, int]]:
        for start in range(0, frames, _CHUNK_FRAMES):
            codes = _int_codes(samples[:, start : start + _CHUNK_FRAMES], bit_depth)
            if bit_depth == 24:
                codes <<= 8  # FFmpeg takes 24-bit FLAC input as s32, the code in the top 24 bits
            yield codes.reshape(1, -1), codes.shape[0]

    _mux_frames(
        target, "flac", "flac", sample_rate, channels, blocks(), "s16" if bit_depth == 16 else "s32",
        stream_options={"bits_per_raw_sample": str(bit_depth)},
    )


def _lossy_rate(key: str, sample_rate: int) -> int:
    if key == "opus":
        return _OPUS_RATE_HZ
    rates = _MP3_RATES_HZ if key == "mp3" else _AAC_RATES_HZ
    if sample_rate in rates:
        return sample_rate
    if sample_rate > rates[-1]:
        return 44100 if sample_rate % 44100 == 0 else 48000
    return next(r for r in rates if r >= sample_rate)


def _write_lossy(audio: Audio, target: str | BinaryIO, key: str, bitrate_kbps: int, ext: str,
                 *, seekable_path: bool) -> None:
    codec, sample_fmt = _LOSSY[key]
    rate = _lossy_rate(key, audio.sample_rate)
    if rate != audio.sample_rate:
        audio = resample(audio, rate)
    if key == "mp3":
        bitrate_kbps = min(bitrate_kbps, next(kbps for floor, kbps in _MP3_MAX_KBPS if rate >= floor))
    container_fmt = _CONTAINER_BY_EXTENSION[key].get(ext, _DEFAULT_CONTAINER[key])
    container_options = {}
    if container_fmt in ("ipod", "mp4", "mov") and seekable_path:
        container_options["movflags"] = "+faststart"  # index first: browsers can play while downloading
    samples = audio.samples
    channels, frames = samples.shape
    convert: Callable[[np.ndarray], np.ndarray]
    if sample_fmt == "fltp":
        def convert(block: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(block, dtype=np.float32)
    else:
        def convert(block: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(block.T, dtype=np.float32).reshape(1, -1)

    def blocks() -> Iterator[tuple[np.ndarray, int]]:
        for start in range(0, frames, _CHUNK_FRAMES):
            block = samples[:, start : start + _CHUNK_FRAMES]
            yield convert(block), block.shape[1]

    _mux_frames(target, container_fmt, codec, rate, channels, blocks(), sample_fmt,
                bit_rate=bitrate_kbps * 1000, container_options=container_options)
