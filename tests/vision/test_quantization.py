"""The int8 fast path: quantized from the float export, used only when its vectors pass the
fidelity gate, cached beside the export, chosen by the backend setting."""

import logging
from pathlib import Path

import keras
import numpy as np
import onnx
import pytest
from imgsim_common.model_card import backbone_card
from imgsim_vectorizer.settings import VectorizerSettings
from imgsim_vision import inference, model, quantization
from imgsim_vision.fidelity import FidelityReport
from imgsim_vision.inference import OnnxBackend, make_backend
from imgsim_vision.model import LoadedModel, build_extractor, weights_version
from imgsim_vision.probe_paintings import probe_paintings

from tests.vision.tiny_models import TAPS, texture_backbone


def _loaded(backbone: keras.Model) -> LoadedModel:
    extractor = build_extractor(backbone, TAPS)
    version = weights_version(extractor)
    return LoadedModel(extractor, backbone_card(backbone.name, 32, "random", version))


def outlier_backbone() -> keras.Model:
    """Quantizes badly by construction: one channel of `early` is ~10,000 while the others,
    which alone feed `middle` and `late`, stay below 1, so an 8-bit `early` rounds them away."""
    keras.utils.set_random_seed(0)
    pixels = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255)(pixels)
    # The convolution reading the pixels stays float (`quantization.first_convolutions`).
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="stem")(x)
    early = keras.layers.Conv2D(8, 3, activation="relu", name="early")
    x = early(x)
    kernel, bias = early.get_weights()
    kernel[..., 0], bias[0] = 0.0, 10_000.0
    early.set_weights([kernel, bias])
    middle = keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="middle")
    x = middle(x)
    kernel, bias = middle.get_weights()
    kernel[:, :, 0, :], bias[:] = 0.0, 0.0
    middle.set_weights([kernel, bias])
    x = keras.layers.Conv2D(24, 3, strides=2, name="late")(x)
    return keras.Model(pixels, x, name="tiny_outlier")


@pytest.fixture(autouse=True)
def fewer_paintings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quantization, "CALIBRATION_PAINTINGS", 32)
    monkeypatch.setattr(quantization, "PROBE_PAINTINGS", 120)


@pytest.fixture(scope="module")
def texture() -> LoadedModel:
    return _loaded(texture_backbone())


