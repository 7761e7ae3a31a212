"""Data deletion jobs (today's API: CreateDataDeletionJob, DescribeDataDeletionJob,
ListDataDeletionJobs; data type DataDeletionJob).

"Creates a batch job that deletes all references to specific users from an Amazon
Personalize dataset group ... A data deletion job can have one of the following statuses:
PENDING > IN_PROGRESS > COMPLETED -or- FAILED ... If the status is FAILED, the response
includes a failureReason". `numDeleted` ("The number of records deleted by a COMPLETED job")
counts the listed users that had data in the group. The job is stored PENDING (a child of its
dataset group, so ListDataDeletionJobs filters by `datasetGroupArn`) and the "data-deletion"
workflow is started with `{"dataDeletionJobArn"}`. What is removed:
`chalicelib.datasets.deletion`.

Rules the model cannot express: the dataset group exists and is ACTIVE; `dataSource.
dataLocation` is an S3 location. A new data version without the users is published only
if no import holds the dataset and its data is still the version the job read
(`publish_version`); otherwise the workflow retries the step.
"""
from chalicelib.domain import arns, lifecycle, records
from chalicelib.service import dataset_groups, datasets
from chalicelib.service import jobs
from chalicelib.service.registry import operation
from chalicelib.storage.resources import ConditionFailed, now, store

TYPE = arns.DATA_DELETION_JOB
WORKFLOW = "data-deletion"


class DataChanged(Exception):
    """The dataset's data changed (or an import holds it) while the job was writing; the
    step is retried on the new data."""


@operation("CreateDataDeletionJob")
def create_data_deletion_job(params):
    group_arn = params["datasetGroupArn"]
    dataset_groups.require_active(group_arn)
    location = (params["dataSource"] or {}).get("dataLocation") or ""
    jobs.require_s3_location(location, "dataSource.dataLocation")
    job = records.data_deletion_job(params["jobName"], group_arn, {"dataLocation": location},
                                    params["roleArn"], now())
    arn = job["arn"]
    jobs.put_under_active_parent(job, TYPE, group_arn, "Data deletion job",
                                 lambda: dataset_groups.require_active(group_arn))
    jobs.start(arn, WORKFLOW, {"dataDeletionJobArn": arn}, lifecycle.FAILED, "deletion")
    return {"dataDeletionJobArn": arn}


@operation("DescribeDataDeletionJob")
def describe_data_deletion_job(params):
    return {"dataDeletionJob": job(params["dataDeletionJobArn"])}


@operation("ListDataDeletionJobs")
def list_data_deletion_jobs(params):
    group_arn = params.get("datasetGroupArn")
    if group_arn:
        store().require(group_arn, dataset_groups.TYPE, "dataset group")
    page, token = store().list_page(TYPE, params, group_arn)
    return {"dataDeletionJobs": page, "nextToken": token}


def mark_job(job_arn, status, failure_reason=None, **fields):
    """Move a deletion job to `status` (conditional on its lifecycle; a repeat is a no-op)."""
    return store().transition(job_arn, status, failure_reason=failure_reason, **fields)


def remember(job_arn, **fields):
    """Keep members on a job IN_PROGRESS (what a retried step must see again)."""
    return store().update(job_arn, fields, expect_status=[lifecycle.IN_PROGRESS])


def job(job_arn):
    return store().require(job_arn, TYPE, "data deletion job")


def publish_version(dataset_arn, version_id, previous_version, job_arn):
    """Make `version_id` the dataset's current data if no import holds it and its data is
    still `previous_version`; DataChanged otherwise."""
    try:
        store().update(dataset_arn, {"dataVersion": version_id, "dataVersionRunArn": job_arn,
                                     "lastUpdatedDateTime": now()},
                       equals={"dataVersion": previous_version}, absent=[datasets.IMPORT_LOCK])
    except ConditionFailed:
        raise DataChanged(f"Dataset {dataset_arn} was being imported or changed while users "
                          "were deleted from it") from None
