"""A training as several trainer invocations (the `lambda` backend: no 15-minute wall; issue 16
item 4, issue 15 item 5). The SageMaker backend runs `entry.run`, one job for everything.

The training workflow (`infrastructure/statemachines/training.asl.json`) drives it:

1. `plan_search` (the `training.plan_search` task): from the contract's hyperparameters and the
   trial results so far, the next round of trials, or the choice. AutoML's candidates are one
   round; HPO's rounds are those of `selection.hpo` (`maxParallelTrainingJobs` trials each,
   drawn by `selection.next_round`, which replays the seeded generator), so the trials, the
   chosen recipe, its hyperparameters and tunedHPOParams are those of the in-process search.
2. `run_trial` (a trainer invocation per trial, in a Map state, again until done): rebuilds the
   seeded splits (`entry.splits`), scores one candidate or one hyperparameter set on the
   validation split (`selection.automl_entry` / `selection.run_trial`), and writes
   `output/trial.json`. Its fit pauses and resumes like the chosen fits below
   (`trial_checkpoint_name`), so a trial has no 15-minute wall either.
3. `run_fit` (a trainer invocation, again until done): the chosen fits of `entry.fit_chosen`
   with `FitCheckpoints` under `/opt/ml/checkpoints` (SageMaker's checkpoint folder). When the
   next epoch would overrun the invocation's time budget the fit pauses (`CONTINUE`), and the
   state machine calls the trainer again, which resumes it from the checkpoint.

Progress: every epoch end of a fit with a checkpoint (`checkpoint.at_epoch_end`) logs one JSON
line (`{"training": "epoch", "stage", "epoch", "epochs", "currentTrial"?}`) and hands the same
fields to the `progress` callback (the trainer Lambda records them on the version as
`trainingProgress`): stage `hpo` during a trial (AutoML candidates included; `currentTrial` is
the trial's place in the whole search, from 1: the trial's `number`), `evaluation` during the
fit scored on the held-out users, `final` during the refit on all the data.

The trainer Lambda (`lambda_trainer`) moves the files between S3 and the folder; nothing here
imports boto3.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback

from chalicelib.algorithms.checkpoint import Checkpoint, Paused
from chalicelib.training import channel, contract, entry, selection

CONTINUE = 2                  # run_fit's / run_trial's exit code when it paused at a checkpoint
TRIAL_FILE = "trial.json"     # under output/
PROGRESS_FILE = "progress.json"
CHOSEN_FILE = "chosen.json"   # the search's outcome, handed to run_fit
AUTOML, HPO = "automl", "hpo"

# Recipes fitted in one pass without epochs (`Recipe.supports_checkpoint` False): counts, sorts
# and fixed-rank factorisations whose time grows about linearly with the interactions;
# bench/single_pass_fits.py measures them against the trainer's budget. Every recipe trained
# in epochs checkpoints, and SIMS at each chunk of co-purchases (whose number grows with the
# users' activity, not only with the interactions); tests/unit/test_checkpoint_resume.py keeps
# the two lists apart.
SINGLE_PASS = ("aws-popularity-count", "aws-similar-items", "aws-trending-now",
               "aws-item-affinity", "aws-item-attribute-affinity")


def checkpoint_dir(layout: contract.Layout) -> str:
    return os.path.join(layout.root, "checkpoints")


def search_dir(layout: contract.Layout) -> str:
    return os.path.join(layout.root, "search")


def trial_checkpoint_name(trial: dict) -> str:
    """The trial's folder under the checkpoints (its own, so parallel trials never share one)."""
    return f"trial-{trial['phase']}-{int(trial['index']):05d}"


def _reporter(log, progress, **fixed):
    """`on_epoch(epoch, epochs)` for a Checkpoint: one log line and the `progress` callback."""
    def on_epoch(epoch, epochs):
        fields = dict(fixed, epoch=epoch, epochs=epochs)
        _log(log, "epoch", **fields)
        if progress is not None:
            progress(fields)
    return on_epoch


def _log(log, kind, **fields):
    """One structured line per trial / epoch / pause (CloudWatch Logs Insights parses JSON)."""
    log(json.dumps(dict(training=kind, **fields), separators=(",", ":"), default=str))


