"""A training as several trainer invocations (the `lambda` backend: no 15-minute wall; issue 16
item 4, issue 15 item 5). The SageMaker backend runs `entry.run`, one job for everything.

The training workflow (`infrastructure/statemachines/training.asl.json`) drives it:

1. `plan_search` (the `training.plan_search` task): from the contract's hyperparameters and the
   trial results so far, the next round of trials, or the choice. AutoML's candidates are one
   round; HPO's rounds are those of `selection.hpo` (`maxParallelTrainingJobs` trials each,
   drawn by `selection.next_round`, which replays the seeded generator), so the trials, the
   chosen recipe, its hyperparameters and tunedHPOParams are those of the in-process search.
2. `run_trial` (a trainer invocation per trial, in a Map state): rebuilds the seeded splits
   (`entry.splits`), scores one candidate or one hyperparameter set on the validation split
   (`selection.automl_entry` / `selection.run_trial`), and writes `output/trial.json`.
3. `run_fit` (a trainer invocation, again until done): the chosen fits of `entry.fit_chosen`
   with `FitCheckpoints` under `/opt/ml/checkpoints` (SageMaker's checkpoint folder). When the
   next epoch would overrun the invocation's time budget the fit pauses (`CONTINUE`), and the
   state machine calls the trainer again, which resumes it from the checkpoint.

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

CONTINUE = 2                  # run_fit's exit code when it paused at a checkpoint
TRIAL_FILE = "trial.json"     # under output/
PROGRESS_FILE = "progress.json"
CHOSEN_FILE = "chosen.json"   # the search's outcome, handed to run_fit
AUTOML, HPO = "automl", "hpo"


def checkpoint_dir(layout: contract.Layout) -> str:
    return os.path.join(layout.root, "checkpoints")


def search_dir(layout: contract.Layout) -> str:
    return os.path.join(layout.root, "search")


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


def plan_search(values: dict, done: dict) -> dict:
    """`{"trials": [...]}` (the next round) or `{"chosen": {...}}` (recipe, recipeArn,
    hyperparameters, report parts, searchSeconds). `values`: the contract's hyperparameters;
    `done`: {"automl": {index: trial file}, "hpo": {index: trial file}}."""
    plan = entry.Plan(values)
    chosen, found, seconds = plan.candidates[0], {}, 0.0
    hyperparameters = dict(chosen.hyperparameters)
    if plan.perform_automl:
        files = done.get(AUTOML) or {}
        if len(files) < len(plan.candidates):
            return {"trials": [{"phase": AUTOML, "index": i, "recipe": c.recipe, "recipeArn": c.recipe_arn,
                                "hyperparameters": c.hyperparameters, "metric": plan.automl_metric}
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
                return {"trials": [{"phase": HPO, "index": len(results) + k, "recipe": chosen.recipe,
                                    "recipeArn": chosen.recipe_arn, "hyperparameters": hps,
                                    "metric": settings.metric} for k, hps in enumerate(batch)]}
            seconds += sum(f["seconds"] for f in files.values())
            peak = _peak([(f["startedAt"], f["endedAt"]) for f in files.values()])
            hyperparameters, found["hpo"] = selection.hpo_outcome(results, settings, peak)
    return {"chosen": {"recipe": chosen.recipe, "recipeArn": chosen.recipe_arn,
                       "hyperparameters": hyperparameters, "report": found, "searchSeconds": seconds}}


# --- 2. one trial -----------------------------------------------------------------------------
def run_trial(root: str, trial: dict, log=None) -> int:
    """Score one trial over the folder `root`; 0 with output/trial.json, 1 with the failure file
    (a trial that cannot be scored ends the training only where the in-process search would)."""
    layout = contract.Layout(root)
    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    started, t0 = time.time(), time.perf_counter()
    try:
        plan = entry.Plan(layout.read_hyperparameters())
        data = channel.read_channel(layout.channel_dir())
        _, _, inner, _ = entry.splits(plan, data)
        candidate = selection.Candidate(trial["recipe"], trial["recipeArn"], dict(trial["hyperparameters"]))
        if trial["phase"] == AUTOML:
            result = selection.automl_entry(candidate, inner, trial["metric"], plan.seed, log)
        else:
            result = selection.run_trial(candidate, int(trial["index"]), dict(trial["hyperparameters"]),
                                         inner, trial["metric"], plan.seed, log)
        out = {"result": result, "seconds": time.perf_counter() - t0, "startedAt": started, "endedAt": time.time()}
        contract.write_json(os.path.join(layout.output_dir, TRIAL_FILE), out)
        _log(log, "trial", phase=trial["phase"], index=trial["index"], recipe=trial["recipe"],
             objective=result.get("objective"), error=result.get("error"), seconds=round(out["seconds"], 3))
        return 0
    except Exception as e:  # noqa: BLE001 - the contract turns every failure into the file
        traceback.print_exc(file=sys.stderr)
        layout.write_failure(entry._reason(e))
        return 1


# --- 3. the fits, paused and resumed ----------------------------------------------------------
class FitCheckpoints:
    """The two fits' checkpoints (`evaluation`, `final`) and the finished evaluation's metrics,
    in one folder that outlives the invocation (the trainer Lambda syncs it with S3)."""

    def __init__(self, directory: str, budget_seconds=None):
        self.directory = directory
        self.evaluation = Checkpoint(os.path.join(directory, "evaluation"), budget_seconds)
        self.final = Checkpoint(os.path.join(directory, "final"), budget_seconds)
        self.final.started = self.evaluation.started   # one budget per invocation

    def _path(self, name):
        return os.path.join(self.directory, name)

    def evaluation_done(self):
        if not os.path.isfile(self._path("evaluation.json")):
            return None
        with open(self._path("evaluation.json")) as f:
            return json.load(f)

    def finish_evaluation(self, metrics, fit_seconds):
        os.makedirs(self.directory, exist_ok=True)
        contract.write_json(self._path("evaluation.json"), {"metrics": metrics, "fitSeconds": fit_seconds})

    def progress(self):
        if not os.path.isfile(self._path(PROGRESS_FILE)):
            return {"invocations": 0, "seconds": 0.0, "checkpointSaves": 0, "checkpointSeconds": 0.0}
        with open(self._path(PROGRESS_FILE)) as f:
            return json.load(f)

    def record(self, progress):
        os.makedirs(self.directory, exist_ok=True)
        contract.write_json(self._path(PROGRESS_FILE), progress)


def run_fit(root: str, log=None, should_stop=None, budget_seconds=None) -> int:
    """The chosen fits over `root` (search/chosen.json, else the plan's first candidate):
    0 with the model as `entry.run` leaves it, CONTINUE after a pause (output/progress.json),
    1 with the failure file."""
    layout = contract.Layout(root)
    log = entry._checking(log or (lambda m: print(m, file=sys.stderr, flush=True)), should_stop)
    t0 = time.perf_counter()
    checkpoints = FitCheckpoints(checkpoint_dir(layout), budget_seconds)
    progress = checkpoints.progress()
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
            progress = _account(progress, checkpoints, t0)
            progress.update(stage="final" if checkpoints.evaluation_done() else "evaluation",
                            epoch=paused.state.get("epoch"))
            checkpoints.record(progress)
            contract.write_json(os.path.join(layout.output_dir, PROGRESS_FILE), progress)
            _log(log, "pause", **progress)
            return CONTINUE
        progress = _account(progress, checkpoints, t0)
        report["trainingSeconds"] = progress["seconds"] + search_seconds
        report["searchSeconds"] = search_seconds
        report["invocations"] = progress["invocations"]
        report["checkpoints"] = {"saves": progress["checkpointSaves"],
                                 "seconds": round(progress["checkpointSeconds"], 3)}
        os.makedirs(layout.model_dir, exist_ok=True)
        model.save(layout.model_dir)
        contract.write_json(os.path.join(layout.model_dir, entry.METRICS_FILE), metrics)
        contract.write_json(os.path.join(layout.model_dir, entry.REPORT_FILE), report)
        _log(log, "trained", recipe=report["recipe"], seconds=round(report["trainingSeconds"], 3),
             invocations=progress["invocations"])
        return 0
    except Exception as e:  # noqa: BLE001 - the contract turns every failure into the file
        traceback.print_exc(file=sys.stderr)
        layout.write_failure(entry._reason(e))
        return 1


def _account(progress, checkpoints, t0):
    return dict(progress, invocations=progress["invocations"] + 1,
                seconds=progress["seconds"] + time.perf_counter() - t0,
                checkpointSaves=progress["checkpointSaves"] + checkpoints.evaluation.saves + checkpoints.final.saves,
                checkpointSeconds=progress["checkpointSeconds"] + checkpoints.evaluation.save_seconds
                + checkpoints.final.save_seconds)
