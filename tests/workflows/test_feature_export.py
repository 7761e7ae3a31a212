"""The feature export workflow as a user drives it: boto3 CreateFeatureExportJob with
tests/support/stepfunctions.py (the deployed ASL runs in process, its tasks reach moto), then
DescribeFeatureExportJob / ListFeatureExportJobs and the files in S3 (seed: CreateFeatureExportJob,
data type FeatureExportJob, "Bring Your Own Recipe", "Feature Transformation"; file layout in
`chalicelib.datasets.featurize`)."""
import csv
import io
import json

import pytest

from chalicelib.workflows import starter
from tests.support import stepfunctions as sfn

ROLE = "arn:aws:iam::000000000000:role/PersonalizeRole"
BUILTIN = "arn:aws:personalize:::feature-transformation/JSON-percentile-filtering"

INTERACTIONS = {"type": "record", "name": "Interactions", "version": "1.0", "fields": [
    {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
    {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_TYPE", "type": "string"},
    {"name": "EVENT_VALUE", "type": "float"}]}
USERS = {"type": "record", "name": "Users", "version": "1.0", "fields": [
    {"name": "USER_ID", "type": "string"}, {"name": "AGE", "type": ["null", "int"]},
    {"name": "GENDER", "type": "string", "categorical": True}]}
ITEMS = {"type": "record", "name": "Items", "version": "1.0", "fields": [
    {"name": "ITEM_ID", "type": "string"}, {"name": "GENRE", "type": "string", "categorical": True},
    {"name": "PRICE", "type": ["null", "double"]}]}

# History lengths 1..5 for u1..u5; the file is not in time order.
INTERACTION_ROWS = [
    ("u1", "i1", 100, "click", "1"),
    ("u2", "i2", 200, "click", "1.5"), ("u2", "i1", 150, "buy", "4"),
    ("u3", "i3", 300, "click", "2"), ("u3", "i1", 310, "click", "2"), ("u3", "i2", 305, "buy", "5"),
    ("u4", "i4", 403, "click", "0.25"), ("u4", "i3", 402, "click", "3"),
    ("u4", "i2", 401, "click", "3"), ("u4", "i1", 400, "buy", "3"),
    ("u5", "i1", 500, "click", "1"), ("u5", "i2", 501, "click", "1"), ("u5", "i3", 502, "click", "1"),
    ("u5", "i5", 503, "click", "1"), ("u5", "i6", 504, "click", "1"),
]
USER_ROWS = [("u1", "21", "F"), ("u2", "", "M"), ("u3", "33", "F"), ("u4", "40", "M"),
             ("u9", "50", "F")]
ITEM_ROWS = [("i1", "Comedy|Drama", "9.99"), ("i2", "Drama", ""), ("i3", "Action", "5"),
             ("i4", "Comedy", "12.5"), ("i7", "Horror", "3")]


@pytest.fixture(autouse=True)
def local_runs():
    sfn.reset()
    yield
    sfn.reset()


def csv_body(header, rows):
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header] + [list(r) for r in rows])
    return out.getvalue().encode()


def read_csv(s3, bucket, key):
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    return list(csv.reader(io.StringIO(text)))


def keys(s3, bucket, prefix=""):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def import_dataset(personalize, s3, group, kind, schema, header, rows):
    schema_arn = personalize.create_schema(name=f"{group.rsplit('/', 1)[1]}-{kind}",
                                           schema=json.dumps(schema))["schemaArn"]
    dataset = personalize.create_dataset(datasetGroupArn=group, schemaArn=schema_arn,
                                         datasetType=kind, name=f"{kind}-data")["datasetArn"]
    s3.put_object(Bucket="sources", Key=f"{kind}.csv", Body=csv_body(header, rows))
    job = personalize.create_dataset_import_job(
        jobName=f"{kind}-import", datasetArn=dataset, roleArn=ROLE,
        dataSource={"dataLocation": f"s3://sources/{kind}.csv"})["datasetImportJobArn"]
    run = personalize.describe_dataset_import_job(
        datasetImportJobArn=job)["datasetImportJob"]["latestDatasetImportJobRun"]
    assert run["status"] == "ACTIVE", run.get("failureReason")


