"""What the workflow hands the trainer: the training job's name and its HyperParameters (all
strings, SageMaker contract), and how the trainer reads them back (`entry.Plan`)."""
import json
import re

import pytest

from chalicelib.algorithms import hrnn
from chalicelib.domain import recipes as catalog
from chalicelib.training import entry
from chalicelib.workflows import training

JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


@pytest.mark.parametrize("solution", ["MovieSolution", "a_b__c", "x" * 63, "-_-", "9-lives"])
def test_training_job_names_follow_sagemaker_rules(solution):
    name = training.training_job_name({"solutionName": solution, "versionId": "37b225c4"})
    assert name.endswith("-37b225c4") and len(name) <= training.MAX_JOB_NAME
    assert JOB_NAME.fullmatch(name + "-12")   # with the state machine's retry suffix


def test_seed_is_fixed_per_version():
    assert training.training_seed("37b225c4") == 0x37b225c4
    assert training.training_seed("ffffffff") == 0x7fffffff
    assert training.training_seed("not-hex") == training.training_seed("not-hex") < 2 ** 31


def entries(*names, hps=None):
    return [{"recipe": n, "recipeArn": f"arn:aws:personalize:::recipe/{n}",
             "hyperparameters": dict(hps or {}), "featureTransformationParameters": {"test_ratio": 0.2}}
            for n in names]


def test_one_recipe_passes_its_hyperparameters_as_plain_keys():
    hp = training.contract_hyperparameters(entries("aws-sims", hps={"alpha": "0.5"}), seed=9, automl=False,
                                           automl_metric=None, hpo=True,
                                           hpo_config={"hpoResourceConfig": {"maxNumberOfTrainingJobs": "3"}})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in hp.items())
    assert hp["alpha"] == "0.5" and hp["_seed"] == "9" and hp["_perform_hpo"] == "true"
    assert json.loads(hp["_recipes"]) == [{"recipe": "aws-sims", "recipeArn": "arn:aws:personalize:::recipe/aws-sims"}]
    plan = entry.Plan(hp)
    # the candidate carries every value the run uses: the caller's over the recipe's defaults
    [c] = plan.candidates
    assert c.recipe == "aws-sims" and c.hyperparameters["alpha"] == "0.5"
    assert c.hyperparameters == dict(catalog.builtin_recipe("aws-sims").default_hyperparameters(), alpha="0.5")
    assert plan.seed == 9 and plan.perform_hpo and not plan.perform_automl
    assert plan.hpo_config == {"hpoResourceConfig": {"maxNumberOfTrainingJobs": "3"}}
    assert plan.feature_transformation == {"test_ratio": 0.2}
    assert plan.automl_metric == "precision_at_25"


def test_automl_lists_each_recipe_with_its_own_hyperparameters():
    listed = entries("aws-hrnn", "aws-popularity-count")
    listed[0]["hyperparameters"] = {"model.num_layers": "1"}
    hp = training.contract_hyperparameters(listed, seed=1, automl=True, automl_metric="coverage",
                                           hpo=True, hpo_config=None)
    assert "model.num_layers" not in hp and "_hpo_config" not in hp
    plan = entry.Plan(hp)
    assert plan.perform_automl and plan.automl_metric == "coverage"
    hrnn_, popularity = plan.candidates
    assert (hrnn_.recipe, popularity.recipe) == ("aws-hrnn", "aws-popularity-count")
    assert hrnn_.hyperparameters["model.num_layers"] == "1" and popularity.hyperparameters == {}
    # HRNN's own default for the seed's 1 epoch (algorithms/hrnn.py)
    assert hrnn_.hyperparameters["training.epochs"] == str(hrnn.DEFAULT_MAX_EPOCHS)


@pytest.mark.parametrize("values,message", [
    ({}, "_recipes"),
    ({"_recipes": "[]"}, "_recipes"),
    ({"_recipes": "{not json"}, "not valid JSON"),
    ({"_recipes": json.dumps([{"recipe": "aws-sims"}]), "_seed": "x"}, "_seed"),
])
def test_plan_refuses_what_it_cannot_read(values, message):
    with pytest.raises(ValueError, match=message):
        entry.Plan(values)


def test_failure_reasons_name_the_cause():
    assert training.failure_reason({"prepared": {"failureReason": "too few"}}) == "too few"
    assert training.failure_reason({"trained": {"failureReason": "alpha: bad"}}) == "alpha: bad"
    lambda_error = json.dumps({"errorMessage": "boom", "errorType": "RuntimeError"})
    assert training.failure_reason({"error": {"Error": "RuntimeError", "Cause": lambda_error}}) == \
        "Internal error while training (RuntimeError): boom"
    sagemaker = json.dumps({"FailureReason": "AlgorithmError: top_n: 'x' is not an integer"})
    assert training.failure_reason({"error": {"Error": "States.TaskFailed", "Cause": sagemaker}}) == \
        "AlgorithmError: top_n: 'x' is not an integer"
    assert "did not finish in time" in training.failure_reason({"error": {"Error": "States.Timeout"}})
    assert training.failure_reason({"error": {"Error": "X", "Cause": "plain text"}}) == \
        "Internal error while training (X): plain text"
