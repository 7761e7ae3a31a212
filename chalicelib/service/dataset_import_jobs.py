"""Dataset import jobs and their runs (seed: "Importing your Data"; API
Reference: CreateDatasetImportJob, DescribeDatasetImportJob,
ListDatasetImportJobs, UpdateDatasetImportJob, DeleteDatasetImportJob,
DescribeDatasetImportJobRun, ListDatasetImportJobRuns).

Seed, CreateDatasetImportJob: "First, the import job itself is created.
Second, upon successful creation, a run of the import job is initiated." The
job and its first run are stored CREATE PENDING, then the "import" workflow is
started with `{"datasetImportJobArn", "datasetImportJobRunArn"}`. The job is
CREATE IN_PROGRESS while its first run is, and ACTIVE once a run has imported
its data; a first run that fails fails the job (CREATE FAILED, with the run's
failureReason). Both dialects read it right: the seed's client waits for the
job's ACTIVE and then for `latestDatasetImportJobRun` ACTIVE (both hold once the
data is in), and today's client, which sees no runs, waits for the job's own
ACTIVE or CREATE FAILED before training. UpdateDatasetImportJob (optionally new
dataSource / schedule) starts a new run, also on a job whose earlier runs
failed; `latestDatasetImportJobRun` follows the runs.

One run per dataset at a time (seed, UpdateDatasetImportJob: "A new import
job cannot be created for a given dataset while another import job for that
same dataset is running"): a run is created in the same transaction that sets
the dataset's `importRunArn`, conditional on it being absent
(ResourceInUseException otherwise); the run's end releases it.

Today's `importMode` (CreateDatasetImportJob): FULL (the default, and the seed's only
behaviour) replaces the bulk data; INCREMENTAL adds and replaces records on top of it
(`chalicelib.datasets.importer`). "If you haven't imported bulk records into the dataset
previously, you can only specify FULL." Every run of a job uses the job's mode. Events
recorded with PutEvents and records put with PutItems / PutUsers are not bulk data: no
import replaces them.

For the workflow tasks: `start_run`, `complete_run` (publishes the data
version and activates the run in one transaction), `fail_run`, the generic
`mark_run`, and `begin_scheduled_run` for runs started by the schedule.
"""
import logging

from chalicelib.datasets import objects as source_objects
from chalicelib.domain import arns, lifecycle, limits, schedules as schedule_rules
from chalicelib.domain import records, schemas
from chalicelib.protocol.errors import (InvalidInputException, LimitExceededException,
                                        ResourceAlreadyExistsException, ResourceInUseException,
                                        ResourceNotFoundException)
from chalicelib.service import datasets, jobs
from chalicelib.service.registry import operation
from chalicelib.storage import objects, schedules
from chalicelib.storage.resources import ConditionFailed, TransactionFailed, now, store

log = logging.getLogger(__name__)

JOB = arns.DATASET_IMPORT_JOB
RUN = arns.DATASET_IMPORT_JOB_RUN
WORKFLOW = "import"
# A job takes new runs while it exists and is not being deleted (a failed one may be re-run).
JOB_OPEN = lifecycle.IN_FLIGHT | {lifecycle.ACTIVE, lifecycle.CREATE_FAILED}
# What the job may be when a run ends: before its first imported run, or failed by an earlier one.
_JOB_BEFORE_DATA = [lifecycle.CREATE_PENDING, lifecycle.CREATE_IN_PROGRESS, lifecycle.CREATE_FAILED]


class DataVersionConflict(Exception):
    """The dataset's data changed under a run (another version was published, or the
    run no longer holds the import lock); the run's data is not published."""


# ------------------------------------------------------------------ rules

