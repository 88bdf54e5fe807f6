"""Similar-by-id while uploads flood the search API: does upload search's bound keep it fast?

Needs Elasticsearch (`make up`). On a throwaway index of its own (paintings vectorized by a real
embedding endpoint, `python -m imgsim_vectorizer.embedding_server`, the backbone with random
weights unless VECTORIZER_MODEL_PATH / _WEIGHTS say otherwise), with the search API started as
the other benches start it (bench/api_process.py), it measures similar-by-id (`global`, cosine,
k=10) at `--clients` clients for `--seconds` seconds:
- alone;
- while `--uploaders` clients post `--upload-mb` MB images to `POST /similar/upload` in a loop
  bounded in count (`--max-uploads`) and time (the phase), on loopback only. By default an
  uploader sends its next upload as soon as it has an answer, ignoring Retry-After (a flood);
  `--honour-retry-after` makes it wait as the 429 asks.
It prints both phases side by side with the ratio of their p95s, and how the uploads were
answered (200, 429, other). The target (issue 14): p95 under load at most 2x the p95 alone, and
uploads beyond SEARCH_API_MAX_CONCURRENT_UPLOADS answered 429.

The uploaders run in a process of their own, so that sending 20 MB bodies does not slow the
event loop that times the searches.
"""

import argparse
import asyncio
import io
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.queues import Queue
from pathlib import Path

import aiohttp
import httpx
import numpy as np

# Siblings: run as `python bench/upload_load_bench.py`, this folder is on the path.
from api_process import api_argv
from elasticsearch import Elasticsearch
from PIL import Image
from upload_bench import build_index, free_port, model_env, paint, wait_for

K = 10


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--elasticsearch", default="http://127.0.0.1:9200")
    parser.add_argument("--paintings", type=int, default=200, help="in the bench's own index")
    parser.add_argument("--clients", type=int, default=8, help="similar-by-id clients")
    parser.add_argument("--uploaders", type=int, default=16, help="clients posting uploads")
    parser.add_argument("--upload-mb", type=float, default=20.0, help="size of each upload")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    parser.add_argument(
        "--max-uploads", type=int, default=20_000, help="uploads sent at most, all uploaders"
    )
    parser.add_argument(
        "--max-concurrent-uploads",
        type=int,
        help="SEARCH_API_MAX_CONCURRENT_UPLOADS for the API (default: the API's own)",
    )
    parser.add_argument(
        "--honour-retry-after",
        action="store_true",
        help="uploaders wait as a 429's Retry-After asks (default: they send again at once)",
    )
    parser.add_argument(
        "--uploaders-nice",
        type=int,
        default=0,
        help="niceness of the uploaders' process: on a small machine, 19 stands in for clients "
        "on other machines, whose sending costs this one nothing (default 0)",
    )
    args = parser.parse_args(argv)
    for name in ("paintings", "clients", "uploaders", "max_uploads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.seconds <= 0 or args.upload_mb <= 0:
        parser.error("--seconds and --upload-mb must be positive")
    return args


def cpu_seconds(pid: int | None = None) -> float:
    """CPU time (user + system) a process has used, or the whole machine's busy time."""
    ticks = os.sysconf("SC_CLK_TCK")
    if pid is None:
        fields = Path("/proc/stat").read_text().split("\n")[0].split()[1:]
        idle = int(fields[3]) + int(fields[4])  # idle and iowait
        return (sum(int(f) for f in fields[:8]) - idle) / ticks
    # After the command's closing parenthesis: state is field 3, utime and stime 14 and 15.
    after = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(after[11]) + int(after[12])) / ticks


def cpu_line(used: dict[str, float], seconds: float) -> str:
    """Where the machine's CPU went in a phase, in cores (CPU seconds per second)."""
    rest = used["machine"] - sum(v for k, v in used.items() if k != "machine")
    parts = [f"{name} {value / seconds:.2f}" for name, value in used.items() if name != "machine"]
    return (
        f"CPU in cores: machine {used['machine'] / seconds:.2f} = {', '.join(parts)}, "
        f"the rest (Elasticsearch, other processes) {rest / seconds:.2f}"
    )


