"""End to end on the embedded stack: the Getting Started data (ml-latest-small) imported through the
deployed import workflow and counted, SIMS and popularity trained by the deployed training workflow
with the full metric set, and training runs that must fail ending CREATE FAILED with the reason.

Seed: "Getting Started" ("Create the Training Data": rating column dropped, header renamed),
CreateFeatureExportJob (the counts of the group's data), CreateSolution / GetMetrics /
GetSolutionMetrics, "Limits" (at least 1000 interactions to train).
"""
import io
import json
import os
import tarfile

import pytest
from botocore.exceptions import ClientError

from chalicelib.datasets.movielens import getting_started_csv
from tests.conftest import RATINGS
from tests.e2e import flows
from tests.workflows.test_training_workflow import METRIC_KEYS

pytestmark = pytest.mark.e2e

EXPORT_TRANSFORMATION = "arn:aws:personalize:::feature-transformation/JSON-percentile-filtering"


@pytest.fixture(scope="module")
def movielens(stack):
    """(models client, dataset group ARN) with ml-latest-small imported through the stack."""
    if not os.path.exists(RATINGS):
        pytest.skip(f"{RATINGS} is not there (../shared beside the repository)")
    personalize = stack.client("personalize")
    group, _ = flows.import_interactions(stack, personalize, getting_started_csv(RATINGS), "movielens",
                                         timeout=600)
    return personalize, group


def test_movielens_import_counts_through_a_feature_export(stack, movielens):
    """The imported data, counted by what the deployed API exposes: a feature export job
    (default transformation parameters keep every user) writes CSVs and a manifest to S3."""
    personalize, group = movielens
    bucket = stack.outputs["DataBucketName"]
    job_name = flows.name("movielens-export")
    arn = personalize.create_feature_export_job(
        jobName=job_name, datasetGroupArn=group, featureTransformationArn=EXPORT_TRANSFORMATION,
        roleArn=flows.ROLE, dataDestination=f"s3://{bucket}/e2e-exports/")["featureExportJobArn"]
    job = flows.wait(lambda: personalize.describe_feature_export_job(
        featureExportJobArn=arn)["featureExportJob"], "feature export", timeout=300)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    s3 = stack.client("s3")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"e2e-exports/{job_name}/manifest.json")[
        "Body"].read())
    assert manifest["counts"]["interactions"] == 100_836
    assert manifest["counts"]["users"] == 610
    assert manifest["counts"]["items"] == 9_724
    assert manifest["counts"].get("droppedInteractions", 0) == 0
    exported = s3.get_object(Bucket=bucket, Key=f"e2e-exports/{job_name}/interactions.csv")[
        "Body"].read().splitlines()
    assert exported[0].split(b",")[:3] == [b"USER_ID", b"ITEM_ID", b"TIMESTAMP"]
    assert len(exported) - 1 == 100_836
    assert len({row.split(b",")[0] for row in exported[1:]}) == 610
    assert len({row.split(b",")[1] for row in exported[1:]}) == 9_724


def test_sims_and_popularity_train_to_active_with_the_full_metric_set(stack, movielens):
    personalize, group = movielens
    stock = stack.client("personalize", models=False)
    started = {recipe: personalize.create_solution(
        name=flows.name(recipe), datasetGroupArn=group, recipeArn=flows.RECIPE + recipe,
        performHPO=False, minProvisionedTPS=1)["solutionArn"]
        for recipe in ("aws-popularity-count", "aws-sims")}
    for recipe, solution in started.items():
        version = flows.wait_version(personalize, solution, timeout=600)
        assert version["status"] == "ACTIVE", (recipe, version.get("failureReason"))
        assert personalize.describe_solution(solutionArn=solution)["solution"]["status"] == "ACTIVE"
        metrics = personalize.get_metrics(solutionArn=solution)["metrics"]
        (model_arn, values), = metrics.items()
        assert ":model/" in model_arn
        # GetMetrics also answers the seed's name for MRR, mean_reciprocal_rank
        assert set(values) == METRIC_KEYS | {"mean_reciprocal_rank"}, recipe
        assert values["_num_evaluation_users"] == 61   # 10% of 610 users (EVALUATION.md)
        assert 0 < values["precision_at_25"] <= 1 and 0 < values["coverage"] <= 1
        today = stock.get_solution_metrics(solutionVersionArn=version["solutionVersionArn"])
        assert today["metrics"] == {k: v for k, v in values.items() if k != "mean_reciprocal_rank"}


