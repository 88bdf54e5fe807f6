"""A search API server on a test index of its own (exact `flat` vectors) in the real
Elasticsearch, and a TCP forwarder to put between the two."""

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from elasticsearch import Elasticsearch
from elasticsearch.helpers import bulk
from imgsim_common import mapping
from imgsim_common.model_card import ModelCard, RepresentationCard, backbone_card
from imgsim_common.representations import METRICS, REPRESENTATIONS
from imgsim_search_api.index_watch import IndexWatch
from imgsim_stack.settings import StackSettings
from PIL import Image
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

from tests.search_api.embedding_fake import shared_service
from tests.support import free_port

ARTISTS = ("Monet", "Degas", "Morisot", "Cassatt")
STYLES = ("Impressionism", "Realism")


@dataclass
class SearchIndex:
    name: str
    documents: dict[str, dict[str, Any]]


@pytest.fixture(scope="session")
def image_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("search-images")
    (root / "collection").mkdir()
    rng = np.random.default_rng(6)
    for i in range(5):
        pixels = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "collection" / f"painting-{i:03d}.jpg")
    return root


@pytest.fixture(scope="session")
def search_index(
    stack: StackSettings, es: Elasticsearch, image_root: Path
) -> Iterator[SearchIndex]:
    name = f"test-search-{uuid.uuid4().hex[:8]}"
    es.indices.create(index=name, mappings=mapping.mappings(index_options="flat"))
    rng = np.random.default_rng(5)
    documents: dict[str, dict[str, Any]] = {}
    for i in range(60):
        painting_id = f"collection/painting-{i:03d}.jpg"
        vectors = {r.name: rng.standard_normal(r.dims).astype(np.float32) for r in REPRESENTATIONS}
        file = image_root / painting_id
        documents[painting_id] = {
            "id": painting_id,
            "path": painting_id,
            "sha1": hashlib.sha1(file.read_bytes() if file.exists() else b"").hexdigest(),
            "metadata": {
                "artist": ARTISTS[i % len(ARTISTS)],
                "style": STYLES[i % len(STYLES)],
                "title": f"Painting {i}",
                "year": 1860 + i,
            },
            "vectors": {
                name: {metric.value: vector.tolist() for metric in METRICS}
                for name, vector in vectors.items()
            },
        }
    # A record whose path would leave the image root must never be served.
    documents["collection/painting-058.jpg"]["path"] = "../../../etc/passwd"
    # One painting from an older model: it lacks the `mid` representation.
    del documents["collection/painting-059.jpg"]["vectors"]["mid"]
    bulk(es, ({"_index": name, "_id": k, "_source": v} for k, v in documents.items()))
    es.indices.refresh(index=name)
    yield SearchIndex(name, documents)
    es.indices.delete(index=name)


@dataclass
class OddFiles:
    """Paintings in the test index whose files are awkward, all by `ARTIST`."""

    ARTIST = "Nobody Kept"
    fresh: str = "odd/fresh.png"  # a good image no test has asked a thumbnail of yet
    deleted: str = "odd/deleted.jpg"  # indexed, then its file deleted
    garbage: str = "odd/garbage.jpg"  # not an image at all
    refused: str = "odd/refused.ppm"  # an image in a format ingestion refuses

    def cached_thumbnail(self, image_root: Path, painting_id: str, size: int = 256) -> Path:
        sha1 = hashlib.sha1((image_root / painting_id).read_bytes()).hexdigest()
        return image_root / ".thumbnails" / f"{sha1}-{size}.jpg"


@pytest.fixture(scope="module")
def odd_files(es: Elasticsearch, search_index: SearchIndex, image_root: Path) -> Iterator[OddFiles]:
    """Added to the test index (and `search_index.documents`) for the module, then taken out."""
    odd = OddFiles()
    folder = image_root / "odd"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(11)
    pixels = rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(image_root / odd.fresh)
    Image.fromarray(pixels[:300, :400]).save(image_root / odd.deleted)
    (image_root / odd.garbage).write_bytes(b"these bytes are no picture " * 40)
    Image.fromarray(pixels[:300, :400]).save(image_root / odd.refused)
    ids = (odd.fresh, odd.deleted, odd.garbage, odd.refused)
    for n, painting_id in enumerate(ids):
        vectors = {r.name: rng.standard_normal(r.dims).tolist() for r in REPRESENTATIONS}
        document = {
            "id": painting_id,
            "path": painting_id,
            "sha1": hashlib.sha1((image_root / painting_id).read_bytes()).hexdigest(),
            "metadata": {"artist": OddFiles.ARTIST, "title": f"Odd {n}", "year": 1700 + n},
            "vectors": {
                name: {metric.value: vector for metric in METRICS}
                for name, vector in vectors.items()
            },
        }
        es.index(index=search_index.name, id=painting_id, document=document)
        search_index.documents[painting_id] = document
    es.indices.refresh(index=search_index.name)
    (image_root / odd.deleted).unlink()
    yield odd
    for painting_id in ids:
        es.delete(index=search_index.name, id=painting_id)
        del search_index.documents[painting_id]
    es.indices.refresh(index=search_index.name)
    shutil.rmtree(folder)


