"""The wire layer as a client sees it: routing, validation, typed errors, response shape.

DESIGN.md "What we build" (protocols, error bodies, request ids) and the seed's
"API Reference" (InvalidInputException for bad input).
"""
import botocore.exceptions
import pytest


def test_unknown_target_is_a_typed_400(raw):
    status, headers, body = raw(target="NoSuchOperation")
    assert status == 400
    assert body["__type"] == "UnknownOperationException"
    assert "NoSuchOperation" in body["message"]
    assert headers["x-amzn-requestid"]


def test_missing_target_is_a_typed_400(raw):
    status, _, body = raw(target=None)
    assert status == 400 and body["__type"] == "UnknownOperationException"


def test_malformed_json_is_a_serialization_error(raw):
    status, _, body = raw(target="ListDatasetGroups", body=b'{"maxResults": ')
    assert status == 400 and body["__type"] == "SerializationException"


def test_non_object_body_is_a_serialization_error(raw):
    status, _, body = raw(target="ListDatasetGroups", body=b"[1, 2]")
    assert status == 400 and body["__type"] == "SerializationException"


def test_wrong_content_type_is_a_typed_400(raw):
    status, _, body = raw(target="ListDatasetGroups", content_type="text/plain")
    assert status == 400 and body["__type"] == "UnsupportedMediaTypeException"
    assert "text/plain" in body["message"]


def test_invalid_utf8_body_is_a_serialization_error(raw):
    status, _, body = raw(target="ListDatasetGroups", body=b'{"a": "\xff\xfe"}')
    assert status == 400 and body["__type"] == "SerializationException"


def test_missing_required_member_names_the_member(raw):
    status, _, body = raw(target="CreateDatasetGroup", body={})
    assert status == 400 and body["__type"] == "InvalidInputException"
    assert "'name'" in body["message"] and "must not be null" in body["message"]


@pytest.mark.parametrize("name,rule", [
    ("a" * 64, "length less than or equal to 63"),
    ("bad name!", "regular expression pattern"),
    ("", "length greater than or equal to 1"),
])
def test_string_constraints_name_field_and_rule(raw, name, rule):
    # raw, not boto3: botocore checks `min` on the client side before sending
    status, _, body = raw(target="CreateDatasetGroup", body={"name": name})
    assert status == 400 and body["__type"] == "InvalidInputException"
    assert "at 'name'" in body["message"] and rule in body["message"]


def test_wrong_type_is_rejected_by_the_server(raw):
    status, _, body = raw(target="CreateDatasetGroup", body={"name": 12})
    assert status == 400 and body["__type"] == "InvalidInputException"
    assert "must be a string" in body["message"]


@pytest.mark.parametrize("value,rule", [(0, "greater than or equal to 1"),
                                        (101, "less than or equal to 100")])
def test_numeric_range_is_enforced(raw, value, rule):
    status, _, body = raw(target="ListDatasetGroups", body={"maxResults": value})
    assert status == 400 and body["__type"] == "InvalidInputException"
    assert "maxResults" in body["message"] and rule in body["message"]


def test_enum_is_enforced(raw):
    status, _, body = raw(target="CreateDataset", body={
        "name": "d", "datasetType": "NotAType",
        "datasetGroupArn": "arn:aws:personalize:us-east-1:000000000000:dataset-group/g",
        "schemaArn": "arn:aws:personalize:us-east-1:000000000000:schema/s"})
    # datasetType is free text in the stock model; the seed lists the types, and the
    # service refuses an unknown one either in the model or in its business rules
    assert status == 400 and body["__type"] == "InvalidInputException"
    assert "datasetType" in body["message"] or "NotAType" in body["message"]


def test_several_problems_are_reported_together(raw):
    status, _, body = raw(target="CreateDatasetGroup",
                          body={"name": "x" * 70, "roleArn": 5})
    assert status == 400
    assert body["message"].startswith("2 validation errors detected")


def test_unknown_members_are_ignored(raw):
    status, _, body = raw(target="ListDatasetGroups", body={"someFutureMember": True})
    assert status == 200 and "datasetGroups" in body


def test_response_has_request_id_and_only_output_members(raw, personalize):
    personalize.create_dataset_group(name="shape-check")
    status, headers, body = raw(target="DescribeDatasetGroup", body={
        "datasetGroupArn": "arn:aws:personalize:us-east-1:000000000000:dataset-group/shape-check"})
    assert status == 200
    assert headers["x-amzn-requestid"]
    assert headers["content-type"] == "application/x-amz-json-1.1"
    assert set(body) == {"datasetGroup"}
    group = body["datasetGroup"]
    assert isinstance(group["creationDateTime"], (int, float))  # epoch seconds on the wire


def test_rest_json_errors_carry_the_error_type_header(raw):
    status, headers, body = raw(path="/recommendations", body={}, content_type="application/json")
    assert status == 400
    assert body["__type"] == "InvalidInputException"
    assert headers["x-amzn-errortype"] == "InvalidInputException"
    assert "campaignArn" in body["message"]


def test_stock_operation_we_do_not_serve_gets_a_typed_error(stock_personalize, monkeypatch):
    from chalicelib.service import registry
    registry.load_all()
    monkeypatch.delitem(registry._HANDLERS, ("personalize", "ListDatasetGroups"))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        stock_personalize.list_dataset_groups()
    assert e.value.response["Error"]["Code"] == "OperationNotServedException"
    assert e.value.response["Error"]["Message"] == (
        "ListDatasetGroups is not served by this deployment yet")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unknown_path_is_not_a_5xx(raw):
    status, _, _ = raw(path="/no/such/path", body=b"{}")
    assert 400 <= status < 500


def test_a_member_not_served_yet_is_refused_by_name(stock_personalize):
    """Issue 12, item 5: a member that would change the answer is never silently dropped
    (the table in chalicelib/protocol/unserved.py)."""
    group = stock_personalize.create_dataset_group(name="domain-group", domain="ECOMMERCE")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        stock_personalize.create_recommender(
            name="columns", datasetGroupArn=group["datasetGroupArn"],
            recipeArn="arn:aws:personalize:::recipe/aws-ecomm-recommended-for-you",
            recommenderConfig={"trainingDataConfig": {"excludedDatasetColumns": {"ITEMS": ["PRICE"]}}})
    assert e.value.response["Error"]["Code"] == "InvalidInputException"
    assert e.value.response["Error"]["Message"].startswith("recommenderConfig.trainingDataConfig: not served")
    assert stock_personalize.list_recommenders()["recommenders"] == []