def test_too_little_data_ends_create_failed_with_the_seeds_minimum(stack):
    """Seed, "Limits": at least 1000 interactions; 600 are imported, the run fails with why."""
    personalize = stack.client("personalize")
    rows = [b"USER_ID,ITEM_ID,TIMESTAMP"] + [
        b"u%d,i%d,%d" % (i % 40, (i * 7) % 53, 1_500_000_000 + i) for i in range(600)]
    group, _ = flows.import_interactions(stack, personalize, b"\n".join(rows) + b"\n", "small")
    solution, version = flows.train(personalize, group, "aws-popularity-count", "small",
                                     minProvisionedTPS=1)
    assert version["status"] == "CREATE FAILED"
    assert "at least 1000 interactions" in version["failureReason"]
    assert "has 600" in version["failureReason"]
    assert personalize.describe_solution(solutionArn=solution)["solution"]["status"] == \
        "CREATE FAILED"
    with pytest.raises(ClientError) as err:
        personalize.get_metrics(solutionArn=solution)
    assert err.value.response["Error"]["Code"] in ("ResourceNotFoundException",
                                                   "ResourceInUseException",
                                                   "InvalidInputException")


def test_an_impossible_hyperparameter_is_refused_with_the_reason(stack, movielens):
    """The seed's ranges are enforced when the solution is created, before any training."""
    personalize, group = movielens
    with pytest.raises(ClientError) as err:
        personalize.create_solution(
            name=flows.name("impossible"), datasetGroupArn=group,
            recipeArn=flows.RECIPE + "aws-sims", performHPO=False,
            solutionConfig={"algorithmHyperParameters": {"alpha": "7"}})
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    assert "alpha" in err.value.response["Error"]["Message"]


def walks_csv(n_users=300, n_items=150, length=20, seed=5):
    """Each user walks `length` consecutive items of a cycle of `n_items`, from a random start:
    every item is about equally popular, the next item follows from the last one. A sequence
    model predicts the held-out newest items; popularity cannot."""
    import random
    rng = random.Random(seed)
    rows = [b"USER_ID,ITEM_ID,TIMESTAMP"]
    for u in range(n_users):
        start = rng.randrange(n_items)
        rows += [b"u%d,i%d,%d" % (u, (start + k) % n_items, 1_500_000_000 + u * 100_000 + k * 60)
                 for k in range(length)]
    return b"\n".join(rows) + b"\n"


@pytest.fixture(scope="module")
def walks(stack):
    """A dataset group with the walks data imported through the stack."""
    return flows.import_interactions(stack, stack.client("personalize"), walks_csv(), "walks")[0]


@pytest.fixture(scope="module")
def automl(stack, walks):
    """On the walks data, started together: AutoML with the default recipe list, AutoML over
    [popularity, aws-hrnn] by NDCG@10, and a plain popularity solution. {label: (solution ARN,
    version record)} once all have finished."""
    personalize = stack.client("personalize")
    group = walks
    specs = {
        "default-list": {"performAutoML": True},
        "by-ndcg": {"performAutoML": True, "solutionConfig": {"autoMLConfig": {
            "metricName": "normalized_discounted_cumulative_gain_at_10",
            "recipeList": [flows.RECIPE + "aws-popularity-count", flows.RECIPE + "aws-hrnn"]}}},
        "popularity": {"recipeArn": flows.RECIPE + "aws-popularity-count", "performHPO": False},
    }
    started = {label: personalize.create_solution(name=flows.name(f"walks-{label}"),
                                                  datasetGroupArn=group, minProvisionedTPS=1,
                                                  **spec)["solutionArn"]
               for label, spec in specs.items()}
    return {label: (arn, flows.wait_version(personalize, arn, timeout=600))
            for label, arn in started.items()}


def _training_report(stack, version_arn):
    """training.json of a version's model archive (in the internal bucket): what the trainer
    compared and chose."""
    s3, bucket = stack.client("s3"), stack.outputs["InternalBucketName"]
    version_id = version_arn.rsplit("/", 1)[1]
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])
            if f"-{version_id}/" in o["Key"] and o["Key"].endswith("/output/model.tar.gz")]
    assert len(keys) == 1, keys
    body = s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return json.load(tar.extractfile("training.json"))


