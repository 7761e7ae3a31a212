"""Access control in the test worlds: a root principal whose key is the credentials the
boto3 clients sign with, and a signer for hand-made requests.

    seed_root(mp)                              # in a moto world (tests/conftest.py moto_world)
    headers = sign(method, url, body, headers) # SigV4 as botocore signs, at any time, any key
"""
import datetime
from unittest import mock

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT_KEY = ("testing", "testing")  # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of the fixtures
TOKEN = "testing"                  # AWS_SESSION_TOKEN: signed, otherwise ignored (auth/gate.py)


def seed_root(mp, region="us-east-1"):
    """Create the access KMS key (ACCESS_KMS_KEY_ID) and the root principal with full
    access, as `make up` does on the emulator. Its keys: the fixtures' testing/testing
    and whatever the environment holds now (moto's mock_aws swaps in its own fake
    credentials while active, and clients built inside it sign with those)."""
    import os
    from chalicelib.auth import keys
    kms = boto3.client("kms", region_name=region)
    mp.setenv("ACCESS_KMS_KEY_ID", kms.create_key(Description="access keys")["KeyMetadata"]["Arn"])
    keys.forget()
    keys.create_principal(keys.ROOT, ["AmazonPersonalizeFullAccess"])
    pairs = {ROOT_KEY, (os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY"))}
    for access_key, secret in sorted(p for p in pairs if all(p)):
        keys.create_key(keys.ROOT, access_key, secret)


def principal(name, managed=(), inline=None, access_key=None, secret=None):
    """A principal with `managed` policies and `inline` {name: document}; -> (key id, secret)."""
    from chalicelib.auth import keys
    keys.create_principal(name, list(managed))
    for policy_name, document in (inline or {}).items():
        keys.attach_policy(name, inline_name=policy_name, document=document)
    created = keys.create_key(name, access_key, secret)
    return created["accessKeyId"], created["secretAccessKey"]


def sign(method, url, body, headers, key=ROOT_KEY, token=TOKEN, region="us-east-1",
         service="personalize", when=None):
    """`headers` plus Host, X-Amz-Date, X-Amz-Security-Token and Authorization, as
    botocore's SigV4Auth signs the request (at `when`, default now)."""
    request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers))
    signer = SigV4Auth(Credentials(key[0], key[1], token), service, region)
    when = when or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        signer.add_auth(request)
    out = dict(request.headers.items())
    out.setdefault("Host", url.split("/")[2])
    return out
