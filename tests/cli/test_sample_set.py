"""`imgsim sample-set`: the generated paintings, their Painter by Numbers-shaped CSV, the
artist-disjoint split, and that colour does not give the style away while texture does."""

import csv
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from imgsim_cli import sample_catalogue, sample_techniques
from imgsim_cli.main import main
from imgsim_cli.sample_scenes import Palette
from imgsim_cli.sample_set import CSV_NAME, SOURCE, SampleSet, SampleSetError, generate
from imgsim_cli.sample_techniques import STYLES, Hand
from imgsim_vectorizer.publisher import load_metadata
from PIL import Image

PAINTER_BY_NUMBERS_COLUMNS = [
    "artist", "date", "genre", "pixelsx", "pixelsy", "size_bytes", "source", "style", "title",
    "artist_group", "in_train", "new_filename",
]  # fmt: skip
SIDES = (96, 240)
Features = npt.NDArray[np.float64]


def read_rows(made: SampleSet) -> list[dict[str, str]]:
    with made.csv_path.open(newline="") as lines:
        return list(csv.DictReader(lines))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleSet:
    """Every style, three artists each (one unseen), five paintings each: 120 paintings."""
    folder = tmp_path_factory.mktemp("sample-set")
    return generate(folder, per_artist=5, seed=7, artists_per_style=3, sides=SIDES)


def test_the_csv_has_a_row_for_each_painting_on_disk_with_its_size(sample: SampleSet) -> None:
    rows = read_rows(sample)

    with sample.csv_path.open(newline="") as lines:
        assert next(csv.reader(lines)) == PAINTER_BY_NUMBERS_COLUMNS
    assert len(rows) == sample.paintings == len(STYLES) * 3 * 5
    on_disk = {p.name for p in sample.folder.iterdir()} - {CSV_NAME}
    assert {row["new_filename"] for row in rows} == on_disk
    for row in rows:
        path = sample.folder / row["new_filename"]
        with Image.open(path) as image:
            assert image.size == (int(row["pixelsx"]), int(row["pixelsy"]))
            assert image.format == {".jpg": "JPEG", ".png": "PNG"}[path.suffix]
        assert int(row["size_bytes"]) == path.stat().st_size
        assert row["source"] == SOURCE
        assert row["title"] and row["date"].isdigit()
    assert {row["style"] for row in rows} == set(sample.styles) == set(STYLES)
    assert {row["genre"] for row in rows} == set(sample.genres)
    assert len(sample.genres) >= 4
    for style in STYLES:  # genres are compositions that every technique paints
        assert len({row["genre"] for row in rows if row["style"] == style}) >= 3, style


def test_the_publisher_reads_every_painting_s_labels(sample: SampleSet) -> None:
    metadata = load_metadata(sample.csv_path)

    assert set(metadata) == {row["new_filename"] for row in read_rows(sample)}
    for labels in metadata.values():
        assert {"artist", "style", "genre", "title", "in_train", "year"} <= set(labels)


def test_every_style_has_seen_artists_and_unseen_ones(sample: SampleSet) -> None:
    rows = read_rows(sample)
    artists_of: dict[str, set[str]] = defaultdict(set)
    splits: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for row in rows:
        artists_of[row["style"]].add(row["artist"])
        splits[row["artist"]].add((row["in_train"], row["artist_group"]))

    unseen = {a for a, split in splits.items() if split == {("False", "test_only")}}
    both = {("True", "train_and_test"), ("False", "train_and_test")}
    seen = {a for a, split in splits.items() if split == both}
    assert unseen | seen == set(splits), "each artist is either unseen or seen in both splits"
    assert unseen == set(sample.unseen_artists)
    for style, artists in artists_of.items():
        assert len(artists) == 3, style
        assert len(artists & unseen) == 1, style
    held_out = [row for row in rows if row["in_train"] == "False" and row["artist"] in seen]
    assert len(held_out) == len(seen)  # a fifth of five paintings: one per seen artist
    assert sample.held_out == len(held_out) + 5 * len(unseen)


