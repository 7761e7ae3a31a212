"""Recipes (seed: "Using Predefined Recipes", "Bring Your Own Recipe" step c, "Overriding Default
Recipe Parameters"; API Reference: CreateRecipe, DescribeRecipe, ListRecipes, UpdateRecipe,
DeleteRecipe; data types Recipe, RecipeSummary).

The 8 predefined recipes come from `chalicelib.domain.recipes` (ARNs
`arn:aws:personalize:::recipe/<name>`); a user's recipes (BYOR) are stored records at
`arn:aws:personalize::<acct>:recipe/<name>` (the seed's example form).

Rules the service model cannot express:
- CreateRecipe/UpdateRecipe: the algorithm and the feature transformation exist, predefined or
  custom (ResourceNotFoundException). A custom recipe takes the recipe type of the predefined
  recipe whose algorithm it uses, USER_PERSONALIZATION otherwise (CreateRecipe has no type).
- predefined recipes cannot be updated or deleted: InvalidInputException (the error both
  operations list for a value that cannot be acted on);
- a recipe a solution uses (recipeArn or autoMLConfig.recipeList) cannot be deleted
  (ResourceInUseException).
- ListRecipes: recipeProvider Service | BYOR | All (default; "BYORs listed first"); the stock
  enum's SERVICE is read as Service. Its nextToken is our own (the list merges two sources).
  `domain` lists only that domain's use cases (`domain.use_cases`), which DescribeRecipe knows too.

`training_parameters` turns a solution's overrides into what training needs, with the errors a
caller sees (InvalidInputException naming the hyperparameter and the rule). Hyperparameters that
today's guide calls featurization ones (`BuiltinRecipe.featurization`: Trending-Now's
`trend_discovery_frequency`, User-Personalization's history percentiles) are accepted in
`featureTransformationParameters` too and reach the recipe as its hyperparameters.
"""
import base64
import binascii
import json

from chalicelib.domain import arns, lifecycle, use_cases
from chalicelib.domain import recipes as catalog
from chalicelib.protocol.errors import (InvalidInputException, InvalidNextTokenException,
                                        ResourceInUseException, ResourceNotFoundException)
from chalicelib.service import algorithms, feature_transformations
from chalicelib.service.registry import operation
from chalicelib.storage import references
from chalicelib.storage.resources import ConditionFailed, now, store

TYPE = arns.RECIPE
PAGE = 100
def custom_arn(name):
    return arns.build(TYPE, name, region="")


def builtin_of(arn):
    """The predefined recipe (domain object) an ARN names, or None."""
    prefix = catalog.recipe_arn("")
    if arn.startswith(prefix):
        return catalog.BUILTIN_RECIPES.get(arn[len(prefix):])
    return None


def _builtin_record(recipe):
    return {"name": recipe.name, "recipeArn": recipe.arn, "algorithmArn": recipe.algorithm_arn,
            "featureTransformationArn": recipe.feature_transformation_arn,
            "recipeType": recipe.recipe_type, "description": recipe.description,
            "status": lifecycle.ACTIVE, "creationDateTime": catalog.BUILTIN_CREATED,
            "lastUpdatedDateTime": catalog.BUILTIN_CREATED, "builtin": True}


def _use_case_record(case):
    """A Domain dataset group use case as a Recipe: the type of the recipe that serves it."""
    backing = catalog.BUILTIN_RECIPES[case.recipe]
    return {"name": case.name, "recipeArn": case.arn, "recipeType": backing.recipe_type,
            "description": case.description, "domain": case.domain, "status": lifecycle.ACTIVE,
            "creationDateTime": catalog.BUILTIN_CREATED,
            "lastUpdatedDateTime": catalog.BUILTIN_CREATED, "builtin": True}


def get(arn):
    """The Recipe (wire shape, plus `builtin`) for a predefined, use case or custom ARN, else
    ResourceNotFoundException."""
    recipe = builtin_of(arn)
    if recipe is not None:
        return _builtin_record(recipe)
    case = use_cases.use_case(arn)
    if case is not None:
        return _use_case_record(case)
    return store().require(arn, TYPE, "recipe")


def _recipe_type_for(algorithm_arn):
    builtin = algorithms.builtin_recipe_of(algorithm_arn)
    return builtin.recipe_type if builtin else catalog.USER_PERSONALIZATION


