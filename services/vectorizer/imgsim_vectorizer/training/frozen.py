"""Heads fitted on the frozen backbone's features: the fast path, for weights worth reading.

The backbone's features of every view are computed once (and cached), and the heads are fitted
on them in seconds (`fitting.fit`).
"""

import hashlib
import json
import shutil
import time
from typing import Final

import keras
from imgsim_vision.inference import make_backend
from imgsim_vision.model import BackboneSpec

from imgsim_vectorizer.training import heads
from imgsim_vectorizer.training.classes import HeadClasses
from imgsim_vectorizer.training.feature_cache import FeatureCache
from imgsim_vectorizer.training.features import Wanted, extract
from imgsim_vectorizer.training.fitting import FitOptions, fit
from imgsim_vectorizer.training.run import (
    Fitted,
    Prepared,
    TrainingOptions,
    classes_of,
    labelled_rows,
    no_paintings_left,
)
from imgsim_vectorizer.training.split import Split
from imgsim_vectorizer.training.views import RECIPE

ONNX_TOLERANCE: Final = 1e-3
EPOCHS: Final = 60


def train_frozen(
    prepared: Prepared, spec: BackboneSpec, options: TrainingOptions, why: str, random: bool
) -> Fitted:
    loaded = prepared.loaded
    backend = make_backend(loaded, options.backend, prepared.cache_root / "onnx", ONNX_TOLERANCE)
    feature_folder = f"{spec.name}-{loaded.card.version}-{RECIPE}"
    cache = FeatureCache.open(
        prepared.cache_root / "features" / feature_folder, fresh=options.fresh
    )
    split = prepared.split
    validation_ids = frozenset(split.validation)
    wanted = [
        Wanted(p.id, p.path, 1 if p.id in validation_ids else options.views)
        for p in prepared.labelled.paintings
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
    no_paintings_left(split, len(extraction.skipped), len(wanted))

    fit_started = time.perf_counter()
    classes, labels = classes_of(prepared, split, options.min_class_count)
    train_rows, validation_rows = features.rows(split.train), features.rows(split.validation, 1)
    train_data = labelled_rows(train_rows, classes, labels)
    validation_data = labelled_rows(validation_rows, classes, labels)
    keras.utils.set_random_seed(options.seed)
    heads_model = heads.build_heads(
        {name: v.shape[1] for name, v in train_rows.vectors.items()}, classes, train_rows.vectors
    )
    epochs = options.epochs or EPOCHS
    run_key = _run_key(feature_folder, split, classes, epochs, options)
    run_dir = prepared.cache_root / "runs" / run_key
    if options.fresh:
        shutil.rmtree(run_dir, ignore_errors=True)
    fitted = fit(
        heads_model,
        classes,
        train_data,
        validation_data,
        run_dir,
        FitOptions(epochs, options.batch_size, options.patience, progress=options.progress),
    )
    how = [f"backbone frozen; its features computed with {backend.name}"]
    if random:
        how.append(f"only the heads learned: no tower was trained ({why})")
    else:
        how.append(f"the heads read the backbone's features, no tower was trained ({why})")
    return Fitted(
        split=split,
        classes=classes,
        heads_model=heads_model,
        tower=None,
        validation=validation_data,
        epochs=fitted.epochs,
        rebalanced=fitted.rebalanced,
        augmented_views=options.views,
        skipped=extraction.skipped,
        how=how,
        fit_seconds=time.perf_counter() - fit_started,
        extraction=extraction,
    )


def _run_key(
    feature_folder: str,
    split: Split,
    classes: list[HeadClasses],
    epochs: int,
    options: TrainingOptions,
) -> str:
    """Names a run's checkpoints: a run with other data or settings must not resume them."""
    described = {
        "features": feature_folder,
        "train": split.train,
        "validation": split.validation,
        "classes": [[h.head, h.classes] for h in classes],
        "settings": [options.views, epochs, options.batch_size, options.patience],
        "seed": options.seed,
    }
    return hashlib.sha1(json.dumps(described).encode()).hexdigest()[:12]
