"""The robustness part of `imgsim evaluate` against an API that bounds its uploads at once, as
the search API does (429 with Retry-After, the connection closed): uploads are paced to the bound
and sent again when refused or dropped, and those that still fail are counted by kind, in the
JSON and beside the rank-1 column (tests.cli.evaluate_fake_api.py)."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from imgsim_cli import evaluate
from imgsim_cli.evaluate_uploads import ATTEMPTS

from tests.cli.evaluate_fake_api import FakeApi, Painting, collection, write_set
from tests.support import serving

ALTERED = 6  # paintings altered: 3 variants each, searched by both metrics
UPLOADS = ALTERED * 3 * 2


@pytest.fixture
def painted(tmp_path: Path) -> tuple[Path, Path, list[Painting]]:
    paintings = collection()
    return tmp_path, write_set(tmp_path, paintings), paintings


def run(
    painted: tuple[Path, Path, list[Painting]],
    fake: FakeApi,
    transport: httpx.AsyncBaseTransport | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Evaluates against the fake under uvicorn, 8 requests at a time; the JSON report."""
    root, metadata, _ = painted
    report = root / "report.json"
    with serving(fake.app()) as url:
        options = evaluate.Options(
            images=root,
            metadata=metadata,
            api=url,
            concurrency=8,
            json=report,
            progress=False,
            **({"robustness": ALTERED} | settings),
        )
        assert evaluate.run(options, transport) == 0
    found: dict[str, Any] = json.loads(report.read_text())
    return found


def robustness_of(report: dict[str, Any], representation: str, metric: str) -> dict[str, Any]:
    (row,) = [
        r
        for r in report["results"]
        if r["representation"] == representation and r["metric"] == metric
    ]
    found: dict[str, Any] = row["robustness"]
    return found


@pytest.mark.parametrize("bound", [1, 2])
def test_uploads_are_paced_to_the_apis_bound_and_none_fails(
    painted: tuple[Path, Path, list[Painting]], bound: int
) -> None:
    # Uploads long enough to overlap at the API even on a loaded machine.
    fake = FakeApi(painted[2], max_uploads=bound, upload_s=0.1)

    report = run(painted, fake)

    robustness = report["robustness"]
    assert robustness["failures"] == {} and robustness["failed"] == {}
    assert robustness["asked"] == UPLOADS == sum(robustness["uploads"].values())
    assert robustness["failure_rate"] == 0.0
    # Every upload found its original, and the figure says on how many it stands.
    assert robustness_of(report, "style_trained", "cosine") == {
        "rank1": 1.0,
        "uploads": UPLOADS // 2,
        "failed": 0,
        "by_variant": {"crop": 1.0, "rescale": 1.0, "jpeg": 1.0},
    }
    # Paced, not flooded: the bound is learnt from at most one refusal, never hit again.
    refused = [status for _, status in fake.received if status == 429]
    assert len(refused) <= 1 and sum(robustness["retries"].values()) == len(refused)
    assert len(fake.received) == UPLOADS + 1 + len(refused)  # the probe's upload included
    assert fake.most_uploads_at_once == bound


def test_an_api_that_takes_more_uploads_at_once_gets_more_up_to_its_bound(
    painted: tuple[Path, Path, list[Painting]],
) -> None:
    # Uploads long enough to overlap at the API even on a loaded machine.
    fake = FakeApi(painted[2], max_uploads=4, upload_s=0.1)

    report = run(painted, fake, queries=None, robustness=20)

    robustness = report["robustness"]
    assert robustness["failures"] == {}
    assert sum(robustness["uploads"].values()) == 20 * 3 * 2
    # Grown from 2 to the API's 4 at once, past it once, refused once, and never again.
    assert fake.most_uploads_at_once == 4 < robustness["at_once"]
    assert sum(1 for _, status in fake.received if status == 429) == 1


def test_a_429_is_sent_again_after_its_retry_after(
    painted: tuple[Path, Path, list[Painting]],
) -> None:
    # The connection kept, so that the client reads each 429 and its Retry-After.
    fake = FakeApi(painted[2], refuse_first=3, retry_after="1", close_on_429=False)

    report = run(painted, fake)

    robustness = report["robustness"]
    assert robustness["failures"] == {}
    assert robustness["retries"] == {"429 too_many_uploads": 3}
    assert sum(robustness["uploads"].values()) == UPLOADS
    # The probe's upload, refused three times: each sent again a Retry-After later, not before.
    (t0, s0), (t1, s1), (t2, s2), (t3, s3) = fake.received[:4]
    assert (s0, s1, s2, s3) == (429, 429, 429, 200)
    assert min(t1 - t0, t2 - t1, t3 - t2) >= 0.95


class Dropping(httpx.AsyncBaseTransport):
    """Drops the connection of the first `drops` uploads, as a server closing it would."""

    def __init__(self, drops: int) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.drops = drops

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/similar/upload" and self.drops:
            self.drops -= 1
            raise httpx.ReadError("the server closed the connection", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_dropped_connection_is_sent_again(painted: tuple[Path, Path, list[Painting]]) -> None:
    fake = FakeApi(painted[2])

    report = run(painted, fake, Dropping(drops=2))

    robustness = report["robustness"]
    assert robustness["failures"] == {}
    assert robustness["retries"] == {"no answer: ReadError": 2}
    assert sum(robustness["uploads"].values()) == UPLOADS
    assert robustness_of(report, "style_trained", "l2")["rank1"] == 1.0


def test_uploads_that_still_fail_are_counted_by_kind_and_shown_beside_rank1(
    painted: tuple[Path, Path, list[Painting]], capsys: pytest.CaptureFixture[str]
) -> None:
    held_out = sorted(p.id for p in painted[2] if not p.in_train)
    # Every held-out painting is altered; the last two always fail, one refused for good, one
    # failing outright (not sent again). The first, whose upload is the probe, answers.
    fake = FakeApi(painted[2], retry_after="0", failing={held_out[-1]: 429, held_out[-2]: 500})

    report = run(painted, fake, queries=None, robustness=len(held_out))

    asked = len(held_out) * 3 * 2
    robustness = report["robustness"]
    assert robustness["asked"] == asked
    assert robustness["failures"] == {"429 too_many_uploads": 6, "500 embedding_failed": 6}
    assert robustness["failed"] == {
        f"{m}/{v}": 2 for m in ("cosine", "l2") for v in ("crop", "rescale", "jpeg")
    }
    assert robustness["failure_rate"] == round(12 / asked, 4)
    # The refused painting's uploads were each tried ATTEMPTS times, no more.
    assert robustness["retries"] == {"429 too_many_uploads": 6 * (ATTEMPTS - 1)}
    assert sum(1 for _, status in fake.received if status == 429) == 6 * ATTEMPTS
    # rank-1 stands on the answered uploads only, and says on how many.
    answered = len(held_out) * 3 - 6
    assert robustness_of(report, "style_trained", "cosine") == {
        "rank1": 1.0,
        "uploads": answered,
        "failed": 6,
        "by_variant": {"crop": 1.0, "rescale": 1.0, "jpeg": 1.0},
    }
    printed = capsys.readouterr().out
    assert f"1.000 of {answered}, 6 failed" in printed
    assert f"{asked} uploads of altered copies" in printed
    assert "12 FAILED" in printed
    assert "6 429 too_many_uploads" in printed and "6 500 embedding_failed" in printed
