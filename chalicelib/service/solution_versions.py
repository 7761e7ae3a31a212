"""Solution versions (seed: CreateSolution "Status", DescribeSolutionVersion,
ListSolutionVersions; data types SolutionVersion, SolutionVersionSummary; the stock
CreateSolutionVersion so that a stock boto3 client can train).

A version is one training of a solution: `arn:...:solution/<name>/<version id>` (the seed's
Getting Started output shows 8 hex digits), CREATE PENDING -> CREATE IN_PROGRESS -> ACTIVE |
CREATE FAILED (with `failureReason`). It keeps a copy of the solution's settings at the time it
was created, so UpdateSolution does not change what a running training does.

One version trains at a time per solution: the solution record holds `trainingVersionArn` while
one is in flight, taken with a conditional write (a second CreateSolutionVersion gets
ResourceInUseException) and released when the version ends.

For the training workflow (tasks call these; none is an API operation):
- `training_spec(arn)`: what to train (recipes, hyperparameters, featurization, HPO, AutoML);
- `mark_solution_version(arn, status, failure_reason=None)`: lifecycle moves, conditional,
  keeping the solution's status in step (see `solutions`);
- `record_training_result(arn, ...)`: metrics, training hours, model location, AutoML result,
  tuned hyperparameters;
- `start_scheduled_version(solution_arn)`: the version a retraining schedule asks for;
- `latest_active_version(solution_arn)`;
- `stop_requested(arn)`: whether StopSolutionVersionCreation asked the trainer to stop, and
  `finish_stopping(arn)` once it has.

Today's API adds (stock CreateSolutionVersion, StopSolutionVersionCreation, SolutionVersion):
- `trainingType` MANUAL for a version a caller asked for, AUTOMATIC for one the solution's
  training schedule created;
- `trainingMode` UPDATE "can only be used when you already have an active solution version
  ... and the input solution was trained with the User-Personalization recipe or the legacy
  HRNN-Coldstart recipe": here the recipes of `UPDATABLE_RECIPES` (the HRNN family, which
  User-Personalization extends, and whose implementations `supports_warm_start`); any other is
  InvalidInputException naming trainingMode. An UPDATE is an incremental training: the trainer
  gets the previous ACTIVE version's model as its `model` input channel, carries its parameters
  over, places the items that are new and fine-tunes briefly (`chalicelib.workflows.training`,
  `chalicelib.algorithms.warm_start`);
- StopSolutionVersionCreation: CREATE PENDING -> CREATE STOPPED at once (nothing runs yet: the
  workflow, when it starts, finds it stopped); CREATE IN_PROGRESS -> CREATE STOPPING, then the
  trainer, which checks `stop_requested` between epochs and HPO trials, ends and the workflow
  records CREATE STOPPED (`finish_stopping`). A version that already ended (or is stopping)
  gives ResourceInUseException. The solution's training lock is released when it is STOPPED.
"""
import logging

from chalicelib.domain import arns, lifecycle
from chalicelib.protocol.errors import (InvalidInputException, ResourceInUseException,
                                        ResourceNotFoundException)
from chalicelib.service.registry import operation
from chalicelib.storage.resources import ConditionFailed, TransactionFailed, now, store

log = logging.getLogger(__name__)

TYPE = arns.SOLUTION_VERSION
TRAINING_LOCK = "trainingVersionArn"
TRAINING_MODES = ("FULL", "UPDATE")
# The recipes whose models an UPDATE may start from (see the module docstring); each one's
# implementation warm-starts (a unit test keeps them in step).
UPDATABLE_RECIPES = ("aws-hrnn", "aws-hrnn-metadata", "aws-hrnn-coldstart", "aws-user-personalization")
MANUAL, AUTOMATIC = "MANUAL", "AUTOMATIC"   # trainingType
SCHEDULE_TRIGGER = "retrainSchedule"
# Members a version copies from its solution when it is created.
SNAPSHOT = ("solutionArn", "datasetGroupArn", "recipeArn", "performAutoML", "performHPO",
            "eventType", "solutionConfig", "minProvisionedTPS")
SUMMARY = ("solutionVersionArn", "status", "trainingMode", "trainingType", "creationDateTime",
           "lastUpdatedDateTime", "failureReason")


def new_record(solution, trigger, training_mode="FULL", name=None):
    arn = f"{solution['solutionArn']}/{arns.new_id()}"
    created = now()
    record = {k: solution.get(k) for k in SNAPSHOT}
    record.update(arn=arn, solutionVersionArn=arn, name=name, trainingMode=training_mode,
                  trainingType=AUTOMATIC if trigger == SCHEDULE_TRIGGER else MANUAL,
                  trigger=trigger, status=lifecycle.CREATE_PENDING,
                  creationDateTime=created, lastUpdatedDateTime=created)
    return record


