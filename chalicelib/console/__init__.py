"""The web console (issue 17): static assets served by the deployed application itself.

The seed's "Getting Started (Console)" and "Test campaign results" as one page
(`static/index.html`, hash routing). The assets are public and hold no secret: the
page signs every call in the browser with SigV4 (`static/sigv4.js`, WebCrypto) using
the access key the user enters, and calls the same public API as every client
(POST / with X-Amz-Target, POST /recommendations, /events ...), so the console can do
exactly what that principal may do. Served by two GET routes in app.py; nothing
here touches storage. `settings.json` is the one generated asset: the region the
signatures are scoped to (chalicelib.config).

Imports: stdlib, chalice, config.
"""
import json
import os

from chalice import Response

from chalicelib import config

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
}
INDEX = "index.html"


def assets():
    """The servable file names: what static/ holds, by name (no sub-folders, so no
    path in a request can leave the folder)."""
    return sorted(name for name in os.listdir(STATIC)
                  if os.path.splitext(name)[1] in CONTENT_TYPES)


def settings():
    return {"region": config.region()}


def serve(name=None):
    """GET /console[/<name>]: the asset with its content type, 404 for any other name."""
    name = name or INDEX
    if name == "settings.json":
        return _response(200, json.dumps(settings()), CONTENT_TYPES[".json"])
    if name not in assets():
        return _response(404, f"no console asset named {name[:80]!r}\n", "text/plain; charset=utf-8")
    with open(os.path.join(STATIC, name), encoding="utf-8") as f:
        body = f.read()
    return _response(200, body, CONTENT_TYPES[os.path.splitext(name)[1]])


def _response(status, body, content_type):
    # no-cache: a redeployed stack's page is seen at once (the assets are small)
    return Response(body=body, status_code=status,
                    headers={"Content-Type": content_type, "Cache-Control": "no-cache"})
