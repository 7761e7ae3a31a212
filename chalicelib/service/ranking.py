"""PersonalizeRanking (seed: "Personalized Rankings"; API Reference PersonalizeRanking) and
today's GetPersonalizedRanking (stock boto3 clients), one handler. Service `personalize-runtime`.

"Re-ranks a list of recommended items for the given user, filtered using the specified query.
The first item in the list is deemed the most likely item to be of interest to the user."

Rules:
- `inputList`: at most 500 items (today's limit; the seed's 100 is within it). An item listed
  more than once is ranked once, at its first position. Items the model never saw come last,
  in input order ("appended to the end of the reranked list", today's documentation).
- `searchQuery` (letters, digits and inner dashes, per the model's pattern) keeps the items
  whose id or string metadata in the Items dataset contains the query, case-insensitively;
  the rest are dropped before ranking.
- The seed says the campaign's recipe is SEARCH_PERSONALIZATION; any campaign whose model can
  score items for a user (`Model.rank`: personalized ranking, HRNN, popularity) is served the
  same way. A model that cannot (SIMS answers related items only) is an InvalidInputException
  saying so.
- Unknown users rank by what the model knows without a history (popularity for HRNN).
- `filterArn` / `filterValues` (today's API): the filter drops the input items it does not
  let through, before ranking (items the model never saw are judged by their Items metadata
  too); `metadataColumns` as in GetRecommendations, with at most 50 input items; `context` is
  accepted and read by no recipe here; the answer carries a `recommendationId`.
Errors as GetRecommendations: unknown or not ACTIVE campaign -> ResourceNotFoundException.
"""
from chalicelib.protocol.errors import InvalidInputException
from chalicelib.service.recommendations import (SERVICE, campaign_model, metadata_columns,
                                                new_recommendation_id, predicted_items,
                                                request_gate, with_metadata)
from chalicelib.service.registry import operation

MAX_INPUT = 500


def search_filter(deployed, item_ids, query):
    """The items whose id or Items metadata text contains `query` (case-insensitive)."""
    from chalicelib.datasets.schema import ITEMS
    q = query.lower()
    served = deployed.served
    idx = served.index.lookup(item_ids)
    text = served.item_text(deployed.tables.stamp(ITEMS))
    keep = []
    for item, i in zip(item_ids, idx.tolist()):
        if q in item.lower() or (text is not None and i >= 0 and q in text[i]):
            keep.append(item)
    return keep


@operation("PersonalizeRanking", service=SERVICE)
@operation("GetPersonalizedRanking", service=SERVICE)
def personalize_ranking(params):
    items = params.get("inputList") or []
    if len(items) > MAX_INPUT:
        raise InvalidInputException(f"inputList: {len(items)} items; at most {MAX_INPUT} can be ranked")
    if not params.get("userId"):
        raise InvalidInputException("userId: required, the user to rank the items for")
    deployed = campaign_model(params["campaignArn"])
    if not deployed.served.can_rank:
        raise InvalidInputException(
            f"Campaign {deployed.campaign_arn} deploys recipe {deployed.recipe_name} "
            f"({deployed.recipe_type}), whose model cannot score items for a user; deploy a "
            "SEARCH_PERSONALIZATION (or USER_PERSONALIZATION) solution to rank items")
    columns = metadata_columns(params, deployed, len(items), "inputList")
    items = list(dict.fromkeys(items))   # each item once, at its first position
    if params.get("searchQuery"):
        items = search_filter(deployed, items, params["searchQuery"])
    user_id, events = params["userId"], None
    if params.get("filterArn"):
        events = deployed.served.recorded_events(user_id)
    gate = request_gate(params, deployed, user_id, events=events)
    if gate.active and items:
        items = [i for i, keep in zip(items, gate.for_ids(items).tolist()) if keep]
    pairs = deployed.served.rank(user_id, items, events=events)
    return {"personalizedRanking": predicted_items(pairs, with_metadata(deployed, pairs, columns)),
            "recommendationId": new_recommendation_id()}
