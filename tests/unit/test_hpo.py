"""HPO as a mechanism (seed: CreateSolution.performHPO, "Hyperparameter Optimization", data
types HPOConfig, HPOObjective, HPOResourceConfig, HyperParameterRanges): random search over the
recipe's tunable ranges or the hpoConfig's, within maxNumberOfTrainingJobs /
maxParallelTrainingJobs, keeping the best by the objective on a validation split."""
import json
import threading
import time

import numpy as np
import pytest

from chalicelib.algorithms import registry
from chalicelib.algorithms.base import Recipe
from chalicelib.algorithms.evaluation import split_interactions
from chalicelib.algorithms.popularity import PopularityCount, PopularityModel
from chalicelib.training import entry, selection
from tests.unit.test_automl import RandomModel, skewed_data

FITS = []
ACTIVE = [0, 0]   # running now, most at once
LOCK = threading.Lock()


class KnobRecipe(Recipe):
    """Popularity when `knob` >= 5, random otherwise; counts its fits and their overlap."""
    name = "test-knob"
    model_class = PopularityModel

    def fit(self, data, hyperparameters, *, seed=0, log=lambda m: None):
        with LOCK:
            FITS.append(dict(hyperparameters))
            ACTIVE[0] += 1
            ACTIVE[1] = max(ACTIVE)
        try:
            time.sleep(0.02)   # let parallel fits overlap
            knob = int(hyperparameters.get("knob", "0"))
            if knob < 0:
                raise ValueError("knob: must not be negative")
            if knob >= 5:
                return PopularityCount().fit(data, {}, seed=seed)
            return RandomModel(data.item_ids, hyperparameters)
        finally:
            with LOCK:
                ACTIVE[0] -= 1


@pytest.fixture
def knob(monkeypatch):
    monkeypatch.setitem(registry.RECIPES, "test-knob", f"{__name__}:KnobRecipe")
    FITS.clear()
    ACTIVE[:] = [0, 0]


@pytest.fixture(scope="module")
def split():
    return split_interactions(skewed_data(), 4)


def ranges(**kw):
    return {"algorithmHyperParameterRanges": kw}


def candidate(**hps):
    return selection.Candidate("test-knob", "arn:aws:personalize:::recipe/test-knob", hps)


@pytest.mark.parametrize("jobs,parallel", [(5, 2), (3, 1), (4, 4)])
def test_hpo_respects_its_budget(knob, split, jobs, parallel):
    config = dict(ranges(integerHyperParameterRanges=[{"name": "knob", "minValue": 0, "maxValue": 9}]),
                  hpoResourceConfig={"maxNumberOfTrainingJobs": str(jobs),
                                     "maxParallelTrainingJobs": str(parallel)})
    settings = selection.hpo_settings("test-knob", config)
    best, report = selection.hpo(candidate(knob="1"), split, settings, seed=0)
    assert len(FITS) == jobs == report["trainingJobs"] == len(report["trials"])
    assert ACTIVE[1] <= parallel and report["peakParallelJobs"] <= parallel
    assert {"knob": "1"} in FITS                      # trial 0: the given values
    assert report["trials"][0]["hyperparameters"] == {"knob": "1"}


def test_hpo_keeps_the_best_by_the_objective(knob, split):
    config = dict(ranges(integerHyperParameterRanges=[{"name": "knob", "minValue": 0, "maxValue": 9}]),
                  hpoResourceConfig={"maxNumberOfTrainingJobs": "8"})
    best, report = selection.hpo(candidate(knob="0"), split, selection.hpo_settings("test-knob", config), 1)
    assert int(best["knob"]) >= 5
    objectives = [t["objective"] for t in report["trials"]]
    assert report["trials"][report["bestTrial"]]["objective"] == max(objectives)
    # Minimize turns the choice around
    config["hpoObjective"] = {"metricName": "precision_at_25", "type": "Minimize"}
    best, report = selection.hpo(candidate(knob="0"), split, selection.hpo_settings("test-knob", config), 1)
    assert int(best["knob"]) < 5
    assert report["objective"] == {"metricName": "precision_at_25", "type": "Minimize"}


def test_failed_trials_are_reported_not_chosen(knob, split):
    config = dict(ranges(integerHyperParameterRanges=[{"name": "knob", "minValue": -5, "maxValue": 9}]),
                  hpoResourceConfig={"maxNumberOfTrainingJobs": "10"})
    best, report = selection.hpo(candidate(knob="-3"), split, selection.hpo_settings("test-knob", config), 3)
    failed = [t for t in report["trials"] if "error" in t]
    assert report["trials"][0] == {"trial": 0, "hyperparameters": {"knob": "-3"},
                                   "error": "ValueError: knob: must not be negative"}
    assert all(int(t["hyperparameters"]["knob"]) < 0 for t in failed)
    chosen = report["trials"][report["bestTrial"]]
    assert "error" not in chosen and chosen["hyperparameters"] == best
    assert chosen["objective"] == max(t["objective"] for t in report["trials"] if "objective" in t)
    config = dict(ranges(integerHyperParameterRanges=[{"name": "knob", "minValue": -5, "maxValue": -1}]),
                  hpoResourceConfig={"maxNumberOfTrainingJobs": "2"})
    with pytest.raises(ValueError, match="every training job failed"):
        selection.hpo(candidate(knob="-1"), split, selection.hpo_settings("test-knob", config), 3)


