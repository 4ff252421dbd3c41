"""/docs works with no network: the page names only same-origin URLs, and each answers
from the package with its content type; anyone may read it, as before."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from wess.api.docs import ASSETS
from wess.testing import assert_problem, open_client

URL_ATTRIBUTE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*'([^']+)'""")
EXPECTED_TYPES = {
    "/openapi.json": "application/json",
    "/docs/assets/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "/docs/assets/swagger-ui.css": "text/css; charset=utf-8",
    "/docs/assets/favicon.png": "image/png",
}


async def test_the_docs_page_loads_only_same_origin_assets_that_answer() -> None:
    """Every URL the page loads is a path on this server (no scheme, no host), and each
    answers 200 with its content type, without credentials."""
    async with open_client(as_admin=False) as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        urls = [a or b for a, b in URL_ATTRIBUTE.findall(page.text)]
        assert sorted(urls) == sorted(EXPECTED_TYPES)
        for url in urls:
            parts = urlsplit(url)
            assert (parts.scheme, parts.netloc) == ("", ""), url
            assert url.startswith("/"), url
            assert not url.startswith("//"), url
            answer = await client.get(url)
            assert answer.status_code == 200, url
            assert answer.headers["content-type"] == EXPECTED_TYPES[url], url
            assert answer.content, url
    assert "http://" not in page.text
    assert "https://" not in page.text
    assert '"validatorUrl": null' in page.text  # no badge fetched from the validator's site


async def test_the_assets_are_the_packaged_swagger_ui() -> None:
    """The script is Swagger UI's bundle; only the listed assets are served."""
    async with open_client(as_admin=False) as client:
        script = await client.get("/docs/assets/swagger-ui-bundle.js")
        assert b"SwaggerUIBundle" in script.content
        assert script.headers["cache-control"] == "public, max-age=86400"
        assert_problem(await client.get("/docs/assets/index.html"), 404, "not_found")
        assert_problem(await client.get("/docs/assets/..%2fcore.py"), 404, "not_found")
    assert set(ASSETS) == {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}