@pytest.fixture
def group(personalize, s3):
    """A dataset group with Interactions, Users and Items imported, and an exports bucket."""
    s3.create_bucket(Bucket="sources")
    s3.create_bucket(Bucket="exports")
    arn = personalize.create_dataset_group(name="shop")["datasetGroupArn"]
    import_dataset(personalize, s3, arn, "Interactions", INTERACTIONS,
                   ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"], INTERACTION_ROWS)
    import_dataset(personalize, s3, arn, "Users", USERS, ["USER_ID", "AGE", "GENDER"], USER_ROWS)
    import_dataset(personalize, s3, arn, "Items", ITEMS, ["ITEM_ID", "GENRE", "PRICE"], ITEM_ROWS)
    return arn


def export(personalize, group, name="export-1", destination="s3://exports/featurized/",
           transformation=BUILTIN, **extra):
    arn = personalize.create_feature_export_job(
        jobName=name, datasetGroupArn=group, featureTransformationArn=transformation, roleArn=ROLE,
        dataDestination=destination, **extra)["featureExportJobArn"]
    return personalize.describe_feature_export_job(featureExportJobArn=arn)["featureExportJob"]


def expected_interactions(users):
    """The rows of `users`, sorted by user then time, values as the export writes them."""
    kept = sorted((r for r in INTERACTION_ROWS if r[0] in users), key=lambda r: (r[0], r[2]))
    return [["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"]] + \
        [[u, i, str(t), e, v] for u, i, t, e, v in kept]


def test_percentile_filter_exports_the_middle_users(personalize, s3, group):
    # History lengths 1..5: the 25th percentile is 2 and the 75th is 4, so u2, u3, u4 stay.
    job = export(personalize, group, featureTransformationOverrides={
        "min_hist_length_percentile": "0.25", "max_hist_length_percentile": "0.75"})
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert "failureReason" not in job
    prefix = "featurized/export-1/"
    assert keys(s3, "exports") == [prefix + f for f in
                                   ("interactions.csv", "items.csv", "manifest.json", "users.csv")]
    assert read_csv(s3, "exports", prefix + "interactions.csv") == \
        expected_interactions({"u2", "u3", "u4"})
    # Users rows of kept users only (u1, u5 are filtered out; u9 has no interactions).
    assert read_csv(s3, "exports", prefix + "users.csv") == [
        ["USER_ID", "AGE", "GENDER"], ["u2", "", "M"], ["u3", "33", "F"], ["u4", "40", "M"]]
    # Items are the catalogue: every Items row, i7 included though nobody interacted with it.
    assert read_csv(s3, "exports", prefix + "items.csv") == [
        ["ITEM_ID", "GENRE", "PRICE"], ["i1", "Comedy|Drama", "9.99"], ["i2", "Drama", ""],
        ["i3", "Action", "5"], ["i4", "Comedy", "12.5"], ["i7", "Horror", "3"]]
    manifest = json.loads(s3.get_object(Bucket="exports", Key=prefix + "manifest.json")["Body"].read())
    assert manifest["featureExportJobArn"] == job["featureExportJobArn"]
    assert manifest["parameters"] == {"min_hist_length_percentile": 0.25,
                                      "max_hist_length_percentile": 0.75,
                                      "train_ratio": 0.9, "test_ratio": 0.1}
    assert manifest["historyLength"] == {"min": 2.0, "max": 4.0}
    assert manifest["counts"] == {"interactions": 9, "users": 3, "items": 7,
                                  "droppedInteractions": 6, "droppedUsers": 2}
    assert manifest["files"]["interactions.csv"]["rows"] == 9


def test_defaults_export_everything_and_the_job_is_listed(personalize, s3, group):
    from chalicelib.service import feature_export_jobs
    moves = []
    original = feature_export_jobs.mark_job

    def recording(arn, status, failure_reason=None, **fields):
        moves.append(status)
        return original(arn, status, failure_reason=failure_reason, **fields)
    feature_export_jobs.mark_job = recording
    try:
        job = export(personalize, group, destination="s3://exports")
    finally:
        feature_export_jobs.mark_job = original
    assert moves == ["CREATE IN_PROGRESS", "ACTIVE"]
    assert job["status"] == "ACTIVE"
    assert read_csv(s3, "exports", "export-1/interactions.csv") == \
        expected_interactions({"u1", "u2", "u3", "u4", "u5"})
    assert [r[0] for r in read_csv(s3, "exports", "export-1/users.csv")] == \
        ["USER_ID", "u1", "u2", "u3", "u4"]
    listed = personalize.list_feature_export_jobs()["featureExportJobs"]
    assert [(j["featureExportJobArn"], j["jobName"], j["status"]) for j in listed] == \
        [(job["featureExportJobArn"], "export-1", "ACTIVE")]
    assert job["creationDateTime"] <= job["lastUpdatedDateTime"]


def test_interactions_only_and_custom_transformation(personalize, s3):
    s3.create_bucket(Bucket="sources")
    s3.create_bucket(Bucket="exports")
    group = personalize.create_dataset_group(name="plain")["datasetGroupArn"]
    schema = {"type": "record", "name": "Interactions", "version": "1.0", "fields": [
        {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"}]}
    rows = [(u, i, t) for u, i, t, _, _ in INTERACTION_ROWS]
    import_dataset(personalize, s3, group, "Interactions", schema,
                   ["USER_ID", "ITEM_ID", "TIMESTAMP"], rows)
    custom = personalize.create_feature_transformation(
        name="long-histories", defaultParameters={"min_hist_length_percentile": "0.5"}
    )["featureTransformationArn"]
    job = export(personalize, group, transformation=custom)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    # The median history length is 3: u3, u4, u5 stay; no event columns, no metadata files.
    assert keys(s3, "exports") == ["featurized/export-1/interactions.csv",
                                   "featurized/export-1/manifest.json"]
    assert read_csv(s3, "exports", "featurized/export-1/interactions.csv") == \
        [r[:3] for r in expected_interactions({"u3", "u4", "u5"})]


def failed(job):
    assert job["status"] == "CREATE FAILED"
    return job["failureReason"]


def test_missing_destination_bucket_fails_the_job(personalize, s3, group):
    job = export(personalize, group, destination="s3://no-such-bucket/out/")
    assert failed(job) == "The dataDestination bucket no-such-bucket does not exist"
    listed = personalize.list_feature_export_jobs()["featureExportJobs"]
    assert [(j["status"], j.get("failureReason")) for j in listed] == \
        [("CREATE FAILED", job["failureReason"])]


def test_a_group_without_data_fails_the_job(personalize, s3):
    s3.create_bucket(Bucket="exports")
    group = personalize.create_dataset_group(name="empty")["datasetGroupArn"]
    reason = failed(export(personalize, group))
    assert reason.startswith("There is no data to featurize: ") and "no interactions" in reason
    assert keys(s3, "exports") == []


def test_parameters_that_do_not_fit_together_fail_the_job(personalize, s3, group):
    custom = personalize.create_feature_transformation(
        name="short", defaultParameters={"min_hist_length_percentile": "0.1",
                                         "max_hist_length_percentile": "0.5"}
    )["featureTransformationArn"]
    # The override names one of its keys, so creation accepts it; with the other default it
    # cannot work (min above max).
    reason = failed(export(personalize, group, transformation=custom,
                           featureTransformationOverrides={"min_hist_length_percentile": "0.9"}))
    assert reason.startswith("The feature transformation's parameters cannot be used: ")
    assert "min_hist_length_percentile" in reason
    assert keys(s3, "exports") == []


def test_percentiles_that_keep_nobody_fail_the_job(personalize, s3, group):
    s3.put_object(Bucket="exports", Key="featurized/other/keep.txt", Body=b"not ours")
    # Both bounds at the 37.5th percentile of lengths 1..5 (2.5): no history has that length.
    reason = failed(export(personalize, group, featureTransformationOverrides={
        "min_hist_length_percentile": "0.375", "max_hist_length_percentile": "0.375"}))
    assert reason.startswith("Featurization failed: ") and "keep no user" in reason
    assert keys(s3, "exports") == ["featurized/other/keep.txt"]


def test_a_crash_while_writing_fails_the_job_and_leaves_no_files(personalize, s3, group, monkeypatch):
    from chalicelib.storage import objects
    original, calls = objects.put_bytes, []

    def flaky(location, data, content_type=None):
        calls.append(location)
        if location.endswith("users.csv"):
            raise OSError("connection reset")
        return original(location, data, content_type)
    monkeypatch.setattr(objects, "put_bytes", flaky)
    reason = failed(export(personalize, group))
    assert reason == "Internal error while exporting (OSError): connection reset"
    # Retried once by the state machine (MaxAttempts 2), then caught; the folder is cleaned up.
    assert sum(c.endswith("users.csv") for c in calls) == 3
    assert keys(s3, "exports") == []


def test_a_repeated_execution_changes_nothing(personalize, s3, group):
    job = export(personalize, group)
    before = keys(s3, "exports")
    starter.start_workflow("feature-export", {"featureExportJobArn": job["featureExportJobArn"]})
    again = personalize.describe_feature_export_job(
        featureExportJobArn=job["featureExportJobArn"])["featureExportJob"]
    assert (again["status"], again["lastUpdatedDateTime"]) == ("ACTIVE", job["lastUpdatedDateTime"])
    assert keys(s3, "exports") == before
    [first, second] = sfn.executions("feature-export")
    assert (first.status, second.status) == ("SUCCEEDED", "SUCCEEDED")


def test_recorded_events_join_the_exported_interactions(personalize, events, s3):
    """Events recorded with PutEvents are training data ("Recording Events"), so they are
    featurized with the imported interactions; columns they lack stay empty."""
    s3.create_bucket(Bucket="sources")
    s3.create_bucket(Bucket="exports")
    group = personalize.create_dataset_group(name="clicks")["datasetGroupArn"]
    schema = {"type": "record", "name": "Interactions", "version": "1.0", "fields": [
        {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"}]}
    import_dataset(personalize, s3, group, "Interactions", schema,
                   ["USER_ID", "ITEM_ID", "TIMESTAMP"], [("u1", "i1", 100), ("u2", "i2", 200)])
    tracking_id = personalize.create_event_tracker(name="tracker", datasetGroupArn=group,
                                                   roleArn=ROLE)["trackingId"]
    events.put_events(trackingId=tracking_id, userId="u1", sessionId="s1", eventList=[
        {"eventId": "e1", "eventType": "click", "sentAt": 150, "properties": '{"id": "i3"}'},
        {"eventId": "e2", "eventType": "rating", "sentAt": 160,
         "properties": '{"id": "i2", "value": "4.5"}'}])
    job = export(personalize, group)
    assert job["status"] == "ACTIVE", job.get("failureReason")
    assert read_csv(s3, "exports", "featurized/export-1/interactions.csv") == [
        ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"],
        ["u1", "i1", "100", "", ""], ["u1", "i3", "150", "click", ""],
        ["u1", "i2", "160", "rating", "4.5"], ["u2", "i2", "200", "", ""]]


def test_failure_reason_does_not_depend_on_error_names(personalize, s3, group, monkeypatch):
    """On the embedded emulator every Lambda error is `Runtime.HandlerError`: the job still
    fails with the task's own message."""
    from chalicelib.storage import objects
    sfn.configure(error_style="ministack")

    def broken(location, data, content_type=None):
        raise OSError("disk on fire")
    monkeypatch.setattr(objects, "put_bytes", broken)
    reason = failed(export(personalize, group))
    assert reason == "Internal error while exporting (Runtime.HandlerError): disk on fire"
