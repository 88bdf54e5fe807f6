"""`imgsim train`: its arguments, the starting weights, and the summary it prints.

Importing this module stays cheap: TensorFlow is imported when the command runs.
"""

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, get_args

from imgsim_vision.settings import Backbone
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from imgsim_vision.model import BackboneSpec

    from imgsim_vectorizer.training.train import StartingWeights, Trained

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

OK, FAILED, BAD_ARGUMENTS, INTERRUPTED = 0, 1, 2, 130

console = Console(highlight=False, markup=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


class WeightsUnavailable(ValueError):
    pass


def add_parser(commands: Subparsers) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "train",
        help="train genre and style heads and save the model with its card",
        description="Train a model on labelled paintings: embedding layers and genre, style (and "
        "artist) classifiers. With a backbone whose weights are worth reading (ImageNet's, a "
        "weights file), they are fitted on its features of a few views of each image, computed "
        "once; with random weights, a small convolutional tower is trained from the pixels with "
        "them (--tower). Decoded images, features and checkpoints are cached under OUT/.cache. "
        "The model is saved as OUT/<name>-<version>/ with model.keras, card.json and split.json; "
        "point VECTORIZER_MODEL_PATH at that folder. Running it again resumes.",
    )
    parser.add_argument("--images", type=Path, required=True, metavar="DIR")
    parser.add_argument(
        "--metadata",
        type=Path,
        required=True,
        metavar="CSV",
        help="a CSV with new_filename, genre and style columns (and in_train, artist if any)",
    )
    parser.add_argument("--out", type=Path, default=Path("models"), metavar="DIR")
    parser.add_argument("--name", help="the model's name (default: <backbone>-paintings)")
    parser.add_argument("--backbone", choices=get_args(Backbone), default="MobileNetV3Large")
    parser.add_argument(
        "--weights",
        metavar="imagenet|random|FILE",
        help="the backbone's starting weights; default: ImageNet's when Keras has them cached "
        "(~/.keras/models), else random. Nothing is downloaded.",
    )
    parser.add_argument(
        "--views",
        type=int,
        default=3,
        help="views per image, the image itself included (flips, crops, colour, JPEG), "
        "without a tower",
    )
    parser.add_argument(
        "--tower",
        choices=("auto", "on", "off"),
        default="auto",
        help="train a convolutional tower from the pixels to feed the heads; auto: when the "
        "backbone's weights are random (its features then say little)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        help="at most; stops early (default: 60 for heads on the backbone's features, 40 with "
        "a tower)",
    )
    parser.add_argument(
        "--min-class-count",
        type=int,
        default=5,
        metavar="N",
        help="classes with fewer training paintings are grouped as 'other'",
    )
    parser.add_argument("--artist-head", action="store_true", help="also classify artists")
    parser.add_argument(
        "--validation",
        type=float,
        default=0.2,
        metavar="FRACTION",
        help="held out, stratified by style, when the CSV has no in_train column",
    )
    parser.add_argument(
        "--unseen-artists",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="of each style's artists, held out whole for validation",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--backend",
        choices=("onnx", "tensorflow"),
        default="onnx",
        help="runs the backbone for features (ONNX when its export verifies)",
    )
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument(
        "--resume",
        dest="fresh",
        action="store_false",
        default=False,
        help="reuse cached features and checkpoints (the default)",
    )
    resume.add_argument(
        "--fresh",
        dest="fresh",
        action="store_true",
        help="recompute the features and train from the start",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(command=train_command)
    return parser


def _check(args: argparse.Namespace) -> str | None:
    if args.views < 1:
        return "--views must be 1 or more"
    if args.epochs is not None and args.epochs < 1:
        return "--epochs must be 1 or more"
    if args.min_class_count < 1:
        return "--min-class-count must be 1 or more"
    if not 0 <= args.unseen_artists < 1:
        return "--unseen-artists must be at least 0 and below 1"
    if args.name is not None and not all(c.isalnum() or c in "._-" for c in args.name):
        return f"--name {args.name!r} may hold only letters, digits, '.', '_' and '-'"
    return None


def starting_weights(spec: "BackboneSpec", asked: str | None) -> "StartingWeights":
    """The weights to start from, never downloaded, and what the card says about them."""
    from imgsim_vision.model import imagenet_weights_file

    from imgsim_vectorizer.training.train import StartingWeights

    cached = imagenet_weights_file(spec)
    where = f"~/.keras/models/{spec.imagenet_file}"
    if asked in (None, "imagenet") and cached is not None:
        return StartingWeights("imagenet", "imagenet", (f"ImageNet weights from {cached}",))
    if asked == "imagenet":
        raise WeightsUnavailable(
            f"no ImageNet weights for {spec.name} are cached ({where}) and nothing is downloaded "
            "here: put the file there, pass --weights FILE, or --weights random"
        )
    if asked in (None, "random"):
        why = "asked for" if asked else f"no ImageNet weights cached at {where}"
        return StartingWeights(
            "random",
            "random",
            (f"random backbone weights ({why})",),
        )
    path = Path(str(asked)).expanduser()
    if not path.is_file():
        raise WeightsUnavailable(f"--weights {asked}: neither imagenet, random nor a file")
    return StartingWeights(str(path.resolve()), path.name, (f"backbone weights from {path}",))


def train_command(args: argparse.Namespace) -> int:
    problem = _check(args)
    if problem:
        return _fail(problem)
    # Imported here: training needs TensorFlow, and the command line must start fast.
    from imgsim_vision.model import BACKBONES

    from imgsim_vectorizer.settings import VectorizerSettings
    from imgsim_vectorizer.training import train
    from imgsim_vectorizer.training.dataset import TrainingDataError
    from imgsim_vectorizer.training.features import Limits

    # tf2onnx logs a traceback for each graph optimisation it cannot apply to MobileNetV3, and
    # exports well all the same (the export is checked against TensorFlow before it is used).
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    spec = BACKBONES[args.backbone]
    try:
        weights = starting_weights(spec, args.weights)
    except WeightsUnavailable as e:
        return _fail(str(e))
    if weights.keras == "random" and args.weights is None:
        errors.print(f"note: {weights.notes[0]}", style="yellow")
    # The worker's own limits, so training refuses what ingestion refuses.
    fields = VectorizerSettings.model_fields
    options = train.TrainingOptions(
        limits=Limits(fields["max_file_bytes"].default, fields["max_pixels"].default),
        views=args.views,
        epochs=args.epochs,
        min_class_count=args.min_class_count,
        validation=args.validation,
        seed=args.seed,
        artist_head=args.artist_head,
        unseen_artists=args.unseen_artists,
        fresh=args.fresh,
        backend=args.backend,
        progress=not args.no_progress,
        name=args.name,
        tower=args.tower,
    )
    try:
        trained = train.train(args.images, args.metadata, args.out, spec, weights, options)
    except TrainingDataError as e:
        return _fail(str(e))
    except KeyboardInterrupt:
        return _fail("interrupted; run the same command again to resume", INTERRUPTED)
    print_summary(trained)
    return OK


def print_summary(trained: "Trained") -> None:
    card = trained.saved.card
    table = Table(title=f"{card.name} version {card.version}", show_header=False)
    table.add_column()
    table.add_column(justify="right")
    summary = card.training
    if summary is not None:
        table.add_row("paintings: train / validation", f"{summary.train} / {summary.validation}")
        table.add_row("skipped", str(summary.skipped))
    for head in card.heads:
        scores = "-" if head.accuracy is None else f"{head.accuracy:.3f}"
        balanced = "-" if head.balanced_accuracy is None else f"{head.balanced_accuracy:.3f}"
        table.add_row(
            f"{head.name}: accuracy / balanced ({len(head.classes)} classes)",
            f"{scores} / {balanced}",
        )
    extraction, decoded = trained.extraction, trained.decoded
    if extraction is not None:
        table.add_row(
            "backbone features",
            f"{extraction.computed_views} views computed, {extraction.cached_views} cached, "
            f"{extraction.seconds:.1f} s",
        )
    if decoded is not None:
        table.add_row(
            "paintings decoded",
            f"{decoded.decoded} decoded, {len(decoded.ids) - decoded.decoded} cached, "
            f"{decoded.seconds:.1f} s",
        )
    trained_what = "tower and heads" if decoded is not None else "heads"
    table.add_row(trained_what, f"{trained.fit_seconds:.1f} s")
    console.print(table)
    for note in card.notes:
        console.print(f"note: {note}")
    console.print(f"saved {trained.saved.folder}")
    console.print(f"use it: VECTORIZER_MODEL_PATH={trained.saved.folder.resolve()}")


def _fail(message: str, code: int = BAD_ARGUMENTS) -> int:
    errors.print(f"error: {message}", style="red")
    return code
