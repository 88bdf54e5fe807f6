"""A tower trained from the pixels with the heads: the path for a backbone with random weights.

Every painting is decoded once by the vectorizer's loader (and cached), the tower and the heads
learn together from crops of the images (`tower_fitting`), and what the heads then read of the
whole images judges them, as the vectorizer will feed them.
"""

import hashlib
import json
import shutil
import time
from dataclasses import replace
from typing import Final

import keras
import numpy as np
from imgsim_vision.model import BackboneSpec

from imgsim_vectorizer.training import heads
from imgsim_vectorizer.training.augmentation import Augmentation
from imgsim_vectorizer.training.classes import HeadClasses
from imgsim_vectorizer.training.features import Wanted
from imgsim_vectorizer.training.pixel_cache import PixelCache
from imgsim_vectorizer.training.pixels import DECODER, decode_paintings
from imgsim_vectorizer.training.run import (
    Fitted,
    Prepared,
    TrainingOptions,
    classes_of,
    no_paintings_left,
)
from imgsim_vectorizer.training.split import Split
from imgsim_vectorizer.training.tower import TOWER, TowerShape, build_tower
from imgsim_vectorizer.training.tower_fitting import PixelsLabelled, TowerOptions, fit_tower

EPOCHS: Final = 40
SHAPE: Final = TowerShape()
# Crops' sides as fractions of the input's (96 of 224): a crop keeps brushwork at the scale the
# vectorizer sees it and costs a fifth of the whole image. On the sample set, 96-pixel crops for
# 40 epochs beat 112 for 30 and 160 for 20 in the same time (more steps), and 80 to 128 mixed.
CROPS: Final = (0.43,)


def train_tower(
    prepared: Prepared, spec: BackboneSpec, options: TrainingOptions, why: str
) -> Fitted:
    size = spec.input_size
    cache = PixelCache.open(
        prepared.cache_root / "pixels" / f"{size}-{DECODER}", fresh=options.fresh
    )
    split = prepared.split
    kept = frozenset(split.train) | frozenset(split.validation)
    wanted = [Wanted(p.id, p.path, 1) for p in prepared.labelled.paintings if p.id in kept]
    decoded = decode_paintings(
        wanted,
        size,
        cache,
        options.limits,
        threads=options.decode_threads,
        progress=options.progress,
    )
    split = split.keeping(decoded.ids)
    no_paintings_left(split, len(decoded.skipped), len(wanted))

    fit_started = time.perf_counter()
    classes, labels = classes_of(prepared, split, options.min_class_count)
    row_of = {painting_id: row for row, painting_id in enumerate(decoded.ids)}

    def labelled(ids: tuple[str, ...]) -> PixelsLabelled:
        rows = np.array([row_of[i] for i in ids], dtype=np.int64)
        found = [labels[i] for i in ids]
        return PixelsLabelled(decoded.pixels, rows, {h.head: h.indices(found) for h in classes})

    augmentation = Augmentation(tuple(max(8, round(size * c)) for c in CROPS))
    tower_options = TowerOptions(
        epochs=options.epochs or EPOCHS,
        augmentation=augmentation,
        seed=options.seed,
        progress=options.progress,
    )
    keras.utils.set_random_seed(options.seed)
    tower = build_tower(SHAPE)
    heads_model = heads.build_heads({TOWER: SHAPE.features}, classes, None)
    run_key = _run_key(f"{size}-{DECODER}", split, classes, tower_options)
    run_dir = prepared.cache_root / "runs" / run_key
    if options.fresh:
        shutil.rmtree(run_dir, ignore_errors=True)
    fitted = fit_tower(
        tower,
        heads_model,
        classes,
        labelled(split.train),
        labelled(split.validation),
        run_dir,
        tower_options,
    )
    crops = " or ".join(f"{side}x{side}" for side in augmentation.crops)
    how = [
        "backbone frozen: its own representations are those of its starting weights",
        f"a convolutional tower trained from the pixels feeds the heads ({why}): "
        f"{len(SHAPE.widths)} blocks of {', '.join(map(str, SHAPE.widths))} channels on each "
        f"image's standardised channels, trained with the heads on random {crops} crops of the "
        f"{size}x{size} images (mirrored, colour within {augmentation.colour:.0%}), "
        "reading the whole image at inference",
    ]
    return Fitted(
        split=split,
        classes=classes,
        heads_model=heads_model,
        tower=tower,
        validation=fitted.validation,
        epochs=fitted.epochs,
        rebalanced=fitted.rebalanced,
        augmented_views=fitted.crops_per_painting,
        skipped=decoded.skipped,
        how=how,
        fit_seconds=time.perf_counter() - fit_started,
        decoded=replace(decoded, pixels=decoded.pixels[:0]),  # its counts: the pixels may go
    )


def _run_key(pixels: str, split: Split, classes: list[HeadClasses], options: TowerOptions) -> str:
    """Names a run's checkpoints: a run with other data or settings must not resume them."""
    described = {
        "pixels": pixels,
        "train": split.train,
        "validation": split.validation,
        "classes": [[h.head, h.classes] for h in classes],
        "tower": SHAPE.widths,
        "settings": [
            options.epochs,
            options.batch_size,
            options.patience,
            options.learning_rate,
            options.label_smoothing,
            options.weight_decay,
            options.augmentation.crops,
            options.augmentation.colour,
        ],
        "seed": options.seed,
    }
    return "tower-" + hashlib.sha1(json.dumps(described).encode()).hexdigest()[:12]
