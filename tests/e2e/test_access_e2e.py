"""Access control on the deployed stack (ministack: API Gateway -> Lambda), stock boto3
and raw HTTP: the root keys `make up` writes work; unsigned, forged, skewed, unknown-key
and wrong-region requests get AWS's 403s from every service; principals made with
`python -m scripts.access` get what their policies allow; the audit lines reach
CloudWatch Logs."""
import datetime
import io
import json
import urllib.error
import urllib.request
from contextlib import redirect_stdout

import pytest
from botocore.exceptions import ClientError

from scripts import access as access_cli
from tests.support.access import sign

pytestmark = pytest.mark.e2e

ROLE = "arn:aws:iam::000000000000:role/personalize"
SAMPLES = {  # one operation per service: (route, target, body)
    "personalize": ("/", "AmazonPersonalize.ListDatasetGroups", {}),
    "personalize-runtime": ("/recommendations", None, {
        "campaignArn": "arn:aws:personalize:us-east-1:000000000000:campaign/none", "userId": "u"}),
    "personalize-events": ("/events", None, {"trackingId": "none", "sessionId": "s", "eventList": [
        {"eventType": "click", "sentAt": 1}]}),
}


def _http(stack, route, target, body, signing):
    url = stack.personalize_endpoint.rstrip("/") + route
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1" if target else "application/json"}
    if target:
        headers["X-Amz-Target"] = target
    if signing is not None:
        headers = sign("POST", url, data, headers, token=None, **signing)
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _admin(stack, *argv):
    out = io.StringIO()
    with redirect_stdout(out):
        assert access_cli.main(["--record", stack.record_path, *argv]) == 0
    text = out.getvalue()
    return json.loads(text) if text.strip() else None


def _principal(stack, name, *policy_args):
    created = _admin(stack, "create-principal", name, *policy_args)
    return created["accessKey"]["accessKeyId"], created["accessKey"]["secretAccessKey"]


@pytest.mark.parametrize("service", sorted(SAMPLES))
def test_bad_signatures_get_the_403s_from_every_service(stack, service):
    route, target, body = SAMPLES[service]
    root = stack.keys
    cases = {
        "MissingAuthenticationTokenException": None,
        "InvalidSignatureException": {"key": (root[0], root[1] + "x")},
        "UnrecognizedClientException": {"key": ("PKIAUNKNOWNKEY000000", "x")},
    }
    for expected, signing in cases.items():
        status, answer = _http(stack, route, target, body, signing)
        assert (status, answer.get("__type")) == (403, expected), (signing, answer)
    status, answer = _http(stack, route, target, body,
                           {"key": root, "when": datetime.datetime(2000, 1, 1)})
    assert status == 403 and answer["message"].startswith("Signature expired: 20000101T000000Z")
    status, answer = _http(stack, route, target, body, {"key": root, "region": "eu-west-1"})
    assert status == 403 and "valid region" in answer["message"]
    status, answer = _http(stack, route, target, body, {"key": root})  # signed through the proxy
    assert answer.get("__type") not in ("InvalidSignatureException", "AccessDeniedException",
                                        "MissingAuthenticationTokenException"), answer


def test_principals_made_with_the_admin_command(stack):
    root = stack.client("personalize")
    group = root.create_dataset_group(name="access-e2e-a")["datasetGroupArn"]
    other = root.create_dataset_group(name="access-e2e-b")["datasetGroupArn"]

    reader_key = _principal(stack, "e2e-reader", "--policy", "AmazonPersonalizeReadOnlyAccess")
    reader = stack.client("personalize", keys=reader_key)
    assert group in [g["datasetGroupArn"] for g in reader.list_dataset_groups()["datasetGroups"]]
    with pytest.raises(ClientError) as e:
        reader.delete_dataset_group(datasetGroupArn=group)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"

    team_key = _principal(stack, "e2e-team")
    policy = {"Statement": [{"Effect": "Allow", "Action": "personalize:*", "Resource": [
        group, group.replace(":dataset-group/", ":dataset/") + "/*"]}]}
    _admin(stack, "attach-policy", "e2e-team", "--inline", "one-group",
           "--document", json.dumps(policy))
    team = stack.client("personalize", keys=team_key)
    assert team.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["name"] == "access-e2e-a"
    with pytest.raises(ClientError) as e:
        team.describe_dataset_group(datasetGroupArn=other)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"

    tracking = root.create_event_tracker(name="access-e2e", datasetGroupArn=group,
                                         roleArn=ROLE)["trackingId"]
    app_key = _principal(stack, "e2e-app", "--policy", "AmazonPersonalizeEventsOnly")
    events = stack.client("personalize-events", keys=app_key)
    out = events.put_events(trackingId=tracking, userId="u1", sessionId="s1", eventList=[
        {"eventId": "e1", "eventType": "click", "sentAt": 1_600_000_000,
         "properties": json.dumps({"itemId": "i1"})}])
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as e:
        stack.client("personalize", keys=app_key).list_dataset_groups()
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"

    listed = _admin(stack, "list")
    assert {"root", "e2e-reader", "e2e-team", "e2e-app"} <= {p["name"] for p in listed}
    assert app_key[1] not in json.dumps(listed)
    _admin(stack, "delete-principal", "e2e-reader")
    # a warm function may keep a verified key for ACCESS_CACHE_SECONDS; a new one is
    # unknown at once
    with pytest.raises(ClientError) as e:
        stack.client("personalize", keys=("PKIA" + "Z" * 16, "whatever")).list_dataset_groups()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert reader_key[0] not in [k["accessKeyId"] for p in _admin(stack, "list")
                                 for k in p["accessKeys"]]


def test_audit_lines_reach_cloudwatch_logs(stack):
    stack.client("personalize").list_recipes()
    logs = stack.client("logs")
    groups = [g["logGroupName"] for g in logs.describe_log_groups(
        logGroupNamePrefix="/aws/lambda/")["logGroups"]]
    lines = [json.loads(e["message"]) for name in groups
             for e in logs.filter_log_events(logGroupName=name)["events"]
             if e["message"].lstrip().startswith("{") and '"audit"' in e["message"]]
    mine = [line for line in lines if line.get("action") == "personalize:ListRecipes"]
    assert mine, lines[-3:]
    assert mine[-1]["principal"].endswith(":user/root") and mine[-1]["status"] == 200
    assert stack.keys[1] not in json.dumps(lines)
