"""Today's recipe catalogue end to end (issue 12 item 3): each new recipe trains through the
real in-process training workflow from today's request shapes (CreateSolution trains nothing,
CreateSolutionVersion trains), deploys with the real campaign workflow and answers the runtime
with its own behaviour: exploration that follows the campaign's itemExplorationConfig,
similar items for a cold item from its metadata, a trend that follows PutEvents without a new
solution version, a transformer user state that follows recorded events, and personalized
ranking from it.
"""
import io
import csv
import json
import time

import pytest

from tests.api.test_recommendations import (ITEMS_SCHEMA, N_ITEMS, ROLE, ids, import_file,
                                            movie_group)

TODAY = "arn:aws:personalize:::recipe/"
N_NEW = 10


@pytest.fixture(autouse=True)
def fresh_cache():
    from chalicelib.runtime import serving
    serving.reset_cache()
    yield
    serving.reset_cache()


def group_with_new_items(client, s3, name):
    """The two-taste interactions plus an Items dataset naming N_NEW items nobody touched yet
    (genres as the catalogue's: new{k} is Horror for odd k, Comedy|Drama for even k)."""
    group = movie_group(client, s3, name=name)
    schema = client.create_schema(name=f"{name}-items-schema", schema=json.dumps(ITEMS_SCHEMA))["schemaArn"]
    client.create_dataset(name=f"{name}-items", datasetGroupArn=group, datasetType="Items", schemaArn=schema)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["ITEM_ID", "GENRE"])
    for i in range(N_ITEMS):
        writer.writerow([f"i{i}", "Comedy|Drama" if i % 3 == 0 else ("Horror" if i % 3 == 1 else "Sci-Fi")])
    for k in range(N_NEW):
        writer.writerow([f"new{k}", "Horror" if k % 2 else "Comedy|Drama"])
    import_file(client, s3, group, "Items", out.getvalue().encode(), f"{name}-items")
    return group


def train_today(client, group, recipe, name, solution_config=None):
    """Today's flow: an ACTIVE solution that trains nothing, then a solution version."""
    args = {"solutionConfig": solution_config} if solution_config else {}
    solution = client.create_solution(name=name, datasetGroupArn=group, recipeArn=TODAY + recipe,
                                      **args)["solutionArn"]
    described = client.describe_solution(solutionArn=solution)["solution"]
    assert described["status"] == "ACTIVE" and "latestSolutionVersion" not in described
    version = client.create_solution_version(solutionArn=solution, trainingMode="FULL")["solutionVersionArn"]
    status = client.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert status["status"] == "ACTIVE", status.get("failureReason")
    assert status["recipeArn"] == TODAY + recipe
    metrics = client.get_solution_metrics(solutionVersionArn=version)["metrics"]
    assert "normalized_discounted_cumulative_gain_at_10" in metrics
    return solution, version


def campaign(client, version, name, config=None):
    args = {"campaignConfig": config} if config else {}
    arn = client.create_campaign(name=name, solutionVersionArn=version, minProvisionedTPS=1, **args)["campaignArn"]
    described = client.describe_campaign(campaignArn=arn)["campaign"]
    assert described["status"] == "ACTIVE", described.get("failureReason")
    return arn


def tracker(client, group, name):
    return client.create_event_tracker(name=name, datasetGroupArn=group, roleArn=ROLE)["trackingId"]


def test_recipes_list_and_describe_with_todays_types(personalize):
    listed = {r["recipeArn"] for r in personalize.list_recipes(recipeProvider="SERVICE")["recipes"]}
    expected = {"aws-user-personalization": "USER_PERSONALIZATION",
                "aws-user-personalization-v2": "USER_PERSONALIZATION",
                "aws-personalized-ranking-v2": "PERSONALIZED_RANKING",
                "aws-similar-items": "RELATED_ITEMS", "aws-trending-now": "POPULAR_ITEMS",
                # the seed's recipes keep the seed's types
                "aws-personalized-ranking": "SEARCH_PERSONALIZATION", "aws-sims": "RELATED_ITEMS",
                "aws-popularity-count": "USER_PERSONALIZATION"}
    for name, kind in expected.items():
        assert TODAY + name in listed
        assert personalize.describe_recipe(recipeArn=TODAY + name)["recipe"]["recipeType"] == kind
    algorithm = personalize.describe_recipe(recipeArn=TODAY + "aws-trending-now")["recipe"]["algorithmArn"]
    described = personalize.describe_algorithm(algorithmArn=algorithm)["algorithm"]
    assert described["defaultHyperParameters"] == {"trend_discovery_frequency": "2 hours"}


