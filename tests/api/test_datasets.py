"""Datasets as a boto3 user sees them (seed: CreateDataset, DescribeDataset,
ListDatasets, UpdateDataset, DeleteDataset; "Datasets and Schemas")."""
import json

import pytest
from botocore.exceptions import ClientError
from tests.support import stepfunctions as sfn

ACCT = "arn:aws:personalize:us-east-1:000000000000"


def schema_text(name, *extra):
    fields = {"Interactions": ["USER_ID", "ITEM_ID"], "Users": ["USER_ID"], "Items": ["ITEM_ID"]}[name]
    out = [{"name": f, "type": "string"} for f in fields]
    if name == "Interactions":
        out.append({"name": "TIMESTAMP", "type": "long"})
    return json.dumps({"type": "record", "name": name, "fields": out + list(extra), "version": "1.0"})


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def setup(personalize):
    group = personalize.create_dataset_group(name="MovieRatingDatasetGroup")["datasetGroupArn"]
    schemas = {t: personalize.create_schema(name=f"{t}Schema", schema=schema_text(t))["schemaArn"]
               for t in ("Interactions", "Users", "Items")}
    return personalize, group, schemas


def test_create_as_in_getting_started(setup):
    personalize, group, schemas = setup
    arn = personalize.create_dataset(name="ratings", datasetGroupArn=group, datasetType="Interactions",
                                     schemaArn=schemas["Interactions"])["datasetArn"]
    assert arn == f"{ACCT}:dataset/MovieRatingDatasetGroup/INTERACTIONS"
    d = personalize.describe_dataset(datasetArn=arn)["dataset"]
    assert (d["name"], d["datasetGroupArn"], d["datasetType"], d["schemaArn"], d["status"]) == \
        ("ratings", group, "INTERACTIONS", schemas["Interactions"], "ACTIVE")
    assert d["creationDateTime"] <= d["lastUpdatedDateTime"]


def test_name_may_be_omitted_as_in_the_cli_chapter(setup):
    """Seed, "Getting Started (AWS CLI)": create-dataset has no --name."""
    personalize, group, schemas = setup
    for t in ("Interactions", "Users"):
        arn = personalize.create_dataset(datasetGroupArn=group, datasetType=t,
                                         schemaArn=schemas[t])["datasetArn"]
        assert personalize.describe_dataset(datasetArn=arn)["dataset"]["name"] == t.lower()


def test_one_dataset_per_type(setup):
    personalize, group, schemas = setup
    for t in ("Interactions", "users", "ITEMS"):
        personalize.create_dataset(name=t.lower(), datasetGroupArn=group, datasetType=t,
                                   schemaArn=schemas[t.title()])
    with pytest.raises(ClientError) as e:
        personalize.create_dataset(name="again", datasetGroupArn=group, datasetType="interactions",
                                   schemaArn=schemas["Interactions"])
    assert code(e) == "ResourceAlreadyExistsException"
    listed = personalize.list_datasets(datasetGroupArn=group)["datasets"]
    assert sorted(d["datasetType"] for d in listed) == ["INTERACTIONS", "ITEMS", "USERS"]


def test_type_must_match_schema(setup):
    personalize, group, schemas = setup
    with pytest.raises(ClientError) as e:
        personalize.create_dataset(name="d", datasetGroupArn=group, datasetType="Users",
                                   schemaArn=schemas["Interactions"])
    assert code(e) == "InvalidInputException" and "Users" in str(e.value)
    for bad_type in ("Ratings", "EVENT_INTERACTIONS"):
        with pytest.raises(ClientError) as e:
            personalize.create_dataset(name="d", datasetGroupArn=group, datasetType=bad_type,
                                       schemaArn=schemas["Interactions"])
        assert code(e) == "InvalidInputException"
    assert personalize.list_datasets(datasetGroupArn=group)["datasets"] == []


def test_missing_references(setup):
    personalize, group, schemas = setup
    with pytest.raises(ClientError) as e:
        personalize.create_dataset(name="d", datasetGroupArn=f"{ACCT}:dataset-group/none",
                                   datasetType="Interactions", schemaArn=schemas["Interactions"])
    assert code(e) == "ResourceNotFoundException"
    assert e.value.response["Error"]["Message"] == (
        f"Resource Arn {ACCT}:dataset-group/none does not exist.")
    with pytest.raises(ClientError) as e:
        personalize.create_dataset(name="d", datasetGroupArn=group, datasetType="Interactions",
                                   schemaArn=f"{ACCT}:schema/none")
    assert code(e) == "ResourceNotFoundException"
    assert e.value.response["Error"]["Message"] == f"Resource Arn {ACCT}:schema/none does not exist."
    for call, key in ((personalize.describe_dataset, "datasetArn"), (personalize.delete_dataset, "datasetArn"),
                      (personalize.update_dataset, "datasetArn")):
        with pytest.raises(ClientError) as e:
            call(**{key: f"{ACCT}:dataset/none/INTERACTIONS"})
        assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.list_datasets(datasetGroupArn=f"{ACCT}:dataset-group/none")
    assert code(e) == "ResourceNotFoundException"


