"""Every operation of today's stock models, called with a stock boto3 client (issue 12, "Done
when"): each answers its output shape or a typed error the operation models (or
OperationNotServedException), never a 5xx and never UnknownOperationException.

The parameters are generated from the stock input shape (required members only, values that
satisfy each shape's enum, pattern, length and range), not written per operation; ARNs name
nothing, so ResourceNotFoundException is a fine answer too.
"""
import datetime
import functools
import re

import botocore.session
import pytest
from botocore.exceptions import ClientError

from chalicelib.protocol import models

CLIENT_FIXTURE = {"personalize": "stock_personalize", "personalize-runtime": "stock_runtime",
                  "personalize-events": "stock_events"}
ALWAYS_FINE = {"OperationNotServedException", "ResourceNotFoundException"}

# Strings tried in order for a string shape; the first one its pattern and length accept wins.
CANDIDATES = (
    "arn:aws:personalize:us-east-1:000000000000:made-up/x",
    "arn:aws:iam::000000000000:role/made-up",
    "arn:aws:kms:us-east-1:000000000000:key/made-up",
    "s3://made-up-bucket/key",
    "rate(1 day)",
    "x",
)


@functools.lru_cache(maxsize=None)
def stock_model(service):
    return botocore.session.get_session().get_service_model(service)


def _string(shape):
    if shape.enum:
        return shape.enum[0]
    lo, hi = shape.metadata.get("min", 0), shape.metadata.get("max")
    pattern = shape.metadata.get("pattern")
    try:
        rx = re.compile(pattern) if pattern else None
    except re.error:  # Java-only syntax (\p{...}): "x" fits every such pattern of these models
        rx = None
    for text in CANDIDATES:
        text = text + "x" * max(0, lo - len(text))
        if (hi is None or len(text) <= hi) and (rx is None or rx.fullmatch(text)):
            return text
    raise AssertionError(f"no candidate string fits {shape.name} (pattern {pattern!r})")


def _number(shape, kind):
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    value = max(lo if lo is not None else 1, 1)
    if hi is not None:
        value = min(value, hi)
    return kind(value)


def minimal(shape):
    """The smallest value of `shape` a strict server must accept as well-formed."""
    kind = shape.type_name
    if kind == "structure":
        return {name: minimal(shape.members[name]) for name in shape.required_members}
    if kind == "list":
        return [minimal(shape.member)] * shape.metadata.get("min", 0)
    if kind == "map":
        n = shape.metadata.get("min", 0)
        return {minimal(shape.key): minimal(shape.value)} if n else {}
    if kind == "string":
        return _string(shape)
    if kind in ("integer", "long"):
        return _number(shape, int)
    if kind in ("float", "double"):
        return _number(shape, float)
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    if kind == "blob":
        return b"x"
    raise AssertionError(f"shape type {kind} not handled")


def stock_operations():
    return [(service, name) for service in sorted(models.SERVICES)
            for name in stock_model(service).operation_names]


def test_every_stock_operation_is_called():
    assert len(stock_operations()) == 71 + 3 + 5


@pytest.mark.parametrize("service,operation", stock_operations())
def test_stock_operation_answers_its_shape_or_a_typed_error(request, service, operation):
    client = request.getfixturevalue(CLIENT_FIXTURE[service])
    op = stock_model(service).operation_model(operation)
    params = minimal(op.input_shape) if op.input_shape is not None else {}
    method = getattr(client, botocore.xform_name(operation))
    try:
        answer = method(**params)
    except ClientError as e:
        error = e.response["Error"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        modelled = {s.name for s in op.error_shapes}
        assert status < 500, (operation, status, error)
        assert error["Code"] != "UnknownOperationException", (operation, error)
        assert error["Code"] in modelled | ALWAYS_FINE, (operation, error, sorted(modelled))
        assert error.get("Message"), (operation, error)
        return
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    members = set(op.output_shape.members) if op.output_shape is not None else set()
    assert set(answer) - {"ResponseMetadata"} <= members, operation
