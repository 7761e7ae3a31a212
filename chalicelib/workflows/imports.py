"""The import workflow's steps (`infrastructure/statemachines/import.asl.json`).

Seed: CreateDatasetImportJob ("upon successful creation, a run of the import
job is initiated"; run status CREATE PENDING > CREATE IN_PROGRESS > ACTIVE
-or- CREATE FAILED, with `failureReason`), UpdateDatasetImportJob (a new run;
"The dataset import job replaces any previous data in the dataset") and
"Importing your Data" ("Imports ... are a full refresh of the data").

Execution input: `{"datasetImportJobArn", "datasetImportJobRunArn"}` from
Create/UpdateDatasetImportJob, or `{"datasetImportJobArn"}` alone from the
job's schedule (DatasetImportJobConfig.importJobSchedule). The steps:

0. `import.begin`   (scheduled executions only) store a new run, or skip the
                    tick when the dataset is busy.
1. `import.start`   run -> CREATE IN_PROGRESS; read dataset, location, the
                    current data version; choose the new version id.
1b. `import.plan`   split sources over IMPORT_RANGE_BYTES into byte ranges; then
                    `import.parse_range` per range (a Map state, IMPORT_MAX_CONCURRENCY
                    at once) and `import.merge` (one version, as step 2 writes it) take
                    the place of step 2. Otherwise (`ranged: false`):
2. `import.parse`   stream + validate every row, write the new version (an
                    INCREMENTAL run also carries over the rows of the version current
                    at start that the files do not replace, `importer.RECORD_ID`). Data
                    that does not fit is an *answer* (`failureReason`), not an
                    exception, so the state machine does not retry it.
3. `import.activate` switch the dataset to the new version (conditional on
                    the version it had at start) and the run -> ACTIVE; the
                    superseded version is left to the garbage collector.
4. `import.fail`    (Choice on a failureReason, or Catch on any step) the run
                    -> CREATE FAILED with the reason; the new version's objects
                    are deleted; the dataset keeps its previous version.

Steps 1-4 are idempotent, so Retry may repeat them: a repeated status move
is a no-op in the store, parse rewrites its own version prefix from scratch.
Step 0 runs alone in its state so that nothing after it can repeat it.
"""
from __future__ import annotations

import json
import logging

from chalicelib import config
from chalicelib.datasets import importer, ranges, records, versions
from chalicelib.datasets.schema import SchemaError
from chalicelib.domain import records as job_records
from chalicelib.workflows import failures
from chalicelib.workflows.tasks import task

log = logging.getLogger(__name__)

# Step Functions' payload quota is 256 KB per state input and output, and exceeding it is
# States.DataLimitExceeded, which no Catch takes (the run would stay IN_PROGRESS). The plan
# rides in every Map iteration's input and stays in the state with one result per range.
PLAN_PAYLOAD_BYTES = 200_000
RANGE_RESULT_BYTES = 64     # {"index", "rows", "seconds"} of one range, with room to spare


def _jobs():
    # The import-job records and their status moves live with the storage
    # engineer's service module; imported late so this module loads without it.
    from chalicelib.service import dataset_import_jobs
    return dataset_import_jobs


def _run_arn(state):
    """The run this execution imports: given in the input, or stored by
    `import.begin` for a scheduled execution (whose input names only the job)."""
    return (state.get("run") or {}).get("datasetImportJobRunArn") \
        or (state.get("scheduled") or {}).get("datasetImportJobRunArn") \
        or state.get("datasetImportJobRunArn")


@task("import.begin")
def begin(state):
    """A scheduled execution: store a new run of the job (seed, DatasetImportJobConfig:
    the schedule starts a new run), or skip this tick while the dataset is busy with
    another run or the job is gone. A step of its own, so that a retried `import.start`
    never creates a second run."""
    job_arn = state.get("datasetImportJobArn")
    if not job_arn:
        raise ValueError("the import workflow needs datasetImportJobRunArn or "
                         "datasetImportJobArn in its input")
    run_arn = _jobs().begin_scheduled_run(job_arn)
    return {"datasetImportJobRunArn": run_arn} if run_arn else {"skipped": True}


@task("import.start")
def start(state):
    run_arn = _run_arn(state)
    if not run_arn:
        raise ValueError("no run to start: the input names no datasetImportJobRunArn")
    run = _jobs().start_run(run_arn)
    dataset_arn = run["datasetArn"]
    location = (run.get("dataSource") or {}).get("dataLocation")
    dataset = records.dataset(dataset_arn)
    return {
        "datasetImportJobRunArn": run_arn,
        "datasetArn": dataset_arn,
        "dataLocation": location,
        "versionId": versions.new_version_id(),
        "previousVersion": records.current_version(dataset),
        "importMode": run.get("importMode") or job_records.FULL,
    }


