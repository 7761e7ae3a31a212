"""Runtime latency: GetRecommendations and PersonalizeRanking on a warm campaign, in process,
next to the bare numpy scoring call of the same model in the same run, by history length;
memory per loaded model; throughput over HTTP on a stack of its own.

    .venv/bin/python bench/runtime_latency.py [--users 100000] [--items 10000] [--requests 300]
        [--long-users 20] [--long-events 2500] [--recipes ...] [--profile]
    .venv/bin/python bench/runtime_latency.py --http-own-stack [--http-threads 4] [--requests 100]
    .venv/bin/python bench/runtime_latency.py --http-campaign ARN      (after `make up`)

Synthetic data: `--users` users with `--per-user` interactions each over `--items` items (Zipf
popularity, two taste groups), plus `--long-users` users with `--long-events` interactions each
(the 2,000+ event rows). HRNN, personalized-ranking, DeepFM and FFNN are fitted on a sample of
users (1 epoch where the recipe has an epochs hyperparameter: serving cost depends on the
catalogue and the network size, not on training quality); `aws-hrnn+blend` is HRNN with its
co-occurrence blend switched on (factorisation and neighbours, weight 1 each), as a training
that chose it serves. The runtime's per-user histories index all interactions of all users, as
a campaign's would.

Warm means: every user of a row is asked once before the timed calls (the carried user state
exists, the worker's copy of the group's recorded events is read); the first request of a long
history in a worker (the whole fold) is printed apart.

Rows per recipe, operation and history length:
- bare      `model.recommend([history], 25)` / `model.rank(history, 100 candidates)`: the
            model re-reads the whole history (no carried state; `--bare-long` calls for long
            histories);
- runtime   the loaded `ServedModel` (carried state, id mapping, popular fill), no storage;
- access    the access check alone: SigV4 verification (botocore's signer) and the policy
            decision, with the key's secret and policies cached as in a warm Lambda;
- handler   the whole request in process: SigV4 and policies, wire parse + validation, campaign
            lookup, the user's recorded events (this worker's copy), the model, serialization,
            the audit line (formatted, written to /dev/null). DynamoDB and S3 are moto in
            process: a read that happens carries moto's cost (about 1 ms);
- runtime/items, handler/items   GetRecommendations with an item-metadata filter,
            `INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)` (10 genres: the filter keeps 10% of
            the catalogue, so the model is asked for more candidates), a random genre per request;
- runtime/event, handler/event   with an event filter, `EXCLUDE ItemID WHERE
            Interactions.EVENT_TYPE IN ("purchase")` (a fifth of the interactions are purchases).
            Every filtered answer is checked to hold 25 items. The runtime rows evaluate the
            filter over the loaded Items table (no storage); the handler rows add the filter
            lookup and the Items put-records stamp read (once per request).
The targets table checks issue 15's: handler p50 <= 1 ms, p99 <= 3 ms, handler - runtime p50
<= 0.5 ms, with the p99 of wall time ("met") and of the handler thread's CPU time ("cpu"; the
load average is printed first: on a shared machine a request that waits for a core is slow in
wall time only). `--profile` prints cProfile's top functions of each handler row.

`--http-own-stack` starts ministack on a free port, deploys, imports, trains popularity and
HRNN through the workflows and compares their requests/s with `--http-threads` client threads
(issue 15: HRNN within 1.3x of popularity). `--http-campaign ARN` times stock boto3 calls over
HTTP to an already deployed campaign (read-only: GetRecommendations for `--requests` users of
`--http-users`, and GetPersonalizedRanking of the first answer reversed).

Latencies are wall milliseconds per request; "x bare" is p50 over the bare p50 of the same
row group. The runtime and handler rows are timed in turn (the runtime's k-th request, then the
handler's), so a load that comes and goes on a shared machine falls on both alike. Memory is what the loaded model holds (arrays of the model, the histories index, the
item index), and the Python heap growth while loading it (tracemalloc).
"""
import argparse
import gc
import io
import json
import os
import sys
import tarfile
import tempfile
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_SESSION_TOKEN": "bench",
       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
       "RESOURCES_TABLE": "personalize-resources", "EVENTS_TABLE": "personalize-events",
       "DATA_BUCKET": "personalize-data", "INTERNAL_BUCKET": "personalize-internal"}
