"""The views of a painting: the image itself, then variants that are the same on every run."""

import numpy as np
from imgsim_vectorizer.training.views import view


def painting(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (48, 48, 3), dtype=np.uint8)


def test_view_zero_is_the_image_as_ingestion_decodes_it() -> None:
    pixels = painting()

    assert view(pixels, "ab" * 20, 0) is pixels


def test_a_view_depends_on_the_image_and_its_number_only() -> None:
    pixels = painting()

    first = view(pixels, "ab" * 20, 1)

    assert first.shape == pixels.shape and first.dtype == np.uint8
    assert np.array_equal(first, view(pixels.copy(), "ab" * 20, 1)), "the same on every run"
    assert not np.array_equal(first, pixels)
    assert not np.array_equal(first, view(pixels, "ab" * 20, 2))
    assert not np.array_equal(first, view(pixels, "cd" * 20, 1))


def test_views_stay_close_to_the_painting() -> None:
    # A gradient: a crop, a flip, 10% of colour or a JPEG encoding keep it a gradient.
    ramp = np.linspace(0, 255, 48)
    pixels = np.stack([np.tile(ramp, (48, 1))] * 3, axis=2).astype(np.uint8)

    for number in range(1, 9):
        varied = view(pixels, "ef" * 20, number).astype(float)
        rows = varied.mean(axis=(0, 2))
        assert abs(np.corrcoef(rows, ramp)[0, 1]) > 0.95
        assert abs(varied.mean() - pixels.mean()) < 0.15 * 255