def get(arn):
    return store().require(arn, TYPE, "solution version")


def trained_recipe_arn(version):
    """The recipe a version's model was trained with: AutoML's pick, else the solution's."""
    return (version.get("autoMLResult") or {}).get("bestRecipeArn") \
        or version.get("trainedRecipeArn") or version.get("recipeArn")


def summary(version):
    return {k: version.get(k) for k in SUMMARY}


def start_training(version_arn):
    """Start the "training" workflow for a version (seed: CreateSolution trains a model).

    A workflow that cannot be started leaves the version CREATE FAILED saying why, rather than
    CREATE PENDING for ever."""
    from chalicelib.workflows import starter
    try:
        execution = starter.start_workflow("training", {"solutionVersionArn": version_arn})
    except Exception as e:  # noqa: BLE001 - the reason is shown to the user
        log.exception("could not start training for %s", version_arn)
        mark_solution_version(version_arn, lifecycle.CREATE_FAILED,
                              failure_reason=f"Training could not be started: {e}")
        return None
    _remember_execution(version_arn, execution)
    return execution


def _remember_execution(arn, execution):
    """The execution that moves the record, for the reconciler (workflows/reconcile.py)."""
    try:
        store().update(arn, {"executionArn": execution})
    except ConditionFailed:
        pass   # deleted meanwhile


def latest_active_version(solution_arn):
    """The newest ACTIVE version record of a solution, or None."""
    return next((v for v in store().iterate(TYPE, solution_arn)
                 if v.get("status") == lifecycle.ACTIVE), None)


def _check_updatable(solution_arn):
    previous = latest_active_version(solution_arn)
    if previous is None:
        raise InvalidInputException(
            f"trainingMode UPDATE needs an ACTIVE version of solution {solution_arn} to update")
    recipe = (trained_recipe_arn(previous) or "").rsplit("/", 1)[-1]
    if recipe not in UPDATABLE_RECIPES:
        raise InvalidInputException(
            f"trainingMode UPDATE is supported for recipes {', '.join(UPDATABLE_RECIPES)}; solution "
            f"{solution_arn} was trained with {recipe or 'a custom recipe'}: use trainingMode FULL")


def _take_lock_op(solution_arn, version_arn):
    return store().op_update(
        solution_arn, {TRAINING_LOCK: version_arn, "latestSolutionVersionArn": version_arn,
                       "lastUpdatedDateTime": now()},
        expect_status=[lifecycle.ACTIVE, lifecycle.CREATE_FAILED], absent=[TRAINING_LOCK])


def create_version(solution_arn, trigger, training_mode="FULL", name=None):
    """Store a new CREATE PENDING version of a solution that may train now; the seed's errors
    otherwise. Returns the record (training not started yet)."""
    s = store()
    solution = s.require(solution_arn, arns.SOLUTION, "solution")
    if training_mode not in TRAINING_MODES:
        raise InvalidInputException(
            f"trainingMode: {training_mode!r} is not one of {', '.join(TRAINING_MODES)}")
    if training_mode == "UPDATE":
        _check_updatable(solution_arn)
    version = new_record(solution, trigger, training_mode, name)
    try:
        s.transact([s.op_put_new(version, TYPE, parent_arn=solution_arn),
                    _take_lock_op(solution_arn, version["arn"])])
    except TransactionFailed:
        current = s.require(solution_arn, arns.SOLUTION, "solution")
        if current.get(TRAINING_LOCK):
            raise ResourceInUseException(
                f"Solution {solution_arn} is already training version {current[TRAINING_LOCK]}") from None
        raise ResourceInUseException(
            f"Solution {solution_arn} is {current.get('status')}; it cannot train now") from None
    return version


@operation("CreateSolutionVersion")
def create_solution_version(params):
    version = create_version(params["solutionArn"], "CreateSolutionVersion",
                             params.get("trainingMode") or "FULL", params.get("name"))
    start_training(version["arn"])
    return {"solutionVersionArn": version["arn"]}


