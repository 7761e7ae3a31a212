"""Issue 16, item 1: internal objects live in the internal bucket, jobs never delete what they
supersede, and the garbage collector (chalicelib/workflows/collect.py, the `maintenance`
workflow) removes only what no record references, after the grace period."""
import pytest

from chalicelib.datasets import records, versions
from chalicelib.storage import objects
from chalicelib.workflows import collect
from tests.api.test_import_jobs import BUCKET, create, dataset, settle  # noqa: F401

INTERNAL = "personalize-internal"


def keys(s3, bucket, prefix=""):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def current(arn):
    return records.current_version(records.dataset(arn))


def test_data_versions_live_in_the_internal_bucket(personalize, dataset, s3):  # noqa: F811
    create(personalize, dataset)
    settle()
    version = current(dataset)
    assert keys(s3, BUCKET, "data-versions/") == []
    assert any(f"/{version}/manifest.json" in k for k in keys(s3, INTERNAL, "data-versions/"))
    # an upload that imitates the layout in the user-facing bucket changes nothing
    s3.put_object(Bucket=BUCKET, Key=f"{versions.version_prefix(dataset, version)}manifest.json",
                  Body=b"{}")
    assert versions.read_manifest(dataset, version)["rows"] == 3


def test_reimport_keeps_the_superseded_version_until_collected(personalize, dataset, s3):  # noqa: F811
    job = create(personalize, dataset)
    settle()
    old = current(dataset)
    s3.put_object(Bucket=BUCKET, Key="more.csv", Body=b"USER_ID,ITEM_ID,TIMESTAMP\n5,50,1\n")
    personalize.update_dataset_import_job(datasetImportJobArn=job,
                                          dataSource={"dataLocation": f"s3://{BUCKET}/more.csv"})
    settle()
    new = current(dataset)
    assert new != old and versions.list_versions(dataset) == [old, new]
    assert collect.collect()["objects"] == 0          # within the grace period
    assert versions.list_versions(dataset) == [old, new]
    out = collect.collect(grace_seconds=0)
    assert out["deleted"]["data-versions"] == [versions.version_prefix(dataset, old)]
    assert versions.list_versions(dataset) == [new]
    assert versions.load(dataset, new).strings("ITEM_ID").tolist() == ["50"]
    assert collect.collect(grace_seconds=0)["objects"] == 0   # nothing more to do


def test_a_version_being_written_is_kept(personalize, dataset):  # noqa: F811
    from chalicelib.service import datasets
    from chalicelib.storage.resources import store
    create(personalize, dataset)
    settle()
    writing = versions.new_version_id()
    objects.put_bytes(objects.internal_uri(f"{versions.version_prefix(dataset, writing)}part-00000.npz"),
                      b"x")
    store().update(dataset, {datasets.IMPORT_LOCK: "arn:run"})
    collect.collect(grace_seconds=0)
    assert writing in versions.list_versions(dataset)
    store().update(dataset, remove=[datasets.IMPORT_LOCK])
    collect.collect(grace_seconds=0)                  # the run is gone: its leftovers go
    assert versions.list_versions(dataset) == [current(dataset)]


def test_versions_of_a_deleted_dataset_are_collected(personalize, dataset):  # noqa: F811
    from chalicelib.storage.resources import store
    create(personalize, dataset)
    settle()
    version = current(dataset)
    store().delete(dataset)   # as if DeleteDataset's record delete landed and its cleanup did not
    assert versions.list_versions(dataset) == [version]
    collect.collect(grace_seconds=0)
    assert versions.list_versions(dataset) == []


@pytest.mark.usefixtures("aws")
def test_models_without_a_version_record_are_collected():
    from chalicelib.domain import arns, lifecycle
    from chalicelib.service.solution_versions import model_prefix
    from chalicelib.storage.resources import store
    live = f"{arns.build(arns.SOLUTION, 'sol')}/aaaa0001"
    store().put_new({"arn": live, "solutionVersionArn": live, "status": lifecycle.ACTIVE},
                    arns.SOLUTION_VERSION)
    gone = f"{arns.build(arns.SOLUTION, 'sol')}/bbbb0002"
    for arn in (live, gone):
        objects.put_bytes(objects.internal_uri(f"{model_prefix(arn)}output/model.tar.gz"), b"m")
    out = collect.collect(grace_seconds=0)
    assert out["deleted"]["models"] == [model_prefix(gone)]
    assert [o["key"] for o in objects.list_prefix(objects.internal_uri("models/"))] == \
        [f"{model_prefix(live)}output/model.tar.gz"]


@pytest.mark.usefixtures("aws")
def test_batch_job_parts_of_ended_or_gone_jobs_are_collected():
    from chalicelib.domain import arns, lifecycle
    from chalicelib.storage.resources import store
    running = arns.batch_job(arns.BATCH_INFERENCE_JOB, "running")
    store().put_new({"arn": running, "status": lifecycle.CREATE_IN_PROGRESS}, arns.BATCH_INFERENCE_JOB)
    for name in ("running", "gone"):
        objects.put_bytes(objects.internal_uri(f"batch-jobs/batch-inference-job/{name}/part-0.jsonl"), b"p")
    out = collect.collect(grace_seconds=0)
    assert out["deleted"]["batch-jobs"] == ["batch-jobs/batch-inference-job/gone/"]


def test_the_maintenance_workflow_collects(personalize, dataset, monkeypatch):  # noqa: F811
    from chalicelib.storage.resources import store
    from chalicelib.workflows import starter
    from tests.support import stepfunctions as sfn
    create(personalize, dataset)
    settle()
    store().delete(dataset)
    monkeypatch.setenv("COLLECT_GRACE_SECONDS", "0")
    arn = starter.start_workflow("maintenance", {})
    sfn.wait_executions()
    assert sfn.get_execution(arn).status == "SUCCEEDED"
    assert versions.list_versions(dataset) == []
