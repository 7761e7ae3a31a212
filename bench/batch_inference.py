"""Batch inference throughput (users per second) beside the single-request GetRecommendations
path, in one run, in process (moto for DynamoDB and S3, the batch-inference state machine run by
tests/support/stepfunctions.py).

    .venv/bin/python bench/batch_inference.py [--users 20000] [--items 2000] [--recipe aws-hrnn]
        [--single 2000] [--chunk-lines 5000]

Data and model as bench/runtime_latency.py builds them (synthetic users, a short fit on a
sample of users, the campaign's loaded model holding every user's history). Rows:

- single   GetRecommendations through the whole handler (wire parse, campaign lookup, the
           user's recorded events in DynamoDB, the model, serialization) for `--single` users
           one after the other: users per second = requests per second;
- batch    CreateBatchInferenceJob over a JSON Lines file of all `--users` users, from the
           create call until the job is ACTIVE (split, every chunk scored, parts merged into
           the .out object): users per second of the whole job, and of the chunks' scoring.

The in-process runner runs the Map's iterations one after the other (MaxConcurrency changes
nothing here), so the batch row is one container's throughput; on Step Functions the chunks run
up to MaxConcurrency at a time. numResults is 25 in both paths.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.runtime_latency import (ENV, fit, publish_model, served_with_all_histories,  # noqa: E402
                                   synthetic)

BUCKET = "personalize-data"
ROLE = "arn:aws:iam::000000000000:role/bench"


def setup_campaign(name, model):
    """Today's shape in process: group, CreateSolution + CreateSolutionVersion (the training
    execution is only recorded; the bench's model is registered as its result), campaign."""
    from chalicelib.workflows import starter
    from tests.conftest import make_client
    client = make_client("personalize", shipped_models=False, threaded=True)
    real = starter.start_workflow
    starter.start_workflow = lambda wf, payload, execution_name=None: (
        "recorded" if wf == "training" else real(wf, payload, execution_name))
    schema = json.dumps({"type": "record", "name": "Interactions",
                         "namespace": "com.amazonaws.personalize.schema",
                         "fields": [{"name": "USER_ID", "type": "string"},
                                    {"name": "ITEM_ID", "type": "string"},
                                    {"name": "TIMESTAMP", "type": "long"}], "version": "1.0"})
    group = client.create_dataset_group(name="bench")["datasetGroupArn"]
    schema_arn = client.create_schema(name="bench", schema=schema)["schemaArn"]
    client.create_dataset(name="bench", datasetGroupArn=group, datasetType="Interactions",
                          schemaArn=schema_arn)
    solution = client.create_solution(name="bench", datasetGroupArn=group,
                                      recipeArn=f"arn:aws:personalize:::recipe/{name}")["solutionArn"]
    version = client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    key = publish_model(version, model, f"s3://{BUCKET}/models/bench/model.tar.gz")
    campaign = client.create_campaign(name="bench", solutionVersionArn=version)["campaignArn"]
    status = client.describe_campaign(campaignArn=campaign)["campaign"]
    assert status["status"] == "ACTIVE", status
    return client, group, version, campaign, key


def run(args):
    from chalicelib.protocol import http
    from tests.support import stepfunctions
    data = synthetic(args.users, args.items, args.per_user)
    print(f"# {args.users:,} users, {args.items:,} items, {len(data.interactions):,} interactions; "
          f"{args.recipe}; numResults 25; chunks of {args.chunk_lines} lines")
    model, fit_s = fit(args.recipe, data, args.train_users)
    client, group, version, campaign, key = setup_campaign(args.recipe, model)
    served_with_all_histories(version, key, group, data)   # the container's cache entry

    rng = np.random.default_rng(1)
    sample = [f"user{u}" for u in rng.integers(0, args.users, args.single)]

    def call(user):
        body = json.dumps({"campaignArn": campaign, "userId": user, "numResults": 25}).encode()
        from tests.support import access
        headers = access.sign("POST", "https://bench.in-process/recommendations", body,
                              {"Content-Type": "application/json"})   # as boto3 signs
        resp = http.dispatch("personalize-runtime", "POST", "/recommendations", headers, {}, body)
        assert resp.status_code == 200, resp.body
        return json.loads(resp.body)
    first = call(sample[0])   # warm
    t = time.perf_counter()
    for user in sample:
        call(user)
    single_s = time.perf_counter() - t

    import boto3
    s3 = boto3.client("s3", region_name="us-east-1")
    lines = "".join(json.dumps({"userId": f"user{u}"}) + "\n" for u in range(args.users))
    s3.put_object(Bucket=BUCKET, Key="bench/users.json", Body=lines.encode())
    os.environ["BATCH_CHUNK_LINES"] = str(args.chunk_lines)
    t = time.perf_counter()
    arn = client.create_batch_inference_job(
        jobName="bench", solutionVersionArn=version, roleArn=ROLE, numResults=25,
        jobInput={"s3DataSource": {"path": f"s3://{BUCKET}/bench/users.json"}},
        jobOutput={"s3DataDestination": {"path": f"s3://{BUCKET}/bench/out/"}})["batchInferenceJobArn"]
    job = client.describe_batch_inference_job(batchInferenceJobArn=arn)["batchInferenceJob"]
    batch_s = time.perf_counter() - t
    assert job["status"] == "ACTIVE", job.get("failureReason")
    [execution] = [e for e in stepfunctions.executions("batch-inference") if e.input["jobArn"] == arn]
    chunks = sum(1 for e in execution.history
                 if e["type"] == "StateEntered" and e["name"] == "ScoreChunk")
    out = s3.get_object(Bucket=BUCKET, Key="bench/out/users.json.out")["Body"].read().decode().splitlines()
    assert len(out) == args.users, len(out)
    # the same answer as the single request, for the warm-up user
    line = json.loads(out[int(sample[0][4:])])
    assert line["output"]["recommendedItems"] == [i["itemId"] for i in first["itemList"]]

    print()
    print(f"{'path':8} {'users':>8} {'seconds':>9} {'users/s':>9} {'x single':>9}")
    single_rate = len(sample) / single_s
    print(f"{'single':8} {len(sample):8,} {single_s:9.2f} {single_rate:9.0f} {1.0:9.1f}")
    rate = args.users / batch_s
    print(f"{'batch':8} {args.users:8,} {batch_s:9.2f} {rate:9.0f} {rate / single_rate:9.1f}")
    print(f"\n# batch job: {chunks} chunks, {len(out):,} output lines; fit {fit_s:.1f}s (not counted)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--items", type=int, default=2_000)
    ap.add_argument("--per-user", type=int, default=10)
    ap.add_argument("--train-users", type=int, default=5_000)
    ap.add_argument("--single", type=int, default=2_000)
    ap.add_argument("--chunk-lines", type=int, default=5_000)
    ap.add_argument("--recipe", default="aws-hrnn")
    args = ap.parse_args(argv)
    os.environ.update(ENV)
    import pytest
    from moto import mock_aws
    with mock_aws(), pytest.MonkeyPatch.context() as mp:
        from tests.support import stepfunctions
        stepfunctions.install(mp)  # the deployed ASL files run in process
        import boto3
        from chalicelib.storage.tables import ensure_tables
        ensure_tables(boto3.client("dynamodb", region_name="us-east-1"))
        from tests.support import access
        access.seed_root(mp)  # the API is closed: a root principal for the test credentials
        for bucket in (BUCKET, ENV["INTERNAL_BUCKET"]):
            boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=bucket)
        run(args)


if __name__ == "__main__":
    main()
