"""The dataset export workflow's steps (`infrastructure/statemachines/dataset-export.asl.json`).

Today's API: CreateDatasetExportJob ("exports data from your dataset to an Amazon S3
bucket"; CREATE PENDING > CREATE IN_PROGRESS > ACTIVE -or- CREATE FAILED, `failureReason`).
What the files hold is decided in `chalicelib.datasets.export`.

Execution input: `{"datasetExportJobArn"}` (from `service.dataset_export_jobs`). Steps:

1. `dataset-export.begin`    job -> CREATE IN_PROGRESS; read what to export. A job that is
                             gone, or already ended (a duplicated execution), is skipped.
2. `dataset-export.export`   read the dataset's records for the job's ingestionMode and write
                             CSV files under `<jobOutput path>/<jobName>/`. Predictable
                             problems (no bucket, dataset or schema gone) are *answers*
                             (`failureReason`), not exceptions, so they are not retried.
3. `dataset-export.activate` job -> ACTIVE.
4. `dataset-export.fail`     (Choice on a failureReason, or Catch on any step) job ->
                             CREATE FAILED with the reason; partial output is removed.

Every step is idempotent: the export step clears its own folder before writing.
"""
from __future__ import annotations

import logging

from chalicelib.datasets import export as exporter
from chalicelib.datasets import objects as data_objects
from chalicelib.datasets import records
from chalicelib.domain import lifecycle
from chalicelib.protocol.errors import ResourceNotFoundException
from chalicelib.storage import objects
from chalicelib.workflows import failures
from chalicelib.workflows.feature_exports import output_prefix
from chalicelib.workflows.tasks import task

log = logging.getLogger(__name__)


def _jobs():
    from chalicelib.service import dataset_export_jobs
    return dataset_export_jobs


@task("dataset-export.begin")
def begin(state):
    arn = state["datasetExportJobArn"]
    try:
        _jobs().mark_job(arn, lifecycle.CREATE_IN_PROGRESS)
    except ResourceNotFoundException:
        return {"skipped": f"dataset export job {arn} no longer exists"}
    except lifecycle.TransitionRefused as e:  # a duplicated execution of an ended job
        return {"skipped": str(e)}
    job = _jobs().job(arn)
    return {"datasetArn": job["datasetArn"], "ingestionMode": job["ingestionMode"],
            "outputPrefix": output_prefix(job["jobOutput"]["s3DataDestination"]["path"],
                                          job["jobName"])}


@task("dataset-export.export")
def export(state):
    job = state["job"]
    out = job["outputPrefix"]
    bucket, _ = objects.split(out)
    if not data_objects.bucket_exists(bucket):
        return {"failureReason": f"The jobOutput bucket {bucket} does not exist"}
    dataset = records.dataset(job["datasetArn"])
    if dataset is None:
        return {"failureReason": f"Dataset {job['datasetArn']} no longer exists"}
    try:
        header = exporter.header_of(dataset)
        columns = exporter.dataset_columns(dataset, job["ingestionMode"])
    except ValueError as e:  # SchemaError included
        return {"failureReason": f"The dataset cannot be exported: {e}"}
    objects.delete_prefix(out)  # a retried attempt starts from an empty folder
    files = [objects.put_bytes(f"{out}part-{i:05d}.csv", body, "text/csv")
             for i, body in enumerate(exporter.csv_parts(header, columns))]
    return {"files": files[:10], "fileCount": len(files), "rows": columns.rows}


@task("dataset-export.activate")
def activate(state):
    record = _jobs().mark_job(state["datasetExportJobArn"], lifecycle.ACTIVE,
                              exportedRows=state["export"]["rows"])
    return {"status": record.get("status")}


def failure_reason(state) -> str:
    return failures.failure_reason(
        state, answered_by=("export",), activity="exporting the dataset",
        timeout_reason="The export did not finish in time (a step timed out)")


@task("dataset-export.fail")
def fail(state):
    reason = failure_reason(state)
    arn = state["datasetExportJobArn"]
    try:
        _jobs().mark_job(arn, lifecycle.CREATE_FAILED, failure_reason=reason[:failures.REASON_LIMIT])
    except ResourceNotFoundException:
        log.warning("dataset export job %s is gone; its export failed: %s", arn, reason)
    out = (state.get("job") or {}).get("outputPrefix")
    if out:
        try:  # a failed job leaves no half-written folder behind
            objects.delete_prefix(out)
        except Exception:
            log.info("no partial output removed under %s", out, exc_info=True)
    return {"failureReason": reason}
