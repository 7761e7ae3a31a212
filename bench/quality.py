"""Recipe quality benchmark: our recipes and peer libraries on the same splits (EVALUATION.md).

    .venv/bin/python bench/quality.py [--data ratings.csv] [--seeds 5] [--methods NAME ...]
        [--hp NAME:key=value ...] [--allow-repeats]

Every method of `METHODS` (or `--methods`) is fitted on the training part of the same seeded split
(`chalicelib.algorithms.evaluation.split_interactions`) and scored on the same evaluation users
with the same metrics; the table shows mean ± std over the seeds and the fit time. A name that is
not a peer below is looked up in the recipe registry, so adding a recipe to the benchmark is adding
its name to `METHODS` (a registered recipe that does not import yet is skipped with a note).

Peers (implicit 0.7.3): ALS folds the evaluation users' histories in with `recalculate_user=True`.
implicit's BPR has no `recalculate_user`, so its evaluation users are folded in here: their
vectors are fitted to their histories by the BPR objective with the item factors and biases held
fixed (sampled pairs, gradient ascent); they are never trained on. History items are excluded from
every list unless `--allow-repeats`.
"""
from __future__ import annotations

import os

# implicit's own threads do the work; nested BLAS threads only slow 2 cores down
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from chalicelib.algorithms.base import USER_PERSONALIZATION  # noqa: E402
from chalicelib.algorithms.data import read_interactions_csv  # noqa: E402
from chalicelib.algorithms.evaluate import format_table, summarize  # noqa: E402
from chalicelib.algorithms.evaluation import (diagnostics, evaluate, ranking_metrics,  # noqa: E402
                                              split_interactions, _drop)

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    "shared", "datasets", "ml-latest-small", "ratings.csv")
METHODS = ["aws-popularity-count", "aws-sims", "implicit-als", "implicit-bpr",
           # today's catalogue (POPULAR_ITEMS and PERSONALIZED_RANKING are scored by the protocol
           # of their type, shown in the label)
           "aws-user-personalization", "aws-user-personalization-v2", "aws-personalized-ranking-v2",
           "aws-similar-items", "aws-trending-now"]
THREADS = max(1, os.cpu_count() or 1)


def _user_items(split):
    """Training users x items confidence matrix (interaction counts) for implicit."""
    it = split.train.interactions
    m = sp.csr_matrix((np.ones(len(it), np.float32), (it.user, it.item)),
                      shape=(split.train.n_users, split.train.n_items))
    m.sum_duplicates()
    return m


def _history_rows(split):
    rows = np.repeat(np.arange(split.users.size), [h.items.size for h in split.histories])
    cols = np.concatenate([h.items for h in split.histories])
    m = sp.csr_matrix((np.ones(cols.size, np.float32), (rows, cols)),
                      shape=(split.users.size, split.train.n_items))
    m.sum_duplicates()
    return m


class ImplicitALS:
    label = "implicit-als"

    def fit(self, split, seed):
        from implicit.cpu.als import AlternatingLeastSquares
        self.model = AlternatingLeastSquares(factors=64, regularization=0.05, iterations=15,
                                             random_state=seed, num_threads=THREADS)
        self.model.fit(_user_items(split), show_progress=False)

    def lists(self, split, allow_repeats):
        ids, _ = self.model.recommend(split.users, _history_rows(split), N=25,
                                      filter_already_liked_items=not allow_repeats,
                                      recalculate_user=True)
        return ids


