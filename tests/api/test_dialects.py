"""The two dialects through boto3 (issue 12 item 1; `chalicelib.service.dialects`): today's flow
with the stock botocore model (`stock_personalize`), the preview's with the shipped models
(`personalize`). The training workflow runs for real, in process (tests/support/stepfunctions.py),
on a small generated dataset; EventBridge is moto's."""
import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.datasets import sample
import chalicelib.workflows.training  # noqa: F401 - registers the in-process trainer Lambda
from tests.support import rules
from tests.workflows.test_training_workflow import make_group

POPULARITY = "arn:aws:personalize:::recipe/aws-popularity-count"
HRNN = "arn:aws:personalize:::recipe/aws-hrnn"
FAST_HRNN = {"algorithmHyperParameters": {"training.epochs": "2", "model.num_hidden": "32",
                                          "training.batch_size": "8"}}
TODAYS_METRICS = {
    "coverage", "mean_reciprocal_rank_at_25", "normalized_discounted_cumulative_gain_at_5",
    "normalized_discounted_cumulative_gain_at_10", "normalized_discounted_cumulative_gain_at_25",
    "precision_at_5", "precision_at_10", "precision_at_25",
}


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def message(excinfo):
    return excinfo.value.response["Error"]["Message"]


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("dialects")
    return sample.generate(str(out), seed=5, n_users=50, n_items=120, n_interactions=1200)


@pytest.fixture
def group(personalize, s3, sample_files):
    return make_group(personalize, s3, sample_files, name="today")


def retrain_rule(solution_arn):
    from chalicelib.storage import schedules
    return rules.rule(schedules.rule_name("retrain", solution_arn))


def describe_rule(solution_arn):
    from chalicelib.storage import schedules
    return boto3.client("events", region_name="us-east-1").describe_rule(
        Name=schedules.rule_name("retrain", solution_arn))


# ---- today's flow --------------------------------------------------------------------------

def test_todays_flow_trains_on_create_solution_version(stock_personalize, group):
    client = stock_personalize
    arn = client.create_solution(name="pop", datasetGroupArn=group, recipeArn=POPULARITY)["solutionArn"]
    solution = client.describe_solution(solutionArn=arn)["solution"]
    assert solution["status"] == "ACTIVE" and "latestSolutionVersion" not in solution
    assert solution["performHPO"] is False and solution["performAutoTraining"] is True
    assert client.list_solution_versions(solutionArn=arn)["solutionVersions"] == []
    # performAutoTraining defaults to true: every 7 days
    assert describe_rule(arn)["ScheduleExpression"] == "rate(7 days)"

    version = client.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    described = client.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert described["status"] == "ACTIVE", described.get("failureReason")
    assert described["trainingMode"] == "FULL" and described["trainingType"] == "MANUAL"
    summary = client.describe_solution(solutionArn=arn)["solution"]["latestSolutionVersion"]
    assert summary["solutionVersionArn"] == version and summary["trainingType"] == "MANUAL"

    metrics = client.get_solution_metrics(solutionVersionArn=version)
    assert metrics["solutionVersionArn"] == version
    assert TODAYS_METRICS <= set(metrics["metrics"]) and "mean_reciprocal_rank" not in metrics["metrics"]


def test_get_metrics_keeps_the_seeds_answer(personalize, stock_personalize, group):
    arn = stock_personalize.create_solution(name="pop", datasetGroupArn=group,
                                            recipeArn=POPULARITY)["solutionArn"]
    version = stock_personalize.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    answer = personalize.get_metrics(solutionArn=arn)["metrics"]
    (model, metrics), = answer.items()
    assert model.endswith(f":model/awspersonalizepopularitycountmodel-{version.rsplit('/', 1)[1]}")
    assert metrics["mean_reciprocal_rank"] == metrics["mean_reciprocal_rank_at_25"]
    today = stock_personalize.get_solution_metrics(solutionVersionArn=version)["metrics"]
    assert {k: v for k, v in metrics.items() if k != "mean_reciprocal_rank"} == today


