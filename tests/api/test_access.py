"""Access control through real boto3 clients (seed, "Amazon Personalize Security"):
every service refuses unsigned, forged, skewed, unknown-key and wrong-region requests
with AWS's 403s; principals get exactly what their policies allow; each call writes
one audit line."""
import datetime
import json

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError

from chalicelib.auth import keys
from tests.conftest import ENDPOINT, MODELS_DIR, InProcessApp
from tests.support import access

ACCT = "arn:aws:personalize:us-east-1:000000000000"
ROLE = "arn:aws:iam::000000000000:role/personalize"
SCHEMA = json.dumps({"type": "record", "name": "Interactions",
                     "namespace": "com.amazonaws.personalize.schema",
                     "fields": [{"name": "USER_ID", "type": "string"},
                                {"name": "ITEM_ID", "type": "string"},
                                {"name": "TIMESTAMP", "type": "long"}], "version": "1.0"})

# (path, target, body) of one operation per service
SAMPLES = {
    "personalize": ("/", "ListDatasetGroups", {}),
    "personalize-runtime": ("/recommendations", None, {"campaignArn": f"{ACCT}:campaign/c",
                                                       "userId": "u"}),
    "personalize-events": ("/events", None, {"trackingId": "t", "sessionId": "s",
                                             "eventList": [{"eventType": "click", "sentAt": 1}]}),
}


def client_as(service, key):
    """A boto3 client (shipped models) for `service` signing with `key` (id, secret)."""
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, MODELS_DIR)
    client = boto3.Session(botocore_session=session).client(
        service, endpoint_url=ENDPOINT, region_name="us-east-1",
        aws_access_key_id=key[0], aws_secret_access_key=key[1])
    client.meta.events.register_first("before-send", InProcessApp())
    return client


def code(error):
    return error.value.response["Error"]["Code"]


def _call(raw, name, **sign):
    path, target, body = SAMPLES[name]
    content_type = "application/x-amz-json-1.1" if target else "application/json"
    return raw(path=path, target=target, body=body, content_type=content_type,
               sign=sign or True)


@pytest.mark.parametrize("service", sorted(SAMPLES))
@pytest.mark.parametrize("case,expected", [
    ("unsigned", "MissingAuthenticationTokenException"),
    ("forged", "InvalidSignatureException"),
    ("skewed", "InvalidSignatureException"),
    ("unknown key", "UnrecognizedClientException"),
    ("wrong region", "InvalidSignatureException"),
])
def test_every_service_refuses_bad_signatures(raw, service, case, expected):
    path, target, body = SAMPLES[service]
    content_type = "application/x-amz-json-1.1" if target else "application/json"
    sign = {"unsigned": False,
            "forged": {"key": ("testing", "not-the-secret")},
            "skewed": {"when": datetime.datetime(2000, 1, 1)},
            "unknown key": {"key": ("PKIAUNKNOWN", "x")},
            "wrong region": {"region": "eu-west-1"}}[case]
    status, headers, answer = raw(path=path, target=target, body=body,
                                  content_type=content_type, sign=sign)
    assert status == 403, answer
    assert answer["__type"] == expected and answer["message"]
    if target is None:  # rest-json services name the error in a header too
        assert headers["x-amzn-errortype"] == expected
    if case == "skewed":
        assert answer["message"].startswith("Signature expired: 20000101T000000Z is now earlier than")


def test_root_keys_sign_for_every_service(raw):
    assert _call(raw, "personalize")[0] == 200
    # signed and admitted: what follows is the service's own answer, not an auth error
    assert _call(raw, "personalize-runtime")[2]["__type"] == "ResourceNotFoundException"
    assert _call(raw, "personalize-events")[2]["__type"] not in (
        "AccessDeniedException", "InvalidSignatureException")
    assert _call(raw, "personalize", service="execute-api")[0] == 200


def test_read_only_principal_describes_and_lists_but_cannot_create_or_delete(personalize):
    group = personalize.create_dataset_group(name="ro-group")["datasetGroupArn"]
    reader = client_as("personalize", access.principal("reader", ["AmazonPersonalizeReadOnlyAccess"]))
    assert reader.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]["name"] == "ro-group"
    assert [g["name"] for g in reader.list_dataset_groups()["datasetGroups"]] == ["ro-group"]
    assert reader.list_recipes()["recipes"]
    with pytest.raises(ClientError) as e:
        reader.create_dataset_group(name="mine")
    assert code(e) == "AccessDeniedException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "personalize:CreateDatasetGroup" in str(e.value)
    assert f"{ACCT}:dataset-group/mine" in str(e.value)
    with pytest.raises(ClientError) as e:
        reader.delete_dataset_group(datasetGroupArn=group)
    assert code(e) == "AccessDeniedException" and group in str(e.value)
    assert personalize.describe_dataset_group(datasetGroupArn=group)["datasetGroup"]


