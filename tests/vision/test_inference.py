"""ONNX export of the extractor, checked against TensorFlow; and the refusal of a bad export."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from imgsim_common.model_card import backbone_card
from imgsim_vision import inference
from imgsim_vision.inference import (
    OnnxBackend,
    OnnxMismatchError,
    TensorFlowBackend,
    Vectors,
    make_backend,
    probe_batch,
    verify,
)
from imgsim_vision.model import LoadedModel, build_extractor, weights_version

from tests.vision.tiny_models import TAPS, tiny_backbone


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    extractor = build_extractor(tiny_backbone(), TAPS)
    return LoadedModel(extractor, backbone_card("tiny", 32, "random", weights_version(extractor)))


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


class _RecordingExtractor:
    """The extractor, noting the files its exports write; `after_write` runs right after one is
    written, before it is renamed into place: where another replica sharing the ONNX cache can
    come in with an export of the same model."""

    def __init__(self, loaded: LoadedModel, after_write: Callable[[], None] = lambda: None) -> None:
        self._model = loaded.extractor
        self._after_write = after_write
        self.written: list[Path] = []

    def predict_on_batch(self, pixels: np.ndarray) -> Any:
        return self._model.predict_on_batch(pixels)

    def export(self, filepath: str, **options: Any) -> None:
        self._model.export(filepath, **options)
        self.written.append(Path(filepath))
        self._after_write()


def test_replicas_exporting_the_same_model_at_once_end_with_one_good_file(
    loaded: LoadedModel, tmp_path: Path
) -> None:
    rival = _RecordingExtractor(loaded)
    rival_paths: list[Path] = []

    def rival_exports() -> None:
        rival_model = LoadedModel(rival, loaded.card)
        rival_paths.append(inference.export_onnx(rival_model, tmp_path))

    raced = _RecordingExtractor(loaded, after_write=rival_exports)

    backend = make_backend(LoadedModel(raced, loaded.card), "onnx", tmp_path, tolerance=1e-4)

    assert isinstance(backend, OnnxBackend), "the race must not fall back to TensorFlow"
    assert raced.written[0] != rival.written[0], "two writers shared a file"
    assert [p.name for p in tmp_path.iterdir()] == [rival_paths[0].name], "one file, no leftover"
    pixels = probe_batch(32, 3)
    final = OnnxBackend(rival_paths[0])(pixels)
    for name, vectors in TensorFlowBackend(loaded)(pixels).items():
        np.testing.assert_allclose(final[name], vectors, rtol=1e-4, atol=1e-5)


def test_a_failed_export_leaves_no_file_behind(loaded: LoadedModel, tmp_path: Path) -> None:
    class Crashing(_RecordingExtractor):
        def export(self, filepath: str, **options: Any) -> None:
            Path(filepath).write_bytes(b"half an ONNX file")
            raise RuntimeError("converter crashed")

    crashing = LoadedModel(Crashing(loaded), loaded.card)

    with pytest.raises(RuntimeError, match="converter crashed"):
        inference.export_onnx(crashing, tmp_path)

    assert list(tmp_path.iterdir()) == []


class _Tiny:
    """Outputs at an untrained backbone's scale (~1e-11), optionally off by 10%."""

    name = "tiny"

    def __init__(self, off: float) -> None:
        self.off = off

    def __call__(self, pixels: inference.Pixels) -> Vectors:
        values = pixels.reshape(len(pixels), -1)[:, :8].astype(np.float32) * 1e-13
        return {"global": values * (1 + self.off)}


def test_an_export_wrong_at_a_tiny_scale_is_refused() -> None:
    # A trained model standardises these features back to ~1: 10% off is 10% off there too.
    with pytest.raises(OnnxMismatchError, match=r"differ by 1.00e-01 > 1e-03"):
        verify(_Tiny(0.1), _Tiny(0.0), 32, tolerance=1e-3)
    assert verify(_Tiny(1e-6), _Tiny(0.0), 32, tolerance=1e-3) < 1e-5
