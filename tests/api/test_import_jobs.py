"""Dataset import jobs and runs as a boto3 user sees them (seed: "Importing your
Data"; CreateDatasetImportJob, DescribeDatasetImportJob, ListDatasetImportJobs,
UpdateDatasetImportJob, DeleteDatasetImportJob, DescribeDatasetImportJobRun,
ListDatasetImportJobRuns). Workflows run in process (tests/support/stepfunctions.py)."""
import json

import pytest
from botocore.exceptions import ClientError
from tests.support import rules
from tests.support import stepfunctions as sfn

ROLE = "arn:aws:iam::123456789012:role/PersonalizeS3"
BUCKET = "personalize-data"
SCHEMA = json.dumps({"type": "record", "name": "Interactions",
                     "namespace": "com.amazonaws.personalize.schema",
                     "fields": [{"name": "USER_ID", "type": "string"},
                                {"name": "ITEM_ID", "type": "string"},
                                {"name": "TIMESTAMP", "type": "long"}], "version": "1.0"})
GOOD = b"USER_ID,ITEM_ID,TIMESTAMP\r\n1,10,964982703\r\n1,20,964981247\r\n2,10,964982224\r\n"


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def settle():
    sfn.wait_executions()


@pytest.fixture
def dataset(personalize, s3):
    group = personalize.create_dataset_group(name="MovieRatingDatasetGroup")["datasetGroupArn"]
    schema = personalize.create_schema(name="MovieRatingSchema", schema=SCHEMA)["schemaArn"]
    arn = personalize.create_dataset(name="ratings", datasetGroupArn=group, schemaArn=schema,
                                     datasetType="Interactions")["datasetArn"]
    s3.put_object(Bucket=BUCKET, Key="ratings.csv", Body=GOOD)
    return arn


def create(personalize, dataset, name="MovieRatingImportJob", location=f"s3://{BUCKET}/ratings.csv",
           **extra):
    return personalize.create_dataset_import_job(
        jobName=name, datasetArn=dataset, dataSource={"dataLocation": location}, roleArn=ROLE,
        **extra)["datasetImportJobArn"]


def test_import_runs_to_active(personalize, dataset):
    arn = create(personalize, dataset)
    assert arn == "arn:aws:personalize:us-east-1:000000000000:dataset-import-job/MovieRatingImportJob"
    settle()
    job = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    assert (job["jobName"], job["datasetArn"], job["roleArn"], job["status"]) == \
        ("MovieRatingImportJob", dataset, ROLE, "ACTIVE")
    assert job["dataSource"] == {"dataLocation": f"s3://{BUCKET}/ratings.csv"}
    latest = job["latestDatasetImportJobRun"]
    assert latest["status"] == "ACTIVE", latest
    assert latest["datasetImportJobRunArn"].startswith(arn + "/")
    run = personalize.describe_dataset_import_job_run(
        datasetImportJobRunArn=latest["datasetImportJobRunArn"])["datasetImportJobRun"]
    assert (run["datasetArn"], run["datasetImportJobArn"], run["roleArn"], run["status"]) == \
        (dataset, arn, ROLE, "ACTIVE")
    assert run["dataSource"] == job["dataSource"]
    from chalicelib.storage.resources import store
    stored = store().get(dataset)
    assert stored["dataVersionRunArn"] == run["datasetImportJobRunArn"]
    assert "importRunArn" not in stored  # the lock is released


def test_bad_data_fails_the_run_with_a_reason(personalize, dataset, s3):
    s3.put_object(Bucket=BUCKET, Key="bad.csv", Body=b"USER_ID,ITEM_ID\n1,2\n")
    arn = create(personalize, dataset, location=f"s3://{BUCKET}/bad.csv")
    settle()
    latest = personalize.describe_dataset_import_job(
        datasetImportJobArn=arn)["datasetImportJob"]["latestDatasetImportJobRun"]
    assert latest["status"] == "CREATE FAILED"
    assert "TIMESTAMP" in latest["failureReason"]
    from chalicelib.storage.resources import store
    stored = store().get(dataset)
    assert "dataVersion" not in stored and "importRunArn" not in stored


