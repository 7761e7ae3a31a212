"""`make up`, `make down`, `make deploy`: the stack on ministack, LocalStack or AWS.

    python -m scripts.stack up        # start ministack (or reuse it), deploy, write .local/stack.env
    python -m scripts.stack down      # stop the ministack that `up` started (state is kept)
    python -m scripts.stack deploy --target localstack|aws
    python -m scripts.stack env       # print .local/stack.env
    python -m scripts.stack logs      # the Lambdas' latest log lines (CloudWatch Logs of ministack)

Everything `up` creates lives under `.local/`: the emulator's PID record, log
and persisted state (`.local/ministack/`), the last deployment
(`.local/stack.json`) and the environment for clients (`.local/stack.env`).
"""
import argparse
import json
import os
import sys
import time

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from scripts import access, deploy, emulator, package

ROOT = package.ROOT
LOCAL = os.path.join(ROOT, ".local")
EMULATOR_HOME = os.path.join(LOCAL, "ministack")
MODELS = os.path.join(ROOT, "build", "models")
DEFAULT_PORT = 4566
STACK_NAME = "personalize"
TEST_KEYS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def client_environment(personalize_endpoint, endpoint_url, region, credentials=True,
                       models=MODELS, keys=None):
    """The variables a boto3 client or the AWS CLI needs to reach the stack.

    `AWS_ENDPOINT_URL_PERSONALIZE*` make `boto3.client("personalize")` and
    `aws personalize ...` find the API without an explicit endpoint_url;
    `AWS_ENDPOINT_URL` sends every other service (S3 for the data) to the
    emulator; `AWS_DATA_PATH` adds the preview operations (shipped models).
    `keys` (access key id, secret) are the deployment's root principal's: the API
    verifies every signature (chalicelib/auth); the emulator takes any keys for S3."""
    env = {"PERSONALIZE_ENDPOINT": personalize_endpoint}
    for service in ("PERSONALIZE", "PERSONALIZE_RUNTIME", "PERSONALIZE_EVENTS"):
        env[f"AWS_ENDPOINT_URL_{service}"] = personalize_endpoint
    if endpoint_url:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    env["AWS_REGION"] = region
    env["AWS_DEFAULT_REGION"] = region
    if keys:
        env.update({"AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1]})
    elif credentials:
        env.update(TEST_KEYS)
    env["AWS_DATA_PATH"] = models
    return env


def console_url(personalize_endpoint):
    """The web console the stack serves itself (chalicelib/console, GET /console/)."""
    return personalize_endpoint.rstrip("/") + "/console/"


def write_env(path, env, extra=None):
    """Write the environment file, readable by its owner only (it holds a secret key)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)  # also when it existed with a wider mode
    with os.fdopen(fd, "w") as f:
        f.write("# written by `python -m scripts.stack`; use with: source " +
                os.path.relpath(path, ROOT) + "\n")
        for k, v in {**env, **(extra or {})}.items():
            f.write(f"export {k}={v}\n")


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            if line.startswith("export ") and "=" in line:
                k, v = line[len("export "):].rstrip("\n").split("=", 1)
                env[k] = v
    return env


def _stack_complete(endpoint_url, region, stack_name):
    cfn = deploy.session(endpoint_url, region)("cloudformation")
    try:
        status = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"]
    except (ClientError, BotoCoreError):
        return False
    return status in deploy.DONE


def deploy_to_emulator(emu, stack_name=STACK_NAME, region="us-east-1", force=False,
                       record_path=None, progress=print, build_dir=package.BUILD,
                       root=ROOT, body_limit=deploy.TEMPLATE_BODY_LIMIT, parameters=None):
    """Deploy (or, when nothing changed, reuse) the stack on a running ministack.
    `parameters`: template parameters beyond TrainingBackend (e.g. TrainerTimeBudgetSeconds).

    The decision rests on `package.source_digest`: the same inputs on the same
    emulator mean the same stack, so a second `make up` does no work."""
    digest = package.source_digest("ministack", root)
    parameters = dict(parameters or {}, TrainingBackend="lambda")
    record = {}
    if record_path and os.path.exists(record_path):
        with open(record_path) as f:
            record = json.load(f)
    same = (record.get("digest") == digest and record.get("port") == emu.port
            and record.get("stack_name") == stack_name
            and record.get("parameters", {"TrainingBackend": "lambda"}) == parameters)
    if same and not force and _stack_complete(emu.endpoint, region, stack_name):
        progress(f"stack {stack_name} is up to date (inputs unchanged); not redeploying")
        return record, False
    t0 = time.monotonic()
    pkg = package.build("ministack", root=root, build_dir=build_dir, region=region)
    if pkg.skipped_workflows:
        progress("not deployed (no infrastructure/statemachines/<name>.asl.json yet): "
                 + ", ".join(pkg.skipped_workflows))
    dep = deploy.deploy(pkg, stack_name=stack_name, endpoint_url=emu.endpoint, region=region,
                        parameters=parameters, progress=progress, body_limit=body_limit)
    record = {"digest": digest, "port": emu.port, "stack_name": stack_name, "region": region,
              "outputs": dep.outputs, "personalize_endpoint": dep.personalize_endpoint,
              "skipped_workflows": pkg.skipped_workflows, "parameters": parameters,
              "deploy_seconds": round(time.monotonic() - t0, 1)}
    if record_path:
        with open(record_path, "w") as f:
            json.dump(record, f, indent=1)
    progress(f"deployed in {record['deploy_seconds']}s")
    return record, True


def start_maintenance(endpoint, region, stack_name=STACK_NAME, progress=print):
    """Start the stack's maintenance workflow once (issue 16): the reconciler moves what a
    stopped stack left in flight to a final state, then the garbage collector runs. Returns
    the execution ARN, or None (reported, not raised: the stack is up either way)."""
    try:
        sfn = deploy.session(endpoint)("stepfunctions") if endpoint else \
            boto3.client("stepfunctions", region_name=region)
        name = f"{stack_name}-maintenance"
        machines = [m["stateMachineArn"] for page in sfn.get_paginator("list_state_machines").paginate()
                    for m in page["stateMachines"] if m["name"] == name]
        if not machines:
            progress(f"no state machine {name}: nothing reconciled")
            return None
        arn = sfn.start_execution(stateMachineArn=machines[0], input="{}")["executionArn"]
    except (ClientError, BotoCoreError) as e:
        progress(f"could not start the maintenance workflow: {e}")
        return None
    progress(f"maintenance workflow started (reconciler, garbage collector): {arn}")
    return arn


def deploy_parameters(environ=os.environ):
    """Template parameters taken from the caller's environment at deploy time:
    `TRAINER_TIME_BUDGET_SECONDS` -> TrainerTimeBudgetSeconds (the trainer's per-invocation
    budget before it checkpoints; the template's default, 780, when unset)."""
    budget = environ.get("TRAINER_TIME_BUDGET_SECONDS")
    return {"TrainerTimeBudgetSeconds": budget} if budget else {}


def up(port=None, persist=True, force=False, region="us-east-1", progress=print):
    """Start or reuse the emulator, deploy if needed, write .local/stack.env."""
    os.makedirs(LOCAL, exist_ok=True)
    emu = emulator.running(EMULATOR_HOME)
    if emu is None:
        port = port or int(os.environ.get("MINISTACK_PORT") or DEFAULT_PORT)
        progress(f"starting ministack on 127.0.0.1:{port} (state in "
                 f"{os.path.relpath(EMULATOR_HOME, ROOT)}/)")
        emu = emulator.start(EMULATOR_HOME, port=port, region=region, persist=persist)
    else:
        progress(f"ministack already running (PID {emu.pid}, port {emu.port})")
    record, _ = deploy_to_emulator(emu, region=region, force=force,
                                   record_path=os.path.join(LOCAL, "stack.json"),
                                   progress=progress, parameters=deploy_parameters())
    env_path = os.path.join(LOCAL, "stack.env")
    known = read_env(env_path) if os.path.exists(env_path) else {}
    root = access.ensure_root(record["outputs"], emu.endpoint, region,
                              (known.get("AWS_ACCESS_KEY_ID"), known.get("AWS_SECRET_ACCESS_KEY")))
    env = client_environment(record["personalize_endpoint"], emu.endpoint, region, keys=root)
    write_env(env_path, env,
              {"PERSONALIZE_DATA_BUCKET": record["outputs"].get("DataBucketName", ""),
               "PERSONALIZE_CONSOLE_URL": console_url(record["personalize_endpoint"])})
    start_maintenance(emu.endpoint, region, record.get("stack_name") or STACK_NAME, progress)
    return env


def down(progress=print):
    pid = emulator.stop(EMULATOR_HOME)
    progress(f"stopped ministack (PID {pid}); state kept in "
             f"{os.path.relpath(EMULATOR_HOME, ROOT)}/" if pid else "ministack was not running")
    return pid


def deploy_remote(target, stack_name=STACK_NAME, region=None, training_backend=None,
                  training_image=None, progress=print):
    """`make deploy TARGET=localstack|aws`: the same package and template."""
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") \
        or "us-east-1"
    if target == "localstack":
        endpoint = os.environ.get("LOCALSTACK_ENDPOINT", "http://localhost:4566")
        try:
            import urllib.request
            urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=3).close()
        except OSError as e:
            raise SystemExit(f"LocalStack is not reachable at {endpoint} ({e}). Start it with "
                             "`localstack start -d` (needs Docker) or set LOCALSTACK_ENDPOINT.")
        backend = training_backend or "lambda"
    elif target == "aws":
        endpoint = None
        try:
            who = boto3.client("sts", region_name=region).get_caller_identity()
        except (ClientError, BotoCoreError) as e:
            raise SystemExit(f"no usable AWS credentials ({e}); configure them as for the AWS CLI")
        progress(f"deploying to AWS account {who['Account']} in {region}")
        backend = training_backend or ("sagemaker" if training_image else "lambda")
    else:
        raise SystemExit(f"unknown TARGET {target!r}: localstack or aws")
    params = dict(deploy_parameters(), TrainingBackend=backend)
    if training_image:
        params["TrainingImage"] = training_image
    pkg = package.build(target, region=region)
    if pkg.skipped_workflows:
        progress("not deployed (no ASL file yet): " + ", ".join(pkg.skipped_workflows))
    dep = deploy.deploy(pkg, stack_name=stack_name, endpoint_url=endpoint, region=region,
                        parameters=params, progress=progress)
    path = os.path.join(LOCAL, f"stack-{target}.env")
    known = read_env(path) if os.path.exists(path) else {}
    root = access.ensure_root(dep.outputs, endpoint, region,
                              (known.get("PERSONALIZE_ACCESS_KEY_ID"),
                               known.get("PERSONALIZE_SECRET_ACCESS_KEY")))
    # On AWS the root keys open only this API: AWS_* stay the caller's own (for S3);
    # on LocalStack they work for every service, as on ministack.
    env = client_environment(dep.personalize_endpoint, endpoint, region,
                             keys=root if target == "localstack" else None, credentials=False)
    extra = {"PERSONALIZE_DATA_BUCKET": dep.outputs.get("DataBucketName", ""),
             "PERSONALIZE_ACCESS_KEY_ID": root[0], "PERSONALIZE_SECRET_ACCESS_KEY": root[1],
             "PERSONALIZE_CONSOLE_URL": console_url(dep.personalize_endpoint)}
    write_env(path, env, extra)
    progress(f"deployed in {dep.seconds:.1f}s; environment in {os.path.relpath(path, ROOT)}")
    start_maintenance(endpoint, region, stack_name, progress)
    return env


def show_logs(limit=20, out=print):
    """The latest lines each of the stack's Lambdas wrote (CloudWatch Logs of the emulator)."""
    emu = emulator.running(EMULATOR_HOME)
    if emu is None:
        raise SystemExit("ministack is not running; `make up` first")
    logs = deploy.session(emu.endpoint)("logs")
    for group in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]:
        name = group["logGroupName"]
        events = logs.filter_log_events(logGroupName=name)["events"]
        out(f"== {name}")
        for event in events[-limit:]:
            out("  " + event["message"].rstrip())


SNIPPET = """\
Ready. In a shell:  source .local/stack.env
Then, from Python:

    import boto3
    personalize = boto3.client("personalize")                 # endpoint from AWS_ENDPOINT_URL_PERSONALIZE
    runtime = boto3.client("personalize-runtime")
    print(personalize.list_recipes()["recipes"])              # preview operation: AWS_DATA_PATH=build/models

or without the environment file:

    personalize = boto3.client("personalize", endpoint_url="{endpoint}",
                               region_name="{region}", aws_access_key_id="{key}",
                               aws_secret_access_key="<AWS_SECRET_ACCESS_KEY in .local/stack.env>")

Keys and policies: python -m scripts.access --help (README, "Security").

Web console: {console}
  (sign in with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of .local/stack.env; README, "Console")
"""


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m scripts.stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start ministack, deploy the stack, write .local/stack.env")
    p_up.add_argument("--port", type=int, help=f"default $MINISTACK_PORT or {DEFAULT_PORT}")
    p_up.add_argument("--force", action="store_true", help="redeploy even if nothing changed")
    p_up.add_argument("--no-persist", action="store_true", help="keep no state across restarts")
    p_up.add_argument("--quiet", action="store_true", help="no snippet")
    sub.add_parser("down", help="stop the ministack started by `up`")
    sub.add_parser("env", help="print .local/stack.env")
    p_logs = sub.add_parser("logs", help="latest log lines of the stack's Lambdas")
    p_logs.add_argument("-n", type=int, default=20)
    p_dep = sub.add_parser("deploy", help="deploy to LocalStack or AWS")
    p_dep.add_argument("--target", required=True, choices=["localstack", "aws"])
    p_dep.add_argument("--stack-name", default=STACK_NAME)
    p_dep.add_argument("--region")
    p_dep.add_argument("--training-backend", choices=["lambda", "sagemaker"])
    p_dep.add_argument("--training-image", default=os.environ.get("TRAINING_IMAGE"))
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            env = up(port=args.port, persist=not args.no_persist, force=args.force)
            if not args.quiet:
                print(SNIPPET.format(endpoint=env["PERSONALIZE_ENDPOINT"],
                                     region=env["AWS_REGION"], key=env["AWS_ACCESS_KEY_ID"],
                                     console=console_url(env["PERSONALIZE_ENDPOINT"])))
        elif args.command == "down":
            down()
        elif args.command == "env":
            with open(os.path.join(LOCAL, "stack.env")) as f:
                print(f.read(), end="")
        elif args.command == "logs":
            show_logs(args.n)
        elif args.command == "deploy":
            deploy_remote(args.target, args.stack_name, args.region, args.training_backend,
                          args.training_image)
    except (emulator.EmulatorError, package.PackageError, deploy.DeployError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
