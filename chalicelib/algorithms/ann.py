"""Approximate top-k for large catalogues (issue 15 item 2): an HNSW graph (hnswlib) over the
item table a model scores with, built at training time and saved with the model.

A model whose score is `user vector . item row + item bias` (HRNN's output side) gets an index
when its catalogue has at least `MIN_ITEMS` items. Below the threshold exact scoring (one
matrix-vector product and argpartition) is as fast and exact. The graph is built in Euclidean
space over `[row, bias, sqrt(R^2 - |[row, bias]|^2)]` (R the largest norm) and queried with
`[vector, 1, 0]`: the distance is then `R^2 + |vector|^2 + 1 - 2 * score`, so the nearest items
are the top scores. A graph over the inner product itself was measured worse
(`bench/ann_recall.py`, 1 million items of 64 units): it links an item to the long rows in its
direction, so rows of small norm are barely reachable, and filtered queries, whose answers lie
deeper in the ranking, stopped near recall@25 0.75 at a tenth of the catalogue whatever the
search width (ef 200 to 1,600); the Euclidean graph gives 0.999 there.

`bench/ann_recall.py` compares hnswlib with faiss-cpu and exact scoring at 1 million items
(recall@25, latency). hnswlib is the chosen library: on the registry it is an sdist (built with
the machine's compiler into the project's venv, which the ministack target's functions run
in); the Lambda-platform packages of the LocalStack/AWS targets hold only binary wheels, so
there `hnswlib` is absent, `build` returns None and models score exactly.

Answers (`top`; recall@25 against exact scoring, p50, at 1 million items of 64 units on a loaded
2-CPU machine, where exact scoring takes 25-45 ms):
- without a filter the graph is asked for more neighbours than wanted (the user's history and
  whatever else the caller excludes drop out), four times more each time until `n` survive
  (0.992, 0.4 ms);
- with a filter (an allowed mask: a request filter, items never seen in training) that keeps at
  most `EXACT_CELLS` numbers of the table (rows x (units + 1): 46,000 rows of 64 units), the
  allowed rows are scored exactly (1.0; 1.2 ms at a hundredth of the catalogue);
- a wider filter asks the graph for `ASK` times as many neighbours as the allowed share says
  hold `n` allowed ones (25 at a tenth: 525) and keeps the allowed (a tenth: 0.998, 0.5 ms;
  half: 0.993, 0.4 ms). Below about a twentieth this loses the deep ones (a thirtieth: 0.93),
  hence the exact rows there;
- when those are too few (a filter that keeps items far from the user, such as a tenth of the
  item clusters) the allowed rows are scored exactly up to `WALK_CELLS` (a tenth: 0.995,
  13 ms), and above it the graph is walked with the mask itself (hnswlib's filter, which calls
  back into Python per visited item; three tenths: 0.95, 4 ms); exact scoring of the allowed
  rows answers what the walk cannot.
Scores are computed exactly for the neighbours found, so they equal the exact path's for the
same items. May import numpy and `algorithms.blas` only (and hnswlib when installed).
"""
from __future__ import annotations

import os
import tempfile
from typing import Optional

import numpy as np

from chalicelib.algorithms.blas import single_threaded_blas

MIN_ITEMS = 200_000       # catalogues at least this large get an index
M = 16                    # graph degree
EF_CONSTRUCTION = 100
EF_SEARCH = 400           # at least this many candidates examined per query
WALK_EF = 800             # candidates of a walk with a filter's mask
WALK_CELLS = 7_000_000    # a filter the neighbours do not serve is walked above this, else exact
MAX_SHARE = 0.1           # asked for more than this share of the catalogue, score exactly
EXACT_CELLS = 3_000_000   # a filter keeping at most this many table numbers is scored exactly
ASK = 2.0                 # with a wider filter, neighbours asked per wanted / allowed share
FORMAT = np.frombuffer(b"HNSW-L2\x01", np.uint8)   # leads the saved graph (`to_array`)


def available() -> bool:
    try:
        import hnswlib  # noqa: F401
    except ImportError:
        return False
    return True


class Index:
    """An HNSW graph over `[row, bias, sqrt(R^2 - |[row, bias]|^2)]` (Euclidean), labels =
    item indices."""

    def __init__(self, graph, n_items: int, dim: int):
        self.graph, self.n_items, self.dim = graph, n_items, dim
        graph.set_num_threads(1)     # one thread in the serving path

    def neighbours(self, vector: np.ndarray, k: int, allowed: Optional[np.ndarray] = None,
                   ef: int = EF_SEARCH) -> np.ndarray:
        """The `k` items with the highest `vector . row + bias` the graph finds (best first),
        among `allowed` (a mask, checked while the graph is walked) when given; `ef`
        candidates at least."""
        k = min(k, self.n_items)
        self.graph.set_ef(max(ef, k))   # deep neighbours need a wider search
        query = np.concatenate([vector, [1.0, 0.0]]).astype(np.float32)[None, :]
        if allowed is None:
            labels, _ = self.graph.knn_query(query, k=k)
        else:
            labels, _ = self.graph.knn_query(query, k=k, filter=allowed.__getitem__)
        return labels[0].astype(np.int64)

    def to_array(self) -> np.ndarray:
        """The graph as bytes (uint8) after `FORMAT`, for the model's arrays."""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "index.bin")
            self.graph.save_index(path)
            with open(path, "rb") as f:
                return np.concatenate([FORMAT, np.frombuffer(f.read(), np.uint8)])

    @classmethod
    def from_array(cls, data: np.ndarray, n_items: int, dim: int) -> Optional["Index"]:
        """The graph saved by `to_array`; None without hnswlib, or for a graph saved before
        `FORMAT` (over the inner product): the model then scores exactly."""
        data = np.asarray(data, np.uint8)
        if not available() or not np.array_equal(data[:FORMAT.size], FORMAT):
            return None
        import hnswlib
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "index.bin")
            data[FORMAT.size:].tofile(path)
            graph = hnswlib.Index(space="l2", dim=dim + 2)
            graph.load_index(path, max_elements=n_items)
        return cls(graph, n_items, dim)


