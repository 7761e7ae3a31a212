"""The predefined recipe catalogue against the seed's "Predefined Recipes" sections."""
import pytest

from chalicelib.domain import recipes as R


def test_the_predefined_recipes_with_their_types():
    assert {n: r.recipe_type for n, r in R.BUILTIN_RECIPES.items()} == {
        "aws-personalized-ranking": "SEARCH_PERSONALIZATION",
        "aws-sims": "RELATED_ITEMS",
        "aws-deepfm": "USER_PERSONALIZATION",
        "aws-ffnn": "USER_PERSONALIZATION",
        "aws-hrnn": "USER_PERSONALIZATION",
        "aws-hrnn-coldstart": "USER_PERSONALIZATION",
        "aws-hrnn-metadata": "USER_PERSONALIZATION",
        "aws-popularity-count": "USER_PERSONALIZATION",
        # today's catalogue, today's types
        "aws-user-personalization": "USER_PERSONALIZATION",
        "aws-user-personalization-v2": "USER_PERSONALIZATION",
        "aws-personalized-ranking-v2": "PERSONALIZED_RANKING",
        "aws-similar-items": "RELATED_ITEMS",
        "aws-trending-now": "POPULAR_ITEMS",
        "aws-item-affinity": "USER_SEGMENTATION",
        "aws-item-attribute-affinity": "USER_SEGMENTATION",
    }
    assert R.AUTOML_RECIPES == ("aws-deepfm", "aws-ffnn", "aws-hrnn")


def test_arns_as_the_seed_prints_them():
    sims = R.BUILTIN_RECIPES["aws-sims"]
    assert sims.arn == "arn:aws:personalize:::recipe/aws-sims"
    assert sims.algorithm_arn == "arn:aws:personalize:::algorithm/aws-sims"
    assert sims.feature_transformation_arn == "arn:aws:personalize:::feature-transformation/sims"
    ffnn = R.BUILTIN_RECIPES["aws-ffnn"]
    assert ffnn.feature_transformation_arn == (
        "arn:aws:personalize:::feature-transformation/general-interactions-recordIO-percentile-filtering")
    pop = R.BUILTIN_RECIPES["aws-popularity-count"]
    assert pop.algorithm_arn is None and pop.hyperparameters == ()
    assert R.builtin_recipe("arn:aws:personalize:::recipe/aws-hrnn").name == "aws-hrnn"
    assert R.recipe_for_algorithm("arn:aws:personalize:::algorithm/aws-deepfm").name == "aws-deepfm"
    for r in R.BUILTIN_RECIPES.values():
        assert r.feature_transformation in (None, *R.FEATURE_TRANSFORMATIONS)


@pytest.mark.parametrize("recipe,name,rng,default,tunable", [
    ("aws-deepfm", "nHiddenLayers", "[0, 5]", "2", True),
    ("aws-deepfm", "mini_batch_size", "[2, 256]", "64", False),
    ("aws-ffnn", "batch_size", "[1, 1000]", "1000", True),
    ("aws-ffnn", "max_hist_length", "[100, 5000]", "500", False),
    ("aws-hrnn", "model.num_hidden", "[32, 256]", "149", True),
    ("aws-hrnn", "training.epochs", "[1, 1000)", "1", False),
    ("aws-hrnn", "training.batch_size", "[1, 128)", "31", False),
    ("aws-hrnn", "training.early_time", "[0, 86400]", "43200", True),
    ("aws-sims", "alpha", "[0, 1]", "0.5", True),
    ("aws-sims", "copurchase_delta", "[0, inf)", "10", False),
    ("aws-sims", "exponentiation_parameter", "[0, 1]", "1", False),
    ("aws-sims", "out_of_order_decay_slow_half_life", "(0, inf)", "180", True),
    ("aws-sims", "top_n", "[1, inf)", "100", False),
])
def test_ranges_and_defaults_copied_from_the_tables(recipe, name, rng, default, tunable):
    hp = R.BUILTIN_RECIPES[recipe].hyperparameter(name)
    assert (hp.range_text(), hp.default, hp.tunable) == (rng, default, tunable)


def test_sims_table_is_complete_with_tuning_ranges():
    sims = R.BUILTIN_RECIPES["aws-sims"]
    assert len(sims.hyperparameters) == 12
    assert sims.hyperparameter("history_decay_fast_half_life").tuning_range == (30, 150)
    assert sims.hyperparameter("in_order_decay_slow_half_life").tuning_range == (120, 720)
    assert sims.hyperparameter("out_of_order_decay_fast_half_life").tuning_range == (10, 45)


