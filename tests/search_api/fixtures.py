"""A search API server on a test index of its own (exact `flat` vectors) in the real
Elasticsearch."""

import hashlib
import os
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
from imgsim_common.representations import METRICS, REPRESENTATIONS
from imgsim_stack.settings import StackSettings
from PIL import Image

from tests.vectorizer.fixtures import ONNX_CACHE, free_port

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
class ApiServer:
    url: str
    process: subprocess.Popen[bytes]


def start_api(elasticsearch_url: str, index: str, image_root: Path | None = None) -> ApiServer:
    port = free_port()
    env = {
        **os.environ,
        "SEARCH_API_ELASTICSEARCH_URL": elasticsearch_url,
        "SEARCH_API_INDEX": index,
        "SEARCH_API_IMAGE_ROOT": str(image_root or "."),
        "SEARCH_API_THUMBNAIL_CACHE_DIR": str((image_root or Path(".")) / ".thumbnails"),
        "SEARCH_API_MODEL_WEIGHTS": "random",
        "SEARCH_API_ONNX_CACHE_DIR": str(ONNX_CACHE),
        "SEARCH_API_REQUEST_TIMEOUT_S": "3",
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
    server.process.terminate()
    server.process.wait(10)
