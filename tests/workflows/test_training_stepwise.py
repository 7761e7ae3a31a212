"""A training in several trainer invocations on the lambda backend (issue 16 item 4, issue 15
item 5; `chalicelib.training.stepwise`): HPO trials and AutoML candidates as Map iterations, a
fit that pauses at a checkpoint and goes on in the next invocation. What it must keep: the same
choice and the same model as the in-process training for the same seed."""
import json
import logging
import tempfile

import numpy as np
import pytest

from chalicelib.algorithms.checkpoint import Checkpoint, Paused
from chalicelib.algorithms.registry import recipe_for
from chalicelib.service import solution_versions
from chalicelib.training import artifacts, entry, stepwise
from tests.unit.test_trainer_contract import tiny_data
from tests.workflows.test_training_workflow import (HRNN, SIMS, group, latest_version, local_runs,  # noqa: F401
                                                    sample_files, training_report)


@pytest.fixture
def seen(monkeypatch):
    """What the workflow's trainer invocations were given: the contract's hyperparameters, the
    channel's data, the steps run."""
    out = {"steps": []}
    real_plan, real_read = stepwise.plan_search, stepwise.channel.read_channel

    def plan(values, done):
        out["values"] = values
        return real_plan(values, done)

    def read(directory):
        out["data"] = real_read(directory)
        return out["data"]
    real_trial, real_fit = stepwise.run_trial, stepwise.run_fit
    monkeypatch.setattr(stepwise, "plan_search", plan)
    monkeypatch.setattr(stepwise.channel, "read_channel", read)
    def trial(root, trial, **kw):
        code = real_trial(root, trial, **kw)
        out["steps"].append(("trial", trial["phase"], trial["index"]) + ((code,) if code else ()))
        return code
    monkeypatch.setattr(stepwise, "run_trial", trial)

    def fit(*a, **kw):
        code = real_fit(*a, **kw)
        out["steps"].append(("fit", code))
        return code
    monkeypatch.setattr(stepwise, "run_fit", fit)
    return out


HPO_CONFIG = {"hpoObjective": {"metricName": "normalized_discounted_cumulative_gain_at_10", "type": "Maximize"},
              "hpoResourceConfig": {"maxNumberOfTrainingJobs": "4", "maxParallelTrainingJobs": "2"},
              "algorithmHyperParameterRanges": {
                  "continuousHyperParameterRanges": [{"name": "alpha", "minValue": 0.1, "maxValue": 0.9}],
                  "integerHyperParameterRanges": [{"name": "history_decay_fast_half_life", "minValue": 30,
                                                   "maxValue": 150}]}}


@pytest.mark.parametrize("concurrency", ["1", "2"])
def test_hpo_trials_as_workflow_steps_choose_what_the_in_process_search_chooses(
        personalize, group, seen, monkeypatch, concurrency):
    monkeypatch.setenv("TRAINER_MAX_CONCURRENCY", concurrency)
    arn = personalize.create_solution(name=f"steps-{concurrency}", datasetGroupArn=group, recipeArn=SIMS,
                                      performHPO=True, minProvisionedTPS=1,
                                      solutionConfig={"hpoConfig": HPO_CONFIG})["solutionArn"]
    version = latest_version(personalize, arn)[1]
    assert version["status"] == "ACTIVE", version.get("failureReason")
    # two rounds of two trials, each its own invocation, then one fit
    steps = seen["steps"]
    assert sorted(steps[:2]) == [("trial", "hpo", 0), ("trial", "hpo", 1)]   # in either order
    assert sorted(steps[2:4]) == [("trial", "hpo", 2), ("trial", "hpo", 3)]
    assert steps[4:] == [("fit", 0)]
    report = training_report(version)
    _, metrics, expected = entry.train(entry.Plan(seen["values"]), seen["data"])
    assert report["hpo"]["trials"] == expected["hpo"]["trials"]
    assert report["hyperparameters"] == expected["hyperparameters"]
    assert version["tunedHPOParams"]["algorithmHyperParameters"] == \
        {k: v for k, v in expected["hyperparameters"].items()}
    assert report["hpo"]["peakParallelJobs"] <= int(concurrency)
    assert personalize.get_metrics(solutionArn=arn)["metrics"].popitem()[1]["precision_at_25"] == \
        pytest.approx(metrics["precision_at_25"])
    # the trial results and checkpoints do not outlive the training
    from chalicelib.storage import objects
    key = solution_versions.get(version["solutionVersionArn"])["modelKey"]
    assert [o for o in objects.list_prefix(key.split("/output/")[0] + "/") if "/search/" in o["key"]] == []


