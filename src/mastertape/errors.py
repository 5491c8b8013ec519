"""Typed domain errors, each with a stable code.

Every layer raises these; the HTTP status and the JSON shape `{error: {code, message, field?}}`
are decided in exactly one place (`api/errors.py`) from `http_status` here. The CLI prints
`message` on one line and exits non-zero.
"""

from __future__ import annotations


class MastertapeError(Exception):
    """Base class: a human message, a stable machine code and the HTTP status it maps to."""

    code: str = "mastertape_error"
    http_status: int = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict:
        body: dict = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


# --- audio input -------------------------------------------------------------------------
class AudioError(MastertapeError):
    """The audio itself cannot be used."""

    code = "audio_error"
    http_status = 422


class UnsupportedAudio(AudioError):
    """Not decodable audio (wrong type, corrupt, no audio stream)."""

    code = "unsupported_audio"
    http_status = 415


class EmptyAudio(AudioError):
    """The file decodes to no samples at all."""

    code = "empty_audio"


class TruncatedAudio(AudioError):
    """The file ends before its header says it should, or decoding fails part way."""

    code = "truncated_audio"


class TooManyChannels(AudioError):
    """More than two channels."""

    code = "too_many_channels"


class UnsupportedSampleRate(AudioError):
    """Sample rate outside the supported range."""

    code = "unsupported_sample_rate"


class AudioTooLong(AudioError):
    """Duration above the configured limit."""

    code = "audio_too_long"


class SilentAudio(AudioError):
    """Silent or near-silent input that cannot be brought to a loudness target."""

    code = "silent_audio"


class InvalidAudioValues(AudioError):
    """NaN or infinite samples."""

    code = "invalid_audio_values"


# --- settings / requests -----------------------------------------------------------------
class InvalidSetting(MastertapeError):
    """A parameter value out of range or of the wrong kind; `field` names it."""

    code = "invalid_setting"
    http_status = 422


class UnknownGenre(InvalidSetting):
    code = "unknown_genre"


class UnknownPreset(InvalidSetting):
    code = "unknown_preset"


class UnknownFormat(InvalidSetting):
    code = "unknown_format"


class PresetUnavailable(MastertapeError):
    """The preset exists but cannot run on this server (missing model weights, optional extra)."""

    code = "preset_unavailable"
    http_status = 422


class EncodeError(MastertapeError):
    """Writing an output file failed."""

    code = "encode_error"
    http_status = 500


# --- service -----------------------------------------------------------------------------
class NotFound(MastertapeError):
    code = "not_found"
    http_status = 404


class NotReady(MastertapeError):
    code = "not_ready"
    http_status = 409


class Unauthorized(MastertapeError):
    code = "unauthorized"
    http_status = 401


class PayloadTooLarge(MastertapeError):
    code = "payload_too_large"
    http_status = 413


class TooManyJobs(MastertapeError):
    code = "too_many_jobs"
    http_status = 429


class LinkRejected(MastertapeError):
    """A from-link URL that is not allowed (scheme, private address, too large, too slow)."""

    code = "link_rejected"
    http_status = 422


class ServiceUnavailable(MastertapeError):
    """A backing service (broker, storage, database) cannot be reached."""

    code = "service_unavailable"
    http_status = 503


class StorageError(MastertapeError):
    code = "storage_error"
    http_status = 503


class Forbidden(MastertapeError):
    """A signed download link that is invalid or expired."""

    code = "forbidden"
    http_status = 403
