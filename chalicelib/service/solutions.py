"""Solutions (seed: "Creating a Solution", "Overriding Default Recipe Parameters"; API Reference:
CreateSolution, DescribeSolution, ListSolutions, UpdateSolution, DeleteSolution; data types
Solution, SolutionConfig, AutoMLConfig, HPOConfig, SolutionSummary).

Two dialects (`chalicelib.service.dialects`, rows CreateSolution / UpdateSolution): a request in
the preview's shape (with minProvisionedTPS) gets the seed's CreateSolution, which "creates a
solution by training a model": it stores the solution and its first solution version (both
CREATE PENDING) and starts the training workflow for that version
(`solution_versions.start_training`). A request in today's shape stores an ACTIVE solution and
trains nothing (today's CreateSolution: "Creates the configuration for training a model";
CreateSolutionVersion trains), performHPO defaults to false, and automatic training is
today's: performAutoTraining (default true) every autoTrainingConfig.schedulingExpression
(rate(N days), N 1..30, default 7), each run a FULL version with trainingType AUTOMATIC. The solution's status follows its versions: CREATE
IN_PROGRESS while the first one trains, ACTIVE once any version is ACTIVE ("at least one
version ... has attained a training status of ACTIVE"), CREATE FAILED when it has none and the
last one failed; a later version that trains brings a failed solution to ACTIVE.

Rules the service model cannot express (all InvalidInputException unless said):
- the dataset group exists (ResourceNotFoundException), is ACTIVE and has an INTERACTIONS
  dataset; `eventType` needs an EVENT_TYPE field in its schema, `eventValueThreshold` (a number)
  an EVENT_VALUE field;
- "Either performAutoML or recipeArn must be specified but not both"; the recipe exists
  (ResourceNotFoundException); with performAutoML, performHPO "is always true and you should not
  set it to false", and `autoMLConfig` defaults to precision_at_25 over the recipes the seed marks
  for AutoML (its recipeList: existing recipes of one recipe type; its metricName: a metric we
  report); autoMLConfig without performAutoML is refused; "all solution configuration
  properties, except autoMLConfig [and the retraining members], are ignored" under AutoML;
- with a recipe: `algorithmHyperParameters` typed and range-checked (predefined recipes via
  `domain.recipes.parse_hyperparameters`, custom ones against their algorithm's ranges),
  `featureTransformationParameters` against the recipe's transformation, `hpoConfig` ranges
  against the algorithm's tunable ranges, its objective type Maximize|Minimize and its resource
  config positive integers;
- `retrainSchedule` is a cron/rate expression no more frequent than 30 minutes (seed, "Limits");
  `retrainingMode` defaults to MANUAL when a schedule is given and to AUTO otherwise (data type
  SolutionConfig: "If retrainSchedule is not provided, the mode defaults to 'AUTO'"); AUTO
  "retrains the solution with a predefined default for the recipe": ours is `rate(7 days)`;
  a schedule with mode AUTO is contradictory and refused. MANUAL without a schedule retrains only
  when asked (what the Getting Started output shows). The rule starts the "training" workflow
  with {"solutionArn"}; its first task creates the version (`solution_versions.
  start_scheduled_version`).
- `minProvisionedTPS` (required by the seed, absent from today's API) defaults to 1 and is >= 1.

UpdateSolution ("The solution must be in the ACTIVE state", "doesn't trigger retraining"): the
seed's replaces the members of solutionConfig it names, checked as at creation, and an empty
retrainSchedule stops scheduled training; today's changes performAutoTraining and
solutionUpdateConfig.autoTrainingConfig and records latestSolutionUpdate (ACTIVE once the
schedule is in place, CREATE FAILED with failureReason, the old settings kept, if it could not be). DeleteSolution refuses while a campaign uses the
solution or a version is training (ResourceInUseException) and removes the solution, its
versions and their model objects at once (no work remains, so no DELETE states are shown).
"""
import json
import math
import re

from chalicelib.domain import arns, lifecycle, schedules
from chalicelib.domain import recipes as catalog
from chalicelib.protocol.errors import (InvalidInputException, ResourceAlreadyExistsException,
                                        ResourceInUseException, ResourceNotFoundException)
from chalicelib.service import dataset_groups, dialects, metrics, recipes, solution_versions
from chalicelib.service.registry import operation
from chalicelib.storage import references
from chalicelib.storage.resources import ConditionFailed, TransactionFailed, now, store

