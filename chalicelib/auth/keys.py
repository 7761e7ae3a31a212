"""Principals and their access keys, owned by the deployment, in the access table.

One DynamoDB table (`AccessTable` in storage/tables.py and template.yaml), keyed by `id`:
- `principal#<name>`: {name, arn, created, managedPolicies: [names], inlinePolicies: {name: JSON}}
- `key#<access key id>`: {accessKeyId, principal, status Active|Inactive, created,
  secret: KMS ciphertext}

Secrets at rest: encrypted with the deployment's KMS key (template.yaml `AccessKmsKey`,
env `ACCESS_KMS_KEY_ID`), with the access key id as encryption context so a ciphertext
cannot be moved to another key's item. ministack and moto serve the same KMS calls, so
every target runs this one code path. The API function may only read the table and
Decrypt; creating keys (Encrypt, writes) takes the deployer's credentials
(`python -m scripts.access`, `make up`). A secret is returned once, by `create_key`,
and never logged.

`lookup` caches what it read (decrypted secret, principal, statements) in the process
for `ACCESS_CACHE_SECONDS` (default 60): a warm function verifies a request without a
DynamoDB or KMS call; a deleted or deactivated key stops working within that time.
"""
import json
import secrets
import string
import threading
import time
from datetime import datetime, timezone

from chalicelib import config
from chalicelib.auth import policies
from chalicelib.storage.clients import client

ROOT = "root"
_KEY_ALPHABET = string.ascii_uppercase + "234567"
_cache = {}
_lock = threading.Lock()


class AccessError(ValueError):
    """An admin request that cannot be done (unknown principal, bad policy, ...)."""


class Identity:
    """A verified caller: the principal, its key, its policy statements."""

    __slots__ = ("access_key", "secret", "principal", "arn", "statements", "fetched")

    def __init__(self, access_key, secret, principal, arn, statements):
        self.access_key, self.secret, self.principal = access_key, secret, principal
        self.arn, self.statements, self.fetched = arn, statements, time.monotonic()


def _table():
    return config.access_table()


def _now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def principal_arn(name):
    return f"arn:aws:iam::{config.account_id()}:user/{name}"


def _get(item_id, dynamodb=None):
    item = (dynamodb or client("dynamodb")).get_item(
        TableName=_table(), Key={"id": {"S": item_id}}, ConsistentRead=True).get("Item")
    return item


def _principal_item(name, dynamodb=None):
    item = _get(f"principal#{name}", dynamodb)
    if item is None:
        raise AccessError(f"no principal named {name}")
    return item


def _policy_parts(item):
    managed = [v["S"] for v in item.get("managedPolicies", {}).get("L", [])]
    inline = {k: v["S"] for k, v in item.get("inlinePolicies", {}).get("M", {}).items()}
    return managed, inline


def forget():
    """Drop every cached identity (after an admin change in this process; tests)."""
    with _lock:
        _cache.clear()


def lookup(access_key):
    """The Identity of an active access key, or None if the key is unknown or inactive."""
    ttl = config.access_cache_seconds()
    found = _cache.get(access_key)
    if found is not None and time.monotonic() - found.fetched < ttl:
        return found
    key = _get(f"key#{access_key}")
    if key is None or key.get("status", {}).get("S") != "Active":
        with _lock:
            _cache.pop(access_key, None)
        return None
    principal = _get(f"principal#{key['principal']['S']}")
    if principal is None:
        return None
    managed, inline = _policy_parts(principal)
    secret = client("kms").decrypt(
        CiphertextBlob=key["secret"]["B"], KeyId=config.access_kms_key(),
        EncryptionContext={"accessKeyId": access_key})["Plaintext"].decode()
    identity = Identity(access_key, secret, principal["name"]["S"], principal["arn"]["S"],
                        policies.statements_for(managed, inline))
    with _lock:
        _cache[access_key] = identity
    return identity


# --- administration (deployer's credentials) ------------------------------------------

def create_principal(name, managed=(), dynamodb=None):
    if not name or not all(c.isalnum() or c in "+=,.@_-" for c in name) or len(name) > 64:
        raise AccessError("a principal name is 1-64 of A-Z a-z 0-9 +=,.@_-")
    for policy in managed:
        policies.statements_for([policy], {})
    dynamodb = dynamodb or client("dynamodb")
    try:
        dynamodb.put_item(
            TableName=_table(), ConditionExpression="attribute_not_exists(id)",
            Item={"id": {"S": f"principal#{name}"}, "kind": {"S": "principal"},
                  "name": {"S": name}, "arn": {"S": principal_arn(name)},
                  "created": {"S": _now()},
                  "managedPolicies": {"L": [{"S": p} for p in managed]},
                  "inlinePolicies": {"M": {}}})
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise AccessError(f"principal {name} already exists")
    return {"name": name, "arn": principal_arn(name), "managedPolicies": list(managed)}


def new_key_pair():
    access_key = "PKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    return access_key, secrets.token_urlsafe(30)


