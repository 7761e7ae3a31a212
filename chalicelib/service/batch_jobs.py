"""Batch inference and batch segment jobs (today's API: CreateBatchInferenceJob,
DescribeBatchInferenceJob, ListBatchInferenceJobs, CreateBatchSegmentJob,
DescribeBatchSegmentJob, ListBatchSegmentJobs; data types BatchInferenceJob, BatchSegmentJob).

"Generates batch recommendations based on a list of items or users stored in Amazon S3 and
exports the recommendations to an Amazon S3 bucket"; a batch segment job gives "the users most
likely to interact with" items (USER_SEGMENTATION recipes). Both kinds are one family: a
`Kind` row says what differs (ARN type, member names, which recipe types it takes, numResults
bounds), and both run the "batch-inference" workflow (`chalicelib/workflows/batch_jobs.py`)
with `{"jobArn", "kind"}`. The job is stored CREATE PENDING under its solution version (so
List*(solutionVersionArn) is a query); the workflow moves it CREATE IN_PROGRESS -> ACTIVE |
CREATE FAILED with `failureReason`.

Progress: the stock shapes have no progress member (`numResults` is the number asked for), so
the record keeps `totalLines`, `processedLines` and `errorLines` (internal members, dropped on
the wire); every scored chunk moves `lastUpdatedDateTime` and logs the counts, and a failed
job's failureReason says how far it got.

Rules the model cannot express:
- the solution version exists (ResourceNotFoundException) and is ACTIVE (ResourceInUseException);
- its recipe type fits the kind: a USER_SEGMENTATION version only in a batch segment job and
  never in a batch inference job; "You can't get batch recommendations with the Trending-Now
  ... recipes" (today's CreateBatchInferenceJob doc);
- `jobInput` / `jobOutput` paths are `s3://bucket/...` locations;
- numResults: batch inference 1..500 (default 25, GetRecommendations' default), batch segment
  1..5,000,000 (default 25; "The maximum number of users per segment is 5 million");
- `batchInferenceJobMode` THEME_GENERATION needs a content generator this service does not
  have: InvalidInputException rather than a job without themes;
- `batchInferenceJobConfig.itemExplorationConfig` is checked against the recipe's exploration
  settings (`recipes.item_exploration`) and applied when the model takes them;
- `filterArn`: an ACTIVE ItemID filter of the version's dataset group, checked as
  GetRecommendations checks it; every line is answered through the same filter gate as a
  single request (`runtime.filtering.Gate`), with the line's own `filterValues`
  ({"userId": "5", "filterValues": {"GENRE": "\\"Comedy\\""}}, today's guide).
"""
import logging
from dataclasses import dataclass

from chalicelib.domain import arns, lifecycle
from chalicelib.domain import recipes as catalog
from chalicelib.protocol.errors import InvalidInputException, ResourceInUseException
from chalicelib.service import jobs, recipes, recommendations, solution_versions
from chalicelib.service.registry import operation
from chalicelib.storage.resources import ConditionFailed, now, store

log = logging.getLogger(__name__)

WORKFLOW = "batch-inference"
NO_BATCH_RECIPES = ("aws-trending-now",)     # today's CreateBatchInferenceJob doc


@dataclass(frozen=True)
class Kind:
    name: str                 # "inference" | "segment" (the workflow's switch)
    type: str                 # store type and ARN type
    noun: str                 # "batch inference job"
    arn_member: str           # batchInferenceJobArn
    record_member: str        # Describe* output member
    list_member: str          # List* output member
    max_results: int
    default_results: int = 25

    def takes(self, recipe_type):
        segment = recipe_type == catalog.USER_SEGMENTATION
        return segment if self.name == "segment" else not segment


INFERENCE = Kind("inference", arns.BATCH_INFERENCE_JOB, "batch inference job",
                 "batchInferenceJobArn", "batchInferenceJob", "batchInferenceJobs", 500)
SEGMENT = Kind("segment", arns.BATCH_SEGMENT_JOB, "batch segment job",
               "batchSegmentJobArn", "batchSegmentJob", "batchSegmentJobs", 5_000_000)
KINDS = {k.name: k for k in (INFERENCE, SEGMENT)}


def _check_filter(kind, params, version, recipe):
    """filterArn ("Filtering batch recommendations"): an ACTIVE ItemID filter of the version's
    dataset group, checked as GetRecommendations checks it (`recommendations.item_filter`);
    the workflow applies it to every line with the line's own `filterValues`."""
    arn = params.get("filterArn")
    if not arn:
        return
    if kind is SEGMENT:   # a segment job's filter would select users (UserID filters)
        raise InvalidInputException(
            "filterArn: UserID filters on batch segment jobs are not served by this deployment yet")
    recommendations.item_filter(arn, version.get("datasetGroupArn"), recipe["recipeType"],
                                f"solution version {version['solutionVersionArn']}")


def _s3_location(member, path):
    return jobs.require_s3_location(path, f"{member}:")


def _version_and_recipe(kind, version_arn):
    version = solution_versions.get(version_arn)  # ResourceNotFoundException, the service's words
    if version.get("status") != lifecycle.ACTIVE:
        raise ResourceInUseException(
            f"Solution version {version_arn} is {version.get('status')}; a {kind.noun} needs "
            "an ACTIVE one")
    recipe = recipes.get(solution_versions.trained_recipe_arn(version))
    if not kind.takes(recipe["recipeType"]):
        other = "CreateBatchInferenceJob" if kind is SEGMENT else "CreateBatchSegmentJob"
        raise InvalidInputException(
            f"solutionVersionArn: {version_arn} was trained with {recipe['name']} "
            f"({recipe['recipeType']}); use {other} for it")
    if kind is INFERENCE and recipe["name"] in NO_BATCH_RECIPES:
        raise InvalidInputException(
            f"solutionVersionArn: {recipe['name']} does not make batch recommendations")
    return version, recipe


