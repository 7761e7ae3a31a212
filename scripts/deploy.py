"""One deploy path for ministack, LocalStack and AWS: upload, CloudFormation, outputs.

What `aws cloudformation package` + `aws cloudformation deploy` do, with boto3
so that the same function serves `make up`, `make deploy` and the e2e
fixture: upload the Lambda zip (and the template when it is over the inline
limit) to an artifacts bucket, create or update the stack with the SAM
transform, wait, and report the outputs. The only per-target inputs are the
endpoint (None for AWS) and the parameters.
"""
import json
import os
import time
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

TEMPLATE_BODY_LIMIT = 51_200  # CloudFormation's TemplateBody limit, in bytes
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
FAILED_END = ("CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_COMPLETE",
              "DELETE_FAILED", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED",
              "UPDATE_FAILED")


class DeployError(RuntimeError):
    pass


@dataclass
class Deployment:
    stack_name: str
    outputs: dict
    personalize_endpoint: str
    seconds: float


def session(endpoint_url=None, region="us-east-1"):
    """boto3 clients for a target: emulators take the endpoint and test keys,
    AWS takes the caller's own credentials."""
    creds = {}
    if endpoint_url:
        creds = {"aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                 "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", "test")}
    s = boto3.session.Session(region_name=region, **creds)
    cfg = Config(retries={"max_attempts": 5, "mode": "standard"})

    def client(name):
        return s.client(name, endpoint_url=endpoint_url, config=cfg)
    return client


def artifacts_bucket(client, region):
    """The bucket that holds deployment artifacts (like `sam deploy --resolve-s3`)."""
    account = client("sts").get_caller_identity()["Account"]
    name = f"personalize-artifacts-{account}-{region}"
    s3 = client("s3")
    try:
        s3.head_bucket(Bucket=name)
    except ClientError:
        kwargs = {} if region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": region}}
        s3.create_bucket(Bucket=name, **kwargs)
    return name


def upload(client, package, bucket, body_limit=TEMPLATE_BODY_LIMIT):
    """Upload the code and point every function's CodeUri at it; returns the
    template body and, when the body is over `body_limit`, a TemplateURL."""
    s3 = client("s3")
    key = f"{package.target}/{package.digest[:16]}/deployment.zip"
    s3.upload_file(package.code_path, bucket, key)
    template = json.loads(json.dumps(package.template))
    for res in template["Resources"].values():
        if res.get("Type") == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = {"Bucket": bucket, "Key": key}
    body = json.dumps(template, separators=(",", ":"))
    url = None
    if len(body.encode()) > body_limit:
        tkey = f"{package.target}/{package.digest[:16]}/template.json"
        s3.put_object(Bucket=bucket, Key=tkey, Body=body.encode())
        endpoint = s3.meta.endpoint_url.rstrip("/")
        if "amazonaws.com" in endpoint:  # CloudFormation reads it with the caller's rights
            url = f"https://{bucket}.s3.{s3.meta.region_name}.amazonaws.com/{tkey}"
        else:  # an emulator: path-style on its own endpoint
            url = f"{endpoint}/{bucket}/{tkey}"
    return body, url


def _stack_status(cfn, name):
    try:
        return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    except ClientError as e:
        if "does not exist" in str(e):
            return None
        raise


def _failure_reasons(cfn, name, since):
    reasons = []
    try:
        for ev in cfn.describe_stack_events(StackName=name)["StackEvents"]:
            if ev["Timestamp"].timestamp() < since - 5:
                continue
            if ev.get("ResourceStatus", "").endswith("FAILED") and ev.get("ResourceStatusReason"):
                reasons.append(f"{ev['LogicalResourceId']}: {ev['ResourceStatusReason']}")
    except ClientError:
        pass
    return reasons


def deploy_stack(client, stack_name, body, template_url=None, parameters=None,
                 progress=print, timeout=1800):
    """Create or update the stack and wait; returns its outputs as a dict."""
    cfn = client("cloudformation")
    params = [{"ParameterKey": k, "ParameterValue": str(v)}
              for k, v in sorted((parameters or {}).items())]
    source = {"TemplateURL": template_url} if template_url else {"TemplateBody": body}
    status = _stack_status(cfn, stack_name)
    if status in ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED", "CREATE_FAILED"):
        progress(f"stack {stack_name} is {status}; deleting it before creating it again")
        cfn.delete_stack(StackName=stack_name)
        _wait(cfn, stack_name, progress, timeout, deleting=True)
        status = None
    started = time.time()
    if status is None:
        progress(f"creating stack {stack_name}")
        cfn.create_stack(StackName=stack_name, Parameters=params, Capabilities=CAPABILITIES,
                         **source)
    else:
        progress(f"updating stack {stack_name} ({status})")
        try:
            cfn.update_stack(StackName=stack_name, Parameters=params,
                             Capabilities=CAPABILITIES, **source)
        except ClientError as e:
            if "No updates are to be performed" not in str(e):
                raise
            progress("no changes")
    final = _wait(cfn, stack_name, progress, timeout)
    if final not in DONE:
        reasons = _failure_reasons(cfn, stack_name, started)
        raise DeployError(f"stack {stack_name} ended {final}:\n  " + "\n  ".join(reasons or ["?"]))
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _wait(cfn, name, progress, timeout, deleting=False):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        status = _stack_status(cfn, name)
        if status != last:
            if last is not None:
                progress(f"  {status}")
            last = status
        if status is None:
            return "DELETE_COMPLETE"
        if not status.endswith("_IN_PROGRESS"):
            return status
        if time.monotonic() > deadline:
            raise DeployError(f"stack {name} still {status} after {timeout}s")
        time.sleep(0.5 if deleting else 1.0)


def personalize_endpoint(outputs, endpoint_url):
    """The base URL the three Personalize clients take as endpoint_url.

    On an emulator API Gateway is reached through its path form
    (`/restapis/<id>/<stage>/_user_request_`); on AWS it is chalice's
    EndpointURL output."""
    if endpoint_url:
        return f"{endpoint_url.rstrip('/')}/restapis/{outputs['RestAPIId']}/api/_user_request_"
    return outputs["EndpointURL"].rstrip("/")


def deploy(package, stack_name="personalize", endpoint_url=None, region="us-east-1",
           parameters=None, progress=print, body_limit=TEMPLATE_BODY_LIMIT):
    """Upload `package` and create/update `stack_name` on the target."""
    t0 = time.monotonic()
    client = session(endpoint_url, region)
    bucket = artifacts_bucket(client, region)
    body, url = upload(client, package, bucket, body_limit)
    outputs = deploy_stack(client, stack_name, body, url, parameters, progress)
    return Deployment(stack_name=stack_name, outputs=outputs,
                      personalize_endpoint=personalize_endpoint(outputs, endpoint_url),
                      seconds=time.monotonic() - t0)
