"""Upload search benchmark: the search API without the network, in one run.

Needs Elasticsearch (`make up`). On a throwaway index of its own (paintings vectorized by the
embedding endpoint) it measures:
- where the model lives now, the vectorizer's embedding endpoint run alone
  (`python -m imgsim_vectorizer.embedding_server`): resident memory and time until it answers;
- the search API with upload search on (SEARCH_API_EMBEDDING_URL): resident memory, time until
  /readyz and until its first upload is answered, and upload search end to end (an altered copy
  of an indexed painting in, its neighbours out, every representation, k=10) over `--uploads`
  uploads one at a time: p50/p95, and the embedding endpoint's share (`POST /embeddings` alone);
- before: a process that imports the API and loads the model as upload search did before issue
  12 (resident memory, time until the model is ready) and, with `--before REV`, the search API of
  that git revision itself, which loaded the model in its process (`SEARCH_API_MODEL_*`),
  measured as above; its code is read with `git archive`, the checkout is not touched.

The model is the backbone with random weights unless VECTORIZER_MODEL_PATH / _WEIGHTS say
otherwise (the same settings reach the endpoint, the reference process and the old API).
"""

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from api_process import api_argv
from elasticsearch import Elasticsearch
from elasticsearch.helpers import bulk
from imgsim_common import mapping
from imgsim_common.model_card import ModelCard
from imgsim_common.representations import METRICS
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
ONNX_CACHE = REPO / ".stack" / "test-onnx-cache"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_for(check: Callable[[], bool], process: subprocess.Popen[bytes], what: str) -> float:
    """Seconds from now until `check` holds, polling every 50 ms."""
    started = time.monotonic()
    while time.monotonic() - started < 300:
        if process.poll() is not None:
            raise SystemExit(f"{what} stopped (exit {process.returncode})")
        try:
            if check():
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"{what} was not ready after 300 s")


