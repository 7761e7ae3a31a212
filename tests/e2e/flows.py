"""Helpers for the end-to-end tests that drive the seed's flows over HTTP on the deployed stack.

Everything here goes through boto3 clients against the stack's endpoints (the `stack` fixture of
`tests/e2e/conftest.py`); nothing reaches into the application's storage.
"""
import json
import time
import uuid

ROLE = "arn:aws:iam::000000000000:role/PersonalizeE2E"
RECIPE = "arn:aws:personalize:::recipe/"
INTERACTIONS_SCHEMA = {
    "type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
               {"name": "TIMESTAMP", "type": "long"}],
    "version": "1.0",
}


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait(describe, what, timeout=300, interval=1.0):
    """Poll `describe()` -> record until its status is ACTIVE or ends in FAILED; the record."""
    deadline = time.monotonic() + timeout
    while True:
        record = describe()
        status = record.get("status") or ""
        if status == "ACTIVE" or "FAILED" in status:
            return record
        assert time.monotonic() < deadline, f"{what} still {status or 'without status'}: {record}"
        time.sleep(interval)


def upload(stack, key, body):
    """Put `body` (bytes) into the stack's data bucket through the emulator's S3; the s3:// URL."""
    bucket = stack.outputs["DataBucketName"]
    stack.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def import_interactions(stack, personalize, body, prefix="e2e", timeout=300):
    """Seed, Getting Started step 1: dataset group, schema, Interactions dataset and an import
    job of `body` through the deployed import workflow. Returns (group ARN, dataset ARN)."""
    group = personalize.create_dataset_group(name=name(f"{prefix}-group"))["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"],
         "dataset group")
    schema = personalize.create_schema(name=name(f"{prefix}-schema"),
                                       schema=json.dumps(INTERACTIONS_SCHEMA))["schemaArn"]
    dataset = personalize.create_dataset(name=name(f"{prefix}-interactions"),
                                         datasetGroupArn=group, datasetType="Interactions",
                                         schemaArn=schema)["datasetArn"]
    location = upload(stack, f"e2e/{name(prefix)}.csv", body)
    job = personalize.create_dataset_import_job(
        jobName=name(f"{prefix}-import"), datasetArn=dataset, roleArn=ROLE,
        dataSource={"dataLocation": location})["datasetImportJobArn"]

    def latest_run():
        described = personalize.describe_dataset_import_job(datasetImportJobArn=job)
        return described["datasetImportJob"].get("latestDatasetImportJobRun") or {}
    run = wait(latest_run, "import run", timeout)
    assert run["status"] == "ACTIVE", run
    return group, dataset


def train(personalize, group, recipe, prefix="e2e", timeout=300, **spec):
    """CreateSolution, then the first version: the preview's shape (with minProvisionedTPS)
    trains at once, today's (without) waits for CreateSolutionVersion, which is called then
    (README, "Two dialects").
    Returns (solution ARN, version record) once that version has ended."""
    if recipe is not None:
        spec["recipeArn"] = recipe if recipe.startswith("arn:") else RECIPE + recipe
    solution = personalize.create_solution(name=name(f"{prefix}-solution"), datasetGroupArn=group,
                                           **spec)["solutionArn"]
    if not personalize.describe_solution(solutionArn=solution)["solution"].get("latestSolutionVersion"):
        personalize.create_solution_version(solutionArn=solution)
    return solution, wait_version(personalize, solution, timeout)


def wait_version(personalize, solution, timeout=300):
    """The solution's latest version once it is ACTIVE or CREATE FAILED."""
    def latest():
        summary = personalize.describe_solution(solutionArn=solution)["solution"].get(
            "latestSolutionVersion") or {}
        if not summary.get("solutionVersionArn"):
            return {}
        return personalize.describe_solution_version(
            solutionVersionArn=summary["solutionVersionArn"])["solutionVersion"]
    return wait(latest, f"training of {solution}", timeout, interval=2.0)


def campaign(personalize, version_arn, prefix="e2e", timeout=180):
    """CreateCampaign on a solution version; its ARN once ACTIVE."""
    arn = personalize.create_campaign(name=name(f"{prefix}-campaign"),
                                      solutionVersionArn=version_arn,
                                      minProvisionedTPS=1)["campaignArn"]
    record = wait(lambda: personalize.describe_campaign(campaignArn=arn)["campaign"], "campaign",
                  timeout)
    assert record["status"] == "ACTIVE", record
    return arn


def item_ids(answer, key="itemList"):
    return [x["itemId"] for x in answer[key]]
