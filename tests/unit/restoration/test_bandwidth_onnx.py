"""Model-folder plug-in (onnx_models.py): availability, loading and chunked overlap-add on tiny ONNX models."""

import json

import numpy as np
import pytest

from mastertape.audio import Audio
from mastertape.errors import PresetUnavailable
from mastertape.restoration import InpaintRegion, RestoreSettings, restore
from mastertape.restoration import onnx_models as om

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

SR = 44100


def save_model(path, nodes, inputs, output_shape, initializers=()):
    """Write a one-graph ONNX model (opset 17) to `path` (creating its folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, output_shape)], initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def const(name, value):
    return helper.make_tensor(name, TensorProto.FLOAT, [], [value])


def gain_model(path, gain=2.0, channels="C", time="T"):
    """out = gain * audio."""
    return save_model(path, [helper.make_node("Mul", ["audio", "g"], ["out"])],
                      [("audio", [1, channels, time])], [1, channels, time], [const("g", gain)])


def ones_model(path):
    """out = 0 * audio + 1: reveals how the chunk outputs are weighted and normalised."""
    nodes = [helper.make_node("Mul", ["audio", "zero"], ["z"]), helper.make_node("Add", ["z", "one"], ["out"])]
    return save_model(path, nodes, [("audio", [1, "C", "T"])], [1, "C", "T"], [const("zero", 0.0), const("one", 1.0)])


def mask_model(path):
    """out = audio + 0.5 * mask (mono): the mask must arrive aligned with the audio."""
    nodes = [helper.make_node("Mul", ["mask", "h"], ["m"]), helper.make_node("Add", ["audio", "m"], ["out"])]
    return save_model(path, nodes, [("audio", [1, 1, "T"]), ("mask", [1, 1, "T"])], [1, 1, "T"], [const("h", 0.5)])


def write_config(folder, **cfg):
    (folder / "config.json").write_text(json.dumps(cfg))


def noise(frames, channels=2, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal((channels, frames))).astype(np.float32)


def test_without_weights_the_presets_are_unavailable_with_a_reason(tmp_path):
    for preset in ("dacvae", "acestep_15_xl", "stable_audio_3"):
        reason = om.unavailable_reason(RestoreSettings(preset=preset))
        assert "MASTERTAPE_MODEL_DIR" in reason and f"{preset}/model.onnx" in reason
        reason = om.unavailable_reason(RestoreSettings(preset=preset, model_dir=tmp_path))
        assert str(tmp_path / preset / "model.onnx") in reason
        with pytest.raises(PresetUnavailable, match="model.onnx"):
            restore(Audio(noise(1000), SR), RestoreSettings(preset=preset, model_dir=tmp_path))


def test_chunked_gain_model_reproduces_the_gain_exactly(tmp_path):
    folder = tmp_path / "dacvae"
    gain_model(folder / "model.onnx")
    write_config(folder, chunk=1000, overlap=250, channels=2)
    x = noise(5555)
    out, report = restore(Audio(x, SR), RestoreSettings(preset="dacvae", model_dir=tmp_path))
    assert report.backend == "onnx:dacvae/model.onnx" and report.repairs == ("model",)
    assert report.metrics["chunk"] == 1000 and report.metrics["overlap"] == 250
    np.testing.assert_allclose(out.samples, 2.0 * x, atol=1e-6)


def test_overlap_add_weights_are_normalised(tmp_path):
    path = ones_model(tmp_path / "acestep_15_xl" / "model.onnx")
    sess, config = om.load_model(path)
    for n, chunk, overlap in ((5555, 1000, 250), (999, 1000, 100), (3000, 1000, 0), (4100, 512, 511)):
        y = om.run_chunked(sess, config, noise(n, channels=1), chunk, overlap)
        assert y.shape == (1, n)
        np.testing.assert_allclose(y, 1.0, atol=1e-6)
    starts = om.chunk_starts(5555, 1000, 250)
    assert starts[0] == 0 and np.all(np.diff(starts) == 750) and starts[-1] + 1000 >= 5555 > starts[-1] + 250


def test_fixed_time_axis_sets_the_chunk_and_mono_models_run_per_channel(tmp_path):
    path = gain_model(tmp_path / "acestep_15_xl" / "model.onnx", gain=0.5, channels=1, time=800)
    _, config = om.load_model(path)
    assert config.chunk == 800 and config.channels == 1
    x = noise(3000)
    y = om.apply_model(x, SR, path, stereo_mode="left_right")
    np.testing.assert_allclose(y, 0.5 * x, atol=1e-6)
    y = om.apply_model(x, SR, path, stereo_mode="single_pass")  # stereo audio, mono model: each channel
    np.testing.assert_allclose(y, 0.5 * x, atol=1e-6)


def test_model_rate_from_config_resamples_around_the_model(tmp_path):
    folder = tmp_path / "dacvae"
    path = gain_model(folder / "model.onnx", gain=2.0)
    write_config(folder, sample_rate=22050, chunk=4096, overlap=512)
    t = np.arange(SR) / SR
    x = np.tile(0.2 * np.sin(2 * np.pi * 1000 * t), (2, 1)).astype(np.float32)
    y = om.apply_model(x, SR, path)
    assert y.shape == x.shape
    mid = slice(2000, -2000)
    assert np.max(np.abs(y[:, mid] - 2 * x[:, mid])) < 1e-3


def test_model_name_variant_is_preferred(tmp_path):
    gain_model(tmp_path / "dacvae" / "model.onnx", gain=2.0)
    gain_model(tmp_path / "dacvae" / "music_musedb" / "model.onnx", gain=3.0)
    x = noise(2000)
    out, _ = restore(Audio(x, SR), RestoreSettings(preset="dacvae", model_dir=tmp_path))
    np.testing.assert_allclose(out.samples, 3.0 * x, atol=1e-6)
    out, _ = restore(Audio(x, SR), RestoreSettings(preset="dacvae", model_dir=tmp_path, model_name="other"))
    np.testing.assert_allclose(out.samples, 2.0 * x, atol=1e-6)


def test_inpainting_model_gets_the_mask_and_only_the_regions_change(tmp_path):
    folder = tmp_path / "stable_audio_3"
    mask_model(folder / "model.onnx")
    write_config(folder, chunk=2048, overlap=256)
    x = noise(SR, channels=1)
    region = InpaintRegion(0.5, 0.6)
    out, report = restore(Audio(x, SR), RestoreSettings(preset="stable_audio_3", model_dir=tmp_path,
                                                        inpaint_regions=(region,)))
    assert report.backend == "onnx:stable_audio_3/model.onnx" and report.repairs == ("inpaint",)
    d = out.samples[0] - x[0]
    s, e = int(0.5 * SR), int(round(0.6 * SR))
    np.testing.assert_allclose(d[s:e], 0.5, atol=1e-6)
    fade = int(om.INPAINT_FADE_S * SR)
    assert np.all(d[: s - fade] == 0) and np.all(d[e + fade :] == 0)


def test_a_broken_model_file_is_reported_not_passed_through(tmp_path):
    folder = tmp_path / "dacvae"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(PresetUnavailable, match="cannot be loaded"):
        restore(Audio(noise(1000), SR), RestoreSettings(preset="dacvae", model_dir=tmp_path))
