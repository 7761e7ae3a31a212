"""aws-hrnn's fit time on MovieLens ml-latest-small against implicit's ALS, on one thread.

    .venv/bin/python bench/hrnn_fit_speed.py [--seeds 0,1,2] [--against /path/to/other/tree]

Per seed, in a child process with one BLAS/OpenMP thread: implicit ALS (default
hyperparameters, as bench/hrnn_quality.py) fits the training split, then aws-hrnn (default
hyperparameters) fits through the recipe's own `fit`, timed in CPU seconds; both are scored
by NDCG@10 on the held-out users (chalicelib/algorithms/evaluation.py). The network's share
is measured by timing `HrnnNet.forward`, `HrnnNet.backward`, `HrnnNet.sampled_softmax` and
`Adam.step` (wrapped here, in the bench only): "network s / epoch" is their CPU time divided
by the epochs trained; the rest of the fit (spectral start, co-occurrence blend, validation,
encoding) is "other".

--against runs the same children on another checkout (e.g. a copy of the tree before a
change) alternating with this one, seed by seed, so both sets of figures come from one run.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(os.path.dirname(ROOT), "shared", "datasets", "ml-latest-small")
NDCG = "normalized_discounted_cumulative_gain_at_10"


def child(root, seed, data):
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = "1"
    sys.path.insert(0, root)
    sys.path.insert(0, os.path.join(root, "bench"))
    from hrnn_quality import fit_implicit, load
    from chalicelib.algorithms import hrnn_net, optim
    from chalicelib.algorithms.evaluation import evaluate, evaluate_model, split_interactions

    spent = {"network": 0.0}

    def timed(cls, name):
        inner = getattr(cls, name)

        def wrapper(*a, **k):
            c0 = time.process_time()
            try:
                return inner(*a, **k)
            finally:
                spent["network"] += time.process_time() - c0
        setattr(cls, name, wrapper)
    for name in ("forward", "backward", "sampled_softmax"):
        timed(hrnn_net.HrnnNet, name)
    timed(optim.Adam, "step")

    data = load(data)
    split = split_interactions(data, seed)
    c0 = time.process_time()
    als = fit_implicit("als", split.train, seed)
    als_cpu = time.process_time() - c0
    als_ndcg = evaluate_model(als, split)[NDCG]
    epochs = []

    def log(message):
        if message.startswith("epoch ") and ": loss" in message:
            epochs.append(message)
    spent["network"] = 0.0
    c0 = time.process_time()
    metrics, _, _ = evaluate("aws-hrnn", data, {}, seed, split=split, log=log)
    hrnn_cpu = time.process_time() - c0   # fit + scoring of the held-out users
    print(json.dumps({"seed": seed, "als_cpu": als_cpu, "als_ndcg": als_ndcg,
                      "hrnn_cpu": hrnn_cpu, "hrnn_ndcg": metrics[NDCG],
                      "network_cpu": spent["network"], "epochs": len(epochs)}))


def run(root, seed, data):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", root, str(seed),
                          "--data", data], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(label, rows):
    print(f"\n## {label}\n")
    print("| seed | ALS fit CPU s | ALS NDCG@10 | aws-hrnn fit+score CPU s | x ALS | network CPU s "
          "/ epoch (epochs) | other CPU s | aws-hrnn NDCG@10 |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['seed']} | {r['als_cpu']:.2f} | {r['als_ndcg']:.4f} | {r['hrnn_cpu']:.1f} | "
              f"{r['hrnn_cpu'] / r['als_cpu']:.1f} | {r['network_cpu'] / max(r['epochs'], 1):.2f} "
              f"({r['epochs']}) | {r['hrnn_cpu'] - r['network_cpu']:.1f} | {r['hrnn_ndcg']:.4f} |")
    med = lambda f: statistics.median(f(r) for r in rows)
    print(f"| median | {med(lambda r: r['als_cpu']):.2f} | {med(lambda r: r['als_ndcg']):.4f} | "
          f"{med(lambda r: r['hrnn_cpu']):.1f} | {med(lambda r: r['hrnn_cpu'] / r['als_cpu']):.1f} | "
          f"{med(lambda r: r['network_cpu'] / max(r['epochs'], 1)):.2f} | "
          f"{med(lambda r: r['hrnn_cpu'] - r['network_cpu']):.1f} | "
          f"{med(lambda r: r['hrnn_ndcg']):.4f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--against", help="another checkout, run alternately with this one")
    ap.add_argument("--child", nargs=2, metavar=("ROOT", "SEED"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]), args.data)
    trees = {"this tree": ROOT}
    if args.against:
        trees = {f"against {args.against}": os.path.abspath(args.against), "this tree": ROOT}
    rows = {label: [] for label in trees}
    for seed in (int(s) for s in args.seeds.split(",")):
        for label, root in trees.items():
            rows[label].append(run(root, seed, args.data))
            print(f"{label} seed {seed}: {json.dumps(rows[label][-1])}", file=sys.stderr, flush=True)
    print(f"# aws-hrnn vs implicit ALS on {os.path.basename(args.data)}, one thread, "
          f"load average {os.getloadavg()[0]:.1f}")
    for label, found in rows.items():
        table(label, found)


if __name__ == "__main__":
    main()
