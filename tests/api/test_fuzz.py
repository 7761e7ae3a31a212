"""Property: random and malformed requests to any operation never get a 5xx and
always get a typed error (`__type` + `message`) when they fail.

Bodies are drawn from each operation's input shape in the shipped models, with
values that sometimes fit and sometimes break the shape's constraints.
"""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.protocol.models import service_model

SERVICES = {
    "personalize": None,  # JSON 1.1: routed by X-Amz-Target
    "personalize-runtime": "rest",
    "personalize-events": "rest",
}

ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8)


def value_for(shape, depth=0):
    """Values shaped like `shape`, often near or past its limits, sometimes of the wrong type."""
    kind = shape.type_name
    wrong = ANY_JSON
    if depth > 4:
        return wrong
    if kind == "structure":
        members = list(shape.members.items())
        fields = {name: value_for(m, depth + 1) for name, m in members}
        return st.fixed_dictionaries({}, optional=fields) | wrong
    if kind == "list":
        return st.lists(value_for(shape.member, depth + 1), max_size=4) | wrong
    if kind == "map":
        return st.dictionaries(st.text(max_size=10), value_for(shape.value, depth + 1), max_size=3) | wrong
    if kind == "string":
        options = [st.text(max_size=(shape.metadata.get("max") or 40) + 3)]
        if shape.enum:
            options.append(st.sampled_from(shape.enum))
        options.append(st.from_regex(r"arn:aws:personalize:us-east-1:000000000000:[a-z-]{3,20}/[a-z0-9]{1,8}",
                                     fullmatch=True))
        return st.one_of(*options) | wrong
    if kind in ("integer", "long"):
        lo, hi = shape.metadata.get("min", -10), shape.metadata.get("max", 10**6)
        return st.integers(lo - 2, hi + 2) | wrong
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, allow_infinity=False) | wrong
    if kind == "boolean":
        return st.booleans() | wrong
    if kind == "timestamp":
        return st.integers(-10, 2**33) | st.text(max_size=25) | wrong
    return wrong


def _operations():
    out = []
    for service in SERVICES:
        model = service_model(service)
        for name in model.operation_names:
            out.append((service, name))
    return out


def _request(service, name, body):
    model = service_model(service)
    op = model.operation_model(name)
    if model.metadata["protocol"] == "json":
        return "/", {"X-Amz-Target": f"{model.metadata['targetPrefix']}.{name}"}, \
            "application/x-amz-json-1.1"
    return op.http["requestUri"], {}, "application/json"


@pytest.mark.parametrize("service,name", _operations())
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_5xx_and_typed_errors(raw, service, name, data):
    op = service_model(service).operation_model(name)
    shape = op.input_shape
    body = data.draw(value_for(shape) if shape is not None else ANY_JSON)
    path, headers, content_type = _request(service, name, body)
    encoded = json.dumps(body).encode()
    if data.draw(st.booleans()):
        # also break the envelope now and then: truncated JSON, stray bytes
        encoded = data.draw(st.sampled_from([encoded[:-1], encoded + b"}", b"\xff" + encoded, encoded]))
    status, _, answer = raw(path=path, body=encoded, headers=headers, content_type=content_type)
    assert status < 500, (name, body, answer)
    if status >= 400:
        assert isinstance(answer, dict) and answer.get("__type") and "message" in answer, answer
