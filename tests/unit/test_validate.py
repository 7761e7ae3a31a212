"""The generic validator on a small hand-written model: every rule, with the message naming field and rule."""
import datetime as dt

import pytest
from botocore.model import ServiceModel

from chalicelib.protocol import errors, wire
from chalicelib.protocol.validate import parse_timestamp, validate

MODEL = ServiceModel({
    "metadata": {"protocol": "json", "apiVersion": "2020-01-01", "targetPrefix": "T",
                 "jsonVersion": "1.1", "endpointPrefix": "t", "signatureVersion": "v4",
                 "serviceId": "T"},
    "operations": {"Op": {"name": "Op", "http": {"method": "POST", "requestUri": "/"},
                          "input": {"shape": "In"}, "output": {"shape": "Out"}}},
    "shapes": {
        "In": {"type": "structure", "required": ["name"], "members": {
            "name": {"shape": "Name"}, "count": {"shape": "Count"}, "ratio": {"shape": "Ratio"},
            "flag": {"shape": "Bool"}, "kind": {"shape": "Kind"}, "tags": {"shape": "Tags"},
            "params": {"shape": "Params"}, "when": {"shape": "When"}, "blob": {"shape": "Blob"},
            "nested": {"shape": "Nested"}, "times": {"shape": "Times"}, "counts": {"shape": "Params"}}},
        "Out": {"type": "structure", "members": {"name": {"shape": "Name"}, "when": {"shape": "When"}}},
        "Name": {"type": "string", "min": 1, "max": 5, "pattern": "^[a-z]+$"},
        "Count": {"type": "integer", "min": 1, "max": 10},
        "Ratio": {"type": "double", "min": 0, "max": 1},
        "Bool": {"type": "boolean"},
        "Kind": {"type": "string", "enum": ["A", "B"]},
        "Tags": {"type": "list", "member": {"shape": "Name"}, "max": 2},
        "Params": {"type": "map", "key": {"shape": "Name"}, "value": {"shape": "Count"}, "max": 2},
        "When": {"type": "timestamp"},
        "Times": {"type": "list", "member": {"shape": "When"}},
        "Blob": {"type": "blob"},
        "Nested": {"type": "structure", "required": ["kind"], "members": {"kind": {"shape": "Kind"}}},
    }}, "t")
SHAPE = MODEL.operation_model("Op").input_shape


def problems(value):
    return validate(SHAPE, value).items


def test_valid_input_has_no_problems():
    assert problems({"name": "abc", "count": 3, "ratio": 0.5, "flag": True, "kind": "A",
                     "tags": ["a"], "params": {"ab": 2}, "when": 1.5e9, "blob": "aGk=",
                     "nested": {"kind": "B"}}) == []


@pytest.mark.parametrize("value,expected", [
    ({}, "Value null at 'name' failed to satisfy constraint: Member must not be null"),
    ({"name": ""}, "length greater than or equal to 1"),
    ({"name": "abcdef"}, "length less than or equal to 5"),
    ({"name": "AB"}, "regular expression pattern: ^[a-z]+$"),
    ({"name": "ab c"}, "regular expression pattern"),
    ({"name": 5}, "Member must be a string"),
    ({"name": "a", "count": 0}, "value greater than or equal to 1"),
    ({"name": "a", "count": 11}, "value less than or equal to 10"),
    ({"name": "a", "count": True}, "Member must be an integer"),
    ({"name": "a", "count": 1.5}, "Member must be an integer"),
    ({"name": "a", "ratio": 1.5}, "value less than or equal to 1"),
    ({"name": "a", "ratio": "x"}, "Member must be a number"),
    ({"name": "a", "flag": "true"}, "Member must be a boolean"),
    ({"name": "a", "kind": "C"}, "enum value set: [A, B]"),
    ({"name": "a", "tags": ["a", "b", "c"]}, "length less than or equal to 2"),
    ({"name": "a", "tags": "a"}, "Member must be a list"),
    ({"name": "a", "tags": ["A"]}, "at 'tags.1'"),
    ({"name": "a", "tags": ["a", "A"]}, "Value 'A' at 'tags.2' failed to satisfy constraint: Member must "
                                        "satisfy regular expression pattern"),
    ({"name": "a", "tags": ["a", None]}, "Value null at 'tags.2'"),
    ({"name": "a", "tags": ["a", 7]}, "Value 7 at 'tags.2' failed to satisfy constraint: Member must be a string"),
    ({"name": "a", "params": {"a": 1, "b": 2, "c": 3}}, "length less than or equal to 2"),
    ({"name": "a", "params": {"a": 0}}, "at 'params.a'"),
    ({"name": "a", "when": "yesterday"}, "Member must be a timestamp"),
    ({"name": "a", "blob": "***"}, "base64"),
    ({"name": "a", "nested": {}}, "Value null at 'nested.kind'"),
    ({"name": "a", "nested": []}, "Member must be a structure"),
])
def test_each_rule_names_field_and_rule(value, expected):
    found = problems(value)
    assert len(found) == 1, found
    assert expected in found[0]


