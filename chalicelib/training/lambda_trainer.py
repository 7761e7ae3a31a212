"""The trainer Lambda (emulators, where there is no SageMaker): the S3 shim around `entry`.

DESIGN.md, "One deployment, three places": on the `lambda` training backend the state machine
invokes this function instead of `sagemaker:createTrainingJob.sync`, with the same facts a
training job gets:

    {"trainingJobName": "...", "hyperparameters": {name: string},
     "channels": {"train": "s3://bucket/prefix/"}, "outputUri": "s3://bucket/prefix/"}

`should_stop` (from the training workflow, which reads the version's status) is handed to
`entry.run`: a stopped training returns its failureReason like any other that ends early.

It downloads each channel into an /opt/ml-shaped folder under /tmp, runs `entry.run` in
process, and uploads `/opt/ml/model` as `<outputUri>/<trainingJobName>/output/model.tar.gz`
(SageMaker's place and format). It answers {"modelArtifacts": uri, "trainingTimeInSeconds"} or,
when the entry point failed, {"failureReason": the failure file's text} (an answer, not an
error, so the state machine does not retry a training that cannot succeed). Errors of its own
(S3 unreachable, ...) raise, and the state machine retries them.

A training in several invocations (`chalicelib.training.stepwise`; the event's `step`):

- `{"step": "trial", "trial": {...}}` scores one trial and writes its result to
  `<outputUri>/<job>/search/<phase>-<index>.json`; answers `{"trial": index, "phase"}`, or
  `{"continue": true, "progress"}` when its fit paused (its checkpoint under
  `<job>/checkpoints/<stepwise.trial_checkpoint_name>/`, resumed by the next invocation).
- `{"step": "fit"}` downloads `<job>/search/chosen.json` and `<job>/checkpoints/`, runs the fits
  within `budget_seconds(context)` (`config.trainer_time_budget_seconds`, and the invocation's
  remaining time less `config.trainer_time_margin_seconds`), uploads the checkpoints and answers
  `{"continue": true, "progress"}` after a pause, else as above. A retried invocation resumes
  from the last checkpoint too.

`progress` (from the training workflow, optional) is called with the fields of the version's
`trainingProgress` at every epoch end (`stepwise`, module docstring), plus `trialsCompleted`
(the trial files under `<job>/search/`, counted when the invocation starts and after its own
trial) and `trialsTotal` (the trial's or the choice's `trialsTotal`).
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import time

from chalicelib import config
from chalicelib.storage import objects
from chalicelib.training import artifacts, contract, entry, stepwise

logger = logging.getLogger(__name__)


def _download_prefix(uri: str, directory: str) -> int:
    bucket, prefix = objects.split(uri)
    prefix = prefix.rstrip("/") + "/"
    found = objects.list_prefix(objects.uri(bucket, prefix))
    for obj in found:
        relative = obj["key"][len(prefix):]
        if not relative or relative.endswith("/"):
            continue
        target = os.path.join(directory, *relative.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        objects.get_file(obj["location"], target)
    return len(found)


def work_uri(event: dict, part: str) -> str:
    """`<outputUri>/<job>/<part>/`: the search's trial files and choice, the fit's checkpoints."""
    return event["outputUri"].rstrip("/") + f"/{event['trainingJobName']}/{part}/"


def trial_uri(event: dict, phase: str, index: int) -> str:
    return work_uri(event, "search") + f"{phase}-{int(index):05d}.json"


def budget_seconds(context=None) -> float:
    budget = config.trainer_time_budget_seconds()
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        budget = min(budget, context.get_remaining_time_in_millis() / 1000.0 - config.trainer_time_margin_seconds())
    return max(0.0, budget)


def _upload_folder(directory: str, uri: str) -> None:
    for here, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(here, name)
            objects.put_file(uri + os.path.relpath(path, directory).replace(os.sep, "/"), path)


def trials_completed(event: dict) -> int:
    """Trial result files written so far under `<job>/search/` (every phase)."""
    names = (o["key"].rsplit("/", 1)[-1] for o in objects.list_prefix(work_uri(event, "search")))
    return sum(1 for n in names if n.endswith(".json") and n != stepwise.CHOSEN_FILE)


def _counted(progress, event, total):
    """`progress` with the search's counts added (see the module docstring)."""
    if progress is None:
        return None
    counts = {"trialsCompleted": trials_completed(event), "trialsTotal": int(total or 0)}
    return lambda fields: progress(dict(counts, **fields))


