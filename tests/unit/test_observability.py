"""The logging middleware: one JSON line per invocation with request id,
operation and resource ARN, for API requests and for state machine tasks."""
import io
import json

import pytest
from chalice import Chalice, Response
from chalice.test import Client

from chalicelib import observability


def _app():
    app = Chalice(app_name="observed")
    observability.register(app)

    @app.route("/", methods=["POST"], content_types=["*/*"])
    def control_plane():
        status = 500 if b"boom" in (app.current_request.raw_body or b"") else 200
        return Response(body="{}", status_code=status)

    @app.lambda_function(name="tasks")
    def tasks(event, context):
        if event.get("task") == "fail":
            raise ValueError("task failed")
        return {"ok": True}

    return app


@pytest.fixture
def logs():
    """The JSON lines the Powertools handler writes (its stream, swapped for a buffer)."""
    handler = observability.logger.registered_handler
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def _lines(buffer):
    out = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_api_request_is_logged_with_operation_and_arn(logs):
    arn = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g"
    with Client(_app()) as client:
        client.http.post("/", headers={"X-Amz-Target": "AmazonPersonalize.DescribeDatasetGroup",
                                       "Content-Type": "application/x-amz-json-1.1"},
                         body=json.dumps({"datasetGroupArn": arn}))
    [line] = [ln for ln in _lines(logs) if ln["message"] == "served"]
    assert line["operation"] == "DescribeDatasetGroup"
    assert line["resource_arn"] == arn
    assert line["status"] == 200 and line["level"] == "INFO"
    assert "request_id" in line and line["service"]


def test_server_error_is_logged_as_error(logs):
    with Client(_app()) as client:
        client.http.post("/", body=b"boom")
    [line] = [ln for ln in _lines(logs) if ln["message"] == "served"]
    assert line["level"] == "ERROR" and line["status"] == 500
    assert line.get("resource_arn") is None


def test_task_invocation_names_task_and_resource(logs):
    arn = "arn:aws:personalize:us-east-1:000000000000:dataset-import-job/j/run-1"
    with Client(_app()) as client:
        client.lambda_.invoke("tasks", {"task": "import.parse",
                                        "input": {"datasetImportJobRunArn": arn}})
    [line] = [ln for ln in _lines(logs) if ln["message"] == "served"]
    assert line["operation"] == "import.parse" and line["resource_arn"] == arn


def test_failing_task_logs_the_exception_and_reraises(logs):
    with Client(_app()) as client:
        with pytest.raises(ValueError):
            client.lambda_.invoke("tasks", {"task": "fail", "input": {}})
    [line] = [ln for ln in _lines(logs) if ln["message"] == "failed"]
    assert line["level"] == "ERROR" and "task failed" in line["exception"]
    # keys do not leak into the next invocation
    observability.logger.info("after")
    [after] = [ln for ln in _lines(logs) if ln["message"] == "after"]
    assert "operation" not in after


def test_resource_arn_looks_one_level_down():
    assert observability.resource_arn({"name": "x", "solutionConfig": {
        "recipeArn": "arn:aws:personalize:::recipe/aws-hrnn"}}) == \
        "arn:aws:personalize:::recipe/aws-hrnn"
    assert observability.resource_arn({"roleArn": "not-an-arn"}) is None
