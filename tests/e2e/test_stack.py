"""End to end: stock boto3 clients against the stack deployed on ministack.

Requests travel boto3 -> API Gateway (ministack) -> the Chalice API Lambda
(a ministack worker process) -> DynamoDB / S3 / Step Functions -> the tasks
Lambda, exactly as on AWS.
"""
import csv
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from scripts import stack as stack_cli
from tests.e2e import flows

pytestmark = pytest.mark.e2e


def _name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_stock_client_creates_and_lists_dataset_groups(stack):
    """Seed, Getting Started (AWS CLI) step 1: create-dataset-group, list-dataset-groups."""
    personalize = stack.client("personalize", models=False)
    name = _name("e2e-group")
    arn = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    assert arn.endswith(f":dataset-group/{name}")
    described = personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]
    assert described["name"] == name
    listed = {g["datasetGroupArn"]: g for g in personalize.list_dataset_groups()["datasetGroups"]}
    assert arn in listed and listed[arn]["name"] == name


def test_duplicate_name_is_a_typed_error_over_http(stack):
    personalize = stack.client("personalize", models=False)
    name = _name("e2e-dup")
    personalize.create_dataset_group(name=name)
    with pytest.raises(ClientError) as err:
        personalize.create_dataset_group(name=name)
    assert err.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] >= 400


def test_shipped_models_reach_preview_operations(stack):
    """Preview-only operations exist only in the shipped models (AWS_DATA_PATH)."""
    stock = stack.client("personalize", models=False)
    ours = stack.client("personalize", models=True)
    assert not hasattr(stock, "list_feature_export_jobs")
    jobs = ours.list_feature_export_jobs()
    assert isinstance(jobs["featureExportJobs"], list)
    recipe = ours.describe_recipe(recipeArn="arn:aws:personalize:::recipe/aws-hrnn")["recipe"]
    assert recipe["name"] == "aws-hrnn"
    names = {r["name"] for r in ours.list_recipes()["recipes"]}
    assert {"aws-hrnn", "aws-sims", "aws-popularity-count"} <= names


def test_unknown_route_answers_a_typed_error(stack):
    """A runtime client pointed at the stack but calling a path no route serves."""
    import urllib.error
    import urllib.request
    from tests.support.access import sign
    url = stack.personalize_endpoint + "/no-such-path"
    headers = sign("POST", url, b"{}", {"Content-Type": "application/json"}, key=stack.keys,
                   token=None)   # signed: unsigned, any route is MissingAuthenticationToken
    req = urllib.request.Request(url, data=b"{}", method="POST", headers=headers)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=30)
    assert err.value.code >= 400
    assert b"UnknownOperationException" in err.value.read()


def test_import_job_runs_through_step_functions(stack, tmp_path):
    """Seed, Getting Started step 1.5: an import job's run reaches ACTIVE, driven by
    the deployed import state machine and the tasks Lambda."""
    if "import" in stack.skipped_workflows:
        pytest.skip("infrastructure/statemachines/import.asl.json does not exist yet")
    personalize = stack.client("personalize")
    s3 = stack.client("s3")
    bucket = stack.outputs["DataBucketName"]
    path = tmp_path / "interactions.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP"])
        for i in range(300):
            w.writerow([f"u{i % 17}", f"i{(i * 7) % 41}", 1_500_000_000 + i])
    s3.upload_file(str(path), bucket, "e2e/interactions.csv")
    group = personalize.create_dataset_group(name=_name("e2e-import"))["datasetGroupArn"]
    schema = personalize.create_schema(name=_name("e2e-schema"), schema=(
        '{"type": "record", "name": "Interactions", '
        '"namespace": "com.amazonaws.personalize.schema", "fields": ['
        '{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"}, '
        '{"name": "TIMESTAMP", "type": "long"}], "version": "1.0"}'))["schemaArn"]
    dataset = personalize.create_dataset(name=_name("e2e-ds"), datasetGroupArn=group,
                                         datasetType="Interactions",
                                         schemaArn=schema)["datasetArn"]
    job = personalize.create_dataset_import_job(
        jobName=_name("e2e-job"), datasetArn=dataset,
        dataSource={"dataLocation": f"s3://{bucket}/e2e/interactions.csv"},
        roleArn="arn:aws:iam::000000000000:role/PersonalizeE2E")["datasetImportJobArn"]
    deadline = time.monotonic() + 240
    while True:
        described = personalize.describe_dataset_import_job(datasetImportJobArn=job)
        run = described["datasetImportJob"].get("latestDatasetImportJobRun") or {}
        if run.get("status") in ("ACTIVE", "CREATE FAILED") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert run.get("status") == "ACTIVE", described
    runs = personalize.list_dataset_import_job_runs(datasetImportJobArn=job)
    assert [r["status"] for r in runs["datasetImportJobRuns"]] == ["ACTIVE"]


