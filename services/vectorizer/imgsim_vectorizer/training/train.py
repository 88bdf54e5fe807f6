"""`imgsim train` from start to end: labelled paintings, split, backbone features, heads, card.

The backbone stays frozen: its features of every view are computed once (and cached), the heads
are fitted on them in seconds, and the saved model puts the heads on the backbone again, so the
vectorizer runs one model from pixels to every representation.
"""

import hashlib
import json
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import keras
from imgsim_common.model_card import TrainingSummary
from imgsim_vision.inference import make_backend
from imgsim_vision.model import BackboneSpec, load_backbone, load_trained
from imgsim_vision.settings import BackendKind

from imgsim_vectorizer.training import artefact, heads
from imgsim_vectorizer.training.card import notes, trained_card
from imgsim_vectorizer.training.classes import HeadClasses, head_classes
from imgsim_vectorizer.training.dataset import TrainingDataError, read_labelled_set
from imgsim_vectorizer.training.feature_cache import FeatureCache
from imgsim_vectorizer.training.features import Extraction, Features, Limits, Wanted, extract
from imgsim_vectorizer.training.fitting import FitOptions, Labelled, fit
from imgsim_vectorizer.training.split import Split, split_paintings
from imgsim_vectorizer.training.views import RECIPE

HEAD_COLUMNS: Final = {"genre": "genre", "style": "style", "artist": "artist"}
STRATIFY_BY: Final = "style"
ONNX_TOLERANCE: Final = 1e-3


@dataclass(frozen=True)
class StartingWeights:
    keras: str  # what the backbone is built with: "imagenet", "random" or a weights file
    card: str  # what the card says
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainingOptions:
    limits: Limits
    views: int = 3
    epochs: int = 60
    min_class_count: int = 5
    validation: float = 0.2
    seed: int = 0
    artist_head: bool = False
    unseen_artists: float = 0.0
    fresh: bool = False
    backend: BackendKind = "onnx"
    batch_size: int | None = None  # None: by the number of rows
    patience: int = 8
    decode_threads: int = 2
    progress: bool = True
    name: str | None = None


@dataclass(frozen=True)
class Trained:
    saved: artefact.SavedModel
    model: keras.Model  # as saved: pixels -> every representation and probabilities
    extraction: Extraction
    fit_seconds: float


def train(
    images: Path,
    metadata: Path,
    out: Path,
    spec: BackboneSpec,
    weights: StartingWeights,
    options: TrainingOptions,
) -> Trained:
    started = time.perf_counter()
    wanted_heads = ["genre", "style"] + (["artist"] if options.artist_head else [])
    columns = [HEAD_COLUMNS[h] for h in wanted_heads]
    extra = ["artist"] if options.unseen_artists > 0 and "artist" not in columns else []
    labelled = read_labelled_set(images, metadata, [*columns, *extra])
    split = split_paintings(
        labelled, options.validation, options.seed, STRATIFY_BY, options.unseen_artists
    )

    loaded = load_backbone(spec, weights.keras)
    cache_root = out / ".cache"
    backend = make_backend(loaded, options.backend, cache_root / "onnx", ONNX_TOLERANCE)
    feature_folder = f"{spec.name}-{loaded.card.version}-{RECIPE}"
    cache = FeatureCache.open(cache_root / "features" / feature_folder, fresh=options.fresh)
    validation_ids = frozenset(split.validation)
    wanted = [
        Wanted(p.id, p.path, 1 if p.id in validation_ids else options.views)
        for p in labelled.paintings
        if p.id in validation_ids or p.id in split.train
    ]
    features, extraction = extract(
        wanted,
        backend,
        spec.input_size,
        cache,
        options.limits,
        threads=options.decode_threads,
        progress=options.progress,
    )
    split = split.keeping(features.ids)
    if not split.train or not split.validation:
        raise TrainingDataError(
            f"{len(extraction.skipped)} of {len(wanted)} images could not be read, which leaves "
            f"{len(split.train)} to train on and {len(split.validation)} to validate with"
        )

    fit_started = time.perf_counter()
    labels = {p.id: p.labels for p in labelled.paintings}
    train_rows, validation_rows = features.rows(split.train), features.rows(split.validation, 1)
    classes = [
        head_classes(
            head,
            HEAD_COLUMNS[head],
            [labels[i] for i in split.train],
            [labels[i] for i in split.validation],
            options.min_class_count,
        )
        for head in wanted_heads
    ]
    train_data, validation_data = (
        _labelled(train_rows, classes, labels),
        _labelled(validation_rows, classes, labels),
    )
    keras.utils.set_random_seed(options.seed)
    heads_model = heads.build_heads(
        {name: v.shape[1] for name, v in train_rows.vectors.items()}, classes, train_rows.vectors
    )
    run_dir = cache_root / "runs" / _run_key(feature_folder, split, classes, options)
    if options.fresh:
        shutil.rmtree(run_dir, ignore_errors=True)
    fitted = fit(
        heads_model,
        classes,
        train_data,
        validation_data,
        run_dir,
        FitOptions(options.epochs, options.batch_size, options.patience, progress=options.progress),
    )
    fit_seconds = time.perf_counter() - fit_started

    name = options.name or f"{spec.name}-paintings"
    model = heads.assemble(loaded.extractor, heads_model, name.replace("-", "_"))
    paintings = ([labels[i] for i in split.train], [labels[i] for i in split.validation])
    card = trained_card(
        name, model, loaded, weights.card, classes, heads_model, validation_data, paintings
    )
    card = card.model_copy(
        update={
            "notes": notes(
                weights.notes, backend.name, labelled.images_without_row, extraction, split
            ),
            "training": TrainingSummary(
                images=len(split.train) + len(split.validation),
                skipped=len(extraction.skipped) + len(labelled.without_labels),
                train=len(split.train),
                validation=len(split.validation),
                split=split.kind,
                augmented_views=options.views,
                epochs=fitted.epochs,
                seconds=round(time.perf_counter() - started, 1),
                metadata=labelled.metadata_file,
                rebalanced=fitted.rebalanced,
            ),
        }
    )
    saved = artefact.save(model, card, split, out)
    load_trained(saved.folder)  # the folder must load as the vectorizer will load it
    return Trained(saved, model, extraction, fit_seconds)


def _labelled(
    features: Features, classes: Sequence[HeadClasses], labels: Mapping[str, Mapping[str, str]]
) -> Labelled:
    rows = [labels[i] for i in features.ids]
    return Labelled(features.vectors, {h.head: h.indices(rows) for h in classes})


def _run_key(
    feature_folder: str, split: Split, classes: Sequence[HeadClasses], options: TrainingOptions
) -> str:
    """Names a run's checkpoints: a run with other data or settings must not resume them."""
    described = {
        "features": feature_folder,
        "train": split.train,
        "validation": split.validation,
        "classes": [[h.head, h.classes] for h in classes],
        "settings": [options.views, options.epochs, options.batch_size, options.patience],
        "seed": options.seed,
    }
    return hashlib.sha1(json.dumps(described).encode()).hexdigest()[:12]
