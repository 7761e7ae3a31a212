"""Shared fixtures: boto3 clients wired IN PROCESS to the Chalice app, under moto.

The clients are real boto3 clients (stock, and with the shipped models from
`build/models`, which `make models` writes); a `before-send` hook hands each
prepared HTTP request to the Chalice app instead of the network, so tests see
exactly what a user's boto3 sees. The app's own DynamoDB/S3 calls go to moto.
"""
import contextlib
import functools
import io
import os
import shutil
import tempfile
import threading
from urllib.parse import urlsplit, parse_qsl

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# ../shared beside the repository (seed, datasets); CI lays it out the same way.
SHARED = os.environ.get("PERSONALIZE_SHARED") or os.path.join(os.path.dirname(ROOT), "shared")
RATINGS = os.path.join(SHARED, "datasets", "ml-latest-small", "ratings.csv")
MODELS_DIR = os.path.join(ROOT, "build", "models")
ENDPOINT = "http://personalize.in-process"

_BASE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "RESOURCES_TABLE": "personalize-resources",
    "EVENTS_TABLE": "personalize-events",
    "DATA_BUCKET": "personalize-data",
    "INTERNAL_BUCKET": "personalize-internal",
}


class _RawBody(io.BytesIO):
    def stream(self, **kwargs):
        contents = self.read()
        while contents:
            yield contents
            contents = self.read()


class InProcessApp:
    """Routes botocore's prepared requests to the Chalice app.

    Through Chalice's LocalGateway by default (routing and content types as
    deployed). Chalice keeps `app.current_request` on the app object, so
    those calls are serialized; `threaded=True` calls the protocol dispatcher
    directly instead, for tests that need real concurrency.
    """

    _lock = threading.Lock()

    def __init__(self, threaded=False):
        from chalice.config import Config
        from chalice.local import LocalGateway
        import app as chalice_app
        self.threaded = threaded
        self.gateway = LocalGateway(chalice_app.app, Config.create())

    def send(self, method, path, query, headers, body):
        """One HTTP exchange -> (status, headers, body bytes)."""
        if self.threaded:
            from chalicelib.protocol import http
            resp = http.dispatch(http.service_for_path(path), method, path,
                                 headers, dict(parse_qsl(query)), body)
            status, out_headers, out_body = resp.status_code, resp.headers, resp.body
        else:
            from chalice.local import LocalGatewayException
            with self._lock:
                try:
                    resp = self.gateway.handle_request(
                        method=method, path=path + (f"?{query}" if query else ""),
                        headers=headers, body=body)
                    status, out_headers, out_body = resp["statusCode"], resp["headers"], resp["body"]
                except LocalGatewayException as e:
                    status, out_headers, out_body = e.CODE, e.headers, e.body or b""
        return status, out_headers, out_body.encode() if isinstance(out_body, str) else out_body

    def __call__(self, request, **kwargs):
        url = urlsplit(request.url)
        headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        headers.setdefault("Host", url.netloc)  # what the HTTP client adds (and SigV4 signed)
        body = request.body or b""
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        status, out_headers, out_body = self.send(request.method, url.path, url.query, headers, body)
        return AWSResponse(request.url, status, out_headers, _RawBody(out_body))


@functools.lru_cache(maxsize=None)
def make_client(service, shipped_models=True, threaded=False):
    """A boto3 client for `service` talking to the in-process app.

    Cached for the session: building a client costs more than most tests, and
    moto intercepts the app's own calls whichever mock is active."""
    session = botocore.session.get_session()
    if shipped_models:
        if not os.path.isdir(MODELS_DIR):
            pytest.fail("build/models is missing: run `make models` (make test does)")
        loader = session.get_component("data_loader")
        loader.search_paths.insert(0, MODELS_DIR)
    client = boto3.Session(botocore_session=session).client(
        service, endpoint_url=ENDPOINT, region_name="us-east-1")
    client.meta.events.register_first("before-send", InProcessApp(threaded=threaded))
    return client