TYPE = arns.SOLUTION
AUTO, MANUAL = "AUTO", "MANUAL"
AUTO_RETRAIN_SCHEDULE = "rate(7 days)"
DEFAULT_AUTOML_METRIC = "precision_at_25"   # seed, Getting Started: describe-solution output
HPO_OBJECTIVE_TYPES = ("Maximize", "Minimize")
TRAINING_LOCK = solution_versions.TRAINING_LOCK
DIALECT = "dialect"     # stored: the dialect of the CreateSolution request (`service.dialects`)


def _default(member, fallback):
    """The default the shipped model documents for a CreateSolution member (x-default)."""
    try:
        from chalicelib.protocol.models import member_default
        value = member_default("personalize", "CreateSolution", member)
    except (ImportError, KeyError):
        value = None
    return fallback if value is None else value


def get(arn):
    return store().require(arn, TYPE, "solution")


def solution_arn(name):
    return arns.build(TYPE, name)


# ---- validation ----------------------------------------------------------------------------

def _schema_fields(group_arn):
    """Field names of the INTERACTIONS dataset's schema; InvalidInputException if there is none."""
    dataset = store().get(arns.dataset(group_arn, "INTERACTIONS"), arns.DATASET)
    if dataset is None:
        raise InvalidInputException(
            f"Dataset group {group_arn} has no INTERACTIONS dataset; a solution trains on one")
    schema = store().get(dataset.get("schemaArn"), arns.SCHEMA) or {}
    try:
        fields = json.loads(schema.get("schema") or "{}").get("fields") or []
    except ValueError:
        fields = []
    return {f.get("name") for f in fields if isinstance(f, dict)}