def test_list_all_and_paged(setup):
    personalize, group, schemas = setup
    group2 = personalize.create_dataset_group(name="other")["datasetGroupArn"]
    for g in (group, group2):
        for t in ("Interactions", "Items"):
            personalize.create_dataset(name=t.lower(), datasetGroupArn=g, datasetType=t,
                                       schemaArn=schemas[t])
    everything = personalize.list_datasets()["datasets"]
    assert len(everything) == 4
    page = personalize.list_datasets(datasetGroupArn=group2, maxResults=1)
    assert len(page["datasets"]) == 1 and page["nextToken"]
    rest = personalize.list_datasets(datasetGroupArn=group2, nextToken=page["nextToken"])
    assert len(rest["datasets"]) == 1 and "nextToken" not in rest
    assert {d["datasetArn"] for d in page["datasets"] + rest["datasets"]} == \
        {f"{ACCT}:dataset/other/INTERACTIONS", f"{ACCT}:dataset/other/ITEMS"}
    with pytest.raises(ClientError) as e:
        personalize.list_datasets(datasetGroupArn=group, nextToken=page["nextToken"])
    assert code(e) == "InvalidNextTokenException"


def test_update_schema(setup):
    personalize, group, schemas = setup
    arn = personalize.create_dataset(name="items", datasetGroupArn=group, datasetType="Items",
                                     schemaArn=schemas["Items"])["datasetArn"]
    richer = personalize.create_schema(name="Items2", schema=schema_text(
        "Items", {"name": "GENRE", "type": "string", "categorical": True}))["schemaArn"]
    assert personalize.update_dataset(datasetArn=arn, schemaArn=richer)["datasetArn"] == arn
    assert personalize.describe_dataset(datasetArn=arn)["dataset"]["schemaArn"] == richer
    with pytest.raises(ClientError) as e:
        personalize.update_dataset(datasetArn=arn, schemaArn=schemas["Users"])
    assert code(e) == "InvalidInputException"
    with pytest.raises(ClientError) as e:
        personalize.update_dataset(datasetArn=arn, schemaArn=f"{ACCT}:schema/none")
    assert code(e) == "ResourceNotFoundException"
    # the old schema is free now
    personalize.delete_schema(schemaArn=schemas["Items"])


def test_update_while_importing_is_in_use(setup, s3):
    personalize, group, schemas = setup
    from chalicelib.storage.resources import store
    arn = personalize.create_dataset(name="i", datasetGroupArn=group, datasetType="Interactions",
                                     schemaArn=schemas["Interactions"])["datasetArn"]
    other = personalize.create_schema(name="I2", schema=schema_text(
        "Interactions", {"name": "EVENT_TYPE", "type": "string"}))["schemaArn"]
    store().update(arn, {"importRunArn": "a-run"})  # what a running import holds
    with pytest.raises(ClientError) as e:
        personalize.update_dataset(datasetArn=arn, schemaArn=other)
    assert code(e) == "ResourceInUseException" and "a-run" in str(e.value)
    with pytest.raises(ClientError) as e:
        personalize.delete_dataset(datasetArn=arn)
    assert code(e) == "ResourceInUseException"


def test_delete(setup):
    personalize, group, schemas = setup
    arn = personalize.create_dataset(name="u", datasetGroupArn=group, datasetType="Users",
                                     schemaArn=schemas["Users"])["datasetArn"]
    personalize.delete_dataset(datasetArn=arn)
    with pytest.raises(ClientError) as e:
        personalize.describe_dataset(datasetArn=arn)
    assert code(e) == "ResourceNotFoundException"
    # the type slot is free again
    personalize.create_dataset(name="u2", datasetGroupArn=group, datasetType="Users",
                               schemaArn=schemas["Users"])


def test_delete_with_import_jobs_is_in_use(setup, s3):
    personalize, group, schemas = setup
    arn = personalize.create_dataset(name="i", datasetGroupArn=group, datasetType="Interactions",
                                     schemaArn=schemas["Interactions"])["datasetArn"]
    s3.put_object(Bucket="personalize-data", Key="in/r.csv",
                  Body=b"USER_ID,ITEM_ID,TIMESTAMP\n1,2,3\n")
    job = personalize.create_dataset_import_job(
        jobName="j", datasetArn=arn, dataSource={"dataLocation": "s3://personalize-data/in/r.csv"},
        roleArn="arn:aws:iam::123456789012:role/r")["datasetImportJobArn"]
    _wait_import_done(personalize, job)
    with pytest.raises(ClientError) as e:
        personalize.delete_dataset(datasetArn=arn)
    assert code(e) == "ResourceInUseException" and job in str(e.value)
    assert personalize.describe_dataset(datasetArn=arn)["dataset"]["status"] == "ACTIVE"
    personalize.delete_dataset_import_job(datasetImportJobArn=job)
    assert s3.list_objects_v2(Bucket="personalize-internal", Prefix="data-versions/")["KeyCount"] > 0
    personalize.delete_dataset(datasetArn=arn)
    # the imported data goes with the dataset
    assert s3.list_objects_v2(Bucket="personalize-data", Prefix="data-versions/")["KeyCount"] == 0


