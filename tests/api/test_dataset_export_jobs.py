"""Dataset export jobs (today's CreateDatasetExportJob / DescribeDatasetExportJob /
ListDatasetExportJobs) through a stock boto3 client: the CSV files hold the dataset's records
for the ingestionMode asked (BULK imported, PUT put / recorded, ALL both); the workflow runs
in process."""
import csv
import io
import json

import pytest
from botocore.exceptions import ClientError
from tests.support import stepfunctions as sfn

from tests.conftest import make_client

ROLE = "arn:aws:iam::123456789012:role/PersonalizeS3"
BUCKET = "personalize-data"
ITEMS = json.dumps({"type": "record", "name": "Items", "fields": [
    {"name": "ITEM_ID", "type": "string"},
    {"name": "GENRE", "type": "string", "categorical": True},
    {"name": "PRICE", "type": ["null", "double"]},
    {"name": "IN_STOCK", "type": ["null", "boolean"]}], "version": "1.0"})
INTERACTIONS = json.dumps({"type": "record", "name": "Interactions", "fields": [
    {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
    {"name": "TIMESTAMP", "type": "long"},
    {"name": "EVENT_TYPE", "type": ["null", "string"]}], "version": "1.0"})
ITEMS_CSV = b"ITEM_ID,GENRE,PRICE,IN_STOCK\ni1,Horror|Action,1.5,true\ni2,Drama,,false\ni3,Drama,3,\n"


@pytest.fixture
def shop(stock_personalize, s3):
    p = stock_personalize
    group = p.create_dataset_group(name="shop")["datasetGroupArn"]
    out = {"group": group}
    for kind, text in (("Interactions", INTERACTIONS), ("Items", ITEMS)):
        schema = p.create_schema(name=f"shop-{kind}", schema=text)["schemaArn"]
        out[kind] = p.create_dataset(name=f"shop-{kind}", datasetGroupArn=group,
                                     schemaArn=schema, datasetType=kind)["datasetArn"]
    s3.create_bucket(Bucket="exports")
    return out


def imported(p, s3, dataset, body, name):
    s3.put_object(Bucket=BUCKET, Key=f"{name}.csv", Body=body)
    p.create_dataset_import_job(jobName=name, datasetArn=dataset, roleArn=ROLE,
                                dataSource={"dataLocation": f"s3://{BUCKET}/{name}.csv"})
    sfn.wait_executions()


def export(p, dataset, name, mode=None, path="s3://exports/out"):
    extra = {"ingestionMode": mode} if mode else {}
    arn = p.create_dataset_export_job(jobName=name, datasetArn=dataset, roleArn=ROLE,
                                      jobOutput={"s3DataDestination": {"path": path}},
                                      **extra)["datasetExportJobArn"]
    sfn.wait_executions()
    return p.describe_dataset_export_job(datasetExportJobArn=arn)["datasetExportJob"]


def rows(s3, name):
    """(header, rows) of every CSV part the job wrote."""
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="exports", Prefix=f"out/{name}/")
                  .get("Contents", []))
    assert keys, "no file written"
    header, out = None, []
    for key in keys:
        reader = csv.reader(io.StringIO(s3.get_object(Bucket="exports", Key=key)["Body"].read().decode()))
        header = next(reader)
        out += [tuple(r) for r in reader]
    return header, sorted(out)


def test_bulk_export_equals_the_imported_records(stock_personalize, s3, shop):
    p = stock_personalize
    imported(p, s3, shop["Items"], ITEMS_CSV, "items")
    job = export(p, shop["Items"], "items-bulk", "BULK")
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert (job["jobName"], job["datasetArn"], job["ingestionMode"], job["roleArn"]) == \
        ("items-bulk", shop["Items"], "BULK", ROLE)
    assert job["jobOutput"] == {"s3DataDestination": {"path": "s3://exports/out"}}
    assert job["datasetExportJobArn"].endswith(":dataset-export-job/items-bulk")
    header, found = rows(s3, "items-bulk")
    assert header == ["ITEM_ID", "GENRE", "PRICE", "IN_STOCK"]
    assert found == [("i1", "Horror|Action", "1.5", "true"), ("i2", "Drama", "", "false"),
                     ("i3", "Drama", "3.0", "")]


