"""Principals, access keys and policies of a deployed stack (chalicelib/auth/keys.py).

    python -m scripts.access list
    python -m scripts.access create-principal reader --policy AmazonPersonalizeReadOnlyAccess
    python -m scripts.access create-key reader            # prints the secret, once
    python -m scripts.access rotate-key PKIA...           # new key, the old one deactivated
    python -m scripts.access deactivate-key PKIA... | activate-key PKIA... | delete-key PKIA...
    python -m scripts.access attach-policy reader --managed AmazonPersonalizeFullAccess
    python -m scripts.access attach-policy reader --inline one-group --document policy.json
    python -m scripts.access detach-policy reader one-group
    python -m scripts.access delete-principal reader
    python -m scripts.access policies                     # the managed policies by name

Talks to the stack's access table and KMS key with the deployer's credentials, as
scripts/stack.py does: by default the stack `make up` deployed on ministack
(.local/stack.json); `--target aws [--stack personalize] [--region ...]` reads the
table and key from the CloudFormation stack's outputs with your AWS credentials.
"""
import argparse
import contextlib
import json
import os
import sys

from scripts import deploy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORD = os.path.join(ROOT, ".local", "stack.json")
EMULATOR_KEYS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


@contextlib.contextmanager
def bound(outputs, endpoint_url=None, region="us-east-1", account=None):
    """(dynamodb, kms) clients of the stack whose CloudFormation `outputs` are given, with
    chalicelib.config pointed at its access table and KMS key while inside."""
    import boto3
    creds = EMULATOR_KEYS if endpoint_url else {}
    session = boto3.session.Session(region_name=region, **creds)
    clients = tuple(session.client(name, endpoint_url=endpoint_url)
                    for name in ("dynamodb", "kms"))
    if account is None:
        account = "000000000000" if endpoint_url else \
            session.client("sts").get_caller_identity()["Account"]
    settings = {"ACCESS_TABLE": outputs["AccessTableName"],
                "ACCESS_KMS_KEY_ID": outputs["AccessKmsKeyArn"],
                "PERSONALIZE_ACCOUNT_ID": account, "AWS_REGION": region}
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        yield clients
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def ensure_root(outputs, endpoint_url, region, known=None):
    """The root principal (full access) and a working key for it: `known` (access key id,
    secret) when the stack still has that key, else a new one. -> (key id, secret)."""
    from chalicelib.auth import keys
    with bound(outputs, endpoint_url, region) as (dynamodb, kms):
        if known and all(known) and keys.key_exists(known[0], dynamodb):
            return tuple(known)
        try:
            keys.create_principal(keys.ROOT, ["AmazonPersonalizeFullAccess"], dynamodb)
        except keys.AccessError:
            pass  # there already; give it a new key
        created = keys.create_key(keys.ROOT, dynamodb=dynamodb, kms=kms)
        return created["accessKeyId"], created["secretAccessKey"]


def _target(args):
    if args.target == "aws":
        region = args.region or os.environ.get("AWS_REGION") or "us-east-1"
        cfn = deploy.session(None, region)("cloudformation")
        stack = cfn.describe_stacks(StackName=args.stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        return outputs, None, region
    if not os.path.exists(args.record):
        raise SystemExit(f"no {args.record}: run `make up` first (or pass --target aws)")
    with open(args.record) as f:
        record = json.load(f)
    return record["outputs"], f"http://127.0.0.1:{record['port']}", record.get("region",
                                                                              "us-east-1")


def main(argv=None, out=print):
    parser = argparse.ArgumentParser(prog="python -m scripts.access", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=["ministack", "aws"], default="ministack")
    parser.add_argument("--stack", default="personalize")
    parser.add_argument("--region")
    parser.add_argument("--record", default=RECORD,
                        help="the ministack deployment record (default .local/stack.json)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    sub.add_parser("policies")
    p = sub.add_parser("create-principal")
    p.add_argument("name")
    p.add_argument("--policy", action="append", default=[], help="managed policy name")
    p.add_argument("--no-key", action="store_true", help="do not create an access key")
    for name in ("create-key", "delete-principal"):
        sub.add_parser(name).add_argument("name")
    for name in ("rotate-key", "delete-key", "deactivate-key", "activate-key"):
        sub.add_parser(name).add_argument("access_key")
    p = sub.add_parser("attach-policy")
    p.add_argument("name")
    p.add_argument("--managed")
    p.add_argument("--inline", help="inline policy name (with --document)")
    p.add_argument("--document", help="policy JSON, or a path to a JSON file")
    p = sub.add_parser("detach-policy")
    p.add_argument("name")
    p.add_argument("policy")
    args = parser.parse_args(argv)

    from chalicelib.auth import keys, policies
    if args.command == "policies":
        out(json.dumps(policies.MANAGED, indent=1))
        return 0
    outputs, endpoint, region = _target(args)
    try:
        with bound(outputs, endpoint, region) as (dynamodb, kms):
            if args.command == "list":
                out(json.dumps(keys.list_principals(dynamodb), indent=1))
            elif args.command == "create-principal":
                result = keys.create_principal(args.name, args.policy, dynamodb)
                if not args.no_key:
                    result["accessKey"] = keys.create_key(args.name, dynamodb=dynamodb, kms=kms)
                out(json.dumps(result, indent=1))
            elif args.command == "create-key":
                out(json.dumps(keys.create_key(args.name, dynamodb=dynamodb, kms=kms), indent=1))
            elif args.command == "rotate-key":
                out(json.dumps(keys.rotate_key(args.access_key, dynamodb, kms), indent=1))
            elif args.command in ("deactivate-key", "activate-key"):
                keys.set_key_status(args.access_key, args.command == "activate-key", dynamodb)
            elif args.command == "delete-key":
                keys.delete_key(args.access_key, dynamodb)
            elif args.command == "delete-principal":
                keys.delete_principal(args.name, dynamodb)
            elif args.command == "attach-policy":
                document = args.document
                if document and os.path.exists(document):
                    with open(document) as f:
                        document = f.read()
                if not args.managed and not (args.inline and document):
                    raise keys.AccessError("give --managed NAME or --inline NAME --document JSON")
                keys.attach_policy(args.name, managed=args.managed, inline_name=args.inline,
                                   document=document, dynamodb=dynamodb)
            elif args.command == "detach-policy":
                keys.detach_policy(args.name, args.policy, dynamodb)
    except (keys.AccessError, policies.PolicyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