def _data_source(source):
    location = (source or {}).get("dataLocation") or ""
    jobs.require_s3_location(location, "dataSource.dataLocation")
    try:
        source_objects.parse_location(location)   # the importer's own rule: a file or a folder/
    except ValueError as e:
        raise InvalidInputException(f"dataSource.dataLocation: {e}") from None
    try:
        size = objects.total_size(location)
    except Exception:  # unreadable now: the run reports it as its failureReason
        size = 0
    if size > limits.MAX_DATASET_BYTES:
        raise LimitExceededException(
            f"{location} holds {size} bytes; a dataset holds at most "
            f"{limits.MAX_DATASET_BYTES} bytes (100 GB)")
    return {"dataLocation": location}


def _schedule(config):
    """The normalized importJobSchedule of a DatasetImportJobConfig, or None for none."""
    try:
        return schedule_rules.normalize((config or {}).get("importJobSchedule"))
    except schedule_rules.InvalidSchedule as e:
        raise InvalidInputException(f"datasetImportJobConfig.importJobSchedule: {e}") from None


def _import_mode(params, dataset):
    """The job's importMode; INCREMENTAL only on a dataset that already holds bulk data.
    (`publishAttributionMetricsToS3` is refused by `protocol.unserved`: no metric attributions.)"""
    mode = params.get("importMode") or records.FULL
    if mode == records.INCREMENTAL and not dataset.get("dataVersion"):
        raise InvalidInputException(
            f"importMode: INCREMENTAL adds to the bulk data of dataset {dataset['arn']}, which "
            "has none yet; the first import must be FULL")
    return mode


def _job_config(schedule):
    return {"importJobSchedule": schedule} if schedule else None


def _lock_dataset_op(dataset_arn, run_arn):
    return store().op_update(dataset_arn, {datasets.IMPORT_LOCK: run_arn},
                             expect_status=[lifecycle.ACTIVE], absent=[datasets.IMPORT_LOCK])


def _clear_stale_lock(dataset_arn):
    """Release the dataset's import lock if the run holding it has ended or is gone (a
    task that stopped between the run's last status write and the release). True if
    released, so the caller may try again."""
    s = store()
    dataset = s.get(dataset_arn, datasets.TYPE) or {}
    holder = dataset.get(datasets.IMPORT_LOCK)
    if not holder:
        return False
    run = s.get(holder, RUN)
    if run is not None and run.get("status") in lifecycle.IN_FLIGHT:
        return False
    try:
        s.update(dataset_arn, remove=[datasets.IMPORT_LOCK], equals={datasets.IMPORT_LOCK: holder})
    except ConditionFailed:
        return False
    log.warning("released the import lock of %s held by ended run %s", dataset_arn, holder)
    return True


def _transact_taking_lock(ops, dataset_arn, lock_index):
    """Run a transaction that takes the dataset's import lock; if only the lock refused it
    and the holder is stale, release that and try once more."""
    try:
        store().transact(ops)
    except TransactionFailed as e:
        if [i for i in range(len(ops)) if e.failed(i)] == [lock_index] \
                and _clear_stale_lock(dataset_arn):
            store().transact(ops)
        else:
            raise


def _explain_dataset_refusal(dataset_arn):
    dataset = store().require(dataset_arn, datasets.TYPE, "dataset")
    if dataset.get(datasets.IMPORT_LOCK):
        raise ResourceInUseException(
            f"Dataset {dataset_arn} is being imported by {dataset[datasets.IMPORT_LOCK]}; "
            "wait until that run is ACTIVE or CREATE FAILED")
    raise ResourceInUseException(f"Dataset {dataset_arn} is {dataset.get('status')}")


def _start(job_arn, run_arn):
    """Start the workflow for a stored run; a run that cannot start fails with the reason."""
    try:
        from chalicelib.workflows.starter import start_workflow
        execution = start_workflow(WORKFLOW, {"datasetImportJobArn": job_arn,
                                              "datasetImportJobRunArn": run_arn})
    except Exception as e:
        log.exception("could not start the import of %s", run_arn)
        fail_run(run_arn, f"The import could not be started: {e}")
        return None
    try:
        store().update(run_arn, {"executionArn": execution})
    except ConditionFailed:
        pass
    return execution