def test_message_counts_problems():
    msg = validate(SHAPE, {"name": "ABCDEFG", "count": 0}).message()
    assert msg.startswith("3 validation errors detected: ")


def test_parse_input_converts_wire_types_and_drops_unknown_members():
    parsed = wire.parse_input(MODEL.operation_model("Op"),
                              {"name": "ab", "when": 0, "blob": "aGk=", "future": 1, "count": 2.0})
    assert parsed == {"name": "ab", "when": dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc),
                      "blob": b"hi", "count": 2}


def test_parse_input_converts_inside_lists_maps_and_structures():
    """Members nested in lists, maps and structures are converted as top-level ones are; the
    string list is a new list (a handler may change it without touching the request)."""
    params = {"name": "ab", "times": [0, "1970-01-01T00:00:01Z"], "counts": {"ab": 3.0},
              "nested": {"kind": "A", "other": 1}, "tags": ["a", "b"], "flag": None}
    parsed = wire.parse_input(MODEL.operation_model("Op"), params)
    utc = dt.timezone.utc
    assert parsed == {"name": "ab", "times": [dt.datetime(1970, 1, 1, tzinfo=utc),
                                              dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=utc)],
                      "counts": {"ab": 3}, "nested": {"kind": "A"}, "tags": ["a", "b"]}
    assert type(parsed["counts"]["ab"]) is int and parsed["tags"] is not params["tags"]


def test_parse_input_raises_invalid_input():
    with pytest.raises(errors.InvalidInputException) as e:
        wire.parse_input(MODEL.operation_model("Op"), {"name": "TOO LONG"})
    assert "'name'" in e.value.message


def test_serialize_output_keeps_only_output_members_and_epoch_timestamps():
    out = wire.serialize_output(MODEL.operation_model("Op"), {
        "name": "ab", "secret": "x", "when": dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)})
    assert out == {"name": "ab", "when": 1577836800.0}


@pytest.mark.parametrize("value,ok", [(0, True), (1.5e9, True), ("2019-01-01T00:00:00Z", True),
                                      ("1577836800", True), ("nope", False), (True, False),
                                      (None, False), (1e30, False)])
def test_parse_timestamp(value, ok):
    assert (parse_timestamp(value) is not None) == ok


def test_shape_plans_are_kept_per_shape_not_per_request():
    """Each request's OperationModel has a new Shape tree (botocore): the serialization and
    validation plans are kept by shape name within the service model, so they stay one per
    shape however many requests come (issue 15: kept once, no growth per request)."""
    from botocore.model import OperationModel
    from chalicelib.protocol import validate as v, wire
    from chalicelib.protocol.models import service_model
    model = service_model("personalize-runtime")
    fresh = lambda name: OperationModel(model._service_description["operations"][name], model, name)  # noqa: E731
    out = {"personalizedRanking": [{"itemId": f"i{k}", "score": 0.5} for k in range(3)],
           "recommendationId": "RID-1"}
    for _ in range(3):
        op = fresh("GetPersonalizedRanking")
        assert wire.serialize_output(op, out) == out
        assert not v.validate(op.input_shape, {"campaignArn": "arn:aws:personalize:us-east-1:1:campaign/c",
                                               "userId": "u", "inputList": ["a", "b"]}).items
        wire.parse_input(op, {"campaignArn": "arn:aws:personalize:us-east-1:1:campaign/c",
                              "userId": "u", "inputList": ["a", "b"]})
        plans = len(wire._writers), len(v._string_checks), len(wire._readers)
    op = fresh("GetPersonalizedRanking")
    wire.serialize_output(op, out)
    wire.parse_input(op, {"campaignArn": "arn:aws:personalize:us-east-1:1:campaign/c",
                          "userId": "u", "inputList": ["a", "b"]})
    assert (len(wire._writers), len(v._string_checks), len(wire._readers)) == plans


def test_rest_routes_match_fixed_and_labelled_uris():
    """`operations_for_route`: a fixed URI by its text, a labelled one part by part, the method
    in any case; several operations may share one URI."""
    shapes = {"In": {"type": "structure", "members": {}}}
    ops = {name: {"name": name, "http": {"method": method, "requestUri": uri}, "input": {"shape": "In"}}
           for name, method, uri in (("List", "GET", "/things"), ("Make", "POST", "/things"),
                                     ("MakeToo", "POST", "/things/"), ("Get", "GET", "/things/{id}"),
                                     ("Query", "GET", "/q?x=1"))}
    model = ServiceModel({"metadata": {"protocol": "rest-json", "apiVersion": "1"},
                          "operations": ops, "shapes": shapes}, "r")
    names = lambda m, p: [op.name for op in wire.operations_for_route(model, m, p)]  # noqa: E731
    assert names("post", "/things") == ["Make", "MakeToo"]
    assert names("GET", "things/42/") == ["Get"] and names("GET", "/things") == ["List"]
    assert names("GET", "/q") == ["Query"] and names("DELETE", "/things") == []
    assert names("GET", "/things/42/more") == []
