"""The dashboard in a real browser: Playwright driving Debian's Chromium against a real
`hardbase serve` (after real watch passes). The overview shows the API's numbers, the SLA
chart is drawn, an admin's rebuild streams its events in without a reload, no page logs a
console error, axe-core finds no serious or critical violation, and each page is
screenshotted into the pytest base temp (`screenshots/`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from serve_world import Service

from browser import axe_core, launch

pytestmark = [pytest.mark.archive, pytest.mark.slow]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.getbasetemp() / "screenshots"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def axe_source(request: pytest.FixtureRequest) -> str:
    """axe-core, fetched by npm at test time (tests/browser.py), never committed."""
    return axe_core(request.config.cache.mkdir("axe-core"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch(["--no-sandbox"]) as chromium:
        yield chromium


@pytest.fixture
def page(browser: Any, service: Service) -> Iterator[Any]:
    context = browser.new_context(base_url=service.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors = []  # console errors and uncaught exceptions, CSP violations among them
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    # nothing is fetched from anywhere but the service (no CDN, no fonts from elsewhere)
    page.on(
        "request",
        lambda r: None if r.url.startswith(service.url) else page.errors.append(r.url),
    )
    try:
        yield page
    finally:
        context.close()


def shot(page: Any, path: Path) -> None:
    """A full-page screenshot kept as a test artifact under the base temp."""
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10000


def sign_in(page: Any, token: str) -> None:
    page.goto("/")  # redirected to the sign-in form
    assert page.url.endswith("/login?next=/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def axe(page: Any, source: str) -> list[dict[str, Any]]:
    """Serious and critical violations axe-core finds on the page.

    Evaluated through the DevTools protocol rather than added as a script tag: the
    service's CSP (rightly) refuses inline scripts, and the page stays under it."""
    page.evaluate(source + "\n;0")
    result = page.evaluate("async () => await axe.run(document)")
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def test_overview_shows_the_apis_numbers_and_the_sla_chart(
    page: Any, service: Service, shots: Path, axe_source: str
) -> None:
    api = service.get_json("/api/v1/images")["items"]
    sign_in(page, service.tokens["read"])
    rows = page.locator("#fleet tbody tr")
    assert rows.count() == len(api) == 2
    for image in api:
        row = page.locator(f'#fleet tbody tr[data-image="{image["name"]}"]')
        assert row.locator('[data-field="fixable"]').inner_text() == str(
            image["findings"]["by_status"]["fixable"]
        )
        assert row.locator('[data-field="no-fix"]').inner_text() == str(
            image["findings"]["by_status"]["no-fix"]
        )
        assert row.locator(f".status-{image['status']}").count() == 1
        assert row.locator("time").get_attribute("datetime") == image["published_at"]
    # no admin actions for a read token
    assert page.get_by_role("button", name="Rebuild hardbase/a").count() == 0
    chart = page.locator("#sla-chart")
    assert chart.is_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    points = sum(i["remediation"]["count"] for i in api)
    assert chart.locator("circle.sla-point").count() == points == 2
    for line in ("target", "p50", "p95"):
        assert chart.locator(f"line.sla-{line}").count() == 1
    assert "2 remediations in the last 30 days" in chart.locator("desc").text_content()
    shot(page, shots / "overview.png")
    assert axe(page, axe_source) == []
    page.keyboard.press("Tab")  # the first stop is the skip link
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    assert page.errors == []


def test_image_and_events_pages(page: Any, service: Service, shots: Path, axe_source: str) -> None:
    sign_in(page, service.tokens["read"])
    page.get_by_role("link", name="hardbase/a", exact=True).click()
    page.wait_for_url("**/images/hardbase/a")
    detail = service.get_json("/api/v1/images/hardbase/a")
    text = page.locator("main").inner_text()
    assert detail["digest"] in text
    for publish in detail["digest_history"]:
        assert publish["digest"] in text
    assert "Compliance" in text or "compliance" in text  # the scorecard's dimensions
    assert page.get_by_role("link", name="spdx").get_attribute("href") == (
        "/api/v1/images/hardbase/a/documents/spdx"
    )
    shot(page, shots / "image.png")
    assert axe(page, axe_source) == []
    page.goto("/events")
    page.get_by_label("Image").select_option("hardbase/b")
    page.get_by_label("Kind").fill("published")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/events?image=hardbase%2Fb&kind=published*")
    cells = page.locator("#events tbody tr td:nth-child(2)").all_inner_texts()
    kinds = page.locator("#events tbody tr td:nth-child(4)").all_inner_texts()
    api = service.get_json("/api/v1/events?image=hardbase/b&kind=published")["items"]
    assert cells == ["hardbase/b"] * len(api) and kinds == ["published"] * len(api)
    # the live rows follow the same filters
    stream = page.locator("#events tbody").get_attribute("data-stream")
    assert stream == "?image=hardbase%2Fb&kind=published"
    shot(page, shots / "events.png")
    assert axe(page, axe_source) == []
    assert page.errors == []


def test_an_admin_rebuild_streams_its_events_without_a_reload(
    page: Any, service: Service, shots: Path
) -> None:
    sign_in(page, service.tokens["admin"])
    page.evaluate("window.__noReload = 1")
    page.get_by_role("button", name="Rebuild hardbase/b").click()
    note = page.locator(".rebuild-result")
    note.wait_for(timeout=30000)
    message = note.inner_text()
    assert message.startswith("queued job "), message
    job = message.split()[2].rstrip(";")
    published = page.locator(
        f'#events tbody tr.new:has(td:nth-child(3):text-is("{job}")):has(.kind-published)'
    )
    published.wait_for(timeout=240000)
    assert page.evaluate("window.__noReload") == 1  # the same page: nothing reloaded
    kinds = page.locator(f'#events tbody tr.new:has(td:nth-child(3):text-is("{job}")) .kind')
    assert kinds.all_inner_texts()[::-1] == [
        "job-created", "job-started", "built", "verified", "signed", "pushed", "published",
    ]  # fmt: skip
    shot(page, shots / "rebuild-live.png")
    jobs = service.get_json("/api/v1/jobs?image=hardbase/b&limit=1")["items"]
    assert str(jobs[0]["id"]) == job and jobs[0]["state"] == "published"
    assert page.errors == []


def test_forms_without_the_csrf_token_are_refused(page: Any, service: Service) -> None:
    sign_in(page, service.tokens["admin"])
    answer = page.request.post(
        "/actions/rebuild", form={"image": "hardbase/a", "csrf": "forged"},
        headers={"Accept": "application/json"},
    )  # fmt: skip
    assert answer.status == 403 and "CSRF" in json.loads(answer.body())["error"]["message"]
    assert service.get_json("/api/v1/jobs?image=hardbase/a&state=queued")["items"] == []
