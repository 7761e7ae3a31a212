"""Recommenders of Domain dataset groups (today's API: CreateRecommender, DescribeRecommender,
ListRecommenders, UpdateRecommender, DeleteRecommender, StartRecommender, StopRecommender; data
types Recommender, RecommenderSummary, RecommenderConfig, RecommenderUpdateSummary).

A recommender serves one use case (`domain.use_cases`: recipeArn arn:aws:personalize:::recipe/
aws-vod-top-picks, ...) of its group's domain. It owns one internal solution and solution
version of the recipe that backs the use case, trained on the events the use case names by the
ordinary training workflow; the solution is stored under the recommender (not under the
group), carries `recommenderArn`, and ListSolutions leaves it out.

Lifecycle (DescribeRecommender): CREATE PENDING > CREATE IN_PROGRESS > ACTIVE -or- CREATE FAILED
follows the internal version (read when the recommender is described or asked: the version's
status is the truth, so nothing stays IN_PROGRESS after training ended); a version that failed,
e.g. with too little data for the use case, gives CREATE FAILED with its failureReason.
StopRecommender (ACTIVE) > STOP PENDING > STOP IN_PROGRESS > INACTIVE and StartRecommender
(INACTIVE) > START PENDING > START IN_PROGRESS > ACTIVE pass through in the call: no models are
made or dropped ("Starting a recommender does not create any new models"). An INACTIVE
recommender answers GetRecommendations with InvalidInputException; one not ACTIVE otherwise with
ResourceNotFoundException (as a campaign that is not ACTIVE).

UpdateRecommender replaces recommenderConfig (itemExplorationConfig, minRecommendationRequests
PerSecond, enableMetadataWithRecommendations: none needs retraining, so latestRecommenderUpdate
is ACTIVE at once; trainingDataConfig is refused by `protocol.unserved`). DeleteRecommender
removes the recommender with its internal solution, versions and models; the dataset group's
delete guard sees recommenders through `storage.references`.
"""
import logging

from chalicelib.domain import arns, lifecycle, use_cases
from chalicelib.domain import recipes as catalog
from chalicelib.protocol.errors import (InvalidInputException, ResourceAlreadyExistsException,
                                        ResourceInUseException, ResourceNotFoundException)
from chalicelib.service import dataset_groups, solution_versions
from chalicelib.service.registry import operation
from chalicelib.storage.resources import ConditionFailed, TransactionFailed, now, store

log = logging.getLogger(__name__)

TYPE = arns.RECOMMENDER
MIN_RPS = 1      # "The default minRecommendationRequestsPerSecond is 1"
# version status -> recommender status, while the recommender is being created
_FOLLOWS = {lifecycle.CREATE_IN_PROGRESS: lifecycle.CREATE_IN_PROGRESS,
            lifecycle.ACTIVE: lifecycle.ACTIVE,
            lifecycle.CREATE_FAILED: lifecycle.CREATE_FAILED,
            lifecycle.CREATE_STOPPED: lifecycle.CREATE_FAILED}


def _config(case, config):
    """recommenderConfig checked, with its default minRecommendationRequestsPerSecond."""
    config = dict(config or {})
    rps = config.setdefault("minRecommendationRequestsPerSecond", MIN_RPS)
    if rps < MIN_RPS:
        raise InvalidInputException(
            f"recommenderConfig.minRecommendationRequestsPerSecond: {rps} is below the minimum 1")
    try:
        catalog.check_item_exploration(case.recipe, config.get("itemExplorationConfig"),
                                       "recommenderConfig.itemExplorationConfig")
    except ValueError as e:
        raise InvalidInputException(str(e)) from None
    return config


def _use_case(group, recipe_arn):
    domain = group.get("domain")
    if not domain:
        raise InvalidInputException(
            f"datasetGroupArn: {group['datasetGroupArn']} is not a Domain dataset group (create "
            "one with a domain); custom dataset groups serve campaigns")
    case = use_cases.use_case(recipe_arn)
    if case is None or case.domain != domain:
        known = ", ".join(u.name for u in use_cases.of_domain(domain))
        raise InvalidInputException(
            f"recipeArn: {recipe_arn} is not a use case of the {domain} domain ({known})")
    return case


