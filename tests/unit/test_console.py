"""The web console's assets and routes (chalicelib/console, app.py GET /console[/<name>]).

The browser flow itself runs in tests/e2e/test_console.py (headless Chromium on the stack)."""
import json
import os
import re
import shutil
import subprocess

import pytest
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
            assert b"Api.loadSettings().then(render)" in response.body  # app.js, inlined
        assert client.http.get("/console/app.js").headers["Content-Type"].startswith("text/javascript")
        assert client.http.get("/console/missing.css").status_code == 404
        # the API behind the same endpoint still refuses an unsigned call
        refused = client.http.post("/", headers={"X-Amz-Target": "AmazonPersonalize.ListDatasetGroups",
                                                 "Content-Type": "application/x-amz-json-1.1"}, body=b"{}")
        assert refused.status_code in (400, 403)


def test_the_page_is_one_document_and_revalidates_cheaply():
    """A first visit is one request (each is a Lambda invocation; parallel ones start cold
    workers on the emulator): the stylesheet, scripts and settings are inlined; a browser
    holding the current copy gets a 304 without a body."""
    with Client(app.app) as client:
        page = client.http.get("/console/")
        html = page.body.decode()
        assert not re.search(r'<(script|link)[^>]+(src|href)=', html), "the page loads another file"
        for name in ("sigv4.js", "api.js", "chart.js", "app.js", "console.css"):
            with open(os.path.join(console.STATIC, name)) as f:
                assert f.read() in html, name
        settings = re.search(r'<script id="settings" type="application/json">([^<]+)</script>', html)
        assert json.loads(settings.group(1)) == console.settings()
        etag = page.headers["ETag"]
        assert page.headers["Cache-Control"] == "no-cache"
        again = client.http.get("/console/index.html", headers={"If-None-Match": etag})
        assert again.status_code == 304 and not again.body and again.headers["ETag"] == etag
        assert client.http.get("/console/", headers={"If-None-Match": '"stale"'}).status_code == 200


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


SIGN_SCRIPT = """
const fs = require("fs"), vm = require("vm");
vm.runInThisContext(fs.readFileSync(process.argv[2], "utf8") + ";globalThis.SigV4 = SigV4;");
const req = JSON.parse(process.argv[3]);
SigV4.sign({ ...req, body: new TextEncoder().encode(req.body), now: new Date(req.now) })
  .then((h) => process.stdout.write(JSON.stringify(h)));
"""


@pytest.mark.skipif(not shutil.which("node"), reason="node is not installed (the e2e test signs "
                    "in Chromium)")
