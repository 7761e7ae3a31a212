"""Solutions and solution versions through boto3 (seed: "Creating a Solution", CreateSolution,
DescribeSolution, ListSolutions, UpdateSolution, DeleteSolution, DescribeSolutionVersion,
ListSolutionVersions; the stock CreateSolutionVersion).

The training workflow is not run here: `start_workflow` is replaced by a recorder, and a
training's outcome is played with the functions the training workflow calls
(`solution_versions.mark_solution_version` / `record_training_result`). The fixtures and
helpers below are shared with test_campaigns.py and test_metrics.py.
"""
import json

import pytest
from botocore.exceptions import ClientError

INTERACTIONS_SCHEMA = {
    "type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
               {"name": "TIMESTAMP", "type": "long"}],
    "version": "1.0",
}
EVENT_SCHEMA = dict(INTERACTIONS_SCHEMA, fields=INTERACTIONS_SCHEMA["fields"] + [
    {"name": "EVENT_TYPE", "type": "string"}, {"name": "EVENT_VALUE", "type": "float"}])
HRNN = "arn:aws:personalize:::recipe/aws-hrnn"
SIMS = "arn:aws:personalize:::recipe/aws-sims"
POPULARITY = "arn:aws:personalize:::recipe/aws-popularity-count"
METRICS = {"precision_at_25": 0.0088, "coverage": 0.365, "mean_reciprocal_rank_at_25": 0.0339,
           "_num_evaluation_users": 91.0}


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def message(excinfo):
    return excinfo.value.response["Error"]["Message"]


@pytest.fixture
def started(monkeypatch):
    """Records start_workflow calls instead of running state machines."""
    from chalicelib.workflows import starter
    calls = []

    def record(name, payload, execution_name=None):
        calls.append((name, payload))
        return f"arn:aws:states:us-east-1:000000000000:execution:{name}:{len(calls)}"

    monkeypatch.setattr(starter, "start_workflow", record)
    return calls


def make_group(client, name="movies", schema=INTERACTIONS_SCHEMA, with_dataset=True):
    group = client.create_dataset_group(name=name)["datasetGroupArn"]
    if with_dataset:
        schema_arn = client.create_schema(name=f"{name}-schema", schema=json.dumps(schema))["schemaArn"]
        client.create_dataset(name=f"{name}-interactions", datasetGroupArn=group,
                              datasetType="Interactions", schemaArn=schema_arn)
    return group


@pytest.fixture
def group(personalize):
    return make_group(personalize)


def finish_training(version_arn, status="ACTIVE", metrics=METRICS, best_recipe=None,
                    failure_reason=None):
    """Play the training workflow's part for one version."""
    from chalicelib.service import solution_versions as sv
    sv.mark_solution_version(version_arn, "CREATE IN_PROGRESS")
    if status == "ACTIVE":
        sv.record_training_result(version_arn, metrics=metrics, training_hours=0.25,
                                  model_key=f"s3://personalize-data/models/{version_arn[-8:]}/model.npz",
                                  best_recipe_arn=best_recipe)
    return sv.mark_solution_version(version_arn, status, failure_reason=failure_reason)


def trained_solution(client, group, name="sol", recipe=HRNN, **kwargs):
    """A solution whose first version trained: (solution ARN, version ARN)."""
    arn = client.create_solution(name=name, datasetGroupArn=group, recipeArn=recipe,
                                 performHPO=False, **{"minProvisionedTPS": 1, **kwargs})["solutionArn"]
    version = client.describe_solution(solutionArn=arn)["solution"]["latestSolutionVersion"]
    finish_training(version["solutionVersionArn"])
    return arn, version["solutionVersionArn"]


# ---- CreateSolution ------------------------------------------------------------------------