def test_put_all_and_default_modes(stock_personalize, s3, shop):
    p = stock_personalize
    events = make_client("personalize-events", shipped_models=False)
    imported(p, s3, shop["Items"], ITEMS_CSV, "items")
    events.put_items(datasetArn=shop["Items"], items=[
        {"itemId": "i2", "properties": json.dumps({"genre": "Comedy", "price": 9})},
        {"itemId": "i9", "properties": json.dumps({"genre": "Western", "inStock": True})}])
    job = export(p, shop["Items"], "items-put")          # the default is PUT
    assert (job["status"], job["ingestionMode"]) == ("ACTIVE", "PUT")
    assert rows(s3, "items-put")[1] == [("i2", "Comedy", "9.0", ""), ("i9", "Western", "", "true")]
    export(p, shop["Items"], "items-all", "ALL")
    assert rows(s3, "items-all")[1] == [
        ("i1", "Horror|Action", "1.5", "true"), ("i2", "Comedy", "9.0", ""),
        ("i3", "Drama", "3.0", ""), ("i9", "Western", "", "true")]


def test_interactions_put_are_the_recorded_events(stock_personalize, s3, shop):
    p = stock_personalize
    events = make_client("personalize-events", shipped_models=False)
    imported(p, s3, shop["Interactions"], b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu1,i1,100,buy\n",
             "ratings")
    tracking = p.create_event_tracker(name="shop-tracker", datasetGroupArn=shop["group"])["trackingId"]
    events.put_events(trackingId=tracking, userId="u2", sessionId="s", eventList=[
        {"eventType": "click", "itemId": "i3", "sentAt": 200}])
    export(p, shop["Interactions"], "interactions-all", "ALL")
    header, found = rows(s3, "interactions-all")
    assert header == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"]
    assert found == [("u1", "i1", "100", "buy"), ("u2", "i3", "200", "click")]
    export(p, shop["Interactions"], "interactions-bulk", "BULK")
    assert rows(s3, "interactions-bulk")[1] == [("u1", "i1", "100", "buy")]


def test_a_missing_bucket_fails_the_job_with_a_reason(stock_personalize, s3, shop):
    p = stock_personalize
    job = export(p, shop["Items"], "nowhere", "ALL", path="s3://no-such-bucket/x")
    assert job["status"] == "CREATE FAILED"
    assert job["failureReason"] == "The jobOutput bucket no-such-bucket does not exist"


def test_list_and_errors(stock_personalize, s3, shop):
    p = stock_personalize
    imported(p, s3, shop["Items"], ITEMS_CSV, "items")
    export(p, shop["Items"], "first", "BULK")
    export(p, shop["Items"], "second", "BULK")
    listed = p.list_dataset_export_jobs(datasetArn=shop["Items"])["datasetExportJobs"]
    assert [j["jobName"] for j in listed] == ["second", "first"]
    assert all(j["status"] == "ACTIVE" for j in listed)
    assert p.list_dataset_export_jobs(datasetArn=shop["Interactions"])["datasetExportJobs"] == []
    assert len(p.list_dataset_export_jobs(maxResults=1)["datasetExportJobs"]) == 1
    with pytest.raises(ClientError) as e:
        export(p, shop["Items"], "first", "BULK")
    assert e.value.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        export(p, shop["Items"], "bad-path", "BULK", path="https://example.com/x")
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
    assert "jobOutput.s3DataDestination.path" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        export(p, shop["Items"].replace("shop", "none"), "gone", "BULK")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        p.describe_dataset_export_job(datasetExportJobArn=listed[0]["datasetExportJobArn"] + "x")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