def _params(model):
    return {k: v for k, v in model.arrays().items() if k.startswith("p.")}


def test_a_fit_paused_at_every_epoch_gives_the_same_parameters_bit_for_bit(tmp_path):
    data, hps = tiny_data(n_users=60, n_items=40), {"training.epochs": "4", "model.num_hidden": "32"}
    recipe = recipe_for("aws-hrnn")
    whole = recipe.fit(data, hps, seed=3)
    pauses = 0
    while True:
        try:
            resumed = recipe.fit(data, hps, seed=3, checkpoint=Checkpoint(str(tmp_path), budget_seconds=0.0))
            break
        except Paused:
            pauses += 1
    assert pauses == whole.info["epochs"] - 1 >= 1
    a, b = _params(whole), _params(resumed)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert resumed.info["history"] == whole.info["history"]


def test_a_long_fit_continues_over_several_invocations_to_the_same_model(personalize, group, seen, monkeypatch):
    monkeypatch.setenv("TRAINER_TIME_BUDGET_SECONDS", "0")   # pause at every epoch end
    arn = personalize.create_solution(minProvisionedTPS=1, name="continued", datasetGroupArn=group,
                                      recipeArn=HRNN, performHPO=False, solutionConfig={
                                          "algorithmHyperParameters": {"model.num_hidden": "32",
                                                                       "training.epochs": "3"}})["solutionArn"]
    version = latest_version(personalize, arn)[1]
    assert version["status"] == "ACTIVE", version.get("failureReason")
    fits = [code for step, *code in seen["steps"] if step == "fit"]
    # the evaluation fit and the final fit, 3 epochs each: 2 pauses each, then done
    assert fits == [[stepwise.CONTINUE]] * 4 + [[0]]
    report = training_report(version)
    assert report["invocations"] == 5 and report["checkpoints"]["saves"] == 4
    model, metrics, _ = entry.train(entry.Plan(seen["values"]), seen["data"])
    key = solution_versions.get(version["solutionVersionArn"])["modelKey"]
    with tempfile.TemporaryDirectory() as tmp:
        served = artifacts.load_model(key, tmp)
    a, b = _params(model), _params(served)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert personalize.get_metrics(solutionArn=arn)["metrics"].popitem()[1]["precision_at_25"] == \
        pytest.approx(metrics["precision_at_25"])


HRNN_HPO = {"hpoObjective": {"metricName": "precision_at_25", "type": "Maximize"},
            "hpoResourceConfig": {"maxNumberOfTrainingJobs": "3", "maxParallelTrainingJobs": "2"},
            "algorithmHyperParameterRanges": {"integerHyperParameterRanges": [
                {"name": "model.num_hidden", "minValue": 32, "maxValue": 48}]}}


