"""The import workflow as a user drives it: boto3 CreateDatasetImportJob /
UpdateDatasetImportJob with tests/support/stepfunctions.py (the deployed ASL file runs
in process, its tasks reach moto), then DescribeDatasetImportJobRun and the
training view (seed: "Importing your Data", CreateDatasetImportJob,
DatasetImportJobRun.failureReason, "Getting Started" > "Create the Training Data")."""
import json
import os

import pytest

from tests.conftest import RATINGS

from chalicelib.datasets import records, versions
from chalicelib.datasets.movielens import getting_started_csv
from chalicelib.datasets.training_view import load_training_data
from chalicelib.workflows import starter
from tests.support import stepfunctions as sfn

ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
INTERACTIONS_SCHEMA = json.dumps({
    "type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
               {"name": "TIMESTAMP", "type": "long"}],
    "version": "1.0"})


@pytest.fixture(autouse=True)
def local_runs():
    sfn.reset()
    yield
    sfn.reset()


@pytest.fixture
def group(personalize, s3):
    """A dataset group with an Interactions dataset and a source bucket."""
    s3.create_bucket(Bucket="training")
    group_arn = personalize.create_dataset_group(name="movies")["datasetGroupArn"]
    schema_arn = personalize.create_schema(name="movies-interactions",
                                           schema=INTERACTIONS_SCHEMA)["schemaArn"]
    dataset_arn = personalize.create_dataset(datasetGroupArn=group_arn, schemaArn=schema_arn,
                                             datasetType="Interactions",
                                             name="movies-interactions")["datasetArn"]
    return {"group": group_arn, "dataset": dataset_arn}


def import_job(personalize, dataset_arn, location, name="import-1"):
    arn = personalize.create_dataset_import_job(
        jobName=name, datasetArn=dataset_arn, dataSource={"dataLocation": location},
        roleArn=ROLE)["datasetImportJobArn"]
    return arn


def latest_run(personalize, job_arn):
    job = personalize.describe_dataset_import_job(datasetImportJobArn=job_arn)["datasetImportJob"]
    return job, job["latestDatasetImportJobRun"]


@pytest.mark.skipif(not os.path.exists(RATINGS), reason="MovieLens ml-latest-small not present")
def test_getting_started_ratings_import(personalize, s3, group):
    s3.put_object(Bucket="training", Key="ratings.csv", Body=getting_started_csv(RATINGS))
    job_arn = import_job(personalize, group["dataset"], "s3://training/ratings.csv")

    job, run = latest_run(personalize, job_arn)
    assert job["status"] == "ACTIVE"
    assert run["status"] == "ACTIVE", run.get("failureReason")
    assert "failureReason" not in run

    data = load_training_data(group["group"])
    assert len(data.interactions) == 100_836
    assert data.n_users == 610
    assert data.n_items == 9_724
    assert data.event_types == () and data.interactions.event_value is None
    first = data.interactions.user == 0
    assert data.user_ids[0] == "1" and first.sum() == 232  # user 1 rated 232 movies
    assert (data.interactions.timestamp[first][:-1] <= data.interactions.timestamp[first][1:]).all()


def test_failed_reimport_keeps_previous_version(personalize, s3, group):
    s3.put_object(Bucket="training", Key="v1.csv",
                  Body=b"USER_ID,ITEM_ID,TIMESTAMP\n1,a,10\n1,b,20\n2,a,30\n")
    job_arn = import_job(personalize, group["dataset"], "s3://training/v1.csv")
    _, first_run = latest_run(personalize, job_arn)
    assert first_run["status"] == "ACTIVE"
    version = records.current_version(records.dataset(group["dataset"]))
    assert versions.list_versions(group["dataset"]) == [version]

    s3.put_object(Bucket="training", Key="v2.csv",
                  Body=b"USER_ID,ITEM_ID,TIMESTAMP\n1,a,10\n3,c,soon\n")
    personalize.update_dataset_import_job(datasetImportJobArn=job_arn,
                                          dataSource={"dataLocation": "s3://training/v2.csv"})
    job, run = latest_run(personalize, job_arn)
    assert run["datasetImportJobRunArn"] != first_run["datasetImportJobRunArn"]
    assert run["status"] == "CREATE FAILED"
    assert run["failureReason"] == (
        "The data does not match the dataset's schema (1 problem). s3://training/v2.csv line 3, "
        "column TIMESTAMP: 'soon' is not an integer (long).")
    described = personalize.describe_dataset_import_job_run(
        datasetImportJobRunArn=run["datasetImportJobRunArn"])["datasetImportJobRun"]
    assert described["failureReason"] == run["failureReason"]

    # The dataset still serves the first import, and nothing of the failed run is left.
    assert records.current_version(records.dataset(group["dataset"])) == version
    assert versions.list_versions(group["dataset"]) == [version]
    data = load_training_data(group["group"])
    assert sorted(data.item_ids.tolist()) == ["a", "b"] and len(data.interactions) == 3


