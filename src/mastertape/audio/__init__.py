"""Audio I/O: decode any supported format to `Audio`, encode WAV/FLAC and lossy previews, resample."""

from mastertape.audio.decode import AudioInfo, decode, probe
from mastertape.audio.encode import SUPPORTED_OUTPUT_FORMATS, encode
from mastertape.audio.resample import resample
from mastertape.audio.types import Audio

__all__ = ["Audio", "AudioInfo", "SUPPORTED_OUTPUT_FORMATS", "decode", "encode", "probe", "resample"]
