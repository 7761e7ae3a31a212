"""Feature export jobs as a boto3 user sees them (seed: CreateFeatureExportJob,
DescribeFeatureExportJob, ListFeatureExportJobs; data type FeatureExportJob).
The export workflow itself belongs to the workflows; here its start is recorded."""
import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/S3Access"
ACCT = "arn:aws:personalize:us-east-1:000000000000"
FT = "arn:aws:personalize:::feature-transformation/JSON-percentile-filtering"


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def started(monkeypatch):
    """Record workflow starts instead of running them."""
    from chalicelib.workflows import starter
    calls = []

    def start_workflow(name, payload, execution_name=None):
        calls.append((name, payload))
        return f"arn:aws:states:us-east-1:000000000000:execution:{name}:{len(calls)}"
    monkeypatch.setattr(starter, "start_workflow", start_workflow)
    return calls


@pytest.fixture
def group(personalize):
    return personalize.create_dataset_group(name="g")["datasetGroupArn"]


def create(personalize, group, name="export1", **extra):
    return personalize.create_feature_export_job(
        jobName=name, datasetGroupArn=group, featureTransformationArn=FT, roleArn=ROLE,
        dataDestination="s3://personalize-data/exports/", **extra)["featureExportJobArn"]


def test_create_and_describe(personalize, group, started):
    arn = create(personalize, group, featureTransformationOverrides={"train_ratio": "0.8"})
    assert arn == f"{ACCT}:feature-export-job/export1"
    assert started == [("feature-export", {"featureExportJobArn": arn})]
    job = personalize.describe_feature_export_job(featureExportJobArn=arn)["featureExportJob"]
    assert (job["jobName"], job["datasetGroupArn"], job["featureTransformationArn"], job["roleArn"],
            job["dataDestination"], job["status"]) == \
        ("export1", group, FT, ROLE, "s3://personalize-data/exports/", "CREATE PENDING")
    assert job["featureTransformationOverrides"] == {"train_ratio": "0.8"}
    assert job["creationDateTime"] <= job["lastUpdatedDateTime"]


def test_workflow_moves_the_job(personalize, group, started):
    from chalicelib.domain import lifecycle
    from chalicelib.service import feature_export_jobs as jobs
    arn = create(personalize, group)
    jobs.mark_job(arn, lifecycle.CREATE_IN_PROGRESS)
    jobs.mark_job(arn, lifecycle.ACTIVE, outputLocation="s3://personalize-data/exports/part-0")
    assert jobs.job(arn)["outputLocation"].endswith("part-0")
    listed = personalize.list_feature_export_jobs()["featureExportJobs"]
    assert [(j["featureExportJobArn"], j["status"]) for j in listed] == [(arn, "ACTIVE")]
    with pytest.raises(lifecycle.TransitionRefused):
        jobs.mark_job(arn, lifecycle.CREATE_FAILED, failure_reason="late")


def test_a_job_that_cannot_start_fails_with_a_reason(personalize, group, monkeypatch):
    from chalicelib.workflows import starter

    def broken(name, payload, execution_name=None):
        raise RuntimeError("no state machine")
    monkeypatch.setattr(starter, "start_workflow", broken)
    arn = create(personalize, group)
    job = personalize.describe_feature_export_job(featureExportJobArn=arn)["featureExportJob"]
    assert job["status"] == "CREATE FAILED" and "no state machine" in job["failureReason"]


def test_errors(personalize, group, started):
    with pytest.raises(ClientError) as e:
        create(personalize, f"{ACCT}:dataset-group/none")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.create_feature_export_job(
            jobName="x", datasetGroupArn=group, roleArn=ROLE, dataDestination="s3://b/p",
            featureTransformationArn=f"{ACCT}:feature-transformation/none")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        create(personalize, group, featureTransformationOverrides={"no_such_key": "1"})
    assert code(e) == "InvalidInputException" and "no_such_key" in str(e.value)
    with pytest.raises(ClientError) as e:
        create(personalize, group, featureTransformationOverrides={"train_ratio": "2"})
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        personalize.create_feature_export_job(
            jobName="x", datasetGroupArn=group, featureTransformationArn=FT, roleArn=ROLE,
            dataDestination="/tmp/out")
    assert code(e) == "InvalidInputException"
    assert started == []  # nothing started for refused requests
    create(personalize, group)
    with pytest.raises(ClientError) as e:
        create(personalize, group)
    assert code(e) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        personalize.describe_feature_export_job(featureExportJobArn=f"{ACCT}:feature-export-job/none")
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.list_feature_export_jobs(nextToken="zzz")
    assert code(e) == "InvalidNextTokenException"


def test_custom_feature_transformation(personalize, group, started, aws):
    from chalicelib.domain import lifecycle
    from chalicelib.storage.resources import now, store
    custom = f"{ACCT}:feature-transformation/mine"
    store().put_new({"arn": custom, "status": lifecycle.ACTIVE, "creationDateTime": now(),
                     "defaultParameters": {"alpha": "1"}}, "feature-transformation")
    personalize.create_feature_export_job(
        jobName="c", datasetGroupArn=group, featureTransformationArn=custom, roleArn=ROLE,
        dataDestination="s3://personalize-data/c/", featureTransformationOverrides={"alpha": "2"})
    with pytest.raises(ClientError) as e:
        personalize.create_feature_export_job(
            jobName="d", datasetGroupArn=group, featureTransformationArn=custom, roleArn=ROLE,
            dataDestination="s3://personalize-data/c/", featureTransformationOverrides={"beta": "2"})
    assert code(e) == "InvalidInputException"


def test_running_export_keeps_the_group(personalize, group, started):
    arn = create(personalize, group)
    with pytest.raises(ClientError) as e:
        personalize.delete_dataset_group(datasetGroupArn=group)
    assert code(e) == "ResourceInUseException" and arn in str(e.value)


def test_list_pages(personalize, group, started):
    for i in range(4):
        create(personalize, group, name=f"e{i}")
    page = personalize.list_feature_export_jobs(maxResults=3)
    assert [j["jobName"] for j in page["featureExportJobs"]] == ["e3", "e2", "e1"]
    rest = personalize.list_feature_export_jobs(maxResults=3, nextToken=page["nextToken"])
    assert [j["jobName"] for j in rest["featureExportJobs"]] == ["e0"] and "nextToken" not in rest