@task("import.parse")
def parse(state):
    run = state["run"]
    dataset_arn, version_id = run["datasetArn"], run["versionId"]
    # A retried attempt starts its version from scratch.
    versions.delete_version(dataset_arn, version_id)
    dataset = records.dataset(dataset_arn)
    if dataset is None:
        return {"failureReason": f"Dataset {dataset_arn} no longer exists"}
    try:
        schema = records.dataset_schema_of(dataset)
    except SchemaError as e:
        return {"failureReason": f"The dataset's schema cannot be used for import: {e}"}
    if not run.get("dataLocation"):
        return {"failureReason": "The run has no dataSource.dataLocation to import from"}
    try:
        result = importer.import_location(run["dataLocation"], dataset_arn, schema,
                                          version_id=version_id, base=_base(run))
    except importer.ImportFailed as e:
        return {"failureReason": str(e)}
    return _parsed(result)


@task("import.plan")
def plan(state):
    """Split large sources into byte ranges for the Map state (`datasets/ranges.py`), or
    answer `ranged: false` and leave everything, its checks included, to `import.parse`."""
    run = state["run"]
    dataset = records.dataset(run["datasetArn"])
    if dataset is None or not run.get("dataLocation"):
        return {"ranged": False}
    try:
        schema = records.dataset_schema_of(dataset)
        split = ranges.plan(run["dataLocation"], config.import_range_bytes(), schema)
    except (SchemaError, importer.ImportFailed):
        return {"ranged": False}
    if len(split["ranges"]) < 2:
        return {"ranged": False}
    answer = {"ranged": True, "bucket": split["bucket"], "files": split["files"],
              "ranges": split["ranges"], "maxConcurrency": config.import_max_concurrency()}
    payload = len(json.dumps(answer)) + RANGE_RESULT_BYTES * len(split["ranges"])
    if payload > PLAN_PAYLOAD_BYTES:
        # so many files (or ranges) that the Map's state would not fit: one task, as before
        log.warning("import plan of %d ranges (%d bytes) too large for the Map state; "
                    "parsing in one task", len(split["ranges"]), payload)
        return {"ranged": False}
    return answer


@task("import.parse_range")
def parse_range(state):
    """One Map iteration: validate and write one byte range (its own folder of the version)."""
    run, split = state["run"], state["plan"]
    file, start, end = state["range"]
    schema = records.dataset_schema_of(records.dataset(run["datasetArn"]))
    result = ranges.read_range(run["datasetArn"], schema, run["versionId"], split["bucket"],
                               split["files"][file], start, end, f"{state['index']:05d}")
    return {"index": state["index"], "rows": result["rows"], "seconds": result["seconds"]}


@task("import.merge")
def merge(state):
    """The ranges as one version, or the failureReason a one-range import gives."""
    run, split = state["run"], state["plan"]
    dataset = records.dataset(run["datasetArn"])
    if dataset is None:
        return {"failureReason": f"Dataset {run['datasetArn']} no longer exists"}
    schema = records.dataset_schema_of(dataset)
    try:
        result = ranges.merge(run["datasetArn"], schema, run["versionId"], run["dataLocation"],
                              split, base=_base(run))
    except importer.ImportFailed as e:
        return {"failureReason": str(e)}
    answer = _parsed(result)
    read = state.get("rangeResults") or []
    answer.update(ranges=len(split["ranges"]), maxConcurrency=split.get("maxConcurrency"),
                  rangeSeconds=[r.get("seconds") for r in read])
    return answer


def _base(run):
    """The version an INCREMENTAL run carries over: the one current at start (activation
    publishes only if it is still current)."""
    if run.get("importMode") == job_records.INCREMENTAL and run.get("previousVersion"):
        return versions.load(run["datasetArn"], run["previousVersion"])
    return None


def _parsed(result):
    # The state's payload is limited (256 KB): name a few sources, count them all.
    return {"versionId": result.version_id, "rows": result.rows, "keptRows": result.kept_rows,
            "sources": result.sources[:10], "sourceCount": len(result.sources)}


@task("import.activate")
def activate(state):
    run, parsed = state["run"], state["parse"]
    _jobs().complete_run(_run_arn(state), parsed["versionId"], dataset_arn=run["datasetArn"],
                         previous_version=run.get("previousVersion"))
    # The superseded version is not deleted here: a training or export may still be reading
    # it, and the switch may not be durable yet (issue 16). The garbage collector
    # (workflows/collect.py) removes it once no record has pointed at it for a grace period.
    return {"dataVersion": parsed["versionId"], "rows": parsed["rows"],
            "supersededVersion": run.get("previousVersion")}


def failure_reason(state) -> str:
    """The run's failureReason: the parse step's answer, or the caught error."""
    return failures.failure_reason(
        state, answered_by=("parse",), activity="importing",
        timeout_reason="The import did not finish in time (a step timed out); try fewer or smaller files")


@task("import.fail")
def fail(state):
    reason = failure_reason(state)
    run_arn = _run_arn(state)
    if not run_arn:  # a scheduled execution failed before it had a run: nothing to record
        log.error("import execution failed before a run existed: %s", reason)
        return {"failureReason": reason}
    _jobs().fail_run(run_arn, reason)
    run = state.get("run") or {}
    if run.get("versionId") and run.get("datasetArn"):
        current = records.current_version(records.dataset(run["datasetArn"]))
        if current != run["versionId"]:
            versions.delete_version(run["datasetArn"], run["versionId"])
    return {"failureReason": reason}