def test_update_starts_a_new_run_and_latest_follows(personalize, dataset, s3):
    arn = create(personalize, dataset)
    settle()
    first = personalize.describe_dataset_import_job(
        datasetImportJobArn=arn)["datasetImportJob"]["latestDatasetImportJobRun"]
    s3.put_object(Bucket=BUCKET, Key="more.csv", Body=GOOD + b"3,30,964982000\r\n")
    assert personalize.update_dataset_import_job(
        datasetImportJobArn=arn, dataSource={"dataLocation": f"s3://{BUCKET}/more.csv"}
    )["datasetImportJobArn"] == arn
    settle()
    job = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    second = job["latestDatasetImportJobRun"]
    assert second["datasetImportJobRunArn"] != first["datasetImportJobRunArn"]
    assert second["status"] == "ACTIVE"
    assert job["dataSource"]["dataLocation"].endswith("more.csv")
    runs = personalize.list_dataset_import_job_runs(datasetImportJobArn=arn)["datasetImportJobRuns"]
    assert [r["datasetImportJobRunArn"] for r in runs] == \
        [second["datasetImportJobRunArn"], first["datasetImportJobRunArn"]]
    page = personalize.list_dataset_import_job_runs(datasetImportJobArn=arn, maxResults=1)
    assert len(page["datasetImportJobRuns"]) == 1
    rest = personalize.list_dataset_import_job_runs(datasetImportJobArn=arn, nextToken=page["nextToken"])
    assert rest["datasetImportJobRuns"][0]["datasetImportJobRunArn"] == first["datasetImportJobRunArn"]
    assert len(personalize.list_dataset_import_job_runs()["datasetImportJobRuns"]) == 2


def test_one_run_per_dataset_at_a_time(personalize, dataset):
    from chalicelib.service import dataset_import_jobs as jobs
    from chalicelib.storage.resources import store
    first = create(personalize, dataset, name="first")
    settle()
    running = jobs.begin_scheduled_run(first)
    jobs.start_run(running)  # a run in progress holds the dataset
    with pytest.raises(ClientError) as e:
        create(personalize, dataset, name="second")
    assert code(e) == "ResourceInUseException" and running in str(e.value)
    with pytest.raises(ClientError):  # nothing half-written
        personalize.describe_dataset_import_job(
            datasetImportJobArn="arn:aws:personalize:us-east-1:000000000000:dataset-import-job/second")
    with pytest.raises(ClientError) as e:
        personalize.update_dataset_import_job(datasetImportJobArn=first)
    assert code(e) == "ResourceInUseException"
    assert len(personalize.list_dataset_import_job_runs(datasetImportJobArn=first)["datasetImportJobRuns"]) == 2
    jobs.fail_run(running, "stopped")
    create(personalize, dataset, name="second")
    settle()
    assert "importRunArn" not in store().get(dataset)


@pytest.mark.parametrize("holder", ["ended", "missing"])
def test_a_lock_left_by_an_ended_run_is_released(personalize, dataset, holder):
    from chalicelib.service import dataset_import_jobs as jobs
    from chalicelib.storage.resources import store
    first = create(personalize, dataset, name="first")
    settle()
    stale = personalize.describe_dataset_import_job(
        datasetImportJobArn=first)["datasetImportJob"]["latestDatasetImportJobRun"]["datasetImportJobRunArn"]
    if holder == "missing":
        stale = first + "/deadbeef"
    # as if a task stopped after the run's last status write, before releasing the dataset
    store().update(dataset, {"importRunArn": stale})
    run = jobs.begin_scheduled_run(first)
    assert run and store().get(dataset)["importRunArn"] == run