def _check_number(name, text):
    try:
        value = float(str(text).strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidInputException(f"{name}: {text!r} is not a number")
    return value


def _check_automl(config):
    """The effective autoMLConfig (defaults filled in), validated."""
    automl = dict(config.get("autoMLConfig") or {})
    metric = automl.get("metricName") or DEFAULT_AUTOML_METRIC
    if metric not in metrics.OPTIMIZABLE_METRICS:
        raise InvalidInputException(
            f"autoMLConfig.metricName: {metric!r} is not one of {', '.join(metrics.OPTIMIZABLE_METRICS)}")
    if "recipeList" in automl and not automl["recipeList"]:
        raise InvalidInputException("autoMLConfig.recipeList: give at least one recipe or omit it")
    listed = automl.get("recipeList") or [catalog.recipe_arn(n) for n in catalog.AUTOML_RECIPES]
    found, types = [], set()
    for arn in listed:
        recipe = recipes.get(arn)
        if recipe["recipeArn"] in found:
            raise InvalidInputException(f"autoMLConfig.recipeList: {arn} is listed twice")
        found.append(recipe["recipeArn"])
        types.add(recipe["recipeType"])
    if len(types) > 1:
        # Metrics of different recipe types are computed on different lists (EVALUATION.md).
        raise InvalidInputException(
            f"autoMLConfig.recipeList: recipes of one recipe type only (got {', '.join(sorted(types))})")
    return {"metricName": metric, "recipeList": found}


def _check_hpo(hpo, recipe):
    objective = hpo.get("hpoObjective") or {}
    if objective.get("type") and objective["type"] not in HPO_OBJECTIVE_TYPES:
        raise InvalidInputException(
            f"hpoConfig.hpoObjective.type: {objective['type']!r} is not one of {', '.join(HPO_OBJECTIVE_TYPES)}")
    if objective.get("metricName") and recipe.get("builtin") \
            and objective["metricName"] not in metrics.OPTIMIZABLE_METRICS:
        raise InvalidInputException(
            f"hpoConfig.hpoObjective.metricName: {objective['metricName']!r} is not one of "
            f"{', '.join(metrics.OPTIMIZABLE_METRICS)}")
    resources = hpo.get("hpoResourceConfig") or {}
    counts = {}
    for key in ("maxNumberOfTrainingJobs", "maxParallelTrainingJobs"):
        if key in resources:
            text = str(resources[key]).strip()
            if not text.isdigit() or int(text) < 1:
                raise InvalidInputException(f"hpoConfig.hpoResourceConfig.{key}: {resources[key]!r} "
                                            "is not a positive integer")
            counts[key] = int(text)
    if counts.get("maxParallelTrainingJobs", 0) > counts.get("maxNumberOfTrainingJobs", math.inf):
        raise InvalidInputException(
            "hpoConfig.hpoResourceConfig: maxParallelTrainingJobs exceeds maxNumberOfTrainingJobs")


def _check_retraining(config):
    """(effective retrainingMode, normalized schedule or None)."""
    mode = config.get("retrainingMode")
    try:
        schedule = schedules.normalize(config.get("retrainSchedule"))
    except schedules.InvalidSchedule as e:
        raise InvalidInputException(f"retrainSchedule: {e}") from None
    if mode is None:
        mode = MANUAL if schedule else _default("solutionConfig.retrainingMode", AUTO)
    if mode not in (AUTO, MANUAL):
        raise InvalidInputException(f"retrainingMode: {mode!r} is not one of AUTO, MANUAL")
    if mode == AUTO and schedule:
        raise InvalidInputException(
            "retrainSchedule: a schedule applies to retrainingMode MANUAL; AUTO retrains on the "
            "recipe's default schedule")
    return mode, schedule


def _check_auto_training(config):
    """Today's solutionConfig.autoTrainingConfig: schedulingExpression `rate(N days)`, "a number
    between 1 and 30" (AutoTrainingConfig), default every 7 days. Returns the expression."""
    given = (config.get("autoTrainingConfig") or {}).get("schedulingExpression")
    if given is None:
        return dialects.AUTO_TRAINING_SCHEDULE
    m = re.fullmatch(r"rate\((\d+) (day|days)\)", given.strip())
    if not m or not 1 <= int(m[1]) <= 30 or (m[2] == "day") != (int(m[1]) == 1):
        raise InvalidInputException(
            f"autoTrainingConfig.schedulingExpression: {given!r} is not rate(N days) with N from 1 to 30")
    return given.strip()


def check_solution(spec, fields, dialect=dialects.PREVIEW):
    """Validate a solution's settings (CreateSolution params, or a stored solution with a new
    config for UpdateSolution) in the request's dialect (`service.dialects`, row CreateSolution
    automatic_training). Returns the effective solutionConfig to store."""
    automl = bool(spec.get("performAutoML"))
    recipe_arn = spec.get("recipeArn")
    config = dict(spec.get("solutionConfig") or {})
    if automl == bool(recipe_arn):
        raise InvalidInputException(
            "Either performAutoML or recipeArn must be specified but not both")
    if spec.get("eventType") and "EVENT_TYPE" not in fields:
        raise InvalidInputException(
            "eventType: the INTERACTIONS schema of the dataset group has no EVENT_TYPE field")
    if automl:
        if spec.get("performHPO") is False:
            raise InvalidInputException(
                "performHPO: when performing AutoML this parameter is always true")
        config["autoMLConfig"] = _check_automl(config)
    else:
        if config.get("autoMLConfig"):
            raise InvalidInputException("autoMLConfig: only used when performAutoML is true")
        hpo = config.get("hpoConfig") or {}
        checked = recipes.training_parameters(
            recipe_arn, config.get("algorithmHyperParameters"),
            config.get("featureTransformationParameters"), hpo.get("algorithmHyperParameterRanges"))
        _check_hpo(hpo, checked["recipe"])
        if "eventValueThreshold" in config:
            _check_number("eventValueThreshold", config["eventValueThreshold"])
            if "EVENT_VALUE" not in fields:
                raise InvalidInputException("eventValueThreshold: the INTERACTIONS schema of the "
                                            "dataset group has no EVENT_VALUE field")
    if dialects.value("CreateSolution", "automatic_training", dialect) == "autoTrainingConfig":
        config["autoTrainingConfig"] = {"schedulingExpression": _check_auto_training(config)}
        return config
    mode, schedule = _check_retraining(config)
    config["retrainingMode"] = mode
    if schedule:
        config["retrainSchedule"] = schedule
    else:
        config.pop("retrainSchedule", None)
    return config


def _schedule_expression(solution):
    """The retraining rule's expression for a solution record, or None: the preview's
    retrainSchedule / retrainingMode AUTO, or today's performAutoTraining with its
    autoTrainingConfig (`service.dialects`, row CreateSolution automatic_training)."""
    config = solution.get("solutionConfig") or {}
    dialect = solution.get(DIALECT, dialects.PREVIEW)
    if dialects.value("CreateSolution", "automatic_training", dialect) == "autoTrainingConfig":
        if not solution.get("performAutoTraining"):
            return None
        return (config.get("autoTrainingConfig") or {}).get("schedulingExpression") \
            or dialects.AUTO_TRAINING_SCHEDULE
    return config.get("retrainSchedule") or (
        AUTO_RETRAIN_SCHEDULE if config.get("retrainingMode") == AUTO else None)


def _apply_schedule(arn, solution):
    """The EventBridge rule that starts the training workflow on the solution's schedule."""
    from chalicelib.storage import schedules as rules
    name = rules.rule_name("retrain", arn)
    expression = _schedule_expression(solution)
    if expression:
        rules.put_schedule(name, expression, "training", {"solutionArn": arn})
    else:
        rules.remove_schedule(name)


# ---- operations ----------------------------------------------------------------------------

@operation("CreateSolution")
def create_solution(params):
    group_arn = params["datasetGroupArn"]
    dataset_groups.require_active(group_arn)
    fields = _schema_fields(group_arn)
    dialect = dialects.dialect_of("CreateSolution", params)
    spec = dict(params)
    spec.setdefault("performAutoML", _default("performAutoML", False))
    spec.setdefault("performHPO", dialects.setting("CreateSolution", "performHPO_default", params))
    config = check_solution(spec, fields, dialect)
    tps = params.get("minProvisionedTPS", _default("minProvisionedTPS", 1))
    if tps < 1:
        raise InvalidInputException(f"minProvisionedTPS: {tps} is below the minimum 1")
    trains_now = dialects.setting("CreateSolution", "trains_on_create", params)

    arn = solution_arn(params["name"])
    created = now()
    solution = {
        "arn": arn, "solutionArn": arn, "name": params["name"], "datasetGroupArn": group_arn,
        "recipeArn": spec.get("recipeArn"), "performAutoML": spec["performAutoML"],
        "performHPO": True if spec["performAutoML"] else spec["performHPO"],
        "eventType": params.get("eventType"), "minProvisionedTPS": tps,
        "solutionConfig": config, DIALECT: dialect,
        "status": lifecycle.CREATE_PENDING if trains_now else lifecycle.ACTIVE,
        "creationDateTime": created, "lastUpdatedDateTime": created,
    }
    if dialect == dialects.TODAY:
        solution["performAutoTraining"] = params.get("performAutoTraining", True)
    version = None
    if trains_now:
        version = solution_versions.new_record(solution, trigger="CreateSolution")
        solution[TRAINING_LOCK] = version["arn"]
        solution["latestSolutionVersionArn"] = version["arn"]
    s = store()
    ops = [s.op_put_new(solution, TYPE, parent_arn=group_arn),
           s.op_check(group_arn, expect_status=[lifecycle.ACTIVE])]
    if version:
        ops.append(s.op_put_new(version, solution_versions.TYPE, parent_arn=arn))
    try:
        s.transact(ops)
    except TransactionFailed as e:
        if e.failed(1):
            dataset_groups.require_active(group_arn)
        if e.failed(0):
            raise ResourceAlreadyExistsException(f"Solution {arn} already exists") from None
        raise
    try:
        _apply_schedule(arn, solution)
    except Exception:
        # nothing half-written: without its retraining rule the solution is not created
        s.transact(([s.op_delete(version["arn"])] if version else []) + [s.op_delete(arn)])
        raise
    if version:
        solution_versions.start_training(version["arn"])
    return {"solutionArn": arn}


def describe(record):
    """The Solution data type: the record plus latestSolutionVersion (a summary)."""
    out = dict(record)
    latest = record.get("latestSolutionVersionArn")
    version = store().get(latest, solution_versions.TYPE) if latest else None
    if version:
        out["latestSolutionVersion"] = solution_versions.summary(version)
    return out


@operation("DescribeSolution")
def describe_solution(params):
    return {"solution": describe(get(params["solutionArn"]))}


@operation("ListSolutions")
def list_solutions(params):
    records, token = store().list_page(TYPE, params, params.get("datasetGroupArn"))
    # a recommender's own solution (stored under the recommender) is not the user's
    records = [r for r in records if not r.get("recommenderArn")]
    return {"solutions": records, "nextToken": token}


def _store_update(solution, changes):
    arn = solution["arn"]
    try:
        return store().update(arn, dict(changes, lastUpdatedDateTime=now()), expect_status=[lifecycle.ACTIVE])
    except ConditionFailed as e:
        if e.current is None:
            raise ResourceNotFoundException.for_arn(arn) from None
        raise InvalidInputException(
            f"Solution {arn} is {e.current.get('status')}; it must be ACTIVE to be updated") from None


def _preview_update(solution, given):
    """The seed's UpdateSolution: the solutionConfig members it names replace the stored ones."""
    config = dict(solution.get("solutionConfig") or {})
    config.update(given)
    if "retrainSchedule" in given and "retrainingMode" not in given:
        if given["retrainSchedule"] == "":
            # seed, CreateSolution "Scheduling": an empty retrainSchedule stops scheduled training
            config["retrainingMode"] = MANUAL
        else:
            config.pop("retrainingMode", None)  # re-derived from the new schedule
    if given.get("retrainSchedule") == "":
        config.pop("retrainSchedule")
    config.pop("autoTrainingConfig", None)
    spec = dict(solution, solutionConfig=config)
    config = check_solution(spec, _schema_fields(solution["datasetGroupArn"]), dialects.PREVIEW)
    return {"solutionConfig": config, DIALECT: dialects.PREVIEW}


def _todays_update(solution, params):
    """Today's UpdateSolution: performAutoTraining and solutionUpdateConfig.autoTrainingConfig;
    the update is applied at once, so latestSolutionUpdate is ACTIVE when the call returns."""
    update = params.get("solutionUpdateConfig") or {}   # eventsConfig: protocol/unserved.py
    config = {k: v for k, v in (solution.get("solutionConfig") or {}).items()
              if k not in ("retrainingMode", "retrainSchedule")}
    if "autoTrainingConfig" in update:
        config["autoTrainingConfig"] = update["autoTrainingConfig"]
    config["autoTrainingConfig"] = {"schedulingExpression": _check_auto_training(config)}
    stored_auto = solution.get("performAutoTraining", solution.get(DIALECT) == dialects.TODAY)
    auto = params.get("performAutoTraining", stored_auto)
    stamp = now()
    return {"solutionConfig": config, DIALECT: dialects.TODAY, "performAutoTraining": auto,
            "latestSolutionUpdate": {
                "solutionUpdateConfig": {"autoTrainingConfig": config["autoTrainingConfig"]},
                "performAutoTraining": auto, "status": lifecycle.ACTIVE,
                "creationDateTime": stamp, "lastUpdatedDateTime": stamp}}


@operation("UpdateSolution")
def update_solution(params):
    """Seed UpdateSolution (solutionConfig) or today's (automatic training), by the request's
    shape (`service.dialects`, row UpdateSolution automatic_training)."""
    arn = params["solutionArn"]
    solution = get(arn)
    if solution["status"] != lifecycle.ACTIVE:
        raise InvalidInputException(
            f"Solution {arn} is {solution['status']}; it must be ACTIVE to be updated")
    if dialects.setting("UpdateSolution", "automatic_training", params) == "retrainSchedule":
        changes = _preview_update(solution, params["solutionConfig"])
    elif "performAutoTraining" in params or "solutionUpdateConfig" in params:
        changes = _todays_update(solution, params)
    else:
        return {"solutionArn": arn}      # nothing to change
    updated = _store_update(solution, changes)
    try:
        _apply_schedule(arn, updated)
    except Exception as e:
        # keep the configuration and the rule in agreement; a failed update says why
        restore = {k: solution.get(k) for k in ("solutionConfig", DIALECT, "performAutoTraining")
                   if k in solution}
        if "latestSolutionUpdate" in changes:
            restore["latestSolutionUpdate"] = dict(
                changes["latestSolutionUpdate"], status=lifecycle.CREATE_FAILED,
                failureReason=f"The training schedule could not be changed: {e}")
        store().update(arn, restore)
        raise
    return {"solutionArn": arn}


@operation("DeleteSolution")
def delete_solution(params):
    arn = params["solutionArn"]
    s = store()
    _, previous = s.begin_delete(arn, TYPE, "solution")
    try:
        users = references.users_of(arn)
        if users:
            raise ResourceInUseException(
                f"Solution {arn} is part of campaigns {', '.join(users)}; delete them first")
        versions = list(s.iterate(solution_versions.TYPE, arn))
        training = [v["arn"] for v in versions if v.get("status") in lifecycle.UNFINISHED]
        if training:
            raise ResourceInUseException(
                f"Solution {arn} has versions in training: {', '.join(training)}")
    except Exception:
        s.revert_delete(arn, previous)
        raise
    from chalicelib.storage import schedules as rules
    rules.remove_schedule(rules.rule_name("retrain", arn))
    for version in versions:
        solution_versions.remove(version)
    s.delete(arn, expect_status=[lifecycle.DELETE_PENDING])
    return {}
