"""The labelled set `imgsim evaluate` queries with: which paintings are held out, which artists
count as seen, and the neighbours it scores."""

import json
from pathlib import Path

import pytest
from imgsim_cli.evaluate_retrieval import Candidates, Scores, random_baseline
from imgsim_cli.evaluate_set import labelled_set


def rows(in_train: bool = True) -> dict[str, dict[str, object]]:
    """Monet: two in training, one held out. Degas: only held out. A row without labels."""
    made: dict[str, dict[str, object]] = {
        "monet/1.jpg": {"artist": "Monet", "style": "Impressionism", "in_train": "True"},
        "monet/2.jpg": {"artist": "Monet", "style": "Impressionism", "in_train": "true"},
        "monet/3.jpg": {"artist": "Monet", "style": "Impressionism", "in_train": "False"},
        "degas/1.jpg": {"artist": "Degas", "style": "Impressionism", "in_train": "False"},
        "degas/2.jpg": {"artist": "Degas", "style": "Realism", "in_train": "0"},
        "unknown.jpg": {"title": "Untitled"},
    }
    if not in_train:
        for row in made.values():
            row.pop("in_train", None)
    return made


def test_the_in_train_column_holds_out_the_rows_marked_false() -> None:
    labelled = labelled_set(rows(), images=8)

    assert labelled.split == "in_train"
    assert labelled.queries == ["degas/1.jpg", "degas/2.jpg", "monet/3.jpg"]
    assert labelled.seen_artists() == {"Monet"}
    assert labelled.images_without_row == 2
    # A row with no in_train cell is in neither split, and said so.
    assert labelled.paintings["unknown.jpg"].train is None
    assert any("neither split" in note for note in labelled.notes)


def test_an_in_train_value_that_is_no_boolean_is_refused() -> None:
    bad = rows()
    bad["monet/1.jpg"]["in_train"] = "perhaps"

    with pytest.raises(ValueError, match="monet/1.jpg.*perhaps"):
        labelled_set(bad, images=6)


def test_without_in_train_the_models_split_file_says(tmp_path: Path) -> None:
    split = {"train": ["monet/1.jpg", "degas/1.jpg"], "validation": ["monet/2.jpg", "degas/2.jpg"]}
    (tmp_path / "split.json").write_text(json.dumps(split))

    labelled = labelled_set(rows(in_train=False), images=6, model_dir=tmp_path)

    assert labelled.split == "split.json"
    assert labelled.queries == ["degas/2.jpg", "monet/2.jpg"]
    assert labelled.seen_artists() == {"Monet", "Degas"}


def test_a_split_file_of_another_set_is_refused(tmp_path: Path) -> None:
    (tmp_path / "split.json").write_text(json.dumps({"train": ["a.jpg"], "validation": ["b.jpg"]}))

    with pytest.raises(ValueError, match="none of the validation ids"):
        labelled_set(rows(in_train=False), images=6, model_dir=tmp_path)
    (tmp_path / "split.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="is not a split"):
        labelled_set(rows(in_train=False), images=6, model_dir=tmp_path)


def test_with_no_split_at_all_every_painting_is_a_query(tmp_path: Path) -> None:
    labelled = labelled_set(rows(in_train=False), images=6, model_dir=tmp_path)

    assert labelled.split == "none"
    assert len(labelled.queries) == 6
    assert labelled.seen_artists() == frozenset()
    assert "every painting is a query" in labelled.notes[0]


def test_sampling_keeps_the_same_queries_for_the_same_seed() -> None:
    first, again, other = (labelled_set(rows(in_train=False), images=6) for _ in range(3))
    first.sample_queries(3, seed=1)
    again.sample_queries(3, seed=1)
    other.sample_queries(None, seed=1)

    assert len(first.queries) == 3
    assert first.queries == again.queries
    assert len(other.queries) == 6
    assert first.held_out == 6


def test_neighbours_outside_the_set_are_left_out_and_too_few_count_as_misses() -> None:
    labelled = labelled_set(rows(), images=6)
    candidates = Candidates(labelled, indexed={*labelled.paintings, "elsewhere.jpg"})
    scores = Scores()

    # Two Impressionist neighbours after one from outside the set; k is 4.
    candidates.score(scores, "monet/3.jpg", ["elsewhere.jpg", "monet/1.jpg", "degas/1.jpg"], 4)

    summary = scores.summary()
    assert summary["precision"]["style"] == 0.5
    assert summary["precision"]["artist"] == 0.25
    # 3 other Impressionists: (1/1 + 2/2) / min(4, 3).
    assert summary["map"]["style"] == pytest.approx(2 / 3)
    assert summary["short"] == 1
    assert summary["queries_with_label"]["genre"] == 0


def test_the_random_baseline_draws_from_the_indexed_set_alone() -> None:
    labelled = labelled_set(rows(), images=6)
    # Only Impressionists are indexed: every random neighbour shares the query's style.
    indexed = {"monet/1.jpg", "monet/2.jpg", "monet/3.jpg", "degas/1.jpg"}
    candidates = Candidates(labelled, indexed)

    scores, expected = random_baseline(candidates, ["monet/3.jpg"], k=3, draws=5, seed=0)

    assert scores.summary()["precision"]["style"] == 1.0
    assert expected["style"] == 1.0
    assert scores.summary()["precision"]["artist"] == pytest.approx(2 / 3)
