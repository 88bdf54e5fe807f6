"""What the publisher (`imgsim publish DIR`, `make publish`) must do with the hostile files where
it, not the worker, decides: publish the file (the worker then gives it the case's outcome in
tests/faults/hostile.py), refuse it with a reason in its summary, or never see it (nothing under
the image root to publish). Kept as data, beside the corpus it names."""

from tests.faults.hostile import DEEP_NAME, NON_UTF8_NAME

PUBLISHED = "published"
NOT_SCANNED = "not scanned"

# `imgsim publish DIR`: the folder scanned. Case name -> PUBLISHED, NOT_SCANNED, or (a part of)
# the reason of the publisher's refusal.
SCANNED: dict[str, str] = {
    "places/fifo.jpg": PUBLISHED,
    "places/dev-zero.jpg": PUBLISHED,
    "places/link-out.jpg": PUBLISHED,
    "places/sparse-3gb.jpg": PUBLISHED,
    "odd/one-pixel.png": PUBLISHED,
    # A folder, walked into like any other: it holds nothing.
    "places/directory.jpg": NOT_SCANNED,
    # Made beside the image root, or not made at all: nothing under the root to find.
    "../beside.jpg": NOT_SCANNED,
    "places/../../beside.jpg": NOT_SCANNED,
    "/etc/hostname": NOT_SCANNED,
    "places/never-written.jpg": NOT_SCANNED,
    # Its id would be the path, longer than the contract's 512 characters.
    DEEP_NAME: "id: String should have at most 512 characters",
    NON_UTF8_NAME: "name is not valid UTF-8",
}

# `imgsim publish DIR --list FILE`, the list naming each of these (none is published: an id
# published twice would be dead-lettered twice). Case name -> (a part of) the refusal's reason.
LISTED: dict[str, str] = {
    "../beside.jpg": "outside the image root",
    "places/../../beside.jpg": "outside the image root",
    "/etc/hostname": "outside the image root",
    "places/never-written.jpg": "no such file",
    "places/%2e%2e/encoded.jpg": "no such file",
    # Not regular files: the list publishes only what it can tell is one.
    "places/fifo.jpg": "not a regular file",
    "places/directory.jpg": "not a regular file",
    "places/dev-zero.jpg": "not a regular file",
    DEEP_NAME: "id: String should have at most 512 characters",
}