def test_automl_with_the_default_recipe_list_picks_a_recipe_by_the_metric(stack, automl):
    """Seed, Getting Started: `performAutoML` without a recipeList examines the default list
    (aws-deepfm, aws-ffnn, aws-hrnn). All three train on the validation split; the one with
    the best precision_at_25 (AutoML's default metric) is recorded as
    autoMLResult.bestRecipeArn and served by its model."""
    personalize = stack.client("personalize")
    solution, version = automl["default-list"]
    assert version["status"] == "ACTIVE", version.get("failureReason")
    described = personalize.describe_solution(solutionArn=solution)["solution"]
    assert described["performAutoML"] is True
    report = _training_report(stack, version["solutionVersionArn"])["automl"]
    scores = {c["recipe"]: c["validation"]["precision_at_25"] for c in report["candidates"]}
    assert set(scores) == {"aws-deepfm", "aws-ffnn", "aws-hrnn"}, report["candidates"]
    best = max(scores, key=scores.get)
    assert described["autoMLResult"] == {"bestRecipeArn": flows.RECIPE + best}
    (model_arn,) = personalize.get_metrics(solutionArn=solution)["metrics"]
    assert best.replace("aws-", "") in model_arn


def test_automl_picks_the_recipe_by_the_metric(stack, automl):
    """Popularity is listed first, but aws-hrnn wins NDCG@10 on walks, so AutoML takes it; the
    chosen model's NDCG@10 is above what the same data gives a popularity solution."""
    personalize = stack.client("personalize")
    solution, version = automl["by-ndcg"]
    assert version["status"] == "ACTIVE", version.get("failureReason")
    described = personalize.describe_solution(solutionArn=solution)["solution"]
    assert described["autoMLResult"] == {"bestRecipeArn": flows.RECIPE + "aws-hrnn"}
    metric = "normalized_discounted_cumulative_gain_at_10"
    (chosen,) = personalize.get_metrics(solutionArn=solution)["metrics"].values()
    popularity, pop_version = automl["popularity"]
    assert pop_version["status"] == "ACTIVE", pop_version.get("failureReason")
    (baseline,) = personalize.get_metrics(solutionArn=popularity)["metrics"].values()
    assert chosen[metric] > baseline[metric]


def test_an_empty_tuning_range_is_refused_with_the_reason(stack, walks):
    """A tuning range inside the recipe's bounds but empty (minimum above maximum) is refused
    when the solution is created, before any training."""
    personalize = stack.client("personalize")
    with pytest.raises(ClientError) as err:
        personalize.create_solution(
            name=flows.name("empty-range"), datasetGroupArn=walks,
            recipeArn=flows.RECIPE + "aws-sims", performHPO=True,
            solutionConfig={"hpoConfig": {"algorithmHyperParameterRanges": {
                "integerHyperParameterRanges": [
                    {"name": "history_decay_fast_half_life", "minValue": 200, "maxValue": 100}]}}})
    assert err.value.response["Error"]["Code"] == "InvalidInputException"
    assert "history_decay_fast_half_life" in err.value.response["Error"]["Message"]


def test_percentiles_that_keep_no_user_end_the_trainer_run_create_failed(stack):
    """Seed, "Feature Transformation": the history-length percentiles are valid values, but on
    this data (30 users with 40 interactions, 30 with 41) the 50th percentile is 40.5 and
    [0.5, 0.5] keeps nobody. Only the trainer can see that; its failure text becomes the
    version's failureReason (the SageMaker contract's /opt/ml/output/failure)."""
    personalize = stack.client("personalize")
    rows = [b"USER_ID,ITEM_ID,TIMESTAMP"]
    for u in range(60):
        rows += [b"u%d,i%d,%d" % (u, (u + k) % 100, 1_500_000_000 + u * 10_000 + k)
                 for k in range(40 + u % 2)]
    group, _ = flows.import_interactions(stack, personalize, b"\n".join(rows) + b"\n", "halves")
    solution, version = flows.train(   # the preview's shape: the solution follows its version
        personalize, group, "aws-hrnn", "halves", performHPO=False, minProvisionedTPS=1,
        solutionConfig={"featureTransformationParameters": {
            "min_hist_length_percentile": "0.5", "max_hist_length_percentile": "0.5"}})
    assert version["status"] == "CREATE FAILED"
    assert "history-length percentiles [0.5, 0.5] keep no user" in version["failureReason"]
    assert personalize.describe_solution(solutionArn=solution)["solution"]["status"] == \
        "CREATE FAILED"
