"""The labelled set and its split: the publisher's ids, the CSV's in_train, a stratified split."""

from collections import Counter
from pathlib import Path

import pytest
from imgsim_vectorizer.training.dataset import TrainingDataError, read_labelled_set
from imgsim_vectorizer.training.split import split_paintings

COLUMNS = ["genre", "style"]


def folder_with(tmp_path: Path, *names: str) -> Path:
    images = tmp_path / "images"
    for name in names:
        path = images / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"an image")
    return images


def csv_with(tmp_path: Path, header: str, *rows: str) -> Path:
    path = tmp_path / "all_data_info.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_images_are_matched_to_rows_as_the_publisher_matches_them(tmp_path: Path) -> None:
    images = folder_with(tmp_path, "train/1.jpg", "test/2.jpg", "3.png", "unlabelled.jpg")
    metadata = csv_with(
        tmp_path,
        "new_filename,genre,style,artist",
        "1.jpg,portrait,Baroque,A",
        "test/2.jpg,landscape,,B",  # by its relative path
        "3.png,,,C",  # a row, but no label of a head
        "gone.jpg,portrait,Baroque,D",
    )

    labelled = read_labelled_set(images, metadata, COLUMNS)

    assert [(p.id, dict(p.labels)) for p in labelled.paintings] == [
        ("test/2.jpg", {"genre": "landscape"}),
        ("train/1.jpg", {"genre": "portrait", "style": "Baroque"}),
    ]
    assert labelled.paintings[1].path == images / "train" / "1.jpg"
    assert labelled.without_labels == ["3.png"]
    assert labelled.images_without_row == 1
    assert labelled.rows_without_image == 1
    assert labelled.metadata_file == "all_data_info.csv"
    assert not labelled.has_in_train


def test_a_missing_column_is_named_with_the_columns_there_are(tmp_path: Path) -> None:
    images = folder_with(tmp_path, "1.jpg")
    metadata = csv_with(tmp_path, "new_filename,genre,artist", "1.jpg,portrait,A")

    with pytest.raises(TrainingDataError, match=r"no 'style' column.*columns: new_filename, genre"):
        read_labelled_set(images, metadata, COLUMNS)


def test_a_csv_without_file_names_is_refused(tmp_path: Path) -> None:
    images = folder_with(tmp_path, "1.jpg")
    metadata = csv_with(tmp_path, "filename,genre,style", "1.jpg,portrait,Baroque")

    with pytest.raises(TrainingDataError, match="'new_filename'"):
        read_labelled_set(images, metadata, COLUMNS)


def test_a_folder_without_images_is_a_clear_error(tmp_path: Path) -> None:
    metadata = csv_with(tmp_path, "new_filename,genre,style", "1.jpg,a,b")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "notes.txt").write_text("not an image")

    with pytest.raises(TrainingDataError, match=r"holds no images \(1 other files\)"):
        read_labelled_set(tmp_path / "images", metadata, COLUMNS)
    with pytest.raises(TrainingDataError, match="is not a folder"):
        read_labelled_set(tmp_path / "nowhere", metadata, COLUMNS)


def test_a_missing_csv_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="gone.csv does not exist"):
        read_labelled_set(folder_with(tmp_path, "1.jpg"), tmp_path / "gone.csv", COLUMNS)


def test_rows_that_name_none_of_the_images_say_what_they_name(tmp_path: Path) -> None:
    images = folder_with(tmp_path, "a/1.jpg")
    metadata = csv_with(tmp_path, "new_filename,genre,style", "99.jpg,portrait,Baroque")

    with pytest.raises(TrainingDataError, match=r"files like '99.jpg'.*images are like 'a/1.jpg'"):
        read_labelled_set(images, metadata, COLUMNS)


