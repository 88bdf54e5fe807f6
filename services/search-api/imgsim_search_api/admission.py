"""How many upload searches run at once: at most `SEARCH_API_MAX_CONCURRENT_UPLOADS`.

An upload is the most expensive request the API takes: up to 20 MiB read into memory, checked,
sent to the vectorizer and vectorized there. Past the bound an upload is answered 429 with
`Retry-After` at once, before a byte of its body is read, and with `Connection: close`: the
server closes the connection instead of receiving the rest of the body only to discard it (a
client that sent `Expect: 100-continue` is never asked for it; HTTP clients read the answer of a
server that closed while they were still sending). So a flood of large uploads costs a connection
and a few buffers each, and searches by painting or vector are never queued behind it.

The slot covers reading, checking and vectorizing the upload; the kNN searches that follow are
like any other search's and are not counted.
"""

import contextlib
from collections.abc import Iterator
from typing import Final

from prometheus_client import Gauge

from imgsim_search_api.errors import RequestError

# A slot frees within one upload's round trip to the vectorizer (tenths of a second to a few
# seconds): one second is the shortest wait Retry-After can say.
RETRY_AFTER_S: Final = 1

IN_FLIGHT = Gauge(
    "imgsim_search_api_uploads_in_flight",
    "Upload searches being read, checked or vectorized now (at most "
    "SEARCH_API_MAX_CONCURRENT_UPLOADS).",
)


class UploadAdmission:
    """Counts the uploads in flight. The event loop runs one request step at a time and nothing
    is awaited between the check and the count, so a plain counter is exact."""

    def __init__(self, limit: int, retry_after_s: int = RETRY_AFTER_S) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.in_flight = 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Held while one upload is read and vectorized; 429 when all are taken."""
        if self.in_flight >= self.limit:
            raise RequestError(
                429,
                f"too many uploads at once: {self.in_flight} are being searched, the most this "
                f"server takes (SEARCH_API_MAX_CONCURRENT_UPLOADS); try again in "
                f"{self.retry_after_s} s",
                reason="too_many_uploads",
                retry_after_s=self.retry_after_s,
            )
        self.in_flight += 1
        IN_FLIGHT.inc()
        try:
            yield
        finally:
            self.in_flight -= 1
            IN_FLIGHT.dec()
