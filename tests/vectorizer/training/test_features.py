"""The backbone's features of every view: computed once, kept on disk, resumed after a stop.

A stand-in backend (the mean colour of each view) keeps these tests free of TensorFlow.
"""

from pathlib import Path

import numpy as np
import pytest
from imgsim_vectorizer.training import features
from imgsim_vectorizer.training.feature_cache import FeatureCache
from imgsim_vectorizer.training.features import Limits, Wanted, extract
from imgsim_vision.images import decode_bytes
from PIL import Image

LIMITS = Limits(max_file_bytes=10**7, max_pixels=10**7)
SIZE = 16


class MeanColour:
    """A backend: each view's mean colour, and a count of the batches it ran."""

    name = "mean-colour"

    def __init__(self, stop_after: int | None = None) -> None:
        self.batches = 0
        self.stop_after = stop_after

    def __call__(self, pixels: np.ndarray) -> dict[str, np.ndarray]:
        if self.stop_after is not None and self.batches >= self.stop_after:
            raise KeyboardInterrupt
        self.batches += 1
        mean = pixels.astype(np.float32).mean(axis=(1, 2))
        return {"colour": mean, "brightness": mean.mean(axis=1, keepdims=True)}


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the loader decodes, in order."""
    seen: list[str] = []
    decode = decode_bytes

    def counting(data: bytes, size: int, max_pixels: int, path: str = "upload") -> object:
        seen.append(path)
        return decode(data, size, max_pixels, path)

    monkeypatch.setattr(features, "decode_bytes", counting)
    return seen


def paintings(folder: Path, count: int, views: int = 3) -> list[Wanted]:
    folder.mkdir(parents=True, exist_ok=True)
    wanted = []
    rng = np.random.default_rng(0)
    for n in range(count):
        path = folder / f"{n:02}.png"
        Image.fromarray(rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)).save(path)
        wanted.append(Wanted(path.name, path, views))
    return wanted


def run(
    wanted: list[Wanted], cache_dir: Path, backend: MeanColour, **options: int
) -> tuple[features.Features, features.Extraction]:
    cache = FeatureCache.open(cache_dir)
    return extract(wanted, backend, SIZE, cache, LIMITS, progress=False, batch_size=4, **options)


def test_every_view_is_computed_once_and_read_back_on_the_next_run(
    tmp_path: Path, decodes: list[str]
) -> None:
    wanted = paintings(tmp_path / "images", 5)

    first, summary = run(wanted, tmp_path / "cache", MeanColour())

    assert (summary.decoded, summary.computed_views, summary.cached_views) == (5, 15, 0)
    assert len(decodes) == 5
    assert first.ids == tuple(w.id for w in wanted for _ in range(3))
    assert first.views.tolist() == [0, 1, 2] * 5
    assert first.vectors["colour"].shape == (15, 3)

    again = MeanColour()
    second, summary = run(wanted, tmp_path / "cache", again)

    assert (summary.decoded, summary.computed_views, summary.cached_views) == (0, 0, 15)
    assert len(decodes) == 5 and again.batches == 0, "nothing decoded or computed again"
    assert second.ids == first.ids
    for name, values in first.vectors.items():
        assert np.array_equal(second.vectors[name], values)


def test_view_zero_is_the_decoded_image_and_the_others_differ(tmp_path: Path) -> None:
    from imgsim_vision.images import decode_image

    wanted = paintings(tmp_path / "images", 1)

    found, _ = run(wanted, tmp_path / "cache", MeanColour())

    decoded = decode_image(wanted[0].path, SIZE, LIMITS.max_file_bytes, LIMITS.max_pixels)
    expected = decoded.pixels.astype(np.float32).mean(axis=(0, 1))
    np.testing.assert_allclose(found.vectors["colour"][0], expected, rtol=1e-6)
    assert not np.array_equal(found.vectors["colour"][1], found.vectors["colour"][0])


def test_an_interrupted_run_is_resumed_from_the_chunks_it_wrote(
    tmp_path: Path, decodes: list[str]
) -> None:
    wanted = paintings(tmp_path / "images", 8)

    with pytest.raises(KeyboardInterrupt):
        run(wanted, tmp_path / "cache", MeanColour(stop_after=3), chunk_rows=4)

    kept = len(FeatureCache.open(tmp_path / "cache"))
    assert kept == 12, "three batches of four views were computed and kept"
    decoded_before = len(decodes)
    backend = MeanColour()
    resumed, summary = run(wanted, tmp_path / "cache", backend)

    assert summary.computed_views == 24 - kept
    assert summary.cached_views == kept
    # The four paintings whose every view was kept are not decoded again.
    assert len(decodes) - decoded_before == summary.decoded == 4
    whole, _ = run(wanted, tmp_path / "fresh", MeanColour())
    for name, values in whole.vectors.items():
        assert np.array_equal(resumed.vectors[name], values)


def test_a_changed_file_is_computed_again(tmp_path: Path, decodes: list[str]) -> None:
    wanted = paintings(tmp_path / "images", 2)
    run(wanted, tmp_path / "cache", MeanColour())
    Image.new("RGB", (20, 20), "red").save(wanted[0].path)

    found, summary = run(wanted, tmp_path / "cache", MeanColour())

    assert summary.decoded == 1
    np.testing.assert_allclose(found.vectors["colour"][0], [255, 0, 0])


def test_unreadable_images_are_skipped_with_their_reason(tmp_path: Path) -> None:
    wanted = paintings(tmp_path / "images", 2)
    broken = tmp_path / "images" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a JPEG")
    wanted += [Wanted("broken.jpg", broken, 3), Wanted("gone.png", tmp_path / "gone.png", 3)]

    found, summary = run(wanted, tmp_path / "cache", MeanColour())

    assert set(summary.skipped) == {"broken.jpg", "gone.png"}
    assert summary.skipped["broken.jpg"].startswith("not_an_image")
    assert "gone.png" in summary.skipped["gone.png"]
    assert set(found.ids) == {"00.png", "01.png"}


def test_validation_paintings_get_their_first_view_only(tmp_path: Path) -> None:
    wanted = paintings(tmp_path / "images", 3)
    wanted[2] = Wanted(wanted[2].id, wanted[2].path, 1)

    found, summary = run(wanted, tmp_path / "cache", MeanColour())

    assert summary.computed_views == 7
    assert found.rows(["02.png"]).views.tolist() == [0]
    assert found.rows(["00.png", "02.png"], views=1).ids == ("00.png", "02.png")
