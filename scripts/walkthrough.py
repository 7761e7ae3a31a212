"""The seed's "Getting Started" on the deployed stack, with stock boto3 clients.

    python -m scripts.walkthrough [--data ratings.csv] [--recipe aws-hrnn] [--no-serve]

Steps as in "Getting Started (AWS CLI)": create a dataset group, a schema and
an Interactions dataset; import the data from S3 (a dataset import job and
its run); create a solution (training) and read its metrics; create a
campaign; get recommendations. Names are fixed, so a second run reuses what
the first created (`--fresh` uses new names).

Data: `--data` takes MovieLens `ratings.csv` (userId,movieId,rating,timestamp;
the rating column is dropped and the header renamed as the seed's "Create the
Training Data" says) or any CSV with USER_ID, ITEM_ID and TIMESTAMP columns;
without it, `chalicelib.datasets.sample.generate` writes a seeded sample.

A step whose operation this deployment does not serve yet (the service
answers OperationNotServedException, or the client's models lack it) is
reported and the steps that depend on it are skipped.
"""
import argparse
import csv
import json
import os
import signal
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, ".local", "walkthrough")
TERMINAL_OK = ("ACTIVE",)


class NotServed(Exception):
    """The deployment (or the client's service model) lacks an operation."""


class StepFailed(Exception):
    pass


def load_env(path):
    """Export the variables of `.local/stack.env` into this process."""
    with open(path) as f:
        for line in f:
            if line.startswith("export ") and "=" in line:
                k, v = line[len("export "):].rstrip("\n").split("=", 1)
                os.environ[k] = v


def call(client, operation, **kwargs):
    """Call `operation` (snake_case) with the members its input shape has."""
    from botocore.exceptions import ClientError
    op_name = client.meta.method_to_api_mapping.get(operation)
    if op_name is None:
        raise NotServed(f"{operation}: the client's service model has no such operation "
                        f"(set AWS_DATA_PATH=build/models for the preview operations)")
    shape = client.meta.service_model.operation_model(op_name).input_shape
    members = shape.members if shape is not None else {}
    accepted = {k: v for k, v in kwargs.items() if k in members and v is not None}
    try:
        return getattr(client, operation)(**accepted)
    except ClientError as e:
        if e.response["Error"]["Code"] in ("OperationNotServedException",
                                           "UnknownOperationException"):
            raise NotServed(f"{op_name} is not served by this deployment yet") from None
        raise


def ensure(client, create, kwargs, lister, list_kwargs, key, name_field, arn_field, name):
    """Create a named resource or, when it exists already, find its ARN."""
    from botocore.exceptions import ClientError
    try:
        return call(client, create, **kwargs)[arn_field], True
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
    for page in client.get_paginator(lister).paginate(**list_kwargs):
        for item in page[key]:
            if item.get(name_field) == name:
                return item[arn_field], False
    raise StepFailed(f"{name} exists but is not listed by {lister}")


def wait_for(describe, label, timeout=3600, interval=2.0):
    """Poll `describe()` -> (status, detail) until ACTIVE or failed; show progress."""
    t0 = time.monotonic()
    last, last_print = None, 0.0
    while True:
        status, detail = describe()
        now = time.monotonic() - t0
        if status != last or now - last_print >= 15:
            print(f"    {label}: {status or '...'} ({now:.0f}s)", flush=True)
            last, last_print = status, now
        if status in TERMINAL_OK:
            return
        if status and "FAILED" in status:
            raise StepFailed(f"{label} {status}: {detail or 'no reason given'}")
        if now > timeout:
            raise StepFailed(f"{label} still {status} after {timeout}s")
        time.sleep(interval)


