"""Issue 16, item 5: the inputs that used to answer 500 or slip through, each refused at its
root with a typed error that names the member (or file, line and column) and the rule."""
import json

import pytest
from botocore.exceptions import ClientError

from tests.api.test_import_jobs import BUCKET, create, dataset, settle  # noqa: F401
from tests.api.test_put_events import tracker  # noqa: F401


def typed(answer):
    return isinstance(answer, dict) and answer.get("__type") and answer.get("message")


# --- JSON nested too deep ----------------------------------------------------------------

@pytest.mark.parametrize("path,target,content_type", [
    ("/", "ListDatasetGroups", "application/x-amz-json-1.1"),
    ("/events", None, "application/json"),
    ("/recommendations", None, "application/json"),
])
def test_deeply_nested_json_is_a_typed_400(raw, path, target, content_type):
    body = b'{"a":' * 1000 + b"1" + b"}" * 1000
    status, headers, answer = raw(path=path, body=body, target=target, content_type=content_type)
    assert status == 400, answer
    assert answer["__type"] == "SerializationException"
    assert "1000 levels deep; at most 64" in answer["message"]


def test_nesting_inside_strings_does_not_count(raw):
    body = json.dumps({"name": "[" * 500 + "{" * 500}).encode()
    status, _, answer = raw(body=body, target="CreateDatasetGroup")
    assert status == 400 and answer["__type"] == "InvalidInputException"   # the name's pattern
    assert "'name'" in answer["message"]


def test_deep_json_inside_a_schema_string(personalize):
    with pytest.raises(ClientError) as e:
        personalize.create_schema(name="deep", schema="[" * 3000 + "]" * 3000)
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
    assert "schema nests JSON 3000 levels deep" in e.value.response["Error"]["Message"]


# --- lone surrogates ---------------------------------------------------------------------

def test_lone_surrogate_in_put_events_is_a_typed_400(raw, tracker):  # noqa: F811
    _, tracking_id = tracker
    body = ('{"trackingId": "%s", "sessionId": "s\\ud800", "eventList": [{"eventType": "click", '
            '"sentAt": 1600000000, "properties": "{\\"id\\": \\"i1\\"}"}]}' % tracking_id).encode()
    status, _, answer = raw(path="/events", body=body, content_type="application/json")
    assert status == 400, answer
    assert answer["__type"] == "InvalidInputException"
    assert "'sessionId'" in answer["message"] and "lone UTF-16 surrogate" in answer["message"]


def test_lone_surrogate_in_an_event_member_names_it(raw, tracker):  # noqa: F811
    _, tracking_id = tracker
    body = ('{"trackingId": "%s", "sessionId": "s", "eventList": [{"eventType": "click\\udc00", '
            '"sentAt": 1600000000}]}' % tracking_id).encode()
    status, _, answer = raw(path="/events", body=body, content_type="application/json")
    assert status == 400 and "'eventList.1.eventType'" in answer["message"], answer


def test_a_valid_surrogate_pair_is_text(raw):
    body = b'{"name": "\\ud83d\\ude00"}'
    status, _, answer = raw(body=body, target="CreateDatasetGroup")
    assert status == 400 and answer["__type"] == "InvalidInputException"
    assert "regular expression pattern" in answer["message"]   # the pattern, not the encoding


def test_lone_surrogate_in_an_s3_location(raw, dataset):  # noqa: F811
    body = ('{"jobName": "j", "datasetArn": "%s", "roleArn": "arn:aws:iam::000000000000:role/r", '
            '"dataSource": {"dataLocation": "s3://%s/r\\ud800.csv"}}' % (dataset, BUCKET)).encode()
    status, _, answer = raw(body=body, target="CreateDatasetImportJob")
    assert status == 400, answer
    assert answer["__type"] == "InvalidInputException"
    assert "'dataSource.dataLocation'" in answer["message"]


def test_body_that_is_not_utf8(raw):
    status, _, answer = raw(body=b'{"name": "\xff"}', target="CreateDatasetGroup")
    assert status == 400 and answer["__type"] == "SerializationException"
    assert "not valid UTF-8" in answer["message"]


# --- PutEvents properties size -----------------------------------------------------------

def _props(size):
    text = json.dumps({"id": "i1", "note": ""})
    return json.dumps({"id": "i1", "note": "x" * (size - len(text))})


def test_event_properties_over_the_limit(events, tracker):  # noqa: F811
    _, tracking_id = tracker
    ok = {"eventType": "click", "sentAt": 1600000000, "properties": _props(1024)}
    events.put_events(trackingId=tracking_id, sessionId="s", eventList=[ok])
    for size, where in ((1025, "eventList[0].properties: 1025 characters"),
                        (400_000, "'eventList.1.properties' failed to satisfy constraint: Member "
                                  "must have length less than or equal to 1368")):
        event = dict(ok, properties=_props(size))
        with pytest.raises(ClientError) as e:
            events.put_events(trackingId=tracking_id, sessionId="s", eventList=[event])
        assert e.value.response["Error"]["Code"] == "InvalidInputException"
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert where in e.value.response["Error"]["Message"]