# --- 1. planning ------------------------------------------------------------------------------
def _peak(timings):
    """Most trials running at once, from their (start, end) wall-clock times."""
    edges = sorted([(a, 1) for a, _ in timings] + [(b, -1) for _, b in timings], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def _trials_total(plan, chosen) -> int:
    """The search's trials: the AutoML candidates, then HPO's maxNumberOfTrainingJobs for the
    chosen recipe (the first candidate's while AutoML has not chosen yet)."""
    total = len(plan.candidates) if plan.perform_automl else 0
    if plan.perform_hpo:
        settings = entry._hpo_settings(plan, chosen)
        total += 0 if entry._hpo_skipped(settings) else settings.max_jobs
    return total


def search_size(values: dict) -> int:
    """How many trials the search of the contract's hyperparameters `values` runs (AutoML
    candidates and HPO trials; 0 without a search)."""
    plan = entry.Plan(values)
    return _trials_total(plan, plan.candidates[0])


def trials_total(layout: contract.Layout) -> int:
    """`trialsTotal` of the search's choice (0 without a search)."""
    path = os.path.join(search_dir(layout), CHOSEN_FILE)
    if not os.path.isfile(path):
        return 0
    with open(path) as f:
        return int(json.load(f).get("trialsTotal") or 0)


def plan_search(values: dict, done: dict) -> dict:
    """`{"trials": [...]}` (the next round) or `{"chosen": {...}}` (recipe, recipeArn,
    hyperparameters, report parts, searchSeconds, trialsTotal). `values`: the contract's
    hyperparameters; `done`: {"automl": {index: trial file}, "hpo": {index: trial file}}."""
    plan = entry.Plan(values)
    chosen, found, seconds = plan.candidates[0], {}, 0.0
    hyperparameters = dict(chosen.hyperparameters)
    if plan.perform_automl:
        files = done.get(AUTOML) or {}
        if len(files) < len(plan.candidates):
            total = _trials_total(plan, chosen)
            return {"trials": [{"phase": AUTOML, "index": i, "recipe": c.recipe, "recipeArn": c.recipe_arn,
                                "hyperparameters": c.hyperparameters, "metric": plan.automl_metric,
                                "trialsTotal": total, "number": i + 1}
                               for i, c in enumerate(plan.candidates)]}
        entries = [files[i]["result"] for i in range(len(plan.candidates))]
        seconds += sum(files[i]["seconds"] for i in range(len(plan.candidates)))
        chosen, candidates = selection.automl_choice(plan.candidates, entries, plan.automl_metric)
        hyperparameters = dict(chosen.hyperparameters)
        found["automl"] = {"metricName": plan.automl_metric, "candidates": candidates,
                           "bestRecipeArn": chosen.recipe_arn}
    if plan.perform_hpo:
        settings = entry._hpo_settings(plan, chosen)
        found["hpo"] = entry._hpo_skipped(settings)
        if found["hpo"] is None:
            files = done.get(HPO) or {}
            results = [files[i]["result"] for i in range(len(files)) if i in files]
            batch = selection.next_round(chosen.hyperparameters, settings, plan.seed, results)
            if batch:
                total = _trials_total(plan, chosen)
                return {"trials": [{"phase": HPO, "index": len(results) + k, "recipe": chosen.recipe,
                                    "recipeArn": chosen.recipe_arn, "hyperparameters": hps,
                                    "metric": settings.metric, "trialsTotal": total,
                                    "number": (len(plan.candidates) if plan.perform_automl else 0) + len(results) + k + 1}
                                   for k, hps in enumerate(batch)]}
            seconds += sum(f["seconds"] for f in files.values())
            peak = _peak([(f["startedAt"], f["endedAt"]) for f in files.values()])
            hyperparameters, found["hpo"] = selection.hpo_outcome(results, settings, peak)
    return {"chosen": {"recipe": chosen.recipe, "recipeArn": chosen.recipe_arn,
                       "hyperparameters": hyperparameters, "report": found, "searchSeconds": seconds,
                       "trialsTotal": _trials_total(plan, chosen)}}


# --- 2. one trial -----------------------------------------------------------------------------
def run_trial(root: str, trial: dict, log=None, should_stop=None, budget_seconds=None, progress=None) -> int:
    """Score one trial over the folder `root`; 0 with output/trial.json, CONTINUE after a pause
    (its checkpoint under `checkpoint_dir/trial_checkpoint_name`, output/progress.json), 1 with the
    failure file (a trial that cannot be scored ends the training only where the in-process
    search would)."""
    layout = contract.Layout(root)
    log = entry._checking(log or (lambda m: print(m, file=sys.stderr, flush=True)), should_stop)
    started, t0 = time.time(), time.perf_counter()
    folder = StepFolder(os.path.join(checkpoint_dir(layout), trial_checkpoint_name(trial)))
    spent = folder.progress()
    checkpoint = Checkpoint(os.path.join(folder.directory, "fit"), budget_seconds,
                            on_epoch=_reporter(log, progress, stage=HPO,
                                               currentTrial=int(trial.get("number") or int(trial["index"]) + 1)))
    try:
        plan = entry.Plan(layout.read_hyperparameters())
        data = channel.read_channel(layout.channel_dir())
        _, _, inner, _ = entry.splits(plan, data)
        candidate = selection.Candidate(trial["recipe"], trial["recipeArn"], dict(trial["hyperparameters"]))
        try:
            if trial["phase"] == AUTOML:
                result = selection.automl_entry(candidate, inner, trial["metric"], plan.seed, log, checkpoint)
            else:
                result = selection.run_trial(candidate, int(trial["index"]), dict(trial["hyperparameters"]),
                                             inner, trial["metric"], plan.seed, log, checkpoint)
        except Paused as paused:
            spent = _account(spent, [checkpoint], t0, startedAt=spent.get("startedAt", started))
            spent.update(stage=HPO, trial=int(trial["index"]), epoch=paused.state.get("epoch"))
            folder.record(spent)
            contract.write_json(os.path.join(layout.output_dir, PROGRESS_FILE), spent)
            _log(log, "pause", **spent)
            return CONTINUE
        spent = _account(spent, [checkpoint], t0)
        out = {"result": result, "seconds": spent["seconds"], "startedAt": spent.get("startedAt", started),
               "endedAt": time.time(), "invocations": spent["invocations"]}
        contract.write_json(os.path.join(layout.output_dir, TRIAL_FILE), out)
        _log(log, "trial", phase=trial["phase"], index=trial["index"], recipe=trial["recipe"],
             objective=result.get("objective"), error=result.get("error"), seconds=round(out["seconds"], 3),
             invocations=spent["invocations"])
        return 0
    except Exception as e:  # noqa: BLE001 - the contract turns every failure into the file
        traceback.print_exc(file=sys.stderr)
        layout.write_failure(entry._reason(e))
        return 1


# --- 3. the fits, paused and resumed ----------------------------------------------------------
class StepFolder:
    """A folder that outlives the invocation (the trainer Lambda syncs it with S3), with what
    the step has spent so far over its invocations (`progress`, `record`)."""

    def __init__(self, directory: str):
        self.directory = directory

    def _path(self, name):
        return os.path.join(self.directory, name)

    def progress(self):
        if not os.path.isfile(self._path(PROGRESS_FILE)):
            return {"invocations": 0, "seconds": 0.0, "checkpointSaves": 0, "checkpointSeconds": 0.0}
        with open(self._path(PROGRESS_FILE)) as f:
            return json.load(f)

    def record(self, progress):
        os.makedirs(self.directory, exist_ok=True)
        contract.write_json(self._path(PROGRESS_FILE), progress)


class FitCheckpoints(StepFolder):
    """The two fits' checkpoints (`evaluation`, `final`) and the finished evaluation's metrics.
    `progress` (optional): called with the stage and epoch fields at each epoch end, and when the
    final fit begins."""

    def __init__(self, directory: str, budget_seconds=None, log=lambda m: None, progress=None):
        super().__init__(directory)
        self.evaluation = Checkpoint(os.path.join(directory, "evaluation"), budget_seconds,
                                     on_epoch=_reporter(log, progress, stage="evaluation"))
        self.final = Checkpoint(os.path.join(directory, "final"), budget_seconds,
                                on_epoch=_reporter(log, progress, stage="final"))
        self.final.started = self.evaluation.started   # one budget per invocation
        self._progress = progress

    def evaluation_done(self):
        if not os.path.isfile(self._path("evaluation.json")):
            return None
        with open(self._path("evaluation.json")) as f:
            return json.load(f)

    def finish_evaluation(self, metrics, fit_seconds):
        os.makedirs(self.directory, exist_ok=True)
        contract.write_json(self._path("evaluation.json"), {"metrics": metrics, "fitSeconds": fit_seconds})
        if self._progress is not None:
            self._progress({"stage": "final", "epoch": 0, "epochs": 0})


def run_fit(root: str, log=None, should_stop=None, budget_seconds=None, progress=None) -> int:
    """The chosen fits over `root` (search/chosen.json, else the plan's first candidate):
    0 with the model as `entry.run` leaves it, CONTINUE after a pause (output/progress.json),
    1 with the failure file. `progress`: see the module docstring."""
    layout = contract.Layout(root)
    log = entry._checking(log or (lambda m: print(m, file=sys.stderr, flush=True)), should_stop)
    t0 = time.perf_counter()
    checkpoints = FitCheckpoints(checkpoint_dir(layout), budget_seconds, log, progress)
    spent = checkpoints.progress()
    try:
        plan = entry.Plan(layout.read_hyperparameters())
        data = channel.read_channel(layout.channel_dir())
        previous = entry.previous_model(layout) if plan.training_mode == "UPDATE" else None
        chosen_path = os.path.join(search_dir(layout), CHOSEN_FILE)
        found, search_seconds = {}, 0.0
        if os.path.isfile(chosen_path):
            with open(chosen_path) as f:
                doc = json.load(f)
            chosen = selection.Candidate(doc["recipe"], doc["recipeArn"], doc["hyperparameters"])
            found, search_seconds = doc.get("report") or {}, float(doc.get("searchSeconds") or 0.0)
        elif plan.perform_automl or plan.perform_hpo:
            raise ValueError(f"the search has not chosen yet ({CHOSEN_FILE} is missing)")
        else:
            chosen = plan.candidates[0]
        data, outer, _, report = entry.splits(plan, data, previous)
        report.update(found)
        try:
            model, metrics, report = entry.fit_chosen(plan, data, outer, chosen, dict(chosen.hyperparameters),
                                                      report, log, previous, checkpoints)
        except Paused as paused:
            spent = _account(spent, [checkpoints.evaluation, checkpoints.final], t0)
            spent.update(stage="final" if checkpoints.evaluation_done() else "evaluation",
                         epoch=paused.state.get("epoch"))
            checkpoints.record(spent)
            contract.write_json(os.path.join(layout.output_dir, PROGRESS_FILE), spent)
            _log(log, "pause", **spent)
            return CONTINUE
        spent = _account(spent, [checkpoints.evaluation, checkpoints.final], t0)
        report["trainingSeconds"] = spent["seconds"] + search_seconds
        report["searchSeconds"] = search_seconds
        report["invocations"] = spent["invocations"]
        report["checkpoints"] = {"saves": spent["checkpointSaves"],
                                 "seconds": round(spent["checkpointSeconds"], 3)}
        os.makedirs(layout.model_dir, exist_ok=True)
        model.save(layout.model_dir)
        contract.write_json(os.path.join(layout.model_dir, entry.METRICS_FILE), metrics)
        contract.write_json(os.path.join(layout.model_dir, entry.REPORT_FILE), report)
        _log(log, "trained", recipe=report["recipe"], seconds=round(report["trainingSeconds"], 3),
             invocations=spent["invocations"])
        return 0
    except Exception as e:  # noqa: BLE001 - the contract turns every failure into the file
        traceback.print_exc(file=sys.stderr)
        layout.write_failure(entry._reason(e))
        return 1


def _account(spent, checkpoints, t0, **fields):
    """`spent` (a StepFolder's progress) plus this invocation: its time and its checkpoints' saves."""
    return dict(spent, invocations=spent["invocations"] + 1,
                seconds=spent["seconds"] + time.perf_counter() - t0,
                checkpointSaves=spent["checkpointSaves"] + sum(c.saves for c in checkpoints),
                checkpointSeconds=spent["checkpointSeconds"] + sum(c.save_seconds for c in checkpoints),
                **fields)