def test_full_refresh_replaces_data_and_removes_old_version(personalize, s3, group):
    s3.put_object(Bucket="training", Key="a.csv", Body=b"USER_ID,ITEM_ID,TIMESTAMP\n1,a,1\n")
    s3.put_object(Bucket="training", Key="b.csv",
                  Body=b"USER_ID,ITEM_ID,TIMESTAMP\n7,x,1\n8,y,2\n")
    job_arn = import_job(personalize, group["dataset"], "s3://training/a.csv")
    old = records.current_version(records.dataset(group["dataset"]))
    personalize.update_dataset_import_job(datasetImportJobArn=job_arn,
                                          dataSource={"dataLocation": "s3://training/b.csv"})
    _, run = latest_run(personalize, job_arn)
    assert run["status"] == "ACTIVE"
    new = records.current_version(records.dataset(group["dataset"]))
    # the superseded version stays until the garbage collector's grace period has passed
    assert new != old and versions.list_versions(group["dataset"]) == [old, new]
    from chalicelib.workflows import collect
    collect.collect()
    assert versions.list_versions(group["dataset"]) == [old, new]
    collect.collect(grace_seconds=0)
    assert versions.list_versions(group["dataset"]) == [new]
    data = load_training_data(group["group"])
    assert data.user_ids.tolist() == ["7", "8"] and data.item_ids.tolist() == ["x", "y"]


@pytest.mark.parametrize("location,reason", [
    ("s3://no-such-bucket/r.csv", "Cannot read s3://no-such-bucket/r.csv: S3 bucket "
                                  "no-such-bucket does not exist"),
    ("s3://training/missing.csv", "Cannot read s3://training/missing.csv: no object has that "
                                  "key and no object starts with that prefix"),
    ("s3://training/empty.csv", "s3://training/empty.csv is empty: the first row must hold "
                                "the column headers"),
])
def test_unreadable_sources_fail_the_run(personalize, s3, group, location, reason):
    s3.put_object(Bucket="training", Key="empty.csv", Body=b"")
    job_arn = import_job(personalize, group["dataset"], location)
    job, run = latest_run(personalize, job_arn)
    assert run["status"] == "CREATE FAILED"
    assert run["failureReason"] == reason
    assert records.current_version(records.dataset(group["dataset"])) is None
    with pytest.raises(ValueError, match="has no interactions"):
        load_training_data(group["group"])


def test_task_error_is_retried_then_recorded(personalize, s3, group, monkeypatch):
    from chalicelib.datasets import importer
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("S3 went away")
    monkeypatch.setattr(importer, "import_location", broken)
    s3.put_object(Bucket="training", Key="a.csv", Body=b"USER_ID,ITEM_ID,TIMESTAMP\n1,a,1\n")
    job_arn = import_job(personalize, group["dataset"], "s3://training/a.csv")
    _, run = latest_run(personalize, job_arn)
    assert len(calls) == 3  # the first try and two retries
    assert run["status"] == "CREATE FAILED"
    assert run["failureReason"] == "Internal error while importing (RuntimeError): S3 went away"
    execution = sfn.executions("import")[-1]
    assert execution.status == "FAILED" and execution.error == "DatasetImportFailed"

    # Nothing stayed IN_PROGRESS: the dataset takes a new run, which now succeeds.
    monkeypatch.undo()
    personalize.update_dataset_import_job(datasetImportJobArn=job_arn)
    _, run = latest_run(personalize, job_arn)
    assert run["status"] == "ACTIVE"


def test_scheduled_execution_starts_a_new_run(personalize, s3, group):
    s3.put_object(Bucket="training", Key="a.csv", Body=b"USER_ID,ITEM_ID,TIMESTAMP\n1,a,1\n")
    job_arn = import_job(personalize, group["dataset"], "s3://training/a.csv")
    s3.put_object(Bucket="training", Key="a.csv",
                  Body=b"USER_ID,ITEM_ID,TIMESTAMP\n1,a,1\n2,b,2\n")
    # What the job's EventBridge schedule sends: the job, no run.
    starter.start_workflow("import", {"datasetImportJobArn": job_arn})
    runs = personalize.list_dataset_import_job_runs(
        datasetImportJobArn=job_arn)["datasetImportJobRuns"]
    assert len(runs) == 2 and {r["status"] for r in runs} == {"ACTIVE"}
    assert len(load_training_data(group["group"]).interactions) == 2


def test_data_that_does_not_fit_is_not_retried(personalize, s3, group, monkeypatch):
    from chalicelib.datasets import importer
    calls = []
    real = importer.import_location

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(importer, "import_location", counted)
    s3.put_object(Bucket="training", Key="bad.csv", Body=b"USER_ID,ITEM_ID\n1,a\n")
    job_arn = import_job(personalize, group["dataset"], "s3://training/bad.csv")
    _, run = latest_run(personalize, job_arn)
    assert run["status"] == "CREATE FAILED"
    assert "column TIMESTAMP: required column is missing from the header" in run["failureReason"]
    assert len(calls) == 1
    assert sfn.executions("import")[-1].status == "FAILED"


def test_scheduled_tick_is_skipped_while_the_dataset_is_busy(personalize, s3, group):
    from chalicelib.service import dataset_import_jobs
    s3.put_object(Bucket="training", Key="a.csv", Body=b"USER_ID,ITEM_ID,TIMESTAMP\n1,a,1\n")
    job_arn = import_job(personalize, group["dataset"], "s3://training/a.csv")
    # A run not yet started holds the dataset (seed, UpdateDatasetImportJob: one import
    # at a time), as when the schedule fires during a user's run.
    dataset_import_jobs.new_run(job_arn)
    execution = sfn.get_execution(
        starter.start_workflow("import", {"datasetImportJobArn": job_arn}))
    assert execution.status == "SUCCEEDED"
    assert execution.output["scheduled"] == {"skipped": True}
    runs = personalize.list_dataset_import_job_runs(
        datasetImportJobArn=job_arn)["datasetImportJobRuns"]
    assert len(runs) == 2  # the first run and the pending one; the tick added none