def test_hpo_trials_that_pause_at_every_epoch_choose_and_train_as_in_process_and_show_progress(
        personalize, stock_personalize, group, seen, monkeypatch, caplog):
    """Every trial and both fits pause at each epoch end (budget 0): the Map loops each trial
    over several invocations, the choice and the model are the in-process ones, and the version
    carries trainingProgress all along (DescribeSolutionVersion shows it; stock clients do not)."""
    monkeypatch.setenv("TRAINER_TIME_BUDGET_SECONDS", "0")
    caplog.set_level(logging.INFO, logger="chalicelib.training.lambda_trainer")
    snapshots, real = [], solution_versions.record_progress

    def recorded(arn, fields, **kw):   # the record as DescribeSolutionVersion reads it, each time
        out = real(arn, fields, **kw)
        snapshots.append(solution_versions.get(arn)["trainingProgress"])
        return out
    monkeypatch.setattr(solution_versions, "record_progress", recorded)
    arn = personalize.create_solution(
        name="paused-trials", datasetGroupArn=group, recipeArn=HRNN, performHPO=True, minProvisionedTPS=1,
        solutionConfig={"hpoConfig": HRNN_HPO, "algorithmHyperParameters": {"training.epochs": "2"}})["solutionArn"]
    version = latest_version(personalize, arn)[1]
    assert version["status"] == "ACTIVE", version.get("failureReason")
    steps = seen["steps"]
    # each trial: a pause after epoch 1, then done; the two fits likewise
    for index in range(3):
        assert [s for s in steps if s[:3] == ("trial", "hpo", index)] == \
            [("trial", "hpo", index, stepwise.CONTINUE), ("trial", "hpo", index)]
    assert [s for s in steps if s[0] == "fit"] == [("fit", stepwise.CONTINUE)] * 2 + [("fit", 0)]
    report = training_report(version)
    model, metrics, expected = entry.train(entry.Plan(seen["values"]), seen["data"])
    assert report["hpo"]["trials"] == expected["hpo"]["trials"]
    assert report["hyperparameters"] == expected["hyperparameters"]
    key = solution_versions.get(version["solutionVersionArn"])["modelKey"]
    with tempfile.TemporaryDirectory() as tmp:
        served = artifacts.load_model(key, tmp)
    a, b = _params(model), _params(served)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)

    # trainingProgress: started, the trials (each epoch of each, then its completion), the fits
    stages = [p["stage"] for p in snapshots]
    assert stages[0] == "training" and snapshots[0]["trialsTotal"] == 3
    assert stages[1:stages.index("evaluation")] == ["hpo"] * (stages.index("evaluation") - 1)
    trials = [p for p in snapshots if p["stage"] == "hpo"]
    assert {p["currentTrial"] for p in trials if "currentTrial" in p} == {1, 2, 3}
    assert all(p["epochs"] == 2 for p in trials if "currentTrial" in p)
    done = [p["trialsCompleted"] for p in trials]
    assert done == sorted(done) and done[-1] == 3 and all(p["trialsTotal"] == 3 for p in trials)
    fits = [(p["stage"], p["epoch"], p["epochs"]) for p in snapshots if p["stage"] in ("evaluation", "final")]
    assert [f for f in fits if f[1]] == [("evaluation", 1, 2), ("evaluation", 2, 2), ("final", 1, 2), ("final", 2, 2)]
    assert all("currentTrial" not in p for p in snapshots if p["stage"] != "hpo")
    elapsed = [p["elapsedSeconds"] for p in snapshots]
    assert elapsed == sorted(elapsed) and [p["updatedDateTime"] for p in snapshots] == \
        sorted(p["updatedDateTime"] for p in snapshots)
    # the logs: one JSON line per epoch (with the trial), per pause, per finished trial
    lines = [json.loads(r.getMessage()) for r in caplog.records
             if r.name == "chalicelib.training.lambda_trainer" and r.getMessage().startswith("{")]
    kinds = [line["training"] for line in lines]
    assert kinds.count("trial") == 3 and kinds.count("pause") == 3 + 2
    assert {(line["currentTrial"], line["epoch"]) for line in lines
            if line["training"] == "epoch" and line["stage"] == "hpo"} == {(t, e) for t in (1, 2, 3) for e in (1, 2)}
    # the last figures stay on the ACTIVE version; clients with the stock model do not see them
    assert version["trainingProgress"] == snapshots[-1]
    assert "trainingProgress" not in stock_personalize.describe_solution_version(
        solutionVersionArn=version["solutionVersionArn"])["solutionVersion"]