def test_preview_shaped_create_solution_still_trains_at_once(personalize, group):
    arn = personalize.create_solution(name="preview", datasetGroupArn=group, recipeArn=POPULARITY,
                                      minProvisionedTPS=1)["solutionArn"]
    solution = personalize.describe_solution(solutionArn=arn)["solution"]
    assert solution["status"] == "ACTIVE" and solution["performHPO"] is True    # the seed's default
    assert solution["latestSolutionVersion"]["status"] == "ACTIVE"
    assert solution["solutionConfig"]["retrainingMode"] == "AUTO"
    assert describe_rule(arn)["ScheduleExpression"] == "rate(7 days)"
    with pytest.raises(ClientError) as e:   # a request with members of both APIs
        personalize.create_solution(name="mixed", datasetGroupArn=group, recipeArn=POPULARITY,
                                    minProvisionedTPS=1, performAutoTraining=False)
    assert code(e) == "InvalidInputException"
    assert "performAutoTraining" in message(e) and "minProvisionedTPS" in message(e)


def test_update_mode_needs_an_updatable_recipe_and_an_active_version(stock_personalize, group):
    client = stock_personalize
    hrnn = client.create_solution(name="hrnn", datasetGroupArn=group, recipeArn=HRNN,
                                  solutionConfig=FAST_HRNN)["solutionArn"]
    with pytest.raises(ClientError) as e:
        client.create_solution_version(solutionArn=hrnn, trainingMode="UPDATE")
    assert code(e) == "InvalidInputException" and "trainingMode" in message(e)
    full = client.create_solution_version(solutionArn=hrnn)["solutionVersionArn"]
    first = client.describe_solution_version(solutionVersionArn=full)["solutionVersion"]
    assert first["status"] == "ACTIVE", first.get("failureReason")
    update = client.create_solution_version(solutionArn=hrnn, trainingMode="UPDATE")["solutionVersionArn"]
    updated = client.describe_solution_version(solutionVersionArn=update)["solutionVersion"]
    assert updated["status"] == "ACTIVE", updated.get("failureReason")
    assert updated["trainingMode"] == "UPDATE"
    assert client.get_solution_metrics(solutionVersionArn=update)["metrics"]

    pop = client.create_solution(name="pop", datasetGroupArn=group, recipeArn=POPULARITY)["solutionArn"]
    client.create_solution_version(solutionArn=pop)
    with pytest.raises(ClientError) as e:
        client.create_solution_version(solutionArn=pop, trainingMode="UPDATE")
    assert code(e) == "InvalidInputException"
    assert "trainingMode" in message(e) and "aws-popularity-count" in message(e)


# ---- StopSolutionVersionCreation -----------------------------------------------------------

def test_stop_a_training_in_progress(stock_personalize, threaded_personalize, group, monkeypatch):
    """The trainer asks the stop check at its first progress report, after the stop arrived
    through the API: it ends there, the version is CREATE STOPPED and holds no model."""
    from chalicelib.training import lambda_trainer
    original, checks = lambda_trainer.handle, []

    def handle(event, should_stop=None, **kw):
        def stop_then_check():
            if not checks:
                threaded_personalize.stop_solution_version_creation(
                    solutionVersionArn=event["solutionVersionArn"])
            checks.append(should_stop())
            return checks[-1]
        return original(event, should_stop=stop_then_check, **kw)
    monkeypatch.setattr(lambda_trainer, "handle", handle)

    client = stock_personalize
    arn = client.create_solution(name="hrnn", datasetGroupArn=group, recipeArn=HRNN,
                                 solutionConfig=FAST_HRNN)["solutionArn"]
    version = client.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    described = client.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert described["status"] == "CREATE STOPPED"
    assert checks == [True]              # stopped at the first report, nothing trained after it
    assert "trainingHours" not in described
    from chalicelib.service import solution_versions
    assert "modelKey" not in solution_versions.get(version)
    with pytest.raises(ClientError) as e:
        client.get_solution_metrics(solutionVersionArn=version)
    assert code(e) == "ResourceInUseException"
    with pytest.raises(ClientError) as e:   # a version that ended cannot be stopped
        client.stop_solution_version_creation(solutionVersionArn=version)
    assert code(e) == "ResourceInUseException"
    solution = client.describe_solution(solutionArn=arn)["solution"]
    assert solution["status"] == "ACTIVE"   # today's solution stays ACTIVE; the lock is released:
    monkeypatch.setattr(lambda_trainer, "handle", original)
    again = client.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    assert client.describe_solution_version(solutionVersionArn=again)["solutionVersion"]["status"] == "ACTIVE"


