"""Today's CreateDatasetImportJob `importMode` through a stock boto3 client: FULL replaces the
bulk data, INCREMENTAL adds and replaces records by id (Items, Users; interactions are
added), events recorded with PutEvents survive both, and a failed run keeps the data as it
was. What the next training sees is read through the training view."""
import json

import pytest
from botocore.exceptions import ClientError
from tests.support import stepfunctions as sfn

from chalicelib.datasets.training_view import load_training_data

ROLE = "arn:aws:iam::123456789012:role/PersonalizeS3"
BUCKET = "personalize-data"
INTERACTIONS = json.dumps({"type": "record", "name": "Interactions", "fields": [
    {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
    {"name": "TIMESTAMP", "type": "long"}], "version": "1.0"})
ITEMS = json.dumps({"type": "record", "name": "Items", "fields": [
    {"name": "ITEM_ID", "type": "string"},
    {"name": "GENRE", "type": "string", "categorical": True},
    {"name": "PRICE", "type": ["null", "double"]}], "version": "1.0"})
ITEMS_CSV = b"ITEM_ID,GENRE,PRICE\n" + b"".join(
    f"{i},g{i},{i}.5\n".encode() for i in range(1, 7))
EVENTS_CSV = b"USER_ID,ITEM_ID,TIMESTAMP\nu1,1,100\nu1,2,200\nu2,3,300\n"


@pytest.fixture
def group(stock_personalize, s3):
    p = stock_personalize
    arn = p.create_dataset_group(name="shop")["datasetGroupArn"]
    out = {"group": arn}
    for kind, text in (("Interactions", INTERACTIONS), ("Items", ITEMS)):
        schema = p.create_schema(name=f"shop-{kind}", schema=text)["schemaArn"]
        out[kind] = p.create_dataset(name=f"shop-{kind}", datasetGroupArn=arn, schemaArn=schema,
                                     datasetType=kind)["datasetArn"]
    return out


def run_import(p, s3, dataset, body, name, **extra):
    s3.put_object(Bucket=BUCKET, Key=f"{name}.csv", Body=body)
    arn = p.create_dataset_import_job(jobName=name, datasetArn=dataset, roleArn=ROLE,
                                      dataSource={"dataLocation": f"s3://{BUCKET}/{name}.csv"},
                                      **extra)["datasetImportJobArn"]
    sfn.wait_executions()
    return p.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]


def items_seen(group_arn):
    """Item id -> (GENRE, PRICE) as the next training reads the Items dataset."""
    data = load_training_data(group_arn)
    genre, price = data.items.fields["GENRE"], data.items.fields["PRICE"]
    return {str(i): (str(g), None if p != p else float(p))
            for i, g, p in zip(data.item_ids, genre, price) if g}


def test_incremental_replaces_item_5_and_keeps_the_rest(stock_personalize, s3, group):
    p = stock_personalize
    run_import(p, s3, group["Interactions"], EVENTS_CSV, "events")
    first = run_import(p, s3, group["Items"], ITEMS_CSV, "items-full")
    assert (first["status"], first["importMode"]) == ("ACTIVE", "FULL")
    job = run_import(p, s3, group["Items"], b"ITEM_ID,GENRE,PRICE\n5,changed,\n7,g7,7.5\n",
                     "items-more", importMode="INCREMENTAL")
    assert (job["status"], job["importMode"]) == ("ACTIVE", "INCREMENTAL"), job
    seen = items_seen(group["group"])
    assert seen["5"] == ("changed", None)            # the row with the same id is replaced
    assert seen["7"] == ("g7", 7.5)                  # a new one is added
    assert {k: v for k, v in seen.items() if k not in ("5", "7")} == \
        {str(i): (f"g{i}", i + 0.5) for i in (1, 2, 3, 4, 6)}