def test_create_solution_trains_the_first_version(personalize, group, started):
    arn = personalize.create_solution(name="MovieSolution", datasetGroupArn=group, recipeArn=HRNN,
                                      minProvisionedTPS=10)["solutionArn"]
    assert arn == "arn:aws:personalize:us-east-1:000000000000:solution/MovieSolution"
    solution = personalize.describe_solution(solutionArn=arn)["solution"]
    assert solution["status"] == "CREATE PENDING"
    assert solution["recipeArn"] == HRNN and solution["performAutoML"] is False
    assert solution["performHPO"] is True          # the seed's default
    assert solution["minProvisionedTPS"] == 10
    assert solution["datasetGroupArn"] == group
    latest = solution["latestSolutionVersion"]
    assert latest["status"] == "CREATE PENDING"
    assert latest["solutionVersionArn"].startswith(arn + "/")
    assert len(latest["solutionVersionArn"].rsplit("/", 1)[1]) == 8
    assert started == [("training", {"solutionVersionArn": latest["solutionVersionArn"]})]


def test_create_solution_with_automl_fills_the_seed_defaults(personalize, group, started):
    arn = personalize.create_solution(name="auto", datasetGroupArn=group, performAutoML=True,
                                      minProvisionedTPS=10)["solutionArn"]
    solution = personalize.describe_solution(solutionArn=arn)["solution"]
    config = solution["solutionConfig"]
    assert config["autoMLConfig"]["metricName"] == "precision_at_25"
    assert config["autoMLConfig"]["recipeList"] == [
        "arn:aws:personalize:::recipe/aws-deepfm", "arn:aws:personalize:::recipe/aws-ffnn", HRNN]
    assert config["retrainingMode"] == "AUTO"
    assert "recipeArn" not in solution and solution["performHPO"] is True


def test_stock_client_creates_a_solution_with_defaults(stock_personalize, started):
    group = make_group(stock_personalize)
    arn = stock_personalize.create_solution(name="s", datasetGroupArn=group, recipeArn=SIMS)["solutionArn"]
    solution = stock_personalize.describe_solution(solutionArn=arn)["solution"]
    # today's shape: ACTIVE at once, nothing trains (tests/api/test_dialects.py has the rest)
    assert solution["status"] == "ACTIVE" and "latestSolutionVersion" not in solution
    assert solution["performHPO"] is False and started == []
    from chalicelib.service import solutions
    assert solutions.get(arn)["minProvisionedTPS"] == 1


