"""The predefined recipes as data: names, types, algorithms, feature transformations, hyperparameters.

Seed: "Using Predefined Recipes" / "Predefined Recipes" and the recipe sections that follow
("DeepFM Recipe", "FFNN Recipe", "HRNN Recipe", "Popularity-Count Recipe",
"Personalized-Ranking Recipe", "SIMS Recipe"); "Bring Your Own Recipe" step b for the
feature-transformation parameter keys; data types "Recipe", "Algorithm",
"DefaultHyperParameterRanges" and "FeatureTransformation".

Ranges are copied from the seed's tables: `[a, b]` is closed, `[a, b)` half-open, `(0, inf)`
open at 0, and an infinite upper bound is `max=None`. Where the seed is silent we decide, and say so
next to the entry:

- `training.eval_epoch_time` (HRNN) has range `[0, time]` and no default. We read "time" as the
  training time limit `training.early_time` (checked as a cross-field rule) and choose the default
  "0", meaning "no separate limit: validation is bounded only by training.early_time".
- HRNN-metadata and HRNN-coldstart have no section of their own; the seed calls them HRNN variants,
  so they take the HRNN table, algorithms `aws-hrnn-metadata` / `aws-hrnn-coldstart` and the
  JSON-percentile-filtering feature transformation.
- Personalized-Ranking has no hyperparameter table; the 2019 recipe reranks with an HRNN, so it takes
  the HRNN table too (its engineer may narrow it).
- Popularity-Count has no algorithm or feature transformation ARN in the seed ("no exposed
  hyperparameters"), so both are None.
- FFNN `batch_size` says "HPO tuning: Maybe"; we mark it tunable (HPO may pick it).
- The seed's `HPO tuning` column gives tuning ranges for the SIMS half-lives (e.g. "Yes [30 - 150]");
  they are `tuning_range`. The footnote on `out_of_order_decay_*` ("the maximum value should be less
  than history_decay_slow_half_life and in_order_decay_slow_half_life") is about those tuning
  ranges, not about a trained value, so `parse_hyperparameters` does not enforce it.
- Feature-transformation defaults: the seed lists the keys `max_hist_length_percentile`,
  `min_hist_length_percentile`, "train ratio" and "test ratio" (we spell them `train_ratio`,
  `test_ratio`) without built-in values; ours filter nothing (0.0 .. 1.0) and split 0.9 / 0.1, the
  split of /EVALUATION.md.

Standard library only (no numpy): the service layer serves this through ListRecipes,
DescribeRecipe, DescribeAlgorithm and DescribeFeatureTransformation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, Optional, Tuple, Union

USER_PERSONALIZATION = "USER_PERSONALIZATION"
RELATED_ITEMS = "RELATED_ITEMS"
SEARCH_PERSONALIZATION = "SEARCH_PERSONALIZATION"
# today's types (the developer guide's "Amazon Personalize recipe types by use case"); the seed's
# recipes keep the seed's types, today's recipes carry these
PERSONALIZED_RANKING = "PERSONALIZED_RANKING"
POPULAR_ITEMS = "POPULAR_ITEMS"
USER_SEGMENTATION = "USER_SEGMENTATION"   # batch segment jobs only (no campaign serves it)
RECIPE_TYPES = (USER_PERSONALIZATION, RELATED_ITEMS, SEARCH_PERSONALIZATION, PERSONALIZED_RANKING,
                POPULAR_ITEMS, USER_SEGMENTATION)
RANKING_TYPES = (SEARCH_PERSONALIZATION, PERSONALIZED_RANKING)

# creationDateTime of every predefined recipe, algorithm and feature transformation
BUILTIN_CREATED = datetime(2018, 11, 28, tzinfo=timezone.utc)

INTEGER, CONTINUOUS, CATEGORICAL, BOOLEAN = "integer", "continuous", "categorical", "boolean"

# DefaultIntegerHyperParameterRange / DefaultContinuousHyperParameterRange: "Valid Range:
# Maximum value of 1000000" -- how an infinite bound is shown on the wire.
WIRE_MAX, WIRE_MIN = 1000000, -1000000

Value = Union[int, float, bool, str]


@dataclass(frozen=True)
class Hyperparameter:
    """One row of a recipe's hyperparameter table."""

    name: str
    type: str                                   # integer | continuous | categorical | boolean
    default: str                                # as the SageMaker contract passes it: a string
    min: Optional[float] = None                 # None: unbounded below
    max: Optional[float] = None                 # None: unbounded above (the seed's infinity)
    min_inclusive: bool = True
    max_inclusive: bool = True
    values: Tuple[str, ...] = ()                # categorical choices
    tunable: bool = False                       # the seed's "HPO tuning" column
    tuning_range: Optional[Tuple[float, float]] = None  # the seed's "Yes [a - b]"
    description: str = ""

    def range_text(self) -> str:
        """The range the way the seed writes it, e.g. `[1, 1000)` or `[0, inf)`."""
        if self.type in (CATEGORICAL, BOOLEAN):
            return "/".join(self.values or ("true", "false"))
        lo = "-inf" if self.min is None else _num(self.min)
        hi = "inf" if self.max is None else _num(self.max)
        left = "[" if self.min_inclusive and self.min is not None else "("
        right = "]" if self.max_inclusive and self.max is not None else ")"
        return f"{left}{lo}, {hi}{right}"