def p50_p95(latencies_ms: Sequence[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies_ms, n=100)
    return cuts[49], cuts[94]


def summary(
    alone_ms: Sequence[float], loaded_ms: Sequence[float], uploads: Counter[str], seconds: float
) -> list[str]:
    """The lines the bench prints: both phases side by side, the ratio, the uploads' answers."""
    (a50, a95), (l50, l95) = p50_p95(alone_ms), p50_p95(loaded_ms)
    ratio = l95 / a95
    sent = sum(uploads.values())
    answered = ", ".join(f"{status}: {count}" for status, count in sorted(uploads.items()))
    verdict = "met" if ratio <= 2 and uploads.get("429", 0) > 0 else "NOT met"
    return [
        "| similar-by-id | requests | p50 ms | p95 ms |",
        "| --- | --- | --- | --- |",
        f"| alone | {len(alone_ms)} | {a50:.1f} | {a95:.1f} |",
        f"| under upload load | {len(loaded_ms)} | {l50:.1f} | {l95:.1f} |",
        f"p95 under load / p95 alone: {ratio:.2f} (p50: {l50 / a50:.2f})",
        f"uploads sent: {sent} in {seconds:.0f} s ({answered})",
        f"target (p95 ratio <= 2, uploads past the bound answered 429): {verdict}",
    ]


def upload_image(megabytes: float, folder: Path) -> Path:
    """A JPEG of noise of about `megabytes` MB (noise does not compress): a big photograph."""
    target = int(megabytes * 1_000_000)
    side = 2000
    while True:
        pixels = np.random.default_rng(9).integers(0, 256, (side * 3 // 4, side, 3), np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
        if buffer.tell() >= target * 0.97:
            path = folder / "upload.jpg"
            path.write_bytes(buffer.getvalue())
            return path
        side = int(side * (target / buffer.tell()) ** 0.5 * 1.02) + 1


def flood(
    url: str,
    image: str,
    uploaders: int,
    seconds: float,
    max_uploads: int,
    polite: bool,
    nice: int,
    answers: "Queue[dict[str, int]]",
) -> None:
    """Runs in its own process: `uploaders` clients post the image until the time or the count
    is spent; puts the answers' statuses on `answers`."""
    os.nice(nice)
    body = Path(image).read_bytes()
    deadline = time.monotonic() + seconds
    left = iter(range(max_uploads))
    counts: Counter[str] = Counter()

    def uploader() -> None:
        with httpx.Client(timeout=60) as client:
            while time.monotonic() < deadline and next(left, None) is not None:
                try:
                    response = client.post(
                        f"{url}/similar/upload",
                        content=body,
                        params={"k": K},
                        headers={"Content-Type": "image/jpeg"},
                    )
                except httpx.HTTPError as e:
                    counts[type(e).__name__] += 1
                    continue
                counts[str(response.status_code)] += 1
                if polite and response.status_code == 429:
                    time.sleep(float(response.headers.get("retry-after", "1")))

    with ThreadPoolExecutor(uploaders) as pool:
        for _ in range(uploaders):
            pool.submit(uploader)
    answers.put(dict(counts))


async def similar_by_id(url: str, ids: list[str], clients: int, seconds: float) -> list[float]:
    """Latencies (ms) of `clients` clients asking similar-by-id in turn for `seconds`."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=64)) as http:

        async def client(offset: int) -> None:
            n = offset
            while time.monotonic() < deadline:
                params = {"representation": "global", "k": str(K)}
                started = time.perf_counter()
                async with http.get(f"/similar/{ids[n % len(ids)]}", params=params) as response:
                    response.raise_for_status()
                    await response.read()
                latencies.append((time.perf_counter() - started) * 1000)
                n += clients

        await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies


def main() -> None:
    args = parse_args()
    folder = Path(tempfile.mkdtemp(prefix="upload-load-bench-"))
    files = paint(folder, args.paintings)
    image = upload_image(args.upload_mb, folder)
    es = Elasticsearch(args.elasticsearch, request_timeout=60)
    index = f"bench-upload-load-{uuid.uuid4().hex[:8]}"
    embedding_port, api_port = free_port(), free_port()
    endpoint, url = f"http://127.0.0.1:{embedding_port}", f"http://127.0.0.1:{api_port}"
    quiet = {"TF_CPP_MIN_LOG_LEVEL": "3"}
    processes: list[subprocess.Popen[bytes]] = []
    try:
        embedder = subprocess.Popen(
            [sys.executable, "-m", "imgsim_vectorizer.embedding_server"],
            env=model_env()
            | quiet
            | {"VECTORIZER_EMBEDDING_PORT": str(embedding_port), "VECTORIZER_METRICS_PORT": "0"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(embedder)
        wait_for(
            lambda: httpx.get(f"{endpoint}/healthz", timeout=1).status_code == 200,
            embedder,
            "the embedding endpoint",
        )
        card = build_index(es, index, files, endpoint)
        clean = {k: v for k, v in os.environ.items() if not k.startswith("SEARCH_API_")}
        api_env = (
            clean
            | quiet
            | {
                "SEARCH_API_ELASTICSEARCH_URL": args.elasticsearch,
                "SEARCH_API_INDEX": index,
                "SEARCH_API_IMAGE_ROOT": str(folder),
                "SEARCH_API_CHECKER_URL": "",
                "SEARCH_API_EMBEDDING_URL": endpoint,
            }
        )
        if args.max_concurrent_uploads:
            api_env["SEARCH_API_MAX_CONCURRENT_UPLOADS"] = str(args.max_concurrent_uploads)
        api = subprocess.Popen(api_argv(api_port), env=api_env, stderr=subprocess.DEVNULL)
        processes.append(api)
        wait_for(lambda: httpx.get(f"{url}/readyz", timeout=1).status_code == 200, api, "the API")
        bound = args.max_concurrent_uploads or "the default"
        print(
            f"{len(files)} paintings ({card.name}@{card.version}); uploads of "
            f"{image.stat().st_size / 1e6:.1f} MB, {args.uploaders} uploaders "
            f"({'waiting Retry-After' if args.honour_retry_after else 'ignoring Retry-After'}, "
            f"nice {args.uploaders_nice}), upload bound {bound}; "
            f"{args.clients} similar-by-id clients, {args.seconds:.0f} s "
            f"a phase; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
        )
        ids = [path.name for path in files]
        asyncio.run(similar_by_id(url, ids, args.clients, 3))  # warm up
        watched = {
            "API": api.pid,
            "embedding endpoint": embedder.pid,
            "search clients": os.getpid(),
        }

        def cpu(extra: dict[str, int]) -> dict[str, float]:
            pids = watched | extra
            return {"machine": cpu_seconds()} | {k: cpu_seconds(p) for k, p in pids.items()}

        before = cpu({})
        alone = asyncio.run(similar_by_id(url, ids, args.clients, args.seconds))
        alone_cpu = {k: v - before[k] for k, v in cpu({}).items()}

        answers: Queue[dict[str, int]] = multiprocessing.get_context("spawn").Queue()
        flooding = multiprocessing.get_context("spawn").Process(
            target=flood,
            args=(
                url,
                str(image),
                args.uploaders,
                args.seconds + 2,
                args.max_uploads,
                args.honour_retry_after,
                args.uploaders_nice,
                answers,
            ),
        )
        flooding.start()
        time.sleep(1)  # the uploads under way before the clock starts
        assert flooding.pid is not None
        before = cpu({"uploaders": flooding.pid})
        loaded = asyncio.run(similar_by_id(url, ids, args.clients, args.seconds))
        loaded_cpu = {k: v - before[k] for k, v in cpu({"uploaders": flooding.pid}).items()}
        uploads: Counter[str] = Counter(answers.get(timeout=args.seconds + 120))
        flooding.join(30)
        for line in summary(alone, loaded, uploads, args.seconds + 2):
            print(line)
        print(f"alone: {cpu_line(alone_cpu, args.seconds)}")
        print(f"under load: {cpu_line(loaded_cpu, args.seconds)}")
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(30)
        es.options(ignore_status=404).indices.delete(index=index)
        es.close()


if __name__ == "__main__":
    main()
