"""AutoML as a mechanism (seed: "Creating a Solution": with performAutoML "Amazon Personalize
chooses a recipe from the list to optimize the metric"; AutoMLConfig.metricName/recipeList).

Recipes here are test doubles registered by name in `chalicelib.algorithms.registry`, which is
all a new recipe needs: popularity (precise, little coverage) against a per-user random
recommender (imprecise, wide coverage), so the winner depends on the metric asked for."""
import json

import numpy as np
import pytest

from chalicelib.algorithms import registry
from chalicelib.algorithms.base import USER_PERSONALIZATION, Model, Recipe
from chalicelib.algorithms.data import from_arrays
from chalicelib.algorithms.evaluation import split_interactions
from chalicelib.training import entry, selection


class RandomModel(Model):
    recipe = "test-random"
    recipe_type = USER_PERSONALIZATION

    def recommend(self, histories, n, *, users=None, exclude_history=True):
        ids = []
        for h in histories:
            rng = np.random.default_rng(int(h.items.sum()) + h.items.size)
            ids.append(rng.permutation(self.item_ids.size)[:n])
        ids = np.array(ids, np.int32)
        return ids, np.zeros(ids.shape)


class RandomRecipe(Recipe):
    name = "test-random"
    model_class = RandomModel

    def fit(self, data, hyperparameters, *, seed=0, log=lambda m: None):
        return RandomModel(data.item_ids, hyperparameters)


class BrokenRecipe(Recipe):
    name = "test-broken"

    def fit(self, data, hyperparameters, *, seed=0, log=lambda m: None):
        raise ValueError("test-broken cannot learn anything")


@pytest.fixture
def doubles(monkeypatch):
    monkeypatch.setitem(registry.RECIPES, "test-random", f"{__name__}:RandomRecipe")
    monkeypatch.setitem(registry.RECIPES, "test-broken", f"{__name__}:BrokenRecipe")


def skewed_data(n_users=120, n_items=400, per_user=25, seed=0):
    """Zipf-like item popularity: the popular items are what users come back for."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_items + 1) ** 1.1
    weights /= weights.sum()
    users = np.repeat([f"u{u}" for u in range(n_users)], per_user)
    items = [f"i{i}" for i in rng.choice(n_items, size=users.size, p=weights)]
    times = np.tile(np.arange(per_user) * 3600, n_users) + 1_500_000_000
    return from_arrays(users, items, times, catalogue=[f"i{i}" for i in range(n_items)])


def arn(name):
    return f"arn:aws:personalize:::recipe/{name}"


def candidates(*names):
    return [selection.Candidate(n, arn(n)) for n in names]


@pytest.mark.parametrize("metric,winner", [
    ("precision_at_25", "aws-popularity-count"),
    ("normalized_discounted_cumulative_gain_at_10", "aws-popularity-count"),
    ("coverage", "test-random"),
])
def test_automl_picks_the_best_recipe_by_the_metric(doubles, metric, winner):
    split = split_interactions(skewed_data(), 5)
    best, report = selection.automl(candidates("aws-popularity-count", "test-random"), split, metric, 0)
    assert best.recipe == winner
    scores = {r["recipe"]: r["validation"][metric] for r in report}
    assert scores[winner] == max(scores.values()) and len(set(scores.values())) == 2


def test_a_recipe_that_fails_is_reported_and_skipped(doubles):
    split = split_interactions(skewed_data(), 5)
    best, report = selection.automl(candidates("test-broken", "aws-popularity-count"), split,
                                    "precision_at_25", 0)
    assert best.recipe == "aws-popularity-count"
    assert report[0] == {"recipeArn": arn("test-broken"), "recipe": "test-broken",
                         "error": "ValueError: test-broken cannot learn anything"}
    with pytest.raises(ValueError, match="no recipe of the list could be trained"):
        selection.automl(candidates("test-broken"), split, "precision_at_25", 0)


def test_an_unknown_metric_is_refused(doubles):
    split = split_interactions(skewed_data(), 5)
    with pytest.raises(ValueError, match="metricName"):
        selection.automl(candidates("aws-popularity-count"), split, "accuracy", 0)


def test_the_trainer_chooses_on_validation_users_and_reports_held_out_metrics(doubles):
    data = skewed_data()
    plan = entry.Plan({"_recipes": json.dumps([{"recipe": "test-random", "recipeArn": arn("test-random")},
                                               {"recipe": "aws-popularity-count",
                                                "recipeArn": arn("aws-popularity-count")}]),
                       "_perform_automl": "true", "_automl_metric": "precision_at_25", "_seed": "2"})
    model, metrics, report = entry.train(plan, data)
    assert report["automl"]["bestRecipeArn"] == arn("aws-popularity-count") == report["recipeArn"]
    assert model.recipe == "aws-popularity-count"
    outer = split_interactions(data, 2)
    # validation users are training users, never the held-out evaluation users
    inner = selection.validation_split(outer.train, 3, 0.1)
    assert not np.isin(inner.users, outer.users).any()
    assert report["automl"]["candidates"][0]["validation"]["_num_evaluation_users"] == inner.users.size
    assert metrics["_num_evaluation_users"] == outer.users.size
    assert "hpo" not in report          # _perform_hpo was not asked for


def test_the_validation_share_grows_to_enough_users_on_small_data():
    small = skewed_data()
    active = np.count_nonzero(np.bincount(small.interactions.user))
    assert active < selection.VALIDATION_USERS / 0.1
    share = selection.validation_share(small, 0.1)
    assert share == min(selection.MAX_VALIDATION_SHARE, selection.VALIDATION_USERS / active) > 0.1
    n = int(selection.VALIDATION_USERS / 0.1) * 2      # enough users: the evaluation share as it is
    many = from_arrays(np.repeat(np.arange(n).astype(str), 2), np.tile(["a", "b"], n), np.tile([1, 2], n))
    assert selection.validation_share(many, 0.1) == 0.1
    assert selection.validation_split(many, 1, 0.1).users.size == n // 10


def test_several_recipes_need_automl():
    with pytest.raises(ValueError, match="_perform_automl"):
        entry.Plan({"_recipes": json.dumps([{"recipe": "a"}, {"recipe": "b"}])})
