"""The web console (issue 17): static assets served by the deployed application itself.

The seed's "Getting Started (Console)" and "Test campaign results" as one page
(`static/index.html`, hash routing). The assets are public and hold no secret: the
page signs every call in the browser with SigV4 (`static/sigv4.js`, WebCrypto) using
the access key the user enters, and calls the same public API as every client
(POST / with X-Amz-Target, POST /recommendations, /events ...), so the console can do
exactly what that principal may do. Served by two GET routes in app.py; nothing
here touches storage. The page is served as one document (`document()`: the stylesheet,
the scripts and the settings - the region the signatures are scoped to, chalicelib.config -
inlined), so a first visit costs one request; the assets stay servable by name.

Imports: stdlib, chalice, config.
"""
import functools
import hashlib
import json
import os
import re

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


_LINKED = re.compile(r'<link rel="stylesheet" href="([^"]+)">|<script src="([^"]+)"></script>')


@functools.lru_cache(maxsize=None)
def document():
    """(body, ETag) of the page as served: index.html with its stylesheet and scripts inlined
    and the settings in a JSON script element, so a first visit is one request (on the
    emulator every request is a Lambda invocation, and parallel ones start cold workers).
    The assets do not change within a deployment, so it is built once per process."""
    def inline(m):
        name = m.group(1) or m.group(2)
        text = _read(name)
        if re.search(r"</(script|style)", text, re.IGNORECASE):
            raise ValueError(f"{name} cannot be inlined: it holds a closing tag")
        return f"<style>\n{text}</style>" if m.group(1) else f"<script>\n{text}</script>"
    page = _LINKED.sub(inline, _read(INDEX))
    data = json.dumps(settings()).replace("<", "\\u003c")
    page = page.replace("</head>", f'<script id="settings" type="application/json">{data}</script>\n</head>', 1)
    return page, '"' + hashlib.sha256(page.encode()).hexdigest()[:32] + '"'


def serve(name=None, headers=None):
    """GET /console[/<name>]: the page (`document()`, 304 when the browser's copy is current),
    an asset with its content type, 404 for any other name."""
    name = name or INDEX
    if name == INDEX:
        body, etag = document()
        if etag in (dict((k.lower(), v) for k, v in (headers or {}).items()).get("if-none-match") or ""):
            return Response(body="", status_code=304, headers={"ETag": etag, "Cache-Control": "no-cache"})
        return _response(200, body, CONTENT_TYPES[".html"], ETag=etag)
    if name == "settings.json":
        return _response(200, json.dumps(settings()), CONTENT_TYPES[".json"])
    if name not in assets():
        return _response(404, f"no console asset named {name[:80]!r}\n", "text/plain; charset=utf-8")
    return _response(200, _read(name), CONTENT_TYPES[os.path.splitext(name)[1]])


def _read(name):
    with open(os.path.join(STATIC, name), encoding="utf-8") as f:
        return f.read()


def _response(status, body, content_type, **extra):
    # no-cache: a redeployed stack's page is seen at once; the page's ETag makes the check cheap
    return Response(body=body, status_code=status,
                    headers={"Content-Type": content_type, "Cache-Control": "no-cache", **extra})