@dataclass(frozen=True)
class BuiltinRecipe:
    """A predefined recipe (seed: data type "Recipe", plus its algorithm's hyperparameters)."""

    name: str
    recipe_type: str
    description: str
    algorithm: Optional[str]                    # algorithm name (ARN tail) or None
    feature_transformation: Optional[str]       # feature-transformation name or None
    hyperparameters: Tuple[Hyperparameter, ...] = field(default_factory=tuple)
    automl: bool = False                        # "^ Amazon Personalize examines these recipes when performing AutoML"
    # hyperparameters today's guide lists as featurization ones: a client may send them in
    # featureTransformationParameters (today's examples do), the recipe reads them as its own
    featurization: Tuple[str, ...] = ()

    @property
    def arn(self) -> str:
        return recipe_arn(self.name)

    @property
    def algorithm_arn(self) -> Optional[str]:
        return algorithm_arn(self.algorithm) if self.algorithm else None

    @property
    def feature_transformation_arn(self) -> Optional[str]:
        return feature_transformation_arn(self.feature_transformation) if self.feature_transformation else None

    def hyperparameter(self, name: str) -> Hyperparameter:
        for hp in self.hyperparameters:
            if hp.name == name:
                return hp
        raise KeyError(name)

    def default_hyperparameters(self) -> Dict[str, str]:
        """Algorithm.defaultHyperParameters: name -> default string."""
        return {hp.name: hp.default for hp in self.hyperparameters}


def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def recipe_arn(name: str) -> str:
    """`arn:aws:personalize:::recipe/<name>` (seed: each recipe's "Recipe ARN")."""
    return f"arn:aws:personalize:::recipe/{name}"


def algorithm_arn(name: str) -> str:
    return f"arn:aws:personalize:::algorithm/{name}"


def feature_transformation_arn(name: str) -> str:
    return f"arn:aws:personalize:::feature-transformation/{name}"


def _int(name, lo, hi, default, tunable=False, tuning=None, desc="", lo_incl=True, hi_incl=True):
    return Hyperparameter(name, INTEGER, default, lo, hi, lo_incl, hi_incl, (), tunable, tuning, desc)


def _cont(name, lo, hi, default, tunable=False, tuning=None, desc=""):
    return Hyperparameter(name, CONTINUOUS, default, lo, hi, True, True, (), tunable, tuning, desc)


# --- tables ------------------------------------------------------------------------------------
# Seed "DeepFM Recipe".
_DEEPFM = (
    _int("nHiddenLayers", 0, 5, "2", True, desc="Number of hidden layers."),
    _int("embedding_size", 4, 512, "32", True, desc="Number of hidden units per layer."),
    _cont("dropout", 0.0, 1.0, "0", True, desc="Dropout rate at each hidden layer."),
    _int("epochs", 1, 32, "3", desc="Number of passes over the complete dataset to run."),
    _int("mini_batch_size", 2, 256, "64", desc="Size (partial dataset) used for each mini-training iteration."),
)

# Seed "FFNN Recipe" (two tables; "Maybe" for batch_size read as tunable).
_FFNN = (
    _int("batch_size", 1, 1000, "1000", True, desc="Size (partial dataset) used for each training iteration."),
    _int("dsize", 1, 128, "10", True, desc="Number of hidden units per layer."),
    _cont("dropout", 0.0, 1.0, "0.2", True, desc="Dropout rate at each hidden layer."),
    _cont("learning_rate", 0.0, 1.0, "0.01", True, desc="Learning rate."),
    _int("max_hist_length", 100, 5000, "500", desc="Maximum number of items to consider in user's history."),
    _int("min_hist_length", 1, 100, "5", desc="Minimum number of items to consider in user's history."),
)

