"""Event trackers as a boto3 user sees them (seed: "Recording Events";
CreateEventTracker, DescribeEventTracker, ListEventTrackers, DeleteEventTracker)."""
import json
import threading
import uuid

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/CloudWatchFull"
ACCT = "arn:aws:personalize:us-east-1:000000000000"


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_tracker_creates_the_event_interactions_dataset(personalize):
    group = personalize.create_dataset_group(name="MovieClickGroup")["datasetGroupArn"]
    out = personalize.create_event_tracker(name="MovieClickTracker", datasetGroupArn=group, roleArn=ROLE)
    assert out["eventTrackerArn"] == f"{ACCT}:event-tracker/MovieClickTracker"
    assert str(uuid.UUID(out["trackingId"])) == out["trackingId"]
    tracker = personalize.describe_event_tracker(eventTrackerArn=out["eventTrackerArn"])["eventTracker"]
    assert (tracker["name"], tracker["datasetGroupArn"], tracker["roleArn"], tracker["status"],
            tracker["trackingId"], tracker["accountId"]) == \
        ("MovieClickTracker", group, ROLE, "ACTIVE", out["trackingId"], "000000000000")
    # Seed, "Event-Interactions Dataset": ListDatasets shows it, DescribeDataset describes it.
    datasets = personalize.list_datasets(datasetGroupArn=group)["datasets"]
    assert [d["datasetType"] for d in datasets] == ["EVENT_INTERACTIONS"]
    dataset = personalize.describe_dataset(datasetArn=datasets[0]["datasetArn"])["dataset"]
    assert dataset["datasetArn"] == f"{ACCT}:dataset/MovieClickGroup/EVENT_INTERACTIONS"
    assert dataset["schemaArn"] == f"{ACCT}:schema/event-interactions-schema"
    assert dataset["status"] == "ACTIVE"
    # Seed, "Event Interactions Schema".
    schema = personalize.describe_schema(schemaArn=dataset["schemaArn"])["schema"]
    assert schema["name"] == "event-interactions-schema"
    assert [f["name"] for f in json.loads(schema["schema"])["fields"]] == \
        ["user_id", "session_id", "timestamp", "event_type", "item_id", "event_value"]


def test_stock_client(stock_personalize):
    group = stock_personalize.create_dataset_group(name="g")["datasetGroupArn"]
    out = stock_personalize.create_event_tracker(name="t", datasetGroupArn=group)  # no roleArn today
    assert out["trackingId"]
    trackers = stock_personalize.list_event_trackers(datasetGroupArn=group)["eventTrackers"]
    assert [t["eventTrackerArn"] for t in trackers] == [out["eventTrackerArn"]]


def test_one_tracker_per_group(personalize):
    group = personalize.create_dataset_group(name="g")["datasetGroupArn"]
    personalize.create_event_tracker(name="first", datasetGroupArn=group, roleArn=ROLE)
    with pytest.raises(ClientError) as e:
        personalize.create_event_tracker(name="second", datasetGroupArn=group, roleArn=ROLE)
    # "You will get an error ... even if you use a different event tracker name."
    assert code(e) == "ResourceAlreadyExistsException" and "first" in str(e.value)
    with pytest.raises(ClientError) as e:
        personalize.describe_event_tracker(eventTrackerArn=f"{ACCT}:event-tracker/second")
    assert code(e) == "ResourceNotFoundException"
    # the same name in another group is taken too (the ARN holds the name)
    other = personalize.create_dataset_group(name="other")["datasetGroupArn"]
    with pytest.raises(ClientError) as e:
        personalize.create_event_tracker(name="first", datasetGroupArn=other, roleArn=ROLE)
    assert code(e) == "ResourceAlreadyExistsException"
    assert personalize.list_datasets(datasetGroupArn=other)["datasets"] == []  # nothing half-written


def test_concurrent_trackers_on_one_group(atomic_moto, threaded_personalize):
    group = threaded_personalize.create_dataset_group(name="g")["datasetGroupArn"]
    results, barrier = [], threading.Barrier(8)

    def create(i):
        barrier.wait()
        try:
            threaded_personalize.create_event_tracker(name=f"t{i}", datasetGroupArn=group, roleArn=ROLE)
            results.append("ok")
        except ClientError as e:
            results.append(e.response["Error"]["Code"])

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results.count("ok") == 1, results
    assert len(threaded_personalize.list_event_trackers(datasetGroupArn=group)["eventTrackers"]) == 1
    assert len(threaded_personalize.list_datasets(datasetGroupArn=group)["datasets"]) == 1


