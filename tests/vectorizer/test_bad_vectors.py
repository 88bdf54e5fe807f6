"""A network that gives a vector the index would refuse (missing, of other dimensions, not
finite, all zeros) makes a dead letter with the reason, never a record the sink fails on."""

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from imgsim_common.model_card import backbone_card
from imgsim_common.painting_records import vector_problem
from imgsim_common.records import ImagePathRecord
from imgsim_vectorizer.vectorizing import Destination, Message, Vectorizer
from imgsim_vision.inference import Pixels, Vectors
from PIL import Image

CARD = backbone_card("tiny", 16, "random", "1")
NAME, DIMS = CARD.representation_list()[0].name, CARD.representation_list()[0].dims
Change = Callable[[Vectors], Vectors]


def good(pixels: Pixels) -> Vectors:
    return {r.name: np.ones((len(pixels), r.dims), np.float32) for r in CARD.representation_list()}


class ChangedBackend:
    """The network's vectors, then `change` (a bug, a bad export, a model of other sizes)."""

    name = "changed"

    def __init__(self, change: Change) -> None:
        self.change = change

    def __call__(self, pixels: Pixels) -> Vectors:
        return self.change(good(pixels))


def _replace(vector: Callable[[int], np.ndarray]) -> Change:
    def change(vectors: Vectors) -> Vectors:
        return {**vectors, NAME: vector(len(vectors[NAME]))}

    return change


def _without(vectors: Vectors) -> Vectors:
    return {name: v for name, v in vectors.items() if name != NAME}


def _nan_in_one(vectors: Vectors) -> Vectors:
    vector = vectors[NAME].copy()
    vector[:, 3] = np.nan
    return {**vectors, NAME: vector}


BAD: dict[str, tuple[Change, str]] = {
    "missing": (_without, f"the model gave no {DIMS}-dim {NAME!r} vector"),
    "one short": (
        _replace(lambda n: np.ones((n, DIMS - 1), np.float32)),
        f"the model gave no {DIMS}-dim {NAME!r} vector",
    ),
    "one more": (
        _replace(lambda n: np.ones((n, DIMS + 1), np.float32)),
        f"the model gave no {DIMS}-dim {NAME!r} vector",
    ),
    "not finite": (_nan_in_one, f"the {NAME!r} vector is not finite or all zeros"),
    "infinite": (
        _replace(lambda n: np.full((n, DIMS), np.inf, np.float32)),
        f"the {NAME!r} vector is not finite or all zeros",
    ),
    "zeros": (
        _replace(lambda n: np.zeros((n, DIMS), np.float32)),
        f"the {NAME!r} vector is not finite or all zeros",
    ),
}


def _vectorize(root: Path, backend: ChangedBackend) -> list[tuple[Destination, dict]]:  # type: ignore[type-arg]
    Image.new("RGB", (20, 20), (120, 30, 200)).save(root / "a.jpg")
    message = Message(
        b"a.jpg", ImagePathRecord(id="a.jpg", path="a.jpg").model_dump_json().encode()
    )
    with ThreadPoolExecutor(1) as pool:
        vectorizer = Vectorizer(backend, CARD, 16, root, 2**20, 10**6, pool)
        batch = asyncio.run(vectorizer.decode([message]))
        outgoing = vectorizer.infer(batch)
    return [
        (o.destination, json.loads(o.value) if o.destination is Destination.DEAD_LETTERS else {})
        for o in outgoing
    ]


def test_good_vectors_make_a_vector_record(tmp_path: Path) -> None:
    assert _vectorize(tmp_path, ChangedBackend(lambda vectors: vectors)) == [
        (Destination.VECTOR_RECORDS, {})
    ]


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_vector_the_index_would_refuse_is_a_dead_letter_with_its_reason(
    tmp_path: Path, case: str
) -> None:
    change, message = BAD[case]

    ((destination, letter),) = _vectorize(tmp_path, ChangedBackend(change))

    assert destination is Destination.DEAD_LETTERS
    assert (letter["reason"], letter["message"]) == ("bad_vector", message)
    assert letter["record"]["id"] == "a.jpg"


@pytest.mark.parametrize(
    "vector",
    [np.ones(DIMS - 1), np.ones(DIMS + 1), np.ones((1, DIMS)), np.ones(0)],
    ids=["short", "long", "two-dimensional", "empty"],
)
def test_a_vector_of_other_dimensions_is_named_as_such(vector: np.ndarray) -> None:
    assert vector_problem(NAME, DIMS, vector) == f"the model gave no {DIMS}-dim {NAME!r} vector"
    assert vector_problem(NAME, DIMS, None) == f"the model gave no {DIMS}-dim {NAME!r} vector"
    assert vector_problem(NAME, DIMS, np.ones(DIMS)) is None