# (CreateSolution arguments, a word the message must contain)
INVALID = [
    ({"performAutoML": True, "recipeArn": HRNN}, "not both"),
    ({}, "not both"),
    ({"performAutoML": True, "performHPO": False}, "performHPO"),
    ({"recipeArn": HRNN, "solutionConfig": {"algorithmHyperParameters": {"model.num_hidden": "500"}}},
     "model.num_hidden"),
    ({"recipeArn": HRNN, "solutionConfig": {"algorithmHyperParameters": {"no.such": "1"}}}, "no.such"),
    ({"recipeArn": SIMS, "solutionConfig": {"algorithmHyperParameters": {"alpha": "x"}}}, "alpha"),
    ({"recipeArn": HRNN, "solutionConfig": {"featureTransformationParameters":
                                            {"max_hist_length_percentile": "1.5"}}},
     "max_hist_length_percentile"),
    ({"recipeArn": HRNN, "solutionConfig": {"featureTransformationParameters": {"bogus": "0.1"}}},
     "bogus"),
    ({"recipeArn": POPULARITY, "solutionConfig": {"featureTransformationParameters":
                                                  {"train_ratio": "0.5"}}}, "no feature transformation"),
    ({"recipeArn": HRNN, "solutionConfig": {"eventValueThreshold": "abc"}}, "eventValueThreshold"),
    ({"recipeArn": HRNN, "solutionConfig": {"eventValueThreshold": "0.5"}}, "EVENT_VALUE"),
    ({"recipeArn": HRNN, "eventType": "click"}, "EVENT_TYPE"),
    ({"recipeArn": HRNN, "solutionConfig": {"retrainSchedule": "rate(5 minutes)"}}, "30 minutes"),
    ({"recipeArn": HRNN, "solutionConfig": {"retrainSchedule": "every day"}}, "retrainSchedule"),
    ({"recipeArn": HRNN, "solutionConfig": {"retrainingMode": "AUTO",
                                            "retrainSchedule": "rate(1 day)"}}, "MANUAL"),
    ({"recipeArn": HRNN, "solutionConfig": {"autoMLConfig": {"metricName": "coverage"}}}, "autoMLConfig"),
    ({"performAutoML": True, "solutionConfig": {"autoMLConfig": {"metricName": "accuracy"}}}, "metricName"),
    ({"performAutoML": True, "solutionConfig": {"autoMLConfig": {"recipeList": [HRNN, SIMS]}}},
     "one recipe type"),
    ({"performAutoML": True, "solutionConfig": {"autoMLConfig": {"recipeList": [HRNN, HRNN]}}}, "twice"),
    ({"recipeArn": HRNN, "solutionConfig": {"hpoConfig": {"hpoObjective": {"type": "Best"}}}}, "type"),
    ({"recipeArn": HRNN, "solutionConfig": {"hpoConfig": {"hpoResourceConfig":
                                                          {"maxNumberOfTrainingJobs": "0"}}}},
     "maxNumberOfTrainingJobs"),
    ({"recipeArn": HRNN, "solutionConfig": {"hpoConfig": {"hpoResourceConfig": {
        "maxNumberOfTrainingJobs": "2", "maxParallelTrainingJobs": "3"}}}}, "maxParallelTrainingJobs"),
    ({"recipeArn": HRNN, "solutionConfig": {"hpoConfig": {"algorithmHyperParameterRanges": {
        "integerHyperParameterRanges": [{"name": "training.epochs", "minValue": 1, "maxValue": 5}]}}}},
     "not tunable"),
    ({"recipeArn": HRNN, "solutionConfig": {"hpoConfig": {"algorithmHyperParameterRanges": {
        "integerHyperParameterRanges": [{"name": "model.num_hidden", "minValue": 16, "maxValue": 64}]}}}},
     "outside"),
    ({"recipeArn": POPULARITY, "solutionConfig": {"hpoConfig": {"algorithmHyperParameterRanges": {
        "integerHyperParameterRanges": [{"name": "x", "minValue": 1, "maxValue": 2}]}}}},
     "no tunable"),
    ({"recipeArn": HRNN, "minProvisionedTPS": 0}, "minProvisionedTPS"),
]


def test_create_solution_refuses_invalid_input(personalize, group, started):
    for kwargs, fragment in INVALID:
        with pytest.raises(ClientError) as e:
            personalize.create_solution(name="bad", datasetGroupArn=group, **{"minProvisionedTPS": 1, **kwargs})
        assert code(e) == "InvalidInputException", kwargs
        assert fragment in message(e), (kwargs, message(e))
    assert started == []
    assert personalize.list_solutions()["solutions"] == []  # nothing half-written


def test_create_solution_accepts_valid_overrides(personalize, started):
    group = make_group(personalize, "events", schema=EVENT_SCHEMA)
    arn = personalize.create_solution(minProvisionedTPS=1,
        name="tuned", datasetGroupArn=group, recipeArn=HRNN, eventType="click",
        solutionConfig={
            "algorithmHyperParameters": {"model.num_hidden": "64", "training.epochs": "3"},
            "featureTransformationParameters": {"max_hist_length_percentile": "0.95"},
            "eventValueThreshold": "0.5", "retrainSchedule": "cron(0 12 * * ? *)",
            "hpoConfig": {"hpoObjective": {"type": "Maximize", "metricName": "precision_at_25"},
                          "hpoResourceConfig": {"maxNumberOfTrainingJobs": "4",
                                                "maxParallelTrainingJobs": "1"},
                          "algorithmHyperParameterRanges": {"integerHyperParameterRanges": [
                              {"name": "model.num_hidden", "minValue": 32, "maxValue": 128}]}}})["solutionArn"]
    solution = personalize.describe_solution(solutionArn=arn)["solution"]
    assert solution["eventType"] == "click"
    assert solution["solutionConfig"]["retrainingMode"] == "MANUAL"
    assert solution["solutionConfig"]["retrainSchedule"] == "cron(0 12 * * ? *)"
    from chalicelib.storage import schedules
    from tests.support import rules
    rule = rules.rule(schedules.rule_name("retrain", arn))
    assert rule["input"] == {"solutionArn": arn} and rule["schedule"] == "cron(0 12 * * ? *)"
    assert rule["arn"].endswith(":stateMachine:personalize-training")


