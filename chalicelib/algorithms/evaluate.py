"""Offline evaluation without the stack: `python -m chalicelib.algorithms.evaluate`.

    python -m chalicelib.algorithms.evaluate --recipe aws-sims --data ratings.csv --seeds 5 \
        [--hyperparameters k=v ...] [--allow-repeats] [--json]

Reads an interactions CSV (`USER_ID,ITEM_ID,TIMESTAMP[,EVENT_TYPE,EVENT_VALUE]` or MovieLens
`userId,movieId,rating,timestamp`; CRLF ok), runs the protocol of `evaluation` (the metrics that
GetMetrics reports, ../shared/EVALUATION.md) once per seed 0..N-1 and prints mean ± std over
the seeds with the fit time. `--recipe` may be given several times to compare recipes on the
same splits.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Dict, List, Sequence

import numpy as np

from chalicelib.algorithms.data import read_interactions_csv
from chalicelib.algorithms.evaluation import evaluate, split_interactions

ORDER = ("normalized_discounted_cumulative_gain_at_5", "normalized_discounted_cumulative_gain_at_10",
         "normalized_discounted_cumulative_gain_at_25", "precision_at_5", "precision_at_10",
         "precision_at_25", "mean_reciprocal_rank_at_25", "coverage")


def parse_overrides(pairs: Sequence[str]) -> Dict[str, str]:
    out = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--hyperparameters expects name=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def summarize(runs: List[Dict[str, float]]) -> Dict[str, tuple]:
    """name -> (mean, std) over runs (population std, as numpy's default)."""
    return {k: (float(np.mean([r[k] for r in runs])), float(np.std([r[k] for r in runs])))
            for k in runs[0]}


def format_table(rows: Dict[str, Dict[str, tuple]], columns: Sequence[str] = ORDER) -> str:
    """rows: label -> summary (as from `summarize`, plus 'fit_seconds'). One line per label."""
    short = {c: c.replace("normalized_discounted_cumulative_gain_at_", "NDCG@")
             .replace("precision_at_", "P@").replace("mean_reciprocal_rank_at_25", "MRR@25")
             .replace("coverage", "coverage") for c in columns}
    cols = list(columns) + ["fit_seconds"]
    heads = [short.get(c, c).replace("fit_seconds", "fit s") for c in cols]
    label_w = max([len("method")] + [len(k) for k in rows])
    cell = lambda m, s, c: (f"{m:7.2f}±{s:5.2f}" if c == "fit_seconds" else f"{m:.4f}±{s:.4f}")
    width = 13
    lines = ["method".ljust(label_w) + " | " + " | ".join(h.rjust(width) for h in heads)]
    lines.append("-" * len(lines[0]))
    for label, summ in rows.items():
        lines.append(label.ljust(label_w) + " | " + " | ".join(
            cell(*summ[c], c).rjust(width) if c in summ else "n/a".rjust(width) for c in cols))
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m chalicelib.algorithms.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", action="append", required=True, help="recipe name, e.g. aws-sims (repeatable)")
    ap.add_argument("--data", required=True, help="interactions CSV")
    ap.add_argument("--seeds", type=int, default=5, help="number of seeds (0..N-1)")
    ap.add_argument("--hyperparameters", nargs="*", default=[], metavar="NAME=VALUE")
    ap.add_argument("--allow-repeats", action="store_true", help="recommend history items again")
    ap.add_argument("--json", action="store_true", help="print per-seed metrics as JSON too")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    overrides = parse_overrides(args.hyperparameters)
    data = read_interactions_csv(args.data)
    print(f"{args.data}: {len(data.interactions)} interactions, {data.n_users} users, "
          f"{data.n_items} items; {args.seeds} seeds; repeats {'allowed' if args.allow_repeats else 'excluded'}")
    log = (lambda m: print("  " + m, file=sys.stderr)) if args.verbose else (lambda m: None)
    rows, per_seed = {}, {}
    splits = [split_interactions(data, s) for s in range(args.seeds)]
    for name in args.recipe:
        runs = []
        for seed, split in enumerate(splits):
            try:
                metrics, fit_s, _ = evaluate(name, data, overrides, seed, split=split,
                                             allow_repeats=args.allow_repeats, log=log)
            except ValueError as e:
                print(f"{name}: {e}", file=sys.stderr)
                return 2
            metrics["fit_seconds"] = fit_s
            runs.append(metrics)
        rows[name] = summarize(runs)
        per_seed[name] = runs
    first = next(iter(rows.values()))
    print(f"evaluation users per seed: {first['_num_evaluation_users'][0]:.0f}; "
          f"catalogue {first['_num_unique_items'][0]:.0f} items; mean ± std over seeds")
    print(format_table(rows))
    if args.json:
        print(json.dumps(per_seed, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