def test_principal_limited_to_one_dataset_group_cannot_see_another(personalize):
    mine = personalize.create_dataset_group(name="team-a")["datasetGroupArn"]
    other = personalize.create_dataset_group(name="team-b")["datasetGroupArn"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "personalize:*",
        "Resource": [f"{ACCT}:dataset-group/team-a", f"{ACCT}:dataset/team-a/*",
                     f"{ACCT}:schema/*"]}]}
    team = client_as("personalize", access.principal("team-a", inline={"team-a": policy}))
    assert team.describe_dataset_group(datasetGroupArn=mine)["datasetGroup"]["name"] == "team-a"
    schema = personalize.create_schema(name="s", schema=SCHEMA)["schemaArn"]
    dataset = team.create_dataset(name="d", datasetGroupArn=mine, datasetType="Interactions",
                                  schemaArn=schema)["datasetArn"]
    assert team.describe_dataset(datasetArn=dataset)["dataset"]["datasetGroupArn"] == mine
    for call in (lambda: team.describe_dataset_group(datasetGroupArn=other),
                 lambda: team.list_datasets(datasetGroupArn=other),
                 lambda: team.create_dataset(name="d", datasetGroupArn=other,
                                             datasetType="Interactions", schemaArn=schema),
                 lambda: team.list_dataset_groups()):   # resource "*": not only team-a's
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDeniedException"


def test_principal_limited_to_put_events_records_events_and_nothing_else(personalize):
    group = personalize.create_dataset_group(name="clicks")["datasetGroupArn"]
    tracking = personalize.create_event_tracker(name="t", datasetGroupArn=group,
                                                roleArn=ROLE)["trackingId"]
    policy = {"Statement": [{"Effect": "Allow", "Action": "personalize:PutEvents",
                             "Resource": "*"}]}
    key = access.principal("app", inline={"events": policy})
    events = client_as("personalize-events", key)
    out = events.put_events(trackingId=tracking, userId="u1", sessionId="s1", eventList=[
        {"eventId": "e1", "eventType": "click", "sentAt": 1_600_000_000,
         "properties": json.dumps({"itemId": "i1"})}])
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    runtime = client_as("personalize-runtime", key)
    control = client_as("personalize", key)
    for call in (lambda: runtime.get_recommendations(campaignArn=f"{ACCT}:campaign/c", userId="u1"),
                 lambda: control.list_dataset_groups(),
                 lambda: control.describe_dataset_group(datasetGroupArn=group)):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "AccessDeniedException"


def test_explicit_deny_overrides_full_access(personalize):
    keep = personalize.create_dataset_group(name="prod")["datasetGroupArn"]
    deny = {"Statement": [{"Effect": "Deny", "Action": "personalize:Delete*", "Resource": keep}]}
    admin = client_as("personalize", access.principal(
        "admin", ["AmazonPersonalizeFullAccess"], inline={"keep-prod": deny}))
    scratch = admin.create_dataset_group(name="scratch")["datasetGroupArn"]
    admin.delete_dataset_group(datasetGroupArn=scratch)
    with pytest.raises(ClientError) as e:
        admin.delete_dataset_group(datasetGroupArn=keep)
    assert code(e) == "AccessDeniedException" and "explicit deny" in str(e.value)


def test_deactivated_rotated_and_deleted_keys(personalize):
    key = access.principal("ops", ["AmazonPersonalizeReadOnlyAccess"])
    ops = client_as("personalize", key)
    assert "datasetGroups" in ops.list_dataset_groups()
    keys.set_key_status(key[0], active=False)
    with pytest.raises(ClientError) as e:
        ops.list_dataset_groups()
    assert code(e) == "UnrecognizedClientException"
    keys.set_key_status(key[0], active=True)
    new = keys.rotate_key(key[0])
    assert new["accessKeyId"] != key[0] and new["principal"] == "ops"
    with pytest.raises(ClientError):
        ops.list_dataset_groups()   # the old key is inactive after a rotation
    rotated = client_as("personalize", (new["accessKeyId"], new["secretAccessKey"]))
    assert "datasetGroups" in rotated.list_dataset_groups()
    keys.delete_principal("ops")
    with pytest.raises(ClientError) as e:
        rotated.list_dataset_groups()
    assert code(e) == "UnrecognizedClientException"


def test_listing_never_shows_a_secret(personalize):
    key = access.principal("lister", ["AmazonPersonalizeReadOnlyAccess"])
    listed = keys.list_principals()
    assert {p["name"] for p in listed} == {"root", "lister"}
    assert key[1] not in json.dumps(listed)
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName="personalize-access", Key={"id": {"S": f"key#{key[0]}"}})["Item"]
    assert key[1].encode() not in item["secret"]["B"]   # encrypted at rest


def test_one_audit_line_per_call(personalize, caplog):
    group = personalize.create_dataset_group(name="audited")
    reader = client_as("personalize", access.principal("auditor", ["AmazonPersonalizeReadOnlyAccess"]))
    caplog.clear()
    with pytest.raises(ClientError) as e:
        reader.delete_dataset_group(datasetGroupArn=group["datasetGroupArn"])
    lines = [r for r in caplog.records if r.getMessage() == "audit"]
    assert len(lines) == 1
    line = lines[0]
    assert line.principal == "arn:aws:iam::000000000000:user/auditor"
    assert line.action == "personalize:DeleteDatasetGroup"
    assert line.resources == [group["datasetGroupArn"]]
    assert line.status == 403 and line.error == "AccessDeniedException"
    assert line.result == "denied" and line.source_ip
    assert line.api_request_id == e.value.response["ResponseMetadata"]["RequestId"]
    assert line.access_key.startswith("PKIA")
