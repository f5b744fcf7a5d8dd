"""The API's Swagger UI page works offline and under the console's Content-Security-Policy."""

from __future__ import annotations

import re

import pytest

ASSET = re.compile(r'(?:src|href)="([^"]+)"')
ANY_URL = re.compile(r"https?://[^\s\"'<>)]+")


@pytest.fixture
def docs(admin_client):
    answer = admin_client.get("/api/v1/docs/")
    assert answer.status_code == 200
    return answer


def test_docs_page_and_every_file_it_loads_come_from_this_server(admin_client, docs):
    html = docs.content.decode()
    assets = ASSET.findall(html)
    # Swagger UI's stylesheet, its two scripts, our stylesheet, the start-up script, the icon.
    assert len(assets) >= 5, assets
    for url in assets:
        assert not url.startswith(("http:", "https:", "//")), url
        loaded = admin_client.get(url.replace("&amp;", "&"))
        assert loaded.status_code == 200, url
        body = b"".join(loaded) if loaded.streaming else loaded.content
        assert body, url
    hosts = {u.split("/")[2] for u in ANY_URL.findall(html)}
    assert hosts <= {"testserver"}, hosts


def test_docs_start_up_script_loads_the_v1_schema(admin_client, docs):
    [script] = [u for u in ASSET.findall(docs.content.decode()) if "script" in u]
    js = admin_client.get(script.replace("&amp;", "&"))
    assert js["Content-Type"].startswith("application/javascript")
    assert '"/api/v1/schema/"' in js.content.decode()


def test_docs_page_has_no_inline_script_or_style_the_csp_would_block(docs):
    html = docs.content.decode()
    assert "<style" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    csp = docs.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_docs_need_a_signed_in_admin(client):
    assert client.get("/api/v1/docs/").status_code in (401, 403)
