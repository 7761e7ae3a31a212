"""The training workflow's steps (`infrastructure/statemachines/training.asl.json`).

Seed: CreateSolution ("Creates a solution by training a model"; status CREATE PENDING > CREATE
IN_PROGRESS > ACTIVE -or- CREATE FAILED with `failureReason`; "Scheduling"), the stock
CreateSolutionVersion, DescribeSolutionVersion, GetMetrics, "Creating a Campaign" (AUTO campaigns
get the latest version), "Limits" (at least 1000 data points to train).

Execution input: `{"solutionVersionArn"}` (CreateSolution, CreateSolutionVersion) or
`{"solutionArn"}` (the solution's retraining rule, see `solutions._apply_schedule`). Steps:

1. `training.schedule`  (scheduled input only) create the version to train, or skip the tick when
                        the solution is busy or gone (`solution_versions.start_scheduled_version`).
2. `training.prepare`   version -> CREATE IN_PROGRESS; resolve what to train (`training_spec`);
                        load the training view with the solution's filters; check the seed's
                        minimum; write the `train` channel under the version's S3 prefix; build
                        the contract's hyperparameters; name the training backend
                        (`config.training_backend()`: `lambda` or `sagemaker`). What cannot be
                        trained is an answer (`failureReason`), not an error, so it is not retried.
                        trainingMode UPDATE (stock CreateSolutionVersion) fine-tunes the previous
                        ACTIVE version's model: its recipe and tuned hyperparameters, no AutoML/HPO,
                        `_training_mode` UPDATE, and a second input channel `model` (the S3
                        prefix of the previous model.tar.gz; on SageMaker one more
                        InputDataConfig entry, on the trainer Lambda one more folder under
                        /opt/ml/input/data/) that the trainer warm-starts from
                        (`chalicelib.algorithms.warm_start`).
3. train                the trainer Lambda (`chalicelib.training.lambda_trainer`) or a SageMaker
                        training job; both leave `<outputUri>/<job>/output/model.tar.gz`.
                        On the lambda backend in steps (`chalicelib.training.stepwise`):
                        `training.plan_search` names the next round of AutoML candidates / HPO
                        trials, a Map state (MaxConcurrencyPath `prepared.maxConcurrency`,
                        `config.trainer_max_concurrency`) runs each in its own trainer
                        invocation, until plan_search writes the choice; then the trainer fits,
                        answering `continue` after a checkpoint until the fit is done.
4. `training.register`  metrics, training hours, model archive, AutoML winner and tuned
                        hyperparameters onto the version, then ACTIVE.
5. `training.update_campaigns` deploy the new version to the solution's AUTO campaigns.
6. `training.fail`      (Choice on a failureReason, or Catch on any step) CREATE FAILED with the
                        reason, unless the version already ended (a campaign update that failed
                        after ACTIVE leaves the version ACTIVE).

StopSolutionVersionCreation (today's API): a version stopped while CREATE PENDING is CREATE
STOPPED before prepare runs, and prepare answers that as its failureReason; one stopped while
training is CREATE STOPPING: the trainer Lambda asks `solution_versions.stop_requested` at every
progress report (`trainer` passes the check down; `chalicelib.training.entry`), a SageMaker job
is stopped with StopTrainingJob (`stop_trainer`); register skips a version that is stopping, and
`fail` records CREATE STOPPED instead of CREATE FAILED.

Every step is idempotent: status moves are conditional, prepare rewrites its own channel,
register recognises a version it already registered.
"""
from __future__ import annotations

import json
import logging
import re
import tempfile
import zlib

from chalicelib import config
from chalicelib.domain import lifecycle
from chalicelib.domain.limits import MIN_TRAINING_INTERACTIONS
from chalicelib.protocol.errors import ServiceError
from chalicelib.storage import objects
from chalicelib.workflows import failures
from chalicelib.workflows.tasks import task

log = logging.getLogger(__name__)

DEFAULT_AUTOML_METRIC = "precision_at_25"   # seed, Getting Started: describe-solution output
MAX_JOB_NAME = 58   # SageMaker allows 63; the state machine appends "-<retry count>"
MAX_HYPERPARAMETER_TEXT = 2500   # CreateTrainingJob: the longest HyperParameters value


def _versions():
    from chalicelib.service import solution_versions
    return solution_versions


