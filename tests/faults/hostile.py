"""The hostile-input corpus for ingestion, kept as data the fault suite iterates over.

Files: each case makes its file (or what stands where a file should be) under the image root and
names the outcome it must get: `INDEXED`, or the reason of its dead letter. Records: each is a
raw key and value for `image-paths` that fits none (or an odd corner) of the record contract's
shapes, with the reason its dead letter must carry (or `BROKER_REFUSES`: Kafka refuses it at
produce). The cases are generated, never downloaded.
"""

import io
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from imgsim_common.contract import MAX_IMAGE_PATH_BYTES
from PIL import Image

INDEXED = "indexed"
# A record Kafka itself refuses (the broker's max.message.bytes, 1 MiB): it never reaches a worker.
BROKER_REFUSES = "refused by the broker (MSG_SIZE_TOO_LARGE)"
# The worker's VECTORIZER_MAX_PIXELS in the fault rig: every bomb here declares more.
MAX_PIXELS = 20_000_000


@dataclass(frozen=True)
class HostileFile:
    name: str  # the path published, relative to the image root
    make: Callable[[Path, Path], None]  # (image root, this case's path)
    expected: str  # INDEXED or the dead letter's reason


@dataclass(frozen=True)
class HostileRecord:
    key: bytes | None  # None: unkeyed
    value: bytes | None
    expected: str  # the dead letter's reason
    headers: tuple[tuple[str, bytes], ...] = ()