def _num_results(kind, value):
    n = kind.default_results if value is None else int(value)
    if not 1 <= n <= kind.max_results:
        raise InvalidInputException(
            f"numResults: {n} is outside the allowed range 1..{kind.max_results}")
    return n


def _exploration(recipe_name, config):
    """The batch job's itemExplorationConfig, checked (today's BatchInferenceJobConfig)."""
    try:
        catalog.check_item_exploration(recipe_name, (config or {}).get("itemExplorationConfig"),
                                       "batchInferenceJobConfig.itemExplorationConfig")
    except ValueError as e:
        raise InvalidInputException(str(e)) from None


def _create(kind, params):
    version_arn = params["solutionVersionArn"]
    version, recipe = _version_and_recipe(kind, version_arn)
    n = _num_results(kind, params.get("numResults"))
    source = _s3_location("jobInput.s3DataSource.path", params["jobInput"]["s3DataSource"]["path"])
    _s3_location("jobOutput.s3DataDestination.path",
                 params["jobOutput"]["s3DataDestination"]["path"])
    _check_filter(kind, params, version, recipe)
    record = {"jobName": params["jobName"], "solutionVersionArn": version_arn,
              "filterArn": params.get("filterArn"), "numResults": n,
              "jobInput": params["jobInput"], "jobOutput": params["jobOutput"],
              "roleArn": params["roleArn"],
              "status": lifecycle.CREATE_PENDING,
              # internal: what the workflow needs, and its progress counts
              "recipeName": recipe["name"], "recipeType": recipe["recipeType"],
              "modelKey": version.get("modelKey"), "datasetGroupArn": version.get("datasetGroupArn"),
              "totalLines": 0, "processedLines": 0, "errorLines": 0}
    if kind is INFERENCE:
        mode = params.get("batchInferenceJobMode") or "BATCH_INFERENCE"
        if mode != "BATCH_INFERENCE" or params.get("themeGenerationConfig"):
            raise InvalidInputException(
                "batchInferenceJobMode: THEME_GENERATION (themeGenerationConfig) needs a content "
                "generator, which this service does not have; use BATCH_INFERENCE")
        _exploration(recipe["name"], params.get("batchInferenceJobConfig"))
        record.update(batchInferenceJobMode=mode,
                      batchInferenceJobConfig=params.get("batchInferenceJobConfig"))
    arn = arns.batch_job(kind.type, params["jobName"])
    created = now()
    record.update(arn=arn, creationDateTime=created, lastUpdatedDateTime=created)
    record[kind.arn_member] = arn
    # a version no longer usable: _version_and_recipe says why
    jobs.put_under_active_parent(record, kind.type, version_arn, f"The {kind.noun}",
                                 lambda: _version_and_recipe(kind, version_arn))
    jobs.start(arn, WORKFLOW, {"jobArn": arn, "kind": kind.name}, lifecycle.CREATE_FAILED, "job",
               execution_name=params["jobName"])
    log.info("%s %s reads %s", kind.noun, arn, source)
    return {kind.arn_member: arn}


def _describe(kind, params):
    return {kind.record_member: store().require(params[kind.arn_member], kind.type, kind.noun)}


def _list(kind, params):
    page, token = store().list_page(kind.type, params, parent_arn=params.get("solutionVersionArn"))
    return {kind.list_member: page, "nextToken": token}


@operation("CreateBatchInferenceJob")
def create_batch_inference_job(params):
    return _create(INFERENCE, params)


@operation("DescribeBatchInferenceJob")
def describe_batch_inference_job(params):
    return _describe(INFERENCE, params)


@operation("ListBatchInferenceJobs")
def list_batch_inference_jobs(params):
    return _list(INFERENCE, params)


@operation("CreateBatchSegmentJob")
def create_batch_segment_job(params):
    return _create(SEGMENT, params)


@operation("DescribeBatchSegmentJob")
def describe_batch_segment_job(params):
    return _describe(SEGMENT, params)


@operation("ListBatchSegmentJobs")
def list_batch_segment_jobs(params):
    return _list(SEGMENT, params)


# --- for the workflow's tasks ------------------------------------------------------------------
def job(job_arn):
    """The job record, of either kind (ResourceNotFoundException when it is gone)."""
    kind = KINDS["segment" if arns.type_of(job_arn) == arns.BATCH_SEGMENT_JOB else "inference"]
    return store().require(job_arn, kind.type, kind.noun)


def mark_job(job_arn, status, failure_reason=None, **fields):
    """Move a job to `status` (conditional on its lifecycle; a repeat is a no-op).
    Raises `lifecycle.TransitionRefused` for a backwards move."""
    return store().transition(job_arn, status, failure_reason=failure_reason, **fields)


def record_total(job_arn, total):
    """The input's line count, once the workflow has counted it."""
    try:
        store().update(job_arn, {"totalLines": total, "lastUpdatedDateTime": now()})
    except ConditionFailed:
        log.warning("%s is gone; its line count is not recorded", job_arn)


def count_progress(job_arn, processed, errors):
    """Add one chunk's line counts to the job (atomic: chunks finish in any order, at once)."""
    try:
        return store().increment(job_arn, {"processedLines": processed, "errorLines": errors},
                                 expect_status=[lifecycle.CREATE_IN_PROGRESS])
    except ConditionFailed as e:
        log.warning("%s is %s; chunk counts not added", job_arn, (e.current or {}).get("status"))
        return e.current
