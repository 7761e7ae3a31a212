"""Approximate nearest neighbours for large catalogues (issue 15 item 2): hnswlib and faiss-cpu
against exact scoring, in one run.

    .venv/bin/python bench/ann_recall.py [--items 1000000] [--dim 64] [--queries 200]
        [--libraries exact,hnswlib,faiss,runtime] [--shares 0.01,0.1,0.5]
        [--cluster-shares 0.1,0.3] [--cache DIR]

`--cache DIR` keeps the runtime's index between runs of the same sizes (a build of 1 million
items takes minutes on two cores).

The item table is what an HRNN model scores with: `--items` output embeddings of `--dim`
units plus a bias per item (score = user vector . embedding + bias), drawn as a mixture of
`--clusters` Gaussian clusters (trained embeddings are clustered, not uniform noise); queries
are user vectors near random clusters. Rows:

- exact     `table @ q + bias` and argpartition, one BLAS thread (the runtime's exact path);
- hnswlib   an HNSW graph (`M`, `ef_construction`) over the inner product of [embedding, bias]
            and [q, 1]; `ef` at query time;
- faiss     faiss-cpu's IndexHNSWFlat with METRIC_INNER_PRODUCT, same M / efConstruction / efSearch;
- runtime   the project's index (`chalicelib.algorithms.ann`, the chosen library, Euclidean
            graph over [embedding, bias, sqrt(R^2 - norm^2)]) through `ann.top`, as HRNN's
            `recommend` serves a filtered GetRecommendations: unfiltered, and with an
            allowed-items mask per `--shares` (a random share of the catalogue) and per
            `--cluster-shares` (the items of a random share of the clusters: most users then
            want items far from the allowed ones); each beside exact scoring with the same mask, whose answers are the
            truth. `answered` counts the queries each path of `ann.top` answered: g = the
            graph's neighbours then the allowed, w = the graph walked with the mask, x = exact
            scoring of the allowed rows.

Recall@25 is the share of the exact top 25 the row returns, mean over the queries; latency is
wall milliseconds per single query (p50, p99); build seconds with all threads.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def table(items, dim, clusters, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    which = rng.integers(0, clusters, items)
    emb = centres[which] + 0.5 * rng.standard_normal((items, dim)).astype(np.float32)
    bias = (0.3 * rng.standard_normal(items)).astype(np.float32)
    return emb, bias, centres, which


def queries(centres, n, seed=1):
    rng = np.random.default_rng(seed)
    dim = centres.shape[1]
    return (centres[rng.integers(0, centres.shape[0], n)]
            + 0.5 * rng.standard_normal((n, dim))).astype(np.float32)


def exact_top(emb, bias, q, k, allowed=None):
    from chalicelib.algorithms.base import top_n
    from chalicelib.algorithms.blas import single_threaded_blas
    with single_threaded_blas():
        s = emb @ q + bias
    if allowed is not None:
        s = np.where(allowed, s, -np.inf)
    return top_n(s[None, :], k)[0][0]


def per_query(fn, qs):
    out, times = [], []
    for q in qs:
        t = time.perf_counter()
        out.append(fn(q))
        times.append(time.perf_counter() - t)
    a = np.asarray(times) * 1000
    return out, float(np.percentile(a, 50)), float(np.percentile(a, 99))


def recall(found, truth):
    return float(np.mean([len(set(map(int, f)) & set(map(int, t))) / len(t)
                          for f, t in zip(found, truth)]))


def runtime_index(emb, bias, cache, tag):
    """`ann.build` of the table (all threads) and its seconds, or the one `cache` keeps."""
    from chalicelib.algorithms import ann
    path = os.path.join(cache, f"ann-{tag}.npy") if cache else None
    if path and os.path.exists(path):
        print(f"# runtime index read from {path} (build s 0.0: built by an earlier run)")
        return ann.Index.from_array(np.load(path), *emb.shape), 0.0
    t = time.perf_counter()
    index = ann.build(emb, bias, min_items=0)
    build = time.perf_counter() - t
    if path:
        os.makedirs(cache, exist_ok=True)
        np.save(path, index.to_array())
    return index, build


def answered_by(ann, index):
    """A counter of the path each `ann.top` call answered by (see the module doc), and a
    function that resets it and returns the last counts as text."""
    counts = {"g": 0, "w": 0}
    from_graph, neighbours = ann._from_graph, index.neighbours

    def count_graph(*a, **kw):
        found = from_graph(*a, **kw)
        counts["g"] += found is not None
        return found

    def count_walk(vector, k, allowed=None, **kw):
        found = neighbours(vector, k, allowed, **kw)
        counts["w"] += allowed is not None      # a walk that raises answers nothing
        return found
    ann._from_graph, index.neighbours = count_graph, count_walk

    def take(queries):
        # the graph's answers and the walks' are counted; every other query scored exactly
        g, w = counts["g"], counts["w"]
        counts.update(g=0, w=0)
        return f"g{g} w{w} x{queries - g - w}"
    return take


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=25)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=100)
    ap.add_argument("--ef", default="50,100,200")
    ap.add_argument("--libraries", default="exact,hnswlib,faiss,runtime")
    ap.add_argument("--shares", default="0.01,0.1,0.5", help="allowed shares of the filter rows")
    ap.add_argument("--cluster-shares", default="0.1,0.3", help="shares of the clusters kept")
    ap.add_argument("--cache", default="", help="a directory keeping the runtime's index")
    args = ap.parse_args(argv)
    libs = args.libraries.split(",")
    emb, bias, centres, which = table(args.items, args.dim, args.clusters)
    qs = queries(centres, args.queries)
    print(f"# {args.items:,} items x {args.dim} units + bias, {args.queries} queries, k={args.k}, "
          f"M={args.m}, ef_construction={args.ef_construction}; {os.cpu_count()} CPUs")
    truth, p50, p99 = per_query(lambda q: exact_top(emb, bias, q, args.k), qs)
    rows = [("exact", "unfiltered", 0.0, 1.0, p50, p99, p50, "")]
    data = np.hstack([emb, bias[:, None]])          # score = [q, 1] . [e, b]
    aug = lambda q: np.append(q, np.float32(1.0))   # noqa: E731
    if "hnswlib" in libs:
        import hnswlib
        t = time.perf_counter()
        index = hnswlib.Index(space="ip", dim=args.dim + 1)
        index.init_index(max_elements=args.items, M=args.m, ef_construction=args.ef_construction,
                         random_seed=0)
        index.add_items(data, np.arange(args.items), num_threads=os.cpu_count())
        build = time.perf_counter() - t
        index.set_num_threads(1)
        for ef in map(int, args.ef.split(",")):
            index.set_ef(max(ef, args.k))
            found, p50, p99 = per_query(lambda q: index.knn_query(aug(q), k=args.k)[0][0], qs)
            rows.append(("hnswlib", f"ef={ef}", build, recall(found, truth), p50, p99, rows[0][4], ""))
    if "faiss" in libs:
        import faiss
        faiss.omp_set_num_threads(os.cpu_count())
        t = time.perf_counter()
        index = faiss.IndexHNSWFlat(args.dim + 1, args.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = args.ef_construction
        index.add(data)
        build = time.perf_counter() - t
        faiss.omp_set_num_threads(1)
        for ef in map(int, args.ef.split(",")):
            index.hnsw.efSearch = max(ef, args.k)
            found, p50, p99 = per_query(lambda q: index.search(aug(q)[None, :], args.k)[1][0], qs)
            rows.append(("faiss", f"efSearch={ef}", build, recall(found, truth), p50, p99, rows[0][4], ""))
    if "runtime" in libs:
        from chalicelib.algorithms import ann
        index, build = runtime_index(emb, bias, args.cache,
                                     f"{args.items}x{args.dim}-c{args.clusters}-M{ann.M}-ef{ann.EF_CONSTRUCTION}")
        took = answered_by(ann, index)
        found, p50, p99 = per_query(lambda q: ann.top(index, emb, bias, q, args.k)[0], qs)
        rows.append(("runtime", "unfiltered", build, recall(found, truth), p50, p99, rows[0][4],
                     took(len(qs))))
        rng = np.random.default_rng(2)
        masks = [(f"filter {float(s):g}", rng.random(args.items) < float(s)) for s in args.shares.split(",")]
        masks += [(f"clusters {float(s):g}",
                   np.isin(which, rng.permutation(args.clusters)[:int(args.clusters * float(s))]))
                  for s in args.cluster_shares.split(",")]
        for setting, allowed in masks:
            truth_f, p50e, p99e = per_query(lambda q: exact_top(emb, bias, q, args.k, allowed), qs)
            rows.append(("exact", setting, 0.0, 1.0, p50e, p99e, p50e, ""))
            found, p50, p99 = per_query(lambda q: ann.top(index, emb, bias, q, args.k, allowed)[0], qs)
            assert all(len(f) == args.k and allowed[f].all() for f in found), setting
            rows.append(("runtime", setting, build, recall(found, truth_f), p50, p99, p50e,
                         took(len(qs))))
    print(f"{'index':10} {'setting':14} {'build s':>8} {'recall@' + str(args.k):>10} {'p50 ms':>8} "
          f"{'p99 ms':>8} {'x exact':>8} answered")
    for name, setting, build, rec, p50, p99, base, paths in rows:
        print(f"{name:10} {setting:14} {build:8.1f} {rec:10.3f} {p50:8.3f} {p99:8.3f} {p50 / base:8.3f} {paths}")


if __name__ == "__main__":
    main()