def _apply_schedule(job_arn, schedule):
    name = schedules.rule_name("import", job_arn)
    if schedule:
        schedules.put_schedule(name, schedule, WORKFLOW, {"datasetImportJobArn": job_arn})
    else:
        schedules.remove_schedule(name)


# ------------------------------------------------------------------ operations

@operation("CreateDatasetImportJob")
def create_dataset_import_job(params):
    dataset_arn = params["datasetArn"]
    dataset = store().require(dataset_arn, datasets.TYPE, "dataset")
    if dataset["datasetType"] == schemas.EVENT_INTERACTIONS:
        raise InvalidInputException(
            f"Dataset {dataset_arn} receives events through PutEvents only; it cannot be imported")
    source = _data_source(params["dataSource"])
    schedule = _schedule(params.get("datasetImportJobConfig"))
    mode = _import_mode(params, dataset)
    arn = arns.dataset_import_job(params["jobName"])
    run_arn = arns.dataset_import_job_run(arn)
    created = now()
    job = records.dataset_import_job(params["jobName"], dataset_arn, source, params.get("roleArn"),
                                     _job_config(schedule), run_arn, created, import_mode=mode)
    s = store()
    try:
        _transact_taking_lock([s.op_put_new(job, JOB, parent_arn=dataset_arn),
                               s.op_put_new(records.dataset_import_job_run(job, run_arn, created), RUN, parent_arn=arn),
                               _lock_dataset_op(dataset_arn, run_arn)], dataset_arn, 2)
    except TransactionFailed as e:
        if e.failed(0):
            raise ResourceAlreadyExistsException(f"Dataset import job {arn} already exists") from None
        _explain_dataset_refusal(dataset_arn)
        raise
    if schedule:
        _apply_schedule(arn, schedule)
    _start(arn, run_arn)
    return {"datasetImportJobArn": arn}


@operation("DescribeDatasetImportJob")
def describe_dataset_import_job(params):
    job = store().require(params["datasetImportJobArn"], JOB, "dataset import job")
    # Seed: "Once the create status shows as ACTIVE, the DescribeDatasetImportJob
    # response includes the latestDatasetImportJobRun object".
    if job["status"] != lifecycle.CREATE_PENDING:
        run = store().get(job.get("latestDatasetImportJobRunArn"), RUN)
        if run:
            job["latestDatasetImportJobRun"] = run
    return {"datasetImportJob": job}


@operation("ListDatasetImportJobs")
def list_dataset_import_jobs(params):
    dataset_arn = params.get("datasetArn")
    if dataset_arn:
        store().require(dataset_arn, datasets.TYPE, "dataset")
    page, token = store().list_page(JOB, params, dataset_arn)
    return {"datasetImportJobs": page, "nextToken": token}


@operation("UpdateDatasetImportJob")
def update_dataset_import_job(params):
    arn = params["datasetImportJobArn"]
    job = store().require(arn, JOB, "dataset import job")
    changes = {}
    if params.get("dataSource") is not None:
        changes["dataSource"] = _data_source(params["dataSource"])
    schedule_given = params.get("datasetImportJobConfig") is not None
    if schedule_given:
        schedule = _schedule(params["datasetImportJobConfig"])
        # Seed: "set an empty string for the importJobSchedule key" to stop the schedule.
        changes["datasetImportJobConfig"] = _job_config(schedule)
    run = new_run(arn, changes)
    if schedule_given:
        _apply_schedule(arn, schedule)
    _start(arn, run["arn"])
    return {"datasetImportJobArn": job["arn"]}