def test_the_in_train_column_is_the_split(tmp_path: Path) -> None:
    images = folder_with(tmp_path, "1.jpg", "2.jpg", "3.jpg", "4.jpg")
    metadata = csv_with(
        tmp_path,
        "new_filename,genre,style,in_train",
        "1.jpg,portrait,Baroque,True",
        "2.jpg,portrait,Baroque,false",
        "3.jpg,portrait,Rococo,1",
        "4.jpg,portrait,Rococo,",
    )

    split = split_paintings(read_labelled_set(images, metadata, COLUMNS), 0.5, 0, "style")

    assert (split.kind, split.train, split.validation) == (
        "in_train",
        ("1.jpg", "3.jpg"),
        ("2.jpg",),
    )
    assert split.outside == 1


def test_an_in_train_that_is_neither_true_nor_false_is_named(tmp_path: Path) -> None:
    images = folder_with(tmp_path, "1.jpg")
    metadata = csv_with(tmp_path, "new_filename,genre,style,in_train", "1.jpg,a,b,maybe")

    with pytest.raises(TrainingDataError, match="in_train of 1.jpg is 'maybe'"):
        read_labelled_set(images, metadata, COLUMNS)


def test_an_in_train_column_without_a_validation_painting_is_refused(tmp_path: Path) -> None:
    images = folder_with(tmp_path, "1.jpg")
    metadata = csv_with(tmp_path, "new_filename,genre,style,in_train", "1.jpg,a,b,True")

    with pytest.raises(TrainingDataError, match="leaves the validation split empty"):
        split_paintings(read_labelled_set(images, metadata, COLUMNS), 0.2, 0, "style")


def stratified_set(tmp_path: Path) -> Path:
    counts = {"Baroque": 20, "Rococo": 10, "Ukiyoe": 1}
    names = [f"{style}-{n}.jpg" for style, count in counts.items() for n in range(count)]
    images = folder_with(tmp_path, *names)
    rows = [
        f"{name},portrait,{name.split('-')[0]},{name[:2]}{i % 4}" for i, name in enumerate(names)
    ]
    csv_with(tmp_path, "new_filename,genre,style,artist", *rows)
    return images


def test_the_split_is_stratified_by_style_and_keeps_every_style_in_training(tmp_path: Path) -> None:
    images = stratified_set(tmp_path)
    labelled = read_labelled_set(images, tmp_path / "all_data_info.csv", COLUMNS)

    split = split_paintings(labelled, 0.2, seed=7, stratify_by="style")

    held_out = Counter(i.split("-")[0] for i in split.validation)
    assert held_out == {"Baroque": 4, "Rococo": 2}, "a fifth of each style; the lone one trains"
    assert set(split.train) | set(split.validation) == {p.id for p in labelled.paintings}
    assert not set(split.train) & set(split.validation)
    assert split == split_paintings(labelled, 0.2, seed=7, stratify_by="style"), "seeded"
    assert split.validation != split_paintings(labelled, 0.2, 8, "style").validation


def test_unseen_artists_are_held_out_whole(tmp_path: Path) -> None:
    images = stratified_set(tmp_path)
    labelled = read_labelled_set(images, tmp_path / "all_data_info.csv", [*COLUMNS, "artist"])

    split = split_paintings(labelled, 0.2, 0, "style", unseen_artists=0.5)

    artist = {p.id: p.labels["artist"] for p in labelled.paintings}
    assert split.unseen_artists
    trained_artists = {artist[i] for i in split.train}
    for unseen in split.unseen_artists:
        assert unseen not in trained_artists
    assert {i.split("-")[0] for i in split.train} == {"Baroque", "Rococo", "Ukiyoe"}


def test_a_fraction_that_holds_out_nothing_is_refused(tmp_path: Path) -> None:
    labelled = read_labelled_set(stratified_set(tmp_path), tmp_path / "all_data_info.csv", COLUMNS)

    with pytest.raises(TrainingDataError, match="holds out none"):
        split_paintings(labelled, 0.01, 0, "style")
    with pytest.raises(TrainingDataError, match="between 0 and 1"):
        split_paintings(labelled, 1.0, 0, "style")
