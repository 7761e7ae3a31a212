"""The training workflow as a user drives it through boto3 (seed: CreateSolution,
CreateSolutionVersion, DescribeSolutionVersion, GetMetrics, "Creating a Campaign", "Limits"):
tests/support/stepfunctions.py runs infrastructure/statemachines/training.asl.json in process, the trainer
Lambda runs the SageMaker entry point over an /opt/ml-shaped folder, S3 and DynamoDB are moto."""
import json
import tempfile

import numpy as np
import pytest
from botocore.exceptions import ClientError

from chalicelib.datasets import sample
from chalicelib.workflows import starter
import chalicelib.workflows.training  # noqa: F401 - registers the in-process trainer Lambda
from tests.conftest import RATINGS
from tests.support import rules
from tests.support import stepfunctions as sfn

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
    sfn.reset()
    yield
    sfn.reset()


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    return sample.generate(str(out), seed=3, n_users=60, n_items=150, n_interactions=1500)


def make_group(personalize, s3, files, name="shop", rows=None, schema=None):
    """A dataset group whose Interactions dataset holds the sample (or its first `rows` rows)."""
    s3.create_bucket(Bucket="training-input")
    with open(files["interactions"], "rb") as f:
        lines = f.read().splitlines(keepends=True)
    body = b"".join(lines if rows is None else lines[:rows + 1])
    s3.put_object(Bucket="training-input", Key=f"{name}.csv", Body=body)
    group = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    schema = personalize.create_schema(name=f"{name}-interactions",
                                       schema=json.dumps(schema or sample.SCHEMAS["interactions"]))["schemaArn"]
    dataset = personalize.create_dataset(datasetGroupArn=group, schemaArn=schema,
                                         datasetType="Interactions", name=f"{name}-interactions")["datasetArn"]
    job = personalize.create_dataset_import_job(
        jobName=f"{name}-import", datasetArn=dataset, roleArn=ROLE,
        dataSource={"dataLocation": f"s3://training-input/{name}.csv"})["datasetImportJobArn"]
    run = personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
    assert run["latestDatasetImportJobRun"]["status"] == "ACTIVE", run
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
        # GetMetrics also answers the seed's name for MRR, `mean_reciprocal_rank`
        assert set(values) == METRIC_KEYS | {"mean_reciprocal_rank"}
        assert values["_num_evaluation_users"] == 6   # 10% of 60 users (EVALUATION.md)
        stock = stock_personalize.get_solution_metrics(solutionVersionArn=version["solutionVersionArn"])
        assert stock["metrics"] == {k: v for k, v in values.items() if k != "mean_reciprocal_rank"}
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


def execution_statuses(workflow="training"):
    return [e.status for e in sfn.executions(workflow)]


def versions_of(personalize, solution_arn):
    return personalize.list_solution_versions(solutionArn=solution_arn)["solutionVersions"]


def test_too_little_data_fails_with_the_seeds_minimum(personalize, s3, sample_files):
    group = make_group(personalize, s3, sample_files, name="small", rows=600)
    arn = personalize.create_solution(name="small", datasetGroupArn=group, recipeArn=POPULARITY,
                                      minProvisionedTPS=1)["solutionArn"]
    solution, version = latest_version(personalize, arn)
    assert version["status"] == "CREATE FAILED" and solution["status"] == "CREATE FAILED"
    assert "at least 1000 interactions" in version["failureReason"]
    assert "has 600" in version["failureReason"]
    assert execution_statuses() == ["FAILED"]


def test_an_impossible_hyperparameter_ends_create_failed_with_the_reason(personalize, group):
    from chalicelib.storage.resources import store
    arn = personalize.create_solution(name="tuned", datasetGroupArn=group, recipeArn=SIMS,
                                      performHPO=False, minProvisionedTPS=1,
                                      solutionConfig={"algorithmHyperParameters": {"alpha": "0.3"}})["solutionArn"]
    assert latest_version(personalize, arn)[1]["status"] == "ACTIVE"
    # a value that no longer fits (stored before a rule changed, say): training refuses it
    config = personalize.describe_solution(solutionArn=arn)["solution"]["solutionConfig"]
    config["algorithmHyperParameters"] = {"alpha": "7"}
    store().update(arn, {"solutionConfig": config})
    v2 = personalize.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    version = personalize.describe_solution_version(solutionVersionArn=v2)["solutionVersion"]
    assert version["status"] == "CREATE FAILED"
    assert "alpha: 7 is above the maximum 1" in version["failureReason"]
    # the solution keeps its ACTIVE version
    assert personalize.describe_solution(solutionArn=arn)["solution"]["status"] == "ACTIVE"


