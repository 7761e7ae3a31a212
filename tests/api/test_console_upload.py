"""The web console's CSV upload, POST /console/upload (chalicelib/service/uploads.py), as the
page sends it: the file's bytes, signed with SigV4 like every call, then an import job of the
location it answers. Workflows run in process (tests/support/stepfunctions.py)."""
from urllib.parse import quote

import pytest

from chalicelib.service import uploads
from tests.api.test_import_jobs import ROLE, SCHEMA  # the seed's Interactions schema
from tests.support import access
from tests.support import stepfunctions as sfn

GOOD = b"USER_ID,ITEM_ID,TIMESTAMP\n1,10,964982703\n1,20,964981247\n2,10,964982224\n"


@pytest.fixture
def dataset(personalize):
    group = personalize.create_dataset_group(name="ConsoleGroup")["datasetGroupArn"]
    schema = personalize.create_schema(name="ConsoleSchema", schema=SCHEMA)["schemaArn"]
    return personalize.create_dataset(name="ratings", datasetGroupArn=group, schemaArn=schema,
                                      datasetType="Interactions")["datasetArn"]


@pytest.fixture
def upload(raw):
    def send(dataset_arn, body, file_name="ratings.csv", **kwargs):
        path = f"/console/upload?datasetArn={quote(dataset_arn, safe='')}&fileName={quote(file_name, safe='')}"
        return raw(path, body=body, content_type="application/octet-stream", **kwargs)
    return send


def refusal(answer):
    status, headers, body = answer
    assert status == 400, answer
    assert headers["x-amzn-errortype"] == body["__type"]
    return body["__type"], body["message"]


def test_an_uploaded_csv_lands_under_the_groups_prefix_and_imports(personalize, s3, dataset, upload):
    status, _, body = upload(dataset, GOOD)
    assert status == 200, body
    assert body["bytes"] == len(GOOD) and body["columns"] == ["USER_ID", "ITEM_ID", "TIMESTAMP"]
    location = body["dataLocation"]
    prefix = "s3://personalize-data/console-uploads/ConsoleGroup/INTERACTIONS/"
    assert location.startswith(prefix) and location.endswith("-ratings.csv"), location
    key = location[len("s3://personalize-data/"):]
    assert s3.get_object(Bucket="personalize-data", Key=key)["Body"].read() == GOOD
    # a second upload of the same name is another object: a running import's file stays
    again = upload(dataset, GOOD)[2]["dataLocation"]
    assert again != location and again.startswith(prefix)
    job = personalize.create_dataset_import_job(
        jobName="from-the-console", datasetArn=dataset, roleArn=ROLE,
        dataSource={"dataLocation": location})["datasetImportJobArn"]
    sfn.wait_executions()
    described = personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]
    assert described["status"] == "ACTIVE", described


def test_a_file_above_the_limit_is_refused_naming_it(s3, dataset, upload):
    big = GOOD + b"3,30,964982224\n" * (uploads.MAX_BYTES // 15)
    assert len(big) > uploads.MAX_BYTES
    code, message = refusal(upload(dataset, big))
    assert code == "InvalidInputException"
    assert str(uploads.MAX_BYTES) in message and "4 MiB" in message and str(len(big)) in message
    assert not s3.list_objects_v2(Bucket="personalize-data").get("Contents")


def test_text_that_is_not_utf8_is_refused_with_its_line(s3, dataset, upload):
    latin1 = "USER_ID,ITEM_ID,TIMESTAMP\n1,café,964982703\n".encode("latin-1")
    code, message = refusal(upload(dataset, latin1))
    assert code == "InvalidInputException"
    assert "ratings.csv line 2" in message and "not UTF-8" in message, message


def test_a_header_that_does_not_map_to_the_schema_is_refused_by_the_import_rules(dataset, upload):
    code, message = refusal(upload(dataset, b"USER_ID,ITEM,TIMESTAMP\n1,10,964982703\n"))
    assert code == "InvalidInputException"
    assert "column ITEM: is not a field of the schema" in message, message
    assert "ITEM_ID" in message and "required column is missing" in message, message
    code, message = refusal(upload(dataset, b"USER_ID,ITEM_ID,TIMESTAMP\n\n"))
    assert "headers but no data rows" in message
    code, message = refusal(upload(dataset, b""))
    assert "is empty" in message


def test_names_and_arns_are_checked(dataset, upload):
    # a line feed after ".csv" too: `$` alone would let it into the object's key
    for name in ("../x.csv", "ratings.txt", "a" * 120 + ".csv", ".csv", "ratings.csv\n"):
        code, message = refusal(upload(dataset, GOOD, file_name=name))
        assert code == "InvalidInputException" and message.startswith("fileName"), (name, message)
    missing = dataset.replace("ConsoleGroup", "NoSuchGroup")
    code, message = refusal(upload(missing, GOOD))
    assert code == "ResourceNotFoundException" and missing in message
    code, message = refusal(upload(dataset.replace(":dataset/", ":schema/"), GOOD))
    assert code == "InvalidInputException" and "datasetArn" in message


def test_the_upload_is_signed_and_authorised_as_a_named_action(dataset, upload):
    status, headers, body = upload(dataset, GOOD, sign=False)
    assert status in (400, 403) and body["__type"] in ("MissingAuthenticationTokenException",
                                                        "IncompleteSignatureException"), body
    reader = access.principal("reader", ["AmazonPersonalizeReadOnlyAccess"])
    status, _, body = upload(dataset, GOOD, sign={"key": reader})
    assert status == 403 and body["__type"] == "AccessDeniedException", body
    assert "personalize:UploadDatasetFile" in body["message"] and dataset in body["message"]
    allowed = access.principal("uploader", inline={"upload": {
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "personalize:UploadDatasetFile", "Resource": dataset}]}})
    assert upload(dataset, GOOD, sign={"key": allowed})[0] == 200

