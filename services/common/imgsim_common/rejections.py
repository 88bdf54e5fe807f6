"""Why an image cannot become a vector record: the `reason` of an `image-paths-dlq` record.

The reasons are part of the dead-letter topic's contract (users count and route by them), so they
live here rather than beside the decoding that raises most of them.
"""

from enum import StrEnum


class RejectReason(StrEnum):
    MISSING = "missing"
    OUTSIDE_ROOT = "outside_root"
    UNREADABLE = "unreadable"
    EMPTY = "empty"
    TOO_LARGE = "too_large"
    TOO_MANY_PIXELS = "too_many_pixels"
    NOT_AN_IMAGE = "not_an_image"
    CORRUPT = "corrupt"


class ImageRejected(Exception):
    def __init__(self, reason: RejectReason, message: str) -> None:
        # Both in args, so the exception survives pickling (a process pool, a log handler).
        super().__init__(reason, message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message
