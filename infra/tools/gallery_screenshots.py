"""The README's screenshots of the gallery, taken from a running search API with Playwright and
Debian's Chromium (the browser tests' setup), at desktop (1440x900) and phone (390x844) sizes:
the start page, and a painting's page mixing in a second painting.

    .venv/bin/python infra/tools/gallery_screenshots.py --api http://127.0.0.1:8000

Writes docs/screenshots/{gallery,painting-mix}-{desktop,phone}.jpg (the README links them);
`--out test-artifacts/screenshots` keeps a run out of the repository. The paintings shown are
chosen from the index (the first by id, and the first of another style), or named with
`--painting` and `--mix`."""

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from playwright.sync_api import Page, ViewportSize, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
SIZES: dict[str, tuple[ViewportSize, int]] = {
    "desktop": ({"width": 1440, "height": 900}, 1),
    "phone": ({"width": 390, "height": 844}, 3),
}
# As the browser tests start it: no sandbox in a container, and no calls home on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IMAGES_LOADED = "() => [...document.images].every(i => i.complete)"


def _pair(api: str, painting: str | None, mix: str | None) -> tuple[str, str]:
    """The painting shown and the one mixed in: given, or the first by id and the first of
    another style (a mix worth seeing mixes two different things)."""
    first: dict[str, Any] = httpx.get(f"{api}/paintings", params={"size": 1}, timeout=30).json()
    if not first["paintings"]:
        sys.exit(f"{api} has no paintings to show")
    chosen = painting or first["paintings"][0]["id"]
    if mix:
        return chosen, mix
    styles = [f["value"] for f in first["facets"].get("style", [])]
    own = httpx.get(f"{api}/paintings/{quote(chosen)}", timeout=30).json()
    other = [s for s in styles if s != own.get("metadata", {}).get("style")]
    params = {"size": 1, "style": other[0]} if other else {"size": 2}
    found = httpx.get(f"{api}/paintings", params=params, timeout=30).json()["paintings"]
    return chosen, found[-1]["id"]


def _settle(page: Page, ready: str) -> None:
    page.wait_for_selector(ready, timeout=60_000)
    # Polled with evaluate: the gallery's Content-Security-Policy forbids the eval that
    # wait_for_function runs in the page.
    deadline = time.monotonic() + 60
    while not page.evaluate(IMAGES_LOADED) and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    page.wait_for_timeout(300)  # the focus ring and the status line


def take(api: str, out: Path, painting: str, mix: str, mixby: str, chromium: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []
    mixed = f"#/painting/{quote(painting)}?mix={quote(mix, safe='')}&mixby={mixby}&w=0.5"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        for name, (viewport, scale) in SIZES.items():
            context = browser.new_context(
                viewport=viewport, device_scale_factor=scale, is_mobile=name == "phone"
            )
            page = context.new_page()
            for view, url, ready in (
                ("gallery", f"{api}/#/", "#results .tile"),
                ("painting-mix", f"{api}/{mixed}", "#similar[aria-busy='false'] .tile"),
            ):
                page.goto(url)
                _settle(page, ready)
                # JPEG: a quarter of the PNG bytes for paintings, and the README stays light.
                path = out / f"{view}-{name}.jpg"
                page.screenshot(path=str(path), type="jpeg", quality=80)
                taken.append(path)
            context.close()
        browser.close()
    return taken


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "screenshots")
    parser.add_argument("--painting", help="the painting whose page is shown")
    parser.add_argument("--mix", help="the painting mixed in")
    parser.add_argument("--mixby", help="what is taken from it (default: the API's default)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    api = args.api.rstrip("/")
    mixby = args.mixby or httpx.get(f"{api}/representations", timeout=30).json()["default"]
    painting, mix = _pair(api, args.painting, args.mix)
    for path in take(api, args.out, painting, mix, mixby, args.chromium):
        print(path)


if __name__ == "__main__":
    main()
