"""Memory of N concurrent workers serving one HRNN model (issue 15 item 3 / "Done when":
N workers use less than 1.5x the memory of one), from /proc/<pid>/smaps_rollup.

    .venv/bin/python bench/serving_memory.py [--workers 1,2,4] [--items 10000] [--hidden 149]
        [--users 100000] [--per-user 10] [--event-users 20000] [--events-per-user 10]

One HRNN model is fitted (1 epoch; serving memory depends on the sizes, not on quality) and
saved as the runtime keeps it on a machine (`artifacts.local_copy`: one unpacked folder, the
arrays memory-mapped read-only). Then N fresh processes (spawned, nothing inherited) each first
serve other copies of everything (a warm worker: imports, BLAS buffers and the allocator's
arenas are not what is measured; its histories and events are `WARM_USERS` users), measure,
then do what a worker does and measure again, all N at the same moment while all are alive,
so shared pages are split between them (PSS). Each run starts from an empty machine folder
(`RUNTIME_MODEL_DIR`), so one of the N builds and publishes the histories while the others
wait and map them, as on a machine whose workers start together.

- model       `load_model` of the folder and `--requests` recommendations (every page of the
              scoring tables is read);
- histories   the model, plus the imported interactions (`--users` x `--per-user`) indexed per
              user as `ServedModel` does (`histories.mapped`: built by one worker, mapped by
              all), and `--requests` users' histories read;
- events      the histories, plus the group's recorded events (`--event-users` x
              `--events-per-user`) as the runtime's copy serves them (`feed.Feed`: the
              snapshot a first worker scans and publishes is published by the parent here,
              with `snapshots.build` and `publish` as the scan does; each worker's moto
              DynamoDB holds only the change log's head item), `--requests` users' events
              read and `--own-events` events applied as this worker's PutEvents would.

Columns: PSS and USS growth (MB) summed over the N workers; "x one" is the N-worker PSS over
the one-worker PSS of the same scenario (target < 1.5).
"""
import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

T0 = 1_700_000_000.0
WARM_USERS = 1_000     # the warm-up's histories and recorded events: code paths, not sizes


def rollup(pid="self"):
    """{Pss, USS, Rss} in MB from smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts[0] in ("Rss:", "Pss:", "Private_Clean:", "Private_Dirty:"):
                out[parts[0][:-1]] = int(parts[1]) / 1024
    return {"Pss": out["Pss"], "USS": out["Private_Clean"] + out["Private_Dirty"], "Rss": out["Rss"]}


def event_snapshot(dataset_arn, users, per_user, n_items, seed):
    """Publish a snapshot of `users` x `per_user` recorded clicks (what `Feed` scans and
    publishes), with the head the workers' change logs hold; returns the head."""
    from chalicelib.runtime import snapshots
    from chalicelib.storage import events as store
    rng = np.random.default_rng(seed)
    head = f"{store.change_key_at(T0 + users * per_user)}#bench{seed:07d}"
    rows, written = {}, {}
    for u in range(users):
        events = []
        for k in range(per_user):
            key = store.event_key(T0 + u * per_user + k, f"e{u}-{k}")
            item = f"item{int(rng.integers(0, n_items))}"
            written[key] = item
            events.append((key, item, "click", T0 + u * per_user + k))
        rows[f"user{u}"] = events[::-1]
    snapshots.publish(dataset_arn, *snapshots.build(snapshots.Snapshot.empty(), rows, written, head, {head}))
    return head


def own_changes(count, n_items, rng):
    """`count` events as this worker's PutEvents changes (10 a request)."""
    from chalicelib.storage import events as store
    for start in range(0, count, 10):
        events = []
        for k in range(start, min(count, start + 10)):
            key = store.event_key(T0 + 10 ** 7 + k, f"own{k}")
            events.append([f"user{int(rng.integers(0, 1000))}", key, f"item{int(rng.integers(0, n_items))}",
                           "click", T0 + 10 ** 7 + k])
        yield {"eventKey": f"{store.change_key_at(T0 + 10 ** 7 + start)}#own{start:08d}",
               "users": sorted({e[0] for e in events}), "written": [e[1:3] for e in events],
               "events": events, "cleared": []}