def test_the_browser_signer_is_accepted_by_the_server_verifier(tmp_path):
    """static/sigv4.js (run by node's WebCrypto) signs; chalicelib.auth.sigv4.verify (botocore's
    canonical request) accepts it for the path and query as signed, and refuses a changed body."""
    from datetime import datetime, timezone

    from chalicelib.auth import sigv4
    from chalicelib.auth.errors import InvalidSignatureException
    script = tmp_path / "sign.js"
    script.write_text(SIGN_SCRIPT)
    path = "/restapis/abc123/api/_user_request_/"
    body = json.dumps({"name": "ä group", "maxResults": 5})
    request = {"method": "POST", "url": f"http://127.0.0.1:4566{path}?b=2&a=x%20y",
               "headers": {"content-type": "application/x-amz-json-1.1",
                           "x-amz-target": "AmazonPersonalize.ListDatasetGroups"},
               "body": body, "accessKey": "PKIATEST", "secret": "s3cr3t/+key", "region": "us-east-1",
               "service": "personalize", "now": "2026-12-03T07:20:03.123Z"}
    done = subprocess.run(["node", str(script), os.path.join(console.STATIC, "sigv4.js"),
                           json.dumps(request)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    headers = {**json.loads(done.stdout), "host": "127.0.0.1:4566"}
    assert headers["x-amz-date"] == "20261203T072003Z"
    now = datetime(2026, 12, 3, 7, 21, tzinfo=timezone.utc)
    secrets = {"PKIATEST": "s3cr3t/+key"}.get
    query = {"b": "2", "a": "x y"}
    assert sigv4.verify("POST", [path], query, headers, body.encode(), secrets, "us-east-1",
                        now) == "PKIATEST"
    with pytest.raises(InvalidSignatureException):
        sigv4.verify("POST", [path], query, headers, body.encode() + b" ", secrets, "us-east-1", now)


def run_node(tmp_path, script, *args):
    path = tmp_path / "script.js"
    path.write_text(script)
    done = subprocess.run(["node", str(path), console.STATIC, *args], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


needs_node = pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")

# static/api.js in a vm context: keys in session storage, SigV4 stubbed, `fetch` scripted by
# each case (the queue's order and the most calls in flight recorded)
API_QUEUE_SCRIPT = """
const fs = require("fs"), vm = require("vm"), path = require("path");
const log = { started: [], most: 0, timeouts: [] };
let inFlight = 0;
const answers = [
  () => Promise.reject(new TypeError("Failed to fetch")),                    // network error
  () => Promise.resolve(new Response("<html>Bad Gateway</html>", { status: 502 })),  // not JSON
  (signal) => new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
  () => Promise.resolve(new Response(JSON.stringify({ datasetGroups: [] }), { status: 200 })),
];
const ctx = {
  location: { origin: "http://127.0.0.1:4566", pathname: "/restapis/x/api/_user_request_/console/" },
  sessionStorage: { getItem: () => JSON.stringify({ accessKey: "PKIA", secret: "s", region: "us-east-1" }) },
  SigV4: { sign: async ({ headers }) => ({ ...headers }) },
  TextEncoder, Response, JSON, Promise, Error, TypeError, Uint8Array, setTimeout, Math, String, Object,
  AbortSignal: { timeout: (ms) => {  // the page's timeout, elapsed at once
    log.timeouts.push(ms);
    const c = new AbortController();
    setTimeout(() => c.abort(new DOMException("The operation timed out.", "TimeoutError")), 5);
    return c.signal;
  } },
  fetch: async (url, init) => {
    const k = log.started.length;
    log.started.push(k);
    inFlight += 1; log.most = Math.max(log.most, inFlight);
    try { const r = await answers[k](init.signal); await new Promise((r) => setTimeout(r, 5)); return r; }
    finally { inFlight -= 1; }
  },
};
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(path.join(process.argv[2], "api.js"), "utf8") + ";globalThis.Api = Api;", ctx);
process.on("exit", () => { if (!log.results) process.stdout.write(JSON.stringify({ ...log, results: ["calls never settled"] })); });
Promise.allSettled(answers.map(() => ctx.Api.control("ListDatasetGroups", {}))).then((results) => {
  log.results = results.map((r) => r.status === "fulfilled" ? "ok" : `${r.reason.code || r.reason.name}: ${r.reason.message}`);
  process.stdout.write(JSON.stringify(log));
});
"""


@needs_node
def test_one_call_in_flight_and_a_failed_call_gives_its_turn_on(tmp_path):
    """static/api.js sends one signed call at a time: a network error, an answer that is not
    JSON (a gateway's 502 page) and a call that gets no answer (its timeout) each end that call
    with an error naming what happened, and the calls queued behind it still run."""
    out = run_node(tmp_path, API_QUEUE_SCRIPT)
    assert out["started"] == [0, 1, 2, 3] and out["most"] == 1, out
    failed, gateway, silent, ok = out["results"]
    assert "Failed to fetch" in failed
    assert gateway.startswith("502: ") and "Bad Gateway" in gateway, gateway
    assert silent.startswith("RequestTimeout: ") and "90 s" in silent, silent
    assert ok == "ok" and out["timeouts"] == [90000] * 4, out


# static/app.js in a vm context with a minimal DOM (elements as text trees) and Api unused:
# what the versions table shows for a version, and a page's poll after a failed call
APP_SCRIPT = """
const fs = require("fs"), vm = require("vm"), path = require("path");
class Node {
  constructor(tag) { this.tag = tag; this.attrs = {}; this.children = []; this.dataset = {}; }
  setAttribute(k, v) { this.attrs[k] = v; }
  addEventListener() {}
  append(...c) { this.children.push(...c); }
  replaceChildren(...c) { this.children = c; }
  remove() {}
  get textContent() { return this.children.map((c) => (typeof c === "string" ? c : c.textContent)).join(""); }
}
const byId = {};
const ctx = {
  Node, JSON, Math, Date, String, Object, Number, Array, Promise, RegExp,
  document: { getElementById: (id) => (byId[id] = byId[id] || new Node("div")), createElement: (t) => new Node(t),
              body: new Node("body") },
  window: { addEventListener() {} },
  setTimeout: (fn, ms) => setTimeout(fn, Math.min(ms, 5)), clearTimeout,
  Api: { loadSettings: () => new Promise(() => {}) },   // no page is rendered
};
vm.createContext(ctx);
vm.runInContext(fs.readFileSync(path.join(process.argv[2], "app.js"), "utf8"), ctx);
const cases = JSON.parse(process.argv[3]);
const now = Date.now() / 1000;
const shown = cases.map((v) => {
  const out = vm.runInContext("progress", ctx)({ creationDateTime: now - 75, ...v,
    trainingProgress: v.trainingProgress && { updatedDateTime: now - 2, ...v.trainingProgress } });
  return typeof out === "string" ? out : [out.attrs["data-stage"] || null, out.textContent.trim(),
    (out.children.find((c) => c.tag === "progress") || { attrs: {} }).attrs.value || null];
});
const badge = vm.runInContext("badge", ctx)("CREATE STOPPED").attrs.class;
// a poll whose call fails is tried again (and the failure shown), not dropped
let calls = 0;
vm.runInContext("later", ctx)(async () => { calls += 1; if (calls === 1) throw new Error("ThrottlingException: slow down"); }, 2000);
setTimeout(() => process.stdout.write(JSON.stringify({ shown, badge, calls,
  lastError: ctx.document.body.dataset.lastError || null })), 100);
"""


@needs_node
def test_the_versions_table_words_training_progress_as_specs_define_it(tmp_path):
    """The Progress cell of a version (static/app.js `progress`) for each `trainingProgress`
    stage of specs/personalize.json, a version without it, and ended versions (ACTIVE, failed,
    stopped: nothing, and no more polling)."""
    training = {"stage": "training", "trialsCompleted": 0, "trialsTotal": 0, "epoch": 0, "epochs": 0,
                "elapsedSeconds": 3.2}
    cases = [
        {"status": "CREATE IN_PROGRESS", "trainingProgress": training},
        {"status": "CREATE IN_PROGRESS", "trainingProgress": {   # a trial reporting its epochs
            "stage": "hpo", "trialsCompleted": 1, "trialsTotal": 4, "currentTrial": 3, "epoch": 2,
            "epochs": 4, "elapsedSeconds": 64}},
        {"status": "CREATE IN_PROGRESS", "trainingProgress": {   # between trials
            "stage": "hpo", "trialsCompleted": 2, "trialsTotal": 4, "epoch": 0, "epochs": 0,
            "elapsedSeconds": 70}},
        {"status": "CREATE IN_PROGRESS", "trainingProgress": {
            "stage": "evaluation", "trialsCompleted": 4, "trialsTotal": 4, "epoch": 5, "epochs": 10,
            "elapsedSeconds": 90}},
        {"status": "CREATE STOPPING", "trainingProgress": {
            "stage": "final", "trialsCompleted": 0, "trialsTotal": 0, "epoch": 10, "epochs": 10,
            "elapsedSeconds": 125}},
        {"status": "CREATE PENDING"},
        {"status": "ACTIVE", "trainingProgress": training},
        {"status": "CREATE FAILED", "trainingProgress": training},
        {"status": "CREATE STOPPED", "trainingProgress": training},
    ]
    out = run_node(tmp_path, APP_SCRIPT, json.dumps(cases))
    started, trial, between, evaluation, final, pending, *ended = out["shown"]
    assert started == ["training", "training started · 3s · updated 2s ago", "0.000"]
    assert trial == ["hpo", "trial 3 of 4 (1 done) · epoch 2 of 4 · 1m 04s · updated 2s ago", "0.375"]
    assert between == ["hpo", "trial 3 of 4 (2 done) · 1m 10s · updated 2s ago", "0.500"]
    assert evaluation == ["evaluation", "evaluation fit (for the metrics) · epoch 5 of 10 · 1m 30s · "
                          "updated 2s ago", "0.500"]
    assert final == ["final", "final fit on all the data · epoch 10 of 10 · 2m 05s · updated 2s ago", "1.000"]
    assert pending == [None, "CREATE PENDING · 1m 15s", None]
    assert ended == ["", "", ""]
    assert out["badge"] == "status failed"
    assert out["calls"] == 2 and "ThrottlingException" in out["lastError"], out
