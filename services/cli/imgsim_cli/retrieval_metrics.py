"""How good a ranking of paintings is: precision@k, average precision@k, pair AUC, and chance.

Plain functions of numbers and labels, with no I/O, so that each can be checked on a case whose
answer is known by hand.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.floating[Any]]
Similarity = Literal["cosine", "l2"]


def precision_at_k(relevant: Sequence[bool], k: int) -> float:
    """The share of the first `k` neighbours that are relevant. Fewer than `k` neighbours count
    as misses: a search that found too little must not look better for it."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    return sum(1 for hit in relevant[:k] if hit) / k


def average_precision_at_k(relevant: Sequence[bool], k: int, total_relevant: int) -> float | None:
    """AP@k: the precision at each rank up to `k` that holds a relevant neighbour, summed and
    divided by min(k, `total_relevant`), the most relevant neighbours k ranks can hold (as in
    Kaggle's apk). None when nothing in the collection is relevant: no ranking can be judged."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if total_relevant <= 0:
        return None
    found, summed = 0, 0.0
    for rank, hit in enumerate(relevant[:k], start=1):
        if hit:
            found += 1
            summed += found / rank
    return summed / min(k, total_relevant)


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the values that are there; None when none is."""
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def average_ranks(values: Sequence[float] | npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Ranks from 1, ties sharing the mean of the ranks they span."""
    array = np.asarray(values, dtype=np.float64)
    order = np.argsort(array, kind="mergesort")
    distinct, first, counts = np.unique(array[order], return_index=True, return_counts=True)
    # A run of equal values at sorted positions first..first+count-1 gets the mean of their ranks.
    shared = first + (counts + 1) / 2.0
    ranks = np.empty(len(array), dtype=np.float64)
    ranks[order] = np.repeat(shared, counts)
    return ranks


def pair_auc(
    scores: Sequence[float] | npt.NDArray[Any], positive: Sequence[bool] | npt.NDArray[Any]
) -> float | None:
    """The probability that a random positive pair scores above a random negative one, ties
    counted half (the Mann-Whitney U statistic over n_pos * n_neg). None without both kinds."""
    labels = np.asarray(positive, dtype=bool)
    if len(labels) != len(scores):
        raise ValueError(f"{len(scores)} scores for {len(labels)} labels")
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = average_ranks(scores)
    u = float(ranks[labels].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def pair_similarities(vectors: Vectors, similarity: Similarity) -> npt.NDArray[np.float64]:
    """The similarity of every pair i < j (in `np.triu_indices` order): the cosine, or the
    negative Euclidean distance, so that higher means more alike for both."""
    matrix = np.asarray(vectors, dtype=np.float64)
    rows, cols = np.triu_indices(len(matrix), k=1)
    # Through the n x n Gram matrix, never n^2 / 2 pairs of d-wide rows.
    if similarity == "cosine":
        norms = np.linalg.norm(matrix, axis=1)
        # A zero vector is alike to nothing: its cosine is 0, not NaN.
        unit = matrix / np.where(norms > 0, norms, 1.0)[:, np.newaxis]
        similar: npt.NDArray[np.float64] = (unit @ unit.T)[rows, cols]
        return similar
    squared = np.sum(matrix**2, axis=1)
    gram = matrix @ matrix.T
    distances: npt.NDArray[np.float64] = np.sqrt(
        np.maximum(squared[rows] + squared[cols] - 2 * gram[rows, cols], 0.0)
    )
    return -distances


def same_label_pairs(labels: Sequence[str]) -> npt.NDArray[np.bool_]:
    """For every pair i < j (in `np.triu_indices` order): whether the two share the label."""
    codes = np.unique(np.asarray(labels, dtype=object), return_inverse=True)[1]
    rows, cols = np.triu_indices(len(labels), k=1)
    same: npt.NDArray[np.bool_] = codes[rows] == codes[cols]
    return same


def chance_precision(query_label: str, label_counts: Mapping[str, int], candidates: int) -> float:
    """The expected precision@k of a random ranking: the share of the other candidates that
    share the query's label (the query, one of the candidates, never ranks itself)."""
    if candidates <= 1:
        return 0.0
    return max(label_counts.get(query_label, 0) - 1, 0) / (candidates - 1)