def _internal_solution(recommender, case):
    """The recommender's own solution of the recipe that backs its use case."""
    arn = arns.build(arns.SOLUTION, f"_recommender_{recommender['name']}")   # no user name starts with _
    return {"arn": arn, "solutionArn": arn, "name": arn.rsplit("/", 1)[1],
            "datasetGroupArn": recommender["datasetGroupArn"], "recipeArn": catalog.recipe_arn(case.recipe),
            "performAutoML": False, "performHPO": False, "eventType": case.event_type,
            "minProvisionedTPS": 1, "solutionConfig": {}, "recommenderArn": recommender["arn"],
            "status": lifecycle.CREATE_PENDING, "creationDateTime": recommender["creationDateTime"],
            "lastUpdatedDateTime": recommender["creationDateTime"]}


@operation("CreateRecommender")
def create_recommender(params):
    group_arn = params["datasetGroupArn"]
    group = dataset_groups.require_active(group_arn)
    case = _use_case(group, params["recipeArn"])
    config = _config(case, params.get("recommenderConfig"))
    arn = arns.recommender(params["name"])
    created = now()
    record = {"arn": arn, "recommenderArn": arn, "name": params["name"], "datasetGroupArn": group_arn,
              "recipeArn": case.arn, "recommenderConfig": config, "status": lifecycle.CREATE_PENDING,
              "creationDateTime": created, "lastUpdatedDateTime": created}
    solution = _internal_solution(record, case)
    version = solution_versions.new_record(solution, trigger="CreateRecommender")
    solution[solution_versions.TRAINING_LOCK] = version["arn"]
    solution["latestSolutionVersionArn"] = version["arn"]
    record.update(solutionArn=solution["arn"], solutionVersionArn=version["arn"])
    s = store()
    try:
        s.transact([s.op_put_new(record, TYPE, parent_arn=group_arn),
                    s.op_check(group_arn, expect_status=[lifecycle.ACTIVE]),
                    s.op_put_new(solution, arns.SOLUTION, parent_arn=arn),
                    s.op_put_new(version, solution_versions.TYPE, parent_arn=solution["arn"])])
    except TransactionFailed as e:
        if e.failed(0) or e.failed(2):
            raise ResourceAlreadyExistsException(f"Recommender {arn} already exists") from None
        dataset_groups.require_active(group_arn)
        raise
    solution_versions.start_training(version["arn"])
    return {"recommenderArn": arn}


def _move(record, target, failure_reason=None, **fields):
    """Step the record through the lifecycle table to `target` (CREATE PENDING > CREATE
    IN_PROGRESS > ACTIVE: each documented status is passed)."""
    path = {lifecycle.ACTIVE: [lifecycle.CREATE_IN_PROGRESS, lifecycle.ACTIVE]}.get(target, [target])
    for status in path:
        if status == record.get("status"):
            continue
        try:
            record = store().transition(record["arn"], status, failure_reason=failure_reason
                                        if status == target else None, **(fields if status == target else {}))
        except lifecycle.TransitionRefused:
            return store().get(record["arn"], TYPE) or record
    return record


def _refresh(record):
    """A recommender being created follows its internal version."""
    if record.get("status") not in lifecycle.IN_FLIGHT:
        return record
    version = store().get(record["solutionVersionArn"], solution_versions.TYPE)
    if version is None:
        return _move(record, lifecycle.CREATE_FAILED, "The recommender's model is gone")
    target = _FOLLOWS.get(version.get("status"))
    if target is None or target == record.get("status"):
        return record
    if target == lifecycle.ACTIVE:
        return _move(record, target, modelMetrics=version.get("metrics") or {})
    return _move(record, target, failure_reason=version.get("failureReason") if
                 target == lifecycle.CREATE_FAILED else None)