def test_errors(personalize, dataset, s3):
    missing_dataset = dataset.replace("MovieRatingDatasetGroup", "nope")
    with pytest.raises(ClientError) as e:
        create(personalize, missing_dataset)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        create(personalize, dataset, location="https://example.com/x.csv")
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        create(personalize, dataset, datasetImportJobConfig={"importJobSchedule": "rate(5 minutes)"})
    assert code(e) == "InvalidInputException" and "30 minutes" in str(e.value)
    arn = create(personalize, dataset)
    settle()
    with pytest.raises(ClientError) as e:
        create(personalize, dataset)
    assert code(e) == "ResourceAlreadyExistsException"
    missing_job = arn.replace("MovieRatingImportJob", "nope")
    for call, key, value in (
            (personalize.describe_dataset_import_job, "datasetImportJobArn", missing_job),
            (personalize.update_dataset_import_job, "datasetImportJobArn", missing_job),
            (personalize.delete_dataset_import_job, "datasetImportJobArn", missing_job),
            (personalize.describe_dataset_import_job_run, "datasetImportJobRunArn", missing_job + "/00000000"),
            (personalize.list_dataset_import_job_runs, "datasetImportJobArn", missing_job),
            (personalize.list_dataset_import_jobs, "datasetArn", missing_dataset)):
        with pytest.raises(ClientError) as e:
            call(**{key: value})
        assert code(e) == "ResourceNotFoundException", call
    with pytest.raises(ClientError) as e:
        personalize.list_dataset_import_jobs(nextToken="bogus")
    assert code(e) == "InvalidNextTokenException"


def test_too_much_data_is_a_limit(personalize, dataset, monkeypatch):
    from chalicelib.domain import limits
    monkeypatch.setattr(limits, "MAX_DATASET_BYTES", 10)
    with pytest.raises(ClientError) as e:
        personalize.create_dataset_import_job(
            jobName="big", datasetArn=dataset, roleArn=ROLE,
            dataSource={"dataLocation": f"s3://{BUCKET}/ratings.csv"})
    assert code(e) == "LimitExceededException"


def test_schedule_is_kept_and_removed(personalize, dataset):
    from chalicelib.storage import schedules
    arn = create(personalize, dataset,
                 datasetImportJobConfig={"importJobSchedule": "cron(0 12 * * ? *)"})
    settle()
    job = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    assert job["datasetImportJobConfig"] == {"importJobSchedule": "cron(0 12 * * ? *)"}
    rule = schedules.rule_name("import", arn)
    assert rules.rule(rule)["input"] == {"datasetImportJobArn": arn}
    assert rules.rule(rule)["arn"].endswith(":stateMachine:personalize-import")
    with pytest.raises(ClientError) as e:
        personalize.update_dataset_import_job(
            datasetImportJobArn=arn, datasetImportJobConfig={"importJobSchedule": "cron(* * * * ? *)"})
    assert code(e) == "InvalidInputException"
    personalize.update_dataset_import_job(datasetImportJobArn=arn,
                                          datasetImportJobConfig={"importJobSchedule": "rate(2 hours)"})
    settle()
    assert schedules.get_schedule(rule) == "rate(2 hours)"
    run = personalize.describe_dataset_import_job(
        datasetImportJobArn=arn)["datasetImportJob"]["latestDatasetImportJobRun"]
    described = personalize.describe_dataset_import_job_run(
        datasetImportJobRunArn=run["datasetImportJobRunArn"])["datasetImportJobRun"]
    assert described["datasetImportJobConfig"] == {"importJobSchedule": "rate(2 hours)"}
    # Seed: "set an empty string for the importJobSchedule key" to stop the schedule.
    personalize.update_dataset_import_job(datasetImportJobArn=arn,
                                          datasetImportJobConfig={"importJobSchedule": ""})
    settle()
    assert schedules.get_schedule(rule) is None
    job = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    assert "datasetImportJobConfig" not in job


def test_scheduled_tick_makes_a_run(personalize, dataset):
    from chalicelib.service import dataset_import_jobs
    from chalicelib.storage.resources import store
    arn = create(personalize, dataset)
    settle()
    run_arn = dataset_import_jobs.begin_scheduled_run(arn)
    assert run_arn.startswith(arn + "/")
    assert dataset_import_jobs.begin_scheduled_run(arn) is None  # that run holds the dataset
    dataset_import_jobs.start_run(run_arn)
    assert store().get(dataset)["importRunArn"] == run_arn
    dataset_import_jobs.fail_run(run_arn, "no data this time")
    run = personalize.describe_dataset_import_job_run(datasetImportJobRunArn=run_arn)["datasetImportJobRun"]
    assert (run["status"], run["failureReason"]) == ("CREATE FAILED", "no data this time")
    assert "importRunArn" not in store().get(dataset)


