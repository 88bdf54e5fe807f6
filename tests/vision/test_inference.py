"""ONNX export of the extractor, checked against TensorFlow; and the refusal of a bad export."""

from pathlib import Path

import numpy as np
import pytest
from imgsim_common.records import ModelInfo
from imgsim_vision import inference
from imgsim_vision.inference import (
    OnnxBackend,
    OnnxMismatchError,
    TensorFlowBackend,
    Vectors,
    make_backend,
    verify,
)
from imgsim_vision.model import LoadedModel, build_extractor, weights_version

from tests.vision.test_model import TAPS, tiny_backbone


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    extractor = build_extractor(tiny_backbone(), TAPS)
    return LoadedModel(extractor, ModelInfo(name="tiny", version=weights_version(extractor)), 32)


def test_onnx_export_gives_tensorflows_vectors(loaded: LoadedModel, tmp_path: Path) -> None:
    backend = make_backend(loaded, "onnx", tmp_path, tolerance=1e-4)

    assert isinstance(backend, OnnxBackend)
    pixels = np.random.default_rng(3).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    expected = TensorFlowBackend(loaded)(pixels)
    actual = backend(pixels)
    for name, vectors in expected.items():
        np.testing.assert_allclose(actual[name], vectors, rtol=1e-4, atol=1e-5)
    assert len(list(tmp_path.glob("*.onnx"))) == 1, "the export is cached per model version"


class _Skewed:
    name = "skewed"

    def __init__(self, reference: TensorFlowBackend) -> None:
        self.reference = reference

    def __call__(self, pixels: inference.Pixels) -> Vectors:
        return {k: v + 0.5 for k, v in self.reference(pixels).items()}


def test_an_export_that_disagrees_is_refused(loaded: LoadedModel) -> None:
    reference = TensorFlowBackend(loaded)

    with pytest.raises(OnnxMismatchError, match="differ"):
        verify(_Skewed(reference), reference, 32, tolerance=1e-3)


def test_a_failed_export_falls_back_to_tensorflow(
    loaded: LoadedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_export(loaded: LoadedModel, cache_dir: Path) -> Path:
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(inference, "export_onnx", broken_export)

    assert isinstance(make_backend(loaded, "onnx", tmp_path, 1e-4), TensorFlowBackend)
