"""The web console's assets and routes (chalicelib/console, app.py GET /console[/<name>]).

The browser flow itself runs in tests/e2e/test_console.py (headless Chromium on the stack)."""
import json
import os
import re

from chalice.test import Client

import app
from chalicelib import console
from scripts import package, stack


def test_each_asset_is_served_with_its_content_type():
    for name in console.assets():
        response = console.serve(name)
        assert response.status_code == 200
        ext = os.path.splitext(name)[1]
        assert response.headers["Content-Type"] == console.CONTENT_TYPES[ext]
    assert {"index.html", "app.js", "sigv4.js", "api.js", "chart.js", "console.css"} <= set(console.assets())


def test_unknown_names_and_paths_out_of_the_folder_are_404():
    for name in ("nope.js", "../__init__.py", "..%2Fapp.py", "__init__.py", "static"):
        response = console.serve(name)
        assert response.status_code == 404, name
        assert response.headers["Content-Type"].startswith("text/plain")


def test_settings_give_the_signing_region(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    response = console.serve("settings.json")
    assert json.loads(response.body) == {"region": "eu-west-1"}


def test_the_page_loads_only_its_own_assets_no_cdn():
    with open(os.path.join(console.STATIC, "index.html")) as f:
        html = f.read()
    refs = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert refs and set(refs) <= set(console.assets()), refs
    for name in console.assets():
        with open(os.path.join(console.STATIC, name)) as f:
            text = f.read()
        assert not re.search(r"(src|href|import|url)\s*[=(]\s*[\"']?(https?:)?//", text), name


def test_routes_serve_the_console_unsigned_and_the_api_stays_signed():
    with Client(app.app) as client:
        for path in ("/console", "/console/", "/console/index.html"):
            response = client.http.get(path)
            assert response.status_code == 200, path
            assert response.headers["Content-Type"] == "text/html; charset=utf-8"
            assert b"app.js" in response.body
        assert client.http.get("/console/app.js").headers["Content-Type"].startswith("text/javascript")
        assert client.http.get("/console/missing.css").status_code == 404
        # the API behind the same endpoint still refuses an unsigned call
        refused = client.http.post("/", headers={"X-Amz-Target": "AmazonPersonalize.ListDatasetGroups",
                                                 "Content-Type": "application/x-amz-json-1.1"}, body=b"{}")
        assert refused.status_code in (400, 403)


def test_assets_are_deployment_inputs():
    """The Lambda zip and the stack digest take chalicelib/ whole, static files included."""
    files = set(package._files(package.ROOT, "chalicelib"))
    for name in console.assets():
        assert os.path.join("chalicelib", "console", "static", name) in files


def test_console_url_is_under_the_api_endpoint():
    assert stack.console_url("http://127.0.0.1:4566/restapis/x/api/_user_request_") == \
        "http://127.0.0.1:4566/restapis/x/api/_user_request_/console/"
    assert stack.console_url("https://abc.execute-api.us-east-1.amazonaws.com/api/") == \
        "https://abc.execute-api.us-east-1.amazonaws.com/api/console/"