def get(arn):
    return _refresh(store().require(arn, TYPE, "recommender"))


@operation("DescribeRecommender")
def describe_recommender(params):
    return {"recommender": get(params["recommenderArn"])}


@operation("ListRecommenders")
def list_recommenders(params):
    page, token = store().list_page(TYPE, params, params.get("datasetGroupArn"))
    return {"recommenders": [_refresh(r) for r in page], "nextToken": token}


def _require(arn, statuses, verb):
    record = get(arn)
    if record.get("status") not in statuses:
        raise ResourceInUseException(
            f"Recommender {arn} is {record.get('status')}; it can be {verb} when "
            f"{' or '.join(sorted(statuses))}")
    return record


@operation("UpdateRecommender")
def update_recommender(params):
    arn = params["recommenderArn"]
    record = _require(arn, {lifecycle.ACTIVE}, "updated")
    config = _config(use_cases.use_case(record["recipeArn"]), params["recommenderConfig"])
    stamp = now()
    update = {"recommenderConfig": config, "status": lifecycle.ACTIVE,
              "creationDateTime": stamp, "lastUpdatedDateTime": stamp}
    try:
        store().update(arn, {"recommenderConfig": config, "latestRecommenderUpdate": update,
                             "lastUpdatedDateTime": stamp}, expect_status=[lifecycle.ACTIVE])
    except ConditionFailed:
        _require(arn, {lifecycle.ACTIVE}, "updated")
        raise
    return {"recommenderArn": arn}


def _pass_through(arn, start, steps, verb):
    record = _require(arn, {start}, verb)
    for status in steps:
        try:
            record = store().transition(arn, status)
        except lifecycle.TransitionRefused as e:   # stopped or started at the same moment
            raise ResourceInUseException(str(e)) from None
    return {"recommenderArn": record["arn"]}


@operation("StopRecommender")
def stop_recommender(params):
    return _pass_through(params["recommenderArn"], lifecycle.ACTIVE,
                         (lifecycle.STOP_PENDING, lifecycle.STOP_IN_PROGRESS, lifecycle.INACTIVE),
                         "stopped")


@operation("StartRecommender")
def start_recommender(params):
    return _pass_through(params["recommenderArn"], lifecycle.INACTIVE,
                         (lifecycle.START_PENDING, lifecycle.START_IN_PROGRESS, lifecycle.ACTIVE),
                         "started")


@operation("DeleteRecommender")
def delete_recommender(params):
    arn = params["recommenderArn"]
    _refresh(store().require(arn, TYPE, "recommender"))
    record, _ = store().begin_delete(arn, TYPE, "recommender")
    s = store()
    for version in list(s.iterate(solution_versions.TYPE, record["solutionArn"])):
        solution_versions.remove(version)
    try:
        s.delete(record["solutionArn"])
    except ConditionFailed:
        pass   # already gone
    s.delete(arn, expect_status=[lifecycle.DELETE_PENDING])
    return {}


def served_model(arn):
    """What the runtime serves for a recommender, in the shape of `campaigns.served_model`
    (recipeType: how the use case is asked, `UseCase.request_type`)."""
    record = store().get(arn, TYPE)
    if record is None:
        raise ResourceNotFoundException.for_arn(arn)
    record = _refresh(record)
    if record.get("status") == lifecycle.INACTIVE:
        raise InvalidInputException(
            f"recommenderArn: recommender {arn} is INACTIVE (stopped); start it with StartRecommender")
    if record.get("status") != lifecycle.ACTIVE:
        raise ResourceNotFoundException(
            f"Recommender {arn} is {record.get('status')}; it serves once ACTIVE")
    version = solution_versions.get(record["solutionVersionArn"])
    case = use_cases.use_case(record["recipeArn"])
    return {"campaignArn": arn, "solutionVersionArn": version["arn"], "recipeName": case.name,
            "recipeType": case.request_type, "modelKey": version["modelKey"],
            "datasetGroupArn": record["datasetGroupArn"],
            "campaignConfig": record.get("recommenderConfig") or {}}
