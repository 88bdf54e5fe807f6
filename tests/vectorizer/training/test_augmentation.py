"""The crops a tower trains on: the painting's own pixels at its own scale, mirrored, recoloured a
little, new every epoch and the same on every run."""

import numpy as np
from imgsim_vectorizer.training.augmentation import Augmentation, Batches, augment

RNG_SEED = 3


def images(count: int = 4, size: int = 20) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def test_a_crop_is_a_piece_of_the_painting_at_its_own_scale_or_its_mirror_image() -> None:
    pixels = images()

    crops = augment(pixels, 8, np.random.default_rng(RNG_SEED), colour=0)

    assert crops.shape == (4, 8, 8, 3) and crops.dtype == np.float32
    for crop, whole in zip(crops, pixels, strict=True):
        pieces = [
            piece
            for top in range(13)
            for left in range(13)
            for piece in (whole[top : top + 8, left : left + 8],)
        ]
        assert any(np.array_equal(crop, p) or np.array_equal(crop, p[:, ::-1]) for p in pieces), (
            "cut out whole, never resized"
        )


def test_colour_changes_stay_within_the_asked_bounds() -> None:
    pixels = np.full((50, 10, 10, 3), 100, np.uint8)
    pixels[:, :, :, 0] = 140

    jittered = augment(pixels, 10, np.random.default_rng(RNG_SEED), colour=0.1)

    assert not np.array_equal(jittered, pixels.astype(np.float32))
    # A flat painting keeps its mean within the brightness change, and its spread of channels
    # within the product of the three changes.
    ratio = jittered.mean(axis=(1, 2, 3)) / pixels.mean(axis=(1, 2, 3))
    assert ((ratio > 0.89) & (ratio < 1.11)).all()
    spread = jittered[..., 0] - jittered[..., 1]
    assert ((spread > 40 * 0.9**3 - 0.01) & (spread < 40 * 1.1**3 + 0.01)).all()


def test_every_painting_comes_repeat_times_an_epoch_and_epochs_differ() -> None:
    pixels = images(5)
    labels = {"style_probabilities": np.arange(5)}
    weights = {"style_probabilities": np.ones(5)}
    rows = np.arange(5)
    batches = Batches(pixels, rows, labels, weights, 4, Augmentation((8, 12)), repeat=3, seed=1)

    first = [batches[i] for i in range(len(batches))]
    batches.on_epoch_end()
    second = [batches[i] for i in range(len(batches))]

    assert len(batches) == 4
    seen = np.concatenate([targets["style_probabilities"] for _, targets, _ in first])
    assert sorted(seen.tolist()) == sorted(list(range(5)) * 3)
    assert {images.shape[1] for images, _, _ in first + second} <= {8, 12}
    assert any(
        a[0].shape != b[0].shape or not np.array_equal(a[0], b[0])
        for a, b in zip(first, second, strict=True)
    ), "cropped anew each epoch"
    again = Batches(pixels, rows, labels, weights, 4, Augmentation((8, 12)), repeat=3, seed=1)
    assert all(np.array_equal(again[i][0], first[i][0]) for i in range(len(again))), "seeded"
