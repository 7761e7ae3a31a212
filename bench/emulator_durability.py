"""What durability costs on the embedded emulator (issue 16, item 3): a write-heavy run on
ministack saving at shutdown only (`python -m ministack`, the old mode) and on the durable
launcher (scripts/ministack_durable.py: journal + atomic snapshots), in the same run.

    .venv/bin/python bench/emulator_durability.py [--events 10000] [--creates 100]

Each mode gets a fresh emulator in a temporary folder with persistence on and the stack
deployed as `make up` deploys it. Rows:

- events   `--events` PutEvents-shaped DynamoDB writes, one after the other: a BatchWriteItem
           of an event item and its session marker into a table keyed like the events table
           (datasetArn, eventKey; a user index), as chalicelib/storage/events.py writes them;
- creates  `--creates` CreateDatasetGroup calls through the deployed API (API Gateway, the
           Lambda, its DynamoDB transaction);

with the median and 95th percentile of a call, the whole row's wall time, and the ratio
durable / shutdown of the medians. Then each emulator is SIGKILLed and restarted on its folder:
the last column counts the acknowledged writes that are gone.
"""
import argparse
import os
import signal
import statistics
import sys
import tempfile
import time

import boto3
from botocore.exceptions import BotoCoreError, ClientError

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scripts import access, emulator, package
from scripts import stack as stack_cli

REGION = "us-east-1"
TABLE = "bench-events"


def _clients(emu, keys, endpoint):
    kw = {"region_name": REGION}
    ddb = boto3.client("dynamodb", endpoint_url=emu.endpoint, aws_access_key_id="test",
                       aws_secret_access_key="test", **kw)
    personalize = boto3.client("personalize", endpoint_url=endpoint, aws_access_key_id=keys[0],
                               aws_secret_access_key=keys[1], **kw)
    return ddb, personalize


def _timed(calls):
    seconds = []
    t0 = time.perf_counter()
    for call in calls:
        t = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - t)
    return seconds, time.perf_counter() - t0


def _event(i):
    arn = "arn:aws:personalize:us-east-1:000000000000:dataset/bench/INTERACTIONS"
    return {TABLE: [
        {"PutRequest": {"Item": {
            "datasetArn": {"S": arn}, "eventKey": {"S": f"e#{1700000000 + i:012d}#{i:08d}"},
            "userKey": {"S": f"{arn}#u{i % 500}"}, "itemId": {"S": f"item-{i % 2000}"},
            "eventType": {"S": "click"}, "sentAt": {"N": str(1700000000 + i)},
            "sessionId": {"S": f"s{i % 700}"}}}},
        {"PutRequest": {"Item": {
            "datasetArn": {"S": arn}, "eventKey": {"S": f"~su#s{i % 700}"},
            "userId": {"S": f"u{i % 500}"}}}}]}


def run(mode, events, creates, progress):
    home = tempfile.mkdtemp(prefix=f"durability-{mode}-")
    emu = emulator.start(home, region=REGION, durable=mode == "durable")
    try:
        record, _ = stack_cli.deploy_to_emulator(
            emu, stack_name="personalize-bench", region=REGION,
            record_path=os.path.join(home, "stack.json"), build_dir=os.path.join(home, "build"),
            root=package.snapshot(os.path.join(home, "source")), progress=lambda m: None)
        keys = access.ensure_root(record["outputs"], emu.endpoint, REGION)
        ddb, personalize = _clients(emu, keys, record["personalize_endpoint"])
        ddb.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "datasetArn", "KeyType": "HASH"},
                       {"AttributeName": "eventKey", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"}
                                  for a in ("datasetArn", "eventKey", "userKey")],
            GlobalSecondaryIndexes=[{"IndexName": "user", "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": "userKey",
                                                    "KeyType": "HASH"}]}])
        progress(f"{mode}: {events} events")
        rows = {"events": _timed(
            (lambda i=i: ddb.batch_write_item(RequestItems=_event(i))) for i in range(events))}
        progress(f"{mode}: {creates} creates")
        arns = []
        rows["creates"] = _timed(
            (lambda i=i: arns.append(personalize.create_dataset_group(
                name=f"bench-{i}")["datasetGroupArn"])) for i in range(creates))
        # The crash: the whole process group, no shutdown.
        os.killpg(emu.pid, signal.SIGKILL)
        os.waitpid(emu.pid, 0)
        emu = emulator.start(home, port=emu.port, region=REGION, durable=mode == "durable")
        ddb, personalize = _clients(emu, keys, record["personalize_endpoint"])
        lost = {"events": events - _count_events(ddb), "creates": creates - _count_groups(
            personalize, arns)}
        return rows, lost
    finally:
        emulator.stop(home)


def _count_events(ddb):
    try:
        return sum(1 for page in ddb.get_paginator("scan").paginate(TableName=TABLE)
                   for item in page["Items"] if item["eventKey"]["S"].startswith("e#"))
    except ddb.exceptions.ResourceNotFoundException:
        return 0


def _count_groups(personalize, arns):
    try:
        found = {g["datasetGroupArn"] for page in personalize.get_paginator(
            "list_dataset_groups").paginate() for g in page["datasetGroups"]}
    except (ClientError, BotoCoreError):  # the API itself is gone (plain mode loses the deployment)
        return 0
    return len(found & set(arns))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--creates", type=int, default=100)
    args = parser.parse_args(argv)
    results = {mode: run(mode, args.events, args.creates, lambda m: print(m, file=sys.stderr))
               for mode in ("shutdown", "durable")}
    print(f"{'row':8} {'mode':9} {'calls':>6} {'median ms':>10} {'p95 ms':>8} {'total s':>8} "
          f"{'x median':>9} {'lost on SIGKILL':>16}")
    for row in ("events", "creates"):
        base = statistics.median(results["shutdown"][0][row][0])
        for mode, (rows, lost) in results.items():
            seconds, total = rows[row]
            median = statistics.median(seconds)
            p95 = sorted(seconds)[int(0.95 * (len(seconds) - 1))]
            print(f"{row:8} {mode:9} {len(seconds):6d} {median * 1e3:10.2f} {p95 * 1e3:8.2f} "
                  f"{total:8.1f} {median / base:9.2f} {lost[row]:16d}")


if __name__ == "__main__":
    main()
