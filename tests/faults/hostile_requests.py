"""The hostile-input corpus's requests: what a scanner, a fuzzer or a careless client sends the
search API, kept as data that test_hostile_requests.py sends with every `Accept` type. Each case
names the statuses it may get; none may be a 5xx, a non-JSON error or a file from outside the
image root."""

import io
import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from imgsim_common.representations import by_name
from PIL import Image

# The test index's painting whose stored path leaves the image root (tests/search_api/fixtures.py).
ESCAPING = "collection/painting-058.jpg"
PAINTING = "collection/painting-001.jpg"
ACCEPTS = (
    "application/json",
    "application/x-ndjson",
    "text/event-stream",
    "text/html",
    "*/*",
    "image/png",
    "no/such-type",
)
REFUSED = frozenset({400})
NOT_FOUND = frozenset({404})
EITHER = frozenset({400, 404})


@dataclass(frozen=True)
class HostileRequest:
    label: str
    method: str
    path: str  # sent as is: encodings are the case
    expected: frozenset[int]
    options: dict[str, Any] = field(default_factory=dict)


def _png_bomb() -> bytes:
    """A valid PNG header declaring 60,000 x 60,000 pixels (3.6 billion), a few bytes of data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0"))


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


GLOBAL_DIMS = by_name("global").dims

REQUESTS: tuple[HostileRequest, ...] = (
    # Ids that try to leave the image root, in every encoding.
    HostileRequest("traversal", "GET", "/images/../../etc/passwd", NOT_FOUND),
    HostileRequest("traversal %2e%2e", "GET", "/images/%2e%2e/%2e%2e/etc/passwd", NOT_FOUND),
    HostileRequest("traversal %2F", "GET", "/images/..%2F..%2Fetc%2Fpasswd", NOT_FOUND),
    HostileRequest(
        "traversal double-encoded", "GET", "/images/..%252f..%252fetc%252fpasswd", NOT_FOUND
    ),
    HostileRequest("traversal backslash", "GET", "/thumbnails/..%5c..%5cetc%5cpasswd", NOT_FOUND),
    HostileRequest("traversal overlong UTF-8", "GET", "/images/%c0%ae%c0%ae/etc/passwd", NOT_FOUND),
    HostileRequest("absolute path", "GET", "/images//etc/passwd", NOT_FOUND),
    HostileRequest(
        "stored path out of the root", "GET", f"/images/{ESCAPING}", frozenset({404, 422})
    ),
    HostileRequest("its thumbnail", "GET", f"/thumbnails/{ESCAPING}", frozenset({404, 422})),
    # NUL bytes and very long ids.
    HostileRequest("NUL in an id", "GET", "/paintings/a%00b.jpg", NOT_FOUND),
    HostileRequest("NUL in a similar id", "GET", "/similar/x%00.jpg", NOT_FOUND),
    HostileRequest("10,000-character id", "GET", "/paintings/" + "x" * 10_000, NOT_FOUND),
    HostileRequest("long similar id", "GET", "/similar/" + "y" * 5_000, NOT_FOUND),
    HostileRequest("right-to-left override", "GET", "/paintings/%E2%80%AEgpj.exe", NOT_FOUND),
    # Numbers out of range or not numbers, repeated and unknown parameters.
    HostileRequest("k=0", "GET", f"/similar/{PAINTING}?k=0", REFUSED),
    HostileRequest("k=-1", "GET", f"/similar/{PAINTING}?k=-1", REFUSED),
    HostileRequest("k huge", "GET", f"/similar/{PAINTING}?k=" + "9" * 400, REFUSED),
    HostileRequest("k=1e3", "GET", f"/similar/{PAINTING}?k=1e3", REFUSED),
    HostileRequest("k not a number", "GET", f"/similar/{PAINTING}?k=ten", REFUSED),
    HostileRequest("size=0", "GET", "/paintings?size=0", REFUSED),
    HostileRequest("size=NaN", "GET", "/random?size=NaN", REFUSED),
    HostileRequest("year beyond 32 bits", "GET", "/paintings?year_from=2147483648", REFUSED),
    HostileRequest("repeated k", "GET", f"/similar/{PAINTING}?k=1&k=500", frozenset({200, 400})),
    HostileRequest("unknown parameter", "GET", "/paintings?colour=red", frozenset({200})),
    HostileRequest(
        "unknown representation", "GET", f"/similar/{PAINTING}?representation=../x", REFUSED
    ),
    HostileRequest("unknown metric", "GET", f"/similar/{PAINTING}?metric=manhattan", REFUSED),
    HostileRequest("bad cursor", "GET", "/paintings?after=%%%", REFUSED),
    HostileRequest("made-up cursor", "GET", "/paintings?after=WzEsMl0", REFUSED),
    # Query-string syntax meant for Lucene: matched as text, never run.
    HostileRequest("Lucene match-all", "GET", "/paintings?artist=*:*", frozenset({200})),
    HostileRequest(
        "Lucene boolean", "GET", "/paintings?q=title:(a%20AND%20b)%5E9", frozenset({200})
    ),
    HostileRequest("Lucene regexp", "GET", "/paintings?artist=/.*/", frozenset({200})),
    HostileRequest(
        "regexp operators",
        "GET",
        "/paintings?style=%5Ba-z%5D%2B%7C%40%26~%3C1-9%3E",
        frozenset({200}),
    ),
    HostileRequest("filter too long", "GET", "/paintings?artist=" + "a" * 201, REFUSED),
    # Bodies: malformed, oversized, deep, wrong dimensions, not finite.
    HostileRequest("body not JSON", "POST", "/similar", REFUSED, {"content": b"{"}),
    HostileRequest("body an array", "POST", "/similar", REFUSED, {"content": b"[]"}),
    HostileRequest("body null", "POST", "/similar", REFUSED, {"content": b"null"}),
    HostileRequest(
        "deep nesting", "POST", "/similar", REFUSED, {"content": _nested(50_000).encode()}
    ),
    HostileRequest(
        "body of 2 MB", "POST", "/similar", frozenset({413}), {"content": b" " * (2 << 20)}
    ),
    HostileRequest(
        "wrong dimensions",
        "POST",
        "/similar",
        REFUSED,
        {"content": json.dumps({"representation": "global", "vector": [0.5] * 7}).encode()},
    ),  # fmt: skip
    HostileRequest(
        "NaN",
        "POST",
        "/similar",
        REFUSED,
        {
            "content": b'{"representation": "global", "vector": [NaN'
            + b", 1" * (GLOBAL_DIMS - 1)
            + b"]}"
        },
    ),  # fmt: skip
    HostileRequest(
        "Infinity",
        "POST",
        "/similar",
        REFUSED,
        {
            "content": b'{"representation": "global", "vector": [Infinity'
            + b", 1" * (GLOBAL_DIMS - 1)
            + b"]}"
        },
    ),  # fmt: skip
    HostileRequest(
        "zeros by cosine",
        "POST",
        "/similar",
        REFUSED,
        {"content": json.dumps({"representation": "global", "vector": [0] * GLOBAL_DIMS}).encode()},
    ),  # fmt: skip
    HostileRequest(
        "blend without clauses", "POST", "/similar/blend", REFUSED, {"content": b'{"clauses": []}'}
    ),
    HostileRequest(
        "blend upload clause as JSON",
        "POST",
        "/similar/blend",
        REFUSED,
        {"content": b'{"clauses": [{"upload": true, "representation": "global"}]}'},
    ),  # fmt: skip
    # Uploads that are not images, bombs, too large, or no upload at all.
    HostileRequest(
        "upload not an image",
        "POST",
        "/similar/upload",
        frozenset({422}),
        {"content": b"plain text"},
    ),
    HostileRequest(
        "upload a PNG bomb", "POST", "/similar/upload", frozenset({413}), {"content": _png_bomb()}
    ),
    HostileRequest(
        "upload of 21 MB",
        "POST",
        "/similar/upload",
        frozenset({413}),
        {"content": b"\0" * (21 << 20)},
    ),
    HostileRequest("upload empty", "POST", "/similar/upload", frozenset({422}), {"content": b""}),
    HostileRequest(
        "upload form without image",
        "POST",
        "/similar/upload",
        frozenset({422}),
        {"files": {"picture": ("p.jpg", _jpeg(), "image/jpeg")}},
    ),  # fmt: skip
    HostileRequest("method not allowed", "DELETE", f"/paintings/{PAINTING}", frozenset({405})),
    HostileRequest("no such route", "GET", "/admin/../../etc/passwd", NOT_FOUND),
)