def worker(model_dir, args, scenario, barrier, results):
    from chalicelib.algorithms import registry  # noqa: F401 (every recipe module imported)
    from chalicelib.algorithms.base import History, load_model
    from chalicelib.runtime import histories as hist
    rng = np.random.default_rng(os.getpid())
    events_ctx = None
    if scenario == "events":
        from moto import mock_aws
        import boto3
        from chalicelib import config
        from chalicelib.runtime.feed import Feed
        from chalicelib.storage.tables import ensure_tables
        events_ctx = mock_aws()
        events_ctx.start()
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ensure_tables(ddb)

    def serve(directory, tag, users, event_users):
        model = load_model(directory)
        for _ in range(args.requests):
            model.recommend([History(rng.integers(0, model.item_ids.shape[0], 10).astype(np.int32))], 25)
        kept = [model]
        if scenario == "model":
            return kept
        index = hist.ItemIndex(model.item_ids)

        def build():
            n = users * args.per_user
            user_ids = np.repeat(np.array([f"user{u}" for u in range(users)]), args.per_user)
            return hist.build(user_ids, rng.integers(0, index.size, n), np.arange(n, dtype=np.int64), index.size)
        h = hist.mapped(f"bench-{tag}", index, build)
        for u in rng.integers(0, users, args.requests):
            h.history(f"user{u}")
        kept.append(h)
        if scenario == "events":
            dataset = f"arn:aws:personalize:us-east-1:1:dataset/bench-{tag}/EVENT_INTERACTIONS"
            head = args.heads[tag]     # the events snapshots' heads (published by the parent)
            ddb.put_item(TableName=config.events_table(), Item={
                "datasetArn": {"S": dataset}, "eventKey": {"S": head}, "users": {"L": []},
                "written": {"L": []}})
            feed = Feed(dataset)
            for u in rng.integers(0, event_users, args.requests):
                feed.user_events(f"user{u}")
            for change in own_changes(args.own_events, index.size, rng):
                feed.apply(change)
            kept.append(feed)
        return kept

    serve(model_dir + ".warm", "warm", WARM_USERS, WARM_USERS)
    before = rollup()
    barrier.wait()       # nobody starts before all have measured the baseline
    kept = serve(model_dir, "measured", args.users, args.event_users)
    barrier.wait()       # everyone serving: measure together
    after = rollup()
    results.put({k: after[k] - before[k] for k in after})
    barrier.wait()       # nobody leaves before all have measured
    del kept
    if events_ctx is not None:
        events_ctx.stop()


def measure(model_dir, args, scenario, workers):
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(model_dir, args, scenario, barrier, results))
             for _ in range(workers)]
    for p in procs:
        p.start()
    got = [results.get(timeout=900) for _ in procs]
    for p in procs:
        p.join()
    return {k: sum(g[k] for g in got) for k in got[0]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", default="1,2,4", help="worker counts, the first is the baseline")
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--hidden", type=int, default=149)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--users", type=int, default=100_000, help="imported users")
    ap.add_argument("--per-user", type=int, default=10)
    ap.add_argument("--event-users", type=int, default=20_000, help="users with recorded events")
    ap.add_argument("--events-per-user", type=int, default=10)
    ap.add_argument("--own-events", type=int, default=2_000, help="PutEvents events applied per worker")
    ap.add_argument("--scenarios", default="model,histories,events")
    args = ap.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]
    from bench.runtime_latency import synthetic, subsample
    from chalicelib.algorithms.registry import recipe_for
    from chalicelib.runtime.artifacts import model_nbytes
    data = synthetic(5_000, args.items, args.per_user)
    model = recipe_for("aws-hrnn").fit(subsample(data, 2_000), {
        "training.epochs": "1", "model.num_hidden": str(args.hidden)}, seed=0)
    with tempfile.TemporaryDirectory() as model_dir:
        model.save(model_dir)
        model.save(model_dir + ".warm")
        size = os.path.getsize(os.path.join(model_dir, "arrays.npz")) / 1e6
        print(f"# HRNN, {args.items:,} items, {args.hidden} hidden units: arrays.npz {size:.1f} MB "
              f"(model arrays {model_nbytes(model) / 1e6:.1f} MB); {args.requests} requests per "
              f"worker; histories {args.users:,} users x {args.per_user}; recorded events "
              f"{args.event_users:,} users x {args.events_per_user} (+{args.own_events:,} own per "
              f"worker); {os.cpu_count()} CPUs")
        print(f"{'scenario':10} {'workers':>7} {'PSS MB':>8} {'USS MB':>8} {'RSS MB':>8} {'x one':>6}")
        for scenario in args.scenarios.split(","):
            rows = []
            for n in counts:
                machine = tempfile.mkdtemp(prefix="serving-memory-")
                os.environ["RUNTIME_MODEL_DIR"] = machine     # inherited by the spawned workers
                args.heads = {}
                if scenario == "events":
                    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")      # moto's
                    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
                    args.heads = {tag: event_snapshot(
                        f"arn:aws:personalize:us-east-1:1:dataset/bench-{tag}/EVENT_INTERACTIONS",
                        users, args.events_per_user, args.items, seed)
                        for seed, (tag, users) in enumerate((("warm", WARM_USERS),
                                                             ("measured", args.event_users)))}
                try:
                    rows.append((n, measure(model_dir, args, scenario, n)))
                finally:
                    shutil.rmtree(machine, ignore_errors=True)
            one = rows[0][1]["Pss"]
            for n, m in rows:
                print(f"{scenario:10} {n:7d} {m['Pss']:8.1f} {m['USS']:8.1f} {m['Rss']:8.1f} "
                      f"{m['Pss'] / one:6.2f}")


if __name__ == "__main__":
    main()
