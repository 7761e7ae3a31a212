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
larger values (today's clients may send them) return at most 100 items (50 with
metadataColumns: "If you are including metadata in recommendations, the maximum is 50").
Unknown users and items get popular items, not errors. A campaign that does not exist or is
not ACTIVE answers ResourceNotFoundException (HTTP 404, as the runtime model says).
`recommenderArn` (today's Domain dataset groups) asks an ACTIVE recommender
(`service.recommenders`): its use case says whether userId or itemId is needed, filters,
promotions and metadataColumns (with recommenderConfig.enableMetadataWithRecommendations) apply
as for campaigns; a stopped (INACTIVE) recommender is an InvalidInputException.

Today's request members (the runtime model's documentation):
- `filterArn` / `filterValues`: an ACTIVE filter of the campaign's dataset group
  (`service.filters`, `chalicelib.filters`) over the model's items, seeing PutEvents events and
  PutItems items at once; the model is asked for more candidates when the filter removes some,
  and popular items that pass the filter fill what it cannot give;
- `promotions` (at most one): `percentPromotedItems` of the list (rounded to the nearest) from
  the promotion's own filter; the request filter applies to the other items only; an item is
  never both; promoted items "are positioned randomly relative to other recommended items, but
  in sorted order relative to other promoted items" and carry `promotionName`; "If there
  aren't enough items that meet the promotion criteria, the result will contain as many
  promoted items as possible". The guide lists the recipes that take promotions; here every
  GetRecommendations campaign does;
- `metadataColumns`: {"ITEMS": [column, ...]} (at most 10 columns, each a field of the Items
  dataset) returned as each item's `metadata`, for a campaign created or updated with
  `campaignConfig.enableMetadataWithRecommendations` true;
- `context`: accepted (the model checks its shape) and read by no recipe of this deployment:
  none of them trains on contextual metadata;
- `recommendationId` in every answer: what PutEvents takes back in `eventList.recommendationId`.

`campaign_model(arn)` (also used by PersonalizeRanking) resolves the campaign to the loaded
model of its solution version (`chalicelib.runtime.serving`, cached per container).
"""
import uuid

from chalicelib.protocol.errors import InvalidInputException
from chalicelib.service import campaigns, filters, recommenders
from chalicelib.service.registry import operation

SERVICE = "personalize-runtime"
MAX_RESULTS = 100
MAX_WITH_METADATA = 50        # numResults / inputList with metadataColumns (today's quotas)
MAX_METADATA_COLUMNS = 10     # "The maximum number of columns you can provide is 10"
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
        self._tables = None

    @property
    def tables(self):
        """This request's Items/Users tables (`runtime.filtering.Tables`: one stamp read each)."""
        if self._tables is None:
            from chalicelib.runtime import filtering
            self._tables = filtering.Tables(self.served)
        return self._tables


def campaign_model(campaign_arn, resolve=campaigns.served_model):
    """The ACTIVE campaign's model (ResourceNotFoundException otherwise; see campaigns), or a
    recommender's with `resolve=recommenders.served_model` (remembered for the same TTL)."""
    from chalicelib.runtime import serving
    found = serving.resolve_campaign(campaign_arn, resolve)
    version_arn = found["solutionVersionArn"]
    served = serving.cache().get(version_arn, lambda: serving.load(
        version_arn, found["modelKey"], found.get("datasetGroupArn")))
    return CampaignModel(campaign_arn, version_arn, found["recipeName"], found["recipeType"], served,
                         found.get("campaignConfig"))


def predicted_items(pairs, metadata=None):
    """[(item id, score or None)] -> PredictedItem list (with each item's `metadata` when
    given: one dict per pair)."""
    out = [{"itemId": i} if s is None else {"itemId": i, "score": s} for i, s in pairs]
    for item, meta in zip(out, metadata or ()):
        item["metadata"] = meta
    return out


def new_recommendation_id():
    """"The ID of the recommendation" (at most 40 characters, PutEvents' RecommendationId)."""
    return f"RID-{uuid.uuid4()}"


def item_filter(arn, group, recipe_type, owner, arn_member="filterArn"):
    """The parsed expression of an ACTIVE ItemID filter that `owner` (a campaign, a batch job,
    a recommender: its dataset group and recipe type) can apply; InvalidInputException names
    `arn_member` and the rule otherwise."""
    from chalicelib.filters import language
    record, parsed = filters.active_filter(arn, arn_member)
    if group and record["datasetGroupArn"] != group:
        raise InvalidInputException(
            f"{arn_member}: filter {arn} belongs to dataset group {record['datasetGroupArn']}, "
            f"{owner} to {group}")
    if parsed.target != language.ITEM_ID:
        raise InvalidInputException(
            f"{arn_member}: filter {arn} filters UserID (user segments); recommendations "
            "take ItemID filters")
    if parsed.uses_current_item and recipe_type != RELATED_ITEMS:
        raise InvalidInputException(
            f"{arn_member}: filter {arn} uses CurrentItem, which only related-items "
            f"recommendations have; {owner} is {recipe_type}")
    return parsed


def request_gate(params, deployed, user_id=None, item_id=None, events=None, where=""):
    """The filter of `params` (the request, or a promotion: `where` "promotions[0].") as a
    `runtime.filtering.Gate` (one that lets everything through without a filter).
    InvalidInputException names the member and the rule."""
    from chalicelib.filters import evaluate, language
    from chalicelib.runtime import filtering
    arn_member, values_member = f"{where}filterArn", f"{where}filterValues"
    arn = params.get("filterArn")
    if not arn:
        if params.get("filterValues"):
            raise InvalidInputException(f"{values_member}: given without {arn_member}")
        return filtering.Gate(deployed.served, events=events, tables=deployed.tables)
    parsed = item_filter(arn, deployed.served.dataset_group_arn, deployed.recipe_type,
                         f"campaign {deployed.campaign_arn}", arn_member)
    try:
        bound = evaluate.bind(parsed, params.get("filterValues"), values_member)
    except language.FilterError as e:
        raise InvalidInputException(e.rule) from None
    return filtering.Gate(deployed.served, parsed, bound, user_id, item_id, events,
                          tables=deployed.tables)