RECIPES = {"aws-popularity-count": "recommend", "aws-hrnn": "recommend", "aws-hrnn+blend": "recommend",
           "aws-personalized-ranking": "rank", "aws-deepfm": "recommend", "aws-ffnn": "recommend"}
# short fits: serving cost depends on the catalogue and the network size, not on training quality
FIT_HP = {"aws-popularity-count": {}, "aws-deepfm": {"epochs": "1"}, "aws-ffnn": {}}
HRNN_FIT_HP = {"training.epochs": "1", "model.num_hidden": "64"}


def synthetic(users, items, per_user, seed=0):
    from chalicelib.algorithms.base import Interactions, TrainingData
    rng = np.random.default_rng(seed)
    n = users * per_user
    user = np.repeat(np.arange(users, dtype=np.int32), per_user)
    # Zipf-like popularity inside each user's half of the catalogue
    rank = np.minimum(rng.zipf(1.3, n) - 1, items // 2 - 1)
    item = (rank + (user % 2) * (items // 2)).astype(np.int32)
    ts = (1_500_000_000 + user.astype(np.int64) * 1000 + np.tile(np.arange(per_user), users) * 60)
    item_ids = np.array([f"item{i}" for i in range(items)])
    user_ids = np.array([f"user{u}" for u in range(users)])
    return TrainingData(Interactions(user, item, ts.astype(np.int64)), user_ids, item_ids)


def subsample(data, users):
    from chalicelib.algorithms.base import Interactions, TrainingData
    keep = data.interactions.user < users
    it = data.interactions
    return TrainingData(Interactions(it.user[keep], it.item[keep], it.timestamp[keep]),
                        data.user_ids[:users], data.item_ids)


def fit(name, data, train_users):
    from chalicelib.algorithms.registry import recipe_for
    hp = FIT_HP.get(name, HRNN_FIT_HP)
    sample = data if name == "aws-popularity-count" else subsample(data, train_users)
    t = time.perf_counter()
    model = recipe_for(name).fit(sample, hp, seed=0)
    return model, time.perf_counter() - t


def percentiles(samples):
    a = np.asarray(samples) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def timed(fn, args_list, cpu=None):
    """Wall seconds per call; with a `cpu` list, this thread's CPU seconds per call appended
    to it (a call whose wall time is far above its CPU time waited for a core)."""
    return in_turn([(fn, args_list)], cpu)[0]


def publish_model(version, model, location):
    """What the training workflow does for a trained model, for one fitted in this process:
    the model archive to S3, its key recorded, the version ACTIVE. Returns the key."""
    from chalicelib.service import solution_versions as sv
    from chalicelib.storage import objects
    sv.mark_solution_version(version, "CREATE IN_PROGRESS")
    with tempfile.TemporaryDirectory() as tmp:
        model.save(tmp)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            for f in ("model.json", "arrays.npz"):
                tar.add(os.path.join(tmp, f), arcname=f)
    key = objects.put_bytes(location, buf.getvalue())
    sv.record_training_result(version, model_key=key)
    sv.mark_solution_version(version, "ACTIVE")
    return key


def setup_campaign(name, recipe, model, data):
    """Control plane in process: group, solution, version (model archived to S3), campaign."""
    from chalicelib.protocol.models import member_default  # noqa: F401 (loads the models)
    from chalicelib.workflows import starter
    from tests.conftest import make_client
    client = make_client("personalize", threaded=True)
    real = starter.start_workflow
    starter.start_workflow = lambda wf, payload, execution_name=None: (
        "recorded" if wf == "training" else real(wf, payload, execution_name))
    schema = json.dumps({"type": "record", "name": "Interactions",
                         "namespace": "com.amazonaws.personalize.schema",
                         "fields": [{"name": "USER_ID", "type": "string"},
                                    {"name": "ITEM_ID", "type": "string"},
                                    {"name": "TIMESTAMP", "type": "long"}], "version": "1.0"})
    group = client.create_dataset_group(name=f"g-{name}")["datasetGroupArn"]
    schema_arn = client.create_schema(name=f"s-{name}", schema=schema)["schemaArn"]
    client.create_dataset(name=f"d-{name}", datasetGroupArn=group, datasetType="Interactions",
                          schemaArn=schema_arn)
    client.create_event_tracker(name=f"t-{name}", datasetGroupArn=group,
                                roleArn="arn:aws:iam::000000000000:role/bench")
    filters = setup_items_and_filters(client, group, name, data)
    solution = client.create_solution(name=f"sol-{name}", datasetGroupArn=group, performHPO=False,
                                      recipeArn=f"arn:aws:personalize:::recipe/{recipe}")["solutionArn"]
    latest = client.describe_solution(solutionArn=solution)["solution"].get("latestSolutionVersion")
    # today's CreateSolution trains nothing unless asked: start the first version explicitly
    version = latest["solutionVersionArn"] if latest else \
        client.create_solution_version(solutionArn=solution)["solutionVersionArn"]
    key = publish_model(version, model, f"s3://personalize-data/models/{name}/model.tar.gz")
    campaign = client.create_campaign(name=f"c-{name}", solutionVersionArn=version)["campaignArn"]
    status = client.describe_campaign(campaignArn=campaign)["campaign"]
    assert status["status"] == "ACTIVE", status
    return group, version, campaign, key, filters


GENRES = 10
FILTERS = {"items": "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)",
           "event": 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("purchase")'}


def setup_items_and_filters(client, group, name, data):
    """An Items dataset (GENRE g0..g9, item k in genre k mod 10) imported by the import
    workflow, and the two filters of the filtered rows: {label: filter ARN}."""
    from chalicelib.storage import objects
    schema = json.dumps({"type": "record", "name": "Items", "namespace": "com.amazonaws.personalize.schema",
                         "fields": [{"name": "ITEM_ID", "type": "string"},
                                    {"name": "GENRE", "type": "string", "categorical": True}],
                         "version": "1.0"})
    schema_arn = client.create_schema(name=f"si-{name}", schema=schema)["schemaArn"]
    dataset = client.create_dataset(name=f"di-{name}", datasetGroupArn=group, datasetType="Items",
                                    schemaArn=schema_arn)["datasetArn"]
    rows = "".join(f"{item},g{k % GENRES}\n" for k, item in enumerate(data.item_ids.tolist()))
    objects.put_bytes(f"s3://personalize-data/bench/items-{name}.csv", ("ITEM_ID,GENRE\n" + rows).encode())
    job = client.create_dataset_import_job(
        jobName=f"items-{name}", datasetArn=dataset, roleArn="arn:aws:iam::000000000000:role/bench",
        dataSource={"dataLocation": f"s3://personalize-data/bench/items-{name}.csv"})["datasetImportJobArn"]
    assert client.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]["status"] == "ACTIVE"
    return {label: client.create_filter(name=f"f-{label}-{name}", datasetGroupArn=group,
                                        filterExpression=text)["filterArn"]
            for label, text in FILTERS.items()}


def served_with_all_histories(version, key, group, data):
    """The cache entry a campaign over this data would hold (all users' histories indexed),
    with its memory."""
    from chalicelib.runtime import artifacts, histories, serving
    serving.cache().discard(version)
    gc.collect()
    tracemalloc.start()
    model = artifacts.load(key)
    index = histories.ItemIndex(model.item_ids)
    it = data.interactions
    item_idx = index.lookup(data.item_ids[it.item])
    # a fifth of the interactions are purchases, the rest clicks (what the event filter reads)
    kinds = (np.random.default_rng(2).random(item_idx.shape[0]) < 0.2).astype(np.int32)
    user_h = histories.build(data.user_ids[it.user], item_idx, it.timestamp, index.size,
                             kinds, np.array(["click", "purchase"]))
    served = serving.ServedModel(version, model, group, user_histories=user_h)
    heap = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    serving.cache().get(version, lambda: served)
    return served, heap


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--per-user", type=int, default=10)
    ap.add_argument("--train-users", type=int, default=5_000)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--recipes", default=",".join(RECIPES),
                    help="comma-separated; aws-hrnn+blend: HRNN with its co-occurrence blend on")
    ap.add_argument("--long-users", type=int, default=20,
                    help="users with --long-events interactions each (the long-history rows)")
    ap.add_argument("--long-events", type=int, default=2500)
    ap.add_argument("--bare-long", type=int, default=20,
                    help="bare calls timed for long histories (each re-reads the whole history)")
    ap.add_argument("--profile", action="store_true",
                    help="print cProfile's top functions of each handler row (cumulative time)")
    ap.add_argument("--http-campaign", help="time HTTP calls to this deployed campaign instead")
    ap.add_argument("--http-own-stack", action="store_true",
                    help="start an emulator on a free port, deploy, import, train popularity and "
                         "HRNN, and compare their requests/s over HTTP with --http-threads clients")
    ap.add_argument("--http-threads", type=int, default=4)
    ap.add_argument("--http-users", default=",".join(f"u{k}" for k in range(1, 51)))
    args = ap.parse_args(argv)
    if args.http_own_stack:
        return own_stack_rows(args)
    if args.http_campaign:
        return http_rows(args)
    os.environ.update(ENV)
    from chalicelib import observability
    # the audit and log lines are formatted as in Lambda and written to /dev/null (not into
    # the table; a pipe's reader would time itself into the handler rows)
    observability.logger.registered_handler.setStream(open(os.devnull, "w"))
    import pytest
    from moto import mock_aws
    with mock_aws(), pytest.MonkeyPatch.context() as mp:
        from tests.support import stepfunctions
        stepfunctions.install(mp)  # the deployed ASL files run in process
        import boto3
        from chalicelib.storage.tables import ensure_tables
        ensure_tables(boto3.client("dynamodb", region_name="us-east-1"))
        for bucket in ("personalize-data", "personalize-internal"):
            boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=bucket)
        from tests.support import access
        access.seed_root(mp)  # the API is closed: a root principal whose key the requests sign with
        run(args)


def with_long_users(data, count, events, items, seed=5):
    """`data` plus `count` users ("long0"...) with `events` interactions each (same Zipf
    halves), the 2,000+ event histories of the table."""
    from chalicelib.algorithms.base import Interactions, TrainingData
    if count <= 0:
        return data
    rng = np.random.default_rng(seed)
    n = count * events
    first = data.user_ids.shape[0]
    user = np.repeat(np.arange(first, first + count, dtype=np.int32), events)
    rank = np.minimum(rng.zipf(1.3, n) - 1, items // 2 - 1)
    item = (rank + (user % 2) * (items // 2)).astype(np.int32)
    ts = 1_400_000_000 + user.astype(np.int64) * 1000 + np.tile(np.arange(events), count) * 60
    it = data.interactions
    return TrainingData(Interactions(np.concatenate([it.user, user]), np.concatenate([it.item, item]),
                                     np.concatenate([it.timestamp, ts])),
                        np.concatenate([data.user_ids, [f"long{k}" for k in range(count)]]),
                        data.item_ids)


def blended(model):
    """HRNN with both co-occurrence components on (factorisation weight 1, neighbour weight 1
    when the model has item neighbours): what a training that chose the whole blend serves,
    the dearest case (a 1-epoch bench fit keeps the network alone)."""
    cf = getattr(model, "cooccurrence", None)
    if cf is not None:
        cf["weight"] = 1.0
        if cf.get("S") is not None:
            cf["knn_weight"] = 1.0
    return model


def warm(fn, args_list):
    """One untimed call per distinct argument (the user's carried state, the worker's events
    copy): what makes the timed calls the warm requests the issue's table is about."""
    for a in {repr(a): a for a in args_list}.values():
        fn(*a)


def warm_then_timed(fn, args_list):
    warm(fn, args_list)
    return timed(fn, args_list)


def in_turn(calls, cpu=None):
    """`timed` of several (fn, args_list) of one length, their k-th calls one after the other
    (a load that comes and goes slows them alike: their difference is the handler's own
    cost); `cpu` gets the last one's CPU seconds per call. Wall seconds, one list per fn."""
    out = [[] for _ in calls]
    for k in range(len(calls[0][1])):
        for samples, (fn, args_list) in zip(out, calls):
            last = samples is out[-1]
            c, t = time.thread_time(), time.perf_counter()
            fn(*args_list[k])
            samples.append(time.perf_counter() - t)
            if cpu is not None and last:
                cpu.append(time.thread_time() - c)
    return out


def run(args):
    from chalicelib.auth import gate
    from chalicelib.protocol import http
    from tests.support import access
    data = with_long_users(synthetic(args.users, args.items, args.per_user), args.long_users,
                           args.long_events, args.items)
    rng = np.random.default_rng(1)
    short = [f"user{u}" for u in rng.integers(0, args.users, args.requests)]
    long_ = [f"long{k % args.long_users}" for k in range(args.requests)] if args.long_users else []
    cohorts = {f"{args.per_user}": short}
    if long_:
        cohorts[f"{args.long_events:,}"] = long_
    print(f"# {args.users:,} users with {args.per_user} interactions, {args.long_users} users with "
          f"{args.long_events:,}; {args.items:,} items, {len(data.interactions):,} interactions; "
          f"{args.requests} requests per row (bare rows of long histories: "
          f"{args.bare_long}); numResults 25; ranking 100 candidates; warm: each user asked once "
          "before the timed calls")
    print(f"# load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} cores)")
    rows, memory, first, cpu99 = [], [], [], {}
    for name in args.recipes.split(","):
        base_name, _, variant = name.partition("+")
        model, fit_s = fit(base_name, data, args.train_users)
        if variant == "blend":
            model = blended(model)
        setup_name = name.replace("+", "-")
        group, version, campaign, key, filters = setup_campaign(setup_name, base_name, model, data)
        served, heap = served_with_all_histories(version, key, group, data)
        memory.append((name, served, heap, fit_s))
        kind = RECIPES.get(base_name, "recommend")
        ops = [("GetRecommendations", "recommend")] if kind == "recommend" else []
        if served.can_rank:
            ops.append(("PersonalizeRanking", "rank"))
        for op, what in ops:
            for cohort, users in cohorts.items():
                histories_ = [served.histories.history(u) for u in users]
                cands = [rng.choice(args.items, 100, replace=False) for _ in users]
                cand_ids = [[str(data.item_ids[i]) for i in c] for c in cands]
                bare_n = len(users) if cohort == f"{args.per_user}" else args.bare_long
                if what == "recommend":
                    bare = timed(lambda h: model.recommend([h], 25), [(h,) for h in histories_[:bare_n]])
                    t = time.perf_counter()
                    if cohort != f"{args.per_user}":   # a long history's first request: the fold
                        served.recommend(users[0], 25, with_events=False)
                        first.append((name, op, time.perf_counter() - t))
                    runtime_call = lambda u: served.recommend(u, 25, with_events=False)  # noqa: E731
                    runtime_args = [(u,) for u in users]
                    body = [(json.dumps({"campaignArn": campaign, "userId": u, "numResults": 25}).encode(),)
                            for u in users]
                    path = "/recommendations"
                else:
                    bare = timed(lambda h, c: model.rank(h, c), list(zip(histories_, cands))[:bare_n])
                    runtime_call = lambda u, c: served.rank(u, c, with_events=False)  # noqa: E731
                    runtime_args = list(zip(users, cand_ids))
                    body = [(json.dumps({"campaignArn": campaign, "userId": u, "inputList": c}).encode(),)
                            for u, c in zip(users, cand_ids)]
                    path = "/personalize-ranking"

                # signed as boto3 signs (root test key), before the clock starts
                signed = [(b, access.sign("POST", "https://bench.in-process" + path, b,
                                          {"Content-Type": "application/json"})) for (b,) in body]

                def call(b, headers, path=path):
                    resp = http.dispatch("personalize-runtime", "POST", path, headers, {}, b)
                    assert resp.status_code == 200, resp.body

                def check(b, headers, path=path, op=op):
                    lower = {k.lower(): v for k, v in headers.items()}
                    identity = gate.authenticate("POST", [path], {}, lower, b)
                    gate.authorize(identity, *gate.target(op, params[b]))
                params = {b: json.loads(b) for b, _ in signed}
                warm(runtime_call, runtime_args)
                warm(call, signed)    # the key's secret and policies, each user's state
                cpu = []
                if args.profile:
                    runtime_ = timed(runtime_call, runtime_args)
                    handler = profiled(args, f"{name} {op} {cohort}", lambda: timed(call, signed, cpu))
                else:   # runtime and handler calls in turn: both see the machine's same moments
                    runtime_, handler = in_turn([(runtime_call, runtime_args), (call, signed)], cpu)
                cpu99[(name, op, cohort)] = percentiles(cpu)[1]
                verify = timed(check, signed)
                for label, samples in (("bare", bare), ("runtime", runtime_), ("handler", handler),
                                       ("access", verify)):
                    rows.append((name, op, cohort, label, *percentiles(samples)))
                if what == "recommend" and cohort == f"{args.per_user}":
                    rows += [(name, op, cohort, *r) for r in
                             filtered_rows(name, served, campaign, filters, users, call)]
    report(rows, memory, first, cpu99)


def report(rows, memory, first, cpu99):
    print()
    print(f"{'recipe':26} {'operation':20} {'history':>8} {'path':14} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'x bare':>7}")
    bare_p50 = {(n, o, c): p50 for n, o, c, label, p50, _ in rows if label == "bare"}
    for name, op, cohort, label, p50, p99 in rows:
        ratio = p50 / bare_p50[(name, op, cohort)] if bare_p50.get((name, op, cohort)) else float("nan")
        print(f"{name:26} {op:20} {cohort:>8} {label:14} {p50:8.3f} {p99:8.3f} {ratio:7.2f}")
    at = {(n, o, c, label): (p50, p99) for n, o, c, label, p50, p99 in rows}
    print()
    print("targets (issue 15): handler p50 <= 1 ms, p99 <= 3 ms; handler - runtime p50 <= 0.5 ms")
    print("(cpu p99: the handler's own CPU time per request, this thread's; 'met' reads the wall p99, "
          "'cpu' the CPU p99: on a loaded machine a request that waits for a core - a scheduler "
          "slice is about 4 ms - is slow in wall time only)")
    print(f"{'recipe':26} {'operation':20} {'history':>8} {'handler p50':>12} {'p99':>8} "
          f"{'cpu p99':>8} {'- runtime':>10}  met  cpu")
    for (name, op, cohort, label), (p50, p99) in at.items():
        if label != "handler":
            continue
        extra = p50 - at[(name, op, cohort, "runtime")][0]
        fast = p50 <= 1.0 and extra <= 0.5
        cpu = cpu99[(name, op, cohort)]
        print(f"{name:26} {op:20} {cohort:>8} {p50:12.3f} {p99:8.3f} {cpu:8.3f} {extra:10.3f}  "
              f"{'yes' if fast and p99 <= 3.0 else 'NO':3}  {'yes' if fast and cpu <= 3.0 else 'NO'}")
    if first:
        print()
        print("a long history's first request in a worker (no carried state yet: the whole fold)")
        for name, op, seconds in first:
            print(f"{name:26} {op:20} {seconds * 1000:9.1f} ms")
    print()
    print("filtered / unfiltered p50 (issue 14: a filtered GetRecommendations costs at most 2x)")
    for name, op, cohort, label, p50, _p99 in rows:
        if "/" in label:
            base = at[(name, op, cohort, label.split("/")[0])][0]
            print(f"{name:26} {op:20} {label:14} {p50 / base:5.2f}x")
    print()
    print("access = SigV4 verification + policy decision per request, warm key cache "
          "(chalicelib/auth; inside the handler row)")
    for (name, op, cohort, label), (p50, _p99) in at.items():
        if label == "access":
            print(f"{name:26} {op:20} {cohort:>8} access p50 {p50:.3f} ms = "
                  f"{100 * p50 / at[(name, op, cohort, 'handler')][0]:.1f}% of the handler's p50")
    print()
    print(f"{'recipe':26} {'model MB':>9} {'histories MB':>13} {'item index MB':>14} "
          f"{'heap MB':>8} {'fit s':>7}")
    for name, served, heap, fit_s in memory:
        from chalicelib.runtime.artifacts import model_nbytes
        print(f"{name:26} {model_nbytes(served.model) / 1e6:9.2f} {served.histories.nbytes / 1e6:13.2f} "
              f"{served.index.nbytes / 1e6:14.2f} {heap / 1e6:8.1f} {fit_s:7.1f}")


def profiled(args, label, fn):
    """`fn()`, under cProfile with `--profile` (its top functions printed)."""
    if not args.profile:
        return fn()
    import cProfile
    import pstats
    prof = cProfile.Profile()
    out = prof.runcall(fn)
    print(f"\n## cProfile: handler {label}")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("cumulative").print_stats(35)
    return out


def filtered_rows(name, served, campaign, filters, users, call):
    """The filtered GetRecommendations rows (see the module docstring); every answer full."""
    from chalicelib.filters import evaluate, language
    from chalicelib.runtime import filtering
    from tests.support import access
    table = filtering.item_table(served)     # loaded once, as a warm container holds it
    genre = np.random.default_rng(3).integers(0, GENRES, len(users))
    out = []
    for label, text in FILTERS.items():
        parsed = language.parse(text)
        values = [{"GENRE": f'"g{g}"'} if label == "items" else {} for g in genre]

        def runtime_call(u, v, parsed=parsed):
            inputs = evaluate.Inputs(served.index.size, lambda d, n: table.column(n),
                                     lambda types: filtering.interacted(served, u, [], types))
            mask = evaluate.allowed(parsed, evaluate.bind(parsed, v), inputs)
            answer = served.recommend(u, 25, with_events=False, allowed=mask)
            assert len(answer) == 25 and mask[served.index.lookup([i for i, _ in answer])].all()
        runtime_ = warm_then_timed(runtime_call, list(zip(users, values)))
        bodies = [json.dumps({"campaignArn": campaign, "userId": u, "numResults": 25,
                              "filterArn": filters[label], "filterValues": v}).encode()
                  for u, v in zip(users, values)]
        signed = [(b, access.sign("POST", "https://bench.in-process/recommendations", b,
                                  {"Content-Type": "application/json"})) for b in bodies]
        call(*signed[0])
        handler = warm_then_timed(call, signed)
        out += [(f"runtime/{label}", *percentiles(runtime_)),
                (f"handler/{label}", *percentiles(handler))]
    return out


def http_rows(args):
    """Stock clients over HTTP to a deployed campaign (endpoints from the environment)."""
    import boto3
    runtime = boto3.client("personalize-runtime")
    users = args.http_users.split(",")
    picks = [users[k % len(users)] for k in range(args.requests)]
    first = runtime.get_recommendations(campaignArn=args.http_campaign, userId=picks[0])
    items = [x["itemId"] for x in first["itemList"]][::-1]
    rec = timed(lambda u: runtime.get_recommendations(campaignArn=args.http_campaign, userId=u),
                [(u,) for u in picks])
    print(f"# HTTP, stock boto3, {args.requests} calls per row, campaign {args.http_campaign}")
    print(f"{'operation':24} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'GetRecommendations':24} {percentiles(rec)[0]:8.1f} {percentiles(rec)[1]:8.1f}")
    try:
        rank = timed(lambda u: runtime.get_personalized_ranking(
            campaignArn=args.http_campaign, userId=u, inputList=items), [(u,) for u in picks])
        print(f"{'GetPersonalizedRanking':24} {percentiles(rank)[0]:8.1f} {percentiles(rank)[1]:8.1f}")
    except runtime.exceptions.InvalidInputException as e:
        print(f"GetPersonalizedRanking: {e}")


def own_stack_rows(args):
    """HTTP throughput on a stack of this run: ministack on a free port (as the e2e tests
    start it), the application deployed as `make up` does, a synthetic interactions CSV
    imported through the import workflow, popularity and HRNN trained through the training
    workflow and deployed; then `--http-threads` threads, each with its own stock boto3
    client, send GetRecommendations for random users for `--requests` calls each, for one
    campaign after the other. The emulator is stopped by PID at the end."""
    import concurrent.futures
    from scripts import access as root_access, emulator, package, stack as stack_cli
    from tests.e2e import flows
    from tests.e2e.conftest import DeployedStack, REGION
    rng = np.random.default_rng(7)
    users, per_user, items = 2_000, 10, 500
    rows = [f"u{u},i{int(i)},{1_600_000_000 + u * 1000 + k * 60}"
            for u in range(users) for k, i in enumerate(np.minimum(rng.zipf(1.3, per_user) - 1, items - 1))]
    body = ("USER_ID,ITEM_ID,TIMESTAMP\n" + "\n".join(rows) + "\n").encode()
    with tempfile.TemporaryDirectory() as tmp:
        home, build_dir = os.path.join(tmp, "ministack"), os.path.join(tmp, "build")
        os.makedirs(home)
        source = package.snapshot(os.path.join(tmp, "source"))
        emu = emulator.start(home, region=REGION, persist=False)
        try:
            record, _ = stack_cli.deploy_to_emulator(
                emu, stack_name="personalize-bench", region=REGION,
                record_path=os.path.join(home, "stack.json"), build_dir=build_dir, root=source,
                progress=lambda msg: None)
            models = os.path.join(stack_cli.ROOT, "build", "models")
            root = root_access.ensure_root(record["outputs"], emu.endpoint, REGION)
            st = DeployedStack(emulator=emu, personalize_endpoint=record["personalize_endpoint"],
                               outputs=record["outputs"], env={}, models=models, record_path="",
                               build_dir=build_dir, source=source, deploy_seconds=0.0,
                               skipped_workflows=record["skipped_workflows"], keys=root)
            personalize = st.client("personalize")
            group, _ = flows.import_interactions(st, personalize, body, "bench", timeout=600)
            campaigns = {}
            for recipe, hp in (("aws-popularity-count", {}),
                               ("aws-hrnn", {"training.epochs": "2", "model.num_hidden": "64"})):
                spec = {"performHPO": False}
                if hp:
                    spec["solutionConfig"] = {"algorithmHyperParameters": hp}
                _, version = flows.train(personalize, group, recipe, f"bench-{recipe[4:8]}",
                                         timeout=1200, **spec)
                assert version["status"] == "ACTIVE", version
                campaigns[recipe] = flows.campaign(personalize, version["solutionVersionArn"],
                                                   f"bench-{recipe[4:8]}", timeout=600)
            print(f"# HTTP over the deployed stack (ministack on {emu.endpoint}), {users:,} users x "
                  f"{per_user} interactions, {items} items; {args.http_threads} client threads x "
                  f"{args.requests} GetRecommendations each, stock boto3 clients")
            print(f"{'recipe':22} {'requests/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'x popularity':>13}")
            base = None
            for recipe, arn in campaigns.items():
                clients = [st.client("personalize-runtime", models=False) for _ in range(args.http_threads)]
                for c in clients:   # warm: the worker's model load, the connection
                    c.get_recommendations(campaignArn=arn, userId="u1")

                def run(c, seed):
                    picks = np.random.default_rng(seed).integers(0, users, args.requests)
                    return timed(lambda u: c.get_recommendations(campaignArn=arn, userId=f"u{u}"),
                                 [(int(u),) for u in picks])
                t = time.perf_counter()
                with concurrent.futures.ThreadPoolExecutor(args.http_threads) as pool:
                    samples = sum(pool.map(run, clients, range(args.http_threads)), [])
                rate = len(samples) / (time.perf_counter() - t)
                base = base or rate
                p50, p99 = percentiles(samples)
                print(f"{recipe:22} {rate:11.1f} {p50:8.1f} {p99:8.1f} {rate / base:13.2f}")
        finally:
            emulator.stop(home)


if __name__ == "__main__":
    main()
