"""Memory of N concurrent workers serving one HRNN model (issue 15 item 3 / "Done when":
N workers use less than 1.5x the memory of one), from /proc/<pid>/smaps_rollup.

    .venv/bin/python bench/serving_memory.py [--workers 4] [--items 10000] [--hidden 149]

One HRNN model is fitted (1 epoch; serving memory depends on the sizes, not on quality) and
saved as the runtime keeps it on a machine (`artifacts.local_copy`: one unpacked folder, the
arrays memory-mapped read-only). Then `--workers` fresh processes (spawned, nothing inherited)
each first serve another copy of it (a warm worker: imports, BLAS buffers and the
allocator's arenas are not the model's), measure, load it with `load_model`, answer `--requests` recommendations (every page of the scoring
tables is read), and, with `--histories`, index the imported interactions as `ServedModel`
does (`histories.build`, private to each worker). All workers measure at the same moment,
while all are alive, so shared pages are split between them (PSS). Rows:

- one      a single worker: PSS and USS growth from before the load to after the requests;
- N        the same for each of N concurrent workers, summed;
- ratio    N / one (target < 1.5 for the model).
"""
import argparse
import multiprocessing as mp
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rollup(pid="self"):
    """{Pss, Private (USS), Rss} in MB from smaps_rollup."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if parts[0] in ("Rss:", "Pss:", "Private_Clean:", "Private_Dirty:", "Pss_File:"):
                out[parts[0][:-1]] = int(parts[1]) / 1024
    return {"Pss": out["Pss"], "USS": out["Private_Clean"] + out["Private_Dirty"], "Rss": out["Rss"],
            "dirty": out["Private_Dirty"], "file": out.get("Pss_File", 0.0)}


def worker(model_dir, requests, histories, barrier, results):
    from chalicelib.algorithms import registry  # noqa: F401 (every recipe module imported)
    from chalicelib.algorithms.base import History, load_model
    from chalicelib.runtime import histories as hist
    rng = np.random.default_rng(os.getpid())

    def serve(directory):
        model = load_model(directory)
        for _ in range(requests):
            model.recommend([History(rng.integers(0, model.item_ids.shape[0], 10).astype(np.int32))], 25)
        return model
    # a warm worker: the code paths' own memory (imports, BLAS buffers, the allocator's
    # arenas) comes from serving another copy of the model first, before the measure
    serve(model_dir + ".warm")
    hist.build(np.array(["u"]), np.zeros(1, np.int64), np.zeros(1, np.int64), 1)
    before = rollup()
    model = serve(model_dir)
    n_items = model.item_ids.shape[0]
    keep = None
    if histories:
        users, per = histories
        user_ids = np.repeat(np.array([f"user{u}" for u in range(users)]), per)
        items = rng.integers(0, n_items, users * per)
        keep = hist.build(user_ids, items, np.arange(users * per, dtype=np.int64), n_items)
    barrier.wait()       # everyone loaded: measure together
    after = rollup()
    results.put({k: after[k] - before[k] for k in after})
    barrier.wait()       # nobody leaves before all have measured
    del keep


def measure(model_dir, workers, requests, histories):
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(model_dir, requests, histories, barrier, results))
             for _ in range(workers)]
    for p in procs:
        p.start()
    got = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return {k: sum(g[k] for g in got) for k in got[0]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--hidden", type=int, default=149)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--users", type=int, default=100_000, help="imported users (--histories)")
    ap.add_argument("--per-user", type=int, default=10)
    args = ap.parse_args(argv)
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
              f"worker; {os.cpu_count()} CPUs")
        print(f"{'what':34} {'workers':>7} {'PSS MB':>8} {'USS MB':>8} {'RSS MB':>8} "
              f"{'dirty MB':>9} {'PSS file':>9} {'PSS x one':>10}")
        for label, histories in (("model", None),
                                 (f"model + histories ({args.users:,} users)", (args.users, args.per_user))):
            one = measure(model_dir, 1, args.requests, histories)
            many = measure(model_dir, args.workers, args.requests, histories)
            for n, m in ((1, one), (args.workers, many)):
                print(f"{label:34} {n:7d} {m['Pss']:8.1f} {m['USS']:8.1f} {m['Rss']:8.1f} "
                      f"{m['dirty']:9.1f} {m['file']:9.1f} {m['Pss'] / one['Pss']:10.2f}")


if __name__ == "__main__":
    main()