def test_a_model_that_quantizes_well_runs_in_int8_close_to_float(
    texture: LoadedModel, tmp_path: Path
) -> None:
    backend = make_backend(texture, "onnx-int8", tmp_path, tolerance=1e-4)

    assert isinstance(backend, OnnxBackend) and backend.name == "onnx-int8"
    graph = onnx.load(str(backend.path)).graph
    assert any(node.op_type == "QuantizeLinear" for node in graph.node)
    assert any(init.data_type == onnx.TensorProto.INT8 for init in graph.initializer)
    float_path = inference.export_onnx(texture, tmp_path)
    report = quantization.cached_report(float_path)
    assert report is not None and report.passed
    assert {r.name for r in report.representations} == {"global", "mid", "style"}
    pixels = probe_paintings(16, 32, seed=9)
    fast, reference = backend(pixels), OnnxBackend(float_path)(pixels)
    for name, want in reference.items():
        got = fast[name]
        cosine = np.sum(got * want, 1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
        assert cosine.min() > 0.95, name
    # `style` taps the first convolution, which stays float; the others read int8 layers.
    assert not np.array_equal(fast["global"], reference["global"])


def test_a_model_that_quantizes_badly_falls_back_to_float_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loaded = _loaded(outlier_backbone())

    with caplog.at_level(logging.INFO, logger="imgsim_vision"):
        backend = make_backend(loaded, "onnx-int8", tmp_path, tolerance=1e-4)

    assert isinstance(backend, OnnxBackend) and backend.name == "onnx"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "fails the fidelity gate" in warnings[0] and "float ONNX model" in warnings[0]
    report = quantization.cached_report(backend.path)
    assert report is not None and not report.passed
    for failure in report.failures:
        assert f"{failure.name}: cosine min" in warnings[0]
        assert f"mean {failure.cosine_mean:.4f}" in warnings[0]


def test_the_quantized_model_and_its_verdict_are_reused(
    texture: LoadedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = _loaded(outlier_backbone())
    first = make_backend(texture, "onnx-int8", tmp_path, tolerance=1e-4)
    make_backend(bad, "onnx-int8", tmp_path, tolerance=1e-4)
    files = sorted(p.name for p in tmp_path.iterdir())

    def no_quantizing(*args: object, **kwargs: object) -> None:
        raise AssertionError("quantized again")

    monkeypatch.setattr(quantization, "quantize", no_quantizing)
    again = make_backend(texture, "onnx-int8", tmp_path, tolerance=1e-4)
    bad_again = make_backend(bad, "onnx-int8", tmp_path, tolerance=1e-4)

    assert again.name == "onnx-int8" and isinstance(again, OnnxBackend)
    assert isinstance(first, OnnxBackend) and again.path == first.path
    assert bad_again.name == "onnx", "a failed verdict is cached too"
    assert sorted(p.name for p in tmp_path.iterdir()) == files
    assert not any("partial" in name for name in files)
    assert len([n for n in files if n.endswith(".fidelity.json")]) == 2


def test_a_failed_quantization_runs_the_float_model(
    texture: LoadedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crashing(*args: object, **kwargs: object) -> None:
        raise RuntimeError("calibration crashed")

    monkeypatch.setattr(quantization, "quantize", crashing)

    backend = make_backend(texture, "onnx-int8", tmp_path, tolerance=1e-4)

    assert isinstance(backend, OnnxBackend) and backend.name == "onnx"
    assert quantization.cached_report(backend.path) is None


@pytest.mark.parametrize("kind", ["onnx", "onnx-int8"])
def test_the_backend_setting_selects_the_fast_path(
    kind: str, texture: LoadedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VECTORIZER_BACKEND", kind)
    monkeypatch.setenv("VECTORIZER_ONNX_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(model, "load", lambda *args: texture)

    _, backend = inference.load_model_backend(VectorizerSettings())

    assert backend.name == kind
    quantized = quantization.cached_files(inference.export_onnx(texture, tmp_path))[0]
    assert quantized.exists() == (kind == "onnx-int8")


def test_the_part_only_failing_representations_read_stays_float(
    texture: LoadedModel, tmp_path: Path
) -> None:
    graph = onnx.load(str(inference.export_onnx(texture, tmp_path))).graph

    only_global = quantization.exclusive_nodes(graph, ["global"], ["mid", "style"])
    shared = quantization.exclusive_nodes(graph, ["mid"], ["global"])

    assert any("late" in name for name in only_global)
    assert not any("early" in name or "middle" in name for name in only_global)
    assert any("mid_pool" in name for name in shared)
    assert not any(layer in name for name in shared for layer in ("early", "middle", "late")), (
        "global reads the whole trunk that mid reads"
    )


def test_the_report_survives_the_cache(tmp_path: Path) -> None:
    vectors = {"global": np.random.default_rng(0).standard_normal((40, 8)).astype(np.float32)}
    from imgsim_vision import fidelity

    report = fidelity.measure(vectors, vectors)
    report.save(tmp_path / "report.json")

    assert FidelityReport.load(tmp_path / "report.json") == report


def test_the_convolutions_reading_the_pixels_stay_float(
    texture: LoadedModel, tmp_path: Path
) -> None:
    graph = onnx.load(str(inference.export_onnx(texture, tmp_path))).graph

    first = quantization.first_convolutions(graph)

    assert any("early" in name for name in first)
    assert any(node.op_type == "Relu" and node.name in first for node in graph.node)
    assert not any("middle" in name or "late" in name for name in first)
