"""Import speed: rows/s of the import path (S3 read + parse + validate + write a data version)
next to a bare `csv.reader` pass over the same file, in the same run; peak RSS of each; and,
with --deployed, a large import through the deployed workflow and its Map parallelism.

    .venv/bin/python bench/import_speed.py [--rows 10000000] [--repeat 3] [--deployed]

The file is the sample generator's interactions CSV (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE,
EVENT_VALUE). Each measurement runs in its own child process, csv.reader and import
alternating, so each has its own peak RSS (VmHWM, reset after the set-up) and neither warms
the other's caches; CPU seconds are the figure to compare on a shared machine (medians of
--repeat). "import" is `importer.import_location` against moto's S3 in the child: reading the
object in chunks, the columnar parse with its csv fallback, validation, the dictionary codes
and the .npz parts written through boto3 - what one `import.parse` or `import.parse_range`
invocation does.

--deployed starts its own ministack on a free port of 127.0.0.1 (state in a temporary folder),
deploys the stack as the e2e fixtures do, imports a USER_ID,ITEM_ID,TIMESTAMP file of --rows
rows through CreateDatasetImportJob, and prints the import execution's Map: the number of byte
ranges, each range's time and rows as the range task measured it, their overlap in the
execution history, and the merge.
"""
import argparse
import csv
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
       "DATA_BUCKET": "personalize-data", "INTERNAL_BUCKET": "personalize-internal"}
ARN = "arn:aws:personalize:us-east-1:000000000000:dataset/bench/INTERACTIONS"
REGION = "us-east-1"


def peak_reset():
    """Reset the peak RSS (VmHWM) to the current RSS (Linux: clear_refs 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(kind, path, schema_path):
    """One measurement in this process; prints its JSON."""
    os.environ.update(ENV)
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        del os.environ[name]
    if kind == "csv":
        def run():
            with open(path, newline="") as f:
                n = -1  # header
                for _ in csv.reader(f):
                    n += 1
            return n
        peak_reset()
        base = peak_mb()
        cpu, wall = time.process_time(), time.perf_counter()
        rows = run()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(json.dumps({"rows": rows, "cpu": cpu, "wall": wall, "peak_mb": peak_mb(),
                          "base_mb": base}))
        return
    from moto import mock_aws
    import boto3
    from chalicelib.datasets import importer, objects, schema
    from chalicelib.storage import reset_clients
    with open(schema_path) as f:
        sch = schema.parse(f.read(), "Interactions")
    if kind == "parse":
        # The importer's own work: the local file's bytes, the .npz parts built and dropped.
        def local_bytes(bucket, key, chunk_bytes=objects.CHUNK_BYTES):
            with open(path, "rb") as f:
                while True:
                    block = f.read(chunk_bytes)
                    if not block:
                        return
                    yield block
        objects.iter_bytes = local_bytes
        objects.put_bytes = lambda *a, **k: None
        objects.head = lambda bucket, key: os.path.getsize(path)
        return timed_import(importer, sch)
    with mock_aws():
        reset_clients()
        s3 = boto3.client("s3")
        for bucket in ("src", ENV["DATA_BUCKET"], ENV["INTERNAL_BUCKET"]):
            s3.create_bucket(Bucket=bucket)
        s3.upload_file(path, "src", "interactions.csv")
        timed_import(importer, sch)


def timed_import(importer, sch):
    """One `import_location` of the bench's object: prints CPU, wall and peak RSS."""
    gc.collect()
    peak_reset()
    base = peak_mb()
    cpu, wall = time.process_time(), time.perf_counter()
    result = importer.import_location("s3://src/interactions.csv", ARN, sch)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(json.dumps({"rows": result.rows, "cpu": cpu, "wall": wall, "peak_mb": peak_mb(),
                      "base_mb": base, "parts": len(result.manifest["parts"])}))


