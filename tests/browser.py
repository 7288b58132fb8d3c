"""Pages checked in a real browser: Debian's Chromium driven by Playwright, and axe-core.

`chromium()` launches /usr/bin/chromium headless (no sandbox: the tests run as
root) and fails any page that asks for something other than file: or data:
URLs. `axe_core(cache)` fetches the pinned axe-core from the npm registry with
`npm pack` (npm checks the package's integrity) into a cache directory: it is
fetched at test time, never committed. `axe_violations(page)` runs it on a
page and returns the violations at or above an impact.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from peers import need

CHROMIUM = Path("/usr/bin/chromium")
AXE_VERSION = "4.14.1"
IMPACTS = ("minor", "moderate", "serious", "critical")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def launch(args: list[str] = CHROMIUM_ARGS) -> Iterator[Any]:
    """Debian's Chromium under Playwright (skipped locally when missing; CI fails a skip)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make setup installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium(errors: list[str]) -> Iterator[Any]:
    """A new page in headless Chromium; console errors and outside requests go to `errors`."""
    with launch() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith(("file:", "data:"))
                else errors.append(f"network request {r.url}")
            ),
        )
        yield page


def axe_core(cache: Path) -> str:
    """The source of axe.min.js (axe-core AXE_VERSION), fetched once into `cache`."""
    script = cache / f"axe-core-{AXE_VERSION}" / "axe.min.js"
    if not script.is_file():
        need("npm")
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["npm", "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", str(cache),
             "--silent"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"npm pack axe-core failed: {done.stderr}"
        tarball = cache / f"axe-core-{AXE_VERSION}.tgz"
        with tarfile.open(tarball) as tar:
            member = tar.extractfile("package/axe.min.js")
            assert member is not None, f"{tarball} has no package/axe.min.js"
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_bytes(member.read())
        tarball.unlink()
    return script.read_text()


def axe_violations(page: Any, axe: str, at_least: str = "serious") -> list[dict[str, Any]]:
    """axe-core's violations on `page` whose impact is `at_least` or worse."""
    page.add_script_tag(content=axe)
    result = page.evaluate("async () => JSON.stringify(await axe.run(document))")
    floor = IMPACTS.index(at_least)
    return [
        v
        for v in json.loads(result)["violations"]
        if v.get("impact") in IMPACTS and IMPACTS.index(v["impact"]) >= floor
    ]
