"""GetRecommendations (seed: "Getting Recommendations"; API Reference GetRecommendations; data
type PredictedItem). Service `personalize-runtime`.

"The required input depends on the recipe type used to create the solution backing the
campaign":
- USER_PERSONALIZATION: `userId` required; an `itemId` is accepted and not used (the HRNN
  recipes and popularity answer from the user's history);
- RELATED_ITEMS: `itemId` required, `userId` not used;
- SEARCH_PERSONALIZATION (today: PERSONALIZED_RANKING): "Campaigns that are backed by a
  solution created using a recipe of type SEARCH_PERSONALIZATION use the PersonalizeRanking API"
  -> InvalidInputException;
- POPULAR_ITEMS (today's Trending-Now): `userId` not needed ("only if you apply a filter that
  requires it"); the trend is recomputed from recent events (`ServedModel.trending`).
USER_PERSONALIZATION answers with the campaign's `campaignConfig` (User-Personalization reads
its `itemExplorationConfig`; an invalid setting is an InvalidInputException).

`numResults` defaults to 25 (the shipped model's `x-default`); the seed's maximum is 100 and
larger values (today's clients may send them) return at most 100 items. Unknown users and
items get popular items, not errors. A campaign that does not exist or is not ACTIVE answers
ResourceNotFoundException (HTTP 404, as the runtime model says). Today's members this
handler does not implement (filterArn, promotions, metadataColumns, context, recommenderArn)
are refused by name before it runs (`chalicelib.protocol.unserved`).

`campaign_model(arn)` (also used by PersonalizeRanking) resolves the campaign to the loaded
model of its solution version (`chalicelib.runtime.serving`, cached per container).
"""
import uuid

from chalicelib.protocol.errors import InvalidInputException
from chalicelib.service import campaigns
from chalicelib.service.registry import operation

SERVICE = "personalize-runtime"
MAX_RESULTS = 100
USER_PERSONALIZATION, RELATED_ITEMS, SEARCH_PERSONALIZATION = (
    "USER_PERSONALIZATION", "RELATED_ITEMS", "SEARCH_PERSONALIZATION")
# today's types: ranking recipes answer GetPersonalizedRanking; POPULAR_ITEMS needs no userId
PERSONALIZED_RANKING, POPULAR_ITEMS = "PERSONALIZED_RANKING", "POPULAR_ITEMS"
RANKING_TYPES = (SEARCH_PERSONALIZATION, PERSONALIZED_RANKING)


def _default_num_results():
    try:
        from chalicelib.protocol.models import member_default
        value = member_default(SERVICE, "GetRecommendations", "numResults")
    except (ImportError, KeyError):
        value = None
    return 25 if value is None else int(value)


class CampaignModel:
    """What a campaign serves now: its recipe and the loaded model."""

    def __init__(self, campaign_arn, version_arn, recipe_name, recipe_type, served, campaign_config=None):
        self.campaign_arn, self.version_arn = campaign_arn, version_arn
        self.recipe_name, self.recipe_type, self.served = recipe_name, recipe_type, served
        self.campaign_config = campaign_config or {}


def campaign_model(campaign_arn):
    """The ACTIVE campaign's model (ResourceNotFoundException otherwise; see campaigns)."""
    from chalicelib.runtime import serving
    found = serving.resolve_campaign(campaign_arn, campaigns.served_model)
    version_arn = found["solutionVersionArn"]
    served = serving.cache().get(version_arn, lambda: serving.load(
        version_arn, found["modelKey"], found.get("datasetGroupArn")))
    return CampaignModel(campaign_arn, version_arn, found["recipeName"], found["recipeType"], served,
                         found.get("campaignConfig"))


def predicted_items(pairs):
    """[(item id, score or None)] -> PredictedItem list."""
    return [{"itemId": i} if s is None else {"itemId": i, "score": s} for i, s in pairs]


@operation("GetRecommendations", service=SERVICE)
def get_recommendations(params):
    if not params.get("campaignArn"):
        raise InvalidInputException("campaignArn: required (recommenderArn is not served)")
    n = params.get("numResults")
    n = _default_num_results() if n is None else min(int(n), MAX_RESULTS)
    if n < 0:
        raise InvalidInputException(f"numResults: {n} is below the minimum 0")
    deployed = campaign_model(params["campaignArn"])
    kind = deployed.recipe_type
    if kind in RANKING_TYPES:
        raise InvalidInputException(
            f"Campaign {deployed.campaign_arn} deploys recipe {deployed.recipe_name} "
            f"({kind}): ask it with PersonalizeRanking, not GetRecommendations")
    if kind == RELATED_ITEMS:
        if not params.get("itemId"):
            raise InvalidInputException(
                f"itemId: required for campaign {deployed.campaign_arn}, whose recipe "
                f"{deployed.recipe_name} is of type RELATED_ITEMS")
        pairs = deployed.served.related(params["itemId"], n)
    elif kind == POPULAR_ITEMS:
        pairs = deployed.served.trending(n)
    else:
        if not params.get("userId"):
            raise InvalidInputException(
                f"userId: required for campaign {deployed.campaign_arn}, whose recipe "
                f"{deployed.recipe_name} is of type USER_PERSONALIZATION")
        try:
            pairs = deployed.served.recommend(params["userId"], n,
                                              campaign_config=deployed.campaign_config)
        except ValueError as e:   # the campaign's itemExplorationConfig (domain.recipes)
            raise InvalidInputException(f"Campaign {deployed.campaign_arn}: {e}") from None
    return {"itemList": predicted_items(pairs), "recommendationId": f"RID-{uuid.uuid4()}"}
