"""Filters through stock boto3 clients (today's API: CreateFilter / DescribeFilter / ListFilters /
DeleteFilter; filterArn, filterValues, promotions, metadataColumns, recommendationId on the
runtime): the filter sees PutEvents events and PutItems items at once, the model is asked for
more candidates as the filter removes them, and a bad expression names its position."""
import datetime
import json

import pytest
from botocore.exceptions import ClientError

from tests.api.test_recommendations import (HRNN, SIMS, campaign_for, ids, movie_group,  # noqa: F401
                                            played_training, trained_version)
from tests.conftest import make_client

GENRES = {f"i{i}": ("Comedy|Drama" if i % 3 == 0 else ("Horror" if i % 3 == 1 else "Sci-Fi"))
          for i in range(40)}


def code(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


@pytest.fixture
def stock_events(aws):
    return make_client("personalize-events", shipped_models=False)


@pytest.fixture
def shop(stock_personalize, s3, played_training):
    """A group with interactions, Items (GENRE) and an event tracker."""
    group = movie_group(stock_personalize, s3, name="shop", with_items=True)
    tracking = stock_personalize.create_event_tracker(name="shop-tracker",
                                                      datasetGroupArn=group)["trackingId"]
    return group, tracking


def deploy(client, group, recipe, name, config=None):
    _solution, version = trained_version(client, group, recipe, name)
    if config is None:
        return campaign_for(client, version, f"{name}-campaign")
    arn = client.create_campaign(name=f"{name}-campaign", solutionVersionArn=version,
                                 campaignConfig=config)["campaignArn"]
    assert client.describe_campaign(campaignArn=arn)["campaign"]["status"] == "ACTIVE"
    return arn


def new_filter(client, group, name, expression):
    arn = client.create_filter(name=name, datasetGroupArn=group, filterExpression=expression)["filterArn"]
    assert client.describe_filter(filterArn=arn)["filter"]["status"] == "ACTIVE"
    return arn


def purchase(events, tracking, user, item):
    events.put_events(trackingId=tracking, userId=user, sessionId=f"s-{user}", eventList=[
        {"eventType": "purchase", "itemId": item, "sentAt": datetime.datetime.now()}])


# ---- the Filter family ---------------------------------------------------------------------

def test_filter_lifecycle(shop, stock_personalize):
    group, _ = shop
    expression = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'
    arn = new_filter(stock_personalize, group, "no-repeats", expression)
    found = stock_personalize.describe_filter(filterArn=arn)["filter"]
    assert (found["name"], found["datasetGroupArn"], found["filterExpression"]) == \
        ("no-repeats", group, expression)
    listed = stock_personalize.list_filters(datasetGroupArn=group)["Filters"]
    assert [f["filterArn"] for f in listed] == [arn] and listed[0]["status"] == "ACTIVE"
    with pytest.raises(ClientError) as e:
        stock_personalize.create_filter(name="no-repeats", datasetGroupArn=group, filterExpression=expression)
    assert code(e)[0] == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:   # the group reports its filter
        stock_personalize.delete_dataset_group(datasetGroupArn=group)
    assert code(e)[0] in ("ResourceInUseException", "InvalidInputException")
    tagged = stock_personalize.create_filter(name="tagged", datasetGroupArn=group, filterExpression=expression,
                                             tags=[{"tagKey": "team", "tagValue": "shop"}])["filterArn"]
    assert stock_personalize.list_tags_for_resource(resourceArn=tagged)["tags"] == \
        [{"tagKey": "team", "tagValue": "shop"}]
    for gone in (arn, tagged):
        stock_personalize.delete_filter(filterArn=gone)
    assert stock_personalize.list_filters(datasetGroupArn=group)["Filters"] == []
    with pytest.raises(ClientError) as e:
        stock_personalize.describe_filter(filterArn=arn)
    assert code(e)[0] == "ResourceNotFoundException"


def test_invalid_expression_names_the_position(shop, stock_personalize):
    group, _ = shop
    with pytest.raises(ClientError) as e:
        stock_personalize.create_filter(name="bad", datasetGroupArn=group,
                                        filterExpression='INCLUDE ItemID WHERE Items.GENRE FOO ("x")')
    assert code(e) == ("InvalidInputException", "Invalid filter expression at position 34: expected "
                       "IN, NOT IN or a comparison (=, <, <=, >, >=), found 'FOO'")
    with pytest.raises(ClientError) as e:   # a field no dataset of the group has
        stock_personalize.create_filter(name="bad", datasetGroupArn=group,
                                        filterExpression='INCLUDE ItemID WHERE Items.COLOR IN ("red")')
    assert code(e)[0] == "InvalidInputException" and "COLOR" in code(e)[1] and "position 22" in code(e)[1]
    with pytest.raises(ClientError) as e:   # the group has no Users dataset
        stock_personalize.create_filter(
            name="bad", datasetGroupArn=group,
            filterExpression='INCLUDE ItemID WHERE Items.GENRE IN ("Horror") IF CurrentUser.AGE > 18')
    assert code(e)[0] == "InvalidInputException" and "Users" in code(e)[1]
    assert stock_personalize.list_filters(datasetGroupArn=group)["Filters"] == []


# ---- filters in the runtime ----------------------------------------------------------------

def test_exclude_purchased_works_on_the_next_call(shop, stock_personalize, stock_runtime, stock_events):
    """A related-items campaign does not drop the user's history by itself: the filter does,
    right after the PutEvents purchase."""
    group, tracking = shop
    campaign = deploy(stock_personalize, group, SIMS, "sims")
    bought = new_filter(stock_personalize, group, "not-bought",
                        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    ask = dict(campaignArn=campaign, itemId="i3", userId="buyer", numResults=10, filterArn=bought)
    before = ids(stock_runtime.get_recommendations(**ask))
    assert len(before) == 10
    purchase(stock_events, tracking, "buyer", before[0])
    after = ids(stock_runtime.get_recommendations(**ask))
    assert before[0] not in after and len(after) == 10        # filled from further down
    assert after[:9] == before[1:10]
    other = ids(stock_runtime.get_recommendations(**dict(ask, userId="someone-else")))
    assert other == before                                    # only the buyer's list changes
    # event types match regardless of case; * is every type
    star = new_filter(stock_personalize, group, "nothing-seen",
                      "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (*)")
    assert before[0] not in ids(stock_runtime.get_recommendations(**dict(ask, filterArn=star)))


def test_include_genre_parameter_fills_the_list(shop, stock_personalize, stock_runtime):
    group, _ = shop
    campaign = deploy(stock_personalize, group, HRNN, "hrnn")
    genre = new_filter(stock_personalize, group, "by-genre", "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)")
    for value, expected in (('"Horror"', {"Horror"}), ('"Drama","Sci-Fi"', {"Comedy|Drama", "Sci-Fi"})):
        items = ids(stock_runtime.get_recommendations(campaignArn=campaign, userId="u1", numResults=8,
                                                      filterArn=genre, filterValues={"GENRE": value}))
        assert len(items) == 8 and {GENRES[i] for i in items} <= expected
    with pytest.raises(ClientError) as e:   # INCLUDE needs its parameters
        stock_runtime.get_recommendations(campaignArn=campaign, userId="u1", filterArn=genre)
    assert code(e)[0] == "InvalidInputException" and "$GENRE" in code(e)[1]
    with pytest.raises(ClientError) as e:
        stock_runtime.get_recommendations(campaignArn=campaign, userId="u1", filterArn=genre,
                                          filterValues={"GENRES": '"Horror"'})
    assert code(e)[0] == "InvalidInputException" and "GENRES" in code(e)[1]


def test_put_items_are_seen_by_the_next_filtered_call(shop, stock_personalize, stock_runtime, stock_events):
    group, _ = shop
    if "put_items" not in dir(stock_events):
        pytest.skip("the stock client has no PutItems")
    campaign = deploy(stock_personalize, group, HRNN, "hrnn")
    horror = new_filter(stock_personalize, group, "horror", 'INCLUDE ItemID WHERE Items.GENRE IN ("Horror")')
    ask = dict(campaignArn=campaign, userId="u1", numResults=5, filterArn=horror)
    first = ids(stock_runtime.get_recommendations(**ask))
    items = {d["datasetType"]: d["datasetArn"]
             for d in stock_personalize.list_datasets(datasetGroupArn=group)["datasets"]}["ITEMS"]
    stock_events.put_items(datasetArn=items, items=[
        {"itemId": first[0], "properties": json.dumps({"genre": "Western"})}])
    assert first[0] not in ids(stock_runtime.get_recommendations(**ask))


def test_ranking_drops_what_the_filter_blocks(shop, stock_personalize, stock_runtime, stock_events):
    group, tracking = shop
    campaign = deploy(stock_personalize, group, HRNN, "hrnn")
    bought = new_filter(stock_personalize, group, "not-bought",
                        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")')
    purchase(stock_events, tracking, "u0", "i5")
    answer = stock_runtime.get_personalized_ranking(campaignArn=campaign, userId="u0", filterArn=bought,
                                                    inputList=["i5", "i6", "i7", "new-item"])
    assert sorted(ids(answer, "personalizedRanking")) == ["i6", "i7", "new-item"]
    assert answer["recommendationId"]


def test_promotions_share_and_positions(shop, stock_personalize, stock_runtime):
    group, _ = shop
    campaign = deploy(stock_personalize, group, HRNN, "hrnn")
    horror = new_filter(stock_personalize, group, "horror", 'INCLUDE ItemID WHERE Items.GENRE IN ($G)')
    no_horror = new_filter(stock_personalize, group, "no-horror",
                           'EXCLUDE ItemID WHERE Items.GENRE IN ("Horror")')
    answer = stock_runtime.get_recommendations(
        campaignArn=campaign, userId="u0", numResults=10, filterArn=no_horror,
        promotions=[{"name": "scary", "percentPromotedItems": 30, "filterArn": horror,
                     "filterValues": {"G": '"Horror"'}}])
    items = answer["itemList"]
    promoted = [x for x in items if x.get("promotionName") == "scary"]
    assert len(items) == 10 and len({x["itemId"] for x in items}) == 10
    assert len(promoted) == 3 and all(GENRES[x["itemId"]] == "Horror" for x in promoted)
    regular = [x for x in items if "promotionName" not in x]
    assert all(GENRES[x["itemId"]] != "Horror" for x in regular)    # the request filter: the rest only
    scores = [x.get("score", 0.0) for x in promoted]
    assert scores == sorted(scores, reverse=True)                    # sorted among themselves
    alone = ids(stock_runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=7,
                                                  filterArn=no_horror))
    assert [x["itemId"] for x in regular] == alone


def test_metadata_columns(shop, stock_personalize, stock_runtime):
    group, _ = shop
    plain = deploy(stock_personalize, group, HRNN, "hrnn")
    with pytest.raises(ClientError) as e:
        stock_runtime.get_recommendations(campaignArn=plain, userId="u0", metadataColumns={"ITEMS": ["GENRE"]})
    assert code(e)[0] == "InvalidInputException" and "enableMetadataWithRecommendations" in code(e)[1]
    rich = deploy(stock_personalize, group, HRNN, "rich", config={"enableMetadataWithRecommendations": True})
    answer = stock_runtime.get_recommendations(campaignArn=rich, userId="u0", numResults=5,
                                               metadataColumns={"ITEMS": ["GENRE"]})
    assert [x["metadata"] for x in answer["itemList"]] == \
        [{"GENRE": GENRES[x["itemId"]]} for x in answer["itemList"]]
    ranked = stock_runtime.get_personalized_ranking(campaignArn=rich, userId="u0", inputList=["i1", "i2"],
                                                    metadataColumns={"ITEMS": ["GENRE"]})
    assert {x["itemId"]: x["metadata"]["GENRE"] for x in ranked["personalizedRanking"]} == \
        {"i1": "Horror", "i2": "Sci-Fi"}
    with pytest.raises(ClientError) as e:
        stock_runtime.get_recommendations(campaignArn=rich, userId="u0", metadataColumns={"ITEMS": ["COLOR"]})
    assert code(e)[0] == "InvalidInputException" and "COLOR" in code(e)[1]
    with pytest.raises(ClientError) as e:   # at most 50 items to rank with metadata
        stock_runtime.get_personalized_ranking(campaignArn=rich, userId="u0", metadataColumns={"ITEMS": ["GENRE"]},
                                               inputList=[f"x{k}" for k in range(51)])
    assert code(e)[0] == "InvalidInputException" and "50" in code(e)[1]


def test_recommendation_id_goes_back_in_put_events(shop, stock_personalize, stock_runtime, stock_events):
    group, tracking = shop
    campaign = deploy(stock_personalize, group, HRNN, "hrnn")
    rid = stock_runtime.get_recommendations(campaignArn=campaign, userId="u0",
                                            context={"DEVICE": "phone"})["recommendationId"]
    stock_events.put_events(trackingId=tracking, userId="u0", sessionId="s", eventList=[
        {"eventType": "click", "itemId": "i1", "sentAt": datetime.datetime.now(), "recommendationId": rid}])
    from chalicelib.runtime import recorded
    from chalicelib.storage import events as store
    stored = store.user_events(recorded.dataset_arn_of_group(group), "u0")   # as recorded
    assert [e.get("recommendationId") for e in stored] == [rid]


def test_one_items_stamp_read_per_request(shop, stock_personalize, stock_runtime):
    """A request with a filter, a promotion and metadataColumns reads the Items dataset's
    put-records stamp once (issue 15: fixed costs per request), and a ranking with a filter
    and metadataColumns once too."""
    from chalicelib.storage.clients import client
    from chalicelib.storage.events import RECORDS_STAMP
    group, _ = shop
    rich = deploy(stock_personalize, group, HRNN, "rich", config={"enableMetadataWithRecommendations": True})
    horror = new_filter(stock_personalize, group, "horror", 'INCLUDE ItemID WHERE Items.GENRE IN ($G)')
    no_horror = new_filter(stock_personalize, group, "no-horror",
                           'EXCLUDE ItemID WHERE Items.GENRE IN ("Horror")')
    reads = []

    def hook(params, **kw):
        if params.get("Key", {}).get("eventKey", {}).get("S") == RECORDS_STAMP:
            reads.append(params["Key"]["datasetArn"]["S"])
    ddb = client("dynamodb")
    ddb.meta.events.register("provide-client-params.dynamodb.GetItem", hook)
    try:
        for _ in range(2):
            del reads[:]
            answer = stock_runtime.get_recommendations(
                campaignArn=rich, userId="u0", numResults=10, filterArn=no_horror,
                metadataColumns={"ITEMS": ["GENRE"]},
                promotions=[{"name": "scary", "percentPromotedItems": 30, "filterArn": horror,
                             "filterValues": {"G": '"Horror"'}}])
            assert len(answer["itemList"]) == 10
            assert len(reads) == 1 and reads[0].endswith("/ITEMS"), reads
            del reads[:]
            stock_runtime.get_personalized_ranking(campaignArn=rich, userId="u0", inputList=["i1", "i2"],
                                                   filterArn=no_horror, metadataColumns={"ITEMS": ["GENRE"]})
            assert len(reads) == 1, reads   # the filter and the metadata
    finally:
        ddb.meta.events.unregister("provide-client-params.dynamodb.GetItem", hook)
