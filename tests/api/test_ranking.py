"""PersonalizeRanking (seed) and GetPersonalizedRanking (stock clients) through boto3
(seed: "Personalized Rankings", API Reference PersonalizeRanking)."""
import pytest
from botocore.exceptions import ClientError

from tests.api.test_recommendations import (HRNN, N_ITEMS, RANKING, SIMS, code, deployed, ids,  # noqa: F401
                                            message, movie_group, played_training)


@pytest.fixture
def ranked(personalize, s3, played_training):
    """A group with Items metadata and a SEARCH_PERSONALIZATION campaign."""
    group = movie_group(personalize, s3, with_items=True)
    return group, deployed(personalize, group, RANKING, "rank")


def test_ranking_is_a_permutation_of_the_input(ranked, runtime, stock_runtime):
    _group, campaign = ranked
    items = [f"i{i}" for i in (5, 30, 1, 22, 9, 0)]
    answer = runtime.personalize_ranking(campaignArn=campaign, userId="u0", inputList=items)
    assert sorted(ids(answer, "personalizedRanking")) == sorted(items)
    stock = stock_runtime.get_personalized_ranking(campaignArn=campaign, userId="u0", inputList=items)
    assert ids(stock, "personalizedRanking") == ids(answer, "personalizedRanking")


def test_ranking_follows_the_model_scores(ranked, runtime):
    """Best first, in the order of the deployed model's own scores for the user."""
    from chalicelib.runtime import serving
    _group, campaign = ranked
    items = [f"i{i}" for i in (12, 0, 25, 3, 20, 7)]
    order = ids(runtime.personalize_ranking(campaignArn=campaign, userId="u0", inputList=items),
                "personalizedRanking")
    served = serving.cache().peek(serving.cache().keys()[0])
    scores = dict(zip(items, served.scores_for("u0", served.index.lookup(items))))
    assert [scores[i] for i in order] == sorted(scores.values(), reverse=True)
    assert len(set(scores.values())) > 1          # the order is the model's, not the input's


def test_unknown_items_go_last_in_input_order_and_duplicates_rank_once(ranked, runtime):
    _group, campaign = ranked
    items = ["zz-new", "i3", "aa-new", "i0", "i3", "zz-new"]
    order = ids(runtime.personalize_ranking(campaignArn=campaign, userId="u0", inputList=items),
                "personalizedRanking")
    assert order[-2:] == ["zz-new", "aa-new"]
    assert sorted(order[:2]) == ["i0", "i3"] and len(order) == 4


def test_hrnn_ranks_for_the_user(personalize, s3, played_training, runtime):
    """Any campaign whose model scores items for a user ranks; users see their own order."""
    group = movie_group(personalize, s3)
    campaign = deployed(personalize, group, HRNN, "hrnn")
    items = [f"i{i}" for i in range(0, N_ITEMS, 3)]
    even = ids(runtime.personalize_ranking(campaignArn=campaign, userId="u0", inputList=items),
               "personalizedRanking")
    odd = ids(runtime.personalize_ranking(campaignArn=campaign, userId="u1", inputList=items),
              "personalizedRanking")
    assert sorted(even) == sorted(items) and even != odd


def test_search_query_filters_by_item_metadata(ranked, runtime):
    """i % 3 == 0 -> "Comedy|Drama", 1 -> "Horror", 2 -> "Sci-Fi" (case-insensitive match)."""
    _group, campaign = ranked
    items = [f"i{i}" for i in range(12)]
    horror = ids(runtime.personalize_ranking(campaignArn=campaign, userId="u0", inputList=items,
                                             searchQuery="horror"), "personalizedRanking")
    assert sorted(horror, key=lambda i: int(i[1:])) == ["i1", "i4", "i7", "i10"]
    scifi = ids(runtime.personalize_ranking(campaignArn=campaign, userId="u0", inputList=items,
                                            searchQuery="SCI-fi"), "personalizedRanking")
    assert len(scifi) == 4 and all(int(i[1:]) % 3 == 2 for i in scifi)
    by_id = ids(runtime.personalize_ranking(campaignArn=campaign, userId="u0", inputList=items,
                                            searchQuery="i1"), "personalizedRanking")
    assert sorted(by_id) == ["i1", "i10", "i11"]
    with pytest.raises(ClientError) as e:           # the model's pattern: no spaces
        runtime.personalize_ranking(campaignArn=campaign, userId="u0", inputList=items,
                                    searchQuery="sci fi")
    assert code(e) == "InvalidInputException"


def test_ranking_errors(ranked, personalize, s3, runtime):
    group, campaign = ranked
    with pytest.raises(ClientError) as e:
        runtime.personalize_ranking(campaignArn=campaign, userId="u0",
                                    inputList=[f"i{i}" for i in range(501)])
    assert code(e) == "InvalidInputException" and "500" in message(e)
    with pytest.raises(ClientError) as e:
        runtime.personalize_ranking(campaignArn="arn:aws:personalize:us-east-1:000000000000:campaign/x",
                                    userId="u0", inputList=["i1"])
    assert code(e) == "ResourceNotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    sims = deployed(personalize, group, SIMS, "sims")
    with pytest.raises(ClientError) as e:
        runtime.personalize_ranking(campaignArn=sims, userId="u0", inputList=["i1", "i2"])
    assert code(e) == "InvalidInputException" and "aws-sims" in message(e)
    assert runtime.personalize_ranking(campaignArn=campaign, userId="u0",
                                       inputList=[])["personalizedRanking"] == []
