"""Reading the bundled checkpoints: numpy arrays only, nothing else a pickle could carry."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mastertape.errors import PresetUnavailable
from mastertape.stems import checkpoint


def _archive(path: Path, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("model/data.pkl", payload)
        z.writestr("model/version", "3\n")
    return path


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_arrays_round_trip_through_the_restricted_unpickler(tmp_path: Path) -> None:
    data = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.array([1.5, -2.0], dtype=np.float32)}
    with zipfile.ZipFile(tmp_path / "ok.ckpt", "w") as z:
        z.writestr("m/data.pkl", pickle.dumps(data, protocol=2))
    with zipfile.ZipFile(tmp_path / "ok.ckpt") as z, z.open("m/data.pkl") as fh:
        back = checkpoint._ArrayUnpickler(fh).load()
    assert set(back) == {"a", "b"}
    np.testing.assert_array_equal(back["a"], data["a"])
    np.testing.assert_array_equal(back["b"], data["b"])


def test_code_in_a_checkpoint_is_refused(tmp_path: Path) -> None:
    path = _archive(tmp_path / "evil.ckpt", pickle.dumps({"x": _Evil()}, protocol=2))
    with pytest.raises(PresetUnavailable, match="refused global"):
        checkpoint.load_arrays(path)


def test_a_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    shapes = checkpoint.expected_shapes()
    data = {k: np.zeros(1, dtype=np.float32) for k in shapes}
    path = _archive(tmp_path / "other.ckpt", pickle.dumps(data, protocol=2))
    with pytest.raises(PresetUnavailable, match="do not match"):
        checkpoint.load_arrays(path)


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "junk.ckpt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(PresetUnavailable, match="cannot be read"):
        checkpoint.load_arrays(path)


def test_expected_shapes_describe_two_input_channels_and_a_two_channel_mask() -> None:
    shapes = checkpoint.expected_shapes()
    assert shapes["down1_conv.1.weight"] == (16, 2, 5, 5)
    assert shapes["down6_conv.1.weight"] == (512, 256, 5, 5)
    assert shapes["up7.0.weight"] == (2, 1, 4, 4)
    assert len(shapes) == 6 * 6 + 6 * 6 + 2
