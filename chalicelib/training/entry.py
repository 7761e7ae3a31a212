"""The trainer's entry point over an /opt/ml folder (SageMaker training contract, see `contract`).

    python -m chalicelib.training.entry [--root /opt/ml]      # training_container/train runs this

What it does (seed: "Creating a Solution", "Evaluating Solutions"; ../shared/EVALUATION.md):

1. Read the hyperparameters (strings) and the `train` channel (`channel`); apply the feature
   transformation's history-length percentiles (`transform`).
2. Split off the evaluation users (seeded, `test_ratio` of the users, 10% by default) with
   `chalicelib.algorithms.evaluation.split_interactions`.
3. If AutoML or HPO is asked for, split the *training* users again into a validation split
   (`selection.validation_split`) and choose there (`selection`): the recipe (AutoML, by the AutoML metric), then its
   hyperparameters (HPO, within the hpoResourceConfig budget).
4. Fit the chosen recipe and hyperparameters on the training users and score the evaluation
   users: these held-out metrics are what GetMetrics / GetSolutionMetrics report.
5. Refit on all the data (every user, so the served model knows the evaluation users too) and
   save it: `/opt/ml/model/model.json` + `arrays.npz` (`Model.save`, loadable with
   allow_pickle=False), `metrics.json` (step 4) and `training.json` (what was chosen and why,
   timings).

trainingMode UPDATE (`_training_mode`, today's CreateSolutionVersion): the `model` channel holds
the previous ACTIVE version's model.tar.gz. The data is re-indexed with its ids first
(`chalicelib.algorithms.warm_start.align`), and both fits of steps 4 and 5 warm-start from it
(`fit(..., warm_start=previous)`, a short fine-tuning) instead of training anew; AutoML and HPO
do not run. The metrics are computed as usual, with one caveat recorded in `training.json`
(`warmStart.evaluation`): the previous model was trained on every user, the evaluation users
included, so the evaluation fit starts from parameters that have seen their held-out
interactions. `training.json` says `trainingMode` and what the warm start carried over and placed.

A stop check (`run(..., should_stop=...)`, given by the trainer Lambda from the workflow; a
SageMaker job is stopped by StopTrainingJob instead) is asked at every progress report: every
recipe reports each epoch, AutoML each candidate and HPO each trial through the `log`
callback, so a stopped training ends at the next one with `contract.STOPPED_REASON`.

Any error writes its reason to `/opt/ml/output/failure` (at most 1024 characters, which
SageMaker shows as the job's FailureReason and we as the version's failureReason) and exits 1.
No boto3 here: this runs inside the training container.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback

from chalicelib.algorithms.base import load_model
from chalicelib.algorithms.evaluation import evaluate, split_interactions
from chalicelib.algorithms.registry import recipe_for
from chalicelib.algorithms.warm_start import align
from chalicelib.training import artifacts, channel, contract, selection, transform

METRICS_FILE = "metrics.json"
REPORT_FILE = "training.json"


class Plan:
    """What to train, from the contract's hyperparameters (see `contract` for the keys)."""

    def __init__(self, values: dict):
        recipes = contract.json_value(values, "_recipes")
        if not recipes or not isinstance(recipes, list):
            raise ValueError("hyperparameter _recipes: name at least one recipe to train")
        self.perform_automl = contract.flag(values, "_perform_automl")
        plain = contract.algorithm_hyperparameters(values)
        self.candidates = []
        for entry in recipes:
            hps = entry.get("hyperparameters")
            if hps is None:
                hps = plain if len(recipes) == 1 else {}
            hps = selection.effective_hyperparameters(entry["recipe"], {str(k): str(v) for k, v in hps.items()})
            self.candidates.append(selection.Candidate(entry["recipe"], entry.get("recipeArn") or entry["recipe"], hps))
        if len(self.candidates) > 1 and not self.perform_automl:
            raise ValueError("hyperparameter _recipes: several recipes need _perform_automl=true")
        try:
            self.seed = int(values.get("_seed", "0"))
        except ValueError:
            raise ValueError(f"hyperparameter _seed: {values['_seed']!r} is not an integer") from None
        self.automl_metric = values.get("_automl_metric") or selection.DEFAULT_METRIC
        self.perform_hpo = contract.flag(values, "_perform_hpo")
        self.hpo_config = contract.json_value(values, "_hpo_config")
        self.feature_transformation = contract.json_value(values, "_feature_transformation", {}) or {}
        self.training_mode = (values.get("_training_mode") or "FULL").strip().upper()
        if self.training_mode not in contract.TRAINING_MODES:
            raise ValueError(f"hyperparameter _training_mode: {values['_training_mode']!r} is not one "
                             f"of {', '.join(contract.TRAINING_MODES)}")
        if self.training_mode == "UPDATE" and (self.perform_automl or self.perform_hpo or len(recipes) > 1):
            raise ValueError("trainingMode UPDATE fine-tunes the previous version's recipe: it runs "
                             "without AutoML and HPO")