def metadata_columns(params, deployed, n_items, items_member="numResults"):
    """The requested Items columns (validated), or None without metadataColumns."""
    asked = params.get("metadataColumns")
    if not asked:
        return None
    from chalicelib.runtime import filtering
    if not deployed.campaign_config.get("enableMetadataWithRecommendations"):
        raise InvalidInputException(
            f"metadataColumns: campaign {deployed.campaign_arn} was not created or updated "
            "with campaignConfig.enableMetadataWithRecommendations true")
    extra = [k for k in asked if k != "ITEMS"]
    if extra:
        raise InvalidInputException(f"metadataColumns.{extra[0]}: the only key is ITEMS "
                                    "(columns of the Items dataset)")
    columns = list(asked.get("ITEMS") or [])
    if len(columns) > MAX_METADATA_COLUMNS:
        raise InvalidInputException(f"metadataColumns.ITEMS: {len(columns)} columns; at most "
                                    f"{MAX_METADATA_COLUMNS}")
    if n_items > MAX_WITH_METADATA and items_member != "numResults":
        raise InvalidInputException(f"{items_member}: {n_items} items; at most "
                                    f"{MAX_WITH_METADATA} with metadataColumns")
    table = deployed.tables.items()
    for column in columns:
        if table.spec(column) is None:
            raise InvalidInputException(
                f"metadataColumns.ITEMS: {column} is not a column of the Items dataset of "
                f"{deployed.served.dataset_group_arn}")
    return columns


def with_metadata(deployed, pairs, columns):
    """Item metadata for the answer's items (None without metadataColumns)."""
    if columns is None:
        return None
    return deployed.tables.items().metadata([i for i, _ in pairs], columns)


@operation("GetRecommendations", service=SERVICE)
def get_recommendations(params):
    if bool(params.get("campaignArn")) == bool(params.get("recommenderArn")):
        raise InvalidInputException("campaignArn or recommenderArn: give exactly one")
    n = params.get("numResults")
    n = _default_num_results() if n is None else min(int(n), MAX_RESULTS)
    if n < 0:
        raise InvalidInputException(f"numResults: {n} is below the minimum 0")
    deployed = campaign_model(params["campaignArn"]) if params.get("campaignArn") else \
        campaign_model(params["recommenderArn"], recommenders.served_model)
    kind = deployed.recipe_type
    if kind in RANKING_TYPES:
        raise InvalidInputException(
            f"Campaign {deployed.campaign_arn} deploys recipe {deployed.recipe_name} "
            f"({kind}): ask it with PersonalizeRanking, not GetRecommendations")
    columns = metadata_columns(params, deployed, n)
    if columns is not None:
        n = min(n, MAX_WITH_METADATA)
    user_id, item_id = params.get("userId"), params.get("itemId")
    if kind == RELATED_ITEMS and not item_id:
        raise InvalidInputException(
            f"itemId: required for campaign {deployed.campaign_arn}, whose recipe "
            f"{deployed.recipe_name} is of type RELATED_ITEMS")
    if kind not in (RELATED_ITEMS, POPULAR_ITEMS) and not user_id:
        raise InvalidInputException(
            f"userId: required for campaign {deployed.campaign_arn}, whose recipe "
            f"{deployed.recipe_name} is of type USER_PERSONALIZATION")
    promotion = (params.get("promotions") or [None])[0]
    filtered = params.get("filterArn") or promotion
    # the user's recorded events: read once for the history and every filter that needs them
    events = deployed.served.recorded_events(user_id) if filtered and user_id else None
    gate = request_gate(params, deployed, user_id, item_id, events)

    def answer(k, g):
        if kind == RELATED_ITEMS:
            return deployed.served.related(item_id, k, allowed=g.mask())
        if kind == POPULAR_ITEMS:
            return deployed.served.trending(k, allowed_ids=g.for_ids if g.active else None)
        try:
            return deployed.served.recommend(user_id, k, campaign_config=deployed.campaign_config,
                                             allowed=g.mask(), events=events)
        except ValueError as e:   # the campaign's itemExplorationConfig (domain.recipes)
            raise InvalidInputException(f"Campaign {deployed.campaign_arn}: {e}") from None

    rid = new_recommendation_id()
    if promotion:
        from chalicelib.runtime import filtering
        if not promotion.get("filterArn") or not promotion.get("percentPromotedItems"):
            raise InvalidInputException(
                "promotions[0]: filterArn and percentPromotedItems are both required")
        promo_gate = request_gate(promotion, deployed, user_id, item_id, events, "promotions[0].")
        promoted = answer(filtering.promoted_count(n, promotion["percentPromotedItems"]), promo_gate)
        regular = answer(n - len(promoted), gate.block([i for i, _ in promoted]))
        merged = filtering.promote(regular, promoted, rid)
        pairs = [pair for pair, _ in merged]
        items = predicted_items(pairs, with_metadata(deployed, pairs, columns))
        for item, (_, is_promoted) in zip(items, merged):
            if is_promoted and promotion.get("name"):
                item["promotionName"] = promotion["name"]
    else:
        pairs = answer(n, gate)
        items = predicted_items(pairs, with_metadata(deployed, pairs, columns))
    return {"itemList": items, "recommendationId": rid}
