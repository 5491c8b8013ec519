"""Decode any supported audio (or the audio track of a video) to `Audio`, and probe files cheaply.

Decoding goes through PyAV (FFmpeg's demuxers and decoders). Around it this module adds what a
service taking uploads needs:

- only audio/video container formats are opened (`format_whitelist`): no playlists, image
  sequences or other demuxers that would open further files or URLs on the server's behalf;
- input is checked before any sample is decoded (sample rate 8..192 kHz, mono or stereo) and
  while decoding (duration limit, NaN/Inf, decoder failures), so memory stays bounded by the
  limit whatever the header claims;
- a file is compared with the length its header declares, where that length is exact (WAV data
  chunk, FLAC STREAMINFO, MP3 Xing/Info/VBRI, MP4 edit list, AIFF, Ogg, Matroska): a file that
  decodes clearly shorter is reported as truncated instead of being mastered silently cut;
- samples become float32 (channels, frames) at the native rate; integer PCM maps code k to
  k / 2^(bits-1), which is exact in float32 up to 24 bits, so lossless round trips are bit-exact.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import av
import av.stream
import numpy as np

from mastertape.audio.types import Audio
from mastertape.errors import (
    AudioTooLong,
    EmptyAudio,
    InvalidAudioValues,
    TooManyChannels,
    TruncatedAudio,
    UnsupportedAudio,
    UnsupportedSampleRate,
)

AudioSource = str | os.PathLike | bytes | bytearray | memoryview | BinaryIO

MIN_SAMPLE_RATE_HZ = 8000
MAX_SAMPLE_RATE_HZ = 192000
MAX_CHANNELS = 2

# FFmpeg demuxers we let open uploads: audio files and the usual video containers. Matching is by
# any name in the demuxer's comma list ("mov" matches "mov,mp4,m4a,3gp,3g2,mj2").
ALLOWED_DEMUXERS = (
    "wav", "w64", "flac", "mp3", "aac", "mov", "ogg", "aiff", "matroska", "caf", "avi", "asf",
    "wv", "ape", "ac3", "eac3", "au", "mpegts", "mpeg", "amr", "tta", "dsf",
)
# Demuxers whose declared length is read from the file itself (not estimated from the bit rate),
# so that a shorter decode means the file was cut. WAV, FLAC and MP3 are parsed here instead.
_EXACT_LENGTH_DEMUXERS = ("mov", "aiff", "ogg", "matroska", "caf", "wv", "ape", "tta", "w64")

SUPPORTED_INPUT_DESCRIPTION = (
    "WAV, FLAC, MP3, AAC/M4A, Ogg Vorbis, Opus, AIFF, or the audio track of an MP4/MOV/MKV/WebM video"
)

_HEAD_BYTES = 64 * 1024
# The first output block is sized from the declared length, so that a correct header costs no
# copy at the end. It trusts that length only as far as the file's size makes plausible (64 frames
# per byte of input is ~256:1 against 16-bit stereo PCM, far beyond music; digital silence, which
# compresses further, just takes the growing-blocks path), and never beyond 1 GiB of float32.
_PREALLOC_MAX_FRAMES_PER_BYTE = 64
_PREALLOC_MAX_BYTES = 1 << 30
_PREALLOC_UNKNOWN_SIZE_FRAMES = 1 << 22
_GROW_MIN_FRAMES = 1 << 20
# Decode errors tolerated in the middle of a stream (a damaged MP3 frame is skipped, as players do).
_MAX_MIDSTREAM_ERRORS = 3
_MAX_MIDSTREAM_ERROR_FRACTION = 0.01
# A file may decode to at most this many bytes of float32 per byte of input once past the floor: real
# codecs stay far below (16-bit PCM 2, FLAC ~6, MP3 128k ~22, Opus 6 kbps ~260), while hours of digital
# silence in a few kB (a decompression bomb) reach 10^4 and more. Keeps a worker's memory proportional to
# the upload, not to max_duration_s x sample rate (3 h of 192 kHz stereo would be 16 GB of float32).
_MAX_EXPANSION = 1000
_EXPANSION_FLOOR_BYTES = 256 * 2**20

_INT_SCALE = {"u8": 1.0 / 128, "s16": 1.0 / 32768, "s32": 1.0 / 2**31, "s64": 1.0 / 2**63}
_FLOAT_FORMATS = ("flt", "dbl")


@dataclass(frozen=True)
class AudioInfo:
    """What `probe` reads from the headers: no full decode."""

    duration_s: float
    sample_rate: int
    channels: int
    codec: str  # FFmpeg codec name: "flac", "pcm_s24le", "mp3", "aac", "opus", "vorbis", ...
    format_name: str  # FFmpeg demuxer name: "wav", "flac", "mp3", "mov,mp4,m4a,3gp,3g2,mj2", "ogg", ...


# --- sources -------------------------------------------------------------------------------------
class _Replay:
    """A non-seekable reader whose first bytes were already consumed: replays them, then the rest.

    Deliberately has no `seek`/`tell`, so that PyAV treats it as a stream.
    """

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                out = bytes(self._head) + self._rest.read()
                self._head = memoryview(b"")
                return out
            out = bytes(self._head[:n])
            self._head = self._head[n:]
            return out
        return self._rest.read(n)


@dataclass
class _Source:
    """One input, ready for PyAV, with its size (None when unknown) and random access where possible."""

    target: str | BinaryIO  # what av.open receives: an absolute path or a file object
    size: int | None  # bytes from the start of the audio data to the end, when known
    head: bytes
    _reader: BinaryIO | None  # seekable reader for read_at, or None
    _base: int = 0

    def read_at(self, offset: int, n: int) -> bytes | None:
        """`n` bytes at `offset` from the start (fewer at the end), or None without random access."""
        if offset + n <= len(self.head):
            return self.head[offset : offset + n]
        if self._reader is None:
            return None
        pos = self._reader.tell()
        try:
            self._reader.seek(self._base + offset)
            return self._reader.read(n)
        finally:
            self._reader.seek(pos)


@contextmanager
def _open_source(source: AudioSource) -> Iterator[_Source]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise EmptyAudio("the file is empty (0 bytes): upload the audio file again")
        bio = io.BytesIO(data)
        yield _Source(bio, len(data), data[:_HEAD_BYTES], io.BytesIO(data))
    elif isinstance(source, (str, os.PathLike)):
        path = os.path.abspath(os.fsdecode(os.fspath(source)))
        with open(path, "rb") as fh:  # FileNotFoundError / IsADirectoryError are the caller's to see
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise EmptyAudio(f"{os.path.basename(path)} is empty (0 bytes)")
            head = fh.read(_HEAD_BYTES)
            # PyAV opens the path itself (FFmpeg's file protocol, no Python read callbacks: faster);
            # `fh` stays open for header look-ups at arbitrary offsets.
            yield _Source(path, size, head, fh)
    elif hasattr(source, "read"):
        seekable = bool(getattr(source, "seekable", lambda: False)())
        if seekable:
            base = source.tell()
            size = source.seek(0, io.SEEK_END) - base
            source.seek(base)
            head = source.read(_HEAD_BYTES)
            source.seek(base)
            if size <= 0:
                raise EmptyAudio("the file is empty (0 bytes): upload the audio file again")
            yield _Source(source, size, head, source, base)
        else:
            head = source.read(_HEAD_BYTES)
            if not head:
                raise EmptyAudio("the file is empty (0 bytes): upload the audio file again")
            yield _Source(_Replay(head, source), None, head, None)
    else:
        raise TypeError(f"source must be a path, bytes or a binary file object, not {type(source).__name__}")


def _not_audio(detail: str = "") -> UnsupportedAudio:
    msg = (
        "this is not an audio file mastertape can read, or it is damaged"
        + (f" ({detail})" if detail else "")
        + f". Supported: {SUPPORTED_INPUT_DESCRIPTION}."
    )
    return UnsupportedAudio(msg)


@contextmanager
def _open_container(src: _Source) -> Iterator[av.container.InputContainer]:
    options = {"format_whitelist": ",".join(ALLOWED_DEMUXERS), "protocol_whitelist": "file"}
    try:
        container = av.open(src.target, mode="r", options=options, metadata_errors="ignore")
    except av.FFmpegError as exc:
        if src.head[4:8] == b"ftyp":
            # ISO BMFF (MP4/M4A/MOV) that cannot be opened: almost always the index ("moov" box,
            # written last by recorders) is missing because the file was cut short.
            raise TruncatedAudio(
                "the MP4/M4A/MOV file is incomplete (its index is missing): the recording or upload was "
                "cut short. Export or upload it again"
            ) from exc
        raise _not_audio() from exc
    try:
        yield container
    finally:
        container.close()


def _audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    if not container.streams.audio:
        if container.streams.video:
            raise UnsupportedAudio(
                "the video has no audio track: export it with its sound, or upload the audio itself"
            )
        raise UnsupportedAudio("the file has no audio track")
    stream = container.streams.audio[0]
    if stream.codec_context is None or not stream.codec_context.is_decoder:
        raise UnsupportedAudio(
            "the audio track uses a codec mastertape cannot decode; convert it to WAV or FLAC"
        )
    return stream


def _codec_name(stream: av.audio.stream.AudioStream) -> str:
    codec = stream.codec_context.codec
    return codec.canonical_name if codec is not None else "unknown"


def _check_rate(sample_rate: int) -> None:
    if sample_rate > MAX_SAMPLE_RATE_HZ:
        raise UnsupportedSampleRate(
            f"the sample rate is {sample_rate} Hz; mastertape accepts {MIN_SAMPLE_RATE_HZ} to "
            f"{MAX_SAMPLE_RATE_HZ} Hz: resample it to 96 kHz or 48 kHz first "
            f"(for example: ffmpeg -i input -ar 96000 output.flac)"
        )
    if sample_rate < MIN_SAMPLE_RATE_HZ:
        raise UnsupportedSampleRate(
            f"the sample rate is {sample_rate} Hz; mastertape accepts {MIN_SAMPLE_RATE_HZ} to "
            f"{MAX_SAMPLE_RATE_HZ} Hz: export it at 44.1 kHz or 48 kHz"
        )


def _check_channels(channels: int) -> None:
    if channels > MAX_CHANNELS:
        raise TooManyChannels(
            f"the file has {channels} channels; mastertape takes mono or stereo: mix it down to stereo "
            f"first (for example: ffmpeg -i input -ac 2 output.flac)"
        )
    if channels < 1:
        raise UnsupportedAudio("the audio track declares no channels; the file is damaged")


# --- declared lengths ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Declared:
    """Length the file declares, and (WAV only) how much the file actually holds."""

    frames: int | None  # exact declared length, None when the file does not declare one reliably
    available_frames: int | None = None  # frames the bytes present can hold (WAV), None when unknown
    trim_to_declared: bool = False  # decoded frames beyond the declared length are codec padding


def _id3v2_size(head: bytes) -> int:
    """Bytes taken by a leading ID3v2 tag (ID3v2.4 section 3.1: 10-byte header, syncsafe size)."""
    if len(head) >= 10 and head[:3] == b"ID3":
        size = 0
        for b in head[6:10]:
            size = (size << 7) | (b & 0x7F)
        return 10 + size + (10 if head[5] & 0x10 else 0)
    return 0


def _wav_declared(src: _Source) -> _Declared:
    """RIFF WAVE: walk the chunks to `fmt ` (block align) and `data` (byte count).

    A data size of 0 or 0xFFFFFFFF is the convention of writers that stream and cannot seek back
    (FFmpeg to a pipe, some recorders): length unknown, read to the end.
    """
    head = src.head
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return _Declared(None)
    offset, block_align = 12, 0
    for _ in range(256):
        hdr = src.read_at(offset, 8)
        if hdr is None or len(hdr) < 8:
            return _Declared(None)
        cid, csize = hdr[:4], struct.unpack("<I", hdr[4:])[0]
        if cid == b"fmt ":
            fmt = src.read_at(offset + 8, 16)
            if fmt is None or len(fmt) < 16:
                return _Declared(None)
            block_align = struct.unpack("<H", fmt[12:14])[0]
        elif cid == b"data":
            if block_align <= 0 or csize in (0, 0xFFFFFFFF):
                return _Declared(None)
            available = None
            if src.size is not None:
                available = max(0, src.size - (offset + 8)) // block_align
            return _Declared(csize // block_align, available)
        offset += 8 + csize + (csize & 1)
    return _Declared(None)


def _flac_declared(src: _Source) -> _Declared:
    """FLAC STREAMINFO total samples (RFC 9639 section 8.2: 36 bits; 0 = unknown)."""
    start = _id3v2_size(src.head)
    block = src.read_at(start, 4 + 4 + 34)
    if block is None or len(block) < 42 or block[:4] != b"fLaC" or (block[4] & 0x7F) != 0:
        return _Declared(None)
    total = int.from_bytes(block[8 + 10 : 8 + 18], "big") & ((1 << 36) - 1)
    return _Declared(total or None)


def _mp3_has_length_header(src: _Source) -> bool:
    """True when the first MPEG frame carries a Xing/Info or VBRI header (exact frame count).

    Without one FFmpeg estimates the duration from the bit rate, which for VBR can be off by half.
    """
    start = _id3v2_size(src.head)
    frame = src.read_at(start, 200)
    if frame is None:
        return False
    return b"Xing" in frame or b"Info" in frame or b"VBRI" in frame


def _declared(src: _Source, container: av.container.InputContainer, stream, sample_rate: int) -> _Declared:
    names = container.format.name.split(",")
    if "wav" in names:
        return _wav_declared(src)
    if "flac" in names:
        return _flac_declared(src)
    trusted = any(n in _EXACT_LENGTH_DEMUXERS for n in names)
    trusted = trusted or ("mp3" in names and _mp3_has_length_header(src))
    if not trusted:
        return _Declared(None)
    frames = None
    if stream.duration is not None and stream.duration > 0 and stream.time_base is not None:
        frames = round(float(stream.duration * stream.time_base) * sample_rate)
    elif container.duration is not None and container.duration > 0:
        frames = round(container.duration / av.time_base * sample_rate)
    if frames and "ogg" in names and _codec_name(stream) == "opus":
        # Ogg Opus granule positions count the encoder's pre-skip, which the decoder drops (RFC 7845 4.2).
        frames = max(0, frames - int(stream.codec_context.delay or 0))
    # MP4/MOV: the edit list gives the exact length; the last AAC frame's padding decodes beyond it.
    return _Declared(frames or None, trim_to_declared="mov" in names)


def _truncation_tolerance_frames(declared_frames: int, sample_rate: int) -> int:
    """Shortfall accepted before calling a file truncated: codec padding and pre-skip (a few
    frames), a damaged frame skipped mid-file. 0.25 s or 0.5 % of the declared length."""
    return max(int(0.25 * sample_rate), int(0.005 * declared_frames))


def _fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def _truncated(decoded_frames: int, declared_frames: int, sample_rate: int) -> TruncatedAudio:
    return TruncatedAudio(
        f"the file declares {_fmt_duration(declared_frames / sample_rate)} of audio but only "
        f"{_fmt_duration(decoded_frames / sample_rate)} could be read: it was cut short (an incomplete "
        f"upload or copy) or is damaged. Export or upload it again"
    )


# --- decoding ------------------------------------------------------------------------------------
class _Blocks:
    """Decoded float32 samples collected in a few large preallocated blocks (no growing concatenate).

    The first block is sized from the declared length, so a WAV/FLAC/MP4 fills exactly one block
    and is returned without a copy; otherwise blocks grow geometrically and are joined once.
    """

    def __init__(self, channels: int, first_frames: int, limit: int | None = None) -> None:
        self.channels = channels
        self._cap = None if limit is None else limit + 1  # never hold more than the limit needs
        self.blocks: list[np.ndarray] = []
        self.frames = 0  # frames written in total
        self._cur: np.ndarray | None = None
        self._used = 0
        self._next_size = max(1, first_frames)

    def reserve(self, n: int) -> np.ndarray | None:
        """A (channels, m) float32 view to write the next m <= n frames into (m < n where a block ends),
        or None once one frame past the limit is held: the audio is too long, stop collecting."""
        if self._cur is None or self._used == self._cur.shape[1]:
            size = self._next_size
            if self._cap is not None:
                if self.frames >= self._cap:
                    return None
                size = min(size, self._cap - self.frames)
            self._cur = np.empty((self.channels, size), dtype=np.float32)
            self.blocks.append(self._cur)
            self._used = 0
            self._next_size = max(_GROW_MIN_FRAMES, self.frames // 2)
        m = min(n, self._cur.shape[1] - self._used)
        return self._cur[:, self._used : self._used + m]

    def commit(self, m: int) -> None:
        self._used += m
        self.frames += m

    def result(self, frames: int) -> np.ndarray:
        """The first `frames` frames as one C-contiguous (channels, frames) array."""
        frames = min(frames, self.frames)
        blocks, last_used = self.blocks, self._used
        self.blocks, self._cur = [], None
        if len(blocks) == 1 and blocks[0].shape[1] == frames:
            return blocks[0]
        out = np.empty((self.channels, frames), dtype=np.float32)
        pos = 0
        for i in range(len(blocks)):
            block = blocks[i]
            used = last_used if i == len(blocks) - 1 else block.shape[1]
            take = min(used, frames - pos)
            out[:, pos : pos + take] = block[:, :take]
            pos += take
            blocks[i] = block = None  # release each block once copied
            if pos >= frames:
                break
        return out


def _frame_to_float(frame: av.AudioFrame, blocks: _Blocks, channels: int) -> tuple[int, bool]:
    """Convert one decoded frame into `blocks`; returns (frames written, whether all are finite)."""
    arr = frame.to_ndarray()
    fmt = frame.format
    n = frame.samples
    src = arr if fmt.is_planar else arr.reshape(n, channels).T
    name = fmt.name.rstrip("p")
    finite = True
    pos = 0
    while pos < n:
        dest = blocks.reserve(n - pos)
        if dest is None:
            break
        m = dest.shape[1]
        part = src[:, pos : pos + m]
        if name in _FLOAT_FORMATS:
            np.copyto(dest, part, casting="same_kind")
            finite = finite and bool(np.isfinite(dest).all())
        elif name == "u8":
            np.subtract(part, np.float32(128.0), out=dest, dtype=np.float32, casting="unsafe")
            dest *= np.float32(_INT_SCALE["u8"])
        else:
            # Integer code k -> k / 2^(bits-1): a power-of-two scale, exact in float32 for <= 24 bits.
            np.multiply(part, np.float32(_INT_SCALE[name]), out=dest, dtype=np.float32, casting="unsafe")
        blocks.commit(m)
        pos += m
    return pos, finite


def decode(source: AudioSource, *, max_duration_s: float | None = None) -> Audio:
    """Decode `source` (path, bytes or binary file object) to float32 (channels, frames) at its native rate.

    Raises the typed errors of `mastertape.errors`: UnsupportedAudio (not audio, corrupt, no audio
    track), EmptyAudio, TruncatedAudio, UnsupportedSampleRate (outside 8..192 kHz), TooManyChannels
    (more than 2), InvalidAudioValues (NaN/Inf), AudioTooLong (longer than `max_duration_s`,
    detected while decoding, so that memory stays bounded whatever the file claims). Pass
    `Settings.max_duration_s` for untrusted input; None decodes any length.
    """
    with _open_source(source) as src, _open_container(src) as container:
        stream = _audio_stream(container)
        cc = stream.codec_context
        sample_rate, channels = int(cc.sample_rate or 0), int(cc.channels or 0)
        if sample_rate:
            _check_rate(sample_rate)
        if channels:
            _check_channels(channels)
        for other in container.streams:
            if other.index != stream.index:
                other.discard = av.stream.Discard.all
        declared = _declared(src, container, stream, sample_rate) if sample_rate else _Declared(None)
        if (
            declared.frames is not None
            and declared.available_frames is not None
            and declared.frames - declared.available_frames
            > _truncation_tolerance_frames(declared.frames, sample_rate)
        ):
            raise _truncated(declared.available_frames, declared.frames, sample_rate)
        limit = _limit_frames(max_duration_s, sample_rate) if sample_rate else None
        if limit is not None and declared.frames is not None and declared.available_frames is not None:
            if min(declared.frames, declared.available_frames) > limit:  # WAV: the length is known exactly
                raise _too_long(max_duration_s)
        return _decode_stream(container, stream, src, sample_rate, channels, declared, max_duration_s)


def _limit_frames(max_duration_s: float | None, sample_rate: int) -> int | None:
    if max_duration_s is None:
        return None
    return int(np.floor(max_duration_s * sample_rate + 1e-6))


def _too_long(max_duration_s: float) -> AudioTooLong:
    return AudioTooLong(
        f"the audio is longer than this server's limit of {_fmt_duration(max_duration_s)}: "
        f"split it into shorter parts"
    )


def _first_block_frames(declared: _Declared, size: int | None, limit: int | None, channels: int) -> int:
    guess = declared.frames if declared.frames is not None else 0
    if declared.available_frames is not None:
        guess = min(guess, declared.available_frames)
    if limit is not None:
        guess = min(guess, limit + 1)
    plausible = _PREALLOC_MAX_FRAMES_PER_BYTE * size if size is not None else _PREALLOC_UNKNOWN_SIZE_FRAMES
    guess = min(guess, plausible, _PREALLOC_MAX_BYTES // (4 * max(1, channels)))
    if guess <= 0:  # length unknown: start with one growth block (no bigger than the limit needs)
        guess = _GROW_MIN_FRAMES if limit is None else min(_GROW_MIN_FRAMES, limit + 1)
    return guess


def _expansion_limit_frames(size: int | None, channels: int) -> int | None:
    """Frames past which a file of `size` bytes has expanded implausibly (None: size unknown)."""
    if size is None:
        return None
    return max(_EXPANSION_FLOOR_BYTES, _MAX_EXPANSION * size) // (4 * max(1, channels))


def _expands_too_much(size: int, seconds: float) -> UnsupportedAudio:
    return UnsupportedAudio(
        f"the file is only {size / 1024:,.0f} kB but decodes to more than {_fmt_duration(seconds)} of audio: "
        f"it is almost entirely digital silence (or built to exhaust the server's memory). Trim the "
        f"silence and export it again"
    )


def _decode_stream(container, stream, src: _Source, sample_rate: int, channels: int, declared: _Declared,
                   max_duration_s: float | None) -> Audio:
    limit: int | None = None  # set with the first frame, whose rate is authoritative
    blocks: _Blocks | None = None
    packets = errors = 0
    frames_since_error = 0
    failed_at_end = False
    try:
        for packet in container.demux(stream):
            packets += 1
            try:
                frames = packet.decode()
            except av.FFmpegError:
                errors += 1
                frames_since_error = 0
                continue
            for frame in frames:
                if blocks is None:
                    sample_rate, channels = _first_frame_checks(frame, sample_rate, channels)
                    limit = _limit_frames(max_duration_s, sample_rate)
                    bomb = _expansion_limit_frames(src.size, channels)
                    cap = limit if bomb is None else bomb if limit is None else min(limit, bomb)
                    blocks = _Blocks(channels, _first_block_frames(declared, src.size, cap, channels), cap)
                elif frame.sample_rate != sample_rate or frame.layout.nb_channels != channels:
                    raise UnsupportedAudio(
                        "the sample rate or channel count changes part way through the file; "
                        "export it again as one continuous track"
                    )
                n, finite = _frame_to_float(frame, blocks, channels)
                if not finite:
                    raise InvalidAudioValues(
                        "the file contains invalid sample values (NaN or infinity): "
                        "re-export it from your editor"
                    )
                frames_since_error += n
                if limit is not None and blocks.frames > limit:
                    raise _too_long(max_duration_s)
                if bomb is not None and blocks.frames > bomb:
                    raise _expands_too_much(src.size, blocks.frames / sample_rate)
    except av.FFmpegError:
        failed_at_end = True  # the demuxer gave up: nothing after this point can be read
    total = blocks.frames if blocks is not None else 0
    if total == 0:
        if errors or failed_at_end:
            raise _not_audio("no part of the audio could be decoded")
        raise EmptyAudio("the file contains no audio samples")
    if failed_at_end or (errors and frames_since_error == 0):
        if declared.frames is not None:
            raise _truncated(total, declared.frames, sample_rate)
        raise TruncatedAudio(
            f"decoding stopped with an error after {_fmt_duration(total / sample_rate)}: the file was cut "
            f"short (an incomplete upload or copy) or is damaged. Export or upload it again"
        )
    if errors > max(_MAX_MIDSTREAM_ERRORS, _MAX_MIDSTREAM_ERROR_FRACTION * packets):
        raise _not_audio(f"{errors} of {packets} blocks of audio failed to decode")
    if declared.frames is not None:
        if declared.frames - total > _truncation_tolerance_frames(declared.frames, sample_rate):
            raise _truncated(total, declared.frames, sample_rate)
        if declared.trim_to_declared and total > declared.frames:
            total = declared.frames
    return Audio(blocks.result(total), sample_rate)


def _first_frame_checks(frame: av.AudioFrame, sample_rate: int, channels: int) -> tuple[int, int]:
    """The decoder's output is authoritative (HE-AAC doubles the header's rate, for example)."""
    rate, ch = int(frame.sample_rate), int(frame.layout.nb_channels)
    if rate != sample_rate:
        _check_rate(rate)
    if ch != channels:
        _check_channels(ch)
    return rate, ch


# --- probe ---------------------------------------------------------------------------------------
def probe(source: AudioSource) -> AudioInfo:
    """Duration, rate, channels, codec and container of `source`, from headers (no full decode).

    Where the header holds no reliable length (MP3 without Xing header, raw AAC, a WAV written
    to a pipe), packets are counted without decoding them. Raises EmptyAudio / UnsupportedAudio.
    """
    with _open_source(source) as src, _open_container(src) as container:
        stream = _audio_stream(container)
        cc = stream.codec_context
        sample_rate, channels = int(cc.sample_rate or 0), int(cc.channels or 0)
        declared = _declared(src, container, stream, sample_rate) if sample_rate else _Declared(None)
        frames = declared.frames
        if frames is not None and declared.available_frames is not None:
            frames = min(frames, declared.available_frames)
        if frames is not None and sample_rate:
            duration_s = frames / sample_rate
        elif "wav" in container.format.name.split(",") and stream.duration:
            duration_s = float(stream.duration * stream.time_base)  # FFmpeg's count from the data size
        else:
            duration_s = _packet_duration_s(container, stream)
        return AudioInfo(
            duration_s=duration_s,
            sample_rate=sample_rate,
            channels=channels,
            codec=_codec_name(stream),
            format_name=container.format.name,
        )


def _packet_duration_s(container, stream) -> float:
    for other in container.streams:
        if other.index != stream.index:
            other.discard = av.stream.Discard.all
    ticks = 0
    try:
        for packet in container.demux(stream):
            if packet.duration:
                ticks += packet.duration
    except av.FFmpegError:
        pass  # a damaged tail: report what could be counted
    if ticks and stream.time_base is not None:
        return float(ticks * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return 0.0