# Seed "HRNN Recipe". eval_epoch_time: see the module docstring.
_HRNN = (
    _int("model.num_layers", 1, 3, "1", True, desc="Number of hidden layers."),
    _int("model.num_hidden", 32, 256, "149", True, desc="Number of hidden units per layer."),
    _cont("model.dropout", 0.0, 1.0, "0.2", True, desc="Dropout rate at each hidden layer."),
    Hyperparameter("model.skip_connection", BOOLEAN, "FALSE", values=("true", "false"), tunable=True,
                   description="Skip connection between HRNN input and output."),
    _int("training.epochs", 1, 1000, "1", hi_incl=False,
         desc="Number of passes over the complete dataset to run."),
    _int("training.batch_size", 1, 128, "31", hi_incl=False,
         desc="Size (partial dataset) used for each training iteration."),
    _int("training.early_time", 0, 86400, "43200", True,
         desc="Limit training time (may need extra validation/metric time)."),
    _int("training.eval_epoch_time", 0, 86400, "0", True,
         desc="Limit validation/metric time (at most training.early_time; 0: no separate limit)."),
)

# Seed "SIMS Recipe".
_SIMS = (
    _cont("alpha", 0.0, 1.0, "0.5", True,
          desc="Balances the importance given to recent interactions versus older interactions. "
               "The higher the alpha, the more importance given to recent interactions."),
    _int("copurchase_delta", 0, None, "10",
         desc="Maximum number of days between interactions of a user with two items, for the items "
              "to be considered similar candidates to each other."),
    _int("min_copurchase_count", 0, None, "5",
         desc="Minimum number of users who need to have interacted with item A and item B for them "
              "to be considered similar to each other."),
    _cont("exponentiation_parameter", 0.0, 1.0, "1",
          desc="Determines correlation between co-purchases of an item."),
    _int("epsilon_smoothing", 0, None, "3",
         desc="Smoothing factor for items with insufficient co-purchase data."),
    _int("history_decay_fast_half_life", 0, None, "90", True, (30, 150),
         desc="Fast decay parameter that downweights interactions based on how many days in the "
              "past they occurred."),
    _int("history_decay_slow_half_life", 0, None, "360", True, (120, 720),
         desc="Slow decay parameter that downweights interactions based on how many days in the "
              "past they occurred."),
    _int("in_order_decay_fast_half_life", 0, None, "60", True, (20, 120),
         desc="Fast decay parameter that downweights interactions that occurred in-order (A before "
              "B), based on how many days have elapsed between interactions."),
    _int("in_order_decay_slow_half_life", 0, None, "360", True, (120, 720),
         desc="Slow decay parameter that downweights interactions that occurred in-order (A before "
              "B), based on how many days have elapsed between interactions."),
    _int("out_of_order_decay_fast_half_life", 0, None, "30", True, (10, 45),
         desc="Fast decay parameter that downweights interactions that occurred out-of-order (B "
              "before A), based on how many days have elapsed between interactions."),
    # The seed writes this range "(0, inf)": open at 0, unlike its siblings.
    _int("out_of_order_decay_slow_half_life", 0, None, "180", True, (10, 45), lo_incl=False,
         desc="Slow decay parameter that downweights interactions that occurred out-of-order (B "
              "before A), based on how many days have elapsed between interactions."),
    _int("top_n", 1, None, "100", desc="Number of similar items to return for each item."),
)

# --- today's recipes (developer guide, each recipe's "Properties and hyperparameters") ---------
_HISTORY_PERCENTILES = (
    _cont("min_user_history_length_percentile", 0.0, 1.0, "0.0",
          desc="The minimum percentile of user history lengths to include in model training."),
    _cont("max_user_history_length_percentile", 0.0, 1.0, "0.99",
          desc="The maximum percentile of user history lengths to include in model training."),
)
_HISTORY_FEATURIZATION = tuple(hp.name for hp in _HISTORY_PERCENTILES)