def test_create_solution_resource_errors(personalize, group, started):
    missing_group = group.replace("movies", "nothing")
    with pytest.raises(ClientError) as e:
        personalize.create_solution(minProvisionedTPS=1, name="s", datasetGroupArn=missing_group, recipeArn=HRNN)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.create_solution(minProvisionedTPS=1, name="s", datasetGroupArn=group,
                                    recipeArn="arn:aws:personalize:::recipe/aws-nothing")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.create_solution(minProvisionedTPS=1, name="s", datasetGroupArn=group, performAutoML=True,
                                    solutionConfig={"autoMLConfig": {"recipeList": [
                                        "arn:aws:personalize::000000000000:recipe/none"]}})
    assert code(e) == "ResourceNotFoundException"
    empty = make_group(personalize, "empty", with_dataset=False)
    with pytest.raises(ClientError) as e:
        personalize.create_solution(minProvisionedTPS=1, name="s", datasetGroupArn=empty, recipeArn=HRNN)
    assert code(e) == "InvalidInputException" and "INTERACTIONS" in message(e)
    personalize.create_solution(minProvisionedTPS=1, name="s", datasetGroupArn=group, recipeArn=HRNN)
    with pytest.raises(ClientError) as e:
        personalize.create_solution(minProvisionedTPS=1, name="s", datasetGroupArn=group, recipeArn=SIMS)
    assert code(e) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        personalize.create_solution(minProvisionedTPS=1, name="bad name!", datasetGroupArn=group, recipeArn=HRNN)
    assert code(e) == "InvalidInputException"


def test_training_that_cannot_start_fails_the_version(personalize, group, monkeypatch):
    from chalicelib.workflows import starter

    def broken(name, payload, execution_name=None):
        raise RuntimeError("no state machine")

    monkeypatch.setattr(starter, "start_workflow", broken)
    arn = personalize.create_solution(minProvisionedTPS=1, name="s", datasetGroupArn=group, recipeArn=HRNN)["solutionArn"]
    solution = personalize.describe_solution(solutionArn=arn)["solution"]
    assert solution["status"] == "CREATE FAILED"
    assert "no state machine" in solution["latestSolutionVersion"]["failureReason"]


# ---- lifecycle driven by the training workflow ---------------------------------------------

def test_solution_status_follows_its_versions(personalize, group, started):
    from chalicelib.service import solution_versions as sv
    arn = personalize.create_solution(minProvisionedTPS=1, name="s", datasetGroupArn=group, recipeArn=HRNN)["solutionArn"]
    v1 = personalize.describe_solution(solutionArn=arn)["solution"]["latestSolutionVersion"]["solutionVersionArn"]
    sv.mark_solution_version(v1, "CREATE IN_PROGRESS")
    solution = personalize.describe_solution(solutionArn=arn)["solution"]
    assert solution["status"] == "CREATE IN_PROGRESS"
    assert solution["latestSolutionVersion"]["status"] == "CREATE IN_PROGRESS"
    sv.mark_solution_version(v1, "CREATE FAILED", failure_reason="not enough data")
    solution = personalize.describe_solution(solutionArn=arn)["solution"]
    assert solution["status"] == "CREATE FAILED"
    assert solution["latestSolutionVersion"]["failureReason"] == "not enough data"
    described = personalize.describe_solution_version(solutionVersionArn=v1)["solutionVersion"]
    assert described["status"] == "CREATE FAILED" and described["failureReason"] == "not enough data"
    # retrying a task is harmless, moving backwards is refused
    sv.mark_solution_version(v1, "CREATE FAILED", failure_reason="not enough data")
    from chalicelib.domain.lifecycle import TransitionRefused
    with pytest.raises(TransitionRefused):
        sv.mark_solution_version(v1, "CREATE IN_PROGRESS")
    # a new version (stock operation) trains; the failed solution becomes ACTIVE
    v2 = personalize.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    assert started[-1] == ("training", {"solutionVersionArn": v2})
    finish_training(v2)
    solution = personalize.describe_solution(solutionArn=arn)["solution"]
    assert solution["status"] == "ACTIVE"
    assert solution["latestSolutionVersion"] == {
        **solution["latestSolutionVersion"], "solutionVersionArn": v2, "status": "ACTIVE"}
    version = personalize.describe_solution_version(solutionVersionArn=v2)["solutionVersion"]
    assert version["trainingHours"] == 0.25 and version["recipeArn"] == HRNN
    assert version["solutionArn"] == arn and version["datasetGroupArn"] == group
    assert version["trainingMode"] == "FULL"