def measure(kind, path, schema_path):
    out = subprocess.run([sys.executable, __file__, "--child", kind, path, schema_path],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def in_process(args):
    from chalicelib.datasets import sample
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        paths = sample.generate(tmp, seed=0, n_users=max(610, args.rows // 160),
                                n_items=max(9724, args.rows // 20), n_interactions=args.rows)
        generated = time.perf_counter() - start
        size = os.path.getsize(paths["interactions"])
        runs = {"csv": [], "parse": [], "import": []}
        for _ in range(args.repeat):
            for kind in runs:
                runs[kind].append(measure(kind, paths["interactions"], paths["interactions.schema"]))
    for kind, found in runs.items():
        assert all(r["rows"] == args.rows for r in found), (kind, found)
    med = {k: {f: statistics.median(r[f] for r in v) for f in ("cpu", "wall", "peak_mb", "base_mb")}
           for k, v in runs.items()}
    ratio = [i["cpu"] / c["cpu"] for c, i in zip(runs["csv"], runs["import"])]
    ratio_parse = [i["cpu"] / c["cpu"] for c, i in zip(runs["csv"], runs["parse"])]
    print(f"# import speed: {args.rows:,} rows, {size / 1e6:.1f} MB CSV (generated in "
          f"{generated:.1f} s), medians of {args.repeat} alternating child processes, "
          f"Python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f}")
    print()
    print("| path | rows | CPU s | rows/s (CPU) | CPU x csv.reader | wall s | peak RSS MB "
          "(above start) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    labels = {"csv": "bare csv.reader pass (local file)",
              "parse": "importer without S3: local file, parse + validate + codes + .npz parts "
                       "built, not stored",
              "import": f"import: S3 read + parse + validate + write "
                        f"({runs['import'][0]['parts']} .npz parts, moto S3)"}
    for kind in runs:
        m = med[kind]
        print(f"| {labels[kind]} | {args.rows:,} | {m['cpu']:.2f} | {args.rows / m['cpu']:,.0f} | "
              f"{m['cpu'] / med['csv']['cpu']:.2f} | {m['wall']:.2f} | {m['peak_mb']:.0f} "
              f"({m['peak_mb'] - m['base_mb']:.0f}) |")
    print()
    print(f"import / csv.reader CPU per pair: {', '.join(f'{r:.2f}' for r in ratio)}; "
          f"import speed = {1 / statistics.median(ratio):.2f}x a bare csv.reader pass; "
          f"without S3 {1 / statistics.median(ratio_parse):.2f}x")
    print(json.dumps({"rows": args.rows, "mb": round(size / 1e6, 1),
                      "csv_reader_rows_per_s": round(args.rows / med["csv"]["cpu"]),
                      "import_rows_per_s": round(args.rows / med["import"]["cpu"]),
                      "import_over_csv_reader": round(statistics.median(ratio), 2),
                      "no_s3_over_csv_reader": round(statistics.median(ratio_parse), 2),
                      "import_peak_rss_mb": round(med["import"]["peak_mb"]),
                      "import_peak_above_start_mb": round(med["import"]["peak_mb"]
                                                          - med["import"]["base_mb"])}))


def interactions_body(rows, seed=0):
    """USER_ID,ITEM_ID,TIMESTAMP rows (the e2e flows' schema), seeded."""
    import numpy as np
    rng = np.random.default_rng(seed)
    users = rng.integers(1, max(2, rows // 160), rows)
    items = rng.integers(1, max(2, rows // 20), rows)
    stamps = 1_500_000_000 + np.sort(rng.integers(0, 10 ** 8, rows))
    lines = np.char.add(np.char.add(np.char.add(users.astype(str), ","),
                                    np.char.add(items.astype(str), ",")), stamps.astype(str))
    return ("USER_ID,ITEM_ID,TIMESTAMP\n" + "\n".join(lines.tolist()) + "\n").encode()


def map_timeline(sfn, execution_arn):
    """(seconds the ParseRanges Map ran, most range tasks running at once), from the execution
    history: between the Map's entered and exited events every task is a range's."""
    events, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000,
                                         **({"nextToken": token} if token else {}))
        events.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            break
    inside, began, ended, running, most = False, None, None, 0, 0
    for e in events:
        name = ((e.get("stateEnteredEventDetails") or e.get("stateExitedEventDetails") or {})
                .get("name"))
        if name == "ParseRanges":
            inside = e["type"].endswith("Entered")
            began, ended = (e["timestamp"], ended) if inside else (began, e["timestamp"])
        elif inside and e["type"] == "TaskScheduled":
            running += 1
            most = max(most, running)
        elif inside and e["type"] in ("TaskSucceeded", "TaskFailed", "TaskTimedOut"):
            running -= 1
    if began is None or ended is None:
        return None, None
    return (ended - began).total_seconds(), most


def deployed(args):
    from scripts import access, emulator, package, stack as stack_cli
    from tests.e2e import flows
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    from training_under_load import Stack

    t0 = time.monotonic()
    body = interactions_body(args.rows)
    print(f"\n# deployed import: {args.rows:,} rows, {len(body) / 1e6:.0f} MB "
          f"({time.monotonic() - t0:.0f}s to generate)", flush=True)
    home = tempfile.mkdtemp(prefix="bench-import-")
    models = os.path.join(ROOT, "build", "models")
    emu = emulator.start(home, region=REGION, persist=False)
    try:
        source = package.snapshot(os.path.join(home, "source"))
        record, _ = stack_cli.deploy_to_emulator(
            emu, stack_name="personalize-bench-import", region=REGION,
            record_path=os.path.join(home, "stack.json"), build_dir=os.path.join(home, "build"),
            root=source, progress=lambda m: None)
        keys = access.ensure_root(record["outputs"], emu.endpoint, REGION)
        stack = Stack(emu, record, keys, models)
        personalize = stack.client("personalize")
        print(f"deployed on port {emu.port}", flush=True)
        started = time.monotonic()
        _, dataset = flows.import_interactions(stack, personalize, body, prefix="bench",
                                               timeout=args.timeout)
        seconds = time.monotonic() - started
        sfn = stack.client("stepfunctions")
        machine = [m for m in sfn.list_state_machines()["stateMachines"]
                   if m["name"].endswith("-import")][0]["stateMachineArn"]
        execution = sfn.list_executions(stateMachineArn=machine)["executions"][0]
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        output = json.loads(described["output"])
        parsed, planned = output["parse"], output["plan"]
        map_wall, most = map_timeline(sfn, execution["executionArn"])
    finally:
        emulator.stop(home)
    print(f"ACTIVE in {seconds:.1f} s (CreateDatasetImportJob to ACTIVE, upload excluded); "
          f"Map path: {planned.get('ranged')}, ranges: {parsed.get('ranges')}, "
          f"MaxConcurrency {parsed.get('maxConcurrency')}, rows {parsed.get('rows'):,}")
    print()
    print("| range | bytes | rows | task s (measured in the task) |")
    print("|---:|---:|---:|---:|")
    results = output.get("rangeResults") or []
    for i, (file, start, end) in enumerate(planned["ranges"]):
        r = results[i] if i < len(results) else {}
        print(f"| {i} | {end - start:,} | {r.get('rows', 0):,} | {r.get('seconds', 0):.1f} |")
    busy = sum(r.get("seconds", 0) for r in results)
    if map_wall:
        print(f"\nrange tasks: {busy:.1f} s of work in the Map's {map_wall:.1f} s (execution "
              f"history): parallelism {busy / map_wall:.2f}, at most {most} ranges at once")
    print(json.dumps({"deployed_rows": args.rows, "seconds": round(seconds, 1),
                      "ranges": parsed.get("ranges"), "rangeSeconds": parsed.get("rangeSeconds"),
                      "mapWall": map_wall, "mostAtOnce": most}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--deployed", action="store_true")
    parser.add_argument("--deployed-only", action="store_true")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--child", nargs=3, metavar=("KIND", "CSV", "SCHEMA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    if not args.deployed_only:
        in_process(args)
    if args.deployed or args.deployed_only:
        deployed(args)


if __name__ == "__main__":
    main()