def test_user_personalization_exploration_follows_the_campaign_config(personalize, s3, runtime):
    """explorationWeight 0: no item without interactions in the top 25; 1: several; the
    solution's defaults (0.3) when the campaign has no campaignConfig."""
    group = group_with_new_items(personalize, s3, "explore")
    _solution, version = train_today(personalize, group, "aws-user-personalization", "explore")

    def new_items(campaign_arn):
        answer = ids(runtime.get_recommendations(campaignArn=campaign_arn, userId="u0", numResults=25))
        assert len(answer) == len(set(answer)) == 25
        return [i for i in answer if i.startswith("new")]

    none = new_items(campaign(personalize, version, "explore-0",
                              {"itemExplorationConfig": {"explorationWeight": "0"}}))
    full = new_items(campaign(personalize, version, "explore-1",
                              {"itemExplorationConfig": {"explorationWeight": "1",
                                                         "explorationItemAgeCutOff": "30"}}))
    default = new_items(campaign(personalize, version, "explore-default"))
    assert none == []
    assert len(full) >= 5, full
    assert 1 <= len(default) < len(full), default


def test_user_personalization_honours_its_hyperparameters(personalize, s3):
    """bptt and hidden_dimension reach the network; history percentiles reach training."""
    from chalicelib.runtime import serving
    group = movie_group(personalize, s3, name="up-hp")
    _solution, version = train_today(personalize, group, "aws-user-personalization", "up-hp", {
        "algorithmHyperParameters": {"hidden_dimension": "40", "bptt": "4", "recency_mask": "false"},
        "featureTransformationParameters": {"max_user_history_length_percentile": "0.5"}})
    tuned = personalize.describe_solution_version(solutionVersionArn=version)["solutionVersion"]
    assert tuned["solutionConfig"]["featureTransformationParameters"] == {"max_user_history_length_percentile": "0.5"}
    campaign_arn = campaign(personalize, version, "up-hp")
    from chalicelib.service.recommendations import campaign_model
    model = campaign_model(campaign_arn).served.model
    assert model.net.num_hidden == 40
    assert model.hyperparameters["bptt"] == "4"
    assert model.hyperparameters["max_user_history_length_percentile"] == "0.5"
    serving.reset_cache()


def test_bad_exploration_setting_is_refused_by_create_campaign(personalize, s3, runtime):
    from botocore.exceptions import ClientError
    group = movie_group(personalize, s3, name="bad-explore")
    _solution, version = train_today(personalize, group, "aws-user-personalization", "bad-explore",
                                     {"algorithmHyperParameters": {"hidden_dimension": "32"}})
    with pytest.raises(ClientError) as e:
        campaign(personalize, version, "bad-explore",
                 {"itemExplorationConfig": {"explorationWeight": "1.5"}})
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
    assert "explorationWeight" in e.value.response["Error"]["Message"]