def test_event_properties_base64_counts_the_json(events, tracker):  # noqa: F811
    import base64
    _, tracking_id = tracker
    event = {"eventType": "click", "sentAt": 1600000000,
             "properties": base64.b64encode(_props(1024).encode()).decode()}
    events.put_events(trackingId=tracking_id, sessionId="s", eventList=[event])
    event["properties"] = base64.b64encode(_props(1025).encode()).decode()
    with pytest.raises(ClientError) as e:
        events.put_events(trackingId=tracking_id, sessionId="s", eventList=[event])
    assert "1025 characters of JSON; at most 1024" in e.value.response["Error"]["Message"]


def test_deep_properties_are_refused(events, tracker):  # noqa: F811
    _, tracking_id = tracker
    event = {"eventType": "click", "sentAt": 1600000000, "properties": "[" * 600 + "]" * 600}
    with pytest.raises(ClientError) as e:
        events.put_events(trackingId=tracking_id, sessionId="s", eventList=[event])
    assert "eventList[0].properties nests JSON 600 levels deep" in e.value.response["Error"]["Message"]


# --- import sources ------------------------------------------------------------------------

def _run(personalize, arn):
    return personalize.describe_dataset_import_job(
        datasetImportJobArn=arn)["datasetImportJob"]["latestDatasetImportJobRun"]


def test_nul_inside_an_item_id_fails_the_import(personalize, dataset, s3):  # noqa: F811
    s3.put_object(Bucket=BUCKET, Key="nul.csv",
                  Body=b"USER_ID,ITEM_ID,TIMESTAMP\n1,10,964982703\n1,2\x000,964981247\n")
    arn = create(personalize, dataset, location=f"s3://{BUCKET}/nul.csv")
    settle()
    run = _run(personalize, arn)
    assert run["status"] == "CREATE FAILED"
    assert (f"s3://{BUCKET}/nul.csv line 3, column ITEM_ID: '2\\x000' holds a NUL character "
            "(U+0000) at position 2") in run["failureReason"]


@pytest.mark.parametrize("location", [f"s3://{BUCKET}", f"s3://{BUCKET}/"])
def test_a_bare_bucket_is_not_a_data_location(personalize, dataset, location):  # noqa: F811
    with pytest.raises(ClientError) as e:
        create(personalize, dataset, location=location)
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
    assert "names a bucket but no file or folder" in e.value.response["Error"]["Message"]


def test_a_folder_needs_its_slash(personalize, dataset, s3):  # noqa: F811
    s3.put_object(Bucket=BUCKET, Key="parts/a.csv", Body=b"USER_ID,ITEM_ID,TIMESTAMP\n1,10,1\n")
    s3.put_object(Bucket=BUCKET, Key="parts-of-another-group/b.csv",
                  Body=b"USER_ID,ITEM_ID,TIMESTAMP\n9,99,1\n")
    arn = create(personalize, dataset, location=f"s3://{BUCKET}/parts")
    settle()
    run = _run(personalize, arn)
    assert run["status"] == "CREATE FAILED"
    assert "end the location with '/'" in run["failureReason"]
    personalize.update_dataset_import_job(datasetImportJobArn=arn,
                                          dataSource={"dataLocation": f"s3://{BUCKET}/parts/"})
    settle()
    assert _run(personalize, arn)["status"] == "ACTIVE"
    from chalicelib.datasets import records
    from chalicelib.datasets.training_view import load_training_data  # noqa: F401
    from chalicelib.datasets import versions
    data = versions.load(dataset, records.current_version(records.dataset(dataset)))
    assert data.strings("ITEM_ID").tolist() == ["10"]


# --- one request id ------------------------------------------------------------------------

def test_one_request_id_per_response(raw):
    import io
    import logging
    from chalicelib import observability
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(observability.logger.registered_formatter)
    observability.logger._logger.addHandler(handler)
    try:
        status, headers, _ = raw(body=b"{}", target="ListDatasetGroups")
    finally:
        observability.logger._logger.removeHandler(handler)
    assert status == 200
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]
    rid = headers["x-amzn-requestid"]
    audit = [line for line in lines if line.get("message") == "audit"]
    served = [line for line in lines if line.get("message") == "served"]
    assert audit and served
    assert {line["api_request_id"] for line in audit} == {rid}
    assert {line["request_id"] for line in audit + served} == {rid}
    assert [k for k in headers if "request" in k] == ["x-amzn-requestid"]


def test_the_gateway_request_id_is_the_one():
    from types import SimpleNamespace
    from chalicelib import observability
    request = SimpleNamespace(context={"requestId": "gw-1"},
                              lambda_context=SimpleNamespace(aws_request_id="lambda-1"))
    assert observability.request_id(request) == "gw-1"
    request = SimpleNamespace(context={}, lambda_context=SimpleNamespace(aws_request_id="lambda-2"))
    assert observability.request_id(request) == observability.request_id(request) == "lambda-2"


# --- SIMS copurchase_delta -----------------------------------------------------------------

def test_sims_copurchase_delta_beyond_the_data_span():
    from chalicelib.algorithms.sims import Sims
    from tests.unit.test_sims import Rows
    rows = Rows()
    for u in range(6):
        for d in range(4):
            rows.add(f"u{u}", f"i{(u + d) % 5}", d + u)
    data = rows.data()
    wide = Sims().fit(data, {"copurchase_delta": "365"})
    for huge in ("99999999999999", "10" * 20):
        model = Sims().fit(data, {"copurchase_delta": huge})
        for q in range(data.n_items):
            assert model.neighbours(q)[0].tolist() == wide.neighbours(q)[0].tolist()