def test_incremental_interactions_are_added(stock_personalize, s3, group):
    p = stock_personalize
    run_import(p, s3, group["Interactions"], EVENTS_CSV, "events")
    run_import(p, s3, group["Interactions"], b"USER_ID,ITEM_ID,TIMESTAMP\nu1,2,200\nu3,4,400\n",
               "events-more", importMode="INCREMENTAL")
    data = load_training_data(group["group"])
    pairs = sorted((str(data.user_ids[u]), str(data.item_ids[i]), int(t)) for u, i, t in zip(
        data.interactions.user, data.interactions.item, data.interactions.timestamp))
    assert pairs == [("u1", "1", 100), ("u1", "2", 200), ("u1", "2", 200), ("u2", "3", 300),
                     ("u3", "4", 400)]


def test_full_import_replaces_the_bulk_data(stock_personalize, s3, group):
    p = stock_personalize
    run_import(p, s3, group["Interactions"], EVENTS_CSV, "events")
    run_import(p, s3, group["Items"], ITEMS_CSV, "items-full")
    run_import(p, s3, group["Items"], b"ITEM_ID,GENRE,PRICE\n5,changed,\n", "items-again",
               importMode="FULL")
    assert items_seen(group["group"]) == {"5": ("changed", None)}


def test_put_events_survive_full_and_incremental_imports(stock_personalize, s3, group):
    p = stock_personalize
    from tests.conftest import make_client
    events = make_client("personalize-events", shipped_models=False)
    run_import(p, s3, group["Interactions"], EVENTS_CSV, "events")
    tracking = p.create_event_tracker(name="shop-tracker",
                                      datasetGroupArn=group["group"])["trackingId"]
    events.put_events(trackingId=tracking, userId="u9", sessionId="s9", eventList=[
        {"eventType": "click", "itemId": "6", "sentAt": 500}])

    def recorded_pairs():
        data = load_training_data(group["group"])
        return {(str(data.user_ids[u]), str(data.item_ids[i]))
                for u, i in zip(data.interactions.user, data.interactions.item)}
    run_import(p, s3, group["Interactions"], b"USER_ID,ITEM_ID,TIMESTAMP\nu5,1,10\n", "full-2")
    assert recorded_pairs() == {("u5", "1"), ("u9", "6")}
    run_import(p, s3, group["Interactions"], b"USER_ID,ITEM_ID,TIMESTAMP\nu6,2,20\n", "incr-2",
               importMode="INCREMENTAL")
    assert recorded_pairs() == {("u5", "1"), ("u6", "2"), ("u9", "6")}


def test_a_failed_incremental_import_keeps_the_data(stock_personalize, personalize, s3, group):
    p = stock_personalize
    run_import(p, s3, group["Interactions"], EVENTS_CSV, "events")
    run_import(p, s3, group["Items"], ITEMS_CSV, "items-full")
    job = run_import(p, s3, group["Items"], b"ITEM_ID,GENRE,PRICE\n5,changed,cheap\n", "bad",
                     importMode="INCREMENTAL")
    # the seed's job/run split: the run that imported says how it ended (shipped models)
    run = personalize.describe_dataset_import_job(
        datasetImportJobArn=job["datasetImportJobArn"])["datasetImportJob"]["latestDatasetImportJobRun"]
    assert run["status"] == "CREATE FAILED" and "PRICE" in run["failureReason"], run
    assert items_seen(group["group"])["5"] == ("g5", 5.5)


def test_incremental_needs_bulk_data_first(stock_personalize, s3, group):
    s3.put_object(Bucket=BUCKET, Key="x.csv", Body=ITEMS_CSV)
    with pytest.raises(ClientError) as e:
        stock_personalize.create_dataset_import_job(
            jobName="too-early", datasetArn=group["Items"], roleArn=ROLE,
            dataSource={"dataLocation": f"s3://{BUCKET}/x.csv"}, importMode="INCREMENTAL")
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
    assert "importMode" in e.value.response["Error"]["Message"]
