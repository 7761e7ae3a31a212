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

from chalicelib import observability
from chalicelib.auth import gate
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
    args = _request_args(request)
    return dispatch(service_for_path(args["path"]), **args)


def _request_args(request):
    """What `dispatch` and `dispatch_project` take from a Chalice request."""
    path = _request_path(request)
    context = request.context or {}
    return dict(method=request.method, path=path, headers=dict(request.headers or {}),
                query=dict(request.query_params or {}), body=request.raw_body,
                signed_paths=gate.signed_paths(path or "/", context),
                source_ip=(context.get("identity") or {}).get("sourceIp"),
                request_id=observability.request_id(request))


def _request_path(request):
    path = (request.context or {}).get("path") or ""
    # API Gateway puts the stage in front of the path in the context; the route is what counts
    stage = (request.context or {}).get("stage")
    if stage and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1:]
    return path


def dispatch(service, method, path, headers, query, body, signed_paths=None, source_ip=None,
             request_id=None):
    """Protocol-independent core, also used directly by in-process callers.

    Access control happens here, once, before any handler (chalicelib/auth): the SigV4
    signature first (over `signed_paths`, the forms of the path the client may have
    signed; default `path`), then the caller's policies for the operation and the ARNs
    its request names. Every call, served or refused, writes one audit line. `request_id`
    is the request's one id (`observability.request_id`; a new one for in-process callers)."""
    protocol = service_model(service).metadata["protocol"] if service is not None else "json"
    found = {}

    def resolve(lower):
        if service is None:
            raise errors.UnknownOperationException(f"No operation is served at {method} {path}")
        model = found["model"] = service_model(service)
        params = wire.decode_body(body, lower.get("content-type"))
        if protocol == "json":
            op = wire.operation_for_target(model, lower.get("x-amz-target"))
        else:
            op = _rest_operation(model, service, method, path)
            params = wire.bind_rest_members(op, params, headers, query, {})

        def run():
            handler = handler_for(service, op.name)
            if handler is None:  # in today's API (the shipped models), not implemented here yet
                raise errors.OperationNotServedException.for_operation(op.name)
            return wire.serialize_output(op, handler(wire.parse_input(op, params)))
        return op.name, params, run

    return _serve(resolve, protocol, method, path, headers, query, body, signed_paths, source_ip,
                  request_id, status_of=lambda e: (wire.error_status(found["model"], e)
                                                   if "model" in found else e.status))


# Project routes outside the service models: path -> the operation name their policies see.
# POST /console/upload: the web console's CSV upload (chalicelib/service/uploads.py).
PROJECT_ROUTES = {"/console/upload": "UploadDatasetFile"}
PROJECT_SERVICE = "console"  # their handlers' registry service


def handle_project(request):
    """Serve a project route (PROJECT_ROUTES) from Chalice: signed and authorised like every
    call (the action `personalize:<name>`, the ARNs of the query's `...Arn` members), errors
    in the rest-json form; the handler gets the query's members and the raw body."""
    return dispatch_project(**_request_args(request))


def dispatch_project(method, path, headers, query, body, signed_paths=None, source_ip=None,
                     request_id=None):
    """`dispatch` for a project route: the same `_serve` steps, the handler registered under
    PROJECT_SERVICE by the route's name, rest-json errors."""
    def resolve(lower):
        name = PROJECT_ROUTES.get("/" + (path or "").strip("/"))
        if name is None or method != "POST":
            raise errors.UnknownOperationException(f"No operation is served at {method} {path}")
        params = dict(query)
        return name, params, lambda: handler_for(PROJECT_SERVICE, name)({**params, "body": body or b""})
    return _serve(resolve, "rest-json", method, path, headers, query, body, signed_paths,
                  source_ip, request_id)


def _serve(resolve, protocol, method, path, headers, query, body, signed_paths, source_ip,
           request_id, status_of=lambda e: e.status):
    """The steps every request takes: authenticate (SigV4), `resolve(lower-cased headers)` ->
    (operation name, params, run), authorize the operation on the ARNs the params name,
    `run()` -> the payload; typed errors, one audit line."""
    request_id = request_id or str(uuid.uuid4())
    audit = {"principal": None, "access_key": None, "action": None, "resources": None}
    try:
        lower = {k.lower(): v for k, v in headers.items()}
        identity = gate.authenticate(method, signed_paths or [path or "/"], query, lower, body)
        audit.update(principal=identity.arn, access_key=identity.access_key)
        name, params, run = resolve(lower)
        audit["action"], audit["resources"] = gate.target(name, params)
        gate.authorize(identity, audit["action"], audit["resources"])
        response = _response(200, run(), protocol, request_id)
        error = None
    except errors.ServiceError as e:
        response, error = _error(status_of(e), e.code, e.message, protocol, request_id), e.code
    except Exception:  # a bug: log it with the request id, answer a typed 500
        log.exception("unhandled error serving %s %s (request %s)", method, path, request_id)
        response, error = _error(500, "InternalFailure",
                                 f"The service encountered an internal error (request {request_id})",
                                 protocol, request_id), "InternalFailure"
    observability.audit(request_id, source_ip=source_ip, status=response.status_code,
                        error=error, **audit)
    return response


def _rest_operation(model, service, method, path):
    ops = wire.operations_for_route(model, method, path or "/")
    if not ops:
        raise errors.UnknownOperationException(f"No operation is served at {method} {path}")
    # Several operations may share a URI (stock GetPersonalizedRanking and the seed's
    # PersonalizeRanking): prefer the one whose handler is registered, today's first: its
    # input and output hold the seed's members too (models.py), so both clients parse, and
    # today's members (filterArn, metadataColumns, recommendationId) are not dropped.
    served = [op for op in ops if handler_for(service, op.name)]
    served.sort(key=lambda op: not op.name.startswith("Get"))
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
