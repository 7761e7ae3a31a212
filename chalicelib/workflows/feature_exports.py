"""The feature export workflow's steps (`infrastructure/statemachines/feature-export.asl.json`).

Seed: CreateFeatureExportJob ("Featurizes training data using the information from the
specified feature transformation object. The results are stored in an Amazon S3 bucket."),
data type FeatureExportJob (status CREATE PENDING > CREATE IN_PROGRESS > ACTIVE -or-
CREATE FAILED, `failureReason`), "Bring Your Own Recipe" and "Feature Transformation".
What the files hold is decided in `chalicelib.datasets.featurize`.

Execution input: `{"featureExportJobArn"}` (from `service.feature_export_jobs`). Steps:

1. `feature-export.begin`    job -> CREATE IN_PROGRESS; read what to export. A job that is gone,
                             or already ended (a duplicated execution), is skipped.
2. `feature-export.export`   resolve the transformation's parameters (defaults merged with the
                             job's `featureTransformationOverrides`), check the destination
                             bucket, load the group's training view, featurize, write the CSV
                             files and `manifest.json` under `<dataDestination>/<jobName>/`.
                             Predictable problems (no bucket, no data, bad parameters, a
                             percentile range that keeps nobody) are *answers* (`failureReason`),
                             not exceptions, so the state machine does not retry them.
3. `feature-export.activate` job -> ACTIVE, recording the exported files and counts.
4. `feature-export.fail`     (Choice on a failureReason, or Catch on any step) job ->
                             CREATE FAILED with the reason; partial output is removed.

Every step is idempotent: a repeated status move is a no-op in the store, and the export step
clears its own folder before writing, so Retry may repeat any of them.
"""
from __future__ import annotations

import logging

from chalicelib.datasets import featurize
from chalicelib.datasets import objects as data_objects
from chalicelib.datasets.training_view import NoTrainingData, load_training_data
from chalicelib.domain import lifecycle
from chalicelib.domain import recipes as catalog
from chalicelib.protocol.errors import InvalidInputException, ResourceNotFoundException
from chalicelib.storage import objects
from chalicelib.workflows import failures
from chalicelib.workflows.tasks import task

log = logging.getLogger(__name__)


def _jobs():
    from chalicelib.service import feature_export_jobs
    return feature_export_jobs


def output_prefix(destination: str, job_name: str) -> str:
    """`s3://bucket/prefix` + the job's name: where one job's files go (its own folder, so jobs
    sharing a destination do not overwrite each other)."""
    bucket, prefix = objects.split(destination)
    prefix = prefix.strip("/")
    return objects.uri(bucket, f"{prefix}/{job_name}/" if prefix else f"{job_name}/")


def transformation_parameters(transformation_arn: str, overrides: dict | None) -> dict:
    """Defaults of the job's feature transformation merged with its overrides, validated, as
    floats. ValueError (message names the key and the rule) when they cannot be used: the
    transformation is gone, or a custom one's defaults and the overrides do not fit together."""
    from chalicelib.service import feature_transformations
    name = feature_transformations.builtin_name(transformation_arn)
    if name:
        return catalog.parse_feature_transformation_parameters(name, overrides)
    try:
        return feature_transformations.effective_parameters(transformation_arn, overrides)
    except ResourceNotFoundException:
        raise ValueError(f"feature transformation {transformation_arn} no longer exists") from None
    except InvalidInputException as e:
        raise ValueError(e.message) from None


@task("feature-export.begin")
def begin(state):
    arn = state["featureExportJobArn"]
    try:
        _jobs().mark_job(arn, lifecycle.CREATE_IN_PROGRESS)
    except ResourceNotFoundException:
        return {"skipped": f"feature export job {arn} no longer exists"}
    except lifecycle.TransitionRefused as e:  # a duplicated execution of an ended job
        return {"skipped": str(e)}
    job = _jobs().job(arn)
    return {"datasetGroupArn": job["datasetGroupArn"],
            "featureTransformationArn": job["featureTransformationArn"],
            "featureTransformationOverrides": job.get("featureTransformationOverrides") or {},
            "outputPrefix": output_prefix(job["dataDestination"], job["jobName"])}


@task("feature-export.export")
def export(state):
    job = state["job"]
    try:
        params = transformation_parameters(job["featureTransformationArn"],
                                           job.get("featureTransformationOverrides"))
    except ValueError as e:
        return {"failureReason": f"The feature transformation's parameters cannot be used: {e}"}
    out = job["outputPrefix"]
    bucket, _ = objects.split(out)
    if not data_objects.bucket_exists(bucket):
        return {"failureReason": f"The dataDestination bucket {bucket} does not exist"}
    try:
        data = load_training_data(job["datasetGroupArn"])
    except NoTrainingData as e:
        return {"failureReason": f"There is no data to featurize: {e}"}
    try:
        result = featurize.featurize(data, params)
    except ValueError as e:
        return {"failureReason": f"Featurization failed: {e}"}
    # A retried attempt starts from an empty folder; the manifest goes last, so a folder
    # with a manifest is complete.
    objects.delete_prefix(out)
    files = []
    for table in result.tables:
        files.append(objects.put_bytes(out + table.name, table.csv_bytes(), "text/csv"))
    manifest = result.manifest(featureExportJobArn=state["featureExportJobArn"],
                               datasetGroupArn=job["datasetGroupArn"],
                               featureTransformationArn=job["featureTransformationArn"])
    files.append(objects.put_bytes(out + featurize.MANIFEST_FILE,
                                   featurize.Featurized.manifest_bytes(manifest),
                                   "application/json"))
    return {"files": files, "counts": result.counts}


@task("feature-export.activate")
def activate(state):
    exported = state["export"]
    record = _jobs().mark_job(state["featureExportJobArn"], lifecycle.ACTIVE,
                              exportedFiles=exported["files"], exportCounts=exported["counts"])
    return {"status": record.get("status")}


def failure_reason(state) -> str:
    """The job's failureReason: the export step's answer, or the caught error."""
    return failures.failure_reason(
        state, answered_by=("export",), activity="exporting",
        timeout_reason="The export did not finish in time (a step timed out)")


@task("feature-export.fail")
def fail(state):
    reason = failure_reason(state)
    arn = state["featureExportJobArn"]
    try:
        _jobs().mark_job(arn, lifecycle.CREATE_FAILED, failure_reason=reason[:failures.REASON_LIMIT])
    except ResourceNotFoundException:
        log.warning("feature export job %s is gone; its export failed: %s", arn, reason)
    out = (state.get("job") or {}).get("outputPrefix")
    if out:
        try:  # a failed job leaves no half-written folder behind
            objects.delete_prefix(out)
        except Exception:  # e.g. the bucket is missing: nothing was written
            log.info("no partial output removed under %s", out, exc_info=True)
    return {"failureReason": reason}
