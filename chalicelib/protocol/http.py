"""The one dispatcher: HTTP request -> operation -> business function -> HTTP response.

Errors follow the wire rules in DESIGN.md: JSON 1.1 answers
`{"__type": code, "message": ...}`; rest-json answers the same body plus the
`x-amzn-ErrorType` header; every response carries `x-amzn-RequestId`. Nothing
escapes as a stack trace: an unexpected exception is logged and answered as a
typed 500. An operation of the shipped models without a handler answers
`OperationNotServedException` (400); a target or route that names no operation
answers `UnknownOperationException` (400).
"""
import json
import logging
import uuid

from chalice import Response

from chalicelib.protocol import errors, wire
from chalicelib.protocol.models import service_model
from chalicelib.service.registry import handler_for

log = logging.getLogger(__name__)

_JSON_CONTENT_TYPE = {"json": "application/x-amz-json-1.1", "rest-json": "application/json"}

# Route -> service (DESIGN.md, "What we build"); app.py declares one Chalice route for each.
ROUTES = {
    "/": "personalize",
    "/recommendations": "personalize-runtime",
    "/personalize-ranking": "personalize-runtime",
    "/action-recommendations": "personalize-runtime",
    "/events": "personalize-events",
    "/items": "personalize-events",
    "/users": "personalize-events",
    "/actions": "personalize-events",
    "/action-interactions": "personalize-events",
}


def service_for_path(path):
    return ROUTES.get("/" + (path or "").strip("/"))


def handle(request):
    """Serve a Chalice request; the route decides the service."""
    path = _request_path(request)
    return dispatch(
        service_for_path(path),
        method=request.method,
        path=path,
        headers=dict(request.headers or {}),
        query=dict(request.query_params or {}),
        body=request.raw_body,
    )


def _request_path(request):
    path = (request.context or {}).get("path") or ""
    # API Gateway puts the stage in front of the path in the context; the route is what counts
    stage = (request.context or {}).get("stage")
    if stage and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1:]
    return path


def dispatch(service, method, path, headers, query, body):
    """Protocol-independent core, also used directly by in-process callers."""
    request_id = str(uuid.uuid4())
    protocol = "json"
    model = None
    try:
        if service is None:
            raise errors.UnknownOperationException(f"No operation is served at {method} {path}")
        model = service_model(service)
        protocol = model.metadata["protocol"]
        lower = {k.lower(): v for k, v in headers.items()}
        params = wire.decode_body(body, lower.get("content-type"))
        if protocol == "json":
            op = wire.operation_for_target(model, lower.get("x-amz-target"))
        else:
            op = _rest_operation(model, service, method, path)
            params = wire.bind_rest_members(op, params, headers, query, {})
        handler = handler_for(service, op.name)
        if handler is None:  # in today's API (the shipped models), not implemented here yet
            raise errors.OperationNotServedException.for_operation(op.name)
        parsed = wire.parse_input(op, params)
        result = handler(parsed)
        payload = wire.serialize_output(op, result)
        return _response(200, payload, protocol, request_id)
    except errors.ServiceError as e:
        status = wire.error_status(model, e) if model is not None else e.status
        return _error(status, e.code, e.message, protocol, request_id)
    except Exception:  # a bug: log it with the request id, answer a typed 500
        log.exception("unhandled error serving %s %s (request %s)", method, path, request_id)
        return _error(500, "InternalFailure",
                      f"The service encountered an internal error (request {request_id})",
                      protocol, request_id)


def _rest_operation(model, service, method, path):
    ops = wire.operations_for_route(model, method, path or "/")
    if not ops:
        raise errors.UnknownOperationException(f"No operation is served at {method} {path}")
    # Several operations may share a URI (stock GetPersonalizedRanking and the seed's
    # PersonalizeRanking): prefer the one whose handler is registered, seed names first.
    served = [op for op in ops if handler_for(service, op.name)]
    served.sort(key=lambda op: op.name.startswith("Get"))
    return (served or ops)[0]


def _response(status, payload, protocol, request_id):
    return Response(body=json.dumps(payload), status_code=status, headers={
        "Content-Type": _JSON_CONTENT_TYPE.get(protocol, "application/json"),
        "x-amzn-RequestId": request_id,
    })


def _error(status, code, message, protocol, request_id):
    headers = {"Content-Type": _JSON_CONTENT_TYPE.get(protocol, "application/json"),
               "x-amzn-RequestId": request_id}
    if protocol != "json":
        headers["x-amzn-ErrorType"] = code
    return Response(body=json.dumps({"__type": code, "message": message}),
                    status_code=status, headers=headers)
