"""Approximate top-k for large catalogues (issue 15 item 2): an HNSW graph (hnswlib) over the
item table a model scores with, built at training time and saved with the model.

A model whose score is `user vector . item row + item bias` (HRNN's output side) gets an index
when its catalogue has at least `MIN_ITEMS` items: the graph is built over the inner product of
[row, bias] with [vector, 1], so its neighbours are the top scores. Below the threshold exact
scoring (one matrix-vector product and argpartition) is as fast and exact.

`bench/ann_recall.py` compares hnswlib with faiss-cpu and exact scoring at 1 million items
(recall@25, latency). hnswlib is the chosen library: on the registry it is an sdist (built with
the machine's compiler into the project's venv, which the ministack target's functions run
in); the Lambda-platform packages of the LocalStack/AWS targets hold only binary wheels, so
there `hnswlib` is absent, `build` returns None and models score exactly.

Answers: without a filter the index is asked for more neighbours than wanted (the user's
history and whatever else the caller excludes drop out), four times more each time until `n`
survive; with a filter (an allowed mask: a request filter, items never seen in training) the
graph walk itself skips what the mask forbids (hnswlib's filter), so deep neighbours are not
lost; exact scoring answers when the index would be asked for more than `MAX_SHARE` of the
catalogue, or the mask keeps fewer than a hundredth of it. Scores are computed
exactly for the neighbours found, so they equal the exact path's for the same items.
May import numpy only (and hnswlib when installed).
"""
from __future__ import annotations

import os
import tempfile
from typing import Optional

import numpy as np

MIN_ITEMS = 200_000       # catalogues at least this large get an index
M = 16                    # graph degree
EF_CONSTRUCTION = 100
EF_SEARCH = 200           # at least this many candidates examined per query
MAX_SHARE = 0.1           # asked for more than this share of the catalogue, score exactly


def available() -> bool:
    try:
        import hnswlib  # noqa: F401
    except ImportError:
        return False
    return True


class Index:
    """An HNSW graph over [row, bias] (inner product), labels = item indices."""

    def __init__(self, graph, n_items: int, dim: int):
        self.graph, self.n_items, self.dim = graph, n_items, dim
        graph.set_num_threads(1)     # one thread in the serving path

    def neighbours(self, vector: np.ndarray, k: int, allowed: Optional[np.ndarray] = None) -> np.ndarray:
        """The `k` items with the highest `vector . row + bias` the graph finds (best first),
        among `allowed` (a mask, checked while the graph is walked) when given."""
        k = min(k, self.n_items)
        self.graph.set_ef(max(EF_SEARCH, 2 * k))   # deep neighbours need a wider search
        query = np.append(vector, 1.0).astype(np.float32)[None, :]
        if allowed is None:
            labels, _ = self.graph.knn_query(query, k=k)
        else:
            labels, _ = self.graph.knn_query(query, k=k, filter=lambda label: bool(allowed[label]))
        return labels[0].astype(np.int64)

    def to_array(self) -> np.ndarray:
        """The graph as bytes (uint8), for the model's arrays."""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "index.bin")
            self.graph.save_index(path)
            with open(path, "rb") as f:
                return np.frombuffer(f.read(), np.uint8)

    @classmethod
    def from_array(cls, data: np.ndarray, n_items: int, dim: int) -> Optional["Index"]:
        """The graph saved by `to_array` (None without hnswlib: the model scores exactly)."""
        if not available():
            return None
        import hnswlib
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "index.bin")
            np.asarray(data, np.uint8).tofile(path)
            graph = hnswlib.Index(space="ip", dim=dim + 1)
            graph.load_index(path, max_elements=n_items)
        return cls(graph, n_items, dim)


def build(table: np.ndarray, bias: np.ndarray, min_items: Optional[int] = None) -> Optional[Index]:
    """The index of an item table (`[I, H]` rows and `[I]` biases), or None below the threshold
    (`min_items`, default `MIN_ITEMS`) or without hnswlib. Uses every CPU while building."""
    n, dim = table.shape
    if n < (MIN_ITEMS if min_items is None else min_items) or not available():
        return None
    import hnswlib
    graph = hnswlib.Index(space="ip", dim=dim + 1)
    graph.init_index(max_elements=n, M=M, ef_construction=EF_CONSTRUCTION, random_seed=0)
    data = np.hstack([np.asarray(table, np.float32), np.asarray(bias, np.float32)[:, None]])
    graph.add_items(data, np.arange(n), num_threads=os.cpu_count() or 1)
    return Index(graph, n, dim)


def top(index: Index, table: np.ndarray, bias: np.ndarray, vector: np.ndarray, n: int,
        allowed: Optional[np.ndarray] = None, exclude: Optional[np.ndarray] = None):
    """`(items, scores)`: the best `n` items for `vector` among `allowed` (a mask; None: all)
    less `exclude` (indices), best first; fewer only when the catalogue has fewer. Scores are
    exact (`vector . row + bias`)."""
    excluded = np.zeros(0, np.int64) if exclude is None else np.unique(np.asarray(exclude, np.int64))
    excluded = excluded[(excluded >= 0) & (excluded < index.n_items)]
    found = np.zeros(0, np.int64)
    if allowed is not None:
        # a filter: the graph walks only allowed items (the exclusions folded in), unless it
        # keeps so few that the walk would visit most of the graph
        mask = allowed.copy()
        mask[excluded] = False
        if mask.sum() >= max(n, index.n_items * MAX_SHARE / 10):
            try:
                found = index.neighbours(vector, n, mask)
            except RuntimeError:      # fewer than n reachable: exactly below
                found = np.zeros(0, np.int64)
    else:
        k = n + excluded.size
        while k <= index.n_items * MAX_SHARE:
            found = index.neighbours(vector, k)
            found = found[~np.isin(found, excluded)]
            if found.size >= n:
                break
            k *= 4
    if found.size < n:      # the graph cannot give n (or would visit most of it): exactly
        scores = np.asarray(table, np.float32) @ vector + bias
        mask = np.ones(index.n_items, bool) if allowed is None else allowed.copy()
        mask[excluded] = False
        scores = np.where(mask, scores, -np.inf)
        order = np.argsort(-scores, kind="stable")[:n]
        order = order[np.isfinite(scores[order])]
        return order, scores[order].astype(np.float64)
    scores = (np.asarray(table[found], np.float32) @ vector + bias[found]).astype(np.float64)
    order = np.argsort(-scores, kind="stable")[:max(n, 0)]
    return found[order], scores[order]
