"""Model-driven request parsing and response serialization.

One implementation serves AWS JSON 1.1 (`personalize`) and rest-json
(`personalize-runtime`, `personalize-events`); which operation a request names
and how its members are bound comes from the service model (DESIGN.md,
"What we build").
"""
import base64
import datetime as _dt
import json

from chalicelib.protocol import errors, unserved
from chalicelib.protocol.jsontext import load_json
from chalicelib.protocol.validate import parse_timestamp, per_shape, validate

JSON_TYPES = ("application/x-amz-json-1.1", "application/x-amz-json-1.0", "application/json")


def operation_for_target(model, target):
    """JSON 1.1: `X-Amz-Target: AmazonPersonalize.<Operation>` -> OperationModel."""
    prefix = model.metadata.get("targetPrefix", "")
    if not target or "." not in target:
        raise errors.UnknownOperationException("Missing or malformed X-Amz-Target header")
    got_prefix, _, name = target.partition(".")
    if got_prefix != prefix or name not in model.operation_names:
        raise errors.UnknownOperationException(f"Unknown operation {target}")
    return model.operation_model(name)


def operations_for_route(model, method, path):
    """rest-json: all operations bound to `method path` (several may share one URI)."""
    method, path = method.upper(), path.strip("/")
    exact, templated = _route_table(model)
    found = list(exact.get((method, path), ()))
    if templated:
        parts = path.split("/")
        found += [op for op_method, template, op in templated
                  if op_method == method and _uri_matches(template, parts)]
    return found


# service model -> (model, its routes): the operations are walked once per model, not on every
# request; URIs without {labels} are looked up, the others matched part by part
_route_tables = {}


def _route_table(model):
    found = _route_tables.get(id(model))
    if found is None or found[0] is not model:
        exact, templated = {}, []
        for name in model.operation_names:
            op = model.operation_model(name)
            method = op.http.get("method", "POST").upper()
            uri = op.http.get("requestUri", "/").split("?")[0].strip("/")
            if "{" in uri:
                templated.append((method, uri.split("/"), op))
            else:
                exact.setdefault((method, uri), []).append(op)
        found = _route_tables[id(model)] = (model, (exact, templated))
    return found[1]


def _uri_matches(tparts, pparts):
    if len(tparts) != len(pparts):
        return False
    return all(t.startswith("{") or t == p for t, p in zip(tparts, pparts))


def decode_body(raw, content_type):
    """Body bytes -> dict. Empty body means no parameters (as botocore sends for none)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if raw and media not in JSON_TYPES:
        raise errors.UnsupportedMediaTypeException(
            f"Content-Type {content_type or '(none)'} is not supported; "
            f"use {JSON_TYPES[0]} or application/json")
    if not raw:
        return {}
    body = load_json(raw)
    if not isinstance(body, dict):
        raise errors.SerializationException("Request body must be a JSON object")
    return body


def bind_rest_members(op, body, headers, query, uri_params):
    """Place header / querystring / uri members of a rest-json input where the model says."""
    shape = op.input_shape
    if shape is None:
        return body
    params = dict(body)
    lower_headers = {k.lower(): v for k, v in (headers or {}).items()}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "header" and wire.lower() in lower_headers:
            params[name] = lower_headers[wire.lower()]
        elif location == "querystring" and query and wire in query:
            params[name] = query[wire]
        elif location == "uri" and uri_params and wire in uri_params:
            params[name] = uri_params[wire]
        elif location in ("header", "querystring", "uri"):
            params.pop(name, None)
    return params


def parse_input(op, params):
    """Validate `params` against the operation's input shape and convert wire types.

    Raises InvalidInputException naming every field and rule that failed, or
    every member of today's API the request uses that is not served yet
    (`chalicelib.protocol.unserved`).
    """
    shape = op.input_shape
    if shape is None:
        return {}
    problems = validate(shape, params)
    if problems.items:
        raise errors.InvalidInputException(problems.message())
    unserved.refuse(op.service_model.service_name, op.name, params)
    return _reader(shape)(params)


# shape -> its reader (wire value -> the handler's value), made once per shape as the
# writers below are: a 500-item inputList is one list() call, not 500 shape walks
_readers = {}


def _reader(shape):
    return per_shape(_readers, shape, _make_reader)


def _make_reader(shape):
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        resolved = {}   # member name -> reader, filled on first use (shapes may recurse)

        def structure(value):
            if not resolved:
                resolved.update((name, _reader(member)) for name, member in members.items())
            return {name: resolved[name](v) for name, v in value.items()
                    if name in resolved and v is not None}
        return structure
    if kind == "list":
        read = _reader(shape.member)      # a structure's reader resolves its members later
        return list if read is _same else (lambda value: [read(v) for v in value])
    if kind == "map":
        read = _reader(shape.value)
        return lambda value: {k: read(v) for k, v in value.items()}
    if kind == "timestamp":
        return parse_timestamp
    if kind == "blob":
        return base64.b64decode
    if kind in ("integer", "long"):
        return _integer
    return _same


def _integer(value):
    return int(value) if isinstance(value, float) else value


def serialize_output(op, result):
    """Keep only members of the output shape; timestamps as epoch seconds."""
    shape = op.output_shape
    if shape is None or result is None:
        return {}
    return _to_wire(shape, result)


def _to_wire(shape, value):
    return _writer(shape)(value)


# shape -> its writer (a function of the value): the output shapes are walked once per
# process, not once per value (a ranking answer has hundreds of items; issue 15: fixed costs)
_writers = {}


def _writer(shape):
    return per_shape(_writers, shape, _make_writer)


def _make_writer(shape):
    kind = shape.type_name
    if kind == "structure":
        members = [(name, member.serialization.get("name", name), member)
                   for name, member in shape.members.items()
                   if member.serialization.get("location") not in ("header", "headers", "statusCode")]

        # name -> (wire name, writer or None for a value written as it is): looked up on
        # first use (shapes may recurse); a value's own members are walked, not the shape's
        # (a PredictedItem answer names 2 of its 5)
        resolved = {}

        def structure(value):
            if not resolved:
                for name, wire_name, member in members:
                    write = _writer(member)
                    resolved[name] = (wire_name, None if write is _same else write)
            out = {}
            if not isinstance(value, dict):
                return out
            for name, v in value.items():
                found = resolved.get(name)
                if found is not None and v is not None:
                    out[found[0]] = v if found[1] is None else found[1](v)
            return out
        return structure
    if kind == "list":
        member = shape.member
        if member.type_name == "string":
            return list

        def items(value):
            write = _writer(member)
            return [write(v) for v in value]
        return items
    if kind == "map":
        return lambda value: {k: _writer(shape.value)(v) for k, v in value.items()}
    if kind == "timestamp":
        return _epoch
    if kind == "blob":
        return lambda value: base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
    if kind in ("float", "double"):
        return float
    if kind in ("integer", "long"):
        return int
    return _same


def _same(value):
    return value


def _epoch(value):
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.timestamp()
    if isinstance(value, str):
        parsed = parse_timestamp(value)
        return parsed.timestamp() if parsed else value
    return float(value)


def error_status(model, error):
    """HTTP status for a typed error: the model's `httpStatusCode` if it has one."""
    try:
        shape = model.shape_for(error.code)
    except Exception:  # not modelled for this service: the error class decides
        return error.status
    return shape.metadata.get("error", {}).get("httpStatusCode", error.status)