def test_second_deploy_with_unchanged_inputs_is_skipped(stack):
    """What makes a second `make up` take seconds."""
    record, deployed = stack_cli.deploy_to_emulator(
        stack.emulator, stack_name="personalize-e2e", record_path=stack.record_path,
        build_dir=stack.build_dir, root=stack.source, progress=lambda msg: None)
    assert deployed is False
    assert record["personalize_endpoint"] == stack.personalize_endpoint


def test_environment_file_reaches_the_stack(stack, tmp_path, monkeypatch):
    """The variables `make up` writes are enough for boto3 without endpoint_url."""
    path = tmp_path / "stack.env"
    stack_cli.write_env(str(path), stack.env)
    env = stack_cli.read_env(str(path))
    assert env["PERSONALIZE_ENDPOINT"] == stack.personalize_endpoint
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    import boto3
    client = boto3.session.Session().client("personalize")  # as a fresh process would
    assert client.meta.endpoint_url == stack.personalize_endpoint
    assert "datasetGroups" in client.list_dataset_groups()
    assert hasattr(client, "get_metrics")  # AWS_DATA_PATH: the shipped models


def test_changed_inputs_update_the_stack_in_place(stack):
    """A changed input (here: application code) updates the running stack; the
    template travels by TemplateURL, as it must once it outgrows 51,200 bytes."""
    with open(f"{stack.source}/chalicelib/__init__.py", "a") as f:
        f.write("\n# changed by test_changed_inputs_update_the_stack_in_place\n")
    record, deployed = stack_cli.deploy_to_emulator(
        stack.emulator, stack_name="personalize-e2e", record_path=stack.record_path,
        build_dir=stack.build_dir, root=stack.source, progress=lambda msg: None,
        body_limit=0)
    assert deployed is True
    cfn = stack.client("cloudformation")
    assert cfn.describe_stacks(StackName="personalize-e2e")["Stacks"][0]["StackStatus"] \
        == "UPDATE_COMPLETE"
    assert record["personalize_endpoint"] == stack.personalize_endpoint
    personalize = stack.client("personalize", models=False)
    assert "datasetGroups" in personalize.list_dataset_groups()


def test_walkthrough_runs_getting_started_as_far_as_served(stack, tmp_path, monkeypatch):
    """`make run`'s walkthrough on MovieLens-format data (CRLF, rating column): every
    step either completes or stops the walk with a clear reason; data import and
    everything before it must complete."""
    from scripts import walkthrough
    ratings = tmp_path / "ratings.csv"
    with open(ratings, "w", newline="") as f:
        f.write("userId,movieId,rating,timestamp\r\n")
        for i in range(600):
            f.write(f"{1 + i % 23},{1 + (i * 13) % 97},{1 + i % 5}.0,{1_400_000_000 + i}\r\n")
    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PERSONALIZE_DATA_BUCKET", stack.outputs["DataBucketName"])
    outcomes = []
    try:
        walkthrough.run(str(ratings), recipe="aws-popularity-count", timeout=240,
                        work_dir=str(tmp_path / "work"), outcomes=outcomes,
                        suffix=flows.name("-served"))  # the chapter's own names are the CLI test's
    except (walkthrough.NotServed, walkthrough.StepFailed) as stopped:
        assert str(stopped)  # the reason the walk stopped is printed to the user
    done = [title for title, state in outcomes if state == "done"]
    assert done[:3] == ["Step 1: create a dataset group",
                        "Step 1: create a schema and an Interactions dataset",
                        "Step 1: import the training data (dataset import job)"], outcomes
    with open(tmp_path / "work" / "ratings.csv") as f:
        assert f.readline() == "USER_ID,ITEM_ID,TIMESTAMP\n"