def previous_model(layout: contract.Layout):
    """The previous version's model from the `model` channel (its model.tar.gz, unpacked into a
    temporary folder and loaded into memory); ValueError when the channel holds none."""
    folder = layout.channel_dir(contract.MODEL_CHANNEL)
    archive = os.path.join(folder, artifacts.ARCHIVE)
    if not os.path.isfile(archive):
        raise ValueError(f"trainingMode UPDATE: the {contract.MODEL_CHANNEL} channel has no "
                         f"{artifacts.ARCHIVE} of the previous solution version")
    with tempfile.TemporaryDirectory(prefix="previous-model-") as directory:
        return load_model(artifacts.unpack(archive, directory))


def splits(plan: Plan, data, previous=None):
    """(data, outer split, inner split or None, report): steps 1-3's data, the same in every
    trainer invocation of a training (everything is seeded)."""
    if previous is not None:
        recipe = recipe_for(plan.candidates[0].recipe)
        if not recipe.supports_warm_start:
            raise ValueError(f"trainingMode UPDATE: recipe {recipe.name} cannot start from a previous "
                             "model; use trainingMode FULL")
        data, _, _ = align(data, previous.item_ids, getattr(previous, "user_ids", None))
    data = transform.filter_history_lengths(data, plan.feature_transformation)
    share = transform.evaluation_share(plan.feature_transformation)
    outer = split_interactions(data, plan.seed, user_fraction=share)
    report = {"seed": plan.seed, "interactions": len(data.interactions), "users": data.n_users,
              "items": data.n_items, "evaluationUsers": int(outer.users.size)}
    searching = plan.perform_automl or plan.perform_hpo
    inner = selection.validation_split(outer.train, plan.seed + 1, share) if searching else None
    return data, outer, inner, report


def _hpo_settings(plan: Plan, chosen):
    return selection.hpo_settings(chosen.recipe, plan.hpo_config,
                                  plan.automl_metric if plan.perform_automl else None)


def _hpo_skipped(settings):
    if settings.space and settings.max_jobs > 1:
        return None
    return {"skipped": "no tunable hyperparameters" if not settings.space else "maxNumberOfTrainingJobs is 1"}


def search(plan: Plan, inner, log=lambda m: None):
    """(chosen candidate, its hyperparameters, report parts) of AutoML then HPO, in process."""
    chosen, found = plan.candidates[0], {}
    hyperparameters = dict(chosen.hyperparameters)
    if plan.perform_automl:
        chosen, candidates = selection.automl(plan.candidates, inner, plan.automl_metric, plan.seed, log)
        hyperparameters = dict(chosen.hyperparameters)
        found["automl"] = {"metricName": plan.automl_metric, "candidates": candidates,
                           "bestRecipeArn": chosen.recipe_arn}
    if plan.perform_hpo:
        settings = _hpo_settings(plan, chosen)
        found["hpo"] = _hpo_skipped(settings)
        if found["hpo"] is None:
            hyperparameters, found["hpo"] = selection.hpo(chosen, inner, settings, plan.seed, log)
    return chosen, hyperparameters, found


