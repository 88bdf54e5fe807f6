"""How closely a fast model's vectors follow the float model's, measured on what users see.

Per representation: the cosine similarity between each painting's fast and float vectors (its
minimum, a low quantile and its mean), and how many of each painting's 10 nearest neighbours
among the probe paintings stay the same, by cosine and by L2 (the two metrics the index offers),
averaged over the paintings. A fast model passes only when every representation passes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

Vectors = dict[str, npt.NDArray[np.float32]]

NEIGHBOURS = 10
MIN_MEAN_COSINE = 0.98
# The low quantile keeps a few paintings from being badly off while the mean looks fine.
LOW_QUANTILE = 0.05
MIN_LOW_COSINE = 0.95
MIN_OVERLAP = 0.9
_TINY = float(np.finfo(np.float64).tiny)


@dataclass(frozen=True)
class RepresentationFidelity:
    name: str
    cosine_min: float
    cosine_low: float  # at LOW_QUANTILE
    cosine_mean: float
    overlap_cosine: float  # of the top NEIGHBOURS, fast vs float
    overlap_l2: float

    @property
    def overlap(self) -> float:
        return min(self.overlap_cosine, self.overlap_l2)

    @property
    def passed(self) -> bool:
        return (
            self.cosine_mean >= MIN_MEAN_COSINE
            and self.cosine_low >= MIN_LOW_COSINE
            and self.overlap >= MIN_OVERLAP
        )

    def describe(self) -> str:
        return (
            f"{self.name}: cosine min {self.cosine_min:.4f} p{LOW_QUANTILE * 100:02.0f} "
            f"{self.cosine_low:.4f} mean {self.cosine_mean:.4f} (>= {MIN_MEAN_COSINE}, "
            f"p{LOW_QUANTILE * 100:02.0f} >= {MIN_LOW_COSINE}), top-{NEIGHBOURS} overlap cosine "
            f"{self.overlap_cosine:.3f} L2 {self.overlap_l2:.3f} (>= {MIN_OVERLAP})"
        )


@dataclass(frozen=True)
class FidelityReport:
    paintings: int
    representations: tuple[RepresentationFidelity, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.representations)

    @property
    def failures(self) -> tuple[RepresentationFidelity, ...]:
        return tuple(r for r in self.representations if not r.passed)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> FidelityReport:
        data: dict[str, Any] = json.loads(path.read_text())
        return cls(
            int(data["paintings"]),
            tuple(RepresentationFidelity(**r) for r in data["representations"]),
        )


def measure(fast: Vectors, reference: Vectors) -> FidelityReport:
    """Figures of the fast vectors against the reference's, painting by painting."""
    figures = []
    for name, want in reference.items():
        got = fast[name]
        cosine = np.sum(_unit(got) * _unit(want), axis=1)
        figures.append(
            RepresentationFidelity(
                name,
                float(cosine.min()),
                float(np.quantile(cosine, LOW_QUANTILE)),
                float(cosine.mean()),
                neighbour_overlap(got, want, "cosine"),
                neighbour_overlap(got, want, "l2"),
            )
        )
    return FidelityReport(len(next(iter(reference.values()))), tuple(figures))


def neighbour_overlap(fast: npt.NDArray[Any], reference: npt.NDArray[Any], metric: str) -> float:
    """Mean share of each painting's top-NEIGHBOURS (itself left out) that both vectors agree on."""
    k = min(NEIGHBOURS, len(reference) - 1)
    found = _top(fast, metric, k)
    expected = _top(reference, metric, k)
    shared = [len(set(a) & set(b)) for a, b in zip(found, expected, strict=True)]
    return float(np.mean(shared)) / k


def _top(vectors: npt.NDArray[Any], metric: str, k: int) -> npt.NDArray[np.intp]:
    # float64 and a common scale: an untrained backbone's vectors are ~1e-10, whose squares
    # underflow float32.
    values = vectors.astype(np.float64)
    values = values / max(float(np.abs(values).max()), _TINY)
    if metric == "cosine":
        unit = _unit(values)
        distance = -(unit @ unit.T)
    else:
        squares = np.sum(values * values, axis=1)
        distance = squares[:, None] + squares[None, :] - 2 * values @ values.T
    np.fill_diagonal(distance, np.inf)
    # Stable sort: ties (identical vectors) rank by painting, the same for both.
    return np.argsort(distance, axis=1, kind="stable")[:, :k]


def _unit(vectors: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    values = vectors.astype(np.float64)
    values = values / max(float(np.abs(values).max()), _TINY)
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    unit: npt.NDArray[np.float64] = values / np.maximum(norms, _TINY)
    return unit
