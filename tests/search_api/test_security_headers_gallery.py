"""The gallery under its Content-Security-Policy in a real headless Chromium: every view works and
the browser reports no violation (no inline script or style, nothing from another origin)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

from tests.search_api.fixtures import ApiServer

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# Runs before the gallery's own scripts; the policy does not apply to scripts the browser's
# driver injects.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}`));
"""


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page under the policy (the shared fixture's bypasses it), failing on any JS error."""
    opened = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    opened.close()
    assert errors == [], f"JavaScript errors: {errors}"


def test_every_view_works_under_the_policy_without_a_violation(
    api: ApiServer, page: Page, image_root: Path
) -> None:
    console: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            console.append(message.text)

    page.on("console", note)
    page.add_init_script(RECORD_VIOLATIONS)
    served = page.goto(f"{api.url}/")
    assert served is not None and "default-src 'self'" in served.headers["content-security-policy"]
    page.wait_for_selector(".grid .tile")
    page.click('.tile[data-id="collection/painting-001.jpg"]')
    page.wait_for_selector("#similar[data-shown='global/cosine'] .tile")
    page.select_option("#metric", "l2")
    page.wait_for_selector("#similar[data-shown='global/l2']")

    page.click("text=Gallery")
    page.wait_for_selector("#upload")
    page.set_input_files("#upload", str(image_root / "collection" / "painting-003.jpg"))
    page.wait_for_selector("#results h2", timeout=60_000)

    page.click("text=Ingestion health")
    page.wait_for_selector("h1")
    page.wait_for_timeout(500)

    violations = page.evaluate("window.cspViolations")
    assert violations == [], violations
    assert console == [], console