def prepare_data(data, out_dir):
    """(interactions CSV path, Avro schema dict, name prefix) for the walkthrough."""
    os.makedirs(out_dir, exist_ok=True)
    if data is None:
        try:
            from chalicelib.datasets import sample
        except ImportError:
            raise StepFailed("no --data given and chalicelib.datasets.sample is not available")
        paths = sample.generate(os.path.join(out_dir, "sample"), seed=0)
        with open(paths["interactions.schema"]) as f:
            return paths["interactions"], json.load(f), "Sample"
    out = os.path.join(out_dir, "ratings.csv")
    with open(data, newline="", encoding="utf-8-sig") as src:
        reader = csv.reader(src)
        header = [h.strip() for h in next(reader)]
        lower = [h.lower() for h in header]
        if lower[:3] == ["userid", "movieid", "rating"]:
            # Seed "Create the Training Data": drop rating, rename the header.
            keep = [0, 1, lower.index("timestamp")]
            names = ["USER_ID", "ITEM_ID", "TIMESTAMP"]
        else:
            upper = [h.upper() for h in header]
            missing = {"USER_ID", "ITEM_ID", "TIMESTAMP"} - set(upper)
            if missing:
                raise StepFailed(f"{data}: expected MovieLens ratings.csv or columns "
                                 f"USER_ID, ITEM_ID, TIMESTAMP (missing {sorted(missing)})")
            keep = list(range(len(header)))
            names = upper
        with open(out, "w", newline="") as dst:
            writer = csv.writer(dst, lineterminator="\n")
            writer.writerow(names)
            for row in reader:
                if row:
                    writer.writerow([row[i] for i in keep])
    types = {"TIMESTAMP": "long", "EVENT_VALUE": "float"}
    schema = {"type": "record", "name": "Interactions",
              "namespace": "com.amazonaws.personalize.schema",
              "fields": [{"name": n, "type": types.get(n, "string")} for n in names],
              "version": "1.0"}
    return out, schema, "MovieRating"


def upload(path, key):
    """Put the data in the stack's bucket; returns the s3:// location."""
    import boto3
    bucket = os.environ.get("PERSONALIZE_DATA_BUCKET")
    if not bucket:
        raise StepFailed("PERSONALIZE_DATA_BUCKET is not set (source .local/stack.env)")
    boto3.client("s3").upload_file(path, bucket, key)
    return f"s3://{bucket}/{key}"


