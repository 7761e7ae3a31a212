"""Domain dataset groups and their use cases, in one table (today's API: the `domain` member of
CreateDatasetGroup / CreateSchema / ListRecipes, CreateRecommender's recipeArn "a Domain dataset
group use case"; developer guide "Domain dataset groups", "Choosing a use case",
"Domain dataset and schema requirements").

A use case is served by one of this project's recipes (`domain.recipes`), trained on the
group's interactions of the event type the use case names (the guide: e.g. VIDEO_ON_DEMAND
"Most popular" ranks by Watch events, ECOMMERCE "Best sellers" by Purchase events), and asked
with the request member it needs (userId for a user's list, itemId for related items, neither
for a popular list). The minimum data is the training minimum (`limits.MIN_TRAINING_INTERACTIONS`
interactions, counted after the event-type filter), so a recommender with too little data ends
CREATE FAILED saying how many it found. Event types are matched as written in the data (the
guide's examples write them Watch, View, Purchase).

Required schema fields per domain and dataset type: the guide's default domain schemas; a
domain schema without one of them is refused naming the field.

Plain data: stdlib only (`domain/` imports no service).
"""
from typing import Dict, NamedTuple, Optional, Tuple

VIDEO_ON_DEMAND, ECOMMERCE = "VIDEO_ON_DEMAND", "ECOMMERCE"
DOMAINS = (VIDEO_ON_DEMAND, ECOMMERCE)

USER, ITEM, NOBODY = "userId", "itemId", None    # what a GetRecommendations request must carry

# (domain, dataset type) -> {field: allowed Avro types}; the guide's default domain schemas
_INTERACTIONS = {"USER_ID": ("string",), "ITEM_ID": ("string",), "EVENT_TYPE": ("string",),
                 "TIMESTAMP": ("long",)}
REQUIRED_FIELDS: Dict[Tuple[str, str], Dict[str, Tuple[str, ...]]] = {
    (VIDEO_ON_DEMAND, "INTERACTIONS"): _INTERACTIONS,
    (VIDEO_ON_DEMAND, "ITEMS"): {"ITEM_ID": ("string",), "GENRES": ("string",)},
    (VIDEO_ON_DEMAND, "USERS"): {"USER_ID": ("string",)},
    (ECOMMERCE, "INTERACTIONS"): _INTERACTIONS,
    (ECOMMERCE, "ITEMS"): {"ITEM_ID": ("string",), "PRICE": ("float", "double"),
                           "CATEGORY_L1": ("string",)},
    (ECOMMERCE, "USERS"): {"USER_ID": ("string",)},
}


class UseCase(NamedTuple):
    name: str                   # aws-vod-top-picks (the recipe ARN's last part)
    domain: str
    recipe: str                 # the project's recipe that trains it
    asks: Optional[str]         # USER | ITEM | NOBODY
    event_type: Optional[str]   # the interactions it trains on (None: every type)
    description: str

    @property
    def arn(self) -> str:
        return f"arn:aws:personalize:::recipe/{self.name}"

    @property
    def request_type(self) -> str:
        """How GetRecommendations answers it (the runtime's recipe-type switch)."""
        return {USER: "USER_PERSONALIZATION", ITEM: "RELATED_ITEMS"}.get(self.asks, "POPULAR_ITEMS")


_U = UseCase
USE_CASES: Dict[str, UseCase] = {u.name: u for u in (
    _U("aws-vod-top-picks", VIDEO_ON_DEMAND, "aws-user-personalization", USER, None,
       "Top picks for you: personalized recommendations from the user's viewing history."),
    _U("aws-vod-because-you-watched-x", VIDEO_ON_DEMAND, "aws-sims", ITEM, "Watch",
       "Because you watched X: videos watched by the users who watched the given video."),
    _U("aws-vod-more-like-x", VIDEO_ON_DEMAND, "aws-similar-items", ITEM, None,
       "More like X: videos similar to the given one, from co-occurrence and metadata."),
    _U("aws-vod-most-popular", VIDEO_ON_DEMAND, "aws-popularity-count", NOBODY, "Watch",
       "Most popular: the videos with the most Watch events."),
    _U("aws-vod-trending-now", VIDEO_ON_DEMAND, "aws-trending-now", NOBODY, None,
       "Trending now: the videos whose interactions grow fastest, from recent events."),
    _U("aws-ecomm-customers-who-viewed-x-also-viewed", ECOMMERCE, "aws-sims", ITEM, "View",
       "Customers who viewed X also viewed: items viewed by the viewers of the given item."),
    _U("aws-ecomm-frequently-bought-together", ECOMMERCE, "aws-sims", ITEM, "Purchase",
       "Frequently bought together: items purchased by the buyers of the given item."),
    _U("aws-ecomm-popular-items-by-purchases", ECOMMERCE, "aws-popularity-count", NOBODY,
       "Purchase", "Best sellers: the items with the most Purchase events."),
    _U("aws-ecomm-popular-items-by-views", ECOMMERCE, "aws-popularity-count", NOBODY, "View",
       "Most viewed: the items with the most View events."),
    _U("aws-ecomm-recommended-for-you", ECOMMERCE, "aws-user-personalization", USER, None,
       "Recommended for you: personalized recommendations from the user's history."),
)}


def use_case(recipe_arn: str) -> Optional[UseCase]:
    """The use case a recipe ARN names (arn:aws:personalize:::recipe/<name>), or None."""
    prefix = "arn:aws:personalize:::recipe/"
    return USE_CASES.get(recipe_arn[len(prefix):]) if (recipe_arn or "").startswith(prefix) else None


def of_domain(domain: str):
    return [u for u in USE_CASES.values() if u.domain == domain]


def schema_problem(domain: str, dataset_type: str, fields: Dict[str, str]) -> Optional[str]:
    """Why a schema of `dataset_type` with {FIELD: avro type} is not a `domain` schema, or None."""
    for name, types in REQUIRED_FIELDS.get((domain, dataset_type), {}).items():
        found = fields.get(name)
        if found is None:
            return (f"schema: a {domain} {dataset_type.title()} schema needs the field {name} "
                    f"(of type {' or '.join(types)})")
        if found not in types:
            return (f"schema: field {name} of a {domain} {dataset_type.title()} schema must be "
                    f"of type {' or '.join(types)}, not {found}")
    return None