def test_sizes_and_aspect_ratios_vary(sample: SampleSet) -> None:
    sizes = [(int(row["pixelsx"]), int(row["pixelsy"])) for row in read_rows(sample)]

    assert all(SIDES[0] <= side <= SIDES[1] for size in sizes for side in size)
    assert len(set(sizes)) > len(sizes) // 2
    aspects = {round(w / h, 2) for w, h in sizes}
    assert any(a > 1.2 for a in aspects) and any(a < 0.83 for a in aspects)
    assert any(0.95 < a < 1.05 for a in aspects)


def features(
    folder: Path, rows: list[dict[str, str]], of: Callable[[npt.NDArray[np.float64]], list[float]]
) -> Features:
    """`of` each painting, squashed to the network's square input as the vectorizer does."""
    found = []
    for row in rows:
        with Image.open(folder / row["new_filename"]) as image:
            square = image.convert("RGB").resize((128, 128), Image.Resampling.BILINEAR)
        found.append(of(np.asarray(square, np.float64)))
    return np.asarray(found)


def mean_colour(pixels: npt.NDArray[np.float64]) -> list[float]:
    return [float(v) for v in pixels.mean(axis=(0, 1))]


def texture(pixels: npt.NDArray[np.float64]) -> list[float]:
    """Gradient statistics at three scales: how strong edges are and which way they run."""
    grey, found = pixels.mean(axis=2), []
    for step in (1, 2, 4):
        small = grey[::step, ::step]
        gx, gy = np.diff(small, axis=1)[:-1], np.diff(small, axis=0)[:, :-1]
        strength, direction = np.hypot(gx, gy), np.arctan2(gy, gx) % np.pi
        bins = np.minimum((direction / np.pi * 8).astype(int), 7).ravel()
        histogram = np.bincount(bins, weights=strength.ravel(), minlength=8)
        found += list(histogram / (histogram.sum() + 1e-9))
        found += [np.log1p(strength.mean()), np.log1p(np.median(strength)), (strength > 30).mean()]
    return [float(v) for v in found]


def style_accuracy(rows: list[dict[str, str]], found: Features) -> float:
    """Style by nearest centroid, each artist's paintings judged by centroids of the others:
    what is learnt must carry over to artists never seen."""
    styles, artists = np.array([r["style"] for r in rows]), np.array([r["artist"] for r in rows])
    names = sorted(set(styles))
    right = 0
    for artist in set(artists):
        judged, learnt = artists == artist, artists != artist
        scaled = (found - found[learnt].mean(axis=0)) / (found[learnt].std(axis=0) + 1e-9)
        centroids = np.stack([scaled[learnt & (styles == s)].mean(axis=0) for s in names])
        nearest = ((scaled[judged, None, :] - centroids[None]) ** 2).sum(axis=2).argmin(axis=1)
        right += int(np.sum(np.array(names)[nearest] == styles[judged]))
    return right / len(rows)


def test_texture_tells_the_styles_apart_and_mean_colour_does_not(sample: SampleSet) -> None:
    rows = read_rows(sample)
    chance = 1 / len(sample.styles)

    by_texture = style_accuracy(rows, features(sample.folder, rows, texture))
    by_colour = style_accuracy(rows, features(sample.folder, rows, mean_colour))

    # Seeds 0-7 gave 0.45-0.62 by texture, 0.12-0.17 by colour; chance is 0.125.
    assert by_texture >= 3 * chance, by_texture
    assert by_colour <= 2 * chance, by_colour