def _version_arn(state):
    return state.get("solutionVersionArn") or (state.get("scheduled") or {}).get("solutionVersionArn") \
        or (state.get("prepared") or {}).get("solutionVersionArn")


def channel_prefix(spec):
    return objects.internal_uri(f"{spec['modelPrefix']}input/{_channel_name()}/")


def _channel_name():
    from chalicelib.training.contract import TRAIN_CHANNEL
    return TRAIN_CHANNEL


def input_channels(spec, train_prefix):
    """{channel: S3 prefix}: `train`, plus `model` (the folder of the previous ACTIVE version's
    model.tar.gz) for an UPDATE. ValueError when the previous version has no model."""
    from chalicelib.training.contract import MODEL_CHANNEL
    channels = {_channel_name(): train_prefix}
    if spec["trainingMode"] == "UPDATE" and spec.get("previousSolutionVersionArn"):
        key = _versions().get(spec["previousSolutionVersionArn"]).get("modelKey")
        if not key:
            raise ValueError(f"trainingMode UPDATE: version {spec['previousSolutionVersionArn']} has no model")
        channels[MODEL_CHANNEL] = key.rsplit("/", 1)[0] + "/"
    return channels


def input_data_config(channels):
    """SageMaker's InputDataConfig for the channels (CreateTrainingJob, File mode)."""
    return [{"ChannelName": name, "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": uri, "S3DataDistributionType": "FullyReplicated"}}}
        for name, uri in channels.items()]


def training_job_name(spec):
    """`<solution>-<version id>`, within SageMaker's TrainingJobName rules."""
    base = re.sub(r"[^A-Za-z0-9-]+", "-", spec["solutionName"]).strip("-") or "solution"
    suffix = f"-{spec['versionId']}"
    return (base[:MAX_JOB_NAME - len(suffix)].rstrip("-") or "solution") + suffix


def training_seed(version_id):
    """A fixed seed per version: the same version always splits and trains the same way."""
    try:
        return int(version_id, 16) % (2 ** 31)
    except ValueError:
        return zlib.crc32(version_id.encode()) % (2 ** 31)


@task("training.schedule")
def schedule(state):
    # seed, CreateSolution "Scheduling": "Training is repeated at the frequency defined by its
    # retrainSchedule key".
    solution_arn = state.get("solutionArn")
    if not solution_arn:
        raise ValueError("the training workflow needs solutionVersionArn or solutionArn in its input")
    return _versions().start_scheduled_version(solution_arn)


def _implementation(candidate):
    """The registry name that trains a candidate recipe, or (None, why)."""
    from chalicelib.algorithms import registry
    from chalicelib.service import algorithms
    name = candidate["recipeName"]
    if not candidate.get("builtin"):
        builtin = algorithms.builtin_recipe_of(candidate.get("algorithmArn") or "")
        if builtin is None:
            return None, (f"recipe {candidate['recipeArn']} uses a custom algorithm image, which this "
                          "deployment's trainer does not run")
        name = builtin.name
    if name not in registry.available_recipes():
        return None, f"recipe {candidate['recipeArn']} has no implementation in this deployment's trainer"
    return name, None


def _plan(spec):
    """(recipes entries, perform_automl, perform_hpo, hpo_config) or raise ValueError(reason)."""
    sv = _versions()
    if spec["trainingMode"] == "UPDATE" and spec.get("previousSolutionVersionArn"):
        # An UPDATE retrains what the previous ACTIVE version chose (recipe and tuned
        # hyperparameters) on the current data, without searching again.
        previous = sv.get(spec["previousSolutionVersionArn"])
        chosen = (previous.get("autoMLResult") or {}).get("bestRecipeArn") or previous.get("trainedRecipeArn")
        tuned = ((previous.get("tunedHPOParams") or {}).get("algorithmHyperParameters"))
        match = [c for c in spec["candidates"] if c["recipeArn"] == chosen] or spec["candidates"][:1]
        candidate = dict(match[0])
        if tuned:
            candidate["algorithmHyperParameters"] = dict(tuned)
        entries, skipped = _entries([candidate])
        return entries, False, False, None, skipped
    entries, skipped = _entries(spec["candidates"])
    return entries, spec["performAutoML"], spec["performHPO"], spec.get("hpoConfig"), skipped


