"""The gallery as a person meets it: time to the first paintings, and from a click on a painting
to its similar paintings, in Debian's headless Chromium, for this checkout's gallery and an older
one side by side (same index, same machine, rounds alternating); then what axe-core finds on the
start page and a painting's page of each, at desktop and phone sizes.

    .venv/bin/python bench/gallery_timing_bench.py --before 56cdcf4

`--before` checks the older commit out into a git worktree and serves its search API (and its
gallery) from there on another port; both read the index behind the `paintings` alias of the
running stack. Times are wall-clock from the navigation to the first visible painting image.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("search-api", "common", "vision", "vectorizer", "indexer-check", "cli")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking"]


@contextmanager
def api(port: int, root: Path, images: Path) -> Iterator[str]:
    """The search API of the checkout at `root` (its own packages first on the path)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(root / "services" / s) for s in SERVICES),
        "SEARCH_API_IMAGE_ROOT": str(images),
        "SEARCH_API_THUMBNAIL_CACHE_DIR": str(images.parent / f"thumbnails-{port}"),
        "SEARCH_API_UPLOAD_ENABLED": "false",
        "SEARCH_API_CHECKER_URL": "",
    }
    argv = [sys.executable, "-m", "uvicorn", "imgsim_search_api.app:create_app", "--factory"]
    process = subprocess.Popen(
        [*argv, "--port", str(port), "--log-level", "warning"], env=env, cwd=root
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise RuntimeError(f"the search API of {root} did not become ready")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def first_paintings(page: Page, url: str) -> float:
    started = time.perf_counter()
    page.goto(f"{url}/#/")
    page.wait_for_selector("#results .tile img, #view .tile img", state="visible")
    return time.perf_counter() - started


def similar_paintings(page: Page) -> float:
    started = time.perf_counter()
    page.locator(".tile").nth(3).click()
    page.wait_for_selector("#similar .tile img", state="visible")
    return time.perf_counter() - started


SIZES: dict[str, ViewportSize] = {
    "desktop": {"width": 1440, "height": 900},
    "phone": {"width": 390, "height": 844},
}
SEVERE = ("serious", "critical")


def axe_findings(browser: Browser, url: str, size: ViewportSize) -> tuple[int, int]:
    """axe-core's violations on the start page and a painting's page: (serious or critical,
    all), counted as rules x views."""
    phone = size["width"] < 720
    context = browser.new_context(
        viewport=size, device_scale_factor=3 if phone else 1, is_mobile=phone
    )
    page = context.new_page()
    severe = every = 0
    first_paintings(page, url)
    for view in ("start", "painting"):
        if view == "painting":
            similar_paintings(page)
        violations = Axe().run(page).response["violations"]
        every += len(violations)
        severe += sum(1 for v in violations if v.get("impact") in SEVERE)
    context.close()
    return severe, every


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", required=True, help="the older commit to compare with")
    parser.add_argument("--images", type=Path, required=True, help="the indexed paintings' root")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="imgsim-gallery-bench-"))
    older = work / "before"
    subprocess.run(
        ["git", "-C", str(REPO_ROOT), "worktree", "add", "-q", "--detach", str(older), args.before],
        check=True,
    )
    found: dict[tuple[str, str], tuple[int, int]] = {}
    times: dict[str, dict[str, list[float]]] = {
        name: {"first": [], "similar": []} for name in ("before", "now")
    }
    try:
        with (
            api(8721, older, args.images) as before_url,
            api(8722, REPO_ROOT, args.images) as now_url,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
            )
            for _ in range(args.rounds):
                for name, url in (("before", before_url), ("now", now_url)):
                    context = browser.new_context(viewport={"width": 1440, "height": 900})
                    page = context.new_page()
                    times[name]["first"].append(first_paintings(page, url))
                    times[name]["similar"].append(similar_paintings(page))
                    context.close()
            found = {
                (name, size): axe_findings(browser, url, SIZES[size])
                for name, url in (("before", before_url), ("now", now_url))
                for size in SIZES
            }
            browser.close()
    finally:
        subprocess.run(
            ["git", "-C", str(REPO_ROOT), "worktree", "remove", "--force", str(older)],
            check=False,
        )
    print(f"gallery in headless Chromium, 1440x900, {args.rounds} rounds, median ms (runs):")
    for what, label in (("first", "first paintings"), ("similar", "a click to similar")):
        cells = []
        for name in ("before", "now"):
            runs = times[name][what]
            cells.append(f"{name} {statistics.median(runs) * 1000:6.0f}")
        ratio = statistics.median(times["now"][what]) / statistics.median(times["before"][what])
        print(f"  {label:20s} {'  '.join(cells)}   now / before {ratio:.2f}")
    print("axe-core on the start page and a painting's page: serious or critical / all rules")
    for size in SIZES:
        cells = [
            f"{name} {found[name, size][0]} / {found[name, size][1]}" for name in ("before", "now")
        ]
        print(f"  {size:20s} {'   '.join(cells)}")


if __name__ == "__main__":
    main()
