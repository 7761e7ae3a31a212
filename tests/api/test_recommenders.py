"""Domain dataset groups and recommenders through stock boto3 clients (today's API: `domain` on
CreateDatasetGroup / CreateSchema / ListRecipes, CreateRecommender & co.,
GetRecommendations(recommenderArn)). Training runs the real training workflow in process."""
import csv
import io
import json
import random

import pytest
from botocore.exceptions import ClientError

from tests.api.test_recommendations import BUCKET, ROLE  # noqa: F401

TOP_PICKS = "arn:aws:personalize:::recipe/aws-vod-top-picks"
MORE_LIKE_X = "arn:aws:personalize:::recipe/aws-vod-more-like-x"
MOST_POPULAR = "arn:aws:personalize:::recipe/aws-vod-most-popular"
BEST_SELLERS = "arn:aws:personalize:::recipe/aws-ecomm-popular-items-by-purchases"
GENRES = ("Comedy", "Drama", "Horror", "Sci-Fi")
N_USERS, N_ITEMS, PER_USER = 60, 40, 25


def code(e):
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def vod_schema(dataset_type):
    fields = {"Interactions": [{"name": "USER_ID", "type": "string"},
                               {"name": "ITEM_ID", "type": "string"},
                               {"name": "EVENT_TYPE", "type": "string"},
                               {"name": "TIMESTAMP", "type": "long"}],
              "Items": [{"name": "ITEM_ID", "type": "string"},
                        {"name": "GENRES", "type": "string", "categorical": True}]}[dataset_type]
    return json.dumps({"type": "record", "name": dataset_type,
                       "namespace": "com.amazonaws.personalize.schema", "fields": fields,
                       "version": "1.0"})