def _entries(candidates):
    entries, skipped = [], []
    for c in candidates:
        name, why = _implementation(c)
        if name is None:
            skipped.append(why)
            continue
        entries.append({"recipe": name, "recipeArn": c["recipeArn"],
                        "hyperparameters": dict(c.get("algorithmHyperParameters") or {}),
                        "featureTransformationParameters": c.get("featureTransformationParameters") or {}})
    if not entries:
        raise ValueError("Nothing to train: " + "; ".join(skipped))
    return entries, skipped


def contract_hyperparameters(entries, *, seed, automl, automl_metric, hpo, hpo_config,
                             training_mode="FULL"):
    """The training job's HyperParameters (all strings; keys in `chalicelib.training.contract`)."""
    ft = entries[0].get("featureTransformationParameters") or {}
    listed = [{"recipe": e["recipe"], "recipeArn": e["recipeArn"]} for e in entries]
    out = {}
    if len(entries) == 1:
        out.update({k: str(v) for k, v in entries[0]["hyperparameters"].items()})
    else:
        for item, e in zip(listed, entries):
            item["hyperparameters"] = e["hyperparameters"]
    out.update({"_recipes": json.dumps(listed, separators=(",", ":")), "_seed": str(seed),
                "_perform_automl": "true" if automl else "false",
                "_automl_metric": automl_metric or DEFAULT_AUTOML_METRIC,
                "_perform_hpo": "true" if hpo else "false",
                "_feature_transformation": json.dumps(ft, separators=(",", ":")),
                "_training_mode": training_mode})
    if hpo and hpo_config:
        out["_hpo_config"] = json.dumps(hpo_config, separators=(",", ":"))
    return out


@task("training.prepare")
def prepare(state):
    from chalicelib.datasets.training_view import NoTrainingData, load_training_data
    from chalicelib.training import channel
    from chalicelib.training.contract import STOPPED_REASON
    sv = _versions()
    arn = _version_arn(state)
    answer = {"solutionVersionArn": arn}
    if sv.stop_requested(arn):
        return dict(answer, failureReason=STOPPED_REASON)
    sv.mark_solution_version(arn, lifecycle.CREATE_IN_PROGRESS)
    try:
        spec = sv.training_spec(arn)
        entries, automl, hpo, hpo_config, skipped = _plan(spec)
        channels = input_channels(spec, channel_prefix(spec))
    except (ServiceError, ValueError) as e:
        return dict(answer, failureReason=f"The solution cannot be trained: {getattr(e, 'message', e)}")
    try:
        data = load_training_data(spec["datasetGroupArn"], spec["eventType"], spec["eventValueThreshold"])
    except NoTrainingData as e:
        return dict(answer, failureReason=f"No training data: {e}")
    n = len(data.interactions)
    if n < MIN_TRAINING_INTERACTIONS:
        return dict(answer, failureReason=(
            f"Training needs at least {MIN_TRAINING_INTERACTIONS} interactions (seed, Limits: minimum "
            f"number of data points required for training a model); the dataset group has {n} after "
            f"the solution's filters (eventType={spec['eventType']!r}, "
            f"eventValueThreshold={spec['eventValueThreshold']!r})"))
    prefix = channel_prefix(spec)
    objects.delete_prefix(prefix)   # a retried attempt writes its channel from scratch
    with tempfile.TemporaryDirectory(prefix="training-channel-") as tmp:
        for path in channel.write_channel(data, tmp):
            objects.put_file(prefix + path.rsplit("/", 1)[-1], path)
    hyperparameters = contract_hyperparameters(
        entries, seed=training_seed(spec["versionId"]), automl=automl,
        automl_metric=spec.get("autoMLMetric"), hpo=hpo, hpo_config=hpo_config,
        training_mode="UPDATE" if len(channels) > 1 else "FULL")
    too_long = sorted(k for k, v in hyperparameters.items() if len(v) > MAX_HYPERPARAMETER_TEXT)
    if too_long and config.training_backend() == "sagemaker":
        return dict(answer, failureReason=(
            f"The training settings are too large for a SageMaker training job ({', '.join(too_long)} "
            f"longer than {MAX_HYPERPARAMETER_TEXT} characters); list fewer recipes or ranges"))
    job = training_job_name(spec)
    output_uri = objects.internal_uri(f"{spec['modelPrefix']}output/")
    for part in _work_uris({"trainingJobName": job, "outputUri": output_uri}):
        objects.delete_prefix(part)   # a retried prepare starts the search and the fit afresh
    from chalicelib.training import stepwise
    try:
        total = stepwise.search_size(hyperparameters)
    except ValueError:   # the trainer reports it as the failureReason
        total = 0
    sv.record_progress(arn, {"stage": "training", "trialsCompleted": 0, "trialsTotal": total,
                             "epoch": 0, "epochs": 0}, start=True)
    return dict(answer, backend=config.training_backend(), trainingJobName=job,
                maxConcurrency=config.trainer_max_concurrency(),
                hyperparameters=hyperparameters, channels=channels,
                inputDataConfig=input_data_config(channels),
                outputUri=output_uri, interactions=n, skippedRecipes=skipped)


