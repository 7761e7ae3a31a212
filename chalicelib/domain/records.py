"""Resource records: the members each resource of the data side is stored with.

A record is a plain dict named with the API's members (seed, "Data Types":
DatasetGroup, DatasetSchema, Dataset, DatasetImportJob, DatasetImportJobRun,
EventTracker, FeatureExportJob) plus `arn` (the store's key) and a few
internal members the output shapes do not name (the protocol layer drops
them): `datasetType` of a schema, `latestDatasetImportJobRunArn` of a job,
`importRunArn` / `dataVersion` / `dataVersionRunArn` of a dataset.
`creationDateTime` and `lastUpdatedDateTime` start equal.
"""
from chalicelib.domain import arns, lifecycle


def _stamped(record, created):
    record.update(creationDateTime=created, lastUpdatedDateTime=created)
    return record


def dataset_group(name, created, role_arn=None, kms_key_arn=None):
    """Stored ACTIVE: creating a group needs no work."""
    arn = arns.dataset_group(name)
    return _stamped({"arn": arn, "name": name, "datasetGroupArn": arn, "status": lifecycle.ACTIVE,
                     "roleArn": role_arn, "kmsKeyArn": kms_key_arn}, created)


def schema(name, text, dataset_type, created, system=False):
    """Stored ACTIVE; `datasetType` is the type the Avro record name gives; `system` marks
    the event-interactions schema that CreateEventTracker makes."""
    arn = arns.schema(name)
    return _stamped({"arn": arn, "name": name, "schemaArn": arn, "schema": text,
                     "datasetType": dataset_type, "status": lifecycle.ACTIVE,
                     "system": True if system else None}, created)


def dataset(group_arn, dataset_type, name, schema_arn, created):
    """Stored ACTIVE; `datasetType` upper case, as in the ARN."""
    arn = arns.dataset(group_arn, dataset_type)
    return _stamped({"arn": arn, "name": name, "datasetArn": arn, "datasetGroupArn": group_arn,
                     "datasetType": dataset_type, "schemaArn": schema_arn,
                     "status": lifecycle.ACTIVE}, created)


# CreateDatasetImportJob importMode (today's API; the preview's imports are all FULL)
FULL, INCREMENTAL = "FULL", "INCREMENTAL"


def dataset_import_job(name, dataset_arn, data_source, role_arn, job_config, first_run_arn, created,
                       import_mode=FULL):
    """Stored CREATE PENDING with its first run."""
    arn = arns.dataset_import_job(name)
    return _stamped({"arn": arn, "jobName": name, "datasetImportJobArn": arn,
                     "datasetArn": dataset_arn, "dataSource": data_source, "roleArn": role_arn,
                     "datasetImportJobConfig": job_config, "status": lifecycle.CREATE_PENDING,
                     "latestDatasetImportJobRunArn": first_run_arn,
                     "importMode": import_mode}, created)


def dataset_import_job_run(job, run_arn, created):
    """A run copies its job's source, role and configuration as they are when it starts
    (seed: "Each run uses a snapshot of the source data at the time of the call")."""
    return _stamped({"arn": run_arn, "datasetImportJobRunArn": run_arn,
                     "datasetImportJobArn": job["datasetImportJobArn"],
                     "datasetArn": job["datasetArn"], "dataSource": job["dataSource"],
                     "roleArn": job.get("roleArn"),
                     "datasetImportJobConfig": job.get("datasetImportJobConfig"),
                     "importMode": job.get("importMode"),
                     "status": lifecycle.CREATE_PENDING}, created)


def event_tracker(name, group_arn, role_arn, tracking_id, account_id, created):
    """Stored ACTIVE: the tracking ID is usable at once."""
    arn = arns.event_tracker(name)
    return _stamped({"arn": arn, "name": name, "eventTrackerArn": arn, "accountId": account_id,
                     "trackingId": tracking_id, "datasetGroupArn": group_arn,
                     "roleArn": role_arn, "status": lifecycle.ACTIVE}, created)


def feature_export_job(name, group_arn, destination, transformation_arn, overrides, role_arn,
                       created):
    """Stored CREATE PENDING; the export workflow moves it on."""
    arn = arns.feature_export_job(name)
    return _stamped({"arn": arn, "jobName": name, "featureExportJobArn": arn,
                     "datasetGroupArn": group_arn, "dataDestination": destination,
                     "featureTransformationArn": transformation_arn,
                     "featureTransformationOverrides": overrides, "roleArn": role_arn,
                     "status": lifecycle.CREATE_PENDING}, created)


def dataset_export_job(name, dataset_arn, ingestion_mode, role_arn, job_output, created):
    """Stored CREATE PENDING; the dataset-export workflow moves it on (today's API,
    CreateDatasetExportJob; `ingestionMode` "The default value is PUT")."""
    arn = arns.dataset_export_job(name)
    return _stamped({"arn": arn, "jobName": name, "datasetExportJobArn": arn,
                     "datasetArn": dataset_arn, "ingestionMode": ingestion_mode,
                     "roleArn": role_arn, "jobOutput": job_output,
                     "status": lifecycle.CREATE_PENDING}, created)


def data_deletion_job(name, group_arn, data_source, role_arn, created):
    """Stored PENDING; the data-deletion workflow moves it on (today's API,
    CreateDataDeletionJob)."""
    arn = arns.data_deletion_job(name)
    return _stamped({"arn": arn, "jobName": name, "dataDeletionJobArn": arn,
                     "datasetGroupArn": group_arn, "dataSource": data_source,
                     "roleArn": role_arn, "status": lifecycle.PENDING}, created)
