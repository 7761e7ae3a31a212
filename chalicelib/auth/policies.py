"""IAM-shaped identity policies: documents, the managed ones by name, evaluation.

Seed, "Specifying Policy Elements: Actions, Effects, and Principals": an action is
`personalize:<Operation>` (runtime and events operations included), a resource is
an ARN; if nothing allows a request it is implicitly denied, and an explicit Deny
wins over any Allow. `Action`/`NotAction` and `Resource`/`NotResource` take IAM's
`*` and `?` wildcards (actions case-insensitively, ARNs case-sensitively).
`Condition` is not evaluated here, so a statement that has one is refused when the
policy is attached rather than silently widened or narrowed.

The resources a call touches (seed, "API Permissions: Actions, Permissions, and
Resources Reference"): the personalize ARNs the request names in its `...Arn` /
`...Arns` members (CreateDataset: the dataset group and the schema); a create that
names none is checked against the ARN it creates; a call that names no resource at
all (ListDatasetGroups, PutEvents by tracking id) is checked against `*`.
"""
import json
import re
from functools import lru_cache

from chalicelib.auth.errors import AccessDeniedException

VERSION = "2012-10-17"

MANAGED = {
    # Seed, "AWS Managed (Predefined) Policies" and "Example 2": full access.
    "AmazonPersonalizeFullAccess": {"Version": VERSION, "Statement": [
        {"Effect": "Allow", "Action": ["personalize:*"], "Resource": "*"}]},
    # Seed, "Example 1: Allow a User Read-Only Access to Resources", with today's
    # Describe/List operations covered by the same wildcards.
    "AmazonPersonalizeReadOnlyAccess": {"Version": VERSION, "Statement": [
        {"Effect": "Allow", "Resource": "*", "Action": [
            "personalize:Describe*", "personalize:List*", "personalize:GetMetrics",
            "personalize:GetSolutionMetrics"]}]},
    # Only what an application's event stream needs (seed, "Recording Events").
    "AmazonPersonalizeEventsOnly": {"Version": VERSION, "Statement": [
        {"Effect": "Allow", "Resource": "*", "Action": [
            "personalize:PutEvents", "personalize:PutItems", "personalize:PutUsers",
            "personalize:PutActions", "personalize:PutActionInteractions"]}]},
}


class PolicyError(ValueError):
    """A document this evaluator cannot honour exactly."""


def _as_list(value):
    return [value] if isinstance(value, str) else list(value or [])


def normalize(document):
    """A policy document (dict or JSON text) -> its list of statements, checked."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as e:
            raise PolicyError(f"policy is not JSON: {e}")
    if not isinstance(document, dict) or "Statement" not in document:
        raise PolicyError("policy needs a Statement")
    statements = document["Statement"]
    statements = [statements] if isinstance(statements, dict) else statements
    out = []
    for i, st in enumerate(statements):
        if not isinstance(st, dict) or st.get("Effect") not in ("Allow", "Deny"):
            raise PolicyError(f"Statement {i}: Effect must be Allow or Deny")
        if "Condition" in st or "Principal" in st or "NotPrincipal" in st:
            raise PolicyError(f"Statement {i}: Condition and Principal are not supported "
                              "(identity policies only)")
        if ("Action" in st) == ("NotAction" in st):
            raise PolicyError(f"Statement {i}: exactly one of Action, NotAction")
        if ("Resource" in st) == ("NotResource" in st):
            raise PolicyError(f"Statement {i}: exactly one of Resource, NotResource")
        norm = {"Effect": st["Effect"]}
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if key in st:
                values = _as_list(st[key])
                if not values or not all(isinstance(v, str) for v in values):
                    raise PolicyError(f"Statement {i}: {key} must be strings")
                norm[key] = values
        out.append(norm)
    return out


def statements_for(managed_names, inline_documents):
    """Every statement of a principal: its managed policies by name and its inline ones."""
    out = []
    for name in managed_names or ():
        if name not in MANAGED:
            raise PolicyError(f"no managed policy named {name}")
        out.extend(normalize(MANAGED[name]))
    for document in (inline_documents or {}).values():
        out.extend(normalize(document))
    return out


@lru_cache(maxsize=4096)
def _pattern(glob, ignore_case):
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{regex}$", re.IGNORECASE if ignore_case else 0)


def _matches(patterns, value, ignore_case):
    return any(_pattern(p, ignore_case).match(value) for p in patterns)


def _applies(statement, action, resource):
    if "Action" in statement:
        if not _matches(statement["Action"], action, True):
            return False
    elif _matches(statement["NotAction"], action, True):
        return False
    if "Resource" in statement:
        return _matches(statement["Resource"], resource, False)
    return not _matches(statement["NotResource"], resource, False)


def decide(statements, action, resource):
    """'Allow', 'Deny' (explicit) or None (implicit deny) for one action on one resource."""
    allowed = False
    for st in statements:
        if _applies(st, action, resource):
            if st["Effect"] == "Deny":
                return "Deny"
            allowed = True
    return "Allow" if allowed else None


def authorize(principal_arn, statements, action, resources):
    """Raise AccessDeniedException unless every resource is allowed for `action`."""
    for resource in resources:
        verdict = decide(statements, action, resource)
        if verdict != "Allow":
            why = ("with an explicit deny in an identity-based policy" if verdict == "Deny"
                   else f"because no identity-based policy allows the {action} action")
            raise AccessDeniedException(
                f"User: {principal_arn} is not authorized to perform: {action} on resource: "
                f"{resource} {why}")


def _personalize_arns(value):
    if isinstance(value, str):
        return [value] if value.startswith("arn:") and ":personalize:" in value else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v.startswith("arn:")
                and ":personalize:" in v]
    return []


def resources_for(operation, params, created_arn=None):
    """The ARNs an operation's request touches (see the module docstring)."""
    found = []
    if isinstance(params, dict):
        for key, value in params.items():
            if key.endswith("Arn") or key.endswith("Arns"):
                found.extend(_personalize_arns(value))
    if not found and created_arn:
        found.append(created_arn)
    return list(dict.fromkeys(found)) or ["*"]


def action_for(operation):
    return f"personalize:{operation}"