def _work_uris(prepared):
    from chalicelib.training import lambda_trainer
    return [lambda_trainer.work_uri(prepared, part) for part in ("search", "checkpoints")]


def _search_results(prepared):
    """{phase: {index: trial file}} of the trials already run (`stepwise.plan_search`)."""
    from chalicelib.training import lambda_trainer
    done = {}
    for obj in objects.list_prefix(lambda_trainer.work_uri(prepared, "search")):
        phase, _, index = obj["key"].rsplit("/", 1)[-1].removesuffix(".json").partition("-")
        if index.isdigit():
            done.setdefault(phase, {})[int(index)] = json.loads(objects.get_bytes(obj["location"]))
    return done


@task("training.plan_search")
def plan_search(state):
    """The next round of trials (`{"next": "trials", "trials"}`) or, once the search is over, the
    choice written to `<job>/search/chosen.json` (`{"next": "fit", ...}`); an impossible search
    (every trial failed) is a failureReason. trainingHours shows the time spent so far."""
    from chalicelib.training import lambda_trainer, stepwise
    prepared = state["prepared"]
    done = _search_results(prepared)
    try:
        planned = stepwise.plan_search(prepared["hyperparameters"], done)
    except ValueError as e:
        return {"failureReason": str(e)}
    seconds = sum(f.get("seconds") or 0.0 for files in done.values() for f in files.values())
    if seconds:
        _versions().record_training_result(_version_arn(state), training_hours=seconds / 3600.0)
    completed = sum(map(len, done.values()))
    if "trials" in planned:
        trials = planned["trials"]
        _versions().record_progress(_version_arn(state), {
            "stage": "hpo", "trialsCompleted": completed, "trialsTotal": trials[0]["trialsTotal"],
            "epoch": 0, "epochs": 0})
        log.info(json.dumps({"training": "round", "job": prepared["trainingJobName"], "phase": trials[0]["phase"],
                             "trials": [t["index"] for t in trials], "done": sum(map(len, done.values()))}))
        return {"next": "trials", "trials": trials}
    chosen = planned["chosen"]
    objects.put_bytes(lambda_trainer.work_uri(prepared, "search") + stepwise.CHOSEN_FILE,
                      json.dumps(chosen).encode())
    _versions().record_progress(_version_arn(state), {
        "stage": "evaluation", "trialsCompleted": completed, "trialsTotal": chosen["trialsTotal"],
        "epoch": 0, "epochs": 0})
    log.info(json.dumps({"training": "chosen", "job": prepared["trainingJobName"], "recipe": chosen["recipe"],
                         "hyperparameters": chosen["hyperparameters"]}))
    return {"next": "fit", "recipe": chosen["recipe"], "recipeArn": chosen["recipeArn"]}


@task("training.register")
def register(state):
    from chalicelib.training import artifacts
    sv = _versions()
    arn = _version_arn(state)
    model_key = state["trained"]["modelArtifacts"]
    version = sv.get(arn)
    if version["status"] == lifecycle.ACTIVE and version.get("modelKey") == model_key:
        return {"modelKey": model_key, "alreadyRegistered": True}   # a retried step
    if sv.stop_requested(arn):   # the trainer finished before it noticed the stop
        sv.finish_stopping(arn)
        _delete_channel(state)
        return {"stopped": True}
    outcome = artifacts.training_outcome(model_key)
    metrics, report = outcome["metrics"], outcome["report"]
    if not metrics:
        raise ValueError(f"the model archive {model_key} has no metrics.json")
    seconds = report.get("trainingSeconds") or state["trained"].get("trainingTimeInSeconds") or 0
    hpo = report.get("hpo") or {}
    sv.record_training_result(
        arn, metrics=metrics, training_hours=float(seconds) / 3600.0, model_key=model_key,
        best_recipe_arn=(report.get("automl") or {}).get("bestRecipeArn"),
        tuned_hyperparameters=report.get("hyperparameters") if "trials" in hpo else None,
        recipe_arn=report.get("recipeArn"))
    sv.mark_solution_version(arn, lifecycle.ACTIVE)
    _delete_channel(state)
    return {"modelKey": model_key, "recipeArn": report.get("recipeArn"),
            "trainingHours": float(seconds) / 3600.0}