def test_later_rounds_refine_around_the_best(knob, split):
    config = dict(ranges(integerHyperParameterRanges=[{"name": "knob", "minValue": 0, "maxValue": 100}]),
                  hpoResourceConfig={"maxNumberOfTrainingJobs": "8", "maxParallelTrainingJobs": "2"})
    best, report = selection.hpo(candidate(knob="0"), split, selection.hpo_settings("test-knob", config), 5)
    explored = report["trials"][:4]
    incumbent = max((t for t in explored if "objective" in t), key=lambda t: (t["objective"], -t["trial"]))
    center = int(incumbent["hyperparameters"]["knob"])
    for t in report["trials"][4:6]:     # the first refinement round: within 25% of the range
        assert abs(int(t["hyperparameters"]["knob"]) - center) <= 25


def test_samples_near_a_point_stay_in_their_ranges():
    space = selection.space_from_ranges({
        "integerHyperParameterRanges": [{"name": "n", "minValue": 0, "maxValue": 100}],
        "continuousHyperParameterRanges": [{"name": "x", "minValue": 0.0, "maxValue": 1.0}],
        "categoricalHyperParameterRanges": [{"name": "c", "values": ["a", "b", "c"]}]})
    rng = np.random.default_rng(1)
    draws = [selection.sample_near(space, {"n": "98", "x": "0.1", "c": "b"}, rng) for _ in range(300)]
    assert all(73 <= int(d["n"]) <= 100 for d in draws)
    assert all(0.0 <= float(d["x"]) <= 0.35 for d in draws)
    assert 0.4 < sum(d["c"] == "b" for d in draws) / 300 < 0.9


def test_samples_stay_in_their_ranges():
    space = selection.space_from_ranges({
        "integerHyperParameterRanges": [{"name": "n", "minValue": 3, "maxValue": 6}],
        "continuousHyperParameterRanges": [{"name": "x", "minValue": 0.25, "maxValue": 0.5}],
        "categoricalHyperParameterRanges": [{"name": "c", "values": ["a", "b"]}]})
    rng = np.random.default_rng(0)
    draws = [selection.sample(space, rng) for _ in range(200)]
    assert {int(d["n"]) for d in draws} == {3, 4, 5, 6}
    assert all(0.25 <= float(d["x"]) <= 0.5 for d in draws)
    assert {d["c"] for d in draws} == {"a", "b"}
    with pytest.raises(ValueError, match="empty"):
        selection.space_from_ranges({"integerHyperParameterRanges": [{"name": "n", "minValue": 2, "maxValue": 1}]})


def test_default_space_is_the_seeds_tunable_ranges():
    sims = selection.default_space("aws-sims")
    assert sims.continuous == [("alpha", 0.0, 1.0)]
    assert ("history_decay_fast_half_life", 30, 150) in sims.integer
    assert ("out_of_order_decay_slow_half_life", 10, 45) in sims.integer
    assert "top_n" not in sims.names() and "min_copurchase_count" not in sims.names()
    hrnn = selection.default_space("aws-hrnn")
    assert ("model.num_layers", 1, 3) in hrnn.integer and ("model.num_hidden", 32, 256) in hrnn.integer
    assert ("model.skip_connection", ["true", "false"]) in hrnn.categorical
    assert not set(hrnn.names()) & selection.TIME_LIMITS   # "Yes, if time is a constraint"
    assert not selection.default_space("aws-popularity-count")
    assert not selection.default_space("not-in-the-catalogue")


def test_settings_defaults_and_checks():
    settings = selection.hpo_settings("aws-sims", None)
    assert (settings.max_jobs, settings.max_parallel) == (selection.DEFAULT_MAX_JOBS, selection.DEFAULT_MAX_PARALLEL)
    assert settings.metric == "precision_at_25" and settings.direction == "Maximize"
    assert selection.hpo_settings("aws-sims", None, "coverage").metric == "coverage"
    one = selection.hpo_settings("aws-sims", {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "1"}})
    assert one.max_parallel == 1
    with pytest.raises(ValueError, match="maxNumberOfTrainingJobs"):
        selection.hpo_settings("aws-sims", {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "0"}})
    with pytest.raises(ValueError, match="Maximize or Minimize"):
        selection.hpo_settings("aws-sims", {"hpoObjective": {"type": "Largest"}})


def test_the_trainer_tunes_on_validation_users_and_reports_the_choice(knob):
    data = skewed_data()
    config = dict(ranges(integerHyperParameterRanges=[{"name": "knob", "minValue": 0, "maxValue": 9}]),
                  hpoResourceConfig={"maxNumberOfTrainingJobs": "6", "maxParallelTrainingJobs": "2"})
    plan = entry.Plan({"_recipes": json.dumps([{"recipe": "test-knob", "recipeArn": "x"}]), "knob": "0",
                       "_perform_hpo": "true", "_hpo_config": json.dumps(config), "_seed": "4"})
    model, metrics, report = entry.train(plan, data)
    assert report["hpo"]["trainingJobs"] == 6
    assert len(FITS) == 6 + 2          # the search, then the held-out evaluation and the final refit
    assert int(report["hyperparameters"]["knob"]) >= 5 and isinstance(model, PopularityModel)
    # nothing to tune: HPO says so and trains once for metrics, once for serving
    FITS.clear()
    plan = entry.Plan({"_recipes": json.dumps([{"recipe": "aws-popularity-count", "recipeArn": "p"}]),
                       "_perform_hpo": "true"})
    _, _, report = entry.train(plan, data)
    assert report["hpo"] == {"skipped": "no tunable hyperparameters"}