class FailingSims:
    """Stands in for aws-sims: the trainer's failure file carries its message."""
    name = "aws-sims"

    def fit(self, data, hyperparameters, *, seed=0, log=lambda m: None):
        raise ValueError("SIMS found no co-purchases worth keeping")


def test_the_failure_file_becomes_the_failure_reason(personalize, group, monkeypatch):
    from chalicelib.algorithms import registry
    monkeypatch.setitem(registry.RECIPES, "aws-sims", f"{__name__}:FailingSims")
    arn = personalize.create_solution(name="failing", datasetGroupArn=group, recipeArn=SIMS,
                                      performHPO=False, minProvisionedTPS=1)["solutionArn"]
    version = latest_version(personalize, arn)[1]
    assert version["status"] == "CREATE FAILED"
    assert version["failureReason"] == "SIMS found no co-purchases worth keeping"


def test_internal_errors_are_retried_then_fail_the_version(personalize, group, monkeypatch):
    """With ministack's error style every failure is Runtime.HandlerError: Retry/Catch still work."""
    from chalicelib.training import lambda_trainer
    sfn.configure(error_style="ministack")
    calls = []

    def broken(event, should_stop=None, progress=None):
        calls.append(event["trainingJobName"])
        raise RuntimeError("the data bucket is unreachable")
    monkeypatch.setattr(lambda_trainer, "handle", broken)
    arn = personalize.create_solution(name="unlucky", datasetGroupArn=group, recipeArn=POPULARITY,
                                      minProvisionedTPS=1)["solutionArn"]
    solution, version = latest_version(personalize, arn)
    assert len(calls) == 2                      # one retry
    assert version["status"] == "CREATE FAILED" and solution["status"] == "CREATE FAILED"
    assert "Runtime.HandlerError" in version["failureReason"]
    assert "the data bucket is unreachable" in version["failureReason"]
    # the training channel does not outlive the failure
    from chalicelib.storage import objects
    assert objects.list_prefix(objects.internal_uri("models/unlucky/")) == []


@pytest.fixture
def wider_group(personalize, s3, tmp_path):
    """200 users, 12 interactions each, items drawn with Zipf-like popularity: popularity is
    clearly more precise than chance, chance clearly covers more of the catalogue."""
    rng = np.random.default_rng(11)
    weights = 1.0 / np.arange(1, 301) ** 1.1
    rows = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE"]
    for u in range(200):
        for k, item in enumerate(rng.choice(300, size=12, p=weights / weights.sum())):
            rows.append(f"u{u},i{item},{1_500_000_000 + 3600 * k},view,1.0")
    path = tmp_path / "interactions.csv"
    path.write_text("\n".join(rows) + "\n")
    return make_group(personalize, s3, {"interactions": str(path)}, name="wide")


@pytest.mark.parametrize("metric,winner", [("coverage", HRNN), ("precision_at_25", POPULARITY)])
def test_automl_picks_the_recipe_by_the_metric(personalize, wider_group, monkeypatch, metric, winner):
    """aws-hrnn is replaced by a fast per-user random recommender (wide coverage, poor precision)."""
    from chalicelib.algorithms import registry
    monkeypatch.setitem(registry.RECIPES, "aws-hrnn", "tests.unit.test_automl:RandomRecipe")
    arn = personalize.create_solution(
        name="auto", datasetGroupArn=wider_group, performAutoML=True, minProvisionedTPS=1,
        solutionConfig={"autoMLConfig": {"metricName": metric, "recipeList": [HRNN, POPULARITY]}})["solutionArn"]
    solution, version = latest_version(personalize, arn)
    assert version["status"] == "ACTIVE", version.get("failureReason")
    assert solution["autoMLResult"] == {"bestRecipeArn": winner}
    assert version.get("autoMLResult", {"bestRecipeArn": winner}) == {"bestRecipeArn": winner}
    report = training_report(version)
    scores = {c["recipeArn"]: c["validation"][metric] for c in report["automl"]["candidates"]}
    assert scores[winner] > min(scores.values())
    (model_arn,) = personalize.get_metrics(solutionArn=arn)["metrics"]
    assert ("hrnn" in model_arn) == (winner == HRNN)