def test_run_statuses_never_go_back(personalize, dataset):
    from chalicelib.domain import lifecycle
    from chalicelib.service import dataset_import_jobs as jobs
    arn = create(personalize, dataset)
    settle()
    run_arn = jobs.begin_scheduled_run(arn)
    jobs.start_run(run_arn)
    jobs.start_run(run_arn)  # a retried step: no-op
    previous = personalize.describe_dataset_import_job_run(
        datasetImportJobRunArn=run_arn)["datasetImportJobRun"]
    from chalicelib.storage.resources import store
    current = store().get(dataset)["dataVersion"]
    done = jobs.complete_run(run_arn, version_id="v-next", previous_version=current)
    assert done["status"] == "ACTIVE"
    assert jobs.complete_run(run_arn, version_id="v-next", previous_version=current)["status"] == "ACTIVE"
    with pytest.raises(lifecycle.TransitionRefused):
        jobs.start_run(run_arn)
    with pytest.raises(lifecycle.TransitionRefused):
        jobs.fail_run(run_arn, "late failure")
    assert store().get(dataset)["dataVersion"] == "v-next"
    assert previous["status"] == "CREATE IN_PROGRESS"


def test_complete_run_refuses_a_stale_version(personalize, dataset):
    from chalicelib.service import dataset_import_jobs as jobs
    from chalicelib.storage.resources import store
    arn = create(personalize, dataset)
    settle()
    run_arn = jobs.begin_scheduled_run(arn)
    jobs.start_run(run_arn)
    with pytest.raises(jobs.DataVersionConflict):
        jobs.complete_run(run_arn, version_id="v2", previous_version="not-the-current-one")
    assert store().get(dataset)["dataVersion"] != "v2"
    assert store().get(dataset)["importRunArn"] == run_arn  # still held: the run then fails
    jobs.fail_run(run_arn, "conflict")
    assert "importRunArn" not in store().get(dataset)


def test_delete_job(personalize, dataset):
    from chalicelib.service import dataset_import_jobs as jobs
    arn = create(personalize, dataset, datasetImportJobConfig={"importJobSchedule": "rate(1 day)"})
    settle()
    run_arn = jobs.begin_scheduled_run(arn)
    with pytest.raises(ClientError) as e:
        personalize.delete_dataset_import_job(datasetImportJobArn=arn)
    assert code(e) == "ResourceInUseException" and run_arn in str(e.value)
    jobs.fail_run(run_arn, "stopped")
    personalize.delete_dataset_import_job(datasetImportJobArn=arn)
    with pytest.raises(ClientError) as e:
        personalize.describe_dataset_import_job(datasetImportJobArn=arn)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.describe_dataset_import_job_run(datasetImportJobRunArn=run_arn)
    assert code(e) == "ResourceNotFoundException"
    from chalicelib.storage import schedules
    assert schedules.get_schedule(schedules.rule_name("import", arn)) is None
    # the data stays: campaigns keep working (seed, DeleteDatasetImportJob)
    from chalicelib.storage.resources import store
    assert store().get(dataset)["dataVersion"]


def test_list_jobs(personalize, dataset, s3):
    names = ["j1", "j2", "j3"]
    for name in names:
        create(personalize, dataset, name=name)
        settle()
    jobs = personalize.list_dataset_import_jobs(datasetArn=dataset)["datasetImportJobs"]
    assert [j["jobName"] for j in jobs] == ["j3", "j2", "j1"]
    assert all(j["status"] == "ACTIVE" for j in jobs)
    page = personalize.list_dataset_import_jobs(maxResults=2)
    assert len(page["datasetImportJobs"]) == 2
    assert len(personalize.list_dataset_import_jobs(nextToken=page["nextToken"])["datasetImportJobs"]) == 1


