"""The ranking metrics of `imgsim evaluate`, on cases whose answers are known by hand."""

import itertools

import numpy as np
import pytest
from imgsim_cli import retrieval_metrics as rm


def test_precision_counts_relevant_neighbours_among_the_first_k() -> None:
    assert rm.precision_at_k([True, False, True, True], 4) == 0.75
    assert rm.precision_at_k([True, False, True, True], 2) == 0.5
    # Too few neighbours: the missing ones are misses, never a smaller denominator.
    assert rm.precision_at_k([True, True], 4) == 0.5
    with pytest.raises(ValueError):
        rm.precision_at_k([True], 0)


def test_average_precision_weighs_each_hit_by_the_precision_at_its_rank() -> None:
    # Hits at ranks 1 and 3 out of 2 relevant: (1/1 + 2/3) / 2.
    assert rm.average_precision_at_k([True, False, True], 3, 2) == pytest.approx(5 / 6)
    # The same hits when 10 are relevant in the collection: divided by min(k, 10) = 3.
    assert rm.average_precision_at_k([True, False, True], 3, 10) == pytest.approx(5 / 9)
    assert rm.average_precision_at_k([True, True, True], 3, 3) == 1.0
    assert rm.average_precision_at_k([False, False, True], 3, 1) == pytest.approx(1 / 3)
    assert rm.average_precision_at_k([False, False, False], 3, 5) == 0.0
    # Nothing relevant anywhere: there is no ranking to judge.
    assert rm.average_precision_at_k([False, False], 2, 0) is None


def test_average_ranks_share_ties() -> None:
    assert rm.average_ranks([10.0, 30.0, 20.0]).tolist() == [1.0, 3.0, 2.0]
    assert rm.average_ranks([5.0, 1.0, 5.0, 5.0, 0.0]).tolist() == [4.0, 2.0, 4.0, 4.0, 1.0]


def brute_force_auc(scores: list[float], positive: list[bool]) -> float:
    pos = [s for s, p in zip(scores, positive, strict=True) if p]
    neg = [s for s, p in zip(scores, positive, strict=True) if not p]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_pair_auc_is_one_for_a_perfect_ranking_and_zero_for_a_reversed_one() -> None:
    scores = [0.9, 0.8, 0.3, 0.1]
    assert rm.pair_auc(scores, [True, True, False, False]) == 1.0
    assert rm.pair_auc(scores, [False, False, True, True]) == 0.0


def test_pair_auc_counts_ties_half() -> None:
    # One positive and one negative with equal scores: a coin toss.
    assert rm.pair_auc([0.5, 0.5], [True, False]) == 0.5
    # Positive 0.7 beats both negatives; positive 0.4 ties one (half) and loses to none else.
    assert rm.pair_auc([0.7, 0.4, 0.4, 0.2], [True, True, False, False]) == pytest.approx(
        (1 + 1 + 0.5 + 1) / 4
    )


def test_pair_auc_equals_counting_every_pair() -> None:
    rng = np.random.default_rng(3)
    # Few distinct values, so that ties are many.
    scores = rng.integers(0, 5, 60).astype(float).tolist()
    positive = (rng.random(60) < 0.3).tolist()

    assert rm.pair_auc(scores, positive) == pytest.approx(brute_force_auc(scores, positive))


def test_pair_auc_needs_both_kinds() -> None:
    assert rm.pair_auc([0.1, 0.2], [True, True]) is None
    assert rm.pair_auc([0.1, 0.2], [False, False]) is None
    with pytest.raises(ValueError):
        rm.pair_auc([0.1], [True, False])


def test_pair_similarities_follow_the_pairs_order() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])

    cosine = rm.pair_similarities(vectors, "cosine")
    l2 = rm.pair_similarities(vectors, "l2")

    # Pairs (0,1), (0,2), (1,2).
    assert cosine.tolist() == pytest.approx([0.0, 1.0, 0.0])
    assert l2.tolist() == pytest.approx([-np.sqrt(5), -2.0, -np.sqrt(13)])


def test_a_zero_vector_is_alike_to_nothing() -> None:
    cosine = rm.pair_similarities(np.array([[0.0, 0.0], [1.0, 1.0]]), "cosine")

    assert cosine.tolist() == [0.0]


def test_same_label_pairs() -> None:
    assert rm.same_label_pairs(["a", "b", "a"]).tolist() == [False, True, False]
    assert rm.same_label_pairs([]).tolist() == []


def test_chance_precision_is_the_share_of_the_other_candidates_with_the_label() -> None:
    counts = {"Realism": 4, "Cubism": 6}

    # 3 of the 9 other candidates are Realism.
    assert rm.chance_precision("Realism", counts, 10) == pytest.approx(3 / 9)
    assert rm.chance_precision("Baroque", counts, 10) == 0.0
    assert rm.mean([0.5, None, 1.0]) == 0.75
    assert rm.mean([None]) is None
