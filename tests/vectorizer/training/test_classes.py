"""A head's classes: the long tail grouped into one class the card names."""

import numpy as np
import pytest
from imgsim_vectorizer.training.classes import MISSING, head_classes
from imgsim_vectorizer.training.dataset import TrainingDataError


def rows(*labels: str | None) -> list[dict[str, str]]:
    return [{} if label is None else {"style": label} for label in labels]


def test_classes_below_the_minimum_are_grouped_into_other() -> None:
    train = rows(*["Baroque"] * 5, *["Rococo"] * 6, "Ukiyoe", "Ukiyoe", "Fauvism", None)
    validation = rows("Baroque", "Ukiyoe", "Dada", None)

    head = head_classes("style", "style", train, validation, min_count=5)

    assert head.classes == ("Baroque", "Rococo", "other")
    # Dada has no training painting at all: grouped too.
    assert head.grouped == ("Dada", "Fauvism", "Ukiyoe")
    assert head.other_class == "other"
    assert head.indices(validation).tolist() == [0, 2, 2, MISSING]
    assert head.indices(train).tolist() == [0] * 5 + [1] * 6 + [2, 2, 2, MISSING]
    assert head.indices(train).dtype == np.int64


def test_nothing_is_grouped_when_every_class_is_common_enough() -> None:
    head = head_classes("genre", "style", rows("a", "a", "b", "b"), rows("b"), min_count=2)

    assert head.classes == ("a", "b")
    assert (head.grouped, head.other_class) == ((), None)


def test_the_group_never_takes_the_name_of_a_real_class() -> None:
    train = rows(*["other"] * 3, *["Baroque"] * 3, "Dada")

    head = head_classes("style", "style", train, [], min_count=3)

    assert head.classes == ("Baroque", "other", "(other)")
    assert head.other_class == "(other)"


def test_a_head_left_with_one_class_is_refused() -> None:
    with pytest.raises(TrainingDataError, match="style head would have 1 class"):
        head_classes("style", "style", rows("a", "a", "b"), [], min_count=5)
