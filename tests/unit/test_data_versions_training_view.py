"""The training view over imported data versions: what the recipes receive
(seed: "Creating an Events Solution", SolutionConfig.eventValueThreshold,
CreateSolution.eventType, "Datasets and Schemas")."""
import csv
import json

import boto3
import numpy as np
import pytest

from chalicelib.datasets import sample, training_view
from chalicelib.datasets.training_view import load_training_data
from tests.conftest import make_client, moto_world
from tests.support import stepfunctions as sfn

ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"


@pytest.fixture(scope="module")
def personalize():
    """One moto world for the module (the imports below take a few seconds)."""
    with moto_world():
        sfn.reset()
        yield make_client("personalize")
        sfn.reset()


@pytest.fixture(scope="module")
def shop(personalize, tmp_path_factory):
    """The sample dataset (small) imported into one dataset group through boto3."""
    tmp_path = tmp_path_factory.mktemp("shop")
    paths = sample.generate(str(tmp_path), seed=3, n_users=40, n_items=300, n_interactions=3000)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="sample")
    group = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
    for kind, dataset_type in (("interactions", "Interactions"), ("items", "Items"),
                               ("users", "Users")):
        with open(paths[f"{kind}.schema"]) as f:
            schema_arn = personalize.create_schema(name=f"shop-{kind}", schema=f.read())["schemaArn"]
        dataset = personalize.create_dataset(datasetGroupArn=group, schemaArn=schema_arn,
                                             datasetType=dataset_type, name=f"shop-{kind}")
        s3.upload_file(paths[kind], "sample", f"{kind}.csv")
        job = personalize.create_dataset_import_job(
            jobName=f"shop-{kind}", datasetArn=dataset["datasetArn"], roleArn=ROLE,
            dataSource={"dataLocation": f"s3://sample/{kind}.csv"})["datasetImportJobArn"]
        run = personalize.describe_dataset_import_job(
            datasetImportJobArn=job)["datasetImportJob"]["latestDatasetImportJobRun"]
        assert run["status"] == "ACTIVE", run.get("failureReason")
    rows = {}
    for kind in ("interactions", "items", "users"):
        with open(paths[kind], newline="") as f:
            rows[kind] = list(csv.DictReader(f))
    return group, rows


def test_everything_imported_is_there(shop):
    group, rows = shop
    data = load_training_data(group)
    interactions = rows["interactions"]
    assert len(data.interactions) == len(interactions) == 3000
    assert data.user_ids.tolist() == sorted({r["USER_ID"] for r in interactions})
    assert data.n_items == 300  # the catalogue includes items nobody interacted with
    assert set(data.event_types) == {r["EVENT_TYPE"] for r in interactions}
    # Every (user, item, timestamp, type, value) row survives, in user-then-time order.
    got = sorted(zip(data.user_ids[data.interactions.user].tolist(),
                     data.item_ids[data.interactions.item].tolist(),
                     data.interactions.timestamp.tolist(),
                     [data.event_types[c] for c in data.interactions.event_type],
                     [round(v, 1) for v in data.interactions.event_value.tolist()]))
    want = sorted((r["USER_ID"], r["ITEM_ID"], int(r["TIMESTAMP"]), r["EVENT_TYPE"],
                   float(r["EVENT_VALUE"])) for r in interactions)
    assert got == want
    key = data.interactions.user.astype(np.int64) * 10 ** 10 + data.interactions.timestamp
    assert (np.diff(key) >= 0).all()


def test_event_type_and_value_threshold_filters(shop):
    group, rows = shop
    clicks = [r for r in rows["interactions"] if r["EVENT_TYPE"] == "click"]
    data = load_training_data(group, event_type="click")
    assert len(data.interactions) == len(clicks)
    assert data.event_types == ("click",)
    strong = [r for r in clicks if float(r["EVENT_VALUE"]) >= 3.1]
    data = load_training_data(group, event_type="click", event_value_threshold="3.1")
    assert len(data.interactions) == len(strong)  # exact at the threshold
    assert any(r["EVENT_VALUE"] == "3.1" for r in strong)
    assert data.user_ids.tolist() == sorted({r["USER_ID"] for r in strong})
    with pytest.raises(ValueError, match="pass the filters"):
        load_training_data(group, event_type="no-such-type")


def test_metadata_aligned_to_indices(shop):
    group, rows = shop
    data = load_training_data(group)
    genres = {r["ITEM_ID"]: r["GENRE"] for r in rows["items"]}
    assert data.items.categorical == ("GENRE",)
    assert data.items.fields["GENRE"].tolist() == [genres[i] for i in data.item_ids.tolist()]
    users = {r["USER_ID"]: r for r in rows["users"]}
    assert data.users.categorical == ("SEGMENT",)
    assert data.users.fields["SEGMENT"].tolist() == [users[u]["SEGMENT"] for u in data.user_ids]
    ages = data.users.fields["AGE"]
    for index, user in enumerate(data.user_ids.tolist()):
        if users[user]["AGE"]:
            assert ages[index] == int(users[user]["AGE"])
        else:
            assert np.isnan(ages[index])


def test_recorded_events_join_the_imports(shop, monkeypatch):
    group, rows = shop
    assert len(training_view.recorded_events(group)["USER_ID"]) == 0  # none recorded

    def events(arn):
        assert arn == group
        return {"USER_ID": np.array(["new-user", "1"]), "ITEM_ID": np.array(["new-item", "1"]),
                "TIMESTAMP": np.array([2_000_000_000, 2_000_000_001], np.int64),
                "EVENT_TYPE": np.array(["click", "click"]),
                "EVENT_VALUE": np.array([4.0, np.nan])}
    monkeypatch.setattr(training_view, "recorded_events", events)
    data = load_training_data(group)
    assert len(data.interactions) == len(rows["interactions"]) + 2
    assert "new-user" in data.user_ids.tolist() and "new-item" in data.item_ids.tolist()
    newest = np.argmax(data.interactions.timestamp)
    assert data.user_ids[data.interactions.user[newest]] == "1"
    # Threshold: an event without a value never passes.
    filtered = load_training_data(group, event_type="click", event_value_threshold=4.0)
    assert "new-user" in filtered.user_ids.tolist()
    assert not (filtered.interactions.timestamp == 2_000_000_001).any()


def test_group_without_data(personalize):
    group = personalize.create_dataset_group(name="empty")["datasetGroupArn"]
    with pytest.raises(training_view.NoTrainingData, match="has no interactions"):
        load_training_data(group)


def test_sample_schemas_are_accepted_by_create_schema(personalize, tmp_path):
    paths = sample.generate(str(tmp_path), n_users=5, n_items=10, n_interactions=20)
    for kind in ("interactions", "items", "users"):
        with open(paths[f"{kind}.schema"]) as f:
            text = f.read()
        assert json.loads(text)["name"].lower() == kind
        personalize.create_schema(name=f"s-{kind}", schema=text)
