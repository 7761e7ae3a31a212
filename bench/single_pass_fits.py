"""How far the single-pass recipes are from the trainer Lambda's wall (issue 16: no 15-minute
wall on any target; `chalicelib.training.stepwise.SINGLE_PASS`, the recipes fitted without
epochs and so without checkpoints).

    .venv/bin/python bench/single_pass_fits.py [--scales 1 10] [--repeats 3] [--budget 780] [--recipes ...]

Each recipe of SINGLE_PASS is fitted on ml-latest-small and on seeded synthetic sets K times its
size (bench/training_under_load.py's `synthetic_ratings`: K times the users and the items, the
same activity and popularity spread), median of `--repeats` fits each. The table: fit seconds
per scale, the growth from the smallest to the largest scale against the growth of the data
(1.0 = linear), seconds per million interactions at the largest scale, and the interactions a
`--budget`-second invocation would fit at that rate. The baseline in the same run is the
smallest scale. CPU is shared on the development machine: read the ratios, not the seconds.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.training_under_load import RATINGS, synthetic_ratings  # noqa: E402


def dataset(scale):
    import numpy as np
    from chalicelib.algorithms.data import from_arrays
    if scale == 1:
        from chalicelib.datasets.movielens import getting_started_csv
        body = getting_started_csv(RATINGS)
    else:
        body = synthetic_ratings(RATINGS, scale)
    rows = np.loadtxt(io.BytesIO(body), delimiter=",", skiprows=1, dtype=np.int64)
    return from_arrays(rows[:, 0], rows[:, 1], rows[:, 2])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--budget", type=float, default=780.0)
    ap.add_argument("--recipes", nargs="+", help="a subset of SINGLE_PASS")
    args = ap.parse_args(argv)
    from chalicelib.algorithms.registry import recipe_for
    from chalicelib.training import selection
    from chalicelib.training.stepwise import SINGLE_PASS

    sets = {k: dataset(k) for k in args.scales}
    sizes = {k: len(d.interactions) for k, d in sets.items()}
    print("interactions: " + ", ".join(f"x{k} {n:,}" for k, n in sizes.items()), flush=True)
    rows = []
    for name in args.recipes or SINGLE_PASS:
        recipe, hps = recipe_for(name), selection.effective_hyperparameters(name, {})
        seconds = {}
        try:
            for k, data in sets.items():
                runs = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    recipe.fit(data, dict(hps), seed=0)
                    runs.append(time.perf_counter() - t0)
                seconds[k] = statistics.median(runs)
        except ValueError as e:   # e.g. a recipe that needs Items metadata, which these sets lack
            print(f"{name}: not fitted here: {e}", flush=True)
            continue
        lo, hi = min(args.scales), max(args.scales)
        growth = (seconds[hi] / seconds[lo]) / (sizes[hi] / sizes[lo])
        per_million = seconds[hi] / sizes[hi] * 1e6
        rows.append((name, seconds, growth, per_million, args.budget / per_million))
        print(f"{name}: " + ", ".join(f"x{k} {s:.2f}s" for k, s in seconds.items()), flush=True)
    head = ["recipe"] + [f"fit s x{k}" for k in args.scales] + ["growth/data", "s per 1M", f"M in {args.budget:.0f}s"]
    print()
    print(" | ".join(head))
    for name, seconds, growth, per_million, fits in rows:
        print(" | ".join([name] + [f"{seconds[k]:.2f}" for k in args.scales]
                         + [f"{growth:.2f}", f"{per_million:.2f}", f"{fits:,.0f}"]))


if __name__ == "__main__":
    sys.exit(main())
