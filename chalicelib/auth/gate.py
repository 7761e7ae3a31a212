"""The one access check, called by the dispatcher (protocol/http.py) before any handler.

    identity = gate.authenticate(method, paths, query, headers, body)   # SigV4 -> who
    action, resources = gate.target(operation, params)                  # what it touches
    gate.authorize(identity, action, resources)                         # policies -> may they

Session tokens: the deployment issues no temporary credentials. A request signed by
one of its access keys may carry `X-Amz-Security-Token` (boto3 sends one whenever
AWS_SESSION_TOKEN is set); it is covered by the signature like any signed header and
otherwise ignored: the access key and its secret alone identify the principal.
"""
import re

from chalicelib import config
from chalicelib.auth import keys, policies, sigv4
from chalicelib.domain import arns

_CREATE = re.compile(r"^Create([A-Z][A-Za-z]+)$")


def signed_paths(route, context):
    """The forms of the path a client may have signed, most likely first: the path the
    gateway received (API Gateway: `/<stage>/<route>`), ministack's and LocalStack's
    `/restapis/<api id>/<stage>/_user_request_/<route>`, and the bare route (a custom
    domain, or the app called directly); each also without its trailing slash."""
    context = context or {}
    paths = [context.get("path") or route]
    stage, api = context.get("stage"), context.get("apiId")
    if stage and api:
        paths.append(f"/restapis/{api}/{stage}/_user_request_{route}")
    paths.append(route)
    # an endpoint URL without a trailing slash: botocore signs `.../_user_request_` or
    # `/api` for the control plane's route `/`
    return paths + [p.rstrip("/") for p in paths if len(p) > 1 and p.endswith("/")]


def authenticate(method, paths, query, headers, body, now=None):
    """Verify the SigV4 signature; the caller's keys.Identity (or a typed 4xx error).
    `headers` has lower-cased names."""
    found = {}

    def secret_for(access_key):
        identity = keys.lookup(access_key)
        found["identity"] = identity
        return identity.secret if identity else None

    sigv4.verify(method, paths, query, headers, body, secret_for, config.region(), now)
    return found["identity"]


def _created_arn(operation, params):
    m = _CREATE.match(operation)
    name = params.get("name") if isinstance(params, dict) else None
    if not m or not isinstance(name, str) or not name:
        return None
    kind = re.sub(r"(?<!^)([A-Z])", r"-\1", m.group(1)).lower()
    return arns.build(kind, name)


def target(operation, params):
    """(action, resource ARNs) of a request, for the policies and the audit line."""
    action = policies.action_for(operation)
    return action, policies.resources_for(operation, params, _created_arn(operation, params))


def authorize(identity, action, resources):
    """Raise AccessDeniedException unless the identity's policies allow `action` on
    every one of `resources`."""
    policies.authorize(identity.arn, identity.statements, action, resources)