def _painting(size: tuple[int, int] = (96, 64), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (8, 12, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.Resampling.BILINEAR)


def _encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _writer(data: bytes) -> Callable[[Path, Path], None]:
    def make(root: Path, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return make


def _png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height, with a few bytes of deflated zeros."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (width * 3 + 1) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def _gif_bomb(width: int, height: int) -> bytes:
    small = _encoded(_painting((4, 4)).convert("P"), "GIF")
    # The logical screen and the image descriptor both declare the huge size.
    data = bytearray(small)
    data[6:10] = struct.pack("<HH", width, height)
    descriptor = data.index(b",", 13)
    data[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def _tiff_bomb(width: int, height: int) -> bytes:
    data = bytearray(_encoded(_painting((4, 4)), "TIFF"))
    count = struct.unpack_from("<H", data, 8)[0]
    for i in range(count):
        entry = 10 + 12 * i
        tag, kind = struct.unpack_from("<HH", data, entry)
        if tag in (256, 257):  # ImageWidth, ImageLength
            value = width if tag == 256 else height
            if kind == 3:
                struct.pack_into("<H", data, entry + 8, min(value, 0xFFFF))
            else:
                struct.pack_into("<I", data, entry + 8, value)
    return bytes(data)


def _webp_bomb(root: Path, path: Path) -> None:
    """A real lossless WebP of 5000 x 5000 pixels in one colour: a few dozen bytes that would
    decode to 75 MB, above the fault rig's pixel limit (`MAX_PIXELS`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (5000, 5000), (200, 30, 40)).save(path, format="WEBP", lossless=True, method=0)


def _jpeg_with_huge_frame() -> bytes:
    data = bytearray(_encoded(_painting(), "JPEG"))
    frame = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, frame + 5, 60000, 60000)
    return bytes(data)


def _many_frames(count: int) -> bytes:
    frames = [_painting((32, 32), seed=i % 7).convert("P") for i in range(count)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=10)
    return buffer.getvalue()


def _sixteen_bit() -> bytes:
    ramp = (np.arange(64 * 96, dtype=np.uint16).reshape(64, 96) * 10).astype(np.uint16)
    return _encoded(Image.fromarray(ramp), "PNG")  # uint16 becomes mode I;16


def _palette_with_transparency() -> bytes:
    image = _painting().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return _encoded(image, "PNG", transparency=0)


def _fifo(root: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)


def _directory(root: Path, path: Path) -> None:
    path.mkdir(parents=True)


def _symlink_to(target: str) -> Callable[[Path, Path], None]:
    def make(root: Path, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)

    return make


def _outside_file(root: Path, path: Path) -> None:
    outside = root.parent / "outside.jpg"
    outside.write_bytes(_encoded(_painting(), "JPEG"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(outside)


def _beside_the_root(root: Path, path: Path) -> None:
    (root.parent / "beside.jpg").write_bytes(_encoded(_painting(), "JPEG"))


def _sparse(size: int) -> Callable[[Path, Path], None]:
    def make(root: Path, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            f.truncate(size)

    return make


def _deep_name() -> str:
    """A path of about 4,000 characters: directories of 200, the limit per name being 255."""
    return "/".join(["d" * 200] * 19) + "/" + "p" * 180 + ".jpg"


JPEG = _encoded(_painting(), "JPEG")
# b"files/caf\xe9.jpg" (Latin-1), as Python names it: a surrogate escape stands for the byte.
NON_UTF8_NAME = os.fsdecode(b"files/caf\xe9.jpg")
DEEP_NAME = _deep_name()

FILES: tuple[HostileFile, ...] = (
    HostileFile("files/zero-byte.jpg", _writer(b""), "empty"),
    HostileFile("files/truncated.jpg", _writer(JPEG[: len(JPEG) // 2]), "corrupt"),
    HostileFile("files/random-bytes.jpg", _writer(os.urandom(4096)), "not_an_image"),
    HostileFile("files/text.png", _writer(b"not a picture at all\n" * 20), "not_an_image"),
    HostileFile(
        "files/html.jpg", _writer(b"<html><script>alert(1)</script></html>"), "not_an_image"
    ),
    HostileFile(
        "files/jpeg-then-zip.jpg", _writer(JPEG + b"PK\x03\x04" + os.urandom(512)), INDEXED
    ),
    HostileFile("files/png-named-jpg.jpg", _writer(_encoded(_painting(), "PNG")), INDEXED),
    HostileFile(
        "files/svg.png", _writer(b'<svg xmlns="http://www.w3.org/2000/svg"/>'), "not_an_image"
    ),
    HostileFile(
        "files/eps.jpg",
        _writer(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 1 1\n"),
        "not_an_image",
    ),
    HostileFile("bombs/png.png", _writer(_png_bomb(40000, 40000)), "too_many_pixels"),
    HostileFile("bombs/gif.gif", _writer(_gif_bomb(65000, 65000)), "too_many_pixels"),
    HostileFile("bombs/tiff.tif", _writer(_tiff_bomb(60000, 60000)), "too_many_pixels"),
    HostileFile("bombs/webp.webp", _webp_bomb, "too_many_pixels"),
    HostileFile("bombs/jpeg-frame.jpg", _writer(_jpeg_with_huge_frame()), "too_many_pixels"),
    HostileFile("odd/thousand-frames.gif", _writer(_many_frames(1000)), INDEXED),
    HostileFile("odd/sixteen-bit.png", _writer(_sixteen_bit()), INDEXED),
    HostileFile("odd/palette-transparency.png", _writer(_palette_with_transparency()), INDEXED),
    HostileFile("odd/cmyk.jpg", _writer(_encoded(_painting().convert("CMYK"), "JPEG")), INDEXED),
    HostileFile("odd/one-pixel.png", _writer(_encoded(_painting((1, 1)), "PNG")), INDEXED),
    HostileFile("odd/long-strip.png", _writer(_encoded(_painting((4000, 2)), "PNG")), INDEXED),
    HostileFile("places/fifo.jpg", _fifo, "unreadable"),
    HostileFile("places/directory.jpg", _directory, "unreadable"),
    HostileFile("places/dev-zero.jpg", _symlink_to("/dev/zero"), "outside_root"),
    HostileFile("places/link-out.jpg", _outside_file, "outside_root"),
    HostileFile("../beside.jpg", _beside_the_root, "outside_root"),
    HostileFile("places/../../beside.jpg", _beside_the_root, "outside_root"),
    HostileFile("/etc/hostname", lambda root, path: None, "outside_root"),
    HostileFile("places/sparse-3gb.jpg", _sparse(3 * 2**30), "too_large"),
    HostileFile("places/never-written.jpg", lambda root, path: None, "missing"),
    HostileFile("places/%2e%2e/encoded.jpg", lambda root, path: None, "missing"),
    HostileFile(DEEP_NAME, _writer(JPEG), INDEXED),
    # Sent by a producer of the user's own as JSON escapes it ("caf\udce9.jpg"): no valid text.
    HostileFile(NON_UTF8_NAME, _writer(JPEG), "malformed_record"),
)


def _record(fields: dict[str, object]) -> bytes:
    import json

    return json.dumps(fields).encode()


RECORDS: tuple[HostileRecord, ...] = (
    HostileRecord(b"r/array", b'["a.jpg"]', "malformed_record"),
    HostileRecord(b"r/object-array", b'[{"path": "a.jpg"}]', "malformed_record"),
    HostileRecord(
        b"r/unknown-field", _record({"path": "a.jpg", "colour": "red"}), "malformed_record"
    ),
    HostileRecord(b"r/no-path", _record({"id": "r/no-path", "metadata": {}}), "malformed_record"),
    HostileRecord(b"r/path-number", _record({"path": 42}), "malformed_record"),
    HostileRecord(
        b"r/metadata-list", _record({"path": "a.jpg", "metadata": [1]}), "malformed_record"
    ),
    HostileRecord(b"r/key-disagrees", _record({"id": "another", "path": "a.jpg"}), "key_mismatch"),
    HostileRecord(b"r/empty", b"", "malformed_record"),
    HostileRecord(b"r/tombstone", None, "malformed_record"),
    HostileRecord(b"r/blank", b"   \n", "malformed_record"),
    HostileRecord(b"r/bad-json", b'{"path": "a.jpg"', "malformed_record"),
    HostileRecord(
        b"r/not-utf8", b'{"path": "a.jpg", "metadata": {"artist": "\xff\xfe"}}', "malformed_record"
    ),
    HostileRecord(
        b"r/id-too-long", _record({"id": "x" * 600, "path": "a.jpg"}), "malformed_record"
    ),
    HostileRecord(
        b"r/unknown-contract",
        _record({"path": "a.jpg"}),
        "unknown_contract",
        (("imgsim-contract", b"zero"),),
    ),
    HostileRecord(b"r/number", b"42", "malformed_record"),
    # 10 MB that compress to a few KB: the broker takes it from a producer that allows it.
    HostileRecord(
        b"r/ten-megabytes", b'{"path": "' + b"a" * 10 * 2**20 + b'"}', "malformed_record"
    ),
    HostileRecord(b"r/ten-megabytes-random", os.urandom(10 * 2**20), BROKER_REFUSES),
    # The largest value read, as text of control characters (six bytes each in the dead
    # letter's JSON): a path too long to open, dead-lettered within what Kafka takes.
    HostileRecord(b"r/largest-value", b"\x01" * MAX_IMAGE_PATH_BYTES, "unreadable"),
)