def test_stop_a_pending_version(stock_personalize, group, monkeypatch):
    """CREATE PENDING -> CREATE STOPPED at once; the workflow, when it runs, trains nothing."""
    from chalicelib.workflows import starter
    held = []
    real_start = starter.start_workflow
    monkeypatch.setattr(starter, "start_workflow", lambda name, payload, execution_name=None:
                        held.append((name, payload)))
    client = stock_personalize
    arn = client.create_solution(name="pop", datasetGroupArn=group, recipeArn=POPULARITY)["solutionArn"]
    version = client.create_solution_version(solutionArn=arn)["solutionVersionArn"]
    assert client.describe_solution_version(solutionVersionArn=version)["solutionVersion"]["status"] \
        == "CREATE PENDING"
    client.stop_solution_version_creation(solutionVersionArn=version)
    assert client.describe_solution_version(solutionVersionArn=version)["solutionVersion"]["status"] \
        == "CREATE STOPPED"
    monkeypatch.setattr(starter, "start_workflow", real_start)
    real_start(*held[0])                 # the execution that was queued
    described = client.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert described["status"] == "CREATE STOPPED" and "trainingHours" not in described
    from chalicelib.storage import objects
    assert objects.list_prefix(objects.internal_uri("models/pop/")) == []


# ---- automatic training --------------------------------------------------------------------

def test_update_solution_schedules_automatic_training(stock_personalize, group):
    client = stock_personalize
    arn = client.create_solution(name="auto", datasetGroupArn=group, recipeArn=POPULARITY,
                                 performAutoTraining=False)["solutionArn"]
    assert retrain_rule(arn) is None
    client.update_solution(solutionArn=arn, performAutoTraining=True, solutionUpdateConfig={
        "autoTrainingConfig": {"schedulingExpression": "rate(3 days)"}})
    assert describe_rule(arn)["ScheduleExpression"] == "rate(3 days)"
    solution = client.describe_solution(solutionArn=arn)["solution"]
    assert solution["performAutoTraining"] is True
    assert solution["solutionConfig"]["autoTrainingConfig"]["schedulingExpression"] == "rate(3 days)"
    update = solution["latestSolutionUpdate"]
    assert update["status"] == "ACTIVE" and update["performAutoTraining"] is True
    assert update["solutionUpdateConfig"]["autoTrainingConfig"]["schedulingExpression"] == "rate(3 days)"

    # when the rule fires, the solution trains a FULL version of trainingType AUTOMATIC
    from chalicelib.storage import schedules
    rules.fire(schedules.rule_name("retrain", arn))
    (summary,) = client.list_solution_versions(solutionArn=arn)["solutionVersions"]
    assert summary["status"] == "ACTIVE" and summary["trainingType"] == "AUTOMATIC"
    assert summary["trainingMode"] == "FULL"

    client.update_solution(solutionArn=arn, performAutoTraining=False)
    assert retrain_rule(arn) is None
    assert client.describe_solution(solutionArn=arn)["solution"]["latestSolutionUpdate"][
        "performAutoTraining"] is False
    with pytest.raises(ClientError) as e:
        client.update_solution(solutionArn=arn, solutionUpdateConfig={
            "autoTrainingConfig": {"schedulingExpression": "rate(45 days)"}})
    assert code(e) == "InvalidInputException" and "schedulingExpression" in message(e)


def test_create_solution_with_its_own_training_schedule(stock_personalize, group):
    arn = stock_personalize.create_solution(
        name="weekly", datasetGroupArn=group, recipeArn=POPULARITY,
        solutionConfig={"autoTrainingConfig": {"schedulingExpression": "rate(1 day)"}})["solutionArn"]
    assert describe_rule(arn)["ScheduleExpression"] == "rate(1 day)"
    with pytest.raises(ClientError) as e:
        stock_personalize.create_solution(
            name="never", datasetGroupArn=group, recipeArn=POPULARITY,
            solutionConfig={"autoTrainingConfig": {"schedulingExpression": "rate(2 day)"}})
    assert code(e) == "InvalidInputException" and "schedulingExpression" in message(e)
