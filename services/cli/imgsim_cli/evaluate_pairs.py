"""Pair AUC (the Painter by Numbers competition's metric): how well the similarity of two
held-out paintings' vectors tells whether they share a style, or an artist.

Reported apart for paintings by artists seen in training and by unseen ones: a network can learn
the training artists by heart, and the gap between the two says how much of what it learnt
carries to painters it never saw. The vectors are the ones in the index, read through the API.
"""

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal, cast

import numpy as np

from imgsim_cli import retrieval_metrics
from imgsim_cli.evaluate_client import SearchApi, SearchApiError, Searched
from imgsim_cli.evaluate_set import LabelledSet

PAIR_LABELS: Final = ("style", "genre", "artist")
RANDOM: Final = "random"  # the representation name of the random vectors chance is scored with
# By (representation, metric), label and group ("unseen", "seen", "all"): an AUC record.
PairQuality = dict[tuple[str, str], dict[str, dict[str, dict[str, Any]]]]
Group = Literal["unseen", "seen", "all"]
# The API's vectors of a painting: per representation a vector, or a vector per metric.
StoredVectors = Mapping[str, Any]


async def fetch_vectors(
    api: SearchApi, ids: Sequence[str], advance: Callable[[], None] = lambda: None
) -> tuple[dict[str, StoredVectors], str | None]:
    """The vectors of each painting; and, when the API gives none, why (None when it does)."""
    found: dict[str, StoredVectors] = {}
    failures: list[str] = []

    async def one(painting_id: str) -> None:
        try:
            vectors = await api.painting_vectors(painting_id)
        except SearchApiError as e:
            failures.append(f"{painting_id}: {e.status or 'no answer'} {e.message}")
            return
        finally:
            advance()
        if vectors is not None:
            found[painting_id] = vectors

    await asyncio.gather(*(one(i) for i in ids))
    if not found:
        reason = (
            failures[0]
            if failures
            else "the API returns no vectors with a painting (GET /paintings/{id}?vectors=true)"
        )
        return found, reason
    return found, None


def vector_of(stored: StoredVectors, representation: str, metric: str) -> list[float] | None:
    vector = stored.get(representation)
    if isinstance(vector, Mapping):
        vector = vector.get(metric)
    return cast(list[float], vector) if isinstance(vector, list) and vector else None


def groups(labelled: LabelledSet, ids: Sequence[str]) -> dict[Group, list[str]]:
    """The paintings by artists seen in training, by unseen ones, and all of them."""
    seen = labelled.seen_artists()
    result: dict[Group, list[str]] = {"all": list(ids)}
    if labelled.split != "none":
        artist = {i: labelled.paintings[i].labels.get("artist") for i in ids}
        result["seen"] = [i for i in ids if artist[i] is not None and artist[i] in seen]
        result["unseen"] = [i for i in ids if artist[i] is not None and artist[i] not in seen]
    return result


def group_aucs(
    labelled: LabelledSet,
    vectors: Mapping[str, StoredVectors],
    representation: str,
    metric: str,
    group: Sequence[str],
) -> dict[str, dict[str, Any]]:
    """Per label: the AUC of same-label pairs among `group`, with the paintings and pairs seen.
    The similarities are computed once; each label keeps the pairs whose paintings both have it."""
    kept = [i for i in group if i in vectors and vector_of(vectors[i], representation, metric)]
    if len(kept) >= 2:
        matrix = np.array([vector_of(vectors[i], representation, metric) for i in kept])
        similarity: retrieval_metrics.Similarity = "cosine" if metric == "cosine" else "l2"
        scores = retrieval_metrics.pair_similarities(matrix, similarity)
    else:
        scores = np.zeros(0)
    rows, cols = np.triu_indices(len(kept), k=1)
    result: dict[str, dict[str, Any]] = {}
    for label in PAIR_LABELS:
        values = [labelled.paintings[i].labels.get(label) for i in kept]
        has = np.array([v is not None for v in values], dtype=bool)
        both = has[rows] & has[cols]
        same = retrieval_metrics.same_label_pairs([v or "" for v in values])[both]
        result[label] = {
            "auc": retrieval_metrics.pair_auc(scores[both], same),
            "paintings": int(has.sum()),
            "pairs": int(both.sum()),
            "positive_pairs": int(same.sum()),
        }
    return result


def pair_quality(
    labelled: LabelledSet,
    vectors: Mapping[str, StoredVectors],
    searched: Searched,
    max_paintings: int,
    seed: int,
) -> PairQuality:
    """By (representation, metric), label and group: the pair AUC. A group larger than
    `max_paintings` is sampled down with `seed` (pairs grow with its square)."""
    ids = sorted(vectors)
    sampled = {
        name: sorted(random.Random(seed).sample(members, max_paintings))
        if len(members) > max_paintings
        else members
        for name, members in groups(labelled, ids).items()
    }
    quality: PairQuality = {}
    for m, names in searched.items():
        for r in names:
            by_group = {
                name: group_aucs(labelled, vectors, r, m, ids) for name, ids in sampled.items()
            }
            quality[(r, m)] = {
                label: {name: aucs[label] for name, aucs in by_group.items()}
                for label in PAIR_LABELS
            }
    return quality


def random_pair_quality(labelled: LabelledSet, max_paintings: int, seed: int) -> PairQuality:
    """The pair AUC of random vectors drawn with `seed`: what chance scores, by the same path."""
    rng = np.random.default_rng(seed)
    vectors = {i: {RANDOM: rng.standard_normal(16).tolist()} for i in labelled.queries}
    return pair_quality(labelled, vectors, {"cosine": [RANDOM]}, max_paintings, seed)