def new_run(job_arn, changes=None):
    """Store a new CREATE PENDING run of a job (with `changes` to the job's dataSource /
    datasetImportJobConfig), taking the dataset's import lock; returns the run record.

    ResourceNotFoundException (job gone), ResourceInUseException (job being deleted,
    dataset busy with another run or not ACTIVE)."""
    s = store()
    job = s.require(job_arn, JOB, "dataset import job")
    job.update(changes or {})
    run_arn = arns.dataset_import_job_run(job_arn)
    created = now()
    run = records.dataset_import_job_run(job, run_arn, created)
    job_changes = dict(changes or {}, latestDatasetImportJobRunArn=run_arn,
                       lastUpdatedDateTime=created)
    try:
        _transact_taking_lock([s.op_put_new(run, RUN, parent_arn=job_arn),
                               s.op_update(job_arn, job_changes, expect_status=JOB_OPEN),
                               _lock_dataset_op(job["datasetArn"], run_arn)], job["datasetArn"], 2)
    except TransactionFailed as e:
        if e.failed(1):
            current = s.require(job_arn, JOB, "dataset import job")
            raise ResourceInUseException(
                f"Dataset import job {job_arn} is {current['status']}") from None
        _explain_dataset_refusal(job["datasetArn"])
        raise
    return s.get(run_arn)


@operation("DeleteDatasetImportJob")
def delete_dataset_import_job(params):
    arn = params["datasetImportJobArn"]
    s = store()
    # New runs need the job open (CREATE PENDING..ACTIVE), so after DELETE PENDING none start.
    _, previous = s.begin_delete(arn, JOB, "dataset import job")
    running = [r["arn"] for r in s.iterate(RUN, arn) if r.get("status") in lifecycle.IN_FLIGHT]
    if running:
        s.revert_delete(arn, previous)
        raise ResourceInUseException(
            f"Dataset import job {arn} has a run in progress: {', '.join(running)}")
    _apply_schedule(arn, None)
    for run_arn in [r["arn"] for r in s.iterate(RUN, arn)]:
        try:
            s.delete(run_arn)
        except ConditionFailed:
            pass
    s.delete(arn, expect_status=[lifecycle.DELETE_PENDING])
    return {}


@operation("DescribeDatasetImportJobRun")
def describe_dataset_import_job_run(params):
    run = store().require(params["datasetImportJobRunArn"], RUN, "dataset import job run")
    return {"datasetImportJobRun": run}


@operation("ListDatasetImportJobRuns")
def list_dataset_import_job_runs(params):
    job_arn = params.get("datasetImportJobArn")
    if job_arn:
        store().require(job_arn, JOB, "dataset import job")
    page, token = store().list_page(RUN, params, job_arn)
    return {"datasetImportJobRuns": page, "nextToken": token}


# ------------------------------------------------------------------ workflow side

def mark_run(run_arn, status, failure_reason=None, **fields):
    """Move a run to `status` (conditional on its lifecycle; a repeat is a no-op) with an
    optional `failureReason` and extra members; the job and the dataset's import lock
    follow. ACTIVE needs the data published: use `complete_run`. Returns the run record;
    raises `lifecycle.TransitionRefused` for a backwards move."""
    if status == lifecycle.ACTIVE:
        raise ValueError("a run becomes ACTIVE with complete_run, which publishes its data")
    run = store().transition(run_arn, status, failure_reason=failure_reason, **fields)
    if status == lifecycle.CREATE_FAILED:
        _release_lock(run)
    _job_follows(run, status, failure_reason)
    return run


def start_run(run_arn):
    """Workflow step 1: the run -> CREATE IN_PROGRESS (a new job too); returns the run."""
    return mark_run(run_arn, lifecycle.CREATE_IN_PROGRESS)


def fail_run(run_arn, reason):
    """The run -> CREATE FAILED with `reason`; the dataset keeps its previous data."""
    return mark_run(run_arn, lifecycle.CREATE_FAILED, failure_reason=reason)