# "User-Personalization recipe": algorithm, featurization and "item exploration campaign
# configuration" hyperparameters (the campaign's itemExplorationConfig overrides the last two).
_USER_PERSONALIZATION = (
    _int("hidden_dimension", 32, 256, "149", True, desc="The number of hidden variables used in the model."),
    _int("bptt", 2, 32, "32", True,
         desc="Back-propagation through time: the number of steps a gradient reaches back."),
    Hyperparameter("recency_mask", BOOLEAN, "True", values=("true", "false"), tunable=True,
                   description="Whether the model gives more weight to recent interactions."),
) + _HISTORY_PERCENTILES + (
    _cont("exploration_weight", 0.0, 1.0, "0.3",
          desc="How frequently recommendations include items with less item interaction data or "
               "relevance; 0: no exploration."),
    Hyperparameter("exploration_item_age_cut_off", CONTINUOUS, "30.0", 1.0, None,
                   description="The maximum item age in days since the latest interaction for "
                               "an item to be explored (the minimum is 1 day)."),
)

# "User-Personalization-v2 recipe" and "Personalized-Ranking-v2 recipe": one hyperparameter.
_V2 = (
    Hyperparameter("apply_recency_bias", BOOLEAN, "true", values=("true", "false"), tunable=True,
                   description="Whether the model gives more weight to the most recent item "
                               "interactions data."),
)

# "Similar-Items recipe".
_SIMILAR_ITEMS = (
    _cont("popularity_discount_factor", 0.0, 1.0, "0.0",
          desc="How popularity influences recommendations: closer to zero includes more popular "
               "items, closer to one puts less emphasis on popularity."),
    _int("item_id_hidden_dim", 30, 200, "100", True,
         desc="The number of hidden variables that model item IDs from interactions data."),
    _int("item_metadata_hidden_dim", 30, 200, "100", True,
         desc="The number of hidden variables that model item metadata."),
)

# "Trending-Now recipe": a feature-transformation hyperparameter, sent in
# featureTransformationParameters by today's clients.
TREND_FREQUENCIES = {"30 minutes": 1800, "1 hour": 3600, "2 hours": 7200, "3 hours": 10800,
                     "1 day": 86400}
_TRENDING_NOW = (
    Hyperparameter("trend_discovery_frequency", CATEGORICAL, "2 hours",
                   values=tuple(TREND_FREQUENCIES),
                   description="How often trending items are identified: the length of the "
                               "intervals whose interaction counts are compared."),
)

JSON_PERCENTILE_FILTERING = "JSON-percentile-filtering"
RECORDIO_PERCENTILE_FILTERING = "general-interactions-recordIO-percentile-filtering"
SIMS_TRANSFORMATION = "sims"

_FT_DEFAULTS = {"max_hist_length_percentile": "1.0", "min_hist_length_percentile": "0.0",
                "train_ratio": "0.9", "test_ratio": "0.1"}

# name -> defaultParameters (string map, seed data type "FeatureTransformation").
FEATURE_TRANSFORMATIONS: Dict[str, Dict[str, str]] = {
    JSON_PERCENTILE_FILTERING: dict(_FT_DEFAULTS),
    RECORDIO_PERCENTILE_FILTERING: dict(_FT_DEFAULTS),
    SIMS_TRANSFORMATION: dict(_FT_DEFAULTS),
}

