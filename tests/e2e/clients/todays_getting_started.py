"""Today's getting-started flow, written as a user of today's stock boto3 writes it.

Run by tests/e2e/test_todays_clients.py with the newest boto3 the package registry serves, in a
venv of its own and with no AWS_DATA_PATH: nothing of this project is imported here, and the
endpoint comes from AWS_ENDPOINT_URL_PERSONALIZE* as for any client.

    python todays_getting_started.py RECIPE RATINGS_CSV BUCKET ITEM_A ITEM_B USER

Prints one JSON document: what each step answered.
"""
import json
import sys
import time
import uuid

import boto3

ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
SCHEMA = {"type": "record", "name": "Interactions", "namespace": "com.amazonaws.personalize.schema",
          "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
                     {"name": "TIMESTAMP", "type": "long"}], "version": "1.0"}


def wait(describe, timeout=600):
    deadline = time.monotonic() + timeout
    while True:
        status = describe()["status"]
        if status == "ACTIVE" or "FAILED" in status:
            return status
        if time.monotonic() > deadline:
            raise SystemExit(f"still {status} after {timeout} s")
        time.sleep(2)


def main(recipe, ratings, bucket, item_a, item_b, user):
    personalize = boto3.client("personalize")
    runtime = boto3.client("personalize-runtime")
    events = boto3.client("personalize-events")
    tag = uuid.uuid4().hex[:8]
    out = {"boto3": boto3.__version__}

    group = personalize.create_dataset_group(name=f"today-{tag}")["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"])
    schema = personalize.create_schema(name=f"today-{tag}", schema=json.dumps(SCHEMA))["schemaArn"]
    dataset = personalize.create_dataset(name=f"today-{tag}", datasetType="Interactions",
                                         datasetGroupArn=group, schemaArn=schema)["datasetArn"]
    with open(ratings, "rb") as f:
        boto3.client("s3").put_object(Bucket=bucket, Key=f"today/{tag}.csv", Body=f.read())
    job = personalize.create_dataset_import_job(
        jobName=f"today-{tag}", datasetArn=dataset, roleArn=ROLE,
        dataSource={"dataLocation": f"s3://{bucket}/today/{tag}.csv"})["datasetImportJobArn"]
    out["import"] = wait(lambda: personalize.describe_dataset_import_job(
        datasetImportJobArn=job)["datasetImportJob"])

    solution = personalize.create_solution(
        name=f"today-{tag}", datasetGroupArn=group,
        recipeArn=f"arn:aws:personalize:::recipe/{recipe}")["solutionArn"]
    described = personalize.describe_solution(solutionArn=solution)["solution"]
    out["solution"] = described["status"]
    out["versions_before"] = len(personalize.list_solution_versions(
        solutionArn=solution)["solutionVersions"])
    version = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    out["version"] = wait(lambda: personalize.describe_solution_version(
        solutionVersionArn=version)["solutionVersion"], timeout=900)
    out["metrics"] = personalize.get_solution_metrics(solutionVersionArn=version)["metrics"]

    campaign = personalize.create_campaign(name=f"today-{tag}", solutionVersionArn=version,
                                           minProvisionedTPS=1)["campaignArn"]
    out["campaign"] = wait(lambda: personalize.describe_campaign(campaignArn=campaign)["campaign"])
    tracker = personalize.create_event_tracker(name=f"today-{tag}", datasetGroupArn=group)
    wait(lambda: personalize.describe_event_tracker(
        eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"])

    recipe_type = personalize.describe_recipe(
        recipeArn=f"arn:aws:personalize:::recipe/{recipe}")["recipe"]["recipeType"]
    out["recipeType"] = recipe_type
    candidates = [item_a, item_b] + [f"i{k}" for k in range(2, 12)]

    def ask():
        if recipe_type == "RELATED_ITEMS":
            answer = runtime.get_recommendations(campaignArn=campaign, itemId=item_a, numResults=10)
            return [x["itemId"] for x in answer["itemList"]]
        if recipe_type == "PERSONALIZED_RANKING":
            answer = runtime.get_personalized_ranking(campaignArn=campaign, userId=user,
                                                      inputList=candidates)
            return [x["itemId"] for x in answer["personalizedRanking"]]
        answer = runtime.get_recommendations(campaignArn=campaign, userId=user, numResults=10)
        return [x["itemId"] for x in answer["itemList"]]

    out["before"] = ask()
    now = time.time()
    clicks = [{"eventType": "click", "itemId": item_b, "sentAt": now + k} for k in range(10)]
    for start in range(0, len(clicks), 10):
        events.put_events(trackingId=tracker["trackingId"], userId=user, sessionId=f"s-{tag}",
                          eventList=clicks[start:start + 10])
    out["after"] = ask()
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:])
