"""Images and thumbnails of paintings whose files are awkward: rendered once however many ask at
once, refused in a format ingestion refuses, and counted when missing or unreadable."""

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from tests.search_api.fixtures import ApiServer, OddFiles

pytestmark = pytest.mark.integration


def misses(api: ApiServer) -> dict[str, float]:
    text = httpx.get(f"{api.url}/metrics").text
    found = re.findall(
        r'^imgsim_search_api_image_misses_total\{reason="(\w+)"\} (\S+)$', text, re.M
    )
    return {reason: float(value) for reason, value in found}


def test_concurrent_requests_for_one_uncached_thumbnail_all_get_it(
    api: ApiServer, odd_files: OddFiles, image_root: Path
) -> None:
    cached = odd_files.cached_thumbnail(image_root, odd_files.fresh)

    async def at_once(count: int) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=api.url, timeout=60) as client:
            url = f"/thumbnails/{odd_files.fresh}"
            return await asyncio.gather(*(client.get(url) for _ in range(count)))

    for _ in range(5):  # the renders of one round overlap more or less: several rounds
        cached.unlink(missing_ok=True)
        responses = asyncio.run(at_once(12))

        failures = [r.text for r in responses if r.status_code != 200]
        assert failures == []
        assert len({r.content for r in responses}) == 1
        assert cached.read_bytes() == responses[0].content
    assert [p.name for p in cached.parent.glob("*.partial")] == []


def test_a_file_in_a_format_ingestion_refuses_gets_no_thumbnail(
    api: ApiServer, odd_files: OddFiles
) -> None:
    before = misses(api)

    response = httpx.get(f"{api.url}/thumbnails/{odd_files.refused}")

    assert response.status_code == 422
    assert response.json()["reason"] == "not_an_image"
    assert "JPEG, PNG, GIF, TIFF, BMP, WEBP" in response.json()["error"]
    assert misses(api)["not_an_image"] == before["not_an_image"] + 1


def test_a_missing_file_is_a_404_counted_as_missing(api: ApiServer, odd_files: OddFiles) -> None:
    before = misses(api)

    image = httpx.get(f"{api.url}/images/{odd_files.deleted}")
    thumbnail = httpx.get(f"{api.url}/thumbnails/{odd_files.deleted}")

    assert image.status_code == thumbnail.status_code == 404
    assert image.json()["reason"] == thumbnail.json()["reason"] == "missing"
    assert misses(api)["missing"] == before["missing"] + 2
    assert misses(api)["corrupt"] == before["corrupt"]


def test_a_file_that_is_no_image_is_a_422_counted_by_its_reason(
    api: ApiServer, odd_files: OddFiles
) -> None:
    before = misses(api)

    thumbnail = httpx.get(f"{api.url}/thumbnails/{odd_files.garbage}")

    assert thumbnail.status_code == 422
    assert thumbnail.json()["reason"] == "not_an_image"
    assert misses(api)["not_an_image"] == before["not_an_image"] + 1
    assert misses(api)["missing"] == before["missing"]