_RECIPES = (
    BuiltinRecipe(
        "aws-personalized-ranking", SEARCH_PERSONALIZATION,
        "Use this recipe when you're personalizing the search results for your users, such as, "
        "personalized reranking of search results or curated lists.",
        "aws-personalized-ranking", JSON_PERCENTILE_FILTERING, _HRNN),
    BuiltinRecipe(
        "aws-sims", RELATED_ITEMS,
        "Item-to-item similarities (SIMS) generates items similar to a given item based on "
        "co-occurrence of the item in user history in the user-item interaction dataset. In the "
        "absence of sufficient user behavior data for an item, the algorithm returns popular items "
        "as recommendations.",
        "aws-sims", SIMS_TRANSFORMATION, _SIMS),
    BuiltinRecipe(
        "aws-deepfm", USER_PERSONALIZATION,
        "Extends a factorization machine using a deep autoencoder to achieve higher accuracy via "
        "nonlinear modeling of user item interactions.",
        "aws-deepfm", JSON_PERCENTILE_FILTERING, _DEEPFM, automl=True),
    BuiltinRecipe(
        "aws-ffnn", USER_PERSONALIZATION,
        "A feed-forward neural network that utilizes a built-in K-nearest neighbors search to "
        "deliver recommendations based on past interactions in the user-item interactions dataset.",
        "aws-ffnn", RECORDIO_PERCENTILE_FILTERING, _FFNN, automl=True),
    BuiltinRecipe(
        "aws-hrnn", USER_PERSONALIZATION,
        "A hierarchical recurrent neural network, which can model the temporal order of user-item "
        "interactions.",
        "aws-hrnn", JSON_PERCENTILE_FILTERING, _HRNN, automl=True),
    BuiltinRecipe(
        "aws-hrnn-coldstart", USER_PERSONALIZATION,
        "Similar to HRNN-metadata with personalized exploration of new items.",
        "aws-hrnn-coldstart", JSON_PERCENTILE_FILTERING, _HRNN),
    BuiltinRecipe(
        "aws-hrnn-metadata", USER_PERSONALIZATION,
        "HRNN with additional features derived from contextual metadata (user-item interactions), "
        "along with user and item metadata (user and item datasets).",
        "aws-hrnn-metadata", JSON_PERCENTILE_FILTERING, _HRNN),
    BuiltinRecipe(
        "aws-popularity-count", USER_PERSONALIZATION,
        "Calculates popularity of items based on a count of events against that item in the "
        "user-item interactions dataset.",
        None, None, ()),
    BuiltinRecipe(
        "aws-user-personalization", USER_PERSONALIZATION,
        "Predicts the items that a user will interact with, from their interaction history and "
        "user and item metadata, and explores new items and items with little interaction data.",
        "aws-user-personalization", None, _USER_PERSONALIZATION,
        featurization=_HISTORY_FEATURIZATION),
    BuiltinRecipe(
        "aws-user-personalization-v2", USER_PERSONALIZATION,
        "Recommends items a user will interact with, from a transformer (self-attention) model of "
        "their interaction history.",
        "aws-user-personalization-v2", None, _V2),
    BuiltinRecipe(
        "aws-personalized-ranking-v2", PERSONALIZED_RANKING,
        "Ranks a given list of items for a user with the User-Personalization-v2 model.",
        "aws-personalized-ranking-v2", None, _V2),
    BuiltinRecipe(
        "aws-similar-items", RELATED_ITEMS,
        "Generates items similar to a given item from co-occurrence in user histories and item "
        "metadata similarity, so items with few interactions get similar items too.",
        "aws-similar-items", None, _SIMILAR_ITEMS),
    BuiltinRecipe(
        "aws-trending-now", POPULAR_ITEMS,
        "Recommends the items whose interactions increase fastest, recomputed from recent "
        "interactions without retraining.",
        "aws-trending-now-custom", None, _TRENDING_NOW,
        featurization=("trend_discovery_frequency",)),
    # today's guide, "Item-Affinity recipe" / "Item-Attribute-Affinity recipe": no
    # hyperparameters a caller sets (chalicelib/algorithms/affinity.py)
    BuiltinRecipe(
        "aws-item-affinity", USER_SEGMENTATION,
        "Predicts the users most likely to interact with each item (batch segment jobs).",
        "aws-item-affinity", None, ()),
    BuiltinRecipe(
        "aws-item-attribute-affinity", USER_SEGMENTATION,
        "Predicts the users most likely to interact with items that have an attribute value of "
        "the Items dataset (batch segment jobs).",
        "aws-item-attribute-affinity", None, ()),
)

# name -> BuiltinRecipe, in the order of the seed's "Predefined Recipes" list.
BUILTIN_RECIPES: Dict[str, BuiltinRecipe] = {r.name: r for r in _RECIPES}
# Recipes examined by AutoML (seed: the "^" marks).
AUTOML_RECIPES = tuple(r.name for r in _RECIPES if r.automl)


def recipe_name(recipe: str) -> str:
    """Accept a recipe name or its ARN; return the name."""
    return recipe.rsplit("/", 1)[-1] if recipe.startswith("arn:") else recipe


def builtin_recipe(recipe: str) -> BuiltinRecipe:
    """The predefined recipe for a name or ARN (KeyError if there is none)."""
    return BUILTIN_RECIPES[recipe_name(recipe)]


def recipe_for_algorithm(algorithm: str) -> Optional[BuiltinRecipe]:
    """The predefined recipe whose algorithm has this name or ARN, if any."""
    name = recipe_name(algorithm)
    return next((r for r in _RECIPES if r.algorithm == name), None)