@operation("StopSolutionVersionCreation")
def stop_solution_version_creation(params):
    arn = params["solutionVersionArn"]
    version = get(arn)
    target = {lifecycle.CREATE_PENDING: lifecycle.CREATE_STOPPED,
              lifecycle.CREATE_IN_PROGRESS: lifecycle.CREATE_STOPPING}.get(version["status"])
    if target is None:
        raise ResourceInUseException(
            f"Solution version {arn} is {version['status']}; only a version in CREATE PENDING or "
            "CREATE IN_PROGRESS can be stopped")
    try:
        mark_solution_version(arn, target)
    except lifecycle.TransitionRefused as e:   # it moved meanwhile
        raise ResourceInUseException(
            f"Solution version {arn} is {e.current}; only a version in CREATE PENDING or "
            "CREATE IN_PROGRESS can be stopped") from None
    if target == lifecycle.CREATE_STOPPING:
        from chalicelib.workflows import training
        training.stop_trainer(arn)
    return {}


def stop_requested(arn):
    """True once StopSolutionVersionCreation asked this version's training to stop (or it is gone)."""
    version = store().get(arn, TYPE)
    return version is None or version.get("status") in (lifecycle.CREATE_STOPPING, lifecycle.CREATE_STOPPED)


def finish_stopping(arn):
    """CREATE STOPPING -> CREATE STOPPED (the training has ended); a no-op otherwise."""
    try:
        return mark_solution_version(arn, lifecycle.CREATE_STOPPED)
    except lifecycle.TransitionRefused:
        return get(arn)


@operation("DescribeSolutionVersion")
def describe_solution_version(params):
    return {"solutionVersion": get(params["solutionVersionArn"])}


@operation("ListSolutionVersions")
def list_solution_versions(params):
    solution_arn = params.get("solutionArn")
    if solution_arn:
        store().require(solution_arn, arns.SOLUTION, "solution")
    records, token = store().list_page(TYPE, params, solution_arn)
    return {"solutionVersions": [summary(r) for r in records], "nextToken": token}


def model_prefix(version_arn):
    """The S3 key prefix under which a version's training writes (channel, output, model)."""
    solution_name, version_id = arns.parse(version_arn).parts[:2]
    return f"models/{solution_name}/{version_id}/"


def remove(version):
    """Delete a version record, then its objects: the model and the training prefix
    (DeleteSolution). The record goes first, so no record ever points at a deleted model;
    objects left behind by a crash in between are the garbage collector's."""
    from chalicelib.storage import objects
    try:
        store().delete(version["arn"])
    except ConditionFailed:
        pass  # already gone
    try:
        objects.delete_prefix(objects.internal_uri(model_prefix(version["arn"])))
        if version.get("modelKey"):
            objects.delete(version["modelKey"])
    except Exception:  # noqa: BLE001 - left for the garbage collector
        log.warning("could not delete the objects of %s", version["arn"], exc_info=True)


# ---- for the training workflow ------------------------------------------------------------

def _sync_solution(version, status):
    """Keep the solution's status and training lock in step with a version's move."""
    s, solution_arn, arn = store(), version["solutionArn"], version["arn"]
    if status in lifecycle.TERMINAL:
        try:
            s.update(solution_arn, remove=[TRAINING_LOCK], equals={TRAINING_LOCK: arn})
        except ConditionFailed:
            pass  # released already (a retried task) or never held
    target, previous = {
        lifecycle.CREATE_IN_PROGRESS: (lifecycle.CREATE_IN_PROGRESS, [lifecycle.CREATE_PENDING]),
        lifecycle.ACTIVE: (lifecycle.ACTIVE, [lifecycle.CREATE_PENDING, lifecycle.CREATE_IN_PROGRESS,
                                              lifecycle.CREATE_FAILED]),
        lifecycle.CREATE_FAILED: (lifecycle.CREATE_FAILED, [lifecycle.CREATE_PENDING,
                                                            lifecycle.CREATE_IN_PROGRESS]),
        # a preview solution whose first training was stopped has no model: it does not stay
        # CREATE IN_PROGRESS; an ACTIVE solution stays ACTIVE
        lifecycle.CREATE_STOPPED: (lifecycle.CREATE_FAILED, [lifecycle.CREATE_PENDING,
                                                             lifecycle.CREATE_IN_PROGRESS]),
    }.get(status, (None, None))
    if target is None:
        return
    changes = {"status": target, "lastUpdatedDateTime": now()}
    if status == lifecycle.ACTIVE and version.get("autoMLResult"):
        changes["autoMLResult"] = version["autoMLResult"]
    try:
        s.update(solution_arn, changes, expect_status=previous)
    except ConditionFailed:
        if status == lifecycle.ACTIVE and version.get("autoMLResult"):
            try:  # already ACTIVE: the newest trained version still has the latest AutoML result
                s.update(solution_arn, {"autoMLResult": version["autoMLResult"]},
                         expect_status=[lifecycle.ACTIVE])
            except ConditionFailed:
                pass