def vod_data():
    """Two tastes (even users i0-i19, odd users i20-i39); every other event a Watch, so the
    group has 1,500 interactions and fewer than 1,000 Watch events."""
    rng = random.Random(3)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP"])
    for u in range(N_USERS):
        base = 0 if u % 2 == 0 else N_ITEMS // 2
        for k in range(PER_USER):
            item = base + min(int(rng.expovariate(0.25)), N_ITEMS // 2 - 1)
            w.writerow([f"u{u}", f"i{item}", "Watch" if k % 2 else "Click",
                        1_600_000_000 + u * 10_000 + k * 60])
    items = io.StringIO()
    w = csv.writer(items)
    w.writerow(["ITEM_ID", "GENRES"])
    for i in range(N_ITEMS):
        w.writerow([f"i{i}", GENRES[i % 4]])
    return out.getvalue().encode(), items.getvalue().encode()


def load(client, s3, group, dataset_type, body, name):
    schema = client.create_schema(name=f"{name}-schema", schema=vod_schema(dataset_type),
                                  domain="VIDEO_ON_DEMAND")["schemaArn"]
    dataset = client.create_dataset(name=name, datasetGroupArn=group, datasetType=dataset_type,
                                    schemaArn=schema)["datasetArn"]
    s3.put_object(Bucket=BUCKET, Key=f"in/{name}.csv", Body=body)
    job = client.create_dataset_import_job(jobName=name, datasetArn=dataset, roleArn=ROLE,
                                           dataSource={"dataLocation": f"s3://{BUCKET}/in/{name}.csv"})
    status = client.describe_dataset_import_job(
        datasetImportJobArn=job["datasetImportJobArn"])["datasetImportJob"]["status"]
    assert status == "ACTIVE", status


@pytest.fixture
def vod(stock_personalize, s3):
    from chalicelib.runtime import serving
    serving.reset_cache()
    group = stock_personalize.create_dataset_group(name="vod", domain="VIDEO_ON_DEMAND")["datasetGroupArn"]
    interactions, items = vod_data()
    load(stock_personalize, s3, group, "Interactions", interactions, "vod-interactions")
    load(stock_personalize, s3, group, "Items", items, "vod-items")
    yield group
    serving.reset_cache()


def recommender(client, group, name, recipe, **extra):
    arn = client.create_recommender(name=name, datasetGroupArn=group, recipeArn=recipe,
                                    **extra)["recommenderArn"]
    return arn, client.describe_recommender(recommenderArn=arn)["recommender"]


def ids(answer):
    return [i["itemId"] for i in answer["itemList"]]


def test_domain_schemas_and_use_cases(stock_personalize):
    group = stock_personalize.create_dataset_group(name="vod-only", domain="VIDEO_ON_DEMAND")
    described = stock_personalize.describe_dataset_group(datasetGroupArn=group["datasetGroupArn"])
    assert described["datasetGroup"]["domain"] == "VIDEO_ON_DEMAND"
    missing = json.loads(vod_schema("Interactions"))
    missing["fields"] = [f for f in missing["fields"] if f["name"] != "EVENT_TYPE"]
    with pytest.raises(ClientError) as e:
        stock_personalize.create_schema(name="no-event-type", schema=json.dumps(missing),
                                        domain="VIDEO_ON_DEMAND")
    assert code(e)[0] == "InvalidInputException" and "EVENT_TYPE" in code(e)[1]
    with pytest.raises(ClientError) as e:   # the Items schema of the domain needs GENRES
        stock_personalize.create_schema(
            name="no-genres", domain="VIDEO_ON_DEMAND", schema=json.dumps(
                {"type": "record", "name": "Items", "fields": [{"name": "ITEM_ID", "type": "string"}],
                 "version": "1.0"}))
    assert code(e)[0] == "InvalidInputException" and "GENRES" in code(e)[1]
    # a custom schema does not serve a domain group
    plain = stock_personalize.create_schema(name="plain", schema=vod_schema("Interactions"))["schemaArn"]
    with pytest.raises(ClientError) as e:
        stock_personalize.create_dataset(name="x", datasetGroupArn=group["datasetGroupArn"],
                                         datasetType="Interactions", schemaArn=plain)
    assert code(e)[0] == "InvalidInputException" and "VIDEO_ON_DEMAND" in code(e)[1]
    assert stock_personalize.describe_schema(schemaArn=plain)["schema"].get("domain") is None
    listed = stock_personalize.list_recipes(domain="VIDEO_ON_DEMAND")["recipes"]
    names = {r["name"] for r in listed}
    assert {"aws-vod-top-picks", "aws-vod-more-like-x", "aws-vod-most-popular"} <= names
    assert all(r["domain"] == "VIDEO_ON_DEMAND" for r in listed)
    assert "aws-ecomm-recommended-for-you" in {
        r["name"] for r in stock_personalize.list_recipes(domain="ECOMMERCE")["recipes"]}
    assert stock_personalize.describe_recipe(recipeArn=TOP_PICKS)["recipe"]["recipeType"] == \
        "USER_PERSONALIZATION"


def test_recommenders_train_answer_stop_and_start(vod, stock_personalize, stock_runtime):
    top, described = recommender(stock_personalize, vod, "top-picks", TOP_PICKS)
    assert described["status"] == "ACTIVE", described.get("failureReason")
    assert described["recipeArn"] == TOP_PICKS and described["datasetGroupArn"] == vod
    assert described["recommenderConfig"]["minRecommendationRequestsPerSecond"] == 1
    assert described["modelMetrics"]
    like, described = recommender(stock_personalize, vod, "more-like-x", MORE_LIKE_X)
    assert described["status"] == "ACTIVE", described.get("failureReason")

    # the recommenders' own solutions are not the user's
    assert stock_personalize.list_solutions()["solutions"] == []
    assert stock_personalize.list_solutions(datasetGroupArn=vod)["solutions"] == []
    listed = stock_personalize.list_recommenders(datasetGroupArn=vod)["recommenders"]
    assert {r["recommenderArn"] for r in listed} == {top, like}
    assert {r["status"] for r in listed} == {"ACTIVE"}

    picks = ids(stock_runtime.get_recommendations(recommenderArn=top, userId="u0", numResults=10))
    assert len(picks) == len(set(picks)) == 10
    other = ids(stock_runtime.get_recommendations(recommenderArn=top, userId="u1", numResults=10))
    assert other != picks                                          # personalized per user
    similar = ids(stock_runtime.get_recommendations(recommenderArn=like, itemId="i25", numResults=5))
    assert len(similar) == 5 and "i25" not in similar
    with pytest.raises(ClientError) as e:   # more-like-x needs its item
        stock_runtime.get_recommendations(recommenderArn=like, userId="u0")
    assert code(e)[0] == "InvalidInputException" and "itemId" in code(e)[1]
    with pytest.raises(ClientError) as e:
        stock_runtime.get_recommendations(recommenderArn=top)
    assert code(e)[0] == "InvalidInputException" and "userId" in code(e)[1]

    # filters apply to recommenders too
    horror = stock_personalize.create_filter(
        name="horror", datasetGroupArn=vod,
        filterExpression='INCLUDE ItemID WHERE Items.GENRES IN ("Horror")')["filterArn"]
    only = ids(stock_runtime.get_recommendations(recommenderArn=top, userId="u0", numResults=5,
                                                 filterArn=horror))
    assert len(only) == 5 and all(int(i[1:]) % 4 == 2 for i in only)

    stock_personalize.stop_recommender(recommenderArn=top)
    assert stock_personalize.describe_recommender(recommenderArn=top)["recommender"]["status"] == "INACTIVE"
    from chalicelib.runtime import serving
    serving.reset_cache()
    with pytest.raises(ClientError) as e:
        stock_runtime.get_recommendations(recommenderArn=top, userId="u0")
    assert code(e)[0] == "InvalidInputException" and "INACTIVE" in code(e)[1]
    with pytest.raises(ClientError) as e:
        stock_personalize.stop_recommender(recommenderArn=top)
    assert code(e)[0] == "ResourceInUseException"
    stock_personalize.start_recommender(recommenderArn=top)
    assert stock_personalize.describe_recommender(recommenderArn=top)["recommender"]["status"] == "ACTIVE"
    serving.reset_cache()
    assert ids(stock_runtime.get_recommendations(recommenderArn=top, userId="u0", numResults=10)) == picks

    stock_personalize.update_recommender(recommenderArn=top, recommenderConfig={
        "minRecommendationRequestsPerSecond": 2, "enableMetadataWithRecommendations": True})
    updated = stock_personalize.describe_recommender(recommenderArn=top)["recommender"]
    assert updated["recommenderConfig"]["minRecommendationRequestsPerSecond"] == 2
    assert updated["latestRecommenderUpdate"]["status"] == "ACTIVE"
    serving.reset_cache()
    with_genres = stock_runtime.get_recommendations(recommenderArn=top, userId="u0", numResults=3,
                                                    metadataColumns={"ITEMS": ["GENRES"]})
    assert all(i["metadata"]["GENRES"] in GENRES for i in with_genres["itemList"])

    # delete guards: the group keeps its recommenders
    with pytest.raises(ClientError) as e:
        stock_personalize.delete_dataset_group(datasetGroupArn=vod)
    assert code(e)[0] in ("ResourceInUseException", "InvalidInputException")
    stock_personalize.delete_recommender(recommenderArn=top)
    with pytest.raises(ClientError) as e:
        stock_personalize.describe_recommender(recommenderArn=top)
    assert code(e)[0] == "ResourceNotFoundException"
    assert [r["recommenderArn"] for r in
            stock_personalize.list_recommenders(datasetGroupArn=vod)["recommenders"]] == [like]


def test_too_little_data_and_create_rules(vod, stock_personalize):
    popular, described = recommender(stock_personalize, vod, "most-popular", MOST_POPULAR)
    assert described["status"] == "CREATE FAILED"
    assert "1000" in described["failureReason"] and "Watch" in described["failureReason"]
    with pytest.raises(ClientError) as e:   # a use case of the other domain
        recommender(stock_personalize, vod, "best-sellers", BEST_SELLERS)
    assert code(e)[0] == "InvalidInputException" and "recipeArn" in code(e)[1]
    with pytest.raises(ClientError) as e:
        recommender(stock_personalize, vod, "most-popular", TOP_PICKS)
    assert code(e)[0] == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:   # top-picks has no exploration of... it does; a bad weight
        recommender(stock_personalize, vod, "explore", TOP_PICKS, recommenderConfig={
            "itemExplorationConfig": {"explorationWeight": "2"}})
    assert code(e)[0] == "InvalidInputException" and "itemExplorationConfig" in code(e)[1]
    custom = stock_personalize.create_dataset_group(name="custom")["datasetGroupArn"]
    with pytest.raises(ClientError) as e:
        recommender(stock_personalize, custom, "nope", TOP_PICKS)
    assert code(e)[0] == "InvalidInputException" and "Domain dataset group" in code(e)[1]
    stock_personalize.delete_recommender(recommenderArn=popular)   # a failed one may go
    assert stock_personalize.list_recommenders()["recommenders"] == []
