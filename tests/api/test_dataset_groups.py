"""Dataset groups as a boto3 user sees them (seed: CreateDatasetGroup,
DescribeDatasetGroup, ListDatasetGroups, DeleteDatasetGroup)."""
import threading
from datetime import datetime

import pytest
from botocore.exceptions import ClientError

INTERACTIONS_SCHEMA = """{"type": "record", "name": "Interactions",
 "namespace": "com.amazonaws.personalize.schema",
 "fields": [{"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"}], "version": "1.0"}"""


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_create_describe_as_in_getting_started(personalize):
    arn = personalize.create_dataset_group(name="MovieRatingDatasetGroup")["datasetGroupArn"]
    assert arn == "arn:aws:personalize:us-east-1:000000000000:dataset-group/MovieRatingDatasetGroup"
    group = personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]
    assert group["name"] == "MovieRatingDatasetGroup"
    assert group["datasetGroupArn"] == arn
    assert group["status"] == "ACTIVE"
    assert isinstance(group["creationDateTime"], datetime)
    assert group["lastUpdatedDateTime"] >= group["creationDateTime"]
    assert "roleArn" not in group and "kmsKeyArn" not in group


def test_stock_client_sees_the_same(stock_personalize):
    arn = stock_personalize.create_dataset_group(name="g1")["datasetGroupArn"]
    assert stock_personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]["status"] == "ACTIVE"


def test_kms_key_and_role_go_together(personalize):
    role = "arn:aws:iam::123456789012:role/kms-user"
    key = "arn:aws:kms:us-east-1:123456789012:key/abc"
    arn = personalize.create_dataset_group(name="enc", roleArn=role, kmsKeyArn=key)["datasetGroupArn"]
    group = personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]
    assert (group["roleArn"], group["kmsKeyArn"]) == (role, key)
    with pytest.raises(ClientError) as e:
        personalize.create_dataset_group(name="role-only", roleArn=role)
    assert code(e) == "InvalidInputException" and "kmsKeyArn" in str(e.value)
    with pytest.raises(ClientError) as e:
        personalize.create_dataset_group(name="key-only", kmsKeyArn=key)
    assert code(e) == "InvalidInputException"


def test_duplicate_name_is_refused(personalize):
    personalize.create_dataset_group(name="dup")
    with pytest.raises(ClientError) as e:
        personalize.create_dataset_group(name="dup")
    assert code(e) == "ResourceAlreadyExistsException"


def test_invalid_name_is_refused(personalize):
    with pytest.raises(ClientError) as e:
        personalize.create_dataset_group(name="-starts-with-dash")
    assert code(e) == "InvalidInputException"


def test_twenty_concurrent_creates_with_one_name(atomic_moto, threaded_personalize):
    results, barrier = [], threading.Barrier(20)

    def create():
        barrier.wait()
        try:
            threaded_personalize.create_dataset_group(name="race")
            results.append("ok")
        except ClientError as e:
            results.append(e.response["Error"]["Code"])

    threads = [threading.Thread(target=create) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1
    assert results.count("ResourceAlreadyExistsException") == 19
    assert len(threaded_personalize.list_dataset_groups()["datasetGroups"]) == 1


def test_describe_missing(personalize):
    with pytest.raises(ClientError) as e:
        personalize.describe_dataset_group(
            datasetGroupArn="arn:aws:personalize:us-east-1:000000000000:dataset-group/nope")
    assert code(e) == "ResourceNotFoundException"


def test_list_pages_newest_first(personalize):
    names = [f"g{i:02d}" for i in range(7)]
    for name in names:
        personalize.create_dataset_group(name=name)
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"maxResults": 3, **({"nextToken": token} if token else {})}
        page = personalize.list_dataset_groups(**kwargs)
        pages += 1
        assert len(page["datasetGroups"]) <= 3
        seen += [g["name"] for g in page["datasetGroups"]]
        token = page.get("nextToken")
        if not token:
            break
    assert pages == 3
    assert seen == list(reversed(names))
    summary = personalize.list_dataset_groups(maxResults=1)["datasetGroups"][0]
    assert set(summary) <= {"name", "datasetGroupArn", "status", "creationDateTime",
                            "lastUpdatedDateTime", "failureReason"}


def test_list_exactly_one_page_has_no_token(personalize):
    for i in range(3):
        personalize.create_dataset_group(name=f"p{i}")
    page = personalize.list_dataset_groups(maxResults=3)
    assert len(page["datasetGroups"]) == 3 and "nextToken" not in page