def test_defaults_typed():
    p = R.parse_hyperparameters("aws-hrnn")
    assert p == {"model.num_layers": 1, "model.num_hidden": 149, "model.dropout": 0.2,
                 "model.skip_connection": False, "training.epochs": 1, "training.batch_size": 31,
                 "training.early_time": 43200, "training.eval_epoch_time": 0}
    assert R.parse_hyperparameters("aws-popularity-count", {}) == {}


def test_overrides_typed_and_accepted_at_the_bounds():
    p = R.parse_hyperparameters("aws-hrnn", {"model.num_hidden": "256", "model.dropout": "0.0",
                                             "model.skip_connection": "TRUE", "training.epochs": "999"})
    assert p["model.num_hidden"] == 256 and p["model.dropout"] == 0.0
    assert p["model.skip_connection"] is True and p["training.epochs"] == 999
    assert R.parse_hyperparameters("aws-sims", {"copurchase_delta": "0", "top_n": "1e3"})["top_n"] == 1000


@pytest.mark.parametrize("recipe,overrides,message", [
    ("aws-hrnn", {"model.num_hidden": "500"}, "model.num_hidden: 500 is above the maximum 256"),
    ("aws-hrnn", {"model.num_hidden": "31"}, "model.num_hidden: 31 is below the minimum 32"),
    ("aws-hrnn", {"training.epochs": "1000"}, "training.epochs: 1000 must be below 1000"),
    ("aws-hrnn", {"training.batch_size": "128"}, "training.batch_size: 128 must be below 128"),
    ("aws-sims", {"out_of_order_decay_slow_half_life": "0"}, "must be above 0"),
    ("aws-sims", {"top_n": "0"}, "top_n: 0 is below the minimum 1"),
    ("aws-sims", {"alpha": "1.5"}, "alpha: 1.5 is above the maximum 1"),
    ("aws-sims", {"alpha": "high"}, "alpha: 'high' is not a number"),
    ("aws-sims", {"alpha": "nan"}, "not a finite number"),
    ("aws-sims", {"top_n": "2.5"}, "top_n: '2.5' is not an integer"),
    ("aws-hrnn", {"model.skip_connection": "yes"}, "model.skip_connection: 'yes' is not a boolean"),
    ("aws-sims", {"num_hidden": "3"}, "num_hidden: not a hyperparameter of aws-sims"),
    ("aws-popularity-count", {"x": "1"}, "x: not a hyperparameter of aws-popularity-count"),
    ("aws-hrnn", {"training.early_time": "100", "training.eval_epoch_time": "200"},
     "training.eval_epoch_time: 200 is above training.early_time 100"),
    ("aws-nope", {}, "unknown recipe"),
])
def test_errors_name_the_hyperparameter_and_rule(recipe, overrides, message):
    with pytest.raises(ValueError) as e:
        R.parse_hyperparameters(recipe, overrides)
    assert message in str(e.value)


def test_default_hyperparameter_ranges_shape():
    ranges = R.default_hyperparameter_ranges("aws-hrnn")
    ints = {r["name"]: r for r in ranges["integerHyperParameterRanges"]}
    assert ints["training.epochs"] == {"name": "training.epochs", "minValue": 1, "maxValue": 999, "isTunable": False}
    assert ranges["categoricalHyperParameterRanges"] == [
        {"name": "model.skip_connection", "values": ["true", "false"], "isTunable": True}]
    sims = {r["name"]: r for r in R.default_hyperparameter_ranges("aws-sims")["integerHyperParameterRanges"]}
    assert sims["top_n"]["maxValue"] == R.WIRE_MAX
    assert sims["out_of_order_decay_slow_half_life"]["minValue"] == 1
    assert R.BUILTIN_RECIPES["aws-sims"].default_hyperparameters()["alpha"] == "0.5"


def test_feature_transformation_parameters():
    assert R.parse_feature_transformation_parameters("JSON-percentile-filtering") == {
        "max_hist_length_percentile": 1.0, "min_hist_length_percentile": 0.0,
        "train_ratio": 0.9, "test_ratio": 0.1}
    p = R.parse_feature_transformation_parameters(
        R.feature_transformation_arn("sims"), {"max_hist_length_percentile": "0.95"})
    assert p["max_hist_length_percentile"] == 0.95
    for bad, msg in [({"max_hist_length_percentile": "1.5"}, "outside [0, 1]"),
                     ({"min_hist_length_percentile": "0.9", "max_hist_length_percentile": "0.5"}, "must not exceed"),
                     ({"bogus": "1"}, "bogus: not a parameter")]:
        with pytest.raises(ValueError, match=msg.replace("[", r"\[").replace("]", r"\]")):
            R.parse_feature_transformation_parameters("sims", bad)