def training_parameters(recipe_arn, hyperparameters=None, ft_overrides=None, hpo_ranges=None):
    """What training a recipe needs, checked against the recipe (seed: "Overriding Default
    Recipe Parameters"): {"recipe": Recipe, "algorithmHyperParameters": name -> typed value
    (predefined) or string (custom), "featureTransformationParameters": name -> float,
    "givenHyperParameters": what the caller set, featurization keys included}.
    InvalidInputException names the parameter and the rule."""
    recipe = get(recipe_arn)
    builtin = builtin_of(recipe["recipeArn"])
    algorithm = algorithms.get(recipe["algorithmArn"]) if recipe.get("algorithmArn") else None
    if builtin is not None and builtin.featurization and ft_overrides:
        # today's guide puts these in featureTransformationParameters; the recipe reads them
        moved = {k: v for k, v in ft_overrides.items() if k in builtin.featurization}
        ft_overrides = {k: v for k, v in ft_overrides.items() if k not in moved}
        hyperparameters = dict(hyperparameters or {}, **moved)
    if builtin is not None:
        try:
            hps = catalog.parse_hyperparameters(builtin.name, hyperparameters or {})
        except ValueError as e:
            raise InvalidInputException(f"algorithmHyperParameters: {e}") from None
    else:
        hps = algorithms.check_hyperparameters(algorithm, hyperparameters or {})
    if hpo_ranges:
        if algorithm is None:
            raise InvalidInputException(
                f"hpoConfig: recipe {recipe['recipeArn']} has no tunable hyperparameters")
        algorithms.check_hpo_ranges(algorithm, hpo_ranges)
    if recipe.get("featureTransformationArn"):
        fts = feature_transformations.effective_parameters(recipe["featureTransformationArn"],
                                                           ft_overrides)
    elif ft_overrides:
        raise InvalidInputException(
            f"featureTransformationParameters: recipe {recipe['recipeArn']} has no feature "
            "transformation")
    else:
        fts = {}
    return {"recipe": recipe, "algorithmHyperParameters": hps,
            "featureTransformationParameters": fts,
            "givenHyperParameters": dict(hyperparameters or {})}


def _refuse_builtin(arn, verb):
    if builtin_of(arn) is not None:
        raise InvalidInputException(f"{arn} is a predefined recipe; it cannot be {verb}")


# ---- operations ----------------------------------------------------------------------------

@operation("CreateRecipe")
def create_recipe(params):
    algorithm = algorithms.get(params["algorithmArn"])
    feature_transformations.get(params["featureTransformationArn"])
    arn = custom_arn(params["name"])
    created = now()
    store().put_new({
        "arn": arn, "recipeArn": arn, "name": params["name"],
        "algorithmArn": params["algorithmArn"],
        "featureTransformationArn": params["featureTransformationArn"],
        "recipeType": _recipe_type_for(algorithm["algorithmArn"]),
        "description": f"Custom recipe on algorithm {algorithm['name']}",
        "status": lifecycle.ACTIVE, "creationDateTime": created, "lastUpdatedDateTime": created,
    }, TYPE, exists_message=f"Recipe {arn} already exists")
    return {"recipeArn": arn}


@operation("DescribeRecipe")
def describe_recipe(params):
    return {"recipe": get(params["recipeArn"])}


@operation("UpdateRecipe")
def update_recipe(params):
    arn = params["recipeArn"]
    _refuse_builtin(arn, "updated")
    store().require(arn, TYPE, "recipe")
    changes = {}
    if "algorithmArn" in params:
        algorithms.get(params["algorithmArn"])
        changes["algorithmArn"] = params["algorithmArn"]
        changes["recipeType"] = _recipe_type_for(params["algorithmArn"])
    if "featureTransformationArn" in params:
        feature_transformations.get(params["featureTransformationArn"])
        changes["featureTransformationArn"] = params["featureTransformationArn"]
    if changes:
        store().update(arn, dict(changes, lastUpdatedDateTime=now()))
    return {"recipeArn": arn}


@operation("DeleteRecipe")
def delete_recipe(params):
    arn = params["recipeArn"]
    _refuse_builtin(arn, "deleted")
    store().require(arn, TYPE, "recipe")
    users = references.users_of(arn)
    if users:
        raise ResourceInUseException(
            f"Recipe {arn} is used by solutions {', '.join(users)}; delete them first")
    try:
        store().delete(arn)
    except ConditionFailed:  # deleted in between
        raise ResourceNotFoundException.for_arn(arn) from None
    return {}


def _summary(record):
    return {k: record.get(k) for k in ("name", "recipeArn", "status", "creationDateTime",
                                        "lastUpdatedDateTime", "domain") if k in record}


def _encode_token(provider, offset):
    body = json.dumps({"p": provider, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(body).decode().rstrip("=")


def _decode_token(token, provider):
    bad = InvalidNextTokenException("The nextToken is not valid for this request")
    try:
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not isinstance(body, dict) or body.get("p") != provider \
            or not isinstance(body.get("o"), int) or isinstance(body.get("o"), bool) or body["o"] < 1:
        raise bad
    return body["o"]


@operation("ListRecipes")
def list_recipes(params):
    provider = params.get("recipeProvider") or "All"
    provider = "Service" if provider.upper() == "SERVICE" else provider
    limit = params.get("maxResults") or PAGE
    offset = _decode_token(params["nextToken"], provider) if params.get("nextToken") else 0
    if params.get("domain"):   # "Only recipes (Domain dataset group use cases) for this domain"
        entries = [_summary(_use_case_record(u)) for u in use_cases.of_domain(params["domain"])]
    else:
        entries = []
        if provider in ("BYOR", "All"):
            entries += [_summary(r) for r in store().iterate(TYPE)]
        if provider in ("Service", "All"):
            entries += [_summary(_builtin_record(r)) for r in catalog.BUILTIN_RECIPES.values()]
    if offset > len(entries):
        raise InvalidNextTokenException("The nextToken is not valid for this request")
    page = entries[offset:offset + limit]
    more = offset + limit < len(entries)
    return {"recipes": page, "nextToken": _encode_token(provider, offset + limit) if more else None}
