"""The API against a real `hardbase serve` (uvicorn on 127.0.0.1) over the state of two real
`hardbase watch` passes: every JSON answer validated against the OpenAPI document, auth,
a rebuild through the API seen as a job and on the SSE stream, bad input answered 4xx."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from api_check import OpenAPI
from serve_world import Service

pytestmark = [pytest.mark.archive, pytest.mark.slow]


@pytest.fixture(scope="module")
def openapi(service: Service) -> OpenAPI:
    status, _, body = service.request("GET", "/api/v1/openapi.json")
    assert status == 200
    return OpenAPI(json.loads(body))


def call(
    service: Service, openapi: OpenAPI, method: str, path: str, *, role: str | None = "read",
    body: bytes | None = None, headers: dict[str, str] | None = None, status: int = 200,
) -> Any:  # fmt: skip
    token = service.tokens[role] if role else None
    got, _, data = service.request(method, path, token=token, body=body, headers=headers)
    assert got == status, (method, path, got, data[:400])
    return openapi.check(method, path, got, data)


def test_every_read_endpoint_matches_the_openapi_document(
    service: Service, openapi: OpenAPI
) -> None:
    images = call(service, openapi, "GET", "/api/v1/images")
    assert [i["name"] for i in images["items"]] == ["hardbase/a", "hardbase/b"]
    a = images["items"][0]
    assert a["status"] == "green" and a["digest"].startswith("sha256:")
    assert a["remediation"]["count"] == 1 and 0 < a["remediation"]["p95_seconds"] < 120
    assert a["last_job"]["state"] == "published"
    assert "CVE-2026-90001" in a["last_job"]["reason"]

    page1 = call(service, openapi, "GET", "/api/v1/images?limit=1")
    assert [i["name"] for i in page1["items"]] == ["hardbase/a"] and page1["next_cursor"]
    page2 = call(service, openapi, "GET", f"/api/v1/images?limit=1&cursor={page1['next_cursor']}")
    assert [i["name"] for i in page2["items"]] == ["hardbase/b"] and page2["next_cursor"] is None

    one = call(service, openapi, "GET", "/api/v1/images/hardbase/a")
    assert one["digest"] == a["digest"]
    assert [p["digest"] for p in one["digest_history"]][0] == a["digest"]
    assert len(one["digest_history"]) == 2
    netbase = next(p for p in one["packages"] if p["name"] == "netbase")
    assert netbase["version"] == "6.5+deb13u1" and netbase["patched"] is False
    # the fixed CVE is gone; the fixture's no-fix critical one is open
    (finding,) = one["findings_list"]
    assert "CVE-2026-90002" in [finding["id"], *finding["aliases"]]
    assert (finding["package"], finding["status"], finding["severity"]) == (
        "netbase", "no-fix", "critical",
    )  # fmt: skip
    assert one["findings"]["by_status"]["no-fix"] == 1
    assert one["findings"]["by_severity"]["critical"] == 1
    assert a["findings"]["fixable_by_severity"]["critical"] == 0
    assert set(one["documents"]) == {"spdx", "cyclonedx", "provenance", "vex"}

    events = call(service, openapi, "GET", "/api/v1/events?image=hardbase/a&kind=published")
    assert [e["kind"] for e in events["items"]] == ["published", "published"]
    assert events["items"][0]["detail"]["digest"] == a["digest"]
    seen: list[int] = []
    cursor = ""
    while True:  # every event once, newest first, across pages
        page = call(service, openapi, "GET", f"/api/v1/events?limit=7{cursor}")
        seen += [e["id"] for e in page["items"]]
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) > 14
    later = call(service, openapi, "GET", "/api/v1/events?since=2999-01-01T00:00:00Z")
    assert later["items"] == []

    jobs = call(service, openapi, "GET", "/api/v1/jobs?image=hardbase/b")
    assert [j["state"] for j in jobs["items"]] == ["published", "published"]

    assert call(service, openapi, "GET", "/healthz", role=None) == {"status": "ok"}
    ready = call(service, openapi, "GET", "/readyz", role=None)
    assert ready["ready"] is True, ready


def test_documents_are_the_attested_ones(service: Service, openapi: OpenAPI) -> None:
    spdx = call(service, openapi, "GET", "/api/v1/images/hardbase/a/documents/spdx")
    assert spdx["spdxVersion"] == "SPDX-2.3"
    assert any(p["name"] == "netbase" for p in spdx["packages"])
    cdx = call(service, openapi, "GET", "/api/v1/images/hardbase/a/documents/cyclonedx")
    assert cdx["bomFormat"] == "CycloneDX"
    prov = call(service, openapi, "GET", "/api/v1/images/hardbase/a/documents/provenance")
    # the provenance of the latest job: the rebuild with the fixture's newer netbase
    names = [d.get("name", "") for d in prov["buildDefinition"]["resolvedDependencies"]]
    assert "netbase_6.5+deb13u1_all" in names and "netbase_6.5_all" not in names
    assert prov["runDetails"]["metadata"]["invocationId"].startswith("hardbase-watch/job/")
    vex = call(service, openapi, "GET", "/api/v1/images/hardbase/a/documents/vex")
    assert vex["@context"].startswith("https://openvex.dev/ns/")
    (statement,) = vex["statements"]
    assert statement["status"] == "affected"


def test_metrics(service: Service) -> None:
    status, headers, body = service.request("GET", "/metrics", token=service.tokens["read"])
    assert status == 200 and headers["content-type"].startswith("text/plain")
    text = body.decode()
    assert 'hardbase_remediation_seconds_bucket{le="+Inf"} 2.0' in text
    assert "hardbase_remediation_seconds_count 2.0" in text
    assert 'hardbase_jobs_total{state="published"} 4.0' in text
    assert "hardbase_feed_sync_age_seconds " in text
    for image in ("hardbase/a", "hardbase/b"):
        sample = (
            f'hardbase_open_findings{{image="{image}",severity="critical",status="no-fix"}} 1.0'
        )
        assert sample in text
    assert 'hardbase_images{status="green"} 2.0' in text
    assert service.request("GET", "/metrics")[0] == 401


def test_auth(service: Service, openapi: OpenAPI) -> None:
    for path in ("/api/v1/images", "/api/v1/events", "/api/v1/jobs", "/api/v1/images/hardbase/a"):
        body = call(service, openapi, "GET", path, role=None, status=401)
        assert body["error"]["status"] == 401
    _, headers, _ = service.request("GET", "/api/v1/images")
    assert headers["www-authenticate"] == "Bearer"
    bad = "hbt_000000000000_" + "A" * 43
    status, _, _ = service.request("GET", "/api/v1/images", token=bad)
    assert status == 401
    status, _, _ = service.request("GET", "/api/v1/images", headers={"Authorization": "Basic eA=="})
    assert status == 401
    for path in ("/api/v1/images/hardbase/a/rebuild", "/api/v1/passes"):
        call(service, openapi, "POST", path, role=None, status=401)
        body = call(service, openapi, "POST", path, role="read", status=403)
        assert "admin" in body["error"]["message"]
    # a browser session (cookie) may not post to the API without the CSRF token
    status, _, _ = service.request(
        "POST", "/api/v1/passes", headers={"Cookie": f"hb_session={service.tokens['admin']}"}
    )
    assert status == 403
    # the dashboard redirects to the sign-in form
    status, _, _ = service.request("GET", "/events")
    assert status in (200, 303)  # urllib follows the redirect to /login
    status, _, body = service.request("GET", "/login")
    assert status == 200 and b'name="token"' in body


def test_security_headers(service: Service) -> None:
    for path in ("/", "/api/v1/images", "/static/app.css", "/nonexistent"):
        _, headers, _ = service.request("GET", path, token=service.tokens["read"])
        assert "default-src 'none'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert "server" not in {k.lower() for k in headers}


def raw(service: Service, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (no client-side path normalisation); (status, body)."""
    with socket.create_connection(("127.0.0.1", service.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_bad_input_gets_a_4xx_json_error_and_the_service_keeps_running(
    service: Service, openapi: OpenAPI
) -> None:
    admin = service.tokens["admin"]
    json_headers = {"Content-Type": "application/json"}
    cases = [
        ("GET", "/api/v1/images/no/such/image", None, {}, 404),
        ("GET", "/api/v1/images?cursor=not-a-cursor", None, {}, 400),
        ("GET", "/api/v1/images?cursor=eyJrIjoiZXZlbnQiLCJ2IjozMH0", None, {}, 400),  # other kind
        ("GET", "/api/v1/events?cursor=%00%01", None, {}, 400),
        ("GET", "/api/v1/events?cursor=" + "A" * 300, None, {}, 422),
        ("GET", "/api/v1/events?limit=100000", None, {}, 422),
        ("GET", "/api/v1/events?since=yesterday", None, {}, 422),
        ("GET", "/api/v1/jobs?cursor=eyJrIjoiam9iIiwidiI6IngifQ", None, {}, 400),  # a string id
        ("GET", "/api/v1/images/hardbase/a/documents/passwd", None, {}, 404),
        ("GET", "/api/v1/images/hardbase/a/documents/..%2F..%2F..%2Fetc%2Fpasswd", None, {}, 404),
        ("GET", "/api/v1/images/..%2F..%2Fetc/documents/spdx", None, {}, 404),
        ("POST", "/api/v1/images/hardbase/a/rebuild", b"{not json", json_headers, 400),
        ("POST", "/api/v1/images/hardbase/a/rebuild", b'{"reason": 5}', json_headers, 422),
        ("POST", "/api/v1/images/hardbase/a/rebuild", b'{"other": 1}', json_headers, 422),
        ("POST", "/api/v1/images/nope/rebuild", b"{}", json_headers, 404),
        ("POST", "/api/v1/images/hardbase/a/rebuild", b"x" * 70000, json_headers, 413),
    ]
    for method, path, body, headers, want in cases:
        got, _, data = service.request(method, path, token=admin, body=body, headers=headers)
        assert got == want, (method, path, got, data[:300])
        doc = json.loads(data)
        assert doc["error"]["status"] == want and doc["error"]["message"], doc
        assert "Traceback" not in doc["error"]["message"]
        if want != 413:  # 413 is answered before routing, by the body limit
            openapi.check(method, path, got, data)
    # path traversal sent raw, without a client normalising the dots away
    token = f"Authorization: Bearer {admin}\r\n".encode()
    for target in (
        b"/api/v1/images/hardbase/a/documents/../../../../etc/passwd",
        b"/api/v1/images/../../../etc/passwd/documents/spdx",
        b"/static/../../../../etc/passwd",
        b"/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    ):
        status, body = raw(service, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n" + token +
                           b"Connection: close\r\n\r\n")  # fmt: skip
        assert status == 404, (target, status, body[:200])
        assert b"root:" not in body
    # a body announced small but sent large (chunked) is cut off too
    big = b"x" * 80000
    chunked = (
        b"POST /api/v1/images/hardbase/a/rebuild HTTP/1.1\r\nHost: x\r\n" + token
        + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + f"{len(big):x}\r\n".encode() + big + b"\r\n0\r\n\r\n"
    )  # fmt: skip
    status, body = raw(service, chunked)
    assert status == 413, body[:200]
    assert service.alive()
    assert call(service, openapi, "GET", "/api/v1/images")["items"]


def sse(service: Service, query: str, stop: threading.Event, out: list[dict[str, Any]]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=120)
    conn.request(
        "GET", f"/api/v1/events/stream{query}",
        headers={"Authorization": f"Bearer {service.tokens['read']}"},
    )  # fmt: skip
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("content-type", "").startswith("text/event-stream")
    try:
        for line in _lines(resp):
            if line.startswith(b"data: "):
                out.append(json.loads(line[6:]))
            if stop.is_set():
                break
    finally:
        conn.close()


def _lines(resp: http.client.HTTPResponse) -> Iterator[bytes]:
    while True:
        line = resp.readline()
        if not line:
            return
        yield line.rstrip(b"\r\n")


def test_rebuild_through_the_api_is_a_job_and_streams_its_events(
    service: Service, openapi: OpenAPI
) -> None:
    before = call(service, openapi, "GET", "/api/v1/images/hardbase/a")
    stop = threading.Event()
    streamed: list[dict[str, Any]] = []
    reader = threading.Thread(target=sse, args=(service, "?image=hardbase/a", stop, streamed))
    reader.start()
    time.sleep(1.5)  # the stream starts after the newest event
    try:
        out = call(
            service, openapi, "POST", "/api/v1/images/hardbase/a/rebuild", role="admin",
            body=b'{"reason": "test"}', headers={"Content-Type": "application/json"},
            status=202,
        )  # fmt: skip
        assert out["created"] is True and out["job"]["state"] == "queued"
        job = out["job"]["id"]
        again = call(service, openapi, "POST", "/api/v1/images/hardbase/a/rebuild", role="admin",
                     status=202)  # fmt: skip
        assert again["created"] is False and again["job"]["id"] == job
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if any(e["kind"] == "published" and e["job"] == job for e in streamed):
                break
            time.sleep(0.5)
    finally:
        stop.set()
        reader.join(130)
    kinds = [e["kind"] for e in streamed if e["job"] == job]
    assert kinds == [
        "job-created", "job-started", "built", "verified", "signed", "pushed", "published",
    ], streamed  # fmt: skip
    assert streamed[0]["kind"] == "rebuild-requested" and streamed[0]["detail"]["by"].startswith(
        "token "
    )
    assert all(e["image"] == "hardbase/a" for e in streamed)
    jobs = call(service, openapi, "GET", "/api/v1/jobs?image=hardbase/a")
    assert jobs["items"][0]["id"] == job and jobs["items"][0]["state"] == "published"
    assert jobs["items"][0]["reason"].startswith("rebuild requested by token ")
    after = call(service, openapi, "GET", "/api/v1/images/hardbase/a")
    assert after["digest"] == before["digest"]  # the same lock builds the same image
    assert len(after["digest_history"]) == 3
    version = jobs["items"][0]["version_tag"]
    assert after["digest_history"][0]["version_tags"] == [f"13-{version}", f"latest-{version}"]
    passes = call(service, openapi, "POST", "/api/v1/passes", role="admin", status=202)
    assert passes["requested"] is True


def test_no_token_or_password_in_the_log(service: Service) -> None:
    text = service.log.read_text()
    assert "GET /api/v1/images" in text  # requests are logged ...
    for secret in (*service.tokens.values(), "HARDBASE_KEY_PASSWORD", "fixture-webhook-secret"):
        assert secret not in text  # ... without their credentials
    from registry_fixture import KEY_PASSWORD

    assert KEY_PASSWORD not in text
