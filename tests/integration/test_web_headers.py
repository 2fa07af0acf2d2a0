"""What a browser is told about the pages and their files: no framing, no code from elsewhere."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

FILES = [
    "/",
    "/static/index.html",
    "/static/app.js",
    "/static/style.css",
    "/docs",
    "/static/docs.js",
    "/vendor/swagger-ui-dist/swagger-ui-bundle.js",
    "/vendor/swagger-ui-dist/swagger-ui.css",
]


def directives(policy: str) -> dict[str, list[str]]:
    parsed = (part.split() for part in policy.split(";") if part.strip())
    return {words[0]: words[1:] for words in parsed}


@pytest.mark.parametrize("path", FILES)
def test_every_page_and_file_forbids_framing_sniffing_referrers_and_foreign_code(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    policy = directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no host
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert not any(source.startswith(("http", "*")) for sources in policy.values() for source in sources)
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_docs_load_swagger_ui_from_the_service_itself(client: TestClient) -> None:
    page = client.get("/docs").text
    sources = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", page)
    assert "/vendor/swagger-ui-dist/swagger-ui-bundle.js" in sources
    assert all(source.startswith("/") for source in sources), sources
    # Every script is a file: the policy forbids inline ones.
    assert all(attributes.strip() for attributes in re.findall(r"<script([^>]*)>", page))
    assert all(client.get(source).status_code == 200 for source in sources)
    licence = client.get("/vendor/swagger-ui-dist/LICENSE")
    assert licence.status_code == 200 and "Apache License" in licence.text


@pytest.mark.parametrize("path", ["/redoc", "/docs/oauth2-redirect"])
def test_the_frameworks_cdn_pages_are_gone(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404