def training_report(version):
    from chalicelib.service import solution_versions
    from chalicelib.training import artifacts
    key = solution_versions.get(version["solutionVersionArn"])["modelKey"]
    return artifacts.training_outcome(key)["report"]


def test_hpo_respects_its_budget_and_records_the_tuned_values(personalize, group):
    arn = personalize.create_solution(
        name="tuning", datasetGroupArn=group, recipeArn=SIMS, performHPO=True, minProvisionedTPS=1,
        solutionConfig={"hpoConfig": {
            "hpoObjective": {"metricName": "normalized_discounted_cumulative_gain_at_10", "type": "Maximize"},
            "hpoResourceConfig": {"maxNumberOfTrainingJobs": "3", "maxParallelTrainingJobs": "1"},
            "algorithmHyperParameterRanges": {
                "continuousHyperParameterRanges": [{"name": "alpha", "minValue": 0.1, "maxValue": 0.9}]}}})["solutionArn"]
    version = latest_version(personalize, arn)[1]
    assert version["status"] == "ACTIVE", version.get("failureReason")
    hpo = training_report(version)["hpo"]
    assert hpo["trainingJobs"] == 3 and hpo["peakParallelJobs"] == 1
    assert hpo["searched"] == ["alpha"]
    assert hpo["objective"]["metricName"] == "normalized_discounted_cumulative_gain_at_10"
    tuned = version["tunedHPOParams"]["algorithmHyperParameters"]
    assert tuned == hpo["trials"][hpo["bestTrial"]]["hyperparameters"]
    assert 0.1 <= float(tuned["alpha"]) <= 0.9

    # today's CreateSolutionVersion: UPDATE only for the User-Personalization / HRNN family
    # (tests/api/test_dialects.py trains one)
    with pytest.raises(ClientError) as e:
        personalize.create_solution_version(solutionArn=arn, trainingMode="UPDATE")
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
    assert "trainingMode" in e.value.response["Error"]["Message"]


def test_an_auto_campaign_moves_to_the_new_version(personalize, group, monkeypatch):
    from chalicelib.service import campaigns
    arn = personalize.create_solution(name="served", datasetGroupArn=group, recipeArn=POPULARITY,
                                      minProvisionedTPS=1)["solutionArn"]
    v1 = latest_version(personalize, arn)[1]["solutionVersionArn"]
    started, real_start = [], starter.start_workflow

    def start(name, payload, execution_name=None):
        if name == "campaign":   # deployments are the campaign workflow's business: record them
            started.append(payload)
            return "arn:aws:states:us-east-1:000000000000:execution:personalize-campaign:test"
        return real_start(name, payload, execution_name)
    monkeypatch.setattr(starter, "start_workflow", start)
    auto = personalize.create_campaign(name="auto", solutionVersionArn=v1, updateMode="AUTO",
                                       minProvisionedTPS=1)["campaignArn"]
    manual = personalize.create_campaign(name="manual", solutionVersionArn=v1, updateMode="MANUAL",
                                         minProvisionedTPS=1)["campaignArn"]
    for c in (auto, manual):
        campaigns.mark_campaign(c, "CREATE IN_PROGRESS")
        campaigns.mark_campaign(c, "ACTIVE")
    started.clear()
    v2 = personalize.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    assert personalize.describe_solution_version(solutionVersionArn=v2)["solutionVersion"]["status"] == "ACTIVE"
    assert started == [{"campaignArn": auto}]
    update = personalize.describe_campaign(campaignArn=auto)["campaign"]["latestCampaignUpdate"]
    assert update["solutionVersionArn"] == v2
    assert personalize.describe_campaign(campaignArn=manual)["campaign"]["solutionVersionArn"] == v1