def solution_follows_version(version):
    """The solution (and its training lock) in step with `version` once it has ended: for the
    reconciler, when a kill came between the version's move and the solution's (two writes)."""
    _sync_solution(version, version.get("status"))


def mark_solution_version(arn, status, failure_reason=None, **fields):
    """Move a version to `status` (conditional on the lifecycle table: a retried task is a
    no-op, a backwards move raises lifecycle.TransitionRefused), with `failureReason` for
    CREATE FAILED; the solution follows. Returns the version record."""
    version = store().transition(arn, status, failure_reason=failure_reason, **fields)
    _sync_solution(version, status)
    return version


def record_training_result(arn, *, metrics=None, training_hours=None, model_key=None,
                           best_recipe_arn=None, tuned_hyperparameters=None, recipe_arn=None):
    """Record what a training produced on a version still in flight (before it is marked
    ACTIVE): metrics (name -> number, as GetSolutionMetrics shows them), trainingHours, the
    model's S3 location, the AutoML winner (`autoMLResult.bestRecipeArn`, one of the version's
    recipeList) and the hyperparameters HPO chose (`tunedHPOParams`)."""
    version = get(arn)
    changes = {"lastUpdatedDateTime": now()}
    if metrics is not None:
        changes["metrics"] = {str(k): float(v) for k, v in metrics.items()}
    if training_hours is not None:
        changes["trainingHours"] = float(training_hours)
    if model_key is not None:
        changes["modelKey"] = model_key
    if best_recipe_arn is not None:
        best = best_recipe_arn
        listed = ((version.get("solutionConfig") or {}).get("autoMLConfig") or {}).get("recipeList") or []
        if not version.get("performAutoML") or best not in listed:
            raise ValueError(f"{best_recipe_arn} is not a recipe AutoML considered for {arn}")
        changes["autoMLResult"] = {"bestRecipeArn": best}
    if tuned_hyperparameters is not None:
        changes["tunedHPOParams"] = {"algorithmHyperParameters": {
            str(k): _hp_text(v) for k, v in tuned_hyperparameters.items()}}
    if recipe_arn is not None:
        changes["trainedRecipeArn"] = recipe_arn
    try:
        return store().update(arn, changes, expect_status=lifecycle.IN_FLIGHT)
    except ConditionFailed as e:
        raise lifecycle.TransitionRefused(arn, (e.current or {}).get("status"),
                                          "recording results") from None


# trainingProgress (a project extension of SolutionVersion, specs/personalize.json): the fields
# the trainer reports; elapsedSeconds and updatedDateTime are stamped here.
PROGRESS_FIELDS = ("stage", "trialsCompleted", "trialsTotal", "currentTrial", "epoch", "epochs")
PROGRESS_STAGES = ("training", "hpo", "evaluation", "final")


def record_progress(arn, fields, *, start=False):
    """Set the version's `trainingProgress` from `fields` (PROGRESS_FIELDS; `currentTrial`
    only while a trial runs) while it trains: `elapsedSeconds` since the training began
    (`trainingStartedDateTime`, set when `start`), `updatedDateTime` now. A version that has
    ended, or is being stopped, keeps what it has (False is returned); the last figures stay
    on the version once it is ACTIVE or failed."""
    stamp = now()
    progress = {k: fields[k] for k in PROGRESS_FIELDS if fields.get(k) is not None}
    if progress.get("stage") not in PROGRESS_STAGES:
        raise ValueError(f"trainingProgress.stage: {progress.get('stage')!r} is not one of {PROGRESS_STAGES}")
    for k in PROGRESS_FIELDS[1:]:
        if k in progress:
            progress[k] = int(progress[k])
    changes = {"trainingProgress": progress}
    if start:
        changes["trainingStartedDateTime"] = stamp
        began = stamp
    else:
        version = get(arn)
        began = version.get("trainingStartedDateTime") or stamp
        # parallel trials count the finished ones at different moments: never show fewer
        before = (version.get("trainingProgress") or {}).get("trialsCompleted")
        if before is not None and "trialsCompleted" in progress:
            progress["trialsCompleted"] = max(int(before), progress["trialsCompleted"])
    progress.update(elapsedSeconds=round(max(0.0, (stamp - began).total_seconds()), 3), updatedDateTime=stamp)
    try:
        store().update(arn, changes, expect_status=(lifecycle.CREATE_IN_PROGRESS,))
        return True
    except ConditionFailed:
        return False


