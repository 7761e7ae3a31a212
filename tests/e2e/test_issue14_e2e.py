"""Issue 14's "Done when" on the deployed stack with stock boto3 (no shipped models): filters
(EXCLUDE by a PutEvents purchase on the next call, INCLUDE with $GENRE, an invalid expression
naming its position), promotions and metadataColumns, a large batch inference job (one output
line per input line), and a VIDEO_ON_DEMAND recommender answering top-picks and more-like-x."""
import csv
import datetime
import io
import json
import os
import random
import time

import pytest
from botocore.exceptions import ClientError

from tests.e2e.flows import ROLE, RECIPE, item_ids, name, train, upload, wait

GENRES = ("Comedy", "Drama", "Horror", "Sci-Fi")
N_USERS, N_ITEMS, PER_USER = 200, 60, 25
BATCH_USERS = int(os.environ.get("E2E_BATCH_USERS") or 100_000)


def schema(record, fields):
    return json.dumps({"type": "record", "name": record,
                       "namespace": "com.amazonaws.personalize.schema", "version": "1.0",
                       "fields": [{"name": n, "type": t, **({"categorical": True} if c else {})}
                                  for n, t, c in fields]})


def interactions_csv():
    rng = random.Random(11)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"])
    for u in range(N_USERS):
        base = 0 if u % 2 == 0 else N_ITEMS // 2
        for k in range(PER_USER):
            item = base + min(int(rng.expovariate(0.2)), N_ITEMS // 2 - 1)
            w.writerow([f"u{u}", f"i{item}", "Watch" if k % 3 else "click",
                        1_600_000_000 + u * 10_000 + k * 60])
    return out.getvalue().encode()


def items_csv(genre_field):
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["ITEM_ID", genre_field])
    for i in range(N_ITEMS):
        w.writerow([f"i{i}", GENRES[i % 4]])
    return out.getvalue().encode()


def genre_of(item):
    return GENRES[int(item[1:]) % 4]


def load(stack, personalize, group, dataset_type, schema_text, body, domain=None):
    extra = {"domain": domain} if domain else {}
    schema_arn = personalize.create_schema(name=name(f"e2e14-{dataset_type.lower()}"),
                                           schema=schema_text, **extra)["schemaArn"]
    dataset = personalize.create_dataset(name=name(f"e2e14-{dataset_type.lower()}"),
                                         datasetGroupArn=group, datasetType=dataset_type,
                                         schemaArn=schema_arn)["datasetArn"]
    location = upload(stack, f"e2e14/{name(dataset_type)}.csv", body)
    job = personalize.create_dataset_import_job(jobName=name("e2e14-import"), datasetArn=dataset,
                                                roleArn=ROLE, dataSource={"dataLocation": location})
    record = wait(lambda: personalize.describe_dataset_import_job(
        datasetImportJobArn=job["datasetImportJobArn"])["datasetImportJob"], "import", 300)
    assert record["status"] == "ACTIVE", record
    return dataset