def paint(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(3)
    files = []
    for i in range(count):
        path = folder / f"p{i:03d}.jpg"
        base = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
        Image.fromarray(base).resize((640, 480), Image.Resampling.BICUBIC).save(path, quality=90)
        files.append(path)
    return files


def altered(path: Path) -> bytes:
    """A 10% crop on each side, re-encoded: not the indexed file, but the same painting."""
    with Image.open(path) as image:
        width, height = image.size
        crop = image.crop((width // 10, height // 10, width - width // 10, height - height // 10))
        buffer = io.BytesIO()
        crop.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def p50_p95(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), statistics.quantiles(values, n=20)[18]


def model_env() -> dict[str, str]:
    env = dict(os.environ)
    if not env.get("VECTORIZER_MODEL_PATH"):
        env.setdefault("VECTORIZER_WEIGHTS", "random")
    env.setdefault("VECTORIZER_ONNX_CACHE_DIR", str(ONNX_CACHE))
    return env


def reference_process() -> None:
    """The model in the API's process, loaded as upload search loaded it before issue 12."""
    started = time.monotonic()
    import imgsim_search_api.app  # noqa: F401 - the API's own imports, as that process had them
    from imgsim_vectorizer.settings import VectorizerSettings
    from imgsim_vision.inference import load_model_backend

    loaded, backend = load_model_backend(VectorizerSettings())
    backend(np.zeros((1, loaded.input_size, loaded.input_size, 3), np.uint8))
    print(f"{time.monotonic() - started:.3f} {rss_mb(os.getpid()):.1f}", flush=True)


def measure_reference() -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--reference-process"],
        env=model_env() | {"TF_CPP_MIN_LOG_LEVEL": "3"},
        capture_output=True,
        text=True,
        check=True,
    )
    seconds, rss = done.stdout.split()[-2:]
    return float(seconds), float(rss)


def build_index(es: Elasticsearch, index: str, files: list[Path], endpoint: str) -> ModelCard:
    with httpx.Client(base_url=endpoint, timeout=60) as client:
        card = ModelCard.model_validate(client.get("/model").json()["card"])
        es.indices.create(index=index, **mapping.model_index(card, index_options="flat"))
        documents: list[dict[str, Any]] = []
        for path in files:
            answer = client.post("/embeddings", content=path.read_bytes()).json()
            documents.append(
                {
                    "_index": index,
                    "_id": path.name,
                    "_source": {
                        "id": path.name,
                        "path": path.name,
                        "model": answer["model"],
                        "metadata": {"title": path.stem},
                        "vectors": {
                            name: {m.value: vector for m in METRICS}
                            for name, vector in answer["vectors"].items()
                        },
                    },
                }
            )
    bulk(es, documents, refresh=True)
    return card


@dataclass
class ApiFigures:
    readyz_s: float
    first_upload_s: float  # from its start until an upload is answered
    rss_ready_mb: float
    rss_after_mb: float
    end_to_end_ms: list[float]
    found: int


def measure_api(
    env: dict[str, str], files: list[Path], uploads: int, pythonpath: str | None = None
) -> ApiFigures:
    """Starts the API with `env` (its code from `pythonpath` when given), waits until it answers
    uploads, then sends `uploads` altered paintings one at a time."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("SEARCH_API_", "VECTORIZER_"))
    }
    if pythonpath:
        clean["PYTHONPATH"] = pythonpath
    server = subprocess.Popen(
        api_argv(port),
        env=clean | env | {"TF_CPP_MIN_LOG_LEVEL": "3"},
        stderr=subprocess.DEVNULL,
    )
    try:
        probe = altered(files[0])
        readyz = wait_for(
            lambda: httpx.get(f"{url}/readyz", timeout=1).status_code == 200, server, "the API"
        )
        first_upload = readyz + wait_for(
            lambda: (
                httpx.post(f"{url}/similar/upload", content=probe, timeout=30).status_code == 200
            ),
            server,
            "upload search",
        )
        rss_ready = rss_mb(server.pid)
        latencies, found = [], 0
        with httpx.Client(timeout=60) as client:
            for i in range(uploads):
                painting = files[i % len(files)]
                image = altered(painting)
                started = time.perf_counter()
                response = client.post(
                    f"{url}/similar/upload",
                    content=image,
                    params={"k": 10},
                    headers={"Content-Type": "image/jpeg", "Accept": "application/json"},
                )
                latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                firsts = {b["hits"][0]["id"] for b in response.json()["results"] if b["hits"]}
                found += painting.name in firsts
        return ApiFigures(readyz, first_upload, rss_ready, rss_mb(server.pid), latencies, found)
    finally:
        server.terminate()
        server.wait(30)


def print_api(figures: ApiFigures, uploads: int) -> None:
    p50, p95 = p50_p95(figures.end_to_end_ms)
    print(
        f"  search API: /readyz after {figures.readyz_s:.1f} s, first upload answered after "
        f"{figures.first_upload_s:.1f} s; {figures.rss_ready_mb:.0f} MB resident then, "
        f"{figures.rss_after_mb:.0f} MB after {uploads} uploads"
    )
    print(
        f"  upload search end to end ({uploads} uploads, every representation, k=10): "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms; original first in some representation: "
        f"{figures.found} of {uploads}"
    )


def old_search_api(revision: str) -> str:
    """The search API's package as it was at `revision`, for PYTHONPATH (read with git archive;
    nothing in the checkout changes)."""
    folder = Path(tempfile.mkdtemp(prefix="upload-bench-before-"))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision, "services/search-api/imgsim_search_api"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return str(folder / "services" / "search-api")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--paintings", type=int, default=60)
    parser.add_argument("--elasticsearch", default="http://127.0.0.1:9200")
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also measure the search API of git revision REV, which loaded the model itself "
        "(SEARCH_API_MODEL_*), e.g. the commit before issue 12",
    )
    parser.add_argument("--reference-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_process:
        reference_process()
        return

    folder = Path(tempfile.mkdtemp(prefix="upload-bench-"))
    files = paint(folder, args.paintings)
    es = Elasticsearch(args.elasticsearch, request_timeout=60)
    index = f"bench-upload-{uuid.uuid4().hex[:8]}"
    embedding_port = free_port()
    endpoint = f"http://127.0.0.1:{embedding_port}"
    base = {
        "SEARCH_API_ELASTICSEARCH_URL": args.elasticsearch,
        "SEARCH_API_INDEX": index,
        "SEARCH_API_IMAGE_ROOT": str(folder),
        "SEARCH_API_CHECKER_URL": "",
    }
    embedder: subprocess.Popen[bytes] | None = None
    try:
        print("the model loaded in a process with the API's imports, as upload search did")
        reference_seconds, reference_rss = measure_reference()
        print(f"  model ready after {reference_seconds:.1f} s, {reference_rss:.0f} MB resident")

        embedding_env = model_env() | {
            "VECTORIZER_EMBEDDING_PORT": str(embedding_port),
            "VECTORIZER_METRICS_PORT": "0",
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
        embedder = subprocess.Popen(
            [sys.executable, "-m", "imgsim_vectorizer.embedding_server"],
            env=embedding_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        embedder_ready = wait_for(
            lambda: httpx.get(f"{endpoint}/healthz", timeout=1).status_code == 200,
            embedder,
            "the embedding endpoint",
        )
        card = build_index(es, index, files, endpoint)

        if args.before:
            print(f"before: the search API of {args.before}, the model in its process")
            old = model_env()
            before_env = base | {
                "SEARCH_API_MODEL_WEIGHTS": old.get("VECTORIZER_WEIGHTS", "imagenet"),
                "SEARCH_API_ONNX_CACHE_DIR": old["VECTORIZER_ONNX_CACHE_DIR"],
            }
            if old.get("VECTORIZER_MODEL_PATH"):
                before_env["SEARCH_API_MODEL_PATH"] = old["VECTORIZER_MODEL_PATH"]
            before = measure_api(before_env, files, args.uploads, old_search_api(args.before))
            print_api(before, args.uploads)

        print(f"after: uploads vectorized by the embedding endpoint ({card.name}@{card.version})")
        print(
            f"  embedding endpoint: answers after {embedder_ready:.1f} s, "
            f"{rss_mb(embedder.pid):.0f} MB resident"
        )
        after = measure_api(base | {"SEARCH_API_EMBEDDING_URL": endpoint}, files, args.uploads)
        print_api(after, args.uploads)
        alone = []
        with httpx.Client(timeout=60) as client:
            for i in range(args.uploads):
                image = altered(files[i % len(files)])
                started = time.perf_counter()
                client.post(f"{endpoint}/embeddings", content=image).raise_for_status()
                alone.append((time.perf_counter() - started) * 1000)
        p50, p95 = p50_p95(alone)
        print(f"  of which the embedding endpoint alone: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        print(
            f"  the API's resident memory: {after.rss_ready_mb / reference_rss:.2f} of the model "
            f"process's; ready for uploads {after.first_upload_s:.1f} s after its start"
        )
    finally:
        if embedder is not None:
            embedder.terminate()
            embedder.wait(30)
        es.options(ignore_status=404).indices.delete(index=index)
        es.close()


if __name__ == "__main__":
    main()