def _hp_text(value):
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _candidate(recipe_arn, hyperparameters=None, ft_overrides=None):
    from chalicelib.service import algorithms, recipes
    checked = recipes.training_parameters(recipe_arn, hyperparameters, ft_overrides)
    recipe = checked["recipe"]
    builtin = recipes.builtin_of(recipe["recipeArn"])
    out = {
        "recipeArn": recipe["recipeArn"], "recipeName": recipe["name"],
        "recipeType": recipe["recipeType"], "builtin": builtin is not None,
        "algorithmArn": recipe.get("algorithmArn"),
        # the SageMaker contract passes hyperparameters as strings. A predefined recipe gets
        # only what the caller set (checked): our trainer fills in the defaults and may tell
        # a default from a choice (HRNN's training.epochs, see algorithms/hrnn.py)
        "algorithmHyperParameters": {k: _hp_text(v) for k, v in
                                     checked["algorithmHyperParameters"].items()
                                     if builtin is None or k in checked["givenHyperParameters"]},
        "featureTransformationParameters": checked["featureTransformationParameters"],
    }
    if builtin is None and recipe.get("algorithmArn"):
        algorithm = algorithms.get(recipe["algorithmArn"])
        out.update(algorithmImage=algorithm.get("algorithmImage"),
                   trainingInputMode=algorithm.get("trainingInputMode"),
                   roleArn=algorithm.get("roleArn"),
                   defaultResourceConfig=algorithm.get("defaultResourceConfig"))
    elif recipe.get("algorithmArn"):
        out["defaultResourceConfig"] = algorithms.get(recipe["algorithmArn"])["defaultResourceConfig"]
    return out


def training_spec(arn):
    """Everything the training workflow needs for a version, resolved and validated:

    {"solutionVersionArn", "solutionArn", "solutionName", "versionId", "datasetGroupArn",
     "eventType", "eventValueThreshold" (float|None), "trainingMode", "performAutoML",
     "performHPO", "autoMLMetric" (str|None), "candidates": [{"recipeArn", "recipeName",
     "recipeType", "builtin", "algorithmArn", "algorithmHyperParameters" (strings),
     "featureTransformationParameters" (floats), ...custom: "algorithmImage",
     "trainingInputMode", "roleArn"; "defaultResourceConfig"}], "hpoConfig" (dict|None),
     "previousSolutionVersionArn" (str|None), "modelPrefix" (S3 key prefix for artifacts)}

    Under AutoML the candidates are the recipeList with their defaults (seed: other solution
    configuration properties are ignored); otherwise the one recipe with the overrides."""
    version = get(arn)
    config = version.get("solutionConfig") or {}
    if version.get("performAutoML"):
        automl = config.get("autoMLConfig") or {}
        candidates = [_candidate(r) for r in automl.get("recipeList") or []]
        metric, hpo = automl.get("metricName"), None
    else:
        candidates = [_candidate(version["recipeArn"], config.get("algorithmHyperParameters"),
                                 config.get("featureTransformationParameters"))]
        metric = None
        hpo = config.get("hpoConfig") if version.get("performHPO") else None
    # under AutoML "all solution configuration properties, except autoMLConfig, are ignored"
    threshold = None if version.get("performAutoML") else config.get("eventValueThreshold")
    previous = latest_active_version(version["solutionArn"]) if version.get("trainingMode") == "UPDATE" else None
    solution_name, version_id = arns.parse(arn).parts[:2]
    return {
        "solutionVersionArn": arn, "solutionArn": version["solutionArn"],
        "solutionName": solution_name, "versionId": version_id,
        "datasetGroupArn": version["datasetGroupArn"], "eventType": version.get("eventType"),
        "eventValueThreshold": float(threshold) if threshold not in (None, "") else None,
        "trainingMode": version.get("trainingMode") or "FULL",
        "performAutoML": bool(version.get("performAutoML")),
        "performHPO": bool(version.get("performHPO")),
        "autoMLMetric": metric, "candidates": candidates, "hpoConfig": hpo,
        "previousSolutionVersionArn": previous["arn"] if previous else None,
        "modelPrefix": model_prefix(arn),
    }


def start_scheduled_version(solution_arn):
    """For a retraining schedule's workflow run: create the version to train, or skip.

    Returns {"solutionVersionArn": arn} (CREATE PENDING; the caller trains it in the same
    execution) or {"skipped": reason} when the solution is gone or busy."""
    try:
        version = create_version(solution_arn, SCHEDULE_TRIGGER)
    except (ResourceNotFoundException, ResourceInUseException, InvalidInputException) as e:
        return {"skipped": e.message}
    return {"solutionVersionArn": version["arn"]}