def group_with_data(stack, personalize, domain=None, genre_field="GENRE"):
    extra = {"domain": domain} if domain else {}
    group = personalize.create_dataset_group(name=name("e2e14-group"), **extra)["datasetGroupArn"]
    wait(lambda: personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"], "group")
    load(stack, personalize, group, "Interactions",
         schema("Interactions", [("USER_ID", "string", False), ("ITEM_ID", "string", False),
                                 ("EVENT_TYPE", "string", False), ("TIMESTAMP", "long", False)]),
         interactions_csv(), domain)
    load(stack, personalize, group, "Items",
         schema("Items", [("ITEM_ID", "string", False), (genre_field, "string", True)]),
         items_csv(genre_field), domain)
    return group


@pytest.fixture(scope="module")
def clients(stack):
    return (stack.client("personalize", models=False), stack.client("personalize-runtime", models=False),
            stack.client("personalize-events", models=False))


@pytest.fixture(scope="module")
def shop(stack, clients):
    personalize, _, _ = clients
    group = group_with_data(stack, personalize)
    tracker = personalize.create_event_tracker(name=name("e2e14-tracker"), datasetGroupArn=group)
    wait(lambda: personalize.describe_event_tracker(
        eventTrackerArn=tracker["eventTrackerArn"])["eventTracker"], "event tracker")
    _, version = train(personalize, group, "aws-sims", prefix="e2e14")
    assert version["status"] == "ACTIVE", version
    arn = personalize.create_campaign(name=name("e2e14-campaign"),
                                      solutionVersionArn=version["solutionVersionArn"],
                                      campaignConfig={"enableMetadataWithRecommendations": True})["campaignArn"]
    record = wait(lambda: personalize.describe_campaign(campaignArn=arn)["campaign"], "campaign", 180)
    assert record["status"] == "ACTIVE", record
    return group, tracker["trackingId"], arn


def new_filter(personalize, group, expression):
    arn = personalize.create_filter(name=name("e2e14-filter"), datasetGroupArn=group,
                                    filterExpression=expression)["filterArn"]
    wait(lambda: personalize.describe_filter(filterArn=arn)["filter"], "filter")
    return arn


def test_exclude_purchased_on_the_next_call(shop, clients):
    personalize, runtime, events = clients
    group, tracking, arn = shop
    bought = new_filter(personalize, group, 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    ask = dict(campaignArn=arn, itemId="i3", userId="e2e-buyer", numResults=10, filterArn=bought)
    before = item_ids(runtime.get_recommendations(**ask))
    assert len(before) == 10
    events.put_events(trackingId=tracking, userId="e2e-buyer", sessionId="e2e-buyer-session",
                      eventList=[{"eventType": "purchase", "itemId": before[0],
                                  "sentAt": datetime.datetime.now()}])
    after = item_ids(runtime.get_recommendations(**ask))
    assert before[0] not in after and len(after) == 10


def test_include_genre_parameter_and_invalid_expression(shop, clients):
    personalize, runtime, _ = clients
    group, _, arn = shop
    genre = new_filter(personalize, group, "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)")
    items = item_ids(runtime.get_recommendations(campaignArn=arn, itemId="i3", numResults=8,
                                                 filterArn=genre, filterValues={"GENRE": '"Horror"'}))
    assert len(items) == 8 and {genre_of(i) for i in items} == {"Horror"}
    with pytest.raises(ClientError) as e:
        personalize.create_filter(name=name("e2e14-bad"), datasetGroupArn=group,
                                  filterExpression='INCLUDE ItemID WHERE Items.GENRE FOO ("x")')
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
    assert "position 34" in e.value.response["Error"]["Message"]


def test_promotions_and_metadata_columns(shop, clients):
    personalize, runtime, _ = clients
    group, _, arn = shop
    comedy = new_filter(personalize, group, 'INCLUDE ItemID WHERE Items.GENRE IN ("Comedy")')
    answer = runtime.get_recommendations(
        campaignArn=arn, itemId="i3", numResults=10, metadataColumns={"ITEMS": ["GENRE"]},
        promotions=[{"name": "laughs", "percentPromotedItems": 30, "filterArn": comedy}])
    items = answer["itemList"]
    assert len(items) == 10 and len({i["itemId"] for i in items}) == 10
    promoted = [i for i in items if i.get("promotionName") == "laughs"]
    assert len(promoted) == 3 and all(i["metadata"]["GENRE"] == "Comedy" for i in promoted)
    assert all(i["metadata"]["GENRE"] == genre_of(i["itemId"]) for i in items)
    assert answer["recommendationId"]


def test_batch_inference_over_many_users(stack, shop, clients):
    personalize, _, _ = clients
    group, _, _ = shop
    _, version = train(personalize, group, "aws-popularity-count", prefix="e2e14-pop")
    assert version["status"] == "ACTIVE", version
    body = "".join(json.dumps({"userId": f"user-{u}"}) + "\n" for u in range(BATCH_USERS)).encode()
    source = upload(stack, "e2e14/batch/users.json", body)
    bucket = stack.outputs["DataBucketName"]
    t0 = time.monotonic()
    job = personalize.create_batch_inference_job(
        jobName=name("e2e14-batch"), solutionVersionArn=version["solutionVersionArn"], roleArn=ROLE,
        numResults=5, jobInput={"s3DataSource": {"path": source}},
        jobOutput={"s3DataDestination": {"path": f"s3://{bucket}/e2e14/batch-out/"}})["batchInferenceJobArn"]
    record = wait(lambda: personalize.describe_batch_inference_job(
        batchInferenceJobArn=job)["batchInferenceJob"], "batch inference job", 600, interval=2.0)
    seconds = time.monotonic() - t0
    print(f"batch inference over {BATCH_USERS} users: {seconds:.1f}s "
          f"({BATCH_USERS / max(seconds, 1e-9):.0f} users/s)")
    assert record["status"] == "ACTIVE", record
    out = stack.client("s3").get_object(Bucket=bucket, Key="e2e14/batch-out/users.json.out")["Body"].read()
    lines = out.decode().splitlines()
    assert len(lines) == BATCH_USERS
    first, last = json.loads(lines[0]), json.loads(lines[-1])
    assert first["input"] == {"userId": "user-0"} and last["input"] == {"userId": f"user-{BATCH_USERS - 1}"}
    assert len(first["output"]["recommendedItems"]) == 5 and first["error"] is None


def test_video_on_demand_recommenders(stack, clients):
    personalize, runtime, _ = clients
    group = group_with_data(stack, personalize, domain="VIDEO_ON_DEMAND", genre_field="GENRES")
    arns = {}
    for use_case in ("aws-vod-top-picks", "aws-vod-more-like-x"):
        arn = personalize.create_recommender(name=name("e2e14-rec"), datasetGroupArn=group,
                                             recipeArn=RECIPE + use_case)["recommenderArn"]
        arns[use_case] = arn
    for arn in arns.values():
        record = wait(lambda arn=arn: personalize.describe_recommender(recommenderArn=arn)["recommender"],
                      "recommender", 300, interval=2.0)
        assert record["status"] == "ACTIVE", record
    picks = item_ids(runtime.get_recommendations(recommenderArn=arns["aws-vod-top-picks"],
                                                 userId="u0", numResults=10))
    assert len(picks) == len(set(picks)) == 10
    other = item_ids(runtime.get_recommendations(recommenderArn=arns["aws-vod-top-picks"],
                                                 userId="u1", numResults=10))
    assert other != picks                                          # personalized per user
    like = item_ids(runtime.get_recommendations(recommenderArn=arns["aws-vod-more-like-x"],
                                                itemId="i25", numResults=5))
    assert len(like) == 5 and "i25" not in like