# --- parsing -----------------------------------------------------------------------------------
def parse_value(hp: Hyperparameter, raw) -> Value:
    """Type one string value and check its range; ValueError names the hyperparameter and rule."""
    text = str(raw).strip()
    if hp.type == BOOLEAN:
        low = text.lower()
        if low not in ("true", "false"):
            raise ValueError(f"{hp.name}: {text!r} is not a boolean (true or false)")
        return low == "true"
    if hp.type == CATEGORICAL:
        if text not in hp.values:
            raise ValueError(f"{hp.name}: {text!r} is not one of {', '.join(hp.values)}")
        return text
    if hp.type == INTEGER:
        value = _parse_int(hp.name, text)
    else:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{hp.name}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{hp.name}: {text!r} is not a finite number")
    shown = _num(value)
    if hp.min is not None:
        if value < hp.min:
            raise ValueError(f"{hp.name}: {shown} is below the minimum {_num(hp.min)}")
        if value == hp.min and not hp.min_inclusive:
            raise ValueError(f"{hp.name}: {shown} must be above {_num(hp.min)} (range {hp.range_text()})")
    if hp.max is not None:
        if value > hp.max:
            raise ValueError(f"{hp.name}: {shown} is above the maximum {_num(hp.max)}")
        if value == hp.max and not hp.max_inclusive:
            raise ValueError(f"{hp.name}: {shown} must be below {_num(hp.max)} (range {hp.range_text()})")
    return value


