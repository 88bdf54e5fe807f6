"""The int8 fast path: the float ONNX export, statically quantized, used only if its vectors pass
the fidelity gate.

onnxruntime's static quantization in QDQ form, weights int8 per output channel, activations uint8
(the U8S8 kernels AVX-512 VNNI runs fast), calibrated with MinMax on painted paintings
(`probe_paintings`). What gets quantized was chosen by the gate's figures on MobileNetV3Large and
on a trained model (tower and heads), 300 probe paintings, and by the raw model's speed:

- convolutions, their activations and the elementwise arithmetic between them (`QUANTIZED_OPS`):
  only when the tensors stay int8 from one convolution to the next does int8 pay; Conv alone
  was no faster than float;
- not MatMul: quantized, the Gram matrix (`style`) squares its rounding (mean cosine 0.987,
  top-10 overlap 0.79) and `layout`'s pooling einsums lose it its structure (mean cosine 0.94,
  overlap 0.75); the dense heads they would also cover are cheap anyway;
- not the fixed arithmetic of `layout`, the Gram and standardisation layers (`FIXED_ARITHMETIC`),
  nor the convolutions that read the pixels and what precedes them (`first_convolutions`).

Should some representations still fail (a trained model's tower did: top-10 overlap 0.84-0.88),
the part of the network only they read is kept float and the gate judges again. The quantized
model and its figures are cached beside the float export, named after it, so one quantization
serves every start and every replica sharing the cache, and a model that failed the gate is not
quantized again at each start.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imgsim_vision import fidelity, layout
from imgsim_vision.fidelity import FidelityReport
from imgsim_vision.probe_paintings import RECIPE, probe_paintings

log = logging.getLogger(__name__)

KIND = "onnx-int8"
# Convolutions, their activations (hard-swish is Add, Clip, Mul; squeeze-excite scales by Mul)
# and the shuffles between them: kept int8 through those, a tensor is not dequantized and
# quantized again at each. Raw backbone, one thread, interleaved in one run: 1.44x the float
# export's speed with Add and Mul quantized, 1.08x without them, 1.03x with Conv alone.
QUANTIZED_OPS = (
    "Conv",
    "Clip",
    "Relu",
    "Add",
    "Mul",
    "Transpose",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Pad",
    "Slice",
    "Split",
    "Flatten",
    "Resize",
    "AveragePool",
    "MaxPool",
)
# Node names holding one of these come from layers of fixed arithmetic, kept in float.
FIXED_ARITHMETIC = (f"/{layout.NAME}", "_gram", "standardization")
CALIBRATION_PAINTINGS = 64
PROBE_PAINTINGS = 300  # for the top-10 overlap: a few hundred paintings
_CALIBRATION_SEED, _PROBE_SEED = 1, 2  # the gate judges on paintings calibration never saw
_BATCH = 16
# Bumped when what is quantized or how changes: with the paintings' recipe, it names the cache.
VERSION = 4


def cached_files(float_path: Path) -> tuple[Path, Path]:
    """The quantized model and its fidelity report, beside the float export they come from."""
    stem = f"{float_path.stem}.int8-v{VERSION}p{RECIPE}"
    return float_path.with_name(f"{stem}.onnx"), float_path.with_name(f"{stem}.fidelity.json")


def cached_report(float_path: Path) -> FidelityReport | None:
    report_path = cached_files(float_path)[1]
    return FidelityReport.load(report_path) if report_path.exists() else None


def quantize(
    float_path: Path,
    out_path: Path,
    calibration: np.ndarray[Any, Any],
    keep_float: Collection[str] = (),
    keep_int8: Collection[str] = (),
) -> None:
    """Writes the int8 model; the part of the network that the representations in `keep_float`
    need and those in `keep_int8` do not stays float."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    graph = onnx.load(str(float_path)).graph
    input_name = graph.input[0].name
    excluded = [
        node.name for node in graph.node if any(part in node.name for part in FIXED_ARITHMETIC)
    ]
    excluded += first_convolutions(graph)
    excluded += exclusive_nodes(graph, keep_float, keep_int8)

    class Paintings(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime has no types
        def __init__(self) -> None:
            self._batches: Iterator[dict[str, Any]] = (
                {input_name: calibration[i : i + _BATCH].astype(np.float32)}
                for i in range(0, len(calibration), _BATCH)
            )

        def get_next(self) -> dict[str, Any] | None:
            return next(self._batches, None)

    # A file of its own renamed into place, as the float export: replicas may share the cache.
    partial = out_path.with_name(f"{out_path.stem}.{uuid.uuid4().hex}.partial.onnx")
    quiet = _Advice()
    logging.getLogger().addFilter(quiet)
    try:
        quantize_static(
            str(float_path),
            str(partial),
            Paintings(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(QUANTIZED_OPS),
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
            calibrate_method=CalibrationMethod.MinMax,
        )
        os.replace(partial, out_path)
    finally:
        logging.getLogger().removeFilter(quiet)
        partial.unlink(missing_ok=True)


class _Advice(logging.Filter):
    """onnxruntime advises pre-processing (`quant_pre_process`) on the root logger at every
    quantization; the quantized model is judged by the gate either way, and a worker's log
    should say what it decided, not carry a library's advice."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def first_convolutions(graph: Any) -> list[str]:
    """The convolutions that read the pixels (no convolution before them), their rectifiers and
    everything before them.

    Their input is the image itself, or a trained tower's standardised channels, whose 8-bit
    rounding the rest of the network cannot undo: with Conv, Clip and Relu quantized, a trained
    tower's first convolution in int8 left its representations at top-10 overlap 0.84-0.88, in
    float at 0.95-0.97. They cost little of the time: one layer at the input's few channels."""
    producers = {tensor: node for node in graph.node for tensor in node.output}
    first = []
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        pending = [producers[t] for t in node.input if t in producers]
        seen: set[str] = set()
        reads_a_convolution = False
        while pending and not reads_a_convolution:
            ancestor = pending.pop()
            if ancestor.name in seen:
                continue
            seen.add(ancestor.name)
            reads_a_convolution = ancestor.op_type == "Conv"
            pending.extend(producers[t] for t in ancestor.input if t in producers)
        if not reads_a_convolution:
            first.append(node)
    outputs = {tensor for node in first for tensor in node.output}
    rectifiers = [
        node.name
        for node in graph.node
        if node.op_type in ("Relu", "Clip") and outputs.intersection(node.input)
    ]
    # And what comes before them (preprocessing, a tower's standardisation): their input.
    before: set[str] = set()
    pending = [producers[t] for node in first for t in node.input if t in producers]
    while pending:
        node = pending.pop()
        if node.name not in before:
            before.add(node.name)
            pending.extend(producers[t] for t in node.input if t in producers)
    return [node.name for node in first] + rectifiers + sorted(before)


def exclusive_nodes(graph: Any, outputs: Collection[str], others: Collection[str]) -> list[str]:
    """The nodes `outputs` depend on and none of `others` does."""
    producers = {tensor: node for node in graph.node for tensor in node.output}

    def ancestors(tensors: Iterable[str]) -> set[str]:
        seen: set[str] = set()
        pending = [producers[t] for t in tensors if t in producers]
        while pending:
            node = pending.pop()
            if node.name not in seen:
                seen.add(node.name)
                pending.extend(producers[t] for t in node.input if t in producers)
        return seen

    return sorted(ancestors(outputs) - ancestors(others))


def judge(
    fast: Any,
    reference: Any,
    size: int,
    representations: Sequence[str],
    count: int = PROBE_PAINTINGS,
) -> FidelityReport:
    """The fidelity of `fast` against `reference` (both backends) on probe paintings, for the
    representations (a trained model's class probabilities are outputs, not vectors users see)."""
    paintings = probe_paintings(count, size, _PROBE_SEED)
    wanted = set(representations)
    fast_vectors, reference_vectors = (
        {k: v for k, v in vectors_of(b, paintings).items() if k in wanted}
        for b in (fast, reference)
    )
    return fidelity.measure(fast_vectors, reference_vectors)


def prepare(
    float_path: Path, reference: Any, size: int, representations: Sequence[str]
) -> tuple[Path, FidelityReport]:
    """The quantized model beside `float_path` and its figures against `reference`, the float
    backend; made once, then read from the cache."""
    from imgsim_vision.inference import OnnxBackend

    model_path, report_path = cached_files(float_path)
    report = cached_report(float_path)
    if report is not None and model_path.exists():
        return model_path, report
    log.info("quantizing %s to int8", float_path.name)
    calibration = probe_paintings(CALIBRATION_PAINTINGS, size, _CALIBRATION_SEED)
    quantize(float_path, model_path, calibration)
    report = judge(OnnxBackend(model_path, name=KIND), reference, size, representations)
    passing = [r.name for r in report.representations if r.passed]
    if not report.passed and passing:
        # A trained model's tower and heads feed only the trained representations: those
        # failing the gate get their own part of the network in float, the shared backbone
        # stays int8, and the gate judges again. (When none passes, nothing is left to gain.)
        failing = [r.name for r in report.failures]
        log.info("quantizing again with %s in float: %s", failing, report.failures[0].describe())
        quantize(float_path, model_path, calibration, keep_float=failing, keep_int8=passing)
        report = judge(OnnxBackend(model_path, name=KIND), reference, size, representations)
    partial = report_path.with_name(f"{report_path.name}.{uuid.uuid4().hex}.partial")
    try:
        report.save(partial)
        os.replace(partial, report_path)
    finally:
        partial.unlink(missing_ok=True)
    return model_path, report


def vectors_of(backend: Any, paintings: np.ndarray[Any, Any]) -> dict[str, Any]:
    parts: dict[str, list[Any]] = {}
    for start in range(0, len(paintings), 32):
        for name, values in backend(paintings[start : start + 32]).items():
            parts.setdefault(name, []).append(values)
    return {name: np.concatenate(values) for name, values in parts.items()}