def test_the_colour_check_would_see_a_palette_that_follows_the_style(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above can fail: give each style a colour cast, and mean colour finds it."""
    painted = sample_techniques.paint
    casts = {style: np.random.default_rng(i).uniform(0, 255, 3) for i, style in enumerate(STYLES)}

    def tinted(
        style: str, scene: Image.Image, palette: Palette, hand: Hand, rng: np.random.Generator
    ) -> Image.Image:
        pixels = np.asarray(painted(style, scene, palette, hand, rng), np.float64)
        return Image.fromarray((0.5 * pixels + 0.5 * casts[style]).astype(np.uint8))

    monkeypatch.setattr(sample_catalogue, "paint", tinted)
    made = generate(tmp_path, per_artist=3, seed=7, artists_per_style=3, sides=(64, 96))
    rows = read_rows(made)

    assert style_accuracy(rows, features(tmp_path, rows, mean_colour)) >= 0.6


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_the_seed_decides_every_byte_whichever_process_paints(tmp_path: Path) -> None:
    def make(name: str, seed: int, workers: int) -> dict[str, bytes]:
        generate(tmp_path / name, 2, seed, artists_per_style=2, sides=(64, 128), workers=workers)
        return files(tmp_path / name)

    first = make("first", 3, workers=1)

    assert make("again", 3, workers=2) == first
    other = make("other", 4, workers=1)
    assert other[CSV_NAME] != first[CSV_NAME]
    assert not set(first.values()) & set(other.values())


def test_artists_of_a_style_have_hands_of_their_own() -> None:
    from imgsim_cli.sample_artists import roster

    artists = roster(STYLES, 5, 1, np.random.default_rng(0))
    for style in STYLES:
        hands = [a.hand for a in artists if a.style == style]
        scales = sorted(h.scale for h in hands)
        assert min(np.diff(scales)) > 0.04, style  # spread over the range, not bunched
        assert len({h.variant for h in hands}) == 3, style


def test_the_command_paints_a_set_and_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "set"
    argv = ["sample-set", str(folder), "--per-artist", "2", "--artists-per-style", "2"]
    argv += ["--styles", "wash, MOSAIC", "--sides", "64", "96", "--workers", "1"]

    assert main(argv) == 0

    rows = list(csv.DictReader((folder / CSV_NAME).read_text().splitlines()))
    assert len(rows) == 8
    assert {row["style"] for row in rows} == {"Wash", "Mosaic"}
    assert str(folder / CSV_NAME) in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["--per-artist", "0"], "paintings per artist must be 1 or more"),
        (["--artists-per-style", "2", "--unseen-per-style", "2"], "every style needs a seen"),
        (["--styles", "Cubism"], "unknown style(s) 'Cubism'; the styles are: Pointillism"),
        (["--sides", "300", "200"], "sides must satisfy"),
        (["--seed", "-1"], "the seed must be 0 or more"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], error: str
) -> None:
    folder = tmp_path / "set"

    assert main(["sample-set", str(folder), *arguments]) == 2

    assert error in capsys.readouterr().err
    assert not folder.exists()


def test_a_folder_of_other_files_is_refused_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    argv = ["sample-set", str(tmp_path), "--per-artist", "1", "--styles", "Drip"]

    assert main([*argv, "--workers", "1"]) == 2
    assert "--force" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]

    assert main([*argv, "--workers", "1", "--force"]) == 0
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / CSV_NAME).exists()


def test_a_set_made_again_in_its_folder_replaces_the_old_one(tmp_path: Path) -> None:
    generate(tmp_path, per_artist=3, styles=["Hard-edge"], sides=(64, 96))
    (tmp_path / "worker.log").write_text("kept")

    made = generate(tmp_path, per_artist=1, styles=["Hard-edge"], sides=(64, 96))

    named = {row["new_filename"] for row in read_rows(made)}
    assert {p.name for p in tmp_path.iterdir()} == named | {CSV_NAME, "worker.log"}


def test_only_the_old_set_s_own_files_are_removed(tmp_path: Path) -> None:
    """A CSV that claims to be a sample set cannot make the command delete files elsewhere."""
    folder, elsewhere = tmp_path / "set", tmp_path / "00001.jpg"
    folder.mkdir()
    elsewhere.write_bytes(b"not yours")
    (folder / CSV_NAME).write_text(f"source,new_filename\n{SOURCE},../00001.jpg\n")

    generate(folder, per_artist=1, styles=["Wash"], sides=(64, 96))

    assert elsewhere.read_bytes() == b"not yours"


def test_generate_raises_its_own_error_for_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "set").write_text("")

    with pytest.raises(SampleSetError, match="is a file, not a folder"):
        generate(tmp_path / "set", per_artist=1)