def test_event_interactions_dataset_cannot_be_imported(personalize, dataset):
    group = dataset.replace(":dataset/", ":dataset-group/").rsplit("/", 1)[0]
    personalize.create_event_tracker(name="t", datasetGroupArn=group, roleArn=ROLE)
    with pytest.raises(ClientError) as e:
        create(personalize, group.replace(":dataset-group/", ":dataset/") + "/EVENT_INTERACTIONS")
    assert code(e) == "InvalidInputException"


def test_a_run_that_cannot_start_fails_with_a_reason(personalize, dataset, monkeypatch):
    from chalicelib.storage.resources import store
    from chalicelib.workflows import starter

    def broken(name, payload, execution_name=None):
        raise RuntimeError("state machine unavailable")
    monkeypatch.setattr(starter, "start_workflow", broken)
    arn = create(personalize, dataset)
    job = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    assert job["status"] == "CREATE FAILED"
    latest = job["latestDatasetImportJobRun"]
    assert latest["status"] == "CREATE FAILED"
    assert "state machine unavailable" in latest["failureReason"]
    assert "importRunArn" not in store().get(dataset)  # the dataset is free for the next run


def test_workflow_input_names_the_job_and_run(personalize, dataset, monkeypatch):
    from chalicelib.workflows import starter
    calls = []
    monkeypatch.setattr(starter, "start_workflow",
                        lambda name, payload, execution_name=None: calls.append((name, payload)) or "exec")
    arn = create(personalize, dataset)
    job = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    # Seed: "Initially, the create status will show as CREATE PENDING" (no run shown yet).
    assert job["status"] == "CREATE PENDING" and "latestDatasetImportJobRun" not in job
    [(name, payload)] = calls
    assert name == "import" and payload["datasetImportJobArn"] == arn
    run = personalize.describe_dataset_import_job_run(
        datasetImportJobRunArn=payload["datasetImportJobRunArn"])["datasetImportJobRun"]
    assert run["status"] == "CREATE PENDING"


def test_a_job_that_failed_to_start_can_be_run_again(personalize, dataset, monkeypatch):
    """A job whose first run never started is CREATE FAILED with the reason; UpdateDatasetImportJob
    (the seed's way to start a new run) runs it again, and the imported run makes it ACTIVE."""
    from chalicelib.workflows import starter
    real = starter.start_workflow

    def broken(name, payload, execution_name=None):
        raise RuntimeError("state machine unavailable")
    monkeypatch.setattr(starter, "start_workflow", broken)
    arn = create(personalize, dataset)
    job = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    assert job["status"] == "CREATE FAILED" and job["failureReason"]
    monkeypatch.setattr(starter, "start_workflow", real)
    personalize.update_dataset_import_job(datasetImportJobArn=arn)
    settle()
    job = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
    assert job["status"] == "ACTIVE" and job["latestDatasetImportJobRun"]["status"] == "ACTIVE"
    assert "failureReason" not in job


def test_todays_client_sees_the_import_outcome_on_the_job(personalize, stock_personalize, dataset, s3):
    """Today's API has no runs: its client waits for the job's own ACTIVE or CREATE FAILED, so
    the job is ACTIVE only once its data is in, and a failed first run fails the job."""
    s3.put_object(Bucket="personalize-data", Key="in/bad.csv", Body=b"USER_ID,ITEM_ID\nu1,i1\n")
    bad = stock_personalize.create_dataset_import_job(
        jobName="bad", datasetArn=dataset, roleArn=ROLE,
        dataSource={"dataLocation": "s3://personalize-data/in/bad.csv"})["datasetImportJobArn"]
    settle()
    job = stock_personalize.describe_dataset_import_job(datasetImportJobArn=bad)["datasetImportJob"]
    assert job["status"] == "CREATE FAILED" and "TIMESTAMP" in job["failureReason"]
    good = create(personalize, dataset)
    settle()
    job = stock_personalize.describe_dataset_import_job(datasetImportJobArn=good)["datasetImportJob"]
    assert job["status"] == "ACTIVE"
    run = personalize.describe_dataset_import_job(datasetImportJobArn=good)["datasetImportJob"][
        "latestDatasetImportJobRun"]
    assert run["status"] == "ACTIVE"