class ImplicitBPR:
    label = "implicit-bpr"
    fold_in_steps, fold_in_pairs, fold_in_lr = 200, 64, 0.05

    def fit(self, split, seed):
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        self.seed = seed
        self.reg = 0.01
        self.model = BayesianPersonalizedRanking(factors=64, learning_rate=0.01, regularization=self.reg,
                                                 iterations=100, random_state=seed, num_threads=THREADS)
        self.model.fit(_user_items(split), show_progress=False)

    def fold_in(self, split):
        """User vectors for the evaluation users from their histories, item side fixed."""
        V = np.asarray(self.model.item_factors, np.float64)   # last column: item bias
        vecs, bias = V[:, :-1], V[:, -1]
        rng = np.random.default_rng([self.seed, 3])
        b, f = split.users.size, vecs.shape[1]
        U = np.zeros((b, f))
        lens = np.array([h.items.size for h in split.histories])
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
        flat = np.concatenate([h.items for h in split.histories])
        for _ in range(self.fold_in_steps):
            pos = flat[starts[:, None] + (rng.random((b, self.fold_in_pairs)) * lens[:, None]).astype(int)]
            neg = rng.integers(0, vecs.shape[0], size=(b, self.fold_in_pairs))
            diff = vecs[pos] - vecs[neg]                                   # [b, P, f]
            x = np.einsum("bpf,bf->bp", diff, U) + bias[pos] - bias[neg]
            g = (1.0 / (1.0 + np.exp(x)))[:, :, None] * diff               # d log sigma(x) / dU
            U += self.fold_in_lr * (g.mean(axis=1) - self.reg * U)
        return U, vecs, bias

    def lists(self, split, allow_repeats):
        U, vecs, bias = self.fold_in(split)
        scores = U @ vecs.T + bias[None, :]
        if not allow_repeats:
            for r, h in enumerate(split.histories):
                scores[r, h.items] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :25]
        return np.where(np.isfinite(np.take_along_axis(scores, top, axis=1)), top, -1)


PEERS = {"implicit-als": ImplicitALS, "implicit-bpr": ImplicitBPR}


def run_peer(peer_cls, split, seed, allow_repeats):
    peer = peer_cls()
    t0 = time.perf_counter()
    peer.fit(split, seed)
    fit_s = time.perf_counter() - t0
    banned = [np.zeros(0, np.int32)] * split.users.size if allow_repeats else [h.items for h in split.histories]
    lists = _drop(np.asarray(peer.lists(split, allow_repeats)), banned, 25)
    metrics = ranking_metrics(lists, split.targets, split.n_catalogue)
    metrics.update(diagnostics(split))
    return metrics, fit_s


def parse_hp(items):
    out = {}
    for item in items or ():
        name, sep, kv = item.partition(":")
        key, sep2, value = kv.partition("=")
        if not (sep and sep2 and key):
            raise SystemExit(f"--hp expects NAME:key=value, got {item!r}")
        out.setdefault(name, {})[key] = value
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--methods", nargs="+", default=METHODS)
    ap.add_argument("--hp", nargs="*", default=[], metavar="NAME:key=value")
    ap.add_argument("--allow-repeats", action="store_true")
    args = ap.parse_args(argv)
    hps = parse_hp(args.hp)

    data = read_interactions_csv(args.data)
    splits = [split_interactions(data, s) for s in range(args.seeds)]
    print(f"{os.path.basename(args.data)}: {len(data.interactions)} interactions, {data.n_users} users, "
          f"{data.n_items} items; {args.seeds} seeds, {splits[0].users.size} evaluation users each; "
          f"history items {'allowed' if args.allow_repeats else 'excluded'}; {THREADS} threads for peers")
    rows = {}
    for name in args.methods:
        runs, label = [], name
        for seed, split in enumerate(splits):
            if name in PEERS:
                metrics, fit_s = run_peer(PEERS[name], split, seed, args.allow_repeats)
            else:
                try:
                    metrics, fit_s, model = evaluate(name, data, hps.get(name, {}), seed, split=split,
                                                     allow_repeats=args.allow_repeats)
                except ValueError as e:
                    print(f"skipped {name}: {e}")
                    break
                if model.recipe_type != USER_PERSONALIZATION:   # scored by its own protocol
                    label = f"{name} [{model.recipe_type}]"
            metrics["fit_seconds"] = fit_s
            runs.append(metrics)
            print(f"  {name} seed {seed}: NDCG@10 {metrics['normalized_discounted_cumulative_gain_at_10']:.4f} "
                  f"fit {fit_s:.2f}s", flush=True)
        if runs:
            rows[label] = summarize(runs)
    print()
    print(format_table(rows))


if __name__ == "__main__":
    main()