def test_automl_result_is_shown(personalize, group, started):
    arn = personalize.create_solution(minProvisionedTPS=1, name="auto", datasetGroupArn=group, performAutoML=True)["solutionArn"]
    v = personalize.describe_solution(solutionArn=arn)["solution"]["latestSolutionVersion"]["solutionVersionArn"]
    finish_training(v, best_recipe=HRNN)
    solution = personalize.describe_solution(solutionArn=arn)["solution"]
    assert solution["autoMLResult"] == {"bestRecipeArn": HRNN}
    assert solution["status"] == "ACTIVE"


def test_automl_result_must_be_a_listed_recipe(personalize, group, started):
    from chalicelib.service import solution_versions as sv
    arn = personalize.create_solution(minProvisionedTPS=1, name="auto", datasetGroupArn=group, performAutoML=True)["solutionArn"]
    v = personalize.describe_solution(solutionArn=arn)["solution"]["latestSolutionVersion"]["solutionVersionArn"]
    sv.mark_solution_version(v, "CREATE IN_PROGRESS")
    with pytest.raises(ValueError):
        sv.record_training_result(v, best_recipe_arn=SIMS)


def test_one_version_trains_at_a_time(personalize, group, started):
    arn = personalize.create_solution(minProvisionedTPS=1, name="s", datasetGroupArn=group, recipeArn=HRNN)["solutionArn"]
    with pytest.raises(ClientError) as e:
        personalize.create_solution_version(solutionArn=arn)
    assert code(e) == "ResourceInUseException"
    with pytest.raises(ClientError) as e:
        personalize.create_solution_version(solutionArn=arn + "x")
    assert code(e) == "ResourceNotFoundException"


def test_update_training_mode_needs_an_active_version(personalize, group, started):
    from chalicelib.service import solution_versions as sv
    arn = personalize.create_solution(minProvisionedTPS=1, name="s", datasetGroupArn=group, recipeArn=HRNN)["solutionArn"]
    v1 = personalize.describe_solution(solutionArn=arn)["solution"]["latestSolutionVersion"]["solutionVersionArn"]
    finish_training(v1, status="CREATE FAILED", failure_reason="x")
    with pytest.raises(ClientError) as e:
        personalize.create_solution_version(solutionArn=arn, trainingMode="UPDATE")
    assert code(e) == "InvalidInputException"
    v2 = personalize.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    finish_training(v2)
    v3 = personalize.create_solution_version(solutionArn=arn, trainingMode="UPDATE")["solutionVersionArn"]
    spec = sv.training_spec(v3)
    assert spec["trainingMode"] == "UPDATE" and spec["previousSolutionVersionArn"] == v2