def service_role():
    """The role the seed's "Creating an IAM Role" asks for (trusting Personalize)."""
    import boto3
    iam = boto3.client("iam")
    name = "PersonalizeGettingStarted"
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "personalize.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}
    try:
        return iam.create_role(RoleName=name,
                               AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    except iam.exceptions.EntityAlreadyExistsException:
        return iam.get_role(RoleName=name)["Role"]["Arn"]


def run(data=None, recipe="aws-hrnn", user_id=None, timeout=3600, suffix="", work_dir=WORK,
        outcomes=None):
    """Run the Getting Started steps. `outcomes` (returned) receives a [title,
    "started" | "done"] pair per step, also when a step stops the walk by raising."""
    import boto3
    personalize = boto3.client("personalize")
    runtime = boto3.client("personalize-runtime")
    outcomes = [] if outcomes is None else outcomes

    def step(title):
        print(f"\n== {title}", flush=True)
        outcomes.append([title, "started"])

    csv_path, schema, prefix = prepare_data(data, work_dir)
    prefix += suffix

    step("Step 1: create a dataset group")
    group_name = f"{prefix}DatasetGroup"
    group_arn, created = ensure(personalize, "create_dataset_group", {"name": group_name},
                                "list_dataset_groups", {}, "datasetGroups", "name",
                                "datasetGroupArn", group_name)
    print(f"    {'created' if created else 'reusing'} {group_arn}")
    wait_for(lambda: _status(call(personalize, "describe_dataset_group",
                                  datasetGroupArn=group_arn)["datasetGroup"]),
             "dataset group", timeout)
    outcomes[-1][1] = "done"

    step("Step 1: create a schema and an Interactions dataset")
    schema_name = f"{prefix}Schema"
    schema_arn, _ = ensure(personalize, "create_schema",
                           {"name": schema_name, "schema": json.dumps(schema)},
                           "list_schemas", {}, "schemas", "name", "schemaArn", schema_name)
    print(f"    schema {schema_arn}")
    dataset_name = f"{prefix}Interactions"
    dataset_arn, _ = ensure(personalize, "create_dataset",
                            {"name": dataset_name, "datasetGroupArn": group_arn,
                             "datasetType": "Interactions", "schemaArn": schema_arn},
                            "list_datasets", {"datasetGroupArn": group_arn}, "datasets",
                            "name", "datasetArn", dataset_name)
    print(f"    dataset {dataset_arn}")
    wait_for(lambda: _status(call(personalize, "describe_dataset",
                                  datasetArn=dataset_arn)["dataset"]),
             "dataset", timeout)
    outcomes[-1][1] = "done"

    step("Step 1: import the training data (dataset import job)")
    location = upload(csv_path, f"getting-started/{os.path.basename(csv_path)}")
    print(f"    uploaded {csv_path} to {location}")
    job_name = f"{prefix}ImportJob"
    job_arn, created = ensure(personalize, "create_dataset_import_job",
                              {"jobName": job_name, "datasetArn": dataset_arn,
                               "dataSource": {"dataLocation": location},
                               "roleArn": service_role()},
                              "list_dataset_import_jobs", {"datasetArn": dataset_arn},
                              "datasetImportJobs", "jobName", "datasetImportJobArn", job_name)
    print(f"    {'created' if created else 'reusing'} {job_arn}")

    def import_status():
        job = call(personalize, "describe_dataset_import_job", datasetImportJobArn=job_arn)[
            "datasetImportJob"]
        run_ = job.get("latestDatasetImportJobRun")
        if run_ and job.get("status") == "ACTIVE":
            return run_.get("status"), run_.get("failureReason")
        return job.get("status"), job.get("failureReason")
    wait_for(import_status, "import", timeout)
    outcomes[-1][1] = "done"

    step(f"Step 2: create a solution (train {recipe})")
    recipe_arn = recipe if recipe.startswith("arn:") else f"arn:aws:personalize:::recipe/{recipe}"
    # One solution (and campaign) per recipe, so trying another recipe starts afresh.
    recipe_name = recipe_arn.rsplit("/", 1)[-1]
    solution_name = f"{prefix}Solution-{recipe_name}"
    solution_arn, created = ensure(personalize, "create_solution",
                                   {"name": solution_name, "datasetGroupArn": group_arn,
                                    "recipeArn": recipe_arn, "minProvisionedTPS": 1},
                                   "list_solutions", {"datasetGroupArn": group_arn},
                                   "solutions", "name", "solutionArn", solution_name)
    print(f"    {'created' if created else 'reusing'} {solution_arn}")
    version = {}

    def solution_status():
        sol = call(personalize, "describe_solution", solutionArn=solution_arn)["solution"]
        latest = sol.get("latestSolutionVersion")
        if latest:
            version.update(latest)
            return latest.get("status"), latest.get("failureReason")
        return sol.get("status"), sol.get("failureReason")
    wait_for(solution_status, "training", timeout)
    if not version:  # today's API: training is a separate call
        version["solutionVersionArn"] = call(personalize, "create_solution_version",
                                             solutionArn=solution_arn)["solutionVersionArn"]
        wait_for(lambda: _status(call(personalize, "describe_solution_version",
                                      solutionVersionArn=version["solutionVersionArn"])[
                                          "solutionVersion"]),
            "training", timeout)
    outcomes[-1][1] = "done"

    step("Step 2: solution metrics (GetMetrics)")
    try:
        metrics = call(personalize, "get_metrics", solutionArn=solution_arn)["metrics"]
    except NotServed:
        metrics = call(personalize, "get_solution_metrics",
                       solutionVersionArn=version["solutionVersionArn"])["metrics"]
    for model, values in sorted(metrics.items()):
        if not isinstance(values, dict):  # today's API: one flat mapping
            values, model = {model: values}, None
        if model:
            print(f"    {model}")
        for name, value in sorted(values.items()):
            print(f"      {name:45s} {value:.4f}" if isinstance(value, float) else
                  f"      {name:45s} {value}")
    outcomes[-1][1] = "done"

    step("Step 3: create a campaign")
    campaign_name = f"{prefix}Campaign-{recipe_name}"
    campaign_arn, created = ensure(personalize, "create_campaign",
                                   {"name": campaign_name, "solutionArn": solution_arn,
                                    "solutionVersionArn": version["solutionVersionArn"],
                                    "updateMode": "AUTO", "minProvisionedTPS": 1},
                                   "list_campaigns", {"solutionArn": solution_arn},
                                   "campaigns", "name", "campaignArn", campaign_name)
    print(f"    {'created' if created else 'reusing'} {campaign_arn}")
    wait_for(lambda: _status(call(personalize, "describe_campaign",
                                  campaignArn=campaign_arn)["campaign"]),
             "campaign", timeout)
    outcomes[-1][1] = "done"

    step("Step 4: get recommendations")
    user = user_id or _first_user(csv_path)
    items = call(runtime, "get_recommendations", campaignArn=campaign_arn,
                 userId=user)["itemList"]
    print(f"    user {user}: " + ", ".join(i["itemId"] for i in items[:10])
          + (" ..." if len(items) > 10 else ""))
    outcomes[-1][1] = "done"
    return outcomes


def _status(record):
    return record.get("status"), record.get("failureReason")


def _first_user(csv_path):
    with open(csv_path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        return next(reader)[header.index("USER_ID")]


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def serve_forever(stop_emulator):
    print("\nThe stack keeps serving; `source .local/stack.env` in another shell to use it. "
          "Ctrl-C to stop.", flush=True)
    if os.environ.get("PERSONALIZE_CONSOLE_URL"):
        print(f"Web console: {os.environ['PERSONALIZE_CONSOLE_URL']} (keys in .local/stack.env)",
              flush=True)
    # Ctrl-C, and `kill` too; also when started with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print()
    if stop_emulator:
        from scripts import stack
        stack.down()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m scripts.walkthrough", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("DATA") or None,
                        help="MovieLens ratings.csv or a USER_ID,ITEM_ID,TIMESTAMP CSV")
    parser.add_argument("--recipe", default=os.environ.get("RECIPE", "aws-hrnn"))
    parser.add_argument("--user-id")
    parser.add_argument("--env", default=os.path.join(ROOT, ".local", "stack.env"))
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--fresh", action="store_true",
                        help="new names for every resource instead of reusing the last run's")
    parser.add_argument("--no-serve", action="store_true", help="return after the steps")
    parser.add_argument("--stop-on-exit", action="store_true",
                        help="stop the emulator after Ctrl-C (make run)")
    args = parser.parse_args(argv)
    if not os.path.exists(args.env):
        print(f"error: {args.env} not found; run `make up` first", file=sys.stderr)
        return 1
    load_env(args.env)
    sys.path.insert(0, ROOT)
    code = 0
    try:
        run(args.data, args.recipe, args.user_id, args.timeout,
            suffix=time.strftime("%Y%m%d%H%M%S") if args.fresh else "")
        print("\nGetting Started finished: every step ran.")
    except NotServed as e:
        print(f"    skipped: {e}; the remaining steps depend on it and are skipped too.")
    except StepFailed as e:
        print(f"    failed: {e}\n    (a later run reuses what exists; --fresh or FRESH=1 "
              "starts with new names)", file=sys.stderr)
        code = 1
    if not args.no_serve:
        serve_forever(args.stop_on_exit)
    return code


if __name__ == "__main__":
    sys.exit(main())
