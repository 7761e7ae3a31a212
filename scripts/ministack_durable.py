"""ministack whose acknowledged writes survive a SIGKILL (issue 16, item 3).

ministack saves its state only in its ASGI shutdown (ministack/core/persistence.py,
`save_all` at `lifespan.shutdown`), so a killed emulator forgets every write since
it started. This launcher runs the same ASGI app in-process under a wrapper that
makes a write durable *before* its response leaves:

- DynamoDB item writes (PutItem, UpdateItem, DeleteItem, BatchWriteItem,
  TransactWriteItems) are appended to a journal and fsync'ed. Each entry is an
  idempotent PutItem / DeleteItem request carrying the item as it is after the
  write (read back with a consistent GetItem), so replaying an entry that a
  snapshot already holds changes nothing.
- Any other mutating request saves the changed services' snapshots, each an
  atomic replace (temp file, fsync, os.replace, fsync of the folder), in
  ministack's own file format (its encoder and format stamp), so ministack's
  `load_state` reads them at the next start.
- S3 object bodies and their metadata are written by ministack itself at once
  (S3_PERSIST=1); reads, execute-api calls (the Lambda's own writes are requests
  of their own) and Lambda invocations pass straight through.
- CloudFormation provisions in worker threads, so each of its answers (a
  DescribeStacks saying CREATE_COMPLETE) leaves only after a checkpoint.
- A background checkpoint every CHECKPOINT_SECONDS saves what changed without
  a request (Step Functions executions, log events).

At start-up ministack loads the snapshots; the wrapper then replays the journal
before the start-up completes (nothing is served earlier) and compacts it: a new
DynamoDB snapshot, the journal emptied. The journal is compacted whenever it
holds JOURNAL_LIMIT entries.

Run by scripts/emulator.py (`durable=True`) with ministack's environment
(PERSIST_STATE=1, STATE_DIR, S3_PERSIST=1, S3_DATA_DIR).
"""
import asyncio
import glob
import hashlib
import json
import logging
import os
import zlib

from ministack import app as ministack_app
from ministack.core import persistence
from ministack.core.router import detect_service

log = logging.getLogger("durable")

CHECKPOINT_SECONDS = float(os.environ.get("MINISTACK_CHECKPOINT_SECONDS", "5"))
JOURNAL_LIMIT = int(os.environ.get("MINISTACK_JOURNAL_LIMIT", "5000"))
JOURNALED = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
READ_PREFIXES = ("Get", "List", "Describe", "BatchGet", "Query", "Scan", "TransactGet")
# Change no state: KMS data-key and crypto calls (the API's key checks make them per request).
STATELESS = {"Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey",
             "GenerateDataKeyWithoutPlaintext", "Sign", "Verify", "GenerateMac", "VerifyMac"}
# Not worth a snapshot per call: log lines and metrics (the background checkpoint keeps them).
UNSAVED = {"PutLogEvents", "CreateLogStream", "PutMetricData"}


# ---------------------------------------------------------------- files

def write_atomic(path, data):
    """Replace `path` with `data` so a kill at any instant leaves the old or the new file."""
    tmp = f"{path}.{os.getpid()}.durable-tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(path))


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode_state(service, state):
    """The bytes ministack's `save_state` would write for `state` (same wrapper, same encoder)."""
    return json.dumps({"__ministack_format__": persistence._state_format_version(service),
                       "payload": state}, default=persistence._json_default).encode()


def save_snapshot(state_dir, service, state):
    write_atomic(os.path.join(state_dir, f"{service}.json"), encode_state(service, state))


class Journal:
    """Append-only, CRC-checked JSON lines in generations `dynamodb.<n>.jsonl`.

    A torn last line (a kill during an append, never acknowledged) fails its CRC
    and ends the replay of that file."""

    def __init__(self, folder):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.generation = max(self.generations() or [0])
        self.fd = None
        self.entries = 0

    def generations(self):
        return sorted(int(p.rsplit(".", 2)[-2]) for p in glob.glob(
            os.path.join(self.folder, "dynamodb.*.jsonl")))

    def path(self, generation):
        return os.path.join(self.folder, f"dynamodb.{generation:08d}.jsonl")

    def read(self):
        for generation in self.generations():
            with open(self.path(generation), "rb") as f:
                for line in f:
                    crc, _, payload = line.rstrip(b"\n").partition(b" ")
                    if not payload or crc != b"%08x" % zlib.crc32(payload):
                        log.warning("journal %s: torn entry dropped", generation)
                        break
                    yield json.loads(payload)

    def rotate(self):
        """Start a new generation; returns the generations a snapshot taken now covers."""
        old = self.generations()
        if self.fd is not None:
            os.close(self.fd)
        self.generation += 1
        self.fd = os.open(self.path(self.generation), os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                          0o600)
        _fsync_dir(self.folder)
        self.entries = 0
        return old

    def drop(self, generations):
        for generation in generations:
            os.remove(self.path(generation))
        _fsync_dir(self.folder)

    def append(self, entry):
        payload = json.dumps(entry, separators=(",", ":")).encode()
        os.write(self.fd, b"%08x %s\n" % (zlib.crc32(payload), payload))
        self.entries += 1

    def sync(self):
        os.fsync(self.fd)