@contextlib.contextmanager
def moto_world():
    """moto for the app's DynamoDB and S3 with the tables and the data bucket created,
    the environment the app reads set (and restored afterwards)."""
    from moto import mock_aws
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("AWS_ENDPOINT_URL") or name == "AWS_PROFILE":
                mp.delenv(name, raising=False)
        for name, value in _BASE_ENV.items():
            mp.setenv(name, value)
        with mock_aws():
            from tests.support import stepfunctions
            stepfunctions.install(mp)  # the deployed ASL files run in process (tests/support/asl)
            from chalicelib.storage.tables import ensure_tables
            ensure_tables(_aws_client("dynamodb"))
            _aws_client("s3").create_bucket(Bucket=_BASE_ENV["DATA_BUCKET"])
            _aws_client("s3").create_bucket(Bucket=_BASE_ENV["INTERNAL_BUCKET"])
            from tests.support import access
            access.seed_root(mp)  # the root principal's key = the credentials clients sign with
            # a new world: no model, campaign or recorded events remembered from another one,
            # nor a machine folder shared with another world (chalicelib/runtime/shared.py)
            from chalicelib.runtime import serving
            serving.reset_cache()
            machine = tempfile.mkdtemp(prefix="machine-")
            mp.setenv("RUNTIME_MODEL_DIR", machine)
            try:
                yield
            finally:
                shutil.rmtree(machine, ignore_errors=True)


@pytest.fixture
def aws():
    """A fresh moto world for one test."""
    with moto_world():
        yield


@pytest.fixture(autouse=True)
def _fresh_local_workflows():
    """Each test starts with no recorded in-process workflow executions."""
    from tests.support import stepfunctions
    stepfunctions.reset()
    yield


@functools.lru_cache(maxsize=None)
def _aws_client(name):
    return boto3.client(name, region_name="us-east-1")


@pytest.fixture
def personalize(aws):
    """Control-plane client with the shipped models (seed operations included)."""
    return make_client("personalize")


@pytest.fixture
def stock_personalize(aws):
    """Control-plane client with botocore's stock model only."""
    return make_client("personalize", shipped_models=False)


@pytest.fixture
def runtime(aws):
    return make_client("personalize-runtime")


@pytest.fixture
def stock_runtime(aws):
    return make_client("personalize-runtime", shipped_models=False)


@pytest.fixture
def events(aws):
    return make_client("personalize-events")


@pytest.fixture
def stock_events(aws):
    return make_client("personalize-events", shipped_models=False)


@pytest.fixture
def s3(aws):
    return _aws_client("s3")


@pytest.fixture
def atomic_moto(monkeypatch):
    """moto applies a DynamoDB transaction item by item and rolls a failed one back by
    restoring a copy of the whole table, which under threads loses other callers' writes;
    DynamoDB itself is serializable per item and per transaction. One lock around moto's
    writes gives the tests DynamoDB's guarantees (our conditions still decide who wins)."""
    from moto.dynamodb.models import DynamoDBBackend
    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "get_item", "transact_write_items",
                 "batch_write_item"):
        original = getattr(DynamoDBBackend, name)

        def locked(self, *args, __original=original, **kwargs):
            with lock:
                return __original(self, *args, **kwargs)
        monkeypatch.setattr(DynamoDBBackend, name, locked)


@pytest.fixture
def threaded_personalize(aws, atomic_moto):
    """Like `personalize`, but safe to call from many threads at once."""
    return make_client("personalize", threaded=True)


@pytest.fixture
def threaded_events(aws, atomic_moto):
    """PutEvents from many threads at once."""
    return make_client("personalize-events", threaded=True)


@pytest.fixture
def raw(aws):
    """Send a raw HTTP request to the app (what a non-boto3 client would send).

    Signed with SigV4 by the root test key by default; `sign=False` sends it unsigned,
    `sign={...}` passes keyword arguments to tests.support.access.sign (another `key`,
    `region`, `service`, `when`) to forge one. Returns (status, lower-cased headers,
    JSON body or None)."""
    import json
    from tests.support import access
    app_client = InProcessApp()

    def call(path="/", body=b"{}", headers=None, method="POST", target=None,
             content_type="application/x-amz-json-1.1", sign=True):
        hdrs = {"Content-Type": content_type} if content_type else {}
        if target:
            hdrs["X-Amz-Target"] = f"AmazonPersonalize.{target}"
        hdrs.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        if sign:
            hdrs = access.sign(method, ENDPOINT + path, body, hdrs,
                               **(sign if isinstance(sign, dict) else {}))
        status, out_headers, out = app_client.send(method, path, "", hdrs, body)
        try:
            parsed = json.loads(out) if out else None
        except ValueError:
            parsed = None
        return status, {k.lower(): v for k, v in out_headers.items()}, parsed
    return call