def test_similar_items_cooccurrence_and_cold_items_by_metadata(personalize, s3, runtime):
    group = group_with_new_items(personalize, s3, "similar")
    _solution, version = train_today(personalize, group, "aws-similar-items", "similar")
    arn = campaign(personalize, version, "similar")
    # i0 is taken by the even users only: its similar items come from the same half
    near = ids(runtime.get_recommendations(campaignArn=arn, itemId="i0", numResults=10))
    assert "i0" not in near
    assert sum(i.startswith("i") and int(i[1:]) < N_ITEMS // 2 for i in near[:5]) >= 4, near
    # new1 has no interactions; its Horror genre places it among Horror items
    cold = ids(runtime.get_recommendations(campaignArn=arn, itemId="new1", numResults=5))
    horror = {f"i{i}" for i in range(N_ITEMS) if i % 3 == 1} | {f"new{k}" for k in range(1, N_NEW, 2)}
    assert sum(i in horror for i in cold) >= 4, cold
    popular = ids(runtime.get_recommendations(campaignArn=arn, itemId="unknown", numResults=5))
    assert cold != popular


def test_similar_items_popularity_discount(personalize, s3, runtime):
    """popularity_discount_factor 1 ranks less popular neighbours higher than 0 does."""
    group = movie_group(personalize, s3, name="discount")
    answers = {}
    for factor in ("0.0", "1.0"):
        _s, version = train_today(personalize, group, "aws-similar-items", f"discount-{factor[0]}",
                                  {"algorithmHyperParameters": {"popularity_discount_factor": factor}})
        arn = campaign(personalize, version, f"discount-{factor[0]}")
        answers[factor] = ids(runtime.get_recommendations(campaignArn=arn, itemId="i1", numResults=5))
    rank = lambda items: sum(int(i[1:]) % (N_ITEMS // 2) for i in items)   # low index = popular
    assert rank(answers["1.0"]) > rank(answers["0.0"]), answers


def test_trending_now_follows_put_events_without_retraining(personalize, s3, runtime, events):
    group = movie_group(personalize, s3, name="trend")
    solution, version = train_today(personalize, group, "aws-trending-now", "trend",
                                    {"featureTransformationParameters": {"trend_discovery_frequency": "1 hour"}})
    hp = personalize.describe_solution(solutionArn=solution)["solution"]["solutionConfig"]
    assert hp["featureTransformationParameters"] == {"trend_discovery_frequency": "1 hour"}
    arn = campaign(personalize, version, "trend")
    before = ids(runtime.get_recommendations(campaignArn=arn, numResults=10))   # no userId needed
    assert len(before) == 10 and before[0] != "i39"
    tracking = tracker(personalize, group, "trend-tracker")
    now = time.time()
    burst = [("i39", 6), ("fresh-item", 3)]
    events.put_events(trackingId=tracking, userId="u1", sessionId="s1", eventList=[
        {"eventId": f"{item}-{k}", "eventType": "click", "sentAt": now - 60 + k,
         "properties": json.dumps({"itemId": item})} for item, n in burst for k in range(n)])
    after = ids(runtime.get_recommendations(campaignArn=arn, numResults=10))
    assert after[:2] == ["i39", "fresh-item"], after
    versions = personalize.list_solution_versions(solutionArn=solution)["solutionVersions"]
    assert len(versions) == 1                      # the same solution version answered


def test_user_personalization_v2_follows_recorded_events(personalize, s3, runtime, events):
    group = movie_group(personalize, s3, name="v2")
    _solution, version = train_today(personalize, group, "aws-user-personalization-v2", "v2")
    arn = campaign(personalize, version, "v2")
    tracking = tracker(personalize, group, "v2-tracker")
    events.put_events(trackingId=tracking, userId="newcomer", sessionId="s", eventList=[
        {"eventId": f"e{k}", "eventType": "click", "sentAt": 1_700_000_000 + k,
         "properties": json.dumps({"itemId": f"i{20 + k}"})} for k in range(3)])
    after = ids(runtime.get_recommendations(campaignArn=arn, userId="newcomer", numResults=10))
    assert not {"i20", "i21", "i22"} & set(after)
    assert sum(int(i[1:]) >= N_ITEMS // 2 for i in after[:5]) >= 4, after


def test_personalized_ranking_v2_ranks_a_list_for_the_user(personalize, s3, runtime):
    from botocore.exceptions import ClientError
    group = movie_group(personalize, s3, name="rank2")
    _solution, version = train_today(personalize, group, "aws-personalized-ranking-v2", "rank2",
                                     {"algorithmHyperParameters": {"apply_recency_bias": "false"}})
    arn = campaign(personalize, version, "rank2")
    listed = [f"i{k}" for k in (25, 3, 30, 5, 22, 1, 35, 8, 28, 2)] + ["never-seen"]
    ranked = ids(runtime.get_personalized_ranking(campaignArn=arn, userId="u0", inputList=listed),
                 key="personalizedRanking")
    assert sorted(ranked) == sorted(listed) and ranked[-1] == "never-seen"
    assert sum(int(i[1:]) < N_ITEMS // 2 for i in ranked[:5]) >= 4, ranked   # u0: even taste
    with pytest.raises(ClientError) as e:
        runtime.get_recommendations(campaignArn=arn, userId="u0")
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
