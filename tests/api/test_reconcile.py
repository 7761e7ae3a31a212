"""Issue 16, item 2: a resource left in flight by a workflow that no longer runs (a stopped
stack, a killed worker, an aborted execution) is moved to its failed status by the reconciler
(chalicelib/workflows/reconcile.py), saying it was interrupted, and the API can delete or
retry it. Here the workflows are never run: `start_workflow` hands out execution ARNs that the
in-process Step Functions knows as ABORTED, RUNNING, or not at all."""
import pytest
from botocore.exceptions import ClientError

from chalicelib.workflows import reconcile
from tests.api.test_import_jobs import BUCKET, create, dataset  # noqa: F401
from tests.api.test_solutions import HRNN, group  # noqa: F401

MACHINE = "arn:aws:states:us-east-1:000000000000:execution:personalize-local-{}:{}"


@pytest.fixture
def killed(monkeypatch):
    """start_workflow starts nothing; each execution then has `killed.status` (None: unknown
    to Step Functions, as after an emulator restart)."""
    from chalicelib.workflows import starter
    from tests.support import stepfunctions as sfn

    class Killed:
        status = "ABORTED"
        started = []

    def start(name, payload, execution_name=None):
        arn = MACHINE.format(name, len(Killed.started))
        Killed.started.append(arn)
        if Killed.status:
            execution = sfn.Execution(arn, name, "killed", payload, status=Killed.status)
            with sfn._lock:
                sfn._executions[arn] = execution
        return arn

    monkeypatch.setattr(starter, "start_workflow", start)
    return Killed


