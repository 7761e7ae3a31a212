"""Recipe name -> Recipe class. New recipes register here and need no other change
(AutoML, HPO, the trainer and the runtime look them up by name)."""
import importlib

# recipe name (the built-in recipe ARN's last part) -> "module:Class"
RECIPES = {
    "aws-popularity-count": "chalicelib.algorithms.popularity:PopularityCount",
    "aws-sims": "chalicelib.algorithms.sims:Sims",
    "aws-hrnn": "chalicelib.algorithms.hrnn:Hrnn",
    "aws-hrnn-metadata": "chalicelib.algorithms.hrnn:HrnnMetadata",
    "aws-hrnn-coldstart": "chalicelib.algorithms.hrnn:HrnnColdstart",
    "aws-personalized-ranking": "chalicelib.algorithms.ranking:PersonalizedRanking",
    "aws-deepfm": "chalicelib.algorithms.deepfm:DeepFm",
    "aws-ffnn": "chalicelib.algorithms.ffnn:Ffnn",
    # today's catalogue
    "aws-user-personalization": "chalicelib.algorithms.user_personalization:UserPersonalization",
    "aws-user-personalization-v2": "chalicelib.algorithms.transformer:UserPersonalizationV2",
    "aws-personalized-ranking-v2": "chalicelib.algorithms.transformer:PersonalizedRankingV2",
    "aws-similar-items": "chalicelib.algorithms.similar_items:SimilarItems",
    "aws-trending-now": "chalicelib.algorithms.trending:TrendingNow",
    "aws-item-affinity": "chalicelib.algorithms.affinity:ItemAffinity",
    "aws-item-attribute-affinity": "chalicelib.algorithms.affinity:ItemAttributeAffinity",
}


def recipe_for(name):
    """Return an instance of the recipe called `name` (ValueError if unknown or not built yet)."""
    target = RECIPES.get(name)
    if target is None:
        raise ValueError(f"unknown recipe {name!r}")
    module, cls = target.split(":")
    try:
        return getattr(importlib.import_module(module), cls)()
    except (ImportError, AttributeError) as e:
        raise ValueError(f"recipe {name!r} is not available: {e}") from e


def available_recipes():
    """Names whose implementation imports (AutoML's default list is filtered by this)."""
    out = []
    for name in RECIPES:
        try:
            recipe_for(name)
        except ValueError:
            continue
        out.append(name)
    return out