def test_the_retraining_rule_trains_a_new_version_or_skips_a_busy_solution(personalize, group):
    from chalicelib.service import solution_versions
    from chalicelib.storage import schedules
    arn = personalize.create_solution(name="weekly", datasetGroupArn=group, recipeArn=POPULARITY,
                                      minProvisionedTPS=1,
                                      solutionConfig={"retrainSchedule": "rate(1 day)"})["solutionArn"]
    name = schedules.rule_name("retrain", arn)
    rule = rules.rule(name)
    assert rule["schedule"] == "rate(1 day)" and rule["arn"].endswith("stateMachine:personalize-training")
    rules.fire(name)                                                 # what EventBridge does
    listed = versions_of(personalize, arn)
    assert [v["status"] for v in listed] == ["ACTIVE", "ACTIVE"]
    # a tick while a version is in flight is skipped, and leaves that version alone
    pending = solution_versions.create_version(arn, "CreateSolutionVersion")["arn"]
    rules.fire(name)
    assert len(versions_of(personalize, arn)) == 3
    assert personalize.describe_solution_version(solutionVersionArn=pending)["solutionVersion"]["status"] \
        == "CREATE PENDING"
    assert execution_statuses() == ["SUCCEEDED"] * 3


def test_auto_retraining_has_a_default_cadence(personalize, group):
    from chalicelib.storage import schedules
    arn = personalize.create_solution(name="auto-mode", datasetGroupArn=group, recipeArn=POPULARITY,
                                      minProvisionedTPS=1)["solutionArn"]
    config = personalize.describe_solution(solutionArn=arn)["solution"]["solutionConfig"]
    assert config["retrainingMode"] == "AUTO"
    rule = rules.rule(schedules.rule_name("retrain", arn))
    assert rule["schedule"] == "rate(7 days)" and rule["input"] == {"solutionArn": arn}
    personalize.update_solution(solutionArn=arn, solutionConfig={"retrainingMode": "MANUAL",
                                                                 "retrainSchedule": "rate(2 days)"})
    assert len(versions_of(personalize, arn)) == 1                  # "doesn't trigger retraining"
    assert rules.rule(schedules.rule_name("retrain", arn))["schedule"] == "rate(2 days)"


def test_movielens_popularity_through_the_workflow(personalize, s3, tmp_path):
    """The Getting Started data at full size (SIMS takes about 45 s: bench/training_workflow.py)."""
    from chalicelib.datasets.movielens import getting_started_csv
    path = tmp_path / "ratings.csv"
    path.write_bytes(getting_started_csv(RATINGS))
    fields = sample.SCHEMAS["interactions"]["fields"][:3]       # USER_ID, ITEM_ID, TIMESTAMP
    group = make_group(personalize, s3, {"interactions": str(path)}, name="movies",
                       schema=dict(sample.SCHEMAS["interactions"], fields=fields))
    arn = personalize.create_solution(name="movies", datasetGroupArn=group, recipeArn=POPULARITY,
                                      minProvisionedTPS=1)["solutionArn"]
    (metrics,) = personalize.get_metrics(solutionArn=arn)["metrics"].values()
    assert metrics["_num_evaluation_users"] == 61                 # 10% of 610 users
    assert metrics["_num_unique_items"] == 9724
    # the popularity baseline's known range on this data (bench/quality.py, 5 seeds)
    assert 0.01 < metrics["precision_at_25"] < 0.06


def test_hrnn_trains_its_default_epochs_unless_the_caller_sets_them(personalize, group):
    """The seed's HRNN default for training.epochs (1) is too few (algorithms/hrnn.py), so a
    solution that does not set it trains up to DEFAULT_MAX_EPOCHS; one that sets it, even to
    the default's value, gets exactly that. The service passes the trainer only what was set."""
    from chalicelib.algorithms import hrnn
    from chalicelib.service import solution_versions
    from chalicelib.training import artifacts
    epochs = {}
    for name, given in (("unset", {}), ("one", {"training.epochs": "1"})):
        arn = personalize.create_solution(minProvisionedTPS=1,
            name=f"epochs-{name}", datasetGroupArn=group, recipeArn=HRNN, performHPO=False,
            solutionConfig={"algorithmHyperParameters": dict(given, **{"model.num_hidden": "32"})})["solutionArn"]
        _solution, version = latest_version(personalize, arn)
        assert version["status"] == "ACTIVE", version.get("failureReason")
        key = solution_versions.get(version["solutionVersionArn"])["modelKey"]
        with tempfile.TemporaryDirectory() as tmp:
            epochs[name] = artifacts.load_model(key, tmp).info["epochs"]
    assert epochs == {"unset": hrnn.DEFAULT_MAX_EPOCHS, "one": 1}
