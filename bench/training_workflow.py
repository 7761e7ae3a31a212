"""Training through the whole workflow on MovieLens ml-latest-small (seed: Getting Started).

    .venv/bin/python bench/training_workflow.py [--data ratings.csv] [--recipes aws-popularity-count aws-sims]
        [--hpo-jobs N] [--update [--update-share 0.1]]

In process, as the tests run it: boto3 clients wired to the Chalice app, DynamoDB and S3 under
moto, tests/support/stepfunctions.py (the deployed ASL files run in process, the trainer Lambda's code runs
the SageMaker entry point over an /opt/ml-shaped folder). It imports the ratings as the Getting
Started chapter prepares them (rating column dropped, header USER_ID,ITEM_ID,TIMESTAMP), creates
one solution per recipe (performHPO false unless --hpo-jobs > 1), and prints, per recipe, the
version's status, the held-out metrics GetMetrics returns and the wall time of each stage. One
training seed per version (from its id), so figures vary from run to run by the split.

With --update (today's trainingMode UPDATE, for recipes of UPDATABLE_RECIPES; default recipe
aws-user-personalization): the first import holds the ratings before the newest
`--update-share` of them (by timestamp), a FULL version trains on it, the newest ratings
arrive by an INCREMENTAL import (new items among them), then an UPDATE version (warm start
from the FULL one, `chalicelib/algorithms/warm_start.py`) and, for comparison, a FULL version
train on all of it. Each row then also shows the warm start's epochs and new items.

Too slow for the test suite (the SIMS fit alone takes about a minute here), hence a bench.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

RATINGS = os.path.join(os.path.dirname(ROOT), "shared", "datasets", "ml-latest-small", "ratings.csv")
ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_REGION": "us-east-1", "RESOURCES_TABLE": "personalize-resources",
       "EVENTS_TABLE": "personalize-events", "DATA_BUCKET": "personalize-data",
       "INTERNAL_BUCKET": "personalize-internal"}
SHOWN = ("precision_at_25", "normalized_discounted_cumulative_gain_at_10", "mean_reciprocal_rank_at_25",
         "coverage", "_num_evaluation_users")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=RATINGS)
    ap.add_argument("--recipes", nargs="+", default=["aws-popularity-count", "aws-sims"])
    ap.add_argument("--hpo-jobs", type=int, default=0, help="maxNumberOfTrainingJobs (HPO when > 1)")
    ap.add_argument("--update", action="store_true",
                    help="FULL on older ratings, INCREMENTAL import of the newest, UPDATE vs FULL")
    ap.add_argument("--update-share", type=float, default=0.1, help="share of newest ratings for --update")
    args = ap.parse_args(argv)
    if args.update and args.recipes == ap.get_default("recipes"):
        args.recipes = ["aws-user-personalization"]
    os.environ.update(ENV)
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        del os.environ[name]

    import pytest
    from moto import mock_aws
    with mock_aws(), pytest.MonkeyPatch.context() as mp:
        from tests.support import stepfunctions
        stepfunctions.install(mp)
        import boto3
        from chalicelib.datasets.movielens import getting_started_csv
        from chalicelib.storage.tables import ensure_tables
        from tests.conftest import make_client
        ensure_tables(boto3.client("dynamodb", region_name="us-east-1"))
        from tests.support import access
        access.seed_root(mp)  # the API is closed: a root principal for the test credentials
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=ENV["DATA_BUCKET"])
        s3.create_bucket(Bucket=ENV["INTERNAL_BUCKET"])
        s3.create_bucket(Bucket="bench-input")
        personalize = make_client("personalize")

        t0 = time.perf_counter()
        body, newest = getting_started_csv(args.data), None
        if args.update:
            body, newest = split_newest(body, args.update_share)
            s3.put_object(Bucket="bench-input", Key="newest.csv", Body=newest)
        s3.put_object(Bucket="bench-input", Key="ratings.csv", Body=body)
        group = personalize.create_dataset_group(name="movies")["datasetGroupArn"]
        schema = personalize.create_schema(name="movies", schema=(
            '{"type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",'
            ' "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},'
            ' {"name": "TIMESTAMP", "type": "long"}], "version": "1.0"}'))["schemaArn"]
        dataset = personalize.create_dataset(datasetGroupArn=group, schemaArn=schema, name="movies",
                                             datasetType="Interactions")["datasetArn"]
        personalize.create_dataset_import_job(jobName="ratings", datasetArn=dataset,
                                              dataSource={"dataLocation": "s3://bench-input/ratings.csv"},
                                              roleArn="arn:aws:iam::000000000000:role/bench")
        print(f"{args.data}: imported in {time.perf_counter() - t0:.1f}s")

        def row(label, arn, version_arn, wall):
            detail = personalize.describe_solution_version(solutionVersionArn=version_arn)["solutionVersion"]
            metrics, warm = {}, {}
            if detail["status"] == "ACTIVE":
                (metrics,) = personalize.get_metrics(solutionArn=arn, solutionVersionArn=version_arn)["metrics"].values()
                from chalicelib.service import solution_versions
                from chalicelib.training import artifacts
                report = artifacts.training_outcome(solution_versions.get(version_arn)["modelKey"])["report"]
                warm = dict(report.get("warmStart") or {}, mode=report.get("trainingMode"))
            return (label, detail["status"], wall, detail.get("trainingHours", 0) * 3600, metrics,
                    detail.get("failureReason", ""), warm)

        rows = []
        for recipe in args.recipes:
            config = {}
            if args.hpo_jobs > 1:
                config = {"hpoConfig": {"hpoResourceConfig": {"maxNumberOfTrainingJobs": str(args.hpo_jobs),
                                                              "maxParallelTrainingJobs": "2"}}}
            t0 = time.perf_counter()
            arn = personalize.create_solution(name=recipe, datasetGroupArn=group, minProvisionedTPS=1,
                                              recipeArn=f"arn:aws:personalize:::recipe/{recipe}",
                                              performHPO=args.hpo_jobs > 1, solutionConfig=config)["solutionArn"]
            wall = time.perf_counter() - t0
            version = personalize.describe_solution(solutionArn=arn)["solution"]["latestSolutionVersion"]
            metrics = {}
            if version["status"] == "ACTIVE":
                (metrics,) = personalize.get_metrics(solutionArn=arn)["metrics"].values()
            rows.append(row(recipe, arn, version["solutionVersionArn"], wall))
            if not args.update or version["status"] != "ACTIVE":
                continue
            if len(rows) == 1:   # the newest ratings arrive once, after the first FULL version
                job = personalize.create_dataset_import_job(
                    jobName="newest", datasetArn=dataset, importMode="INCREMENTAL",
                    dataSource={"dataLocation": "s3://bench-input/newest.csv"},
                    roleArn="arn:aws:iam::000000000000:role/bench")["datasetImportJobArn"]
                status = personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]["status"]
                print(f"incremental import of the newest {args.update_share:.0%}: {status}")
            for mode in ("UPDATE", "FULL"):
                t0 = time.perf_counter()
                v = personalize.create_solution_version(solutionArn=arn, trainingMode=mode)["solutionVersionArn"]
                rows.append(row(f"{recipe} {mode}", arn, v, time.perf_counter() - t0))

    head = ["recipe", "status", "wall s", "trainer s"] + [
        k.replace("normalized_discounted_cumulative_gain_at_", "NDCG@").replace("precision_at_", "P@")
         .replace("mean_reciprocal_rank_at_25", "MRR@25").replace("_num_evaluation_users", "eval users")
        for k in SHOWN]
    if args.update:
        head += ["mode", "epochs", "new items"]
    print(" | ".join(f"{h:>12}" for h in head))
    for recipe, status, wall, trainer_s, metrics, reason, warm in rows:
        cells = [recipe, status, f"{wall:.1f}", f"{trainer_s:.1f}"] + [
            f"{metrics[k]:.4f}" if k in metrics else "-" for k in SHOWN]
        if args.update:
            cells += [warm.get("mode") or "-", str(warm.get("epochs", "-")), str(warm.get("newItems", "-"))]
        print(" | ".join(f"{c:>12}" for c in cells) + (f"  ({reason})" if reason else ""))
    return 0


def split_newest(body: bytes, share: float):
    """(CSV of the older ratings, CSV of the newest `share` by TIMESTAMP), both with the header."""
    header, *lines = body.splitlines(keepends=True)
    column = header.decode().strip().split(",").index("TIMESTAMP")
    lines.sort(key=lambda line: int(line.split(b",")[column]))
    cut = len(lines) - int(round(share * len(lines)))
    return header + b"".join(lines[:cut]), header + b"".join(lines[cut:])


if __name__ == "__main__":
    sys.exit(main())