def test_training_spec_resolves_what_to_train(personalize, started):
    from chalicelib.service import solution_versions as sv
    group = make_group(personalize, "ev", schema=EVENT_SCHEMA)
    arn = personalize.create_solution(minProvisionedTPS=1,
        name="spec", datasetGroupArn=group, recipeArn=HRNN, performHPO=False, eventType="click",
        solutionConfig={"algorithmHyperParameters": {"model.num_hidden": "64"},
                        "eventValueThreshold": "2.5"})["solutionArn"]
    v = personalize.describe_solution(solutionArn=arn)["solution"]["latestSolutionVersion"]["solutionVersionArn"]
    spec = sv.training_spec(v)
    assert spec["datasetGroupArn"] == group and spec["eventType"] == "click"
    assert spec["eventValueThreshold"] == 2.5 and spec["performHPO"] is False
    [candidate] = spec["candidates"]
    assert candidate["recipeName"] == "aws-hrnn" and candidate["recipeType"] == "USER_PERSONALIZATION"
    # only what the caller set: the trainer fills in the defaults and can tell them from a
    # choice (HRNN's training.epochs)
    assert candidate["algorithmHyperParameters"] == {"model.num_hidden": "64"}
    assert candidate["featureTransformationParameters"]["train_ratio"] == 0.9
    assert spec["modelPrefix"] == f"models/spec/{v.rsplit('/', 1)[1]}/"
    auto = personalize.create_solution(minProvisionedTPS=1, name="auto", datasetGroupArn=group, performAutoML=True)["solutionArn"]
    va = personalize.describe_solution(solutionArn=auto)["solution"]["latestSolutionVersion"]["solutionVersionArn"]
    spec = sv.training_spec(va)
    assert spec["autoMLMetric"] == "precision_at_25" and spec["performHPO"] is True
    assert [c["recipeName"] for c in spec["candidates"]] == ["aws-deepfm", "aws-ffnn", "aws-hrnn"]


def test_scheduled_version_is_created_or_skipped(personalize, group, started):
    from chalicelib.service import solution_versions as sv
    arn = personalize.create_solution(minProvisionedTPS=1, name="s", datasetGroupArn=group, recipeArn=HRNN)["solutionArn"]
    assert "skipped" in sv.start_scheduled_version(arn)        # the first version still trains
    v1 = personalize.describe_solution(solutionArn=arn)["solution"]["latestSolutionVersion"]["solutionVersionArn"]
    finish_training(v1)
    out = sv.start_scheduled_version(arn)
    assert out["solutionVersionArn"].startswith(arn + "/")
    assert "skipped" in sv.start_scheduled_version(arn + "-gone")


# ---- Describe / List ---------------------------------------------------------------------------

def test_describe_unknown_solution_and_version(personalize):
    arn = "arn:aws:personalize:us-east-1:000000000000:solution/none"
    with pytest.raises(ClientError) as e:
        personalize.describe_solution(solutionArn=arn)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.describe_solution_version(solutionVersionArn=arn + "/12345678")
    assert code(e) == "ResourceNotFoundException"
    for call, member in ((personalize.describe_solution, "solutionArn"),
                         (personalize.describe_solution_version, "solutionVersionArn"),
                         (personalize.delete_solution, "solutionArn"),
                         (personalize.create_solution_version, "solutionArn")):
        with pytest.raises(ClientError) as e:
            call(**{member: "not an arn"})
        assert code(e) == "InvalidInputException", call


def test_list_solutions_filters_and_pages(personalize, started):
    g1 = make_group(personalize, "g1")
    g2 = make_group(personalize, "g2")
    for i in range(5):
        personalize.create_solution(minProvisionedTPS=1, name=f"a{i}", datasetGroupArn=g1, recipeArn=HRNN)
    personalize.create_solution(minProvisionedTPS=1, name="b0", datasetGroupArn=g2, recipeArn=SIMS)
    assert len(personalize.list_solutions()["solutions"]) == 6
    names, token = [], None
    while True:
        kwargs = {"nextToken": token} if token else {}
        page = personalize.list_solutions(datasetGroupArn=g1, maxResults=2, **kwargs)
        assert len(page["solutions"]) <= 2
        names += [s["name"] for s in page["solutions"]]
        token = page.get("nextToken")
        if not token:
            break
    assert names == ["a4", "a3", "a2", "a1", "a0"]     # newest first
    summary = personalize.list_solutions(datasetGroupArn=g2)["solutions"][0]
    assert set(summary) >= {"name", "solutionArn", "status", "creationDateTime", "lastUpdatedDateTime"}
    with pytest.raises(ClientError) as e:
        personalize.list_solutions(nextToken="garbage")
    assert code(e) == "InvalidNextTokenException"
    with pytest.raises(ClientError) as e:
        personalize.list_solutions(maxResults=101)
    assert code(e) == "InvalidInputException"
    paginator = personalize.get_paginator("list_solutions")
    assert sum(len(p["solutions"]) for p in paginator.paginate(PaginationConfig={"PageSize": 4})) == 6


