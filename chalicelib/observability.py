"""Structured logs for every Lambda: Powertools Logger as Chalice middleware.

    observability.register(app)      # in app.py, once

Each invocation (an API request or a state machine's call of `tasks` /
`trainer`) logs one JSON line with the Lambda request id, the operation, the
resource ARN it concerns, the outcome and the duration; lines that the
application's own loggers (`chalicelib.*`) write during the invocation carry
the same keys when running in Lambda, so one request id or ARN finds all of
them in CloudWatch Logs (on ministack too: `python -m scripts.stack logs`).
"""
import logging
import os
import sys
import time
import uuid

from aws_lambda_powertools import Logger

from chalicelib.protocol.errors import ServiceError
from chalicelib.protocol.jsontext import load_json

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "personalize"))

_KEYS = ("request_id", "operation", "resource_arn")


def resource_arn(payload):
    """The first `...Arn` member holding an ARN, at the top level or one level down."""
    if not isinstance(payload, dict):
        return None
    nested = []
    for key, value in payload.items():
        if isinstance(value, str) and key.lower().endswith("arn") and value.startswith("arn:"):
            return value
        if isinstance(value, dict):
            nested.append(value)
    for value in nested:
        found = resource_arn(value)
        if found:
            return found
    return None


def _http_fields(request):
    target = (request.headers or {}).get("x-amz-target", "")
    operation = target.rsplit(".", 1)[-1] if target else f"{request.method} {request.path}"
    try:
        body = load_json(request.raw_body or b"{}")
    except ServiceError:   # the dispatcher answers it; the log line names no ARN
        body = None
    return operation, resource_arn(body)


def request_id(request):
    """The one id of an API request: API Gateway's (`requestContext.requestId`, which the
    gateway itself returns as x-amzn-RequestId), else the Lambda invocation's, else a new
    one. The response header, the audit line and the invocation's log lines all carry it."""
    known = getattr(request, "_api_request_id", None)
    if known:
        return known
    context = getattr(request, "context", None) or {}
    lambda_context = getattr(request, "lambda_context", None)
    found = context.get("requestId") or getattr(lambda_context, "aws_request_id", None) \
        or str(uuid.uuid4())
    try:
        request._api_request_id = found   # the middleware and the dispatcher ask both
    except AttributeError:
        pass
    return found


def _share_keys_with_application_loggers():
    # In Lambda, records of `chalicelib.*` loggers go through the same JSON
    # formatter (and its request keys). Elsewhere (tests) logging is left alone.
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return
    package = logging.getLogger("chalicelib")
    if any(getattr(h, "_powertools_shared", False) for h in package.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logger.registered_formatter)
    handler._powertools_shared = True
    package.addHandler(handler)
    package.setLevel(logger.log_level)
    package.propagate = False  # the runtime's root handler would print it again


def register(app):
    """Install the logging middleware on every function of the Chalice `app`."""
    _share_keys_with_application_loggers()

    @app.middleware("all")
    def log_invocation(event, get_response):
        if hasattr(event, "method"):  # an HTTP request
            context = getattr(event, "lambda_context", None)
            operation, arn = _http_fields(event)
            invocation_id = request_id(event)
        else:  # a pure Lambda function: {"task": ..., "input": {...}} from a state machine
            context = getattr(event, "context", None)
            payload = event.to_dict() if hasattr(event, "to_dict") else {}
            payload = payload if isinstance(payload, dict) else {}
            operation = payload.get("task") or getattr(context, "function_name", None)
            arn = resource_arn(payload.get("input")) or resource_arn(payload)
            invocation_id = getattr(context, "aws_request_id", None)
        logger.append_keys(request_id=invocation_id,
                           operation=operation, resource_arn=arn)
        started = time.perf_counter()
        try:
            response = get_response(event)
            status = getattr(response, "status_code", None)
            log = logger.error if status is not None and status >= 500 else logger.info
            log("served", extra={"status": status, "duration_ms": _ms(started)})
            return response
        except Exception:
            logger.exception("failed", extra={"duration_ms": _ms(started)})
            raise
        finally:
            logger.remove_keys(list(_KEYS))

    return log_invocation


def audit(request_id, principal, access_key, action, resources, source_ip, status, error=None):
    """One structured line per API call, the fields of the seed's CloudTrail entry
    ("Logging Amazon Personalize API Calls"): who (principal ARN and access key id),
    what (action, resource ARNs), from where (source IP), the result (HTTP status and
    error code) and the request id the client saw (x-amzn-RequestId). Never a secret.
    In CloudWatch Logs: filter `{ $.message = "audit" && $.principal = "arn:...:user/x" }`."""
    logger.info("audit", extra={
        "audit": True, "api_request_id": request_id, "principal": principal,
        "access_key": access_key, "action": action, "resources": resources,
        "source_ip": source_ip, "status": status, "error": error,
        "result": "allowed" if status < 400 else "denied" if status in (401, 403) else "failed"})


def _ms(started):
    return round((time.perf_counter() - started) * 1000, 1)
