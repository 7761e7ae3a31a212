"""Import speed: rows/s of the import path (parse + validate + write a data
version) next to a bare `csv.reader` pass over the same file, in one process.

    .venv/bin/python bench/import_speed.py [--rows 1000000] [--repeat 3]

The file is the sample generator's interactions CSV (USER_ID, ITEM_ID,
TIMESTAMP, EVENT_TYPE, EVENT_VALUE). S3 is moto in process, so "import"
includes reading the object in chunks and writing the .npz parts through
boto3, as the `import.parse` task does. Best of `--repeat` runs.
"""
import argparse
import csv
import gc
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
       "DATA_BUCKET": "personalize-data",
       "INTERNAL_BUCKET": "personalize-internal"}
ARN = "arn:aws:personalize:us-east-1:000000000000:dataset/bench/INTERACTIONS"


def best(fn, repeat):
    """(best CPU seconds, best wall seconds, result). CPU time is the figure to
    compare: the machine may be shared, and every path runs in this process
    (moto's S3 included)."""
    cpu, wall, result = [], [], None
    for _ in range(repeat):
        gc.collect()
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        result = fn()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return min(cpu), min(wall), result


def bare_csv(path):
    with open(path, newline="") as f:
        n = -1  # header
        for _ in csv.reader(f):
            n += 1
    return n


def parse_validate(path, schema):
    """Parse + validate from the local file, no S3 and no write (the CPU part)."""
    from chalicelib.datasets import cells
    from chalicelib.datasets.csv_stream import RowBatches
    from chalicelib.datasets.importer import BATCH_ROWS

    def chunks():
        with open(path, "rb") as f:
            while True:
                block = f.read(1 << 20)
                if not block:
                    return
                yield block
    stream = RowBatches(chunks())
    header = stream.header()
    specs = [(i, schema.field(name)) for i, name in enumerate(header)]
    rows = 0
    gc.disable()
    try:
        for batch in stream.batches(BATCH_ROWS):
            cols = list(zip(*batch.rows))
            for index, spec in specs:
                cells.convert(cols[index], spec)
            rows += len(batch.rows)
    finally:
        gc.enable()
    return rows


def traced_peak(fn):
    """Peak bytes allocated while `fn` runs (tracemalloc; a separate, slower run)."""
    import tracemalloc
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(ENV)
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        del os.environ[name]

    from moto import mock_aws
    import boto3
    from chalicelib.datasets import importer, sample, schema, versions
    from chalicelib.storage import reset_clients

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        paths = sample.generate(tmp, seed=0, n_users=max(610, args.rows // 160),
                                n_items=max(9724, args.rows // 20), n_interactions=args.rows)
        generated = time.perf_counter() - start
        size = os.path.getsize(paths["interactions"])
        with open(paths["interactions.schema"]) as f:
            sch = schema.parse(f.read(), "Interactions")

        peak = traced_peak(lambda: parse_validate(paths["interactions"], sch))
        t_csv, w_csv, n_csv = best(lambda: bare_csv(paths["interactions"]), args.repeat)
        t_pv, w_pv, n_pv = best(lambda: parse_validate(paths["interactions"], sch), args.repeat)
        with mock_aws():
            reset_clients()
            s3 = boto3.client("s3")
            s3.create_bucket(Bucket="src")
            s3.create_bucket(Bucket=ENV["DATA_BUCKET"])
            s3.create_bucket(Bucket=ENV["INTERNAL_BUCKET"])
            s3.upload_file(paths["interactions"], "src", "interactions.csv")

            def full():
                result = importer.import_location("s3://src/interactions.csv", ARN, sch)
                versions.delete_version(ARN, result.version_id)
                return result
            t_imp, w_imp, result = best(full, args.repeat)
            parts = len(result.manifest["parts"])
            reset_clients()

    assert n_csv == n_pv == result.rows == args.rows, (n_csv, n_pv, result.rows)
    print(f"# import speed: {args.rows:,} rows, {size / 1e6:.1f} MB CSV "
          f"(generated in {generated:.1f} s), best of {args.repeat}, Python {sys.version.split()[0]}")
    print()
    print("| path | rows | CPU s | rows/s (CPU) | x csv.reader | wall s |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, t, w in (("bare csv.reader pass (local file)", t_csv, w_csv),
                        ("parse + validate (local file, no write)", t_pv, w_pv),
                        (f"import: S3 read + parse + validate + write ({parts} .npz parts, "
                         "moto S3)", t_imp, w_imp)):
        print(f"| {label} | {args.rows:,} | {t:.2f} | {args.rows / t:,.0f} | {t / t_csv:.2f} "
              f"| {w:.2f} |")
    print()
    print(f"Peak memory of parse + validate (tracemalloc): {peak / 1e6:.1f} MB for a "
          f"{size / 1e6:.1f} MB file (bounded by the batch, not the file).")
    print()
    print(json.dumps({"rows": args.rows, "parse_validate_peak_mb": round(peak / 1e6, 1), "csv_reader_rows_per_s": round(args.rows / t_csv),
                      "parse_validate_rows_per_s": round(args.rows / t_pv),
                      "import_rows_per_s": round(args.rows / t_imp),
                      "import_over_csv_reader": round(t_imp / t_csv, 2)}))


if __name__ == "__main__":
    main()