def test_list_solution_versions(personalize, group, started):
    arn, v1 = trained_solution(personalize, group)
    v2 = personalize.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    listed = personalize.list_solution_versions(solutionArn=arn)["solutionVersions"]
    assert [v["solutionVersionArn"] for v in listed] == [v2, v1]
    assert [v["status"] for v in listed] == ["CREATE PENDING", "ACTIVE"]
    page = personalize.list_solution_versions(solutionArn=arn, maxResults=1)
    assert len(page["solutionVersions"]) == 1 and page["nextToken"]
    rest = personalize.list_solution_versions(solutionArn=arn, nextToken=page["nextToken"])
    assert [v["solutionVersionArn"] for v in rest["solutionVersions"]] == [v1]
    assert len(personalize.list_solution_versions()["solutionVersions"]) == 2
    with pytest.raises(ClientError) as e:
        personalize.list_solution_versions(solutionArn=arn + "-none")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.list_solution_versions(solutionArn="bad")
    assert code(e) == "InvalidInputException"


# ---- UpdateSolution --------------------------------------------------------------------------

def test_update_solution_changes_config_without_training(personalize, group, started):
    arn, _ = trained_solution(personalize, group)
    before = len(started)
    personalize.update_solution(solutionArn=arn, solutionConfig={
        "algorithmHyperParameters": {"training.epochs": "5"}, "retrainSchedule": "rate(1 day)"})
    assert len(started) == before          # "doesn't trigger retraining"
    config = personalize.describe_solution(solutionArn=arn)["solution"]["solutionConfig"]
    assert config["algorithmHyperParameters"] == {"training.epochs": "5"}
    assert config["retrainingMode"] == "MANUAL" and config["retrainSchedule"] == "rate(1 day)"
    from chalicelib.storage import schedules
    name = schedules.rule_name("retrain", arn)
    assert schedules.get_schedule(name) == "rate(1 day)"
    personalize.update_solution(solutionArn=arn, solutionConfig={"retrainSchedule": ""})
    config = personalize.describe_solution(solutionArn=arn)["solution"]["solutionConfig"]
    assert "retrainSchedule" not in config and config["retrainingMode"] == "MANUAL"
    assert schedules.get_schedule(name) is None
    assert config["algorithmHyperParameters"] == {"training.epochs": "5"}   # other members kept


def test_update_solution_errors(personalize, group, started):
    with pytest.raises(ClientError) as e:
        personalize.update_solution(solutionArn=group.replace("dataset-group", "solution"))
    assert code(e) == "ResourceNotFoundException"
    pending = personalize.create_solution(minProvisionedTPS=1, name="p", datasetGroupArn=group, recipeArn=HRNN)["solutionArn"]
    with pytest.raises(ClientError) as e:
        personalize.update_solution(solutionArn=pending, solutionConfig={"eventValueThreshold": "1"})
    assert code(e) == "InvalidInputException" and "ACTIVE" in message(e)
    arn, _ = trained_solution(personalize, group, name="t")
    with pytest.raises(ClientError) as e:
        personalize.update_solution(solutionArn=arn, solutionConfig={
            "algorithmHyperParameters": {"model.num_layers": "9"}})
    assert code(e) == "InvalidInputException" and "model.num_layers" in message(e)


# ---- DeleteSolution --------------------------------------------------------------------------

def test_delete_solution(personalize, group, started, s3):
    arn, v1 = trained_solution(personalize, group)
    key = f"models/{v1[-8:]}/model.npz"          # the modelKey finish_training recorded
    s3.put_object(Bucket="personalize-data", Key=key, Body=b"model")
    channel = f"models/sol/{v1[-8:]}/input/train/part-0"
    s3.put_object(Bucket="personalize-internal", Key=channel, Body=b"data")
    personalize.delete_solution(solutionArn=arn)
    with pytest.raises(ClientError) as e:
        personalize.describe_solution(solutionArn=arn)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.describe_solution_version(solutionVersionArn=v1)
    assert code(e) == "ResourceNotFoundException"
    assert s3.list_objects_v2(Bucket="personalize-data", Prefix=key).get("KeyCount") == 0
    assert s3.list_objects_v2(Bucket="personalize-internal", Prefix="models/sol/").get("KeyCount") == 0
    with pytest.raises(ClientError) as e:
        personalize.delete_solution(solutionArn=arn)
    assert code(e) == "ResourceNotFoundException"
    # the dataset group can go once its solutions are gone
    personalize.create_solution(minProvisionedTPS=1, name="again", datasetGroupArn=group, recipeArn=HRNN)


