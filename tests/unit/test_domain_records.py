"""Record builders: API member names, initial statuses, ARNs (seed, "Data Types")."""
from datetime import datetime, timezone

from chalicelib.domain import lifecycle, records

T = datetime(2019, 6, 1, tzinfo=timezone.utc)
GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g"


def test_immediately_active_resources():
    group = records.dataset_group("g", T)
    assert (group["arn"], group["datasetGroupArn"], group["status"]) == (GROUP, GROUP, lifecycle.ACTIVE)
    assert group["creationDateTime"] == group["lastUpdatedDateTime"] == T
    schema = records.schema("s", "{}", "ITEMS", T)
    assert schema["schemaArn"].endswith(":schema/s") and schema["system"] is None
    assert records.schema("e", "{}", "INTERACTIONS", T, system=True)["system"] is True
    dataset = records.dataset(GROUP, "ITEMS", "items", schema["schemaArn"], T)
    assert dataset["datasetArn"].endswith(":dataset/g/ITEMS") and dataset["status"] == lifecycle.ACTIVE
    tracker = records.event_tracker("t", GROUP, None, "tid", "000000000000", T)
    assert (tracker["trackingId"], tracker["status"]) == ("tid", lifecycle.ACTIVE)


def test_jobs_start_pending_and_runs_copy_their_job():
    job = records.dataset_import_job("j", "arn:d", {"dataLocation": "s3://b/k"}, "arn:role",
                                     {"importJobSchedule": "rate(1 day)"}, "arn:run", T)
    assert job["status"] == lifecycle.CREATE_PENDING
    assert job["latestDatasetImportJobRunArn"] == "arn:run"
    run = records.dataset_import_job_run(job, "arn:run", T)
    assert run["status"] == lifecycle.CREATE_PENDING
    for member in ("datasetImportJobArn", "datasetArn", "dataSource", "roleArn", "datasetImportJobConfig"):
        assert run[member] == job[member]
    export = records.feature_export_job("x", GROUP, "s3://b/p", "arn:ft", None, "arn:role", T)
    assert export["featureExportJobArn"].endswith(":feature-export-job/x")
    assert export["status"] == lifecycle.CREATE_PENDING