def _wait_import_done(personalize, job):
    sfn.wait_executions()
    run = personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
    return run


def items_schema(*extra, genre=None):
    fields = [{"name": "ITEM_ID", "type": "string"},
              genre or {"name": "GENRE", "type": "string", "categorical": True}, *extra]
    return json.dumps({"type": "record", "name": "Items", "fields": fields, "version": "1.0"})


def test_update_dataset_replaces_the_schema_as_today(stock_personalize):
    """Today's UpdateDataset: the replacement keeps every field with its type and attributes;
    DescribeDataset shows latestDatasetUpdate."""
    client = stock_personalize
    group = client.create_dataset_group(name="g")["datasetGroupArn"]
    first = client.create_schema(name="items-1", schema=items_schema())["schemaArn"]
    arn = client.create_dataset(name="items", datasetGroupArn=group, datasetType="Items",
                                schemaArn=first)["datasetArn"]
    assert "latestDatasetUpdate" not in client.describe_dataset(datasetArn=arn)["dataset"]
    richer = client.create_schema(name="items-2", schema=items_schema(
        {"name": "PRICE", "type": ["null", "float"]}))["schemaArn"]
    assert client.update_dataset(datasetArn=arn, schemaArn=richer)["datasetArn"] == arn
    d = client.describe_dataset(datasetArn=arn)["dataset"]
    assert d["schemaArn"] == richer and d["status"] == "ACTIVE" and d["datasetType"] == "ITEMS"
    update = d["latestDatasetUpdate"]
    assert update["schemaArn"] == richer and update["status"] == "ACTIVE"
    assert update["creationDateTime"] <= update["lastUpdatedDateTime"] <= d["lastUpdatedDateTime"]
    assert set(d) >= {"name", "datasetArn", "datasetGroupArn", "datasetType", "schemaArn", "status",
                      "creationDateTime", "lastUpdatedDateTime", "latestDatasetUpdate"}
    refused = {
        "GENRE": items_schema(genre={"name": "KIND", "type": "string", "categorical": True}),
        "PRICE": items_schema({"name": "PRICE", "type": "float"}),          # null dropped
        "textual": items_schema({"name": "PRICE", "type": ["null", "float"]},
                                    genre={"name": "GENRE", "type": "string", "categorical": True,
                                           "textual": True}),
    }
    for i, (field, text) in enumerate(refused.items()):
        other = client.create_schema(name=f"bad-{i}", schema=text)["schemaArn"]
        with pytest.raises(ClientError) as e:
            client.update_dataset(datasetArn=arn, schemaArn=other)
        assert code(e) == "InvalidInputException" and field in str(e.value), str(e.value)
    assert client.describe_dataset(datasetArn=arn)["dataset"]["schemaArn"] == richer


def test_new_fields_must_allow_null_once_the_dataset_holds_data(stock_personalize, s3):
    client = stock_personalize
    group = client.create_dataset_group(name="g")["datasetGroupArn"]
    first = client.create_schema(name="items-1", schema=items_schema())["schemaArn"]
    arn = client.create_dataset(name="items", datasetGroupArn=group, datasetType="Items",
                                schemaArn=first)["datasetArn"]
    s3.put_object(Bucket="personalize-data", Key="in/items.csv", Body=b"ITEM_ID,GENRE\ni1,drama\ni2,comedy\n")
    job = client.create_dataset_import_job(
        jobName="j", datasetArn=arn, dataSource={"dataLocation": "s3://personalize-data/in/items.csv"},
        roleArn="arn:aws:iam::123456789012:role/r")["datasetImportJobArn"]
    assert _wait_import_done(client, job)["status"] == "ACTIVE"
    strict = client.create_schema(name="items-2", schema=items_schema(
        {"name": "YEAR", "type": "int"}))["schemaArn"]
    with pytest.raises(ClientError) as e:
        client.update_dataset(datasetArn=arn, schemaArn=strict)
    assert code(e) == "InvalidInputException" and "YEAR" in str(e.value) and "null" in str(e.value)
    nullable = client.create_schema(name="items-3", schema=items_schema(
        {"name": "YEAR", "type": ["null", "int"]}))["schemaArn"]
    client.update_dataset(datasetArn=arn, schemaArn=nullable)
    assert client.describe_dataset(datasetArn=arn)["dataset"]["latestDatasetUpdate"]["schemaArn"] == nullable