@task("training.update_campaigns")
def update_campaigns(state):
    from chalicelib.service import campaigns
    if (state.get("registered") or {}).get("stopped"):
        return {"updatedCampaigns": []}
    return {"updatedCampaigns": campaigns.auto_update_campaigns(_version_arn(state))}


def _delete_channel(state):
    """The channel, the trial results and the checkpoints (the model stays)."""
    prepared = state.get("prepared") or {}
    prefix = (prepared.get("channels") or {}).get(_channel_name())
    if not prefix:
        return
    try:
        objects.delete_prefix(prefix)
        for part in _work_uris(prepared):
            objects.delete_prefix(part)
    except Exception:  # noqa: BLE001 - a leftover channel is harmless; DeleteSolution removes it
        log.warning("could not delete the training channel %s", prefix, exc_info=True)


def failure_reason(state) -> str:
    """The version's failureReason: an answer of prepare or the trainer, or the caught error."""
    return failures.failure_reason(
        state, answered_by=("prepared", "trained"), activity="training",
        timeout_reason=("Training did not finish in time (a step timed out): a trainer invocation "
                        "allows 15 minutes; lower TRAINER_TIME_BUDGET_SECONDS (one epoch must fit in "
                        "it), or use the sagemaker backend"))


@task("training.fail")
def fail(state):
    sv = _versions()
    reason = failure_reason(state)
    arn = _version_arn(state)
    if not arn:   # a scheduled execution failed before it had a version
        log.error("training execution failed before a version existed: %s", reason)
        return {"failureReason": reason}
    _delete_channel(state)
    try:
        version = sv.get(arn)
    except ServiceError:
        return {"failureReason": reason, "versionGone": True}
    if version["status"] == lifecycle.CREATE_STOPPING:
        sv.finish_stopping(arn)
        return {"stopped": True}
    if version["status"] in lifecycle.TERMINAL:
        log.error("training of %s failed after it ended %s: %s", arn, version["status"], reason)
        return {"failureReason": reason, "status": version["status"]}
    sv.mark_solution_version(arn, lifecycle.CREATE_FAILED, failure_reason=reason)
    return {"failureReason": reason}


def trainer(event, context=None):
    """The trainer Lambda's body (app.py `trainer`); it stops when the version is being stopped,
    and records the trainer's progress reports as the version's trainingProgress. A fit that
    paused shows its time so far as the version's trainingHours."""
    from chalicelib.training import lambda_trainer
    arn = event.get("solutionVersionArn")
    should_stop = (lambda: _versions().stop_requested(arn)) if arn else None
    progress = (lambda fields: _versions().record_progress(arn, fields)) if arn else None
    kwargs = {} if context is None else {"context": context}
    answer = lambda_trainer.handle(event, should_stop=should_stop, progress=progress, **kwargs)
    if arn and answer.get("continue") and event.get("step") == "fit":
        _versions().record_training_result(arn, training_hours=answer["progress"]["seconds"] / 3600.0)
    return answer


def stop_trainer(version_arn):
    """StopSolutionVersionCreation's part on the sagemaker backend: StopTrainingJob for the
    version's job (named by `training_job_name`, with the state machine's retry suffix). The
    lambda backend needs nothing: its trainer polls `stop_requested`."""
    if config.training_backend() != "sagemaker":
        return []
    from chalicelib.domain import arns
    from chalicelib.storage.clients import client
    solution_name, version_id = arns.parse(version_arn).parts[:2]
    base = training_job_name({"solutionName": solution_name, "versionId": version_id})
    sagemaker, stopped = client("sagemaker"), []
    for attempt in range(2):   # TrainOnSageMaker retries once
        try:
            sagemaker.stop_training_job(TrainingJobName=f"{base}-{attempt}")
            stopped.append(f"{base}-{attempt}")
        except sagemaker.exceptions.ClientError as e:
            # not started yet, or already ended: the workflow's own checks cover both
            log.info("StopTrainingJob %s-%s: %s", base, attempt, e)
    return stopped
