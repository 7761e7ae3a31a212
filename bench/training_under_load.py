"""A training through the deployed workflow on the embedded emulator, on a loaded machine
(issue 16, "Done when": no 15-minute wall).

    .venv/bin/python bench/training_under_load.py [--data ratings.csv | --synthetic 10]
        [--recipe aws-hrnn] [--hpo-jobs 4 --hpo-parallel 2] [--budget 780] [--load 8]
        [--timeout 10800] [--json out.json] [--source /tmp/worktree]

It starts its own ministack on a free port of 127.0.0.1 (state in a temporary folder), deploys
the stack as `make up` does (scripts/stack.py), with the trainer's per-invocation time budget
as the template parameter TrainerTimeBudgetSeconds (`--budget`; the deployed default is 780 s),
starts `--load` busy-loop processes (un-niced; stopped by PID at the end, also after a
failure), imports the ratings (Getting Started's shape: USER_ID,ITEM_ID,TIMESTAMP) through the
import workflow, creates a solution (performHPO with `--hpo-jobs` > 1) and one version, and
polls DescribeSolutionVersion until it ends. `os.getloadavg()` is sampled all along.

`--synthetic K` trains on a seeded dataset K times the size of ml-latest-small instead
(`synthetic_ratings`: K times the users, each with the activity of a real user drawn at random,
items drawn from the real item popularity spread over K times the items), generated under
/tmp, never in the repository.

The table: status and failureReason, wall time, the trainer invocations the training
execution made (Step Functions history: `RunTrial` per HPO trial, `TrainOnLambda` per fit
invocation; continuations = fit invocations - 1), the last trainingProgress seen, the load
averages, the held-out NDCG@10. Too slow for the test suite: a bench.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

RATINGS = os.path.join(os.path.dirname(ROOT), "shared", "datasets", "ml-latest-small", "ratings.csv")
REGION = "us-east-1"
BUSY = "while True: pass"


def synthetic_ratings(path, scale, seed=0):
    """Getting Started CSV bytes with `scale` times ml-latest-small's users and items: each user
    takes the interaction count of a real user drawn at random; the items' popularity is the real
    items' counts, each real item repeated `scale` times with a +-50% jitter (the same skew over
    more items); a user's items are distinct, time-ordered, within the real time range."""
    import numpy as np
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    users, items, stamps = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 3].astype(np.int64)
    rng = np.random.default_rng(seed)
    per_user = np.bincount(np.unique(users, return_inverse=True)[1])
    per_item = np.bincount(np.unique(items, return_inverse=True)[1]).astype(np.float64)
    weights = np.repeat(per_item, scale) * rng.uniform(0.5, 1.5, per_item.size * scale)
    weights /= weights.sum()
    n_items = weights.size
    counts = rng.choice(per_user, size=per_user.size * scale, replace=True)
    lo, hi = int(stamps.min()), int(stamps.max())
    out = io.StringIO()
    out.write("USER_ID,ITEM_ID,TIMESTAMP\r\n")
    for user, n in enumerate(counts, start=1):
        n = int(min(n, n_items))
        chosen = rng.choice(n_items, size=n, replace=False, p=weights)
        start = int(rng.integers(lo, hi))
        times = np.sort(start + rng.integers(0, max(1, (hi - start) // 4 + 1), size=n))
        for item, t in zip(chosen, times):
            out.write(f"{user},{item + 1},{t}\r\n")
    return out.getvalue().encode()


def shape(body):
    rows = csv.reader(io.StringIO(body.decode()))
    next(rows)
    users, items, n = set(), set(), 0
    for row in rows:
        if row:
            users.add(row[0]); items.add(row[1]); n += 1
    return n, len(users), len(items)


class Load:
    """`n` busy-loop processes and a sampler of the 1-minute load average."""

    def __init__(self, n, every=10.0):
        self.procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(n)]
        self.samples, self.every, self.done = [], every, threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self):
        while not self.done.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def stop(self):
        self.done.set()
        for p in self.procs:      # by PID, the ones started here
            p.kill()
            p.wait()
        return [p.pid for p in self.procs]


class Stack:
    """What tests/e2e/flows.py needs of a deployed stack: its outputs and clients."""

    def __init__(self, emu, record, keys, models):
        self.emulator, self.outputs, self.keys, self.models = emu, record["outputs"], keys, models
        self.personalize_endpoint = record["personalize_endpoint"]

    def client(self, service):
        import boto3
        import botocore.session
        session = botocore.session.Session()
        session.set_config_variable("data_path", self.models)
        personalize = service.startswith("personalize")
        keys = self.keys if personalize else ("test", "test")
        from botocore.config import Config
        return boto3.session.Session(botocore_session=session).client(
            service, endpoint_url=self.personalize_endpoint if personalize else self.emulator.endpoint,
            region_name=REGION, aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
            config=Config(read_timeout=300, retries={"max_attempts": 8}))


def trainer_invocations(stack, stack_name):
    """{state name: times entered, "trainer": trainer Lambda tasks scheduled} over the training
    executions' histories (ministack records a Map iteration's TaskScheduled events, not its
    states: trial invocations = trainer tasks - TrainOnLambda entries)."""
    sfn = stack.client("stepfunctions")
    machine = f"arn:aws:states:{REGION}:000000000000:stateMachine:{stack_name}-training"
    trainer = stack.outputs["TrainerFunctionArn"]
    counts = {"trainer": 0}
    for execution in sfn.list_executions(stateMachineArn=machine)["executions"]:
        token = None
        while True:
            page = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000,
                                             **({"nextToken": token} if token else {}))
            for event in page["events"]:
                scheduled = event.get("taskScheduledEventDetails") or {}
                if scheduled.get("resource") == trainer:
                    counts["trainer"] += 1
                details = event.get("stateEnteredEventDetails")
                if details:
                    counts[details["name"]] = counts.get(details["name"], 0) + 1
            token = page.get("nextToken")
            if not token:
                break
    return counts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=RATINGS)
    ap.add_argument("--synthetic", type=int, default=0, help="K: a seeded dataset K times ml-latest-small")
    ap.add_argument("--recipe", default="aws-hrnn")
    ap.add_argument("--hpo-jobs", type=int, default=4, help="maxNumberOfTrainingJobs (HPO when > 1)")
    ap.add_argument("--hpo-parallel", type=int, default=2, help="maxParallelTrainingJobs")
    ap.add_argument("--budget", type=float, default=780, help="TrainerTimeBudgetSeconds")
    ap.add_argument("--load", type=int, default=8, help="busy-loop processes during the training")
    ap.add_argument("--timeout", type=float, default=4 * 3600)
    ap.add_argument("--json", help="write the figures here too")
    ap.add_argument("--source", default=ROOT, help="the tree to deploy (e.g. a clean worktree of a commit)")
    args = ap.parse_args(argv)

    from scripts import access, emulator, package, stack as stack_cli
    from tests.e2e import flows

    t0 = time.monotonic()
    if args.synthetic:
        body, label = synthetic_ratings(args.data, args.synthetic), f"synthetic x{args.synthetic}"
    else:
        from chalicelib.datasets.movielens import getting_started_csv
        body, label = getting_started_csv(args.data), os.path.basename(os.path.dirname(args.data))
    n, n_users, n_items = shape(body)
    print(f"{label}: {n} interactions, {n_users} users, {n_items} items "
          f"({time.monotonic() - t0:.0f}s to prepare)", flush=True)

    home = tempfile.mkdtemp(prefix="bench-load-")
    stack_name = "personalize-bench"
    models = os.path.join(ROOT, "build", "models")
    if not os.path.isdir(os.path.join(models, "personalize")):
        subprocess.run([sys.executable, "-m", "chalicelib.protocol.models", "--out", models], cwd=ROOT, check=True)
    emu = emulator.start(home, region=REGION, persist=False)
    load, figures = None, {}
    try:
        source = package.snapshot(os.path.join(home, "source"), root=args.source)
        record, _ = stack_cli.deploy_to_emulator(
            emu, stack_name=stack_name, region=REGION, record_path=os.path.join(home, "stack.json"),
            build_dir=os.path.join(home, "build"), root=source, progress=lambda m: None,
            parameters={"TrainerTimeBudgetSeconds": args.budget})
        keys = access.ensure_root(record["outputs"], emu.endpoint, REGION)
        stack = Stack(emu, record, keys, models)
        personalize = stack.client("personalize")
        print(f"deployed on port {emu.port} (trainer budget {args.budget:.0f}s)", flush=True)

        t_import = time.monotonic()
        group, _ = flows.import_interactions(stack, personalize, body, prefix="bench", timeout=args.timeout)
        import_seconds = time.monotonic() - t_import
        print(f"imported in {import_seconds:.0f}s", flush=True)

        load = Load(args.load) if args.load else None
        spec = {"recipeArn": flows.RECIPE + args.recipe}
        if args.hpo_jobs > 1:
            spec["performHPO"] = True
            spec["solutionConfig"] = {"hpoConfig": {"hpoResourceConfig": {
                "maxNumberOfTrainingJobs": str(args.hpo_jobs),
                "maxParallelTrainingJobs": str(args.hpo_parallel)}}}
        solution = personalize.create_solution(name=flows.name("bench-solution"), datasetGroupArn=group,
                                               **spec)["solutionArn"]
        t_train = time.monotonic()
        version_arn = personalize.create_solution_version(solutionArn=solution)["solutionVersionArn"]
        last, progress_seen = {}, []
        while time.monotonic() - t_train < args.timeout:
            last = personalize.describe_solution_version(solutionVersionArn=version_arn)["solutionVersion"]
            progress = last.get("trainingProgress")
            if progress and (not progress_seen or progress != progress_seen[-1]):
                progress_seen.append(progress)
                print(f"{time.monotonic() - t_train:7.0f}s  {json.dumps(progress, default=str)}", flush=True)
            if last["status"] == "ACTIVE" or "FAILED" in last["status"]:
                break
            time.sleep(10)
        train_seconds = time.monotonic() - t_train
        loads = load.samples if load else [os.getloadavg()[0]]
        if load:
            print("stopped load processes " + " ".join(map(str, load.stop())), flush=True)
            load = None
        counts = trainer_invocations(stack, stack_name)
        metrics = {}
        if last["status"] == "ACTIVE":
            metrics = personalize.get_solution_metrics(solutionVersionArn=version_arn)["metrics"]
        figures = {
            "dataset": label, "interactions": n, "users": n_users, "items": n_items,
            "recipe": args.recipe, "hpo": args.hpo_jobs > 1, "hpoJobs": args.hpo_jobs if args.hpo_jobs > 1 else 0,
            "budgetSeconds": args.budget, "loadProcesses": args.load,
            "load1Median": round(statistics.median(loads), 2), "load1Min": round(min(loads), 2),
            "load1Max": round(max(loads), 2), "loadSamples": len(loads),
            "status": last.get("status"), "failureReason": last.get("failureReason"),
            "importSeconds": round(import_seconds), "trainSeconds": round(train_seconds),
            "trialInvocations": counts["trainer"] - counts.get("TrainOnLambda", 0),
            "fitInvocations": counts.get("TrainOnLambda", 0),
            "continuations": max(0, counts.get("TrainOnLambda", 0) - 1),
            "trainingHours": last.get("trainingHours"),
            "lastProgress": progress_seen[-1] if progress_seen else None,
            "ndcg10": metrics.get("normalized_discounted_cumulative_gain_at_10"),
            "tunedHPOParams": (last.get("tunedHPOParams") or {}).get("algorithmHyperParameters"),
        }
    finally:
        if load:
            load.stop()
        emulator.stop(home)
    rows = [(k, figures[k]) for k in ("dataset", "interactions", "users", "items", "recipe", "hpo", "hpoJobs",
                                       "budgetSeconds", "loadProcesses", "load1Median", "load1Min", "load1Max",
                                       "loadSamples", "status", "failureReason", "importSeconds", "trainSeconds",
                                       "trialInvocations", "fitInvocations", "continuations", "trainingHours",
                                       "ndcg10")]
    width = max(len(k) for k, _ in rows)
    print()
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(f"{'lastProgress':<{width}}  {json.dumps(figures['lastProgress'], default=str)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1, default=str)
    return 0 if figures.get("status") == "ACTIVE" else 1


if __name__ == "__main__":
    sys.exit(main())