# Genres are on the paintings `genred` adds (the 60 above have none): a value of one word, and
# one of two words whose later word a typed filter may start.
GENRES = ("Landscape", "Portrait", "Still Life")


@pytest.fixture(scope="module")
def genred(es: Elasticsearch, search_index: SearchIndex) -> Iterator[list[str]]:
    """Nine paintings with a genre, added to the test index (and `search_index.documents`) for
    the module, then taken out; their ids. They carry what a catalogue gives besides: a `date` and
    the `year` read from it (the last one a date no year could be read from), `source` and file
    sizes, which the gallery must not show."""
    rng = np.random.default_rng(23)
    ids = [f"genre/painting-{i}.jpg" for i in range(9)]
    for i, painting_id in enumerate(ids):
        vectors = {r.name: rng.standard_normal(r.dims).tolist() for r in REPRESENTATIONS}
        metadata = {
            "artist": ARTISTS[i % len(ARTISTS)],
            "style": STYLES[i % len(STYLES)],
            "genre": GENRES[i % len(GENRES)],
            "title": f"Genre {i}",
            **({"date": f"c. {1880 + i}", "year": 1880 + i} if i < 8 else {"date": "undated"}),
            "source": "catalogue-internal",
            "size_bytes": 734_581,
        }
        document = {
            "id": painting_id,
            "path": painting_id,
            "metadata": metadata,
            "vectors": {n: {m.value: v for m in METRICS} for n, v in vectors.items()},
        }
        es.index(index=search_index.name, id=painting_id, document=document)
        search_index.documents[painting_id] = document
    es.indices.refresh(index=search_index.name)
    yield ids
    for painting_id in ids:
        es.delete(index=search_index.name, id=painting_id)
        del search_index.documents[painting_id]
    es.indices.refresh(index=search_index.name)


@dataclass
class ApiServer:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def start_api(
    elasticsearch_url: str,
    index: str,
    image_root: Path | None = None,
    request_timeout_s: float = 3,
    checker_url: str = "",
    environment: dict[str, str] | None = None,
    embedding_url: str | None = None,
) -> ApiServer:
    """The API on a free port; with no `checker_url` its ingestion relay is switched off (the
    shared stack's checker is never asked by a test). Uploads go to `embedding_url`, by default
    to the session's stand-in for the vectorizer's endpoint. `environment`: more settings."""
    if embedding_url is None:
        embedding_url = shared_service()[1]
    port = free_port()
    env = {
        **os.environ,
        "SEARCH_API_ELASTICSEARCH_URL": elasticsearch_url,
        "SEARCH_API_INDEX": index,
        "SEARCH_API_IMAGE_ROOT": str(image_root or "."),
        "SEARCH_API_THUMBNAIL_CACHE_DIR": str((image_root or Path(".")) / ".thumbnails"),
        "SEARCH_API_EMBEDDING_URL": embedding_url,
        "SEARCH_API_REQUEST_TIMEOUT_S": str(request_timeout_s),
        "SEARCH_API_CHECKER_URL": checker_url,
        **(environment or {}),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "imgsim_search_api.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return ApiServer(url, process)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the search API did not start")


@pytest.fixture(scope="session")
def api(stack: StackSettings, search_index: SearchIndex, image_root: Path) -> Iterator[ApiServer]:
    server = start_api(stack.elasticsearch, search_index.name, image_root)
    yield server
    server.stop()