def build(table: np.ndarray, bias: np.ndarray, min_items: Optional[int] = None) -> Optional[Index]:
    """The index of an item table (`[I, H]` rows and `[I]` biases), or None below the threshold
    (`min_items`, default `MIN_ITEMS`) or without hnswlib. Uses every CPU while building."""
    n, dim = table.shape
    if n < (MIN_ITEMS if min_items is None else min_items) or not available():
        return None
    import hnswlib
    graph = hnswlib.Index(space="l2", dim=dim + 2)
    graph.init_index(max_elements=n, M=M, ef_construction=EF_CONSTRUCTION, random_seed=0)
    data = np.empty((n, dim + 2), np.float32)
    data[:, :dim], data[:, dim] = table, bias
    norms = np.einsum("ij,ij->i", data[:, :-1], data[:, :-1])
    data[:, -1] = np.sqrt(np.maximum(norms.max() - norms, 0.0))   # every row at norm R
    graph.add_items(data, np.arange(n), num_threads=os.cpu_count() or 1)
    return Index(graph, n, dim)


def _from_graph(index: Index, vector: np.ndarray, n: int, keep, ask: int,
                retries: Optional[int] = None):
    """The best `n` of the graph's `ask` neighbours that `keep` (labels -> mask) keeps, asking
    four times more (at most `retries` times; None: no limit) while fewer survive; None when
    they stay too few or the graph would be asked for more than `MAX_SHARE` of the catalogue."""
    tries = 0
    while ask <= index.n_items * MAX_SHARE and (retries is None or tries <= retries):
        found = index.neighbours(vector, ask)
        found = found[keep(found)]
        if found.size >= n:
            return found[:n]
        ask, tries = ask * 4, tries + 1
    return None


def _exact(table: np.ndarray, bias: np.ndarray, vector: np.ndarray, n: int,
           rows: Optional[np.ndarray] = None, drop: Optional[np.ndarray] = None):
    """`(items, scores)`: the best `n` of `rows` (None: all, less the indices `drop`) by exact
    scores, best first, in the table's own dtype (no copy of the table; a gather of `rows`)."""
    v = np.asarray(vector, table.dtype)
    with single_threaded_blas():
        scores = table @ v + bias if rows is None else np.take(table, rows, axis=0) @ v + bias[rows]
    if drop is not None:
        scores[drop] = -np.inf
    k = min(n, scores.shape[0])
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0)
    # one row in 1-D: `base.top_n`'s 2-D gathers cost more than a 25-row answer
    if k < scores.shape[0]:
        part = np.argpartition(-scores, k - 1)[:k]
        part = part[np.argsort(-scores[part], kind="stable")]
    else:      # all of `rows` (the graph's n): equal scores keep the graph's order
        part = np.argsort(-scores, kind="stable")
    part = part[np.isfinite(scores[part])]
    return (part if rows is None else rows[part]).astype(np.int64), scores[part].astype(np.float64)


def top(index: Index, table: np.ndarray, bias: np.ndarray, vector: np.ndarray, n: int,
        allowed: Optional[np.ndarray] = None, exclude: Optional[np.ndarray] = None):
    """`(items, scores)`: the best `n` items for `vector` among `allowed` (a mask; None: all)
    less `exclude` (indices), best first; fewer only when fewer qualify. Scores are
    exact (`vector . row + bias`)."""
    excluded = np.zeros(0, np.int64) if exclude is None else np.unique(np.asarray(exclude, np.int64))
    excluded = excluded[(excluded >= 0) & (excluded < index.n_items)]
    if n <= 0:
        return np.zeros(0, np.int64), np.zeros(0)
    if allowed is None:
        found = _from_graph(index, vector, n, lambda f: ~np.isin(f, excluded), n + excluded.size)
        if found is None:
            return _exact(table, bias, vector, n, drop=excluded)
    else:
        mask = np.array(allowed, bool)
        mask[excluded] = False
        count = int(np.count_nonzero(mask))
        found = None
        if count >= n and count * (index.dim + 1) > EXACT_CELLS:
            found = _from_graph(index, vector, n, mask.__getitem__,
                                int(n * ASK * index.n_items / count) + n, retries=0)
            if found is None and count * (index.dim + 1) > WALK_CELLS:   # far from the user
                try:
                    found = index.neighbours(vector, n, mask, ef=WALK_EF)
                except RuntimeError:  # fewer than n reachable
                    found = None
        if found is None:
            return _exact(table, bias, vector, n, np.flatnonzero(mask))
    return _exact(table, bias, vector, n, found)   # the graph's items, scored exactly
