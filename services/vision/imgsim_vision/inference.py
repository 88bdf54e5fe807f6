"""Inference backends: TensorFlow, or onnxruntime running the same network exported to ONNX,
or that export quantized to int8 (`quantization`).

The ONNX export is cached per model version and checked against TensorFlow's outputs on a probe
batch before it is used; a mismatch falls back to TensorFlow with an error in the log, never to
wrong vectors. The int8 model is used only when it passes the fidelity gate (`fidelity`) against
the verified float export; otherwise the float export runs, with one warning naming why.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from imgsim_vision.settings import ModelSettings

if TYPE_CHECKING:  # the model module imports TensorFlow; the search API must not need it
    from imgsim_vision.model import LoadedModel

log = logging.getLogger(__name__)

Pixels = npt.NDArray[np.uint8]
Vectors = dict[str, npt.NDArray[np.float32]]


class Backend(Protocol):
    name: str

    def __call__(self, pixels: Pixels) -> Vectors: ...


class TensorFlowBackend:
    name = "tensorflow"

    def __init__(self, loaded: LoadedModel) -> None:
        self._model = loaded.extractor

    def __call__(self, pixels: Pixels) -> Vectors:
        outputs = self._model.predict_on_batch(pixels.astype(np.float32))
        return {name: np.asarray(value, dtype=np.float32) for name, value in outputs.items()}


class OnnxBackend:
    def __init__(self, path: Path, threads: int | None = None, name: str = "onnx") -> None:
        import onnxruntime as ort

        self.name = name
        self.path = path

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        # Idle intra-op threads sleep instead of spinning: between and inside batches the
        # decode threads get those cycles. On 2 cores, spinning cost the pipeline ~5% of the
        # raw model's throughput and gained the raw model nothing (bench/vectorizer_bench.py).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._outputs = [output.name for output in self._session.get_outputs()]

    def __call__(self, pixels: Pixels) -> Vectors:
        values: list[Any] = self._session.run(
            self._outputs, {self._input: pixels.astype(np.float32)}
        )
        return {
            name: np.asarray(v, dtype=np.float32)
            for name, v in zip(self._outputs, values, strict=True)
        }


class OnnxMismatchError(RuntimeError):
    pass


def export_onnx(loaded: LoadedModel, cache_dir: Path) -> Path:
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = loaded.info.name.replace(":", "-").replace("/", "-")
    path = cache_dir / f"{name}-{loaded.info.version}-{loaded.input_size}.onnx"
    if not path.exists():
        log.info("exporting %s to ONNX at %s", loaded.info.name, path)
        # Replicas share the cache (`--scale vectorizer=3`) and may export the same model at
        # once: each writes a file of its own and renames it into place atomically, so a reader
        # sees no file or a whole one, and the last rename wins with an equal export.
        # (A name of its own rather than mkstemp's file: that one is private to its owner, and
        # the export must keep the permissions other users' replicas may need to read it.)
        partial = path.with_name(f"{path.stem}.{uuid.uuid4().hex}.partial.onnx")
        try:
            # Keras exports only a model that has been called: that fixes its input signature.
            loaded.extractor.predict_on_batch(probe_batch(loaded.input_size, 1).astype(np.float32))
            loaded.extractor.export(str(partial), format="onnx", verbose=False)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    return path


def probe_batch(size: int, count: int = 4) -> Pixels:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def verify(candidate: Backend, reference: Backend, size: int, tolerance: float) -> float:
    """Largest output difference, relative to the output's scale; raises above tolerance.

    Relative to the output's own largest value, however small: an untrained backbone's outputs
    are ~1e-11, and a trained model standardises them back to ~1, so an export that is wrong at
    that scale would give wrong trained vectors."""
    pixels = probe_batch(size)
    expected, actual = reference(pixels), candidate(pixels)
    worst = 0.0
    for name, want in expected.items():
        got = actual.get(name)
        if got is None or got.shape != want.shape:
            raise OnnxMismatchError(f"output {name!r} missing or of another shape")
        scale = max(float(np.abs(want).max()), float(np.finfo(np.float32).tiny))
        worst = max(worst, float(np.abs(got - want).max()) / scale)
    if worst > tolerance:
        raise OnnxMismatchError(f"outputs differ by {worst:.2e} > {tolerance:.0e}")
    return worst


def make_backend(loaded: LoadedModel, kind: str, cache_dir: Path, tolerance: float) -> Backend:
    reference = TensorFlowBackend(loaded)
    if kind == "tensorflow":
        return reference
    try:
        onnx = OnnxBackend(export_onnx(loaded, cache_dir))
        difference = verify(onnx, reference, loaded.input_size, tolerance)
    except Exception as e:  # noqa: BLE001 - any failed export or check means: do not use it
        log.error("ONNX backend refused (%s); running on TensorFlow instead", e)
        return reference
    log.info("ONNX export verified against TensorFlow (max relative difference %.1e)", difference)
    if kind == "onnx-int8":
        return fast_backend(loaded, onnx)
    return onnx


def fast_backend(loaded: LoadedModel, reference: OnnxBackend) -> Backend:
    """The int8 model when it passes the fidelity gate against the float export, else that."""
    from imgsim_vision import quantization

    names = [r.name for r in loaded.card.representations]
    try:
        path, report = quantization.prepare(reference.path, reference, loaded.input_size, names)
        fast = OnnxBackend(path, name=quantization.KIND)
    except Exception as e:  # noqa: BLE001 - a failed quantization means: run the float model
        log.error("int8 fast path refused (%s); running the float ONNX model instead", e)
        return reference
    if not report.passed:
        log.warning(
            "int8 fast path not used, it fails the fidelity gate on %d paintings: %s; "
            "running the float ONNX model instead",
            report.paintings,
            "; ".join(r.describe() for r in report.failures),
        )
        return reference
    worst = min(report.representations, key=lambda r: (r.overlap, r.cosine_mean))
    log.info("int8 fast path passed the fidelity gate (closest to failing: %s)", worst.describe())
    return fast


def load_model_backend(settings: ModelSettings) -> tuple[LoadedModel, Backend]:
    """The model and the backend that runs it: the worker and the search API load it alike."""
    from imgsim_vision import model

    loaded = model.load(settings.backbone, settings.weights, settings.model_path)
    backend = make_backend(
        loaded, settings.backend, settings.onnx_cache_dir, settings.onnx_tolerance
    )
    return loaded, backend