def test_delete_solution_refused_while_training_or_deployed(personalize, group, started):
    pending = personalize.create_solution(minProvisionedTPS=1, name="p", datasetGroupArn=group, recipeArn=HRNN)["solutionArn"]
    with pytest.raises(ClientError) as e:
        personalize.delete_solution(solutionArn=pending)
    assert code(e) == "ResourceInUseException"
    arn, v1 = trained_solution(personalize, group, name="t")
    v2 = personalize.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    with pytest.raises(ClientError) as e:
        personalize.delete_solution(solutionArn=arn)
    assert code(e) == "ResourceInUseException" and v2 in message(e)
    finish_training(v2)
    personalize.create_campaign(name="c", solutionVersionArn=v2)
    with pytest.raises(ClientError) as e:
        personalize.delete_solution(solutionArn=arn)
    assert code(e) == "ResourceInUseException" and "campaign" in message(e)
    assert personalize.describe_solution(solutionArn=arn)["solution"]["status"] == "ACTIVE"


def test_dataset_group_with_a_solution_cannot_be_deleted(personalize, group, started):
    personalize.create_solution(minProvisionedTPS=1, name="s", datasetGroupArn=group, recipeArn=HRNN)
    for ds in personalize.list_datasets(datasetGroupArn=group)["datasets"]:
        personalize.delete_dataset(datasetArn=ds["datasetArn"])
    with pytest.raises(ClientError) as e:
        personalize.delete_dataset_group(datasetGroupArn=group)
    assert code(e) == "ResourceInUseException"


def test_solution_is_not_kept_without_its_retraining_rule(personalize, group, started, monkeypatch):
    from chalicelib.storage import schedules

    def broken(*args, **kwargs):
        raise RuntimeError("EventBridge is down")

    monkeypatch.setattr(schedules, "put_schedule", broken)
    # called on the handler: through boto3 the 500 would be retried with backoff for seconds
    from chalicelib.service import solutions
    with pytest.raises(RuntimeError):
        solutions.create_solution({"name": "s", "datasetGroupArn": group, "recipeArn": HRNN,
                                   "solutionConfig": {"retrainSchedule": "rate(1 day)"}})
    assert personalize.list_solutions()["solutions"] == []
    assert personalize.list_solution_versions()["solutionVersions"] == []
    assert started == []


@pytest.fixture
def serializable_transactions(monkeypatch):
    """DynamoDB runs transactions serializably; moto does not (a failing transaction restores
    a snapshot of the whole table, undoing other threads' writes), so serialize them here."""
    import threading
    from moto.dynamodb.models import DynamoDBBackend
    lock = threading.Lock()
    original = DynamoDBBackend.transact_write_items

    def serialized(self, transact_items):
        with lock:
            return original(self, transact_items)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", serialized)


def test_concurrent_versions_one_trains(personalize, threaded_personalize, group, started,
                                        serializable_transactions):
    """Ten CreateSolutionVersion calls at once: one version, nine ResourceInUseException."""
    from concurrent.futures import ThreadPoolExecutor
    arn, _ = trained_solution(personalize, group)

    def attempt(_):
        try:
            return threaded_personalize.create_solution_version(solutionArn=arn)["solutionVersionArn"]
        except ClientError as e:
            return e.response["Error"]["Code"]

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(attempt, range(10)))
    created = [o for o in outcomes if o.startswith("arn:")]
    assert len(created) == 1 and outcomes.count("ResourceInUseException") == 9
    assert len(personalize.list_solution_versions(solutionArn=arn)["solutionVersions"]) == 2