def test_paginator(personalize):
    for i in range(5):
        personalize.create_dataset_group(name=f"pg{i}")
    pages = list(personalize.get_paginator("list_dataset_groups").paginate(
        PaginationConfig={"PageSize": 2}))
    assert sum(len(p["datasetGroups"]) for p in pages) == 5


@pytest.mark.parametrize("token", ["garbage", "eyJpIjoiYnlUeXBlIn0", "x" * 1200])
def test_bad_next_token(personalize, token):
    personalize.create_dataset_group(name="t")
    with pytest.raises(ClientError) as e:
        personalize.list_dataset_groups(nextToken=token)
    assert code(e) == "InvalidNextTokenException"


def test_token_from_another_listing_is_refused(personalize):
    for i in range(3):
        personalize.create_dataset_group(name=f"tk{i}")
        personalize.create_schema(name=f"s{i}", schema=INTERACTIONS_SCHEMA)
    token = personalize.list_schemas(maxResults=1)["nextToken"]
    with pytest.raises(ClientError) as e:
        personalize.list_dataset_groups(nextToken=token)
    assert code(e) == "InvalidNextTokenException"


def test_delete_empty_group(personalize):
    arn = personalize.create_dataset_group(name="gone")["datasetGroupArn"]
    personalize.delete_dataset_group(datasetGroupArn=arn)
    with pytest.raises(ClientError) as e:
        personalize.describe_dataset_group(datasetGroupArn=arn)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        personalize.delete_dataset_group(datasetGroupArn=arn)
    assert code(e) == "ResourceNotFoundException"
    # the name is free again
    assert personalize.create_dataset_group(name="gone")["datasetGroupArn"] == arn


def test_delete_group_with_datasets_lists_them(personalize):
    group = personalize.create_dataset_group(name="full")["datasetGroupArn"]
    schema = personalize.create_schema(name="s", schema=INTERACTIONS_SCHEMA)["schemaArn"]
    dataset = personalize.create_dataset(name="d", datasetGroupArn=group, schemaArn=schema,
                                         datasetType="Interactions")["datasetArn"]
    with pytest.raises(ClientError) as e:
        personalize.delete_dataset_group(datasetGroupArn=group)
    # Seed, DeleteDatasetGroup: "an InvalidInputException occurs, which lists the datasets"
    assert code(e) == "InvalidInputException"
    assert dataset in e.value.response["Error"]["Message"]
    # the refused delete leaves the group as it was
    assert personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"] == "ACTIVE"
    personalize.delete_dataset(datasetArn=dataset)
    personalize.delete_dataset_group(datasetGroupArn=group)


def test_delete_group_with_event_tracker_is_in_use(personalize):
    group = personalize.create_dataset_group(name="tracked")["datasetGroupArn"]
    tracker = personalize.create_event_tracker(
        name="t", datasetGroupArn=group,
        roleArn="arn:aws:iam::123456789012:role/cw")["eventTrackerArn"]
    with pytest.raises(ClientError) as e:
        personalize.delete_dataset_group(datasetGroupArn=group)
    # the EVENT_INTERACTIONS dataset is a dataset of the group: listed first
    assert code(e) == "InvalidInputException" and "EVENT_INTERACTIONS" in str(e.value)
    personalize.delete_event_tracker(eventTrackerArn=tracker)
    datasets = personalize.list_datasets(datasetGroupArn=group)["datasets"]
    for d in datasets:
        personalize.delete_dataset(datasetArn=d["datasetArn"])
    personalize.delete_dataset_group(datasetGroupArn=group)


def test_delete_group_with_solution_is_in_use(personalize, aws):
    from chalicelib.domain import lifecycle
    from chalicelib.storage.resources import now, store
    group = personalize.create_dataset_group(name="trained")["datasetGroupArn"]
    # A solution record as the solutions family stores it (a child of the group).
    solution = "arn:aws:personalize:us-east-1:000000000000:solution/s"
    store().put_new({"arn": solution, "status": lifecycle.ACTIVE, "creationDateTime": now()},
                    "solution", parent_arn=group)
    with pytest.raises(ClientError) as e:
        personalize.delete_dataset_group(datasetGroupArn=group)
    assert code(e) == "ResourceInUseException" and solution in str(e.value)
    assert personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["status"] == "ACTIVE"
