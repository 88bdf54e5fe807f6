"""Image files to network input, on images generated here: every mode, every rejection."""

import dataclasses
import hashlib
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from imgsim_common.rejections import ImageRejected, RejectReason
from imgsim_vision.images import DecodedImage, decode_image, square, to_rgb
from PIL import Image, ImageFile, JpegImagePlugin

SIZE = 64
MB = 2**20
RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def halves(width: int, height: int, mode: str, left: Any, right: Any) -> Image.Image:
    image = Image.new(mode, (width, height), left)
    image.paste(right, (width // 2, 0, width, height))
    return image


def save(path: Path, image: Image.Image, **params: Any) -> Path:
    image.save(path, **params)
    return path


def decode(path: Path, size: int = SIZE) -> DecodedImage:
    return decode_image(path, size, max_bytes=50 * MB, max_pixels=50_000_000)


def rejected(path: Path, max_bytes: int = 50 * MB, max_pixels: int = 50_000_000) -> RejectReason:
    with pytest.raises(ImageRejected) as caught:
        decode_image(path, SIZE, max_bytes, max_pixels)
    assert str(caught.value) == caught.value.message
    return caught.value.reason


def assert_colour(pixels: npt.NDArray[np.uint8], row: int, col: int, rgb: tuple[int, ...]) -> None:
    assert np.abs(pixels[row, col].astype(int) - rgb).max() <= 12, (pixels[row, col], rgb)


def noise(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(7)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds next to no pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(16)))


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.mark.parametrize("shape", [(1, 40), (40, 1), (1, 1)])
def test_an_image_one_pixel_wide_or_high_is_an_image(
    tmp_path: Path, shape: tuple[int, int]
) -> None:
    # Only a side of 0 pixels has none: a thin strip (a scanned edge, a 1x1 tracker) decodes.
    path = save(tmp_path / "strip.png", Image.new("RGB", shape, RED))

    image = decode(path)

    assert (image.width, image.height) == shape
    assert_colour(image.pixels, SIZE // 2, SIZE // 2, RED)


@pytest.mark.parametrize("name", ["a.jpg", "a.png"])
def test_a_normal_image_becomes_a_square_of_rgb_bytes(tmp_path: Path, name: str) -> None:
    path = save(tmp_path / name, halves(640, 480, "RGB", RED, BLUE))

    image = decode(path)

    assert image.pixels.shape == (SIZE, SIZE, 3)
    assert image.pixels.dtype == np.uint8
    assert (image.width, image.height) == (640, 480)
    assert image.sha1 == hashlib.sha1(path.read_bytes()).hexdigest()
    # Squashed, not cropped: both halves are still there, each half of the square.
    assert_colour(image.pixels, SIZE // 2, 2, RED)
    assert_colour(image.pixels, SIZE // 2, SIZE - 3, BLUE)


def test_a_large_jpeg_is_decoded_at_reduced_scale_and_reports_its_full_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = Image.new("RGB", (4000, 3000), RED)
    photo.paste(BLUE, (2000, 0, 4000, 1500))
    photo.paste((0, 160, 0), (0, 1500, 2000, 3000))
    path = save(tmp_path / "large.jpg", photo, quality=90)
    drafted: list[tuple[int, int]] = []
    draft = JpegImagePlugin.JpegImageFile.draft

    def spy(
        image: JpegImagePlugin.JpegImageFile, mode: str | None, size: tuple[int, int] | None
    ) -> tuple[str, tuple[int, int, float, float]] | None:
        result = draft(image, mode, size)
        drafted.append(image.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)

    image = decode(path, size=224)

    assert drafted == [(500, 375)]  # libjpeg's 1/8 scale, still at least 224 x 224
    assert (image.width, image.height) == (4000, 3000)
    assert image.pixels.shape == (224, 224, 3)
    assert_colour(image.pixels, 50, 50, RED)
    assert_colour(image.pixels, 50, 170, BLUE)
    assert_colour(image.pixels, 170, 50, (0, 160, 0))
    assert_colour(image.pixels, 170, 170, RED)


@pytest.mark.parametrize(
    ("orientation", "size", "top", "bottom"),
    [
        (1, (1600, 1200), RED, BLUE),
        (3, (1600, 1200), BLUE, RED),
        # 5 and 7 are 6 and 8 mirrored: the sides swap for all four.
        (5, (1200, 1600), RED, BLUE),
        (6, (1200, 1600), RED, BLUE),
        (7, (1200, 1600), BLUE, RED),
        (8, (1200, 1600), BLUE, RED),
    ],
)
def test_exif_orientation_is_applied_before_the_size_is_reported(
    tmp_path: Path,
    orientation: int,
    size: tuple[int, int],
    top: tuple[int, ...],
    bottom: tuple[int, ...],
) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = save(tmp_path / "turned.jpg", halves(1600, 1200, "RGB", RED, BLUE), exif=exif)

    image = decode(path)

    assert (image.width, image.height) == size
    assert_colour(image.pixels, 3, 3, top)
    assert_colour(image.pixels, SIZE - 4, SIZE - 4 if orientation < 5 else 3, bottom)


@pytest.mark.parametrize("shape", [(192, 256), (375, 500), (3000, 4000), (40, 3000), (1, 1)])
def test_square_gives_the_input_size_whatever_the_shape(shape: tuple[int, int]) -> None:
    rgb = np.zeros((*shape, 3), dtype=np.uint8)
    out = square(rgb, 224)
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8


def test_square_averages_fine_detail_when_shrinking_instead_of_aliasing() -> None:
    # One-pixel stripes, 3x the input size: sampling would keep stark stripes, averaging
    # turns them into an even grey (each output pixel covers 3 input columns).
    stripes = np.zeros((3 * SIZE, 3 * SIZE, 3), dtype=np.uint8)
    stripes[:, ::2] = 255
    out = square(stripes, SIZE).astype(float)
    assert out.std() < 50, out.std()
    assert 100 < out.mean() < 160


def test_square_matches_pillows_bilinear_on_a_smooth_picture() -> None:
    y, x = np.mgrid[0:192, 0:256]
    smooth = np.stack([x, y, (x + y) // 2], axis=-1).astype(np.uint8)
    ours = square(smooth, 224).astype(int)
    pillow = np.asarray(Image.fromarray(smooth).resize((224, 224), Image.Resampling.BILINEAR))
    assert np.abs(ours - pillow.astype(int)).max() <= 2


def test_grayscale_becomes_equal_channels(tmp_path: Path) -> None:
    image = decode(save(tmp_path / "gray.png", Image.new("L", (50, 40), 100)))

    assert (image.pixels == 100).all()


@pytest.mark.parametrize("name", ["palette.png", "palette.gif"])
def test_a_transparent_palette_entry_becomes_white(tmp_path: Path, name: str) -> None:
    palette = halves(80, 40, "P", 0, 1)
    palette.putpalette([0, 0, 0, *RED] + [0] * 762)
    path = save(tmp_path / name, palette, transparency=0)

    image = decode(path)

    assert_colour(image.pixels, SIZE // 2, 2, WHITE)
    assert_colour(image.pixels, SIZE // 2, SIZE - 3, RED)


def test_a_palette_without_transparency_keeps_its_colours(tmp_path: Path) -> None:
    palette = halves(80, 40, "P", 0, 1)
    palette.putpalette([*BLUE, *RED] + [0] * 762)

    image = decode(save(tmp_path / "palette.png", palette))

    assert_colour(image.pixels, SIZE // 2, 2, BLUE)
    assert_colour(image.pixels, SIZE // 2, SIZE - 3, RED)


def test_alpha_is_composited_over_white_not_dropped(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (90, 30), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 128), (30, 0, 60, 30))
    rgba.paste((0, 0, 255, 255), (60, 0, 90, 30))

    image = decode(save(tmp_path / "alpha.png", rgba))

    assert_colour(image.pixels, SIZE // 2, 3, WHITE)  # transparent black
    assert_colour(image.pixels, SIZE // 2, SIZE // 2, (255, 127, 127))  # half red
    assert_colour(image.pixels, SIZE // 2, SIZE - 4, BLUE)


def test_grayscale_with_alpha_is_composited_over_white(tmp_path: Path) -> None:
    image = decode(save(tmp_path / "la.png", halves(40, 40, "LA", (0, 0), (0, 255))))

    assert_colour(image.pixels, SIZE // 2, 2, WHITE)
    assert_colour(image.pixels, SIZE // 2, SIZE - 3, (0, 0, 0))


def test_a_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    cmyk = halves(80, 40, "CMYK", (0, 255, 255, 0), (0, 0, 0, 0))

    image = decode(save(tmp_path / "cmyk.jpg", cmyk, quality=95))

    assert_colour(image.pixels, SIZE // 2, 2, RED)
    assert_colour(image.pixels, SIZE // 2, SIZE - 3, WHITE)


def test_16_bit_grayscale_is_scaled_to_8_bits_not_clipped(tmp_path: Path) -> None:
    levels = np.full((40, 80), 65535, dtype=np.uint16)
    levels[:, 40:] = 64 * 256
    path = save(tmp_path / "deep.png", Image.fromarray(levels))
    with Image.open(path) as opened:
        assert opened.mode == "I;16"

    image = decode(path)

    assert (image.pixels[:, :30] == 255).all()
    assert (image.pixels[:, -30:] == 64).all()


def test_a_bilevel_image_becomes_black_and_white(tmp_path: Path) -> None:
    image = decode(save(tmp_path / "bilevel.png", halves(80, 40, "1", 0, 1)))

    assert (image.pixels[:, :30] == 0).all()
    assert (image.pixels[:, -30:] == 255).all()


@pytest.mark.parametrize("name", ["frames.gif", "pages.tiff"])
def test_the_first_frame_of_a_multi_frame_image_is_used(tmp_path: Path, name: str) -> None:
    first, second = Image.new("RGB", (40, 40), RED), Image.new("RGB", (40, 40), BLUE)
    path = save(tmp_path / name, first, save_all=True, append_images=[second])

    image = decode(path)

    assert_colour(image.pixels, SIZE // 2, SIZE // 2, RED)


@pytest.mark.parametrize(
    ("mode", "value", "rgb"),
    [
        ("RGB", (1, 2, 3), (1, 2, 3)),
        ("L", 100, (100, 100, 100)),
        ("1", 1, WHITE),
        ("I;16", 65535, WHITE),
        ("I;16B", 64 * 256, (64, 64, 64)),
        ("I", 64 * 256, (64, 64, 64)),
        ("I", -5, (0, 0, 0)),
        ("I", 10**6, WHITE),
        ("RGBA", (255, 0, 0, 0), WHITE),
        ("RGBA", (255, 0, 0, 255), RED),
        ("LA", (0, 0), WHITE),
        ("CMYK", (0, 255, 255, 0), RED),
        ("YCbCr", (76, 85, 255), (254, 0, 0)),
    ],
)
def test_to_rgb(mode: str, value: Any, rgb: tuple[int, ...]) -> None:
    converted = to_rgb(Image.new(mode, (3, 2), value))

    assert converted.mode == "RGB"
    assert converted.size == (3, 2)
    assert converted.getpixel((1, 1)) == rgb


def test_a_missing_file_is_rejected(tmp_path: Path) -> None:
    save(tmp_path / "a.png", Image.new("RGB", (4, 4)))

    assert rejected(tmp_path / "nope.jpg") == RejectReason.MISSING
    assert rejected(tmp_path / "a.png" / "x.jpg") == RejectReason.MISSING


def test_a_directory_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "folder.jpg").mkdir()

    assert rejected(tmp_path / "folder.jpg") == RejectReason.UNREADABLE


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_unreadable_and_does_not_block(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")

    assert rejected(tmp_path / "pipe.jpg") == RejectReason.UNREADABLE


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_a_file_without_read_permission_is_unreadable(tmp_path: Path) -> None:
    path = save(tmp_path / "locked.png", Image.new("RGB", (4, 4)))
    path.chmod(0)

    assert rejected(path) == RejectReason.UNREADABLE


def test_an_empty_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "empty.jpg").touch()

    assert rejected(tmp_path / "empty.jpg") == RejectReason.EMPTY


def test_a_file_above_max_bytes_is_rejected(tmp_path: Path) -> None:
    path = save(tmp_path / "a.png", noise(40, 40))
    size = path.stat().st_size

    assert rejected(path, max_bytes=size - 1) == RejectReason.TOO_LARGE
    assert decode_image(path, SIZE, max_bytes=size, max_pixels=1600).width == 40


@pytest.mark.parametrize(
    ("width", "height", "max_pixels"),
    [
        (9000, 9000, 1_000_000),  # above our limit
        (100_000, 100_000, 10**12),  # above Pillow's own, process-wide one
    ],
)
def test_a_header_claiming_too_many_pixels_is_rejected_before_decoding(
    tmp_path: Path, width: int, height: int, max_pixels: int
) -> None:
    # No pixel data follows the header: decoding it would fail as corrupt instead.
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(width, height))

    assert rejected(path, max_pixels=max_pixels) == RejectReason.TOO_MANY_PIXELS


def test_exactly_max_pixels_is_accepted(tmp_path: Path) -> None:
    path = save(tmp_path / "a.png", Image.new("RGB", (40, 30)))

    assert decode_image(path, SIZE, max_bytes=MB, max_pixels=1200).height == 30
    assert rejected(path, max_pixels=1199) == RejectReason.TOO_MANY_PIXELS


@pytest.mark.parametrize(
    "content",
    [
        np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
        b"painting_id,artist\n1,Vermeer\n",
        # EPS is an image to Pillow, but one it would hand to Ghostscript: not on the list.
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
        # One byte is not empty: the dead letter must say what it is.
        b"x",
    ],
)
def test_something_else_is_not_an_image(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(content)

    assert rejected(path) == RejectReason.NOT_AN_IMAGE


@pytest.mark.parametrize("name", ["cut.jpg", "cut.png"])
def test_a_truncated_image_is_corrupt(tmp_path: Path, name: str) -> None:
    path = save(tmp_path / name, noise(400, 300))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    assert rejected(path) == RejectReason.CORRUPT
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_damaged_png_data_is_corrupt(tmp_path: Path) -> None:
    path = save(tmp_path / "damaged.png", noise(100, 100))
    data = bytearray(path.read_bytes())
    data[200:220] = bytes(20)
    path.write_bytes(bytes(data))

    assert rejected(path) == RejectReason.CORRUPT


@pytest.mark.parametrize(
    ("size", "drafted_size"),
    [
        # Halved, 80x50: each side stays at least 48, 3/4 of 64.
        ((160, 100), (80, 50)),
        # Halving would leave 40 < 48: decoded in full.
        ((160, 80), (160, 80)),
    ],
)
def test_a_jpeg_is_drafted_to_no_less_than_three_quarters_of_the_input_size(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    size: tuple[int, int],
    drafted_size: tuple[int, int],
) -> None:
    path = save(tmp_path / "a.jpg", Image.new("RGB", size, RED))
    drafted: list[tuple[int, int]] = []
    draft = JpegImagePlugin.JpegImageFile.draft

    def spy(
        image: JpegImagePlugin.JpegImageFile, mode: str | None, size: tuple[int, int] | None
    ) -> tuple[str, tuple[int, int, float, float]] | None:
        result = draft(image, mode, size)
        drafted.append(image.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)

    image = decode(path)

    assert drafted == [drafted_size]
    assert (image.width, image.height) == size


def test_square_averages_blocks_of_the_whole_factor_exactly() -> None:
    noise = np.random.default_rng(2).integers(0, 256, (4 * SIZE, 4 * SIZE, 3), dtype=np.uint8)
    block_means = noise.reshape(SIZE, 4, SIZE, 4, 3).mean(axis=(1, 3))

    assert np.abs(square(noise, SIZE) - block_means).max() <= 0.5


def test_square_averages_by_two_when_the_sides_shrink_by_two_and_a_half() -> None:
    # Straight bilinear from 2.5x would alternate 64 and 191 across the stripes.
    stripes = np.zeros((5 * SIZE // 2, 5 * SIZE // 2, 3), dtype=np.uint8)
    stripes[:, ::2] = 255

    assert square(stripes, SIZE).astype(float).std() < 1


def test_opencv_runs_one_thread_per_decode() -> None:
    # The decode threads are the parallelism: a pool per resize would fight them for cores.
    assert cv2.getNumThreads() == 1


def test_a_decoded_image_cannot_be_changed() -> None:
    image = DecodedImage(np.zeros((1, 1, 3), np.uint8), 1, 1, "0" * 40)

    with pytest.raises(dataclasses.FrozenInstanceError):
        image.width = 2  # type: ignore[misc]


def test_unreadable_paths_say_what_they_are(tmp_path: Path) -> None:
    (tmp_path / "folder.jpg").mkdir()
    os.symlink(tmp_path / "loop.jpg", tmp_path / "loop.jpg")

    with pytest.raises(ImageRejected, match="is a directory"):
        decode(tmp_path / "folder.jpg")
    # Open fails for a reason other than absence (here ELOOP): unreadable, even for root.
    with pytest.raises(ImageRejected, match="cannot open") as caught:
        decode(tmp_path / "loop.jpg")
    assert caught.value.reason == RejectReason.UNREADABLE


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_said_to_be_no_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")

    with pytest.raises(ImageRejected, match="is not a regular file"):
        decode(tmp_path / "pipe.jpg")


def test_a_file_above_max_bytes_says_its_size(tmp_path: Path) -> None:
    path = save(tmp_path / "a.png", noise(40, 40))
    size = path.stat().st_size

    with pytest.raises(ImageRejected, match=f"has {size} bytes, more than {size - 1}"):
        decode_image(path, SIZE, max_bytes=size - 1, max_pixels=1600)


def test_a_file_that_grew_after_its_size_was_read_is_still_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save(tmp_path / "a.png", noise(40, 40))
    size = path.stat().st_size
    # Odd and below the size: reading max_bytes | 1 or ^ 1 bytes instead of max_bytes + 1 shows.
    max_bytes = size - 1 if size % 2 == 0 else size - 2
    real_fstat = os.fstat

    def stale_fstat(fd: int) -> os.stat_result:
        info = real_fstat(fd)
        return os.stat_result((*info[:6], max_bytes // 2, *info[7:10]))

    monkeypatch.setattr(os, "fstat", stale_fstat)

    assert rejected(path, max_bytes=max_bytes) == RejectReason.TOO_LARGE
