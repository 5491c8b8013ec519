"""Hostile uploads, made here (nothing downloaded): each case writes its file and says how it must end.

Used by tests/integration/test_hostile_audio.py and benchmarks/hostile.py. A case either imports
(`completed`, with a property of the result to check) or fails with a message containing one of
`phrases` (lower case), which name what is wrong and what to do about it.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mastertape.audio import Audio, encode

FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"
RATE = 44100
#: the many-hours case decodes to this long (the tests run it against a lower max_duration_s)
HOURS_CASE_S = 5 * 3600
#: what the lying-header WAV claims (its data chunk size field; the file holds 10 s)
LYING_CLAIM_BYTES = 0xFFFF0000


def ffmpeg(*args: str | Path) -> None:
    cmd = [FFMPEG, "-v", "error", "-nostdin", "-y", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")


def _tone(seconds: float = 1.0, rate: int = RATE, channels: int = 2, dbfs: float = -12.0) -> Audio:
    t = np.arange(int(round(seconds * rate))) / rate
    x = 10 ** (dbfs / 20) * (np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 1760 * t)) / 1.5
    return Audio(np.tile(x.astype(np.float32), (channels, 1)), rate)


def _wav_header(data_bytes: int, rate: int = RATE, channels: int = 1, bits: int = 16, fmt_tag: int = 1) -> bytes:
    align = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", min(data_bytes + 36, 0xFFFFFFFF))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, fmt_tag, channels, rate, rate * align, align, bits)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def _encoded(path: Path, audio: Audio, fmt: str, bit_depth: int = 16) -> bytes:
    encode(audio, path, fmt, bit_depth=bit_depth)
    return path.read_bytes()


# --- the generators: each takes a scratch folder and returns the file's bytes ---------------------
def zero_bytes(_tmp: Path) -> bytes:
    return b""


def random_bytes(_tmp: Path) -> bytes:
    return np.random.default_rng(5).bytes(200_000)


def truncated(fmt: str) -> Callable[[Path], bytes]:
    def make(tmp: Path) -> bytes:
        data = _encoded(tmp / f"full.{fmt}", _tone(seconds=4.0), fmt)
        return data[: len(data) * 2 // 5]

    return make


def lying_wav(tmp: Path) -> bytes:
    """10 s of 16-bit mono whose data chunk claims ~4 GB (36 hours at 44.1 kHz)."""
    pcm = (_tone(seconds=10.0, channels=1).samples[0] * 32767).astype("<i2").tobytes()
    return _wav_header(LYING_CLAIM_BYTES) + pcm


def one_sample(_tmp: Path) -> bytes:
    return _wav_header(2) + struct.pack("<h", 12000)


def nan_inf_wav(_tmp: Path) -> bytes:
    x = _tone(seconds=1.0, channels=2).samples.T.copy()  # interleaved (frames, channels)
    x[1000::997, 0] = np.nan
    x[1500::991, 1] = np.inf
    x[2000::983, 1] = -np.inf
    return _wav_header(x.nbytes, channels=2, bits=32, fmt_tag=3) + x.astype("<f4").tobytes()


def dc_only(tmp: Path) -> bytes:
    return _encoded(tmp / "dc.wav", Audio(np.full((2, 2 * RATE), 0.5, dtype=np.float32), RATE), "wav")


def square_full_scale(tmp: Path) -> bytes:
    t = np.arange(2 * RATE)
    x = np.where((t // (RATE // 200)) % 2 == 0, 1.0, -1.0).astype(np.float32)  # 100 Hz, peaks at 0 dBFS
    return _encoded(tmp / "square.wav", Audio(np.tile(x, (2, 1)), RATE), "wav", bit_depth=24)


def eight_channels(tmp: Path) -> bytes:
    path = tmp / "71.wav"
    pan = "pan=7.1|" + "|".join(f"c{i}=c0" for i in range(8))
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:r=48000:d=1", "-af", pan, "-c:a", "pcm_s16le", path)
    return path.read_bytes()


def rate(hz: int) -> Callable[[Path], bytes]:
    def make(tmp: Path) -> bytes:
        return _encoded(tmp / f"r{hz}.wav", _tone(seconds=1.0, rate=hz, dbfs=-12.0), "wav")

    return make


def hours_of_silence(tmp: Path) -> bytes:
    """HOURS_CASE_S of digital silence in a FLAC of a few tens of kB (65535-frame blocks)."""
    path = tmp / "hours.flac"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", str(HOURS_CASE_S), "-c:a", "flac",
           "-sample_fmt", "s16", "-frame_size", "65535", path)
    return path.read_bytes()


def huge_id3_tag(tmp: Path, tag_bytes: int = 16 * 1024 * 1024) -> bytes:
    """An MP3 behind a 16 MiB ID3v2.4 TXXX frame (a very large embedded 'comment')."""
    mp3 = _encoded(tmp / "tagged.mp3", _tone(seconds=2.0), "mp3")
    payload = b"\x03" + b"notes\x00" + b"la " * (tag_bytes // 3)
    frame = b"TXXX" + _syncsafe(len(payload)) + b"\x00\x00" + payload
    return b"ID3\x04\x00\x00" + _syncsafe(len(frame)) + frame + mp3


def _syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def mp4_video_and_audio(tmp: Path) -> bytes:
    path = tmp / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=15:duration=3", "-f", "lavfi", "-i",
           "sine=f=330:r=48000:d=3", "-c:v", "mpeg4", "-c:a", "aac", "-shortest", path)
    return path.read_bytes()


def mp4_video_only(tmp: Path) -> bytes:
    path = tmp / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=15:duration=2", "-c:v", "mpeg4", path)
    return path.read_bytes()


@dataclass(frozen=True)
class HostileCase:
    name: str
    filename: str
    make: Callable[[Path], bytes]
    outcome: str  # "completed" or "failed" (of the import)
    phrases: tuple[str, ...] = ()  # failed: the error message contains one of these (lower case)
    expect: dict = field(default_factory=dict)  # completed: status_details.metrics values (approx)


CASES: tuple[HostileCase, ...] = (
    HostileCase("zero_bytes", "empty.wav", zero_bytes, "failed", ("empty",)),
    HostileCase("random_bytes_wav", "noise.wav", random_bytes, "failed", ("not an audio file",)),
    HostileCase("random_bytes_mp3", "noise.mp3", random_bytes, "failed", ("not an audio file",)),
    HostileCase("truncated_wav", "cut.wav", truncated("wav"), "failed", ("cut short",)),
    HostileCase("truncated_flac", "cut.flac", truncated("flac"), "failed", ("cut short",)),
    HostileCase("truncated_mp3", "cut.mp3", truncated("mp3"), "failed", ("cut short",)),
    HostileCase("wav_header_claims_gigabytes", "liar.wav", lying_wav, "failed", ("cut short",)),
    HostileCase("one_sample", "blip.wav", one_sample, "completed", expect={"duration_s": 1 / RATE}),
    HostileCase("float_nan_inf", "nan.wav", nan_inf_wav, "failed", ("nan or infinity",)),
    HostileCase("dc_only", "dc.wav", dc_only, "completed", expect={"duration_s": 2.0, "sample_peak_dbfs": -6.02}),
    HostileCase("square_full_scale", "square.wav", square_full_scale, "completed",
                expect={"duration_s": 2.0, "sample_peak_dbfs": 0.0}),
    HostileCase("eight_channels", "surround.wav", eight_channels, "failed", ("8 channels",)),
    HostileCase("rate_8k", "phone.wav", rate(8000), "completed", expect={"sample_rate": 8000, "duration_s": 1.0}),
    HostileCase("rate_384k", "hires.wav", rate(384000), "failed", ("384000 hz",)),
    HostileCase("hours_from_a_tiny_file", "hours.flac", hours_of_silence, "failed",
                ("longer than", "decodes to more than")),
    HostileCase("huge_metadata_tag", "tagged.mp3", huge_id3_tag, "completed", expect={"duration_s": 2.0}),
    HostileCase("mp4_video_and_audio", "clip.mp4", mp4_video_and_audio, "completed",
                expect={"duration_s": 3.0, "sample_rate": 48000}),
    HostileCase("mp4_video_without_audio", "silent.mp4", mp4_video_only, "failed", ("no audio track",)),
)


def control_track(tmp: Path) -> bytes:
    """A plain 3 s stereo WAV that must import and master whatever else is in the queue."""
    return _encoded(tmp / "control.wav", _tone(seconds=3.0, dbfs=-10.0), "wav")


# --- hostile links ----------------------------------------------------------------------------------
#: loopback, private, link-local, metadata, unspecified, multicast and NAT addresses, spelled every way
#: a URL parser or resolver accepts: dotted, decimal, hex, octal, short, IPv6, IPv4 inside IPv6, zone ids
PRIVATE_SPELLINGS = [
    "127.0.0.1",
    "127.0.0.2",
    "2130706433",
    "0x7f000001",
    "0x7f.0.0.1",
    "0x7f.1",
    "017700000001",
    "127.1",
    "127.0.0.1.",
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]",
    "169.254.169.254",
    "2852039166",
    "0xa9fea9fe",
    "[::ffff:169.254.169.254]",
    "[::ffff:a9fe:a9fe]",
    "[fd00:ec2::254]",
    "100.100.100.200",
    "10.0.0.1",
    "167772161",
    "172.16.0.1",
    "192.168.1.1",
    "0xc0a80101",
    "[fd00::1]",
    "[fe80::1]",
    "[fe80::1%25eth0]",
    "0.0.0.0",
    "0",
    "[::]",
    "224.0.0.1",
    "localhost",
    "LOCALHOST",
    "localhost.",
    "api.localhost",
    "127。0。0。1",
]
OTHER_SCHEMES = [
    "ftp://example.com/a.wav",
    "file:///etc/passwd",
    "gopher://example.com:70/_GET",
    "dict://127.0.0.1:11211/stats",
    "ldap://example.com/",
    "data:audio/wav;base64,UklGRg==",
    "javascript:alert(1)",
    "//example.com/a.wav",
    "http:///nohost.wav",
    "/etc/passwd",
    "",
]

# --- running the cases against a server --------------------------------------------------------------
TERMINAL = ("completed", "failed")
#: words that must never reach a musician in an error message
LEAKS = ("traceback", "internal error", "exception", "errno", "/blobs/", ".tmp", "sqlite")


@dataclass
class Outcome:
    case: HostileCase
    audio_id: str
    sha256: str
    status: dict | None = None  # the last GET /status/audio answer
    master_id: str | None = None
    master_status: dict | None = None


@dataclass
class HostileRun:
    outcomes: list[Outcome]
    controls: list[Outcome]
    http_statuses: list[int]  # every answer the server gave during the run
    elapsed_s: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(1 for s in self.http_statuses if s >= 500)

    def stuck(self) -> list[str]:
        """Imports or masters not completed/failed when the run ended."""
        out = []
        for o in self.outcomes + self.controls:
            if o.status is None or o.status["status"] not in TERMINAL:
                out.append(f"{o.case.name}: import")
            if o.master_id and (o.master_status is None or o.master_status["status"] not in TERMINAL):
                out.append(f"{o.case.name}: master")
        return out


def originals_lost(data_dir: Path, run: HostileRun) -> list[str]:
    """Uploads whose stored original (local blob store) is missing or differs from what was sent."""
    import hashlib

    lost = []
    for o in run.outcomes + run.controls:
        blob = Path(data_dir) / "blobs" / "audio" / o.audio_id / "original"
        if not blob.is_file() or hashlib.sha256(blob.read_bytes()).hexdigest() != o.sha256:
            lost.append(o.case.name)
    return lost


def run_cases(base_url: str, api_key: str, tmp: Path, cases: tuple[HostileCase, ...] = CASES,
              timeout_s: float = 600.0) -> HostileRun:
    """Upload a control track, every case, a control again; master the control and every case that
    imported; poll until everything has ended (or `timeout_s`)."""
    import hashlib
    import time

    import httpx

    headers = {"X-API-Key": api_key}
    statuses: list[int] = []
    t0 = time.monotonic()
    control = HostileCase("control", "control.wav", control_track, "completed", expect={"duration_s": 3.0})
    order = [control, *cases, control]
    with httpx.Client(base_url=base_url, headers=headers, timeout=120.0) as client:

        def call(method: str, url: str, **kw) -> httpx.Response:
            r = client.request(method, url, **kw)
            statuses.append(r.status_code)
            return r

        uploaded: list[Outcome] = []
        for case in order:
            data = case.make(tmp)
            r = call("POST", "/from-file", files={"audio": (case.filename, data, "application/octet-stream")})
            if r.status_code != 200:
                raise RuntimeError(f"upload of {case.name} answered {r.status_code}: {r.text[:300]}")
            uploaded.append(Outcome(case, r.json()["audio_id"], hashlib.sha256(data).hexdigest()))

        def poll(kind: str, attr: str, id_attr: str, items: list[Outcome]) -> None:
            deadline = time.monotonic() + timeout_s
            pending = list(items)
            while pending and time.monotonic() < deadline:
                for o in list(pending):
                    r = call("GET", f"/status/{kind}/{getattr(o, id_attr)}")
                    if r.status_code == 200:
                        setattr(o, attr, r.json())
                        if r.json()["status"] in TERMINAL:
                            pending.remove(o)
                if pending:
                    time.sleep(0.25)

        poll("audio", "status", "audio_id", uploaded)
        for o in uploaded:
            if o.status and o.status["status"] == "completed":
                r = call("POST", "/master-audio", json={"audio_id": o.audio_id, "use_restored": False})
                if r.status_code == 200:
                    o.master_id = r.json()["id"]
        poll("mastered", "master_status", "master_id", [o for o in uploaded if o.master_id])
    controls = [uploaded[0], uploaded[-1]]
    return HostileRun(uploaded[1:-1], controls, statuses, time.monotonic() - t0)


_RSS_SCRIPT = """
import resource, sys
from mastertape.audio import decode
from mastertape.errors import MastertapeError
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
outcome = "decoded"
try:
    with open(sys.argv[1], "rb") as fh:  # a file object, as the import job passes it
        decode(fh, max_duration_s=float(sys.argv[2]))
except MastertapeError as exc:
    outcome = type(exc).__name__
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(base, peak, outcome)
"""


def decode_peak_rss_mib(path: Path, max_duration_s: float = 3 * 3600.0) -> tuple[float, float, str]:
    """(peak RSS of a fresh process after imports, peak RSS after decoding `path`, outcome), in MiB."""
    import sys

    proc = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, str(path), str(max_duration_s)],
                          capture_output=True, text=True, check=True)
    base_kib, peak_kib, outcome = proc.stdout.split()
    return int(base_kib) / 1024, int(peak_kib) / 1024, outcome
