"""Issue 18's quality table: every USER_PERSONALIZATION recipe, AutoML's pick and the peers on the
four development sets of `bench/order_free.py` (../shared/EVALUATION.md protocol, no repeats).

    .venv/bin/python bench/quality_all.py [--sets ml,ml-free,beauty,beauty-free] [--seeds 0,1]
        [--recipes aws-hrnn,...] [--json build/quality_all/run.json]
    .venv/bin/python bench/quality_all.py --aggregate build/quality_all/*.json

Per set and seed, on the same split (`split_interactions(data, seed)`):
- every recipe of `RECIPES` with its default hyperparameters (aws-hrnn-metadata only where the
  set has item metadata: MovieLens genres);
- AutoML: the trainer's own code (`chalicelib.training.selection.automl`) over the default list
  (`chalicelib.domain.recipes.AUTOML_RECIPES`) on the trainer's inner validation split
  (`selection.validation_split(split.train, seed + 1, 0.1)`, as `chalicelib.training.entry` makes it),
  by the trainer's default metric; the pick's held-out score is its row's (same split, same fit seed);
- popularity (aws-popularity-count), implicit ALS with its defaults (100 factors, regularization
  0.01, alpha 1), implicit ALS tuned on the same inner validation split over factors 64/128 x
  regularization 0.05/1 x alpha (confidence weight) 1/10/40 and refitted on the split's training
  users, implicit BPR with its defaults (evaluation users folded in as bench/hrnn_quality.py does);
- fit seconds (wall, the recipe's fit; ALS tuned: the grid search and the refit).
Then the validation-vs-held-out table: each AutoML candidate's validation score (the metric AutoML
ranks by) and its held-out score, per set averaged over seeds, with the Spearman rank correlation
over candidates per set and seed.
BLAS is single-threaded (OPENBLAS_NUM_THREADS=1) and implicit runs on one thread.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from order_free import SETS, SHARED, load_set  # noqa: E402

from chalicelib.algorithms.base import Metadata  # noqa: E402
from chalicelib.algorithms.evaluation import evaluate, evaluate_model, split_interactions  # noqa: E402
from chalicelib.domain import recipes as catalog  # noqa: E402
from chalicelib.training import selection  # noqa: E402

NDCG10 = "normalized_discounted_cumulative_gain_at_10"
RECIPES = ["aws-popularity-count", "aws-hrnn", "aws-hrnn-metadata", "aws-deepfm", "aws-ffnn",
           "aws-user-personalization", "aws-user-personalization-v2"]
CHOSEN = ("session_gap_seconds", "cooccurrence_alpha", "cooccurrence_weight", "neighbour_weight")   # what HRNN chose
ALS_GRID = {"factors": (64, 128), "regularization": (0.05, 1.0), "alpha": (1.0, 10.0, 40.0)}


def with_genres(data):
    """MovieLens sets: genres from movies.csv as categorical item metadata (bench/hrnn_quality.py)."""
    genres = {}
    with open(os.path.join(SHARED, "ml-latest-small", "movies.csv"), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            g = row["genres"]
            genres[row["movieId"]] = "" if g == "(no genres listed)" else g
    data.items = Metadata({"GENRES": np.array([genres.get(i, "") for i in data.item_ids])},
                          categorical=("GENRES",))
    return data


def als(train, seed, **kw):
    from hrnn_quality import ImplicitModel, fit_implicit  # noqa: F401 (adapter and matrix)
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    it = train.interactions
    m = sp.csr_matrix((np.ones(len(it), np.float32), (it.user, it.item)), shape=(train.n_users, train.n_items))
    m.data[:] = 1.0
    model = AlternatingLeastSquares(random_state=seed, num_threads=1, **kw)
    model.fit(m, show_progress=False)
    return ImplicitModel(train.item_ids, model, "recalculate")


def tuned_als(split, inner, seed):
    """Best grid point on the inner validation split (AutoML's metric), refitted on split.train."""
    best, best_v, trials = None, -1.0, []
    for values in itertools.product(*ALS_GRID.values()):
        kw = dict(zip(ALS_GRID, values))
        v = evaluate_model(als(inner.train, seed, **kw), inner)[selection.DEFAULT_METRIC]
        trials.append((kw, v))
        if v > best_v:
            best, best_v = kw, v
    return als(split.train, seed, **best), best


def run_set(name, seeds, recipes, log, save=lambda out: None):
    """{seed: {label: result}} of one set; `save(out)` after every seed (a long run keeps what
    it has)."""
    data = load_set(name)
    if name.startswith("ml"):
        data = with_genres(data)
    out = {}
    for seed in seeds:
        split = split_interactions(data, seed)
        inner = selection.validation_split(split.train, seed + 1, 0.1)
        res = {}
        for r in recipes:
            if r == "aws-hrnn-metadata" and data.items is None:
                continue
            m, secs, model = evaluate(r, data, {}, seed, split=split)
            info = getattr(model, "info", None) or {}
            res[r] = {"heldout": m, "fit_s": secs,
                      "chosen": {k: info[k] for k in CHOSEN if k in info}}
            log(f"{name} seed {seed} {r}: NDCG@10 {m[NDCG10]:.4f} ({secs:.1f}s) {res[r]['chosen']}")
        from hrnn_quality import fit_implicit
        for label, fit in (("implicit ALS default", lambda: als(split.train, seed)),
                           ("implicit BPR default", lambda: fit_implicit("bpr", split.train, seed))):
            t0 = time.perf_counter()
            model = fit()
            secs = time.perf_counter() - t0
            res[label] = {"heldout": evaluate_model(model, split), "fit_s": secs}
            log(f"{name} seed {seed} {label}: NDCG@10 {res[label]['heldout'][NDCG10]:.4f} ({secs:.1f}s)")
        t0 = time.perf_counter()
        model, kw = tuned_als(split, inner, seed)
        secs = time.perf_counter() - t0
        res["implicit ALS tuned"] = {"heldout": evaluate_model(model, split), "fit_s": secs, "chosen": kw}
        log(f"{name} seed {seed} ALS tuned {kw}: NDCG@10 {res['implicit ALS tuned']['heldout'][NDCG10]:.4f}")
        cands = [selection.Candidate(r, catalog.recipe_arn(r)) for r in catalog.AUTOML_RECIPES]
        t0 = time.perf_counter()
        chosen, report = selection.automl(cands, inner, selection.DEFAULT_METRIC, seed)
        automl_s = time.perf_counter() - t0
        validation = {e["recipe"]: e["validation"] for e in report if "validation" in e}
        for r in validation:
            if r not in res:   # a candidate outside RECIPES: its held-out score too
                m, secs, _ = evaluate(r, data, {}, seed, split=split)
                res[r] = {"heldout": m, "fit_s": secs}
        res["AutoML pick"] = dict(res[chosen.recipe], pick=chosen.recipe, selection_s=automl_s)
        log(f"{name} seed {seed} AutoML picked {chosen.recipe}: NDCG@10 {res['AutoML pick']['heldout'][NDCG10]:.4f}")
        res["_validation"] = validation
        out[str(seed)] = res
        save(out)
    return out


def spearman(a, b):
    from scipy.stats import spearmanr
    if len(a) < 2 or len(set(a)) < 2 or len(set(b)) < 2:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def add_ndcg_pick(per_seed):
    """AutoML's choice had the solution asked for metricName NDCG@10: `selection.automl_choice`
    over the same validation entries (no refit), as the row "AutoML pick (NDCG@10)"."""
    for res in per_seed.values():
        names = list(res["_validation"])
        cands = [selection.Candidate(r, catalog.recipe_arn(r)) for r in names]
        entries = [{"recipe": r, "validation": res["_validation"][r]} for r in names]
        chosen, _ = selection.automl_choice(cands, entries, NDCG10)
        res["AutoML pick (NDCG@10)"] = dict(res[chosen.recipe], pick=chosen.recipe)


def print_tables(results):
    metric = selection.DEFAULT_METRIC
    for name, per_seed in results.items():
        add_ndcg_pick(per_seed)
        seeds = list(per_seed)
        labels = [k for k in per_seed[seeds[0]] if not k.startswith("_")]
        print(f"\n{name}: {len(seeds)} seeds {seeds}, "
              f"{int(per_seed[seeds[0]][labels[0]]['heldout']['_num_evaluation_users'])} evaluation users, "
              "NDCG@10 / precision@25 mean ± std, fit s")
        print("| method | NDCG@10 | P@25 | fit s |")
        print("|---|---|---|---|")
        for lab in labels:
            v = np.array([per_seed[s][lab]["heldout"][NDCG10] for s in seeds])
            p = np.array([per_seed[s][lab]["heldout"]["precision_at_25"] for s in seeds])
            f = np.array([per_seed[s][lab]["fit_s"] for s in seeds])
            extra = ""
            if lab.startswith("AutoML pick"):
                extra = " (" + ", ".join(per_seed[s][lab]["pick"] for s in seeds) + ")"
            if lab == "implicit ALS tuned":
                extra = " (" + "; ".join(str(per_seed[s][lab]["chosen"]) for s in seeds) + ")"
            print(f"| {lab}{extra} | {v.mean():.4f} ± {v.std():.4f} | {p.mean():.4f} ± {p.std():.4f} | {f.mean():.1f} |")
        mean = lambda lab: float(np.mean([per_seed[s][lab]["heldout"][NDCG10] for s in seeds]))  # noqa: E731
        if "aws-hrnn" in labels:
            print(f"\ntargets ({name}, NDCG@10 means): AutoML pick / ALS tuned "
                  f"{mean('AutoML pick') / mean('implicit ALS tuned'):.3f} (by NDCG@10: "
                  f"{mean('AutoML pick (NDCG@10)') / mean('implicit ALS tuned'):.3f}), aws-hrnn / ALS default "
                  f"{mean('aws-hrnn') / mean('implicit ALS default'):.3f}, aws-hrnn / popularity "
                  f"{mean('aws-hrnn') / mean('aws-popularity-count'):.2f}")
            chosen = [per_seed[s]["aws-hrnn"].get("chosen") for s in seeds]
            print("aws-hrnn chose (session gap, co-occurrence alpha, weight, neighbour weight) per seed: " + "; ".join(
                f"{c.get('session_gap_seconds')}, {c.get('cooccurrence_alpha')}, {c.get('cooccurrence_weight')}, {c.get('neighbour_weight')}"
                for c in chosen if c))
        print(f"\nvalidation vs held-out ({metric}), {name}:")
        print("| candidate | validation P@25 | held-out P@25 | validation NDCG@10 | held-out NDCG@10 |")
        print("|---|---|---|---|---|")
        cands = list(per_seed[seeds[0]]["_validation"])
        for c in cands:
            cells = [np.mean([per_seed[s][part][c][m] if part == "_validation" else per_seed[s][c]["heldout"][m]
                              for s in seeds]) for m in (metric, NDCG10) for part in ("_validation", "heldout")]
            print(f"| {c} | " + " | ".join(f"{x:.4f}" for x in cells) + " |")
        for m in (metric, NDCG10):
            rhos = [spearman([per_seed[s]["_validation"][c][m] for c in cands],
                             [per_seed[s][c]["heldout"][m] for c in cands]) for s in seeds]
            print(f"Spearman rank correlation per seed ({m}): " + ", ".join(f"{r:.2f}" for r in rhos))


def print_summary(results):
    """One table over the sets: NDCG@10 mean ± std per method (the README's recipes table)."""
    names = list(results)
    labels = []
    for per_seed in results.values():
        for lab in next(iter(per_seed.values())):
            if not lab.startswith("_") and lab not in labels:
                labels.append(lab)
    print("\nNDCG@10 mean ± std over the seeds of each set (" + "; ".join(
        f"{n}: seeds {', '.join(results[n])}" for n in names) + ")")
    print("| method | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for lab in labels:
        cells = []
        for n in names:
            v = [r[lab]["heldout"][NDCG10] for r in results[n].values() if lab in r]
            cells.append(f"{np.mean(v):.4f} ± {np.std(v):.4f}" if v else "-")
        print(f"| {lab} | " + " | ".join(cells) + " |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--json")
    ap.add_argument("--aggregate", nargs="+")
    args = ap.parse_args(argv)
    if args.aggregate:
        results = {}
        for path in args.aggregate:
            for name, per_seed in json.load(open(path)).items():
                results.setdefault(name, {}).update(per_seed)
        print_tables(results)
        print_summary(results)
        return
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {}
    def save(name, out):
        results[name] = out
        if args.json:
            os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
            with open(args.json, "w") as f:
                json.dump(results, f)
    for name in args.sets.split(","):
        results[name] = run_set(name, seeds, args.recipes.split(","), log, lambda out: save(name, out))
    print_tables(results)
    print_summary(results)


if __name__ == "__main__":
    main()