def test_missing_or_inactive_group(personalize):
    with pytest.raises(ClientError) as e:
        personalize.create_event_tracker(name="t", datasetGroupArn=f"{ACCT}:dataset-group/none",
                                         roleArn=ROLE)
    assert code(e) == "ResourceNotFoundException"
    for call in (personalize.describe_event_tracker, personalize.delete_event_tracker):
        with pytest.raises(ClientError) as e:
            call(eventTrackerArn=f"{ACCT}:event-tracker/none")
        assert code(e) == "ResourceNotFoundException"


def test_delete_keeps_the_dataset_and_allows_a_new_tracker(personalize):
    from chalicelib.service import event_trackers
    group = personalize.create_dataset_group(name="g")["datasetGroupArn"]
    first = personalize.create_event_tracker(name="t1", datasetGroupArn=group, roleArn=ROLE)
    assert event_trackers.tracker_for(first["trackingId"])["eventTrackerArn"] == first["eventTrackerArn"]
    personalize.delete_event_tracker(eventTrackerArn=first["eventTrackerArn"])
    with pytest.raises(ClientError) as e:
        personalize.describe_event_tracker(eventTrackerArn=first["eventTrackerArn"])
    assert code(e) == "ResourceNotFoundException"
    assert event_trackers.tracker_for(first["trackingId"]) is None  # the old id no longer records
    # Seed, DeleteEventTracker: "Does not delete the clickstream dataset".
    datasets = personalize.list_datasets(datasetGroupArn=group)["datasets"]
    assert [d["datasetType"] for d in datasets] == ["EVENT_INTERACTIONS"]
    second = personalize.create_event_tracker(name="t2", datasetGroupArn=group, roleArn=ROLE)
    assert second["trackingId"] != first["trackingId"]
    assert len(personalize.list_datasets(datasetGroupArn=group)["datasets"]) == 1
    tracker = event_trackers.tracker_for(second["trackingId"])
    assert event_trackers.event_interactions_dataset_arn(tracker) == datasets[0]["datasetArn"]


def test_event_dataset_rules(personalize):
    group = personalize.create_dataset_group(name="g")["datasetGroupArn"]
    tracker = personalize.create_event_tracker(name="t", datasetGroupArn=group, roleArn=ROLE)
    dataset = f"{ACCT}:dataset/g/EVENT_INTERACTIONS"
    with pytest.raises(ClientError) as e:  # the tracker writes to it
        personalize.delete_dataset(datasetArn=dataset)
    assert code(e) == "ResourceInUseException"
    with pytest.raises(ClientError) as e:  # the shared schema is in use
        personalize.delete_schema(schemaArn=f"{ACCT}:schema/event-interactions-schema")
    assert code(e) == "ResourceInUseException"
    personalize.delete_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])
    personalize.delete_dataset(datasetArn=dataset)
    personalize.delete_dataset_group(datasetGroupArn=group)


def test_list_pages(personalize):
    for i in range(5):
        group = personalize.create_dataset_group(name=f"g{i}")["datasetGroupArn"]
        personalize.create_event_tracker(name=f"t{i}", datasetGroupArn=group, roleArn=ROLE)
    page = personalize.list_event_trackers(maxResults=2)
    assert [t["name"] for t in page["eventTrackers"]] == ["t4", "t3"]
    assert "trackingId" not in page["eventTrackers"][0]  # summaries only
    rest = personalize.list_event_trackers(nextToken=page["nextToken"])
    assert [t["name"] for t in rest["eventTrackers"]] == ["t2", "t1", "t0"]
    assert [t["name"] for t in personalize.list_event_trackers(
        datasetGroupArn=f"{ACCT}:dataset-group/g1")["eventTrackers"]] == ["t1"]
    with pytest.raises(ClientError) as e:
        personalize.list_event_trackers(nextToken="nope")
    assert code(e) == "InvalidNextTokenException"
