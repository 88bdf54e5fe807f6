"""`imgsim demo`: a labelled collection, a network trained on it, indexed, measured and served.

Paints the labelled sample set (`imgsim sample-set`), trains the genre/style model on its train
split (`imgsim train`), publishes the folder, indexes it with the trained model through the real
pipeline (`imgsim model swap`: the model's own topic, connector and index, then the alias),
measures retrieval through the search API (`imgsim evaluate`: trained against untrained
representations) and leaves the API serving the gallery.
"""

import os
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


def _wait_ready(url: str, api: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if api.poll() is not None:
            raise DemoError(f"the search API stopped (exit {api.returncode})")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise DemoError(f"the search API was not ready after {timeout_s:.0f} s")


def run(options: DemoOptions) -> int:
    try:
        return _demo(options)
    except DemoError as e:
        console.print(f"demo stopped: {e}")
        return 1


def _demo(options: DemoOptions) -> int:
    from imgsim_indexer_check.settings import IndexerCheckSettings
    from imgsim_stack.settings import StackSettings

    from imgsim_cli import evaluate, model_swap, sample_set

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
    url = f"http://127.0.0.1:{options.port}"
    api_env = {
        **env,
        "SEARCH_API_INDEX": options.alias,
        "SEARCH_API_IMAGE_ROOT": str(images),
        "SEARCH_API_MODEL_PATH": str(model_dir),
    }
    console.rule(f"starting the search API on {url}")
    with (folder / "api.log").open("ab") as log:
        api = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "imgsim_search_api.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(options.port),
            ],
            env=api_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_ready(url, api, 120)
        console.rule("how well the vectors find similar paintings")
        measured = evaluate.run(
            evaluate.Options(
                images=images,
                metadata=painted.csv_path,
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