def _structured(job):
    def log(message):
        logger.info(message if message.startswith("{") else
                    json.dumps({"training": "log", "job": job, "message": message}, separators=(",", ":")))
    return log


def handle(event: dict, should_stop=None, context=None, progress=None) -> dict:
    job = event["trainingJobName"]
    channels = event.get("channels") or {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="opt-ml-") as root:
        layout = contract.Layout(root)
        layout.create(event.get("hyperparameters") or {}, channels=tuple(channels) or (contract.TRAIN_CHANNEL,))
        for name, uri in channels.items():
            if not _download_prefix(uri, layout.channel_dir(name)):
                raise RuntimeError(f"channel {name}: nothing at {uri}")
        step, log = event.get("step"), _structured(job)
        if step == "trial":
            trial = event["trial"]
            name = stepwise.trial_checkpoint_name(trial)
            folder, uri = os.path.join(stepwise.checkpoint_dir(layout), name), work_uri(event, "checkpoints") + name + "/"
            _download_prefix(uri, folder)
            code = stepwise.run_trial(root, trial, log=log, should_stop=should_stop,
                                      budget_seconds=budget_seconds(context),
                                      progress=_counted(progress, event, trial.get("trialsTotal")))
            if code == stepwise.CONTINUE:
                return _continue(layout, folder, uri)
            if code != 0:
                return {"failureReason": layout.read_failure() or "Training failed without saying why"}
            objects.put_file(trial_uri(event, trial["phase"], trial["index"]),
                             os.path.join(layout.output_dir, stepwise.TRIAL_FILE))
            objects.delete_prefix(uri)   # the trial's checkpoint is of no use once it is scored
            if progress is not None:
                progress({"stage": stepwise.HPO, "trialsCompleted": trials_completed(event),
                          "trialsTotal": int(trial.get("trialsTotal") or 0), "epoch": 0, "epochs": 0})
            return {"trial": trial["index"], "phase": trial["phase"]}
        if step == "fit":
            checkpoints = stepwise.checkpoint_dir(layout)
            _download_prefix(work_uri(event, "search"), stepwise.search_dir(layout))
            _download_prefix(work_uri(event, "checkpoints"), checkpoints)
            code = stepwise.run_fit(root, log=log, should_stop=should_stop, budget_seconds=budget_seconds(context),
                                    progress=_counted(progress, event, stepwise.trials_total(layout)))
            if code == stepwise.CONTINUE:
                return _continue(layout, checkpoints, work_uri(event, "checkpoints"))
        else:
            code = entry.run(root, log=log, should_stop=should_stop)
        if code != 0:
            return {"failureReason": layout.read_failure() or "Training failed without saying why"}
        archive = artifacts.pack(layout.model_dir, os.path.join(root, artifacts.ARCHIVE))
        location = objects.put_file(artifacts.archive_key(event["outputUri"], job), archive)
    return {"modelArtifacts": location, "trainingTimeInSeconds": int(round(time.monotonic() - started))}


def _continue(layout, folder, uri):
    """A paused step: its checkpoint folder to S3, and the answer the state machine loops on."""
    _upload_folder(folder, uri)
    with open(os.path.join(layout.output_dir, stepwise.PROGRESS_FILE)) as f:
        return {"continue": True, "progress": json.load(f)}
