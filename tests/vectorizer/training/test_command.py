"""`imgsim train` on the command line: the starting weights, bad input, a whole run."""

from pathlib import Path

import pytest
from imgsim_cli import main as cli
from imgsim_common.model_card import ModelCard
from imgsim_vectorizer.training.command import WeightsUnavailable, starting_weights
from imgsim_vectorizer.training.train import StartingWeights, tower_wanted
from imgsim_vision import model

from tests.vectorizer.training.paintings import paint_set
from tests.vision.tiny_models import tiny_spec

MOBILENET = model.BACKBONES["MobileNetV3Large"]


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Keras home of the test's own, without any cached weights."""
    home = tmp_path / "keras"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


def cache_imagenet_weights(home: Path) -> Path:
    assert MOBILENET.imagenet_file is not None
    cached = home / "models" / MOBILENET.imagenet_file
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")
    return cached


def test_without_cached_imagenet_weights_the_default_is_random_and_says_so(
    keras_home: Path,
) -> None:
    weights = starting_weights(MOBILENET, None)

    assert (weights.keras, weights.card) == ("random", "random")
    assert "no ImageNet weights cached" in weights.notes[0]


def test_asking_for_imagenet_weights_that_are_not_cached_is_refused(keras_home: Path) -> None:
    with pytest.raises(WeightsUnavailable, match="nothing is downloaded here"):
        starting_weights(MOBILENET, "imagenet")


def test_cached_imagenet_weights_are_the_default(keras_home: Path) -> None:
    cached = cache_imagenet_weights(keras_home)

    for asked in (None, "imagenet"):
        weights = starting_weights(MOBILENET, asked)
        assert (weights.keras, weights.card) == ("imagenet", "imagenet")
        assert str(cached) in weights.notes[0]
    assert starting_weights(MOBILENET, "random").card == "random", "random when asked"


def test_a_weights_file_is_named_on_the_card(tmp_path: Path, keras_home: Path) -> None:
    file = tmp_path / "tuned.weights.h5"
    file.write_bytes(b"weights")

    weights = starting_weights(MOBILENET, str(file))

    assert (weights.keras, weights.card) == (str(file.resolve()), "tuned.weights.h5")
    with pytest.raises(WeightsUnavailable, match="neither imagenet, random nor a file"):
        starting_weights(MOBILENET, str(tmp_path / "imagenett"))


@pytest.mark.parametrize(
    ("weights", "choice", "wanted"),
    [
        ("random", "auto", True),
        ("imagenet", "auto", False),
        ("/models/tuned.weights.h5", "auto", False),
        ("imagenet", "on", True),
        ("random", "off", False),
    ],
)
def test_a_tower_is_trained_when_the_backbones_weights_are_random_unless_told(
    weights: str, choice: str, wanted: bool
) -> None:
    starting = StartingWeights(weights, Path(weights).name)

    on, why = tower_wanted(choice, starting)  # type: ignore[arg-type]  # a TowerChoice

    assert on is wanted
    assert f"--tower {choice}" in why
    if choice == "auto":
        assert ("random" in why) is wanted


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--views", "0"], "--views must be 1 or more"),
        (["--epochs", "0"], "--epochs must be 1 or more"),
        (["--tower", "maybe"], "invalid choice: 'maybe'"),
        (["--min-class-count", "0"], "--min-class-count must be 1 or more"),
        (["--unseen-artists", "1"], "--unseen-artists must be"),
        (["--name", "a/b"], "--name 'a/b' may hold only"),
        (["--weights", "imagenet"], "no ImageNet weights for MobileNetV3Large are cached"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(
    tmp_path: Path,
    keras_home: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
) -> None:
    code = cli.main(
        ["train", "--images", str(tmp_path), "--metadata", str(tmp_path / "m.csv"), *arguments]
    )

    assert code == 2
    assert message in capsys.readouterr().err


def test_a_csv_without_a_style_column_is_a_clear_error(
    tmp_path: Path, keras_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "images").mkdir()
    metadata = tmp_path / "m.csv"
    metadata.write_text("new_filename,genre\n1.jpg,portrait\n")

    code = cli.main(
        ["train", "--images", str(tmp_path / "images"), "--metadata", str(metadata), "--out",
         str(tmp_path / "models"), "--no-progress"]
    )  # fmt: skip

    assert code == 2
    assert "has no 'style' column" in capsys.readouterr().err
    assert not (tmp_path / "models").exists(), "nothing is written"


def test_a_whole_run_saves_a_model_the_vectorizer_can_be_pointed_at(
    tmp_path: Path,
    keras_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(model.BACKBONES, "MobileNetV3Large", tiny_spec("MobileNetV3Large"))
    metadata = paint_set(tmp_path, per_class=6, styles=("stripes", "noise"))

    code = cli.main(
        ["train", "--images", str(tmp_path / "images"), "--metadata", str(metadata), "--out",
         str(tmp_path / "models"), "--epochs", "3", "--min-class-count", "2", "--no-progress"]
    )  # fmt: skip

    out, err = capsys.readouterr()
    assert code == 0, err
    (folder,) = (tmp_path / "models").glob("MobileNetV3Large-paintings-*")
    card = ModelCard.load(folder)
    assert folder.name == f"MobileNetV3Large-paintings-{card.version}"
    assert f"VECTORIZER_MODEL_PATH={folder.resolve()}" in out
    assert "random backbone weights (no ImageNet weights cached" in err
    assert card.weights == "random"
    assert card.training is not None and card.training.epochs <= 3
    assert any("a convolutional tower trained from the pixels" in n for n in card.notes), "auto"
    assert "tower and heads" in out
    assert model.load("Xception", "imagenet", folder).card == card, "the card names the backbone"
