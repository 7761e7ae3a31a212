"""The training workflow as a user drives it through boto3 (seed: CreateSolution,
CreateSolutionVersion, DescribeSolutionVersion, GetMetrics, "Creating a Campaign", "Limits"):
WORKFLOW_MODE=local runs infrastructure/statemachines/training.asl.json in process, the trainer
Lambda runs the SageMaker entry point over an /opt/ml-shaped folder, S3 and DynamoDB are moto."""
import json
import os

import numpy as np
import pytest

from chalicelib.datasets import sample
from chalicelib.workflows import starter
import chalicelib.workflows.training  # noqa: F401 - registers the in-process trainer Lambda

ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
POPULARITY = "arn:aws:personalize:::recipe/aws-popularity-count"
SIMS = "arn:aws:personalize:::recipe/aws-sims"
HRNN = "arn:aws:personalize:::recipe/aws-hrnn"
METRIC_KEYS = {
    "coverage", "mean_reciprocal_rank_at_25",
    "normalized_discounted_cumulative_gain_at_5", "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25", "precision_at_5", "precision_at_10",
    "precision_at_25", "_num_evaluation_users", "_num_unique_items",
    "_user_history_length_10_pct_quantile", "_user_history_length_50_pct_quantile",
    "_user_history_length_90_pct_quantile", "_user_history_length_mean",
}


@pytest.fixture(autouse=True)
def local_runs():
    starter.reset_local()
    yield
    starter.reset_local()


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    return sample.generate(str(out), seed=3, n_users=60, n_items=150, n_interactions=1500)


def make_group(personalize, s3, files, name="shop", rows=None):
    """A dataset group whose Interactions dataset holds the sample (or its first `rows` rows)."""
    s3.create_bucket(Bucket="training-input")
    with open(files["interactions"], "rb") as f:
        lines = f.read().splitlines(keepends=True)
    body = b"".join(lines if rows is None else lines[:rows + 1])
    s3.put_object(Bucket="training-input", Key=f"{name}.csv", Body=body)
    group = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    schema = personalize.create_schema(name=f"{name}-interactions",
                                       schema=json.dumps(sample.SCHEMAS["interactions"]))["schemaArn"]
    dataset = personalize.create_dataset(datasetGroupArn=group, schemaArn=schema,
                                         datasetType="Interactions", name=f"{name}-interactions")["datasetArn"]
    job = personalize.create_dataset_import_job(
        jobName=f"{name}-import", datasetArn=dataset, roleArn=ROLE,
        dataSource={"dataLocation": f"s3://training-input/{name}.csv"})["datasetImportJobArn"]
    run = personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
    assert run["status"] == "ACTIVE", run
    return group


def latest_version(personalize, solution_arn):
    solution = personalize.describe_solution(solutionArn=solution_arn)["solution"]
    arn = solution["latestSolutionVersion"]["solutionVersionArn"]
    return solution, personalize.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]


@pytest.fixture
def group(personalize, s3, sample_files):
    return make_group(personalize, s3, sample_files)


def test_popularity_and_sims_train_to_active_with_metrics(personalize, stock_personalize, group, s3):
    for name, recipe in (("popular", POPULARITY), ("similar", SIMS)):
        arn = personalize.create_solution(name=name, datasetGroupArn=group, recipeArn=recipe,
                                          minProvisionedTPS=1)["solutionArn"]
        solution, version = latest_version(personalize, arn)
        assert version["status"] == "ACTIVE", version.get("failureReason")
        assert solution["status"] == "ACTIVE"
        assert version["trainingHours"] > 0
        metrics = personalize.get_metrics(solutionArn=arn)["metrics"]
        (model_arn, values), = metrics.items()
        assert ":model/" in model_arn and model_arn.endswith(version["solutionVersionArn"][-8:])
        assert set(values) == METRIC_KEYS
        assert values["_num_evaluation_users"] == 6   # 10% of 60 users (EVALUATION.md)
        stock = stock_personalize.get_solution_metrics(solutionVersionArn=version["solutionVersionArn"])
        assert stock["metrics"] == values
        # the model archive is where the version says, and the channel is gone
        bucket, key = version_key(version)
        assert key.endswith("/output/model.tar.gz")
        s3.head_object(Bucket=bucket, Key=key)
        leftovers = s3.list_objects_v2(Bucket=bucket, Prefix=key.split("/output/")[0].rsplit("/", 1)[0] + "/input/")
        assert leftovers.get("KeyCount", 0) == 0


def version_key(version):
    # modelKey is internal; DescribeSolutionVersion drops it, so read the store
    from chalicelib.service import solution_versions
    key = solution_versions.get(version["solutionVersionArn"])["modelKey"]
    bucket, _, path = key[len("s3://"):].partition("/")
    return bucket, path
