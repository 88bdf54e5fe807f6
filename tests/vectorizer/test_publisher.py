from pathlib import Path

import pytest
from imgsim_cli import main as cli
from imgsim_vectorizer.publisher import (
    FILENAME_COLUMN,
    Metadata,
    Scan,
    Skipped,
    load_metadata,
    publish,
    read_list,
    scan_folder,
    year_of,
)

from tests.vectorizer.fakes import FakeProducer

HEADER = "artist,date,genre,pixelsx,pixelsy,size_bytes,source,style,title,artist_group,in_train"


def write(path: Path, text: str = "x", encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


def csv_file(tmp_path: Path, *rows: str, encoding: str = "utf-8") -> Path:
    return write(tmp_path / "all_data_info.csv", "\n".join(rows) + "\n", encoding)


# --- the metadata CSV


def test_painter_by_numbers_rows_are_keyed_by_file_name_with_missing_cells_left_out(
    tmp_path: Path,
) -> None:
    path = csv_file(
        tmp_path,
        f"{HEADER},{FILENAME_COLUMN}",
        "Barnett Newman,1955.0,abstract,15530.0,6911.0,9201912.0,wikiart,Color Field,Uriel,"
        "train_only,True,102257.jpg",
        ",,,100,200,,,,,,False,9.jpg",
    )

    rows = load_metadata(path)

    assert rows["102257.jpg"] == {
        "artist": "Barnett Newman",
        "date": "1955.0",
        "year": 1955,
        "genre": "abstract",
        "pixelsx": "15530.0",
        "pixelsy": "6911.0",
        "size_bytes": "9201912.0",
        "source": "wikiart",
        "style": "Color Field",
        "title": "Uriel",
        "artist_group": "train_only",
        "in_train": "True",
    }
    assert rows["9.jpg"] == {"pixelsx": "100", "pixelsy": "200", "in_train": "False"}


def test_a_bom_quoted_commas_and_ragged_rows_are_read(tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "title,date,new_filename",
        '"Still Life, with ""Apples""",c.1890,1.jpg',
        "Short,1880",
        "Long,1870,2.jpg,extra,cells",
        ",,",
        encoding="utf-8-sig",
    )

    rows = load_metadata(path)

    assert rows == {
        "1.jpg": {"title": 'Still Life, with "Apples"', "date": "c.1890", "year": 1890},
        "2.jpg": {"title": "Long", "date": "1870", "year": 1870},
    }


@pytest.mark.parametrize(
    ("date", "year"),
    [
        ("1890", 1890),
        ("c.1890", 1890),
        ("1890.0", 1890),
        ("1885-1890", 1885),
        ("c. 1650 - 1655", 1650),
        ("19th century", None),
        ("", None),
        ("12345", None),
    ],
)
def test_year_of_date(date: str, year: int | None) -> None:
    assert year_of(date) == year


def test_no_year_when_the_date_holds_none(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "date,new_filename", "early 20th century,1.jpg")

    assert load_metadata(path) == {"1.jpg": {"date": "early 20th century"}}


def test_a_csv_without_the_file_name_column_is_refused(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "artist,filename", "A,1.jpg")

    with pytest.raises(ValueError, match="no 'new_filename' column"):
        load_metadata(path)


def test_a_csv_that_is_not_utf8_is_refused_with_its_line(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "title,new_filename", "ok,1.jpg", "Caf\xe9,2.jpg", encoding="latin-1")

    with pytest.raises(ValueError, match="all_data_info.csv, line"):
        load_metadata(path)


# --- finding the paintings


def test_scan_walks_nested_folders_in_sorted_order_and_skips_hidden_ones(tmp_path: Path) -> None:
    for name in (
        "train/b/2.JPG",
        "train/a/1.jpeg",
        "train/10.png",
        "test/3.webp",
        "top.TIFF",
        ".hidden.jpg",
        "train/.DS_Store",
        ".cache/4.jpg",
        "train/readme.txt",
        "train/no_suffix",
    ):
        write(tmp_path / name)

    found = scan_folder(tmp_path)

    assert found.paintings == [
        "test/3.webp",
        "top.TIFF",
        "train/10.png",
        "train/a/1.jpeg",
        "train/b/2.JPG",
    ]
    assert found.unknown_files == 2
    assert found.skipped == []


def test_a_list_file_names_paintings_and_refuses_paths_outside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "images"
    write(root / "train" / "1.jpg")
    write(root / "train" / "2.png")
    write(root / "notes.txt")
    write(tmp_path / "outside.jpg")
    list_file = write(
        tmp_path / "list.txt",
        "\n".join(
            [
                "# the first batch",
                "train/2.png",
                "",
                "  ./train/1.jpg  ",
                "train/1.jpg",
                "../outside.jpg",
                "train/../../outside.jpg",
                str(tmp_path / "outside.jpg"),
                "train/missing.jpg",
                "notes.txt",
            ]
        ),
    )

    found = read_list(root, list_file)

    assert found.paintings == ["train/2.png", "train/1.jpg"]
    assert found.unknown_files == 1
    assert found.skipped == [
        Skipped("train/1.jpg", "listed more than once"),
        Skipped("../outside.jpg", "outside the image root"),
        Skipped("train/../../outside.jpg", "outside the image root"),
        Skipped(str(tmp_path / "outside.jpg"), "outside the image root"),
        Skipped("train/missing.jpg", "no such file"),
    ]


# --- publishing


def test_one_record_per_painting_keyed_by_id_with_its_csv_row(tmp_path: Path) -> None:
    producer = FakeProducer()
    metadata: dict[str, Metadata] = {
        "1.jpg": {"title": "by name"},
        "test/1.jpg": {"title": "by path"},
        "2.jpg": {"title": "by name", "year": 1890},
        "gone.jpg": {"title": "no image"},
    }
    found = Scan(["test/1.jpg", "train/1.jpg", "train/2.jpg", "train/3.jpg"])

    summary = publish(producer, "image-paths", found, metadata)

    assert {topic for topic, _, _ in producer.records} == {"image-paths"}
    assert producer.values() == {
        "test/1.jpg": {"id": "test/1.jpg", "path": "test/1.jpg", "metadata": {"title": "by path"}},
        "train/1.jpg": {
            "id": "train/1.jpg",
            "path": "train/1.jpg",
            "metadata": {"title": "by name"},
        },
        "train/2.jpg": {
            "id": "train/2.jpg",
            "path": "train/2.jpg",
            "metadata": {"title": "by name", "year": 1890},
        },
        "train/3.jpg": {"id": "train/3.jpg", "path": "train/3.jpg", "metadata": {}},
    }
    assert producer.flushed
    assert (summary.published, summary.failed, summary.first_error) == (4, 0, None)
    assert summary.without_metadata == 1
    assert summary.csv_rows_without_image == 1


def test_without_a_csv_nothing_counts_as_missing_metadata() -> None:
    summary = publish(FakeProducer(), "t", Scan(["1.jpg"]))

    assert (summary.published, summary.without_metadata, summary.csv_rows_without_image) == (
        1,
        0,
        0,
    )


def test_the_scan_counts_and_refused_ids_are_in_the_summary() -> None:
    producer = FakeProducer()
    too_long = "x" * 600 + ".jpg"
    found = Scan(["ok.jpg", too_long], unknown_files=3, skipped=[Skipped("../a.jpg", "outside")])

    summary = publish(producer, "t", found)

    assert list(producer.values()) == ["ok.jpg"]
    assert summary.published == 1
    assert summary.unknown_files == 3
    assert [s.path for s in summary.skipped] == ["../a.jpg", too_long]
    assert "512" in summary.skipped[1].reason


def test_delivery_failures_are_counted_with_the_first_error() -> None:
    producer = FakeProducer(fail=frozenset({b"2.jpg", b"3.jpg"}))

    summary = publish(producer, "t", Scan(["1.jpg", "2.jpg", "3.jpg"]))

    assert (summary.published, summary.failed) == (1, 2)
    assert summary.first_error == "too large"


def test_a_full_queue_is_drained_by_polling_and_the_record_retried() -> None:
    producer = FakeProducer(capacity=2)
    found = Scan([f"{i}.jpg" for i in range(7)])

    summary = publish(producer, "t", found)

    assert producer.queue_full == 3
    assert [key.decode() for _, key, _ in producer.records] == found.paintings
    assert summary.published == 7


def test_publishing_again_produces_the_same_keys_and_values() -> None:
    first, second = FakeProducer(), FakeProducer()
    found = Scan(["a/1.jpg", "b/2.jpg"])

    publish(first, "t", found, {"1.jpg": {"title": "T"}})
    publish(second, "t", found, {"1.jpg": {"title": "T"}})

    assert first.records == second.records


def test_the_progress_bar_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    summary = publish(FakeProducer(), "t", Scan(["1.jpg", "2.jpg"]), progress=True)

    assert summary.published == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "2/2" in captured.err


# --- the command line's refusals (they come before any connection to Kafka)


def test_publish_refuses_a_missing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["publish", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_publish_refuses_an_unreadable_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = csv_file(tmp_path, "artist,date", "A,1890")

    assert cli.main(["publish", str(tmp_path), "--metadata", str(bad)]) == 2
    assert "no 'new_filename' column" in capsys.readouterr().err
    assert cli.main(["publish", str(tmp_path), "--metadata", str(tmp_path / "none.csv")]) == 2
    assert "cannot read the metadata CSV" in capsys.readouterr().err


def test_usage_errors_return_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert cli.main(["publish", "--no-such-option", "."]) == 2
    assert cli.main(["--help"]) == 0
    assert "publish" in capsys.readouterr().out
