"""Retrieval quality: the neighbours the search API returns for each held-out painting, scored by
how many share its style, genre and artist; and the same scores for random neighbours.

Neighbours outside the labelled set (other paintings in the index) are dropped before scoring,
which is why each query asks the API for more than k.
"""

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from imgsim_cli import retrieval_metrics
from imgsim_cli.evaluate_client import SearchApi, SearchApiError, Searched
from imgsim_cli.evaluate_set import LABELS, LabelledSet

# How many failed queries are quoted in the report.
QUOTED_FAILURES = 3


@dataclass
class Scores:
    """Precision@k and AP@k of every query that has the label, per label."""

    precision: dict[str, list[float]] = field(default_factory=lambda: {n: [] for n in LABELS})
    average_precision: dict[str, list[float | None]] = field(
        default_factory=lambda: {n: [] for n in LABELS}
    )
    queries: int = 0
    short: int = 0  # queries that got fewer than k neighbours from the set

    def add(
        self,
        labels: Mapping[str, str],
        neighbours: Sequence[Mapping[str, str]],
        k: int,
        relevant_totals: Mapping[str, int],
    ) -> None:
        self.queries += 1
        self.short += len(neighbours) < k
        for label, value in labels.items():
            relevant = [n.get(label) == value for n in neighbours]
            self.precision[label].append(retrieval_metrics.precision_at_k(relevant, k))
            self.average_precision[label].append(
                retrieval_metrics.average_precision_at_k(relevant, k, relevant_totals[label])
            )

    def summary(self) -> dict[str, Any]:
        return {
            "precision": {n: retrieval_metrics.mean(v) for n, v in self.precision.items()},
            "map": {n: retrieval_metrics.mean(v) for n, v in self.average_precision.items()},
            "queries_with_label": {n: len(v) for n, v in self.precision.items()},
            "queries": self.queries,
            "short": self.short,
        }


class Candidates:
    """The labelled paintings that are in the index: what a neighbour may be."""

    def __init__(self, labelled: LabelledSet, indexed: Collection[str]) -> None:
        self.labelled = labelled
        self.ids = frozenset(i for i in labelled.paintings if i in indexed)
        self.counts = {n: labelled.label_counts(self.ids, n) for n in LABELS}

    def relevant_totals(self, painting_id: str) -> dict[str, int]:
        """Per label: the other candidates that share the painting's label."""
        labels = self.labelled.paintings[painting_id].labels
        return {n: self.counts[n][v] - (painting_id in self.ids) for n, v in labels.items()}

    def score(self, scores: Scores, query: str, ranking: Sequence[str], k: int) -> None:
        kept = [i for i in ranking if i in self.ids and i != query][:k]
        paintings = self.labelled.paintings
        scores.add(
            paintings[query].labels,
            [paintings[i].labels for i in kept],
            k,
            self.relevant_totals(query),
        )


@dataclass
class Retrieval:
    scores: dict[tuple[str, str], Scores]  # by (representation, metric)
    requests: int = 0
    failures: Counter[str] = field(default_factory=Counter)


async def retrieve(
    api: SearchApi,
    candidates: Candidates,
    queries: Sequence[str],
    searched: Searched,
    k: int,
    fetch: int,
    advance: Callable[[], None] = lambda: None,
) -> Retrieval:
    """One similar-by-id query per painting and metric (every representation at once), run
    concurrently; `fetch` neighbours asked for, `k` kept after leaving out other paintings."""
    result = Retrieval({(r, m): Scores() for m, names in searched.items() for r in names})

    async def one(query: str, metric: str) -> None:
        try:
            rankings = await api.similar(query, searched[metric], metric, fetch)
        except SearchApiError as e:
            result.failures[f"{e.status or 'no answer'}: {e.message}"] += 1
            return
        finally:
            result.requests += 1
            advance()
        for representation in searched[metric]:
            ranking = rankings.get(representation, [])
            candidates.score(result.scores[(representation, metric)], query, ranking, k)

    await asyncio.gather(*(one(q, m) for q in queries for m in searched))
    return result


def random_baseline(
    candidates: Candidates, queries: Sequence[str], k: int, draws: int, seed: int
) -> tuple[Scores, dict[str, float | None]]:
    """The scores of `draws` random rankings per query, drawn from the candidates with `seed`;
    and, beside them, the precision chance predicts (the share of a query's label)."""
    rng = random.Random(seed)
    pool = sorted(candidates.ids)
    scores = Scores()
    for query in queries:
        for _ in range(draws):
            # One more than k, in case the query itself is drawn (it is then left out).
            drawn = rng.sample(pool, min(k + 1, len(pool)))
            candidates.score(scores, query, drawn, k)
    expected = {
        label: retrieval_metrics.mean(
            retrieval_metrics.chance_precision(
                candidates.labelled.paintings[q].labels[label],
                candidates.counts[label],
                len(candidates.ids),
            )
            for q in queries
            if label in candidates.labelled.paintings[q].labels
        )
        for label in LABELS
    }
    return scores, expected
