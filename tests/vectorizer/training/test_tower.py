"""The tower: blind to a painting's palette and exposure, fit for crops and for the whole image."""

import numpy as np
from imgsim_vectorizer.training.tower import TowerShape, build_tower
from imgsim_vision.layers import ChannelStandardization


def paintings(count: int, size: int) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, (count, size, size, 3)).astype(np.float32)


def test_each_images_channels_are_standardised_over_its_own_pixels() -> None:
    images = paintings(2, 12)
    images[1] = images[1] * 0.2 + 40  # a darker, flatter copy of another painting

    out = np.asarray(ChannelStandardization()(images))

    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(out.std(axis=(1, 2)), 1, atol=1e-2)


def test_a_palette_change_leaves_the_towers_features_as_they_were() -> None:
    tower = build_tower(TowerShape(widths=(4, 8)))
    images = paintings(3, 24)
    # Each channel mapped by a gain and an offset of its own: another palette, another exposure.
    recoloured = np.clip(images * [0.5, 0.8, 0.3] + [100, 10, 60], 0, 255).astype(np.float32)

    before = np.asarray(tower(images, training=False))
    after = np.asarray(tower(recoloured, training=False))

    np.testing.assert_allclose(after, before, rtol=1e-3, atol=1e-4)
    texture = np.asarray(tower(paintings(1, 24)[:, ::-1], training=False))
    assert not np.allclose(texture, before[:1], atol=1e-4), "but not blind to what is painted"


def test_the_tower_reads_crops_in_training_and_whole_images_after() -> None:
    shape = TowerShape(widths=(4, 8, 16))
    tower = build_tower(shape)

    for side in (14, 32, 224):
        assert tower(paintings(2, side), training=False).shape == (2, shape.features)