def _parse_int(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        f = float(text)   # "10.0" and "1e3" are integers written as floats
    except ValueError:
        f = math.nan
    if math.isfinite(f) and f.is_integer():
        return int(f)
    raise ValueError(f"{name}: {text!r} is not an integer")


def parse_hyperparameters(recipe: str, overrides: Optional[Dict[str, str]] = None) -> Dict[str, Value]:
    """Defaults of `recipe` (name or ARN) updated with `overrides`, typed and range-checked.

    Seed: SolutionConfig.algorithmHyperParameters (a string map) over the recipe's table.
    Raises ValueError for an unknown recipe, an unknown hyperparameter, a value of the wrong
    type, or one outside its range (message names the hyperparameter and the rule).
    """
    try:
        r = builtin_recipe(recipe)
    except KeyError:
        raise ValueError(f"unknown recipe {recipe!r}") from None
    overrides = dict(overrides or {})
    known = {hp.name for hp in r.hyperparameters}
    unknown = sorted(set(overrides) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) if known else "none"
        raise ValueError(f"{unknown[0]}: not a hyperparameter of {r.name} (allowed: {allowed})")
    out: Dict[str, Value] = {}
    for hp in r.hyperparameters:
        out[hp.name] = parse_value(hp, overrides.get(hp.name, hp.default))
    # "[0, time]": validation time cannot exceed the training time limit (see module docstring).
    if "training.eval_epoch_time" in out and out["training.eval_epoch_time"] > out["training.early_time"]:
        raise ValueError(f"training.eval_epoch_time: {out['training.eval_epoch_time']} is above "
                         f"training.early_time {out['training.early_time']}")
    return out


def parse_feature_transformation_parameters(name: str, overrides: Optional[Dict[str, str]] = None
                                            ) -> Dict[str, float]:
    """Defaults of feature transformation `name` (or ARN) plus overrides, as floats in [0, 1].

    Seed: "Bring Your Own Recipe" step b (the supported keys). ValueError names the key and rule.
    """
    key = recipe_name(name)
    if key not in FEATURE_TRANSFORMATIONS:
        raise ValueError(f"unknown feature transformation {name!r}")
    merged = dict(FEATURE_TRANSFORMATIONS[key])
    for k, v in (overrides or {}).items():
        if k not in merged:
            raise ValueError(f"{k}: not a parameter of feature transformation {key} "
                             f"(allowed: {', '.join(sorted(merged))})")
        merged[k] = v
    out = {}
    for k, v in merged.items():
        try:
            f = float(str(v).strip())
        except ValueError:
            raise ValueError(f"{k}: {v!r} is not a number") from None
        if not (0.0 <= f <= 1.0):
            raise ValueError(f"{k}: {_num(f) if math.isfinite(f) else v} is outside [0, 1]")
        out[k] = f
    if out["min_hist_length_percentile"] > out["max_hist_length_percentile"]:
        raise ValueError("min_hist_length_percentile: must not exceed max_hist_length_percentile")
    if out["train_ratio"] + out["test_ratio"] > 1.0 + 1e-9:
        raise ValueError("train_ratio: train_ratio + test_ratio must not exceed 1")
    return out


def default_hyperparameter_ranges(recipe: str) -> Dict[str, list]:
    """The DefaultHyperParameterRanges object of a recipe's algorithm (seed data type).

    Booleans are shown as categorical ranges with values true/false; an infinite bound is shown as
    the wire maximum 1000000 (the seed's "Valid Range" of these members).
    """
    r = builtin_recipe(recipe)
    integer, continuous, categorical = [], [], []
    for hp in r.hyperparameters:
        if hp.type in (CATEGORICAL, BOOLEAN):
            categorical.append({"name": hp.name, "values": list(hp.values or ("true", "false")),
                                "isTunable": hp.tunable})
            continue
        lo = WIRE_MIN if hp.min is None else hp.min
        hi = WIRE_MAX if hp.max is None else hp.max
        if hp.type == INTEGER:
            # Wire ranges are closed; an open end becomes the nearest admissible integer.
            lo = int(lo) + (0 if hp.min_inclusive or hp.min is None else 1)
            hi = int(hi) - (0 if hp.max_inclusive or hp.max is None else 1)
            integer.append({"name": hp.name, "minValue": lo, "maxValue": hi, "isTunable": hp.tunable})
        else:
            continuous.append({"name": hp.name, "minValue": float(lo), "maxValue": float(hi),
                               "isTunable": hp.tunable})
    return {"integerHyperParameterRanges": integer,
            "continuousHyperParameterRanges": continuous,
            "categoricalHyperParameterRanges": categorical}


# --- serving-time exploration (today's CampaignConfig.itemExplorationConfig) -----------------
# campaign key (today's CampaignConfig doc) -> the recipe hyperparameter it overrides
EXPLORATION_KEYS = {"explorationWeight": "exploration_weight",
                    "explorationItemAgeCutOff": "exploration_item_age_cut_off"}


def item_exploration(recipe: str, campaign_config: Optional[dict] = None,
                     trained: Optional[Dict[str, str]] = None) -> Dict[str, Value]:
    """The exploration settings a campaign serves with, typed: its
    `campaignConfig.itemExplorationConfig` (a string map) over the solution version's trained
    values (`trained`, e.g. the solution's algorithmHyperParameters) over the recipe's defaults.

    Today's User-Personalization guide: explorationWeight in [0, 1] (default 0.3),
    explorationItemAgeCutOff in days, at least 1 (default 30). ValueError names the key and the
    rule (an unknown key too); a recipe without exploration hyperparameters returns {}."""
    r = builtin_recipe(recipe)
    names = {hp.name for hp in r.hyperparameters}
    if not set(EXPLORATION_KEYS.values()) <= names:
        return {}
    given = dict(((campaign_config or {}).get("itemExplorationConfig")) or {})
    unknown = sorted(set(given) - set(EXPLORATION_KEYS))
    if unknown:
        raise ValueError(f"campaignConfig.itemExplorationConfig.{unknown[0]}: not a setting of "
                         f"{r.name} (allowed: {', '.join(EXPLORATION_KEYS)})")
    out: Dict[str, Value] = {}
    for key, name in EXPLORATION_KEYS.items():
        hp = r.hyperparameter(name)
        if key in given:
            try:
                out[name] = parse_value(hp, given[key])
            except ValueError as e:
                raise ValueError(f"campaignConfig.itemExplorationConfig.{key}: "
                                 f"{str(e).split(': ', 1)[-1]}") from None
        else:
            out[name] = parse_value(hp, (trained or {}).get(name, hp.default))
    return out


def check_item_exploration(recipe: str, explore: Optional[dict], member: str) -> None:
    """ValueError naming `member` (where the request put its itemExplorationConfig, e.g.
    "campaignConfig.itemExplorationConfig") when `explore` is not valid for `recipe`, or when
    the recipe has no item exploration: today's CampaignConfig "Provide itemExplorationConfig
    data only if your solution uses the User-Personalization recipe"."""
    if not explore:
        return
    try:
        settings = item_exploration(recipe, {"itemExplorationConfig": explore})
    except KeyError:   # not a predefined recipe
        settings = {}
    except ValueError as e:
        raise ValueError(str(e).replace("campaignConfig.itemExplorationConfig", member)) from None
    if not settings:
        raise ValueError(f"{member}: {recipe_name(recipe)} has no item exploration settings")