def complete_run(run_arn, version_id, dataset_arn=None, previous_version=None, **fields):
    """Publish `version_id` as the dataset's current data and make the run ACTIVE, in one
    transaction, only if the run holds the dataset's import lock and the dataset's data is
    still `previous_version` (None: no data yet). A repeat after success is a no-op.
    Raises DataVersionConflict or `lifecycle.TransitionRefused`."""
    s = store()
    run = s.require(run_arn, RUN, "dataset import job run")
    dataset_arn = dataset_arn or run["datasetArn"]
    stamp = now()
    dataset_op = s.op_update(
        dataset_arn, {"dataVersion": version_id, "dataVersionRunArn": run_arn,
                      "lastUpdatedDateTime": stamp},
        remove=[datasets.IMPORT_LOCK], equals={datasets.IMPORT_LOCK: run_arn,
                                               **({"dataVersion": previous_version}
                                                  if previous_version else {})},
        absent=[] if previous_version else ["dataVersion"])
    run_op = s.op_update(run_arn, dict(fields, status=lifecycle.ACTIVE, lastUpdatedDateTime=stamp),
                         expect_status=lifecycle.allowed_previous(lifecycle.ACTIVE))
    try:
        s.transact([run_op, dataset_op])
    except TransactionFailed:
        current = s.require(run_arn, RUN, "dataset import job run")
        dataset = s.get(dataset_arn) or {}
        if current["status"] == lifecycle.ACTIVE and dataset.get("dataVersion") == version_id:
            return current  # a retried step
        if current["status"] not in lifecycle.allowed_previous(lifecycle.ACTIVE):
            raise lifecycle.TransitionRefused(run_arn, current["status"], lifecycle.ACTIVE) from None
        raise DataVersionConflict(
            f"Dataset {dataset_arn} changed during run {run_arn} (data version "
            f"{dataset.get('dataVersion')!r}, import lock {dataset.get(datasets.IMPORT_LOCK)!r})"
        ) from None
    run = s.get(run_arn)
    _job_follows(run, lifecycle.ACTIVE, None)
    return run


def begin_scheduled_run(job_arn):
    """For a run started by the job's schedule (input without a run ARN): store a new run
    and return its ARN, or None when the dataset is busy with another run (that tick is
    skipped) or the job is gone / being deleted."""
    try:
        return new_run(job_arn)["arn"]
    except (InvalidInputException, ResourceInUseException, ResourceNotFoundException) as e:
        log.info("scheduled import of %s skipped: %s", job_arn, e.message)
        return None


def _release_lock(run):
    try:
        store().update(run["datasetArn"], remove=[datasets.IMPORT_LOCK],
                       equals={datasets.IMPORT_LOCK: run["arn"]})
    except ConditionFailed:
        pass  # not held by this run (already released, or the dataset is gone)


def job_follows_run(run):
    """The job (and the dataset's import lock) in step with `run` once it has ended: for the
    reconciler, when a kill came between the run's move and the job's (two writes)."""
    if run.get("status") == lifecycle.CREATE_FAILED:
        _release_lock(run)
    _job_follows(run, run.get("status"), run.get("failureReason"))


def _job_follows(run, status, failure_reason):
    """The job's status follows its runs until one has imported its data (module docstring):
    a run in progress -> CREATE IN_PROGRESS, ACTIVE -> ACTIVE (for good), CREATE FAILED ->
    CREATE FAILED with the run's reason. Every run move updates lastUpdatedDateTime."""
    job_arn = run["datasetImportJobArn"]
    s = store()
    changes = {lifecycle.CREATE_IN_PROGRESS: {"status": lifecycle.CREATE_IN_PROGRESS},
               lifecycle.ACTIVE: {"status": lifecycle.ACTIVE},
               lifecycle.CREATE_FAILED: {"status": lifecycle.CREATE_FAILED,
                                         "failureReason": failure_reason}}.get(status)
    try:
        if changes:
            try:
                s.update(job_arn, changes, expect_status=_JOB_BEFORE_DATA,
                         remove=["failureReason"] if status != lifecycle.CREATE_FAILED else [])
            except ConditionFailed:
                pass  # the job has imported data already: later runs leave it ACTIVE
        s.update(job_arn, {"lastUpdatedDateTime": now()})
    except (ConditionFailed, ResourceNotFoundException):
        pass  # the job was deleted meanwhile
