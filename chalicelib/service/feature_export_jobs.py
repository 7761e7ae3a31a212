"""Feature export jobs (seed, API Reference: CreateFeatureExportJob,
DescribeFeatureExportJob, ListFeatureExportJobs; data type FeatureExportJob).

"Featurizes training data using the information from the specified feature
transformation object. The results are stored in an Amazon S3 bucket." The
job is stored CREATE PENDING and the "feature-export" workflow is started with
`{"featureExportJobArn"}`; its tasks move the job with `mark_job`
(CREATE IN_PROGRESS, then ACTIVE or CREATE FAILED with `failureReason`).

Rules the model cannot express: the dataset group exists and is ACTIVE; the
feature transformation exists (a predefined one from
`chalicelib.domain.recipes`, or one created with CreateFeatureTransformation);
the overrides name parameters of that transformation with valid values;
`dataDestination` is an S3 location.
"""
from chalicelib.domain import arns, lifecycle, recipes, records
from chalicelib.protocol.errors import (InvalidInputException, ResourceNotFoundException)
from chalicelib.service import dataset_groups
from chalicelib.service import jobs
from chalicelib.service.registry import operation
from chalicelib.storage.resources import now, store

TYPE = arns.FEATURE_EXPORT_JOB
WORKFLOW = "feature-export"


def _check_transformation(arn, overrides):
    """ResourceNotFoundException for an unknown transformation; InvalidInputException for
    overrides it does not accept."""
    predefined = {recipes.feature_transformation_arn(n): n for n in recipes.FEATURE_TRANSFORMATIONS}
    if arn in predefined:
        try:
            recipes.parse_feature_transformation_parameters(predefined[arn], overrides)
        except ValueError as e:
            raise InvalidInputException(f"featureTransformationOverrides: {e}") from None
        return
    record = store().get(arn, arns.FEATURE_TRANSFORMATION)
    if record is None:
        raise ResourceNotFoundException.for_arn(arn)
    allowed = set(record.get("defaultParameters") or {})
    unknown = sorted(set(overrides or {}) - allowed)
    if unknown:
        raise InvalidInputException(
            f"featureTransformationOverrides: {', '.join(unknown)} not parameters of {arn} "
            f"(allowed: {', '.join(sorted(allowed)) or 'none'})")


@operation("CreateFeatureExportJob")
def create_feature_export_job(params):
    group_arn = params["datasetGroupArn"]
    dataset_groups.require_active(group_arn)
    destination = jobs.require_s3_location(params["dataDestination"], "dataDestination",
                                           "s3://bucket/prefix")
    overrides = params.get("featureTransformationOverrides") or None
    _check_transformation(params["featureTransformationArn"], overrides)
    job = records.feature_export_job(params["jobName"], group_arn, destination,
                                     params["featureTransformationArn"], overrides,
                                     params.get("roleArn"), now())
    arn = job["arn"]
    jobs.put_under_active_parent(job, TYPE, group_arn, "Feature export job",
                                 lambda: dataset_groups.require_active(group_arn))
    jobs.start(arn, WORKFLOW, {"featureExportJobArn": arn}, lifecycle.CREATE_FAILED, "export")
    return {"featureExportJobArn": arn}


@operation("DescribeFeatureExportJob")
def describe_feature_export_job(params):
    return {"featureExportJob": store().require(params["featureExportJobArn"], TYPE,
                                                "feature export job")}


@operation("ListFeatureExportJobs")
def list_feature_export_jobs(params):
    page, token = store().list_page(TYPE, params)
    return {"featureExportJobs": page, "nextToken": token}


def mark_job(job_arn, status, failure_reason=None, **fields):
    """Move a feature export job to `status` (conditional on its lifecycle; a repeat is a
    no-op), with `failureReason` and extra members (e.g. the exported object locations).
    Raises `lifecycle.TransitionRefused` for a backwards move."""
    return store().transition(job_arn, status, failure_reason=failure_reason, **fields)


def job(job_arn):
    """The job record (for the workflow tasks)."""
    return store().require(job_arn, TYPE, "feature export job")