def fit_chosen(plan: Plan, data, outer, chosen, hyperparameters, report, log=lambda m: None,
               previous=None, checkpoints=None, started=None):
    """Steps 4 and 5: (model trained on all data, held-out metrics, report). `checkpoints`
    (`FitCheckpoints`, optional) lets each fit pause and a later call resume it."""
    started = time.perf_counter() if started is None else started
    warm = {} if previous is None else {"warm_start": previous}
    done = checkpoints.evaluation_done() if checkpoints else None
    if done is None:
        metrics, fit_seconds, _ = evaluate(chosen.recipe, outer.train, hyperparameters, plan.seed, split=outer,
                                           log=log, checkpoint=checkpoints and checkpoints.evaluation, **warm)
        if checkpoints:
            checkpoints.finish_evaluation(metrics, fit_seconds)
    else:
        metrics, fit_seconds = done["metrics"], done["fitSeconds"]
    t0 = time.perf_counter()
    extra = dict(warm)
    recipe = recipe_for(chosen.recipe)
    if checkpoints and getattr(recipe, "supports_checkpoint", False):
        extra["checkpoint"] = checkpoints.final
    model = recipe.fit(data, hyperparameters, seed=plan.seed, log=log, **extra)
    report.update(recipe=chosen.recipe, recipeArn=chosen.recipe_arn, hyperparameters=hyperparameters,
                  evaluationFitSeconds=fit_seconds, finalFitSeconds=time.perf_counter() - t0,
                  trainingSeconds=time.perf_counter() - started, trainingMode=plan.training_mode)
    if previous is not None:
        info = getattr(model, "info", None) or {}
        report["warmStart"] = dict(
            info.get("warm_start") or {}, previousRecipe=previous.recipe, epochs=info.get("epochs"),
            evaluation="the evaluation fit warm-starts from a model trained on every user, the "
                       "evaluation users included: the metrics may be optimistic")
    return model, metrics, report


def train(plan: Plan, data, log=lambda m: None, previous=None):
    """(model trained on all data, held-out metrics, report). Raises ValueError with a reason.
    `previous`: the model an UPDATE warm-starts from (module docstring)."""
    started = time.perf_counter()
    data, outer, inner, report = splits(plan, data, previous)
    chosen, hyperparameters, found = search(plan, inner, log)
    report.update(found)
    return fit_chosen(plan, data, outer, chosen, hyperparameters, report, log, previous, started=started)


def _checking(log, should_stop):
    """The progress callback handed down to the recipes: reports, then asks whether to stop."""
    if should_stop is None:
        return log

    def report(message):
        log(message)
        if should_stop():
            raise contract.TrainingStopped(message)
    return report


def _reason(exc: BaseException) -> str:
    if isinstance(exc, contract.TrainingStopped):
        return contract.STOPPED_REASON
    if isinstance(exc, ValueError):   # the recipes' and ours: a readable reason for the user
        return str(exc)
    return f"Training failed with an internal error ({type(exc).__name__}): {exc}"


def run(root: str = "/opt/ml", log=None, should_stop=None) -> int:
    """Train over the folder `root`; 0 on success, 1 after writing the failure file.
    `should_stop()` (optional) is asked at each progress report (see the module docstring)."""
    layout = contract.Layout(root)
    log = _checking(log or (lambda m: print(m, file=sys.stderr, flush=True)), should_stop)
    try:
        plan = Plan(layout.read_hyperparameters())
        data = channel.read_channel(layout.channel_dir())
        previous = None
        if plan.training_mode == "UPDATE":
            previous = previous_model(layout)
            log(f"trainingMode UPDATE: warm start from the previous {previous.recipe} model "
                f"({previous.item_ids.shape[0]} items)")
        log(f"training {', '.join(c.recipe for c in plan.candidates)} on {len(data.interactions)} "
            f"interactions (seed {plan.seed}, AutoML {plan.perform_automl}, HPO {plan.perform_hpo}, "
            f"trainingMode {plan.training_mode})")
        model, metrics, report = train(plan, data, log, previous)
        os.makedirs(layout.model_dir, exist_ok=True)
        model.save(layout.model_dir)
        contract.write_json(os.path.join(layout.model_dir, METRICS_FILE), metrics)
        contract.write_json(os.path.join(layout.model_dir, REPORT_FILE), report)
        log(f"trained {report['recipe']} in {report['trainingSeconds']:.1f}s: " + json.dumps(
            {k: round(v, 5) for k, v in metrics.items() if not k.startswith("_")}))
        return 0
    except Exception as e:  # noqa: BLE001 - the contract turns every failure into the file
        traceback.print_exc(file=sys.stderr)
        layout.write_failure(_reason(e))
        return 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m chalicelib.training.entry", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default=os.environ.get("SM_ROOT", "/opt/ml"),
                    help="the /opt/ml folder (default /opt/ml)")
    args = ap.parse_args(argv)
    return run(args.root)


if __name__ == "__main__":
    sys.exit(main())
