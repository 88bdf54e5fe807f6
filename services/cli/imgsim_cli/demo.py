"""`imgsim demo`: a labelled collection, a network trained on it, indexed, measured and served.

Paints the labelled sample set (`imgsim sample-set`), trains the genre/style model on its train
split (`imgsim train`), publishes the folder, indexes it with the trained model through the real
pipeline (`imgsim model swap`: the model's own topic, connector and index, then the alias),
measures retrieval through the search API (`imgsim evaluate`: trained against untrained
representations) and leaves the API serving the gallery. Uploads are vectorized by the trained
model in the vectorizer's embedding endpoint, run beside the API (the API holds no model).
"""

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console

from imgsim_cli import child_argv

console = Console(highlight=False)
MODEL_NAME = "demo"


@dataclass(frozen=True)
class DemoOptions:
    folder: Path
    per_artist: int
    alias: str
    port: int
    timeout_s: float
    serve: bool
    epochs: int | None = None


class DemoError(RuntimeError):
    pass


def _run(step: str, argv: list[str], env: dict[str, str]) -> None:
    console.rule(step)
    finished = subprocess.run(argv, env=env, check=False)
    if finished.returncode != 0:
        raise DemoError(f"{step} failed (exit {finished.returncode})")


def newest_model(models: Path) -> Path:
    cards = sorted(models.glob(f"{MODEL_NAME}-*/card.json"), key=lambda p: p.stat().st_mtime)
    if not cards:
        raise DemoError(f"training wrote no model under {models}")
    return cards[-1].parent


def _wait_ready(
    url: str, process: subprocess.Popen[bytes], timeout_s: float, what: str = "the search API"
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"{what} stopped (exit {process.returncode})")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise DemoError(f"{what} was not ready after {timeout_s:.0f} s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_embedding_endpoint(model_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """The vectorizer's embedding endpoint alone (no Kafka), with the trained model: what the
    demo's search API sends uploads to."""
    env = {
        **os.environ,
        "VECTORIZER_MODEL_PATH": str(model_dir.resolve()),
        "VECTORIZER_EMBEDDING_PORT": str(port),
        "VECTORIZER_EMBEDDING_HOST": "127.0.0.1",
        # Beside a worker of the stack's own: no second metrics server on its port.
        "VECTORIZER_METRICS_PORT": "0",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "imgsim_vectorizer.embedding_server"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def run(options: DemoOptions) -> int:
    try:
        return _demo(options)
    except DemoError as e:
        console.print(f"demo stopped: {e}")
        return 1


def _demo(options: DemoOptions) -> int:
    from imgsim_indexer_check.settings import IndexerCheckSettings
    from imgsim_stack.settings import StackSettings

    from imgsim_cli import model_swap, sample_set

    folder = options.folder
    images, models = folder / "images", folder / "models"
    console.rule("painting the labelled sample set")
    painted = sample_set.generate(images, options.per_artist, workers=os.cpu_count() or 1)
    console.print(
        f"{painted.paintings} paintings in {images}: {len(painted.styles)} styles, "
        f"{len(painted.genres)} genres, {len(painted.artists)} artists "
        f"({len(painted.unseen_artists)} held out entirely), {painted.held_out} to evaluate on"
    )
    env = {**os.environ, "VECTORIZER_IMAGE_ROOT": str(images)}
    train = ["train", "--images", str(images), "--metadata", str(painted.csv_path)]
    train += ["--out", str(models), "--name", MODEL_NAME]
    if options.epochs is not None:
        train += ["--epochs", str(options.epochs)]
    _run("training the genre and style model", child_argv(*train), env)
    model_dir = newest_model(models)
    publish = ["publish", str(images), "--metadata", str(painted.csv_path), "--no-progress"]
    _run("publishing the image paths", child_argv(*publish), env)
    console.rule("indexing with the trained model, then searching its index")
    # The swap's worker reads VECTORIZER_IMAGE_ROOT from this process's environment.
    os.environ["VECTORIZER_IMAGE_ROOT"] = str(images)
    try:
        model_swap.swap(
            model_dir,
            StackSettings(),
            IndexerCheckSettings(),
            options.alias,
            console.print,
            timeout_s=options.timeout_s,
            worker_log=folder / "worker.log",
        )
    except model_swap.SwapError as e:
        raise DemoError(str(e)) from e
    console.print(
        f"new images reach the searched index through workers of this model: "
        f"VECTORIZER_MODEL_PATH={model_dir.resolve()} make worker"
    )
    return _serve(options, painted.csv_path, model_dir, env)


def _start_api(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
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
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _serve(options: DemoOptions, csv_path: Path, model_dir: Path, env: dict[str, str]) -> int:
    """The embedding endpoint with the trained model and the search API that sends it uploads;
    the evaluation through them; then the gallery until Ctrl-C."""
    from imgsim_cli import evaluate, model_swap

    folder, images = options.folder, options.folder / "images"
    url = f"http://127.0.0.1:{options.port}"
    embedding_port = _free_port()
    embedding_url = f"http://127.0.0.1:{embedding_port}"
    console.rule(f"starting the search API on {url}, uploads vectorized at {embedding_url}")
    embedder = start_embedding_endpoint(model_dir, embedding_port, folder / "embedding.log")
    api_env = {
        **env,
        "SEARCH_API_INDEX": options.alias,
        "SEARCH_API_IMAGE_ROOT": str(images),
        "SEARCH_API_EMBEDDING_URL": embedding_url,
    }
    api = _start_api(options.port, api_env, folder / "api.log")
    try:
        _wait_ready(f"{url}/readyz", api, 120)
        # The endpoint loads the trained model meanwhile; the evaluation's uploads need it.
        _wait_ready(f"{embedding_url}/healthz", embedder, 300, "the embedding endpoint")
        console.rule("how well the vectors find similar paintings")
        measured = evaluate.run(
            evaluate.Options(
                images=images,
                metadata=csv_path,
                api=url,
                model=model_dir,
                json=folder / "evaluation.json",
                progress=False,
            )
        )
        if measured != 0:
            raise DemoError(f"the evaluation failed (exit {measured})")
        console.print(f"\nthe figures are in {folder / 'evaluation.json'}")
        if not options.serve:
            return 0
        console.print(f"\nthe gallery: {url}/  (Ctrl-C stops the search API)")
        api.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        model_swap.stop(api)
        model_swap.stop(embedder)