class IndexStandIn:
    """Elasticsearch as `IndexWatch` asks it: the mapping of one index and the model versions its
    paintings name (version -> (name, paintings)); `asked` counts the mapping requests."""

    def __init__(
        self,
        name: str = "paintings-v1",
        mappings: dict[str, Any] | None = None,
        versions: dict[str, tuple[str, int]] | None = None,
    ) -> None:
        self.name = name
        self.mappings = mapping.mappings() if mappings is None else mappings
        self.versions = versions or {}
        self.asked = 0
        self.indices = self  # get_mapping is asked of `es.indices`

    async def get_mapping(self, index: str) -> dict[str, Any]:
        self.asked += 1
        return {self.name: {"mappings": self.mappings}}

    async def search(self, index: str, body: dict[str, Any]) -> dict[str, Any]:
        assert body["size"] == 0 and "versions" in body["aggs"], body
        buckets = [
            {"key": version, "doc_count": count, "names": {"buckets": [{"key": name}]}}
            for version, (name, count) in self.versions.items()
        ]
        total = sum(count for _, count in self.versions.values())
        return {
            "hits": {"total": {"value": total}, "hits": []},
            "aggregations": {"versions": {"buckets": buckets}},
        }


def watching(stand_in: IndexStandIn | None = None, alias: str = "paintings") -> IndexWatch:
    """What the app asks for what the index holds, answered by a stand-in (the base index's
    mapping and no painting by default)."""
    client: Any = stand_in or IndexStandIn()  # the stand-in has the methods used
    return IndexWatch(client, alias, max_age_s=5)


def card(version: str, *trained: tuple[str, int], name: str = "test-model") -> ModelCard:
    """A model card: the backbone's three representations and `trained` (name, dims) ones."""
    base = backbone_card("MobileNetV3Large", 224, "random", version)
    extra = [
        RepresentationCard(name=n, dims=d, description=f"trained {n}", source="trained")
        for n, d in trained
    ]
    return base.model_copy(
        update={"name": name, "representations": [*base.representations, *extra]}
    )


def fill_model_index(
    es: Elasticsearch, index: str, made: ModelCard, seed: int, paintings: int = 12
) -> dict[str, dict[str, list[float]]]:
    """Creates a model version's index from its card (as `mapping.model_index` maps it, with exact
    `flat` vectors) and fills it with paintings vectorized, at random, by the card's model;
    returns painting id -> representation -> vector."""
    es.indices.create(index=index, **mapping.model_index(made, index_options="flat"))
    rng = np.random.default_rng(seed)
    vectors: dict[str, dict[str, list[float]]] = {}
    for i in range(paintings):
        painting_id = f"swap/painting-{i:02d}.jpg"
        vectors[painting_id] = {
            r.name: rng.standard_normal(r.dims).astype(np.float32).tolist()
            for r in made.representations
        }
    documents = (
        {
            "_index": index,
            "_id": painting_id,
            "_source": {
                "id": painting_id,
                "path": painting_id,
                "metadata": {"title": f"Swap {painting_id[-6:-4]}", "artist": "Swapper"},
                "model": made.info.model_dump(),
                "vectors": {n: {m.value: v for m in METRICS} for n, v in by_name.items()},
            },
        }
        for painting_id, by_name in vectors.items()
    )
    bulk(es, documents, refresh=True)
    return vectors


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking switches Chromium keeps dialling Google on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright (no browser is downloaded)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is needed for the browser tests (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page that fails the test on any JavaScript error. It bypasses the gallery's
    Content-Security-Policy: Playwright's `wait_for_function` compiles its predicate in the page,
    which a policy without 'unsafe-eval' forbids. test_security_headers_gallery.py drives every
    view under the policy itself."""
    with opened_page(browser, {"width": 1280, "height": 900}) as opened:
        yield opened


DESKTOP: ViewportSize = {"width": 1440, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}


@contextlib.contextmanager
def opened_page(browser: Browser, viewport: ViewportSize) -> Iterator[Page]:
    """A page of `viewport` (a phone's, 3 device pixels to the CSS pixel, touch, below 720 px
    wide) that fails the test on any JavaScript error; past the policy as `page` says."""
    phone = viewport["width"] < 720
    context = browser.new_context(
        viewport=viewport,
        device_scale_factor=3 if phone else 1,
        is_mobile=phone,
        bypass_csp=True,
    )
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def sized(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    """A page at desktop size, then at a phone's (`opened_page`)."""
    with opened_page(browser, request.param) as opened:
        yield opened


def open_filters(page: Page) -> None:
    """Shows the gallery's filters: on a phone they wait behind their button, which opens them."""
    viewport = page.viewport_size
    if viewport and viewport["width"] < 720:
        assert not page.is_visible("#filters"), "on a phone the filters wait behind a button"
        page.click(".filters-toggle")
    page.wait_for_selector("#filters", state="visible")