# ---------------------------------------------------------------- in-process calls

async def call(app, method, path, headers, body, host="localhost"):
    """One HTTP request through the ASGI app, in-process: (status, body)."""
    headers = {k: v for k, v in headers.items() if k != "content-length"}
    headers["content-length"] = str(len(body))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 0),
             "server": (host, 80),
             "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status, chunks = None, []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def _header_dict(scope):
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _operation(headers, body):
    target = headers.get("x-amz-target", "")
    if target:
        return target.rsplit(".", 1)[-1]
    if b"Action=" in body[:4096]:
        from urllib.parse import parse_qs
        return (parse_qs(body.decode("utf-8", "replace")).get("Action") or [""])[0]
    return ""


# ---------------------------------------------------------------- the wrapper

class Durable:
    def __init__(self, app, state_dir):
        self.app = app
        self.state_dir = state_dir
        self.journal = Journal(os.path.join(state_dir, "journal"))
        self.lock = asyncio.Lock()  # orders DynamoDB writes, journal appends and compactions
        self.digests = {}           # service -> sha256 of the snapshot on disk
        self.changes = 0            # mutating requests since the last checkpoint
        self.tables = set()         # DynamoDB tables in the snapshot on disk
        self.task = None            # the background checkpoint

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, self._lifespan_send(send))
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        body, more, first = b"", True, None
        while more:
            message = await receive()
            if message["type"] != "http.request":
                first = message
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
        kind, op = self.classify(scope, body)
        if kind == "pass":
            return await self.app(scope, _replay(body, first, receive), send)
        held = []

        async def hold(message):
            held.append(message)

        if kind == "journal":
            async with self.lock:
                await self.app(scope, _replay(body, first, receive), hold)
                if _status(held) < 300:
                    await self._journal(op, _header_dict(scope), body, _response(held))
            if _status(held) < 300:
                await asyncio.get_running_loop().run_in_executor(None, self.journal.sync)
                # A table made without a request of ours (CloudFormation) must be in the
                # snapshot, or the replay of its items would find no table.
                if self.journal.entries >= JOURNAL_LIMIT or not self.tables.issuperset(
                        _tables_named(op, body)):
                    await self.compact()
        else:
            await self.app(scope, _replay(body, first, receive), hold)
            if _status(held) < 400:
                self.changes += 1
                await self.checkpoint(dynamodb=kind == "dynamodb")
        for message in held:
            await send(message)

    def classify(self, scope, body):
        headers = _header_dict(scope)
        path = scope["path"]
        if path.startswith("/_ministack") or ministack_app._parse_execute_api_url(
                headers.get("host", ""), path) is not None:
            return "pass", ""
        service = detect_service(scope["method"], path, headers, {})
        op = _operation(headers, body)
        if service == "s3":  # objects are on disk already; bucket settings are state
            return ("pass" if "/" in path.strip("/") else "snapshot"), op
        if service == "lambda" and path.endswith("/invocations"):
            return "pass", op
        if service == "cloudformation":
            # Stacks are provisioned by worker threads: the answer that says a stack is
            # complete leaves only once what it provisioned (tables included) is saved.
            return "dynamodb", op
        if op.startswith(READ_PREFIXES) or op in STATELESS or op in UNSAVED:
            return "pass", op
        if service == "dynamodb":
            return ("journal" if op in JOURNALED else "dynamodb"), op
        return "snapshot", op

    # -- DynamoDB journal

    async def _journal(self, op, headers, body, response):
        request = json.loads(body or b"{}")
        keep = {k: v for k, v in headers.items() if k in ("authorization", "host", "content-type")}
        if op == "PutItem":
            self.journal.append({"h": keep, "op": "PutItem",
                                 "b": {"TableName": request["TableName"], "Item": request["Item"]}})
        elif op == "DeleteItem":
            self.journal.append({"h": keep, "op": "DeleteItem",
                                 "b": {"TableName": request["TableName"], "Key": request["Key"]}})
        elif op == "UpdateItem":
            await self._journal_current(keep, request["TableName"], request["Key"])
        elif op == "BatchWriteItem":
            unprocessed = json.loads(response or b"{}").get("UnprocessedItems") or {}
            for table, writes in request.get("RequestItems", {}).items():
                for write in writes:
                    if write in unprocessed.get(table, []):
                        continue
                    if "PutRequest" in write:
                        self.journal.append({"h": keep, "op": "PutItem", "b": {
                            "TableName": table, "Item": write["PutRequest"]["Item"]}})
                    else:
                        self.journal.append({"h": keep, "op": "DeleteItem", "b": {
                            "TableName": table, "Key": write["DeleteRequest"]["Key"]}})
        else:  # TransactWriteItems: every written key as it is now
            for action in request.get("TransactItems", []):
                for kind in ("Put", "Update", "Delete"):
                    if kind in action:
                        a = action[kind]
                        if kind == "Put":
                            self.journal.append({"h": keep, "op": "PutItem", "b": {
                                "TableName": a["TableName"], "Item": a["Item"]}})
                        else:
                            await self._journal_current(keep, a["TableName"], a["Key"])

    async def _journal_current(self, headers, table, key):
        """Journal the item under `key` as it is after the write (or its absence)."""
        got = await call(self.app, "POST", "/", {
            **headers, "x-amz-target": "DynamoDB_20120810.GetItem",
            "content-type": "application/x-amz-json-1.0"},
            json.dumps({"TableName": table, "Key": key, "ConsistentRead": True}).encode())
        item = json.loads(got[1] or b"{}").get("Item")
        if item is None:
            self.journal.append({"h": headers, "op": "DeleteItem",
                                 "b": {"TableName": table, "Key": key}})
        else:
            self.journal.append({"h": headers, "op": "PutItem",
                                 "b": {"TableName": table, "Item": item}})

    async def replay(self):
        applied = failed = 0
        for entry in self.journal.read():
            status, _ = await call(self.app, "POST", "/", {
                **entry["h"], "x-amz-target": f"DynamoDB_20120810.{entry['op']}",
                "content-type": "application/x-amz-json-1.0"}, json.dumps(entry["b"]).encode())
            applied += 1
            failed += status >= 300  # e.g. the table was deleted later
        return applied, failed

    # -- snapshots

    def _states(self, names=None):
        """{service: state} taken on the event loop, where every handler runs, so each is
        consistent; serialising them happens off the loop."""
        states = {}
        for name, get_state in ministack_app._build_persistence_save_dict().items():
            if names is not None and name not in names:
                continue
            try:
                state = get_state()
            except Exception:  # ministack's save_all skips such a service too
                log.exception("no state from %s", name)
                continue
            if state is not None:
                states[name] = state
        return states

    def _write_changed(self, states):
        for name, state in states.items():
            data = encode_state(name, state)
            digest = hashlib.sha256(data).digest()
            if self.digests.get(name) != digest:
                write_atomic(os.path.join(self.state_dir, f"{name}.json"), data)
                self.digests[name] = digest

    async def compact(self):
        """DynamoDB snapshot, then the journal generations it covers are removed."""
        async with self.lock:
            covered = self.journal.rotate()
            states = self._states({"dynamodb"})
            if "dynamodb" in states:
                self.tables = {key[2] for key, _ in states["dynamodb"]["tables"].all_items()}
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._write_changed, states)
        await loop.run_in_executor(None, self.journal.drop, covered)

    async def checkpoint(self, dynamodb=False):
        """Save every changed service except DynamoDB (journaled) unless asked."""
        if dynamodb:
            await self.compact()
        states = self._states()
        states.pop("dynamodb", None)
        await asyncio.get_running_loop().run_in_executor(None, self._write_changed, states)

    async def _background(self):
        while True:
            await asyncio.sleep(CHECKPOINT_SECONDS)
            try:
                await self.checkpoint(dynamodb=self.journal.entries > 0 or self.changes > 0)
                self.changes = 0
            except Exception:
                log.exception("background checkpoint failed")

    def _lifespan_send(self, send):
        async def wrapped(message):
            if message["type"] == "lifespan.startup.complete":
                for stale in glob.glob(os.path.join(self.state_dir, "*.durable-tmp")):
                    os.remove(stale)  # a save killed half-way; the previous file stands
                applied, failed = await self.replay()
                await self.compact()
                log.info("durable state: %d journal entries replayed (%d refused)",
                         applied, failed)
                self.task = asyncio.create_task(self._background())
            elif message["type"] == "lifespan.shutdown.complete":
                # ministack's save_all has just run (no fsync); make it final.
                if self.task is not None:
                    self.task.cancel()
                await self.checkpoint(dynamodb=True)
            await send(message)
        return wrapped


def _replay(body, first, receive):
    """A `receive` that hands the buffered body to the app, then the rest of the stream."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]
    if first is not None:
        pending.append(first)

    async def again():
        return pending.pop(0) if pending else await receive()
    return again


def _tables_named(op, body):
    request = json.loads(body or b"{}")
    if op == "BatchWriteItem":
        return set(request.get("RequestItems", {}))
    if op == "TransactWriteItems":
        return {a[k]["TableName"] for a in request.get("TransactItems", []) for k in a
                if isinstance(a[k], dict) and "TableName" in a[k]}
    return {request.get("TableName")}


def _status(held):
    return next((m["status"] for m in held if m["type"] == "http.response.start"), 500)


def _response(held):
    return b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")


def main():
    state_dir = persistence.STATE_DIR
    if not persistence.PERSIST_STATE:
        raise SystemExit("ministack_durable needs PERSIST_STATE=1 and STATE_DIR")
    os.makedirs(state_dir, exist_ok=True)
    # ministack's main() serves the module global `app` (hypercorn config, port checks,
    # PID file); pointing that global at the wrapper keeps all of it.
    ministack_app.app = Durable(ministack_app.app, state_dir)
    ministack_app.main()


if __name__ == "__main__":
    main()
