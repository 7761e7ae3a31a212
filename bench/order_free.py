"""The development sets of issue 18: two originals and their order-free variants.

    .venv/bin/python bench/order_free.py [--seed 0] [--write build/order_free]

Sets (`load_set(name)`, in memory; `--write` also saves each as `USER_ID,ITEM_ID,TIMESTAMP` CSV
under build/, which is never committed):
- `ml`: ../shared/datasets/ml-latest-small/ratings.csv as it is.
- `beauty`: ../shared/datasets/amazon-beauty/Beauty.txt, one line per user, items oldest first;
  the i-th item of a user gets `BEAUTY_BASE + i * 86400` (its README: one day apart).
- `ml-free`, `beauty-free`: `order_free(data, seed)` of the above. Each user's interactions are
  randomly permuted (seeded), then given day-level timestamps with several interactions per day:
  the permuted sequence is cut into runs of `PER_DAY_MIN`..`PER_DAY_MAX` interactions (seeded),
  run r dated `first day of the user + r` days, at midnight. The rows are emitted in the
  permuted order, so the import order inside a day is the random one too: neither the
  timestamps nor the row order say anything about what the user did first, and the evaluation's
  "newest 10%" targets are a random 10% of each user's items.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from chalicelib.algorithms.base import Interactions, TrainingData  # noqa: E402
from chalicelib.algorithms.data import from_arrays, read_interactions_csv  # noqa: E402

SHARED = os.path.join(os.environ.get("PERSONALIZE_SHARED") or os.path.join(os.path.dirname(ROOT), "shared"),
                      "datasets")
ML = os.path.join(SHARED, "ml-latest-small", "ratings.csv")
BEAUTY = os.path.join(SHARED, "amazon-beauty", "Beauty.txt")
BEAUTY_BASE = 1_400_000_000 // 86400 * 86400
DAY = 86400
PER_DAY_MIN, PER_DAY_MAX = 2, 6
SETS = ("ml", "ml-free", "beauty", "beauty-free")


def read_beauty(path: str = BEAUTY) -> TrainingData:
    users, items, stamps = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            seq = parts[1:]
            users += [parts[0]] * len(seq)
            items += seq
            stamps += [BEAUTY_BASE + i * DAY for i in range(len(seq))]
    return from_arrays(users, items, stamps)


def order_free(data: TrainingData, seed: int) -> TrainingData:
    """`data` with each user's order destroyed (module docstring); same users, items, metadata."""
    it = data.interactions
    rng = np.random.default_rng([seed, 18])
    # group rows by user, in a random order within each user
    order = np.lexsort((rng.random(len(it)), it.user))
    users = it.user[order]
    bounds = np.searchsorted(users, np.arange(data.n_users + 1))
    start = np.full(data.n_users, np.iinfo(np.int64).max)
    np.minimum.at(start, it.user, it.timestamp.astype(np.int64))
    stamps = np.empty(len(it), np.int64)
    for u in range(data.n_users):
        a, b = bounds[u], bounds[u + 1]
        if b == a:
            continue
        day0 = start[u] // DAY * DAY
        runs = rng.integers(PER_DAY_MIN, PER_DAY_MAX + 1, size=b - a)
        day = np.repeat(np.arange(b - a), runs)[: b - a]
        stamps[a:b] = day0 + day * DAY
    pick = (lambda x: None if x is None else x[order])
    return TrainingData(
        interactions=Interactions(users, it.item[order], stamps, pick(it.event_type), pick(it.event_value)),
        user_ids=data.user_ids, item_ids=data.item_ids, event_types=data.event_types,
        users=data.users, items=data.items)


def load_set(name: str, seed: int = 0) -> TrainingData:
    """One of `SETS`; the variants are made with `seed` (the same seed, the same variant)."""
    base = name.replace("-free", "")
    if base == "ml":
        data = read_interactions_csv(ML)
    elif base == "beauty":
        data = read_beauty()
    else:
        raise ValueError(f"unknown set {name!r}; one of {', '.join(SETS)}")
    return order_free(data, seed) if name.endswith("-free") else data


def describe(data: TrainingData) -> str:
    it = data.interactions
    order = np.lexsort((it.timestamp, it.user))
    u, t = it.user[order], it.timestamp[order]
    same_user = u[1:] == u[:-1]
    ties = float(np.mean(t[1:][same_user] == t[:-1][same_user])) if same_user.any() else 0.0
    return (f"{len(it)} interactions, {data.n_users} users, {data.n_items} items, "
            f"{ties:.0%} of consecutive same-user steps tied in time")


def write_csv(data: TrainingData, path: str) -> None:
    it = data.interactions
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP"])
        for u, i, t in zip(data.user_ids[it.user], data.item_ids[it.item], it.timestamp):
            w.writerow([u, i, int(t)])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", help="folder (under build/) to write the four sets to as CSV")
    args = ap.parse_args(argv)
    for name in SETS:
        data = load_set(name, args.seed)
        print(f"{name}: {describe(data)}")
        if args.write:
            os.makedirs(args.write, exist_ok=True)
            write_csv(data, os.path.join(args.write, f"{name}.csv"))


if __name__ == "__main__":
    main()
