"""The import workflow's Map path (seed: CreateDatasetImportJob, DatasetImportJobRun): a source
larger than IMPORT_RANGE_BYTES is read in byte ranges by a Map state and merged into one data
version - the version a one-range import writes - and a range whose data does not fit fails
the run with the file, line and column while the dataset keeps its previous data."""
import numpy as np
import pytest

from chalicelib.datasets import importer, records, schema, versions
from chalicelib.workflows import collect
from tests.support import stepfunctions as sfn
from tests.workflows.test_import_workflow import (  # noqa: F401 (group: a fixture)
    INTERACTIONS_SCHEMA, group, import_job, latest_run)


@pytest.fixture(autouse=True)
def local_runs(monkeypatch):
    monkeypatch.setenv("IMPORT_RANGE_BYTES", "400")
    monkeypatch.setenv("IMPORT_MAX_CONCURRENCY", "3")
    sfn.reset()
    yield
    sfn.reset()


def entered(execution):
    return [e["name"] for e in execution.history if e["type"] == "StateEntered"]


def body(n, bad_line=None):
    lines = [f"u{i % 11},i{i % 17},{1_500_000_000 + i}\n" for i in range(n)]
    if bad_line:
        lines[bad_line - 2] = "u1,i1,soon\n"
    return ("USER_ID,ITEM_ID,TIMESTAMP\n" + "".join(lines)).encode()


def test_a_large_source_is_read_in_ranges_and_merged(personalize, s3, group):
    data = body(300)
    s3.put_object(Bucket="training", Key="big.csv", Body=data)
    job_arn = import_job(personalize, group["dataset"], "s3://training/big.csv")
    _, run = latest_run(personalize, job_arn)
    assert run["status"] == "ACTIVE", run.get("failureReason")
    execution = sfn.executions("import")[-1]
    assert "ParseRanges" in entered(execution)
    assert "ParseAndValidate" not in entered(execution)
    parsed = execution.output["parse"]
    assert parsed["ranges"] == len(execution.output["plan"]["ranges"]) > 5
    assert len(parsed["rangeSeconds"]) == parsed["ranges"] and parsed["rows"] == 300

    current = records.current_version(records.dataset(group["dataset"]))
    merged = versions.load(group["dataset"], current)
    sch = schema.parse(INTERACTIONS_SCHEMA, "Interactions")
    whole = importer.import_location("s3://training/big.csv", group["dataset"], sch)
    alone = versions.load(group["dataset"], whole.version_id)
    for name in ("USER_ID", "ITEM_ID", "TIMESTAMP"):
        np.testing.assert_array_equal(merged.columns[name], alone.columns[name])
    assert merged.dictionaries["ITEM_ID"].tolist() == alone.dictionaries["ITEM_ID"].tolist()


def test_a_range_that_does_not_fit_fails_the_run_and_keeps_the_data(personalize, s3, group):
    s3.put_object(Bucket="training", Key="big.csv", Body=body(300))
    job_arn = import_job(personalize, group["dataset"], "s3://training/big.csv")
    before = records.current_version(records.dataset(group["dataset"]))
    assert before

    s3.put_object(Bucket="training", Key="big.csv", Body=body(300, bad_line=250))
    personalize.update_dataset_import_job(datasetImportJobArn=job_arn)
    _, run = latest_run(personalize, job_arn)
    assert run["status"] == "CREATE FAILED"
    assert run["failureReason"] == (
        "The data does not match the dataset's schema (1 problem). s3://training/big.csv "
        "line 250, column TIMESTAMP: 'soon' is not an integer (long).")
    assert "ParseRanges" in entered(sfn.executions("import")[-1])
    assert records.current_version(records.dataset(group["dataset"])) == before
    assert versions.list_versions(group["dataset"]) == [before]


def test_the_garbage_collector_keeps_every_part_of_a_merged_version(personalize, s3, group):
    # The merged version keeps the ranges' parts where they were written; the collector
    # (issue 16) takes an object's folder for its data version, so they must not sit in a
    # folder of their own.
    s3.put_object(Bucket="training", Key="big.csv", Body=body(300))
    job_arn = import_job(personalize, group["dataset"], "s3://training/big.csv")
    assert latest_run(personalize, job_arn)[1]["status"] == "ACTIVE"
    current = records.current_version(records.dataset(group["dataset"]))
    collect.collect(grace_seconds=0)
    kept = versions.load(group["dataset"], current)
    assert kept.rows == 300
    assert kept.strings("ITEM_ID").tolist()[:3] == ["i0", "i1", "i2"]
    assert versions.list_versions(group["dataset"]) == [current]


def test_a_plan_too_large_for_the_state_is_parsed_in_one_task(personalize, s3, group,
                                                              monkeypatch):
    # Step Functions' 256 KB payload quota: exceeding it (a folder of thousands of files)
    # is an error no Catch takes. Here the budget is lowered instead of writing such a folder.
    from chalicelib.workflows import imports
    s3.put_object(Bucket="training", Key="big.csv", Body=body(300))
    monkeypatch.setattr(imports, "PLAN_PAYLOAD_BYTES", 1000)
    job_arn = import_job(personalize, group["dataset"], "s3://training/big.csv")
    _, run = latest_run(personalize, job_arn)
    assert run["status"] == "ACTIVE", run.get("failureReason")
    execution = sfn.executions("import")[-1]
    assert execution.output["plan"] == {"ranged": False}
    assert "ParseAndValidate" in entered(execution) and "ParseRanges" not in entered(execution)
    assert execution.output["parse"]["rows"] == 300