def create_key(principal, access_key=None, secret=None, dynamodb=None, kms=None):
    """A new access key for `principal` -> {accessKeyId, secretAccessKey}: the only time
    the secret is returned. `access_key`/`secret` given: import that pair (tests, `make up`
    keeping the keys it wrote before)."""
    dynamodb = dynamodb or client("dynamodb")
    _principal_item(principal, dynamodb)
    if access_key is None:
        access_key, secret = new_key_pair()
    blob = (kms or client("kms")).encrypt(
        KeyId=config.access_kms_key(), Plaintext=secret.encode(),
        EncryptionContext={"accessKeyId": access_key})["CiphertextBlob"]
    try:
        dynamodb.put_item(
            TableName=_table(), ConditionExpression="attribute_not_exists(id)",
            Item={"id": {"S": f"key#{access_key}"}, "kind": {"S": "key"},
                  "accessKeyId": {"S": access_key}, "principal": {"S": principal},
                  "status": {"S": "Active"}, "created": {"S": _now()}, "secret": {"B": blob}})
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise AccessError(f"access key {access_key} already exists")
    forget()
    return {"accessKeyId": access_key, "secretAccessKey": secret, "principal": principal}


def _scan(kind, dynamodb=None):
    dynamodb = dynamodb or client("dynamodb")
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=_table(), FilterExpression="kind = :k",
        ExpressionAttributeValues={":k": {"S": kind}},
        ProjectionExpression="id, #n, arn, principal, accessKeyId, #s, created, "
                             "managedPolicies, inlinePolicies",
        ExpressionAttributeNames={"#n": "name", "#s": "status"})
    return [item for page in pages for item in page["Items"]]


def list_principals(dynamodb=None):
    """Every principal with its policies and its keys' ids and status (never a secret)."""
    keys = _scan("key", dynamodb)
    out = []
    for item in sorted(_scan("principal", dynamodb), key=lambda i: i["name"]["S"]):
        managed, inline = _policy_parts(item)
        name = item["name"]["S"]
        out.append({"name": name, "arn": item["arn"]["S"], "created": item["created"]["S"],
                    "managedPolicies": managed, "inlinePolicies": sorted(inline),
                    "accessKeys": [{"accessKeyId": k["accessKeyId"]["S"],
                                    "status": k["status"]["S"], "created": k["created"]["S"]}
                                   for k in keys if k["principal"]["S"] == name]})
    return out


def key_exists(access_key, dynamodb=None):
    item = _get(f"key#{access_key}", dynamodb)
    return item is not None and item.get("status", {}).get("S") == "Active"


def delete_key(access_key, dynamodb=None):
    dynamodb = dynamodb or client("dynamodb")
    dynamodb.delete_item(TableName=_table(), Key={"id": {"S": f"key#{access_key}"}})
    forget()


def set_key_status(access_key, active, dynamodb=None):
    dynamodb = dynamodb or client("dynamodb")
    try:
        dynamodb.update_item(
            TableName=_table(), Key={"id": {"S": f"key#{access_key}"}},
            ConditionExpression="attribute_exists(id)", UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "Active" if active else "Inactive"}})
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise AccessError(f"no access key {access_key}")
    forget()


def rotate_key(access_key, dynamodb=None, kms=None):
    """A new key for the same principal; the old one is deactivated (delete it once
    every client has the new one)."""
    dynamodb = dynamodb or client("dynamodb")
    item = _get(f"key#{access_key}", dynamodb)
    if item is None:
        raise AccessError(f"no access key {access_key}")
    created = create_key(item["principal"]["S"], dynamodb=dynamodb, kms=kms)
    set_key_status(access_key, False, dynamodb)
    return created


def delete_principal(name, dynamodb=None):
    dynamodb = dynamodb or client("dynamodb")
    _principal_item(name, dynamodb)
    for key in _scan("key", dynamodb):
        if key["principal"]["S"] == name:
            delete_key(key["accessKeyId"]["S"], dynamodb)
    dynamodb.delete_item(TableName=_table(), Key={"id": {"S": f"principal#{name}"}})
    forget()


def attach_policy(name, managed=None, inline_name=None, document=None, dynamodb=None):
    """Attach a managed policy by name, or put an inline policy document under `inline_name`."""
    dynamodb = dynamodb or client("dynamodb")
    item = _principal_item(name, dynamodb)
    current, inline = _policy_parts(item)
    if managed:
        policies.statements_for([managed], {})
        current = current + [managed] if managed not in current else current
    if inline_name:
        text = document if isinstance(document, str) else json.dumps(document)
        policies.normalize(text)
        inline = {**inline, inline_name: text}
    _write_policies(dynamodb, name, current, inline)


def detach_policy(name, policy, dynamodb=None):
    """Remove a managed policy or an inline policy named `policy`."""
    dynamodb = dynamodb or client("dynamodb")
    current, inline = _policy_parts(_principal_item(name, dynamodb))
    if policy not in current and policy not in inline:
        raise AccessError(f"{name} has no policy {policy}")
    _write_policies(dynamodb, name, [p for p in current if p != policy],
                    {k: v for k, v in inline.items() if k != policy})


def _write_policies(dynamodb, name, managed, inline):
    dynamodb.update_item(
        TableName=_table(), Key={"id": {"S": f"principal#{name}"}},
        UpdateExpression="SET managedPolicies = :m, inlinePolicies = :i",
        ExpressionAttributeValues={":m": {"L": [{"S": p} for p in managed]},
                                   ":i": {"M": {k: {"S": v} for k, v in inline.items()}}})
    forget()
