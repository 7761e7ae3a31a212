"""Dataset export jobs (today's API: CreateDatasetExportJob, DescribeDatasetExportJob,
ListDatasetExportJobs; data type DatasetExportJob).

"Creates a job that exports data from your dataset to an Amazon S3 bucket ... A dataset
export job can be in one of the following states: CREATE PENDING > CREATE IN_PROGRESS >
ACTIVE -or- CREATE FAILED ... If the status shows as CREATE FAILED, the response includes a
failureReason key". The job is stored CREATE PENDING (as a child of its dataset, so
ListDatasetExportJobs filters by `datasetArn`) and the "dataset-export" workflow is started
with `{"datasetExportJobArn"}`; its tasks move the job with `mark_job`. What the files hold:
`chalicelib.datasets.export`.

Rules the model cannot express: the dataset exists and is ACTIVE;
`jobOutput.s3DataDestination.path` is an S3 location; `ingestionMode` defaults to PUT.
"""
from chalicelib.domain import arns, lifecycle, records
from chalicelib.protocol.errors import ResourceInUseException
from chalicelib.service import datasets
from chalicelib.service import jobs
from chalicelib.service.registry import operation
from chalicelib.storage.resources import now, store

TYPE = arns.DATASET_EXPORT_JOB
WORKFLOW = "dataset-export"
DEFAULT_INGESTION_MODE = "PUT"   # CreateDatasetExportJob: "The default value is PUT."


def _destination(job_output):
    path = ((job_output or {}).get("s3DataDestination") or {}).get("path") or ""
    return jobs.require_s3_location(path, "jobOutput.s3DataDestination.path", "s3://bucket/prefix")


@operation("CreateDatasetExportJob")
def create_dataset_export_job(params):
    dataset_arn = params["datasetArn"]
    dataset = store().require(dataset_arn, datasets.TYPE, "dataset")
    if dataset.get("status") != lifecycle.ACTIVE:
        raise ResourceInUseException(f"Dataset {dataset_arn} is {dataset.get('status')}")
    _destination(params["jobOutput"])
    job = records.dataset_export_job(params["jobName"], dataset_arn,
                                     params.get("ingestionMode") or DEFAULT_INGESTION_MODE,
                                     params["roleArn"], params["jobOutput"], now())
    arn = job["arn"]

    def dataset_refused():
        raise ResourceInUseException(f"Dataset {dataset_arn} is no longer ACTIVE")
    jobs.put_under_active_parent(job, TYPE, dataset_arn, "Dataset export job", dataset_refused)
    jobs.start(arn, WORKFLOW, {"datasetExportJobArn": arn}, lifecycle.CREATE_FAILED, "export")
    return {"datasetExportJobArn": arn}


@operation("DescribeDatasetExportJob")
def describe_dataset_export_job(params):
    return {"datasetExportJob": job(params["datasetExportJobArn"])}


@operation("ListDatasetExportJobs")
def list_dataset_export_jobs(params):
    dataset_arn = params.get("datasetArn")
    if dataset_arn:
        store().require(dataset_arn, datasets.TYPE, "dataset")
    page, token = store().list_page(TYPE, params, dataset_arn)
    return {"datasetExportJobs": page, "nextToken": token}


def mark_job(job_arn, status, failure_reason=None, **fields):
    """Move an export job to `status` (conditional on its lifecycle; a repeat is a no-op).
    Raises `lifecycle.TransitionRefused` for a backwards move."""
    return store().transition(job_arn, status, failure_reason=failure_reason, **fields)


def job(job_arn):
    """The job record (ResourceNotFoundException if there is none)."""
    return store().require(job_arn, TYPE, "dataset export job")
