"""Brute force over the corpus in numpy: the true neighbours a search's recall is measured
against, and the check that an exact search returned exactly them."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from imgsim_common.representations import Metric

# float32 sums of up to 960 products in Elasticsearch, against float64 here.
SCORE_TOLERANCE = 2e-6
# Candidates ranked in float32 before their float64 scores decide: far more than any tie.
SHORTLIST = 64


@dataclass(frozen=True)
class Neighbours:
    ids: list[str]
    scores: list[float]


class BruteForce:
    """Elasticsearch's scores of every painting: (1 + cosine) / 2, 1 / (1 + squared L2)."""

    def __init__(self, ids: Sequence[str], vectors: npt.NDArray[np.float32]) -> None:
        self.ids = list(ids)
        self.vectors = vectors
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self.unit = (vectors / norms).astype(np.float32)
        self.squares = (vectors.astype(np.float64) ** 2).sum(axis=1)

    def _exact(
        self, rows: npt.NDArray[np.intp], query: npt.NDArray[np.float64], metric: Metric
    ) -> npt.NDArray[np.float64]:
        stored = self.vectors[rows].astype(np.float64)
        if metric == Metric.COSINE:
            cosine = stored @ query / (np.linalg.norm(stored, axis=1) * np.linalg.norm(query))
            return np.asarray((1 + cosine) / 2)
        return np.asarray(1 / (1 + ((stored - query) ** 2).sum(axis=1)))

    def neighbours(
        self, queries: npt.NDArray[np.float32], metric: Metric, k: int, leave_out: Sequence[str]
    ) -> list[Neighbours]:
        """The `k` best of every painting but `leave_out[i]` for each query row, ties by id."""
        if metric == Metric.COSINE:
            rough = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ self.unit.T
        else:  # the smallest distance: the largest 2 q.x - |x|^2
            rough = 2 * queries @ self.vectors.T - self.squares.astype(np.float32)
        shortlist = np.argpartition(-rough, SHORTLIST, axis=1)[:, :SHORTLIST]
        found = []
        for row, query in enumerate(queries.astype(np.float64)):
            rows = shortlist[row]
            scores = self._exact(rows, query, metric)
            ranked = sorted(
                (
                    (float(s), self.ids[r])
                    for r, s in zip(rows, scores, strict=True)
                    if self.ids[r] != leave_out[row]
                ),
                key=lambda hit: (-hit[0], hit[1]),
            )[:k]
            found.append(Neighbours([i for _, i in ranked], [s for s, _ in ranked]))
        return found

    def score(self, painting_id: str, query: npt.NDArray[np.float32], metric: Metric) -> float:
        row = np.array([self.ids.index(painting_id)], dtype=np.intp)
        return float(self._exact(row, query.astype(np.float64), metric)[0])


def recall(found: Sequence[str], true: Neighbours) -> float:
    return len(set(found) & set(true.ids)) / len(true.ids)


def exactly(
    hits: Sequence[Mapping[str, Any]], true: Neighbours, score_of: Mapping[str, float]
) -> bool:
    """The hits are brute force's, in its order, with its scores; two paintings brute force
    cannot tell apart (within float32's precision) may stand in either order."""
    if len(hits) != len(true.ids):
        return False
    for hit, want_id, want_score in zip(hits, true.ids, true.scores, strict=True):
        mine = score_of.get(hit["id"])
        if mine is None or abs(float(hit["score"]) - mine) > SCORE_TOLERANCE:
            return False
        if hit["id"] != want_id and abs(mine - want_score) > SCORE_TOLERANCE:
            return False
    return True
