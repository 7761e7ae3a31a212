"""PutItems / PutUsers (today's personalize-events API) through a stock boto3 client: records
upserted into the Items / Users datasets, validated against the dataset's schema, seen by the
next training (the training view) and by the runtime's item metadata (searchQuery)."""
import json

import pytest
from botocore.exceptions import ClientError

from chalicelib.datasets.training_view import load_training_data
from tests.api.test_recommendations import (RANKING, deployed, ids, import_file,  # noqa: F401
                                            movie_group, played_training)
from tests.conftest import make_client

USERS_SCHEMA = json.dumps({"type": "record", "name": "Users", "fields": [
    {"name": "USER_ID", "type": "string"},
    {"name": "NUMBER_OF_VIDEOS_WATCHED", "type": ["null", "int"]},
    {"name": "MEMBERSHIP", "type": "string", "categorical": True}], "version": "1.0"})


def code(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


@pytest.fixture
def stock_events(aws):
    return make_client("personalize-events", shipped_models=False)


@pytest.fixture
def shop(personalize, s3, played_training):
    group = movie_group(personalize, s3, with_items=True)
    datasets = {d["datasetType"]: d["datasetArn"]
                for d in personalize.list_datasets(datasetGroupArn=group)["datasets"]}
    return group, datasets


def genres(group):
    data = load_training_data(group)
    return dict(zip(data.item_ids.tolist(), data.items.fields["GENRE"].tolist()))


def test_put_items_upsert_and_show_in_the_next_training(shop, stock_events):
    group, datasets = shop
    before = genres(group)
    assert before["i1"] == "Horror" and "new-1" not in before
    stock_events.put_items(datasetArn=datasets["ITEMS"], items=[
        {"itemId": "new-1", "properties": json.dumps({"genre": "Western|Drama"})},
        {"itemId": "i1", "properties": json.dumps({"GENRE": "Musical"})}])
    after = genres(group)
    assert after["new-1"] == "Western|Drama"        # a new item joins the catalogue
    assert after["i1"] == "Musical"                 # an imported row is replaced by id
    assert {k: v for k, v in after.items() if k not in ("new-1", "i1")} == \
        {k: v for k, v in before.items() if k != "i1"}
    stock_events.put_items(datasetArn=datasets["ITEMS"], items=[
        {"itemId": "new-1", "properties": json.dumps({"genre": "Comedy"})}])
    assert genres(group)["new-1"] == "Comedy"        # a second put of an id replaces the first


def test_put_items_survive_a_full_import_of_other_ids(shop, stock_events, personalize, s3):
    group, datasets = shop
    stock_events.put_items(datasetArn=datasets["ITEMS"], items=[
        {"itemId": "new-1", "properties": json.dumps({"genre": "Western"})}])
    import_file(personalize, s3, group, "Items", b"ITEM_ID,GENRE\ni0,Noir\n", "items-again")
    assert genres(group)["new-1"] == "Western" and genres(group)["i0"] == "Noir"
    assert "i2" not in {k for k, v in genres(group).items() if v}   # the bulk rows were replaced


def test_put_users_with_camel_case_keys(personalize, stock_events, s3, played_training):
    group = movie_group(personalize, s3, name="viewers")
    schema = personalize.create_schema(name="viewers-users", schema=USERS_SCHEMA)["schemaArn"]
    users = personalize.create_dataset(name="viewers-users", datasetGroupArn=group,
                                       datasetType="Users", schemaArn=schema)["datasetArn"]
    stock_events.put_users(datasetArn=users, users=[
        {"userId": "u0", "properties": json.dumps({"numberOfVideosWatched": 45,
                                                   "membership": "Member|Frequent"})},
        {"userId": "u1", "properties": json.dumps({"membership": "Guest"})}])
    data = load_training_data(group)
    row = {u: i for i, u in enumerate(data.user_ids.tolist())}
    watched, membership = data.users.fields["NUMBER_OF_VIDEOS_WATCHED"], data.users.fields["MEMBERSHIP"]
    assert (watched[row["u0"]], membership[row["u0"]]) == (45.0, "Member|Frequent")
    assert watched[row["u1"]] != watched[row["u1"]] and membership[row["u1"]] == "Guest"


def test_validation_names_the_field(shop, stock_events, personalize):
    group, datasets = shop
    items = datasets["ITEMS"]

    def refused(**kwargs):
        with pytest.raises(ClientError) as e:
            stock_events.put_items(**kwargs)
        return code(e)
    assert refused(datasetArn=items, items=[{"itemId": "x", "properties": '{"colour": "red"}'}]) \
        == ("InvalidInputException", "items[0].properties.colour: not a field of the dataset's "
            "schema (fields: GENRE)")
    kind, message = refused(datasetArn=items, items=[{"itemId": "x", "properties": "{}"}])
    assert kind == "InvalidInputException" and "GENRE is required" in message
    kind, message = refused(datasetArn=items, items=[{"itemId": "x", "properties": '{"genre": [1]}'}])
    assert kind == "InvalidInputException" and "items[0].properties.genre" in message
    kind, message = refused(datasetArn=items, items=[{"itemId": "x", "properties": "not json"}])
    assert kind == "InvalidInputException" and "items[0].properties" in message
    kind, _ = refused(datasetArn=items, items=[
        {"itemId": f"x{i}", "properties": '{"genre": "a"}'} for i in range(11)])
    assert kind == "InvalidInputException"   # at most 10 per call (the model)
    kind, message = refused(datasetArn=datasets["INTERACTIONS"],
                            items=[{"itemId": "x", "properties": '{"genre": "a"}'}])
    assert kind == "InvalidInputException" and message.startswith("datasetArn:")
    kind, _ = refused(datasetArn=items.replace("movies", "nowhere"),
                      items=[{"itemId": "x", "properties": '{"genre": "a"}'}])
    assert kind == "ResourceNotFoundException"
    # nothing of a refused call is written
    stock_events.put_items(datasetArn=items, items=[{"itemId": "ok", "properties": '{"genre": "a"}'}])
    with pytest.raises(ClientError):
        stock_events.put_items(datasetArn=items, items=[
            {"itemId": "y", "properties": '{"genre": "b"}'}, {"itemId": "z", "properties": "{}"}])
    assert "y" not in genres(group) and genres(group)["ok"] == "a"


def test_put_items_reach_the_runtime_search_at_once(shop, stock_events, personalize, runtime):
    """The runtime's item metadata (searchQuery) is the Items dataset as it is now: an item's
    genre put after the campaign was deployed filters the very next request."""
    group, datasets = shop
    campaign = deployed(personalize, group, RANKING, "rank")
    items = [f"i{i}" for i in range(6)]
    horror = ids(runtime.personalize_ranking(campaignArn=campaign, userId="u0", inputList=items,
                                             searchQuery="horror"), "personalizedRanking")
    assert sorted(horror) == ["i1", "i4"]
    stock_events.put_items(datasetArn=datasets["ITEMS"], items=[
        {"itemId": "i0", "properties": json.dumps({"genre": "Horror|Comedy"})}])
    again = ids(runtime.personalize_ranking(campaignArn=campaign, userId="u0", inputList=items,
                                            searchQuery="horror"), "personalizedRanking")
    assert sorted(again) == ["i0", "i1", "i4"]