def error(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_an_interrupted_training_fails_and_the_solution_can_train_again(personalize, group, killed):  # noqa: F811
    solution = personalize.create_solution(name="s", datasetGroupArn=group, recipeArn=HRNN,
                                        minProvisionedTPS=1)["solutionArn"]
    version = personalize.describe_solution(solutionArn=solution)["solution"]["latestSolutionVersion"]
    arn = version["solutionVersionArn"]
    with pytest.raises(ClientError) as e:
        personalize.delete_solution(solutionArn=solution)
    assert error(e) == "ResourceInUseException"
    moved = reconcile.reconcile()
    assert [m["arn"] for m in moved] == [arn]
    described = personalize.describe_solution_version(solutionVersionArn=arn)["solutionVersion"]
    assert described["status"] == "CREATE FAILED"
    assert described["failureReason"] == (
        f"The training was interrupted (its workflow execution {killed.started[0]} ended "
        "ABORTED); create a new version")
    # the solution followed its first version, and its training lock is released
    assert personalize.describe_solution(solutionArn=solution)["solution"]["status"] == "CREATE FAILED"
    personalize.create_solution_version(solutionArn=solution)
    assert reconcile.reconcile() != []     # that one was killed too
    personalize.delete_solution(solutionArn=solution)
    assert reconcile.reconcile() == []


def test_a_running_execution_is_left_alone(personalize, group, killed):  # noqa: F811
    killed.status = "RUNNING"
    solution = personalize.create_solution(name="s", datasetGroupArn=group, recipeArn=HRNN,
                                        minProvisionedTPS=1)["solutionArn"]
    assert reconcile.reconcile(grace_seconds=0) == []
    version = personalize.describe_solution(solutionArn=solution)["solution"]["latestSolutionVersion"]
    assert version["status"] == "CREATE PENDING"


def test_a_stopping_training_becomes_stopped(personalize, group, killed):  # noqa: F811
    from chalicelib.service import solution_versions as sv
    solution = personalize.create_solution(name="s", datasetGroupArn=group, recipeArn=HRNN,
                                        minProvisionedTPS=1)["solutionArn"]
    arn = personalize.describe_solution(solutionArn=solution)["solution"]["latestSolutionVersion"][
        "solutionVersionArn"]
    sv.mark_solution_version(arn, "CREATE IN_PROGRESS")
    personalize.stop_solution_version_creation(solutionVersionArn=arn)
    reconcile.reconcile()
    assert personalize.describe_solution_version(
        solutionVersionArn=arn)["solutionVersion"]["status"] == "CREATE STOPPED"
    personalize.create_solution_version(solutionArn=solution)   # the lock is released


def test_an_interrupted_import_releases_the_dataset(personalize, dataset, killed):  # noqa: F811
    killed.status = None     # the emulator restarted: it knows no such execution
    job = create(personalize, dataset)
    with pytest.raises(ClientError) as e:
        personalize.delete_dataset_import_job(datasetImportJobArn=job)
    assert error(e) == "ResourceInUseException"
    reconcile.reconcile()
    described = personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
    assert described["status"] == "CREATE FAILED"
    run = described["latestDatasetImportJobRun"]
    assert run["status"] == "CREATE FAILED"
    assert run["failureReason"] == (
        f"The import was interrupted (its workflow execution {killed.started[0]} no longer "
        "exists); run it again with UpdateDatasetImportJob")
    from chalicelib.storage.resources import store
    assert "importRunArn" not in store().get(dataset)
    personalize.update_dataset_import_job(datasetImportJobArn=job)     # a retry may start
    reconcile.reconcile()
    personalize.delete_dataset_import_job(datasetImportJobArn=job)


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("resource_type,status,failed", [
    ("campaign", "CREATE IN_PROGRESS", "CREATE FAILED"),
    ("batch-inference-job", "CREATE PENDING", "CREATE FAILED"),
    ("batch-segment-job", "CREATE IN_PROGRESS", "CREATE FAILED"),
    ("dataset-export-job", "CREATE IN_PROGRESS", "CREATE FAILED"),
    ("feature-export-job", "CREATE PENDING", "CREATE FAILED"),
    ("data-deletion-job", "IN_PROGRESS", "FAILED"),
])
def test_without_an_execution_arn_the_grace_period_decides(resource_type, status, failed):
    from chalicelib.domain import arns
    from chalicelib.storage.resources import store
    arn = arns.build(resource_type, "stuck")
    store().put_new({"arn": arn, "status": status, "lastUpdatedDateTime": 0}, resource_type)
    fresh = arns.build(resource_type, "fresh")
    store().put_new({"arn": fresh, "status": status}, resource_type)
    from chalicelib.storage.resources import now
    store().update(fresh, {"lastUpdatedDateTime": now()})
    moved = reconcile.reconcile()
    assert [m["arn"] for m in moved] == [arn]
    record = store().get(arn)
    assert record["status"] == failed
    assert record["failureReason"].startswith("The ")
    assert "was interrupted (no workflow execution is running it)" in record["failureReason"]
    assert store().get(fresh)["status"] == status


@pytest.mark.usefixtures("aws")
def test_a_campaign_update_in_flight_fails_and_the_campaign_keeps_serving():
    from chalicelib.domain import arns
    from chalicelib.service.campaigns import UPDATE_ID
    from chalicelib.storage.resources import store
    arn = arns.build("campaign", "c")
    store().put_new({"arn": arn, "status": "ACTIVE", "solutionVersionArn": "v1",
                     "executionArn": MACHINE.format("campaign", "gone"), UPDATE_ID: "u1",
                     "latestCampaignUpdate": {"status": "CREATE IN_PROGRESS", UPDATE_ID: "u1",
                                              "solutionVersionArn": "v2"}}, "campaign")
    reconcile.reconcile()
    record = store().get(arn)
    assert record["status"] == "ACTIVE" and record["solutionVersionArn"] == "v1"
    assert record["latestCampaignUpdate"]["status"] == "CREATE FAILED"
    assert "The deployment was interrupted" in record["latestCampaignUpdate"]["failureReason"]


def test_the_maintenance_workflow_reconciles(personalize, dataset, monkeypatch):  # noqa: F811
    from chalicelib.workflows import starter
    from tests.support import stepfunctions as sfn
    real = starter.start_workflow
    monkeypatch.setattr(starter, "start_workflow",
                        lambda name, payload, execution_name=None:
                        real(name, payload) if name == "maintenance" else MACHINE.format(name, "x"))
    job = create(personalize, dataset)
    arn = starter.start_workflow("maintenance", {})
    assert sfn.get_execution(arn).status == "SUCCEEDED"
    assert sfn.get_execution(arn).output["reconciled"]["reconciled"] == 1
    described = personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
    assert described["status"] == "CREATE FAILED"


def test_an_import_job_left_behind_its_ended_run_follows_it(personalize, dataset, killed):  # noqa: F811
    """A kill between a run's move and the job's (two writes) left the job CREATE IN_PROGRESS
    and the dataset locked with the run ended: the reconciler brings both in step."""
    from chalicelib.storage.resources import store
    job = create(personalize, dataset)
    reconcile.reconcile()                       # the run and (in the same call) the job fail
    run = personalize.describe_dataset_import_job(
        datasetImportJobArn=job)["datasetImportJob"]["latestDatasetImportJobRun"]
    store().update(job, {"status": "CREATE IN_PROGRESS"}, remove=["failureReason"])
    store().update(dataset, {"importRunArn": run["datasetImportJobRunArn"]})
    moved = reconcile.reconcile()
    assert [m["arn"] for m in moved] == [job]
    described = personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
    assert (described["status"], described["failureReason"]) == ("CREATE FAILED", run["failureReason"])
    assert "importRunArn" not in store().get(dataset)
    assert reconcile.reconcile() == []          # in step: nothing more to move


def test_a_solution_left_behind_its_ended_version_follows_it(personalize, group, killed):  # noqa: F811
    from chalicelib.service.solution_versions import TRAINING_LOCK
    from chalicelib.storage.resources import store
    solution = personalize.create_solution(name="s", datasetGroupArn=group, recipeArn=HRNN,
                                           minProvisionedTPS=1)["solutionArn"]
    reconcile.reconcile()
    version = personalize.describe_solution(solutionArn=solution)["solution"]["latestSolutionVersion"]
    store().update(solution, {"status": "CREATE IN_PROGRESS",
                              TRAINING_LOCK: version["solutionVersionArn"]})
    moved = reconcile.reconcile()
    assert [m["arn"] for m in moved] == [solution]
    assert personalize.describe_solution(solutionArn=solution)["solution"]["status"] == "CREATE FAILED"
    assert TRAINING_LOCK not in store().get(solution)
    personalize.delete_solution(solutionArn=solution)
