"""The decoded paintings a tower trains on: decoded once, kept on disk, resumed after a stop."""

from pathlib import Path

import numpy as np
import pytest
from imgsim_vectorizer.training import pixels
from imgsim_vectorizer.training.features import Limits, Wanted
from imgsim_vectorizer.training.pixel_cache import PixelCache
from imgsim_vectorizer.training.pixels import Decoded, decode_paintings
from imgsim_vision.images import decode_bytes, decode_image
from PIL import Image

LIMITS = Limits(max_file_bytes=10**7, max_pixels=10**7)
SIZE = 16


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the loader decodes, in order."""
    seen: list[str] = []
    decode = decode_bytes

    def counting(data: bytes, size: int, max_pixels: int, path: str = "upload") -> object:
        seen.append(path)
        return decode(data, size, max_pixels, path)

    monkeypatch.setattr(pixels, "decode_bytes", counting)
    return seen


def paintings(folder: Path, count: int) -> list[Wanted]:
    folder.mkdir(parents=True, exist_ok=True)
    wanted = []
    rng = np.random.default_rng(0)
    for n in range(count):
        path = folder / f"{n:02}.png"
        Image.fromarray(rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)).save(path)
        wanted.append(Wanted(path.name, path, 1))
    return wanted


def decode(wanted: list[Wanted], cache_dir: Path) -> Decoded:
    return decode_paintings(wanted, SIZE, PixelCache.open(cache_dir), LIMITS, progress=False)


def test_each_painting_is_decoded_by_the_vectorizers_loader_once(
    tmp_path: Path, decodes: list[str]
) -> None:
    wanted = paintings(tmp_path / "images", 5)

    first = decode(wanted, tmp_path / "cache")

    assert (first.ids, first.decoded, len(decodes)) == (tuple(w.id for w in wanted), 5, 5)
    assert first.pixels.shape == (5, SIZE, SIZE, 3) and first.pixels.dtype == np.uint8
    for row, painting in enumerate(wanted):
        loaded = decode_image(painting.path, SIZE, LIMITS.max_file_bytes, LIMITS.max_pixels)
        assert np.array_equal(first.pixels[row], loaded.pixels)

    second = decode(wanted, tmp_path / "cache")

    assert second.decoded == 0 and len(decodes) == 5, "read back, not decoded again"
    assert np.array_equal(second.pixels, first.pixels)


def test_an_interrupted_run_keeps_what_it_decoded(
    tmp_path: Path, decodes: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = paintings(tmp_path / "images", 7)
    monkeypatch.setattr(pixels, "CHUNK", 3)
    advanced: list[int] = []

    def stop_after_five(self: object, task: object, advance: float = 1) -> None:
        advanced.append(1)
        if len(advanced) == 5:
            raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr("rich.progress.Progress.advance", stop_after_five)
        with pytest.raises(KeyboardInterrupt):
            decode(wanted, tmp_path / "cache")

    assert len(PixelCache.open(tmp_path / "cache")) == 5, "a full chunk and the rest flushed"
    before = len(decodes)
    resumed = decode(wanted, tmp_path / "cache")

    assert resumed.decoded == 2 and len(decodes) - before == 2
    assert np.array_equal(resumed.pixels, decode(wanted, tmp_path / "fresh").pixels)


def test_a_chunk_without_its_index_is_ignored(tmp_path: Path) -> None:
    wanted = paintings(tmp_path / "images", 2)
    decode(wanted, tmp_path / "cache")
    (index,) = (tmp_path / "cache").glob("chunk-*.json")
    index.unlink()  # as if the run stopped between writing the pixels and their index

    again = decode(wanted, tmp_path / "cache")

    assert again.decoded == 2


def test_a_changed_file_is_decoded_again(tmp_path: Path) -> None:
    wanted = paintings(tmp_path / "images", 2)
    decode(wanted, tmp_path / "cache")
    Image.new("RGB", (20, 20), "red").save(wanted[0].path)

    found = decode(wanted, tmp_path / "cache")

    assert found.decoded == 1
    assert (found.pixels[0] == [255, 0, 0]).all()


def test_unreadable_images_are_skipped_with_their_reason(tmp_path: Path) -> None:
    wanted = paintings(tmp_path / "images", 2)
    broken = tmp_path / "images" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a JPEG")
    wanted += [Wanted("broken.jpg", broken, 1), Wanted("gone.png", tmp_path / "gone.png", 1)]

    found = decode(wanted, tmp_path / "cache")

    assert set(found.skipped) == {"broken.jpg", "gone.png"}
    assert found.skipped["broken.jpg"].startswith("not_an_image")
    assert "gone.png" in found.skipped["gone.png"]
    assert found.ids == ("00.png", "01.png") and len(found.pixels) == 2
