"""Item neighbours from co-occurrence: the item-to-item part of the HRNN recipes' co-occurrence
component (hrnn.py, "Co-occurrence"; issue 18). A sparse `[I, I]` matrix S, each row cut to its
`NEIGHBOURS` largest entries (about I * 100, saved with the model); a history scores item j by
the sum of row i's entry j over the history's distinct items i.

Two ways to fill S, chosen by the catalogue's size:
- Item regression (up to `REGRESSION_MAX_ITEMS` items with `REGRESSION_MIN_USERS` users or more):
  each item's presence column regressed on all the other items' columns with an L2 penalty
  `REGRESSION_L2` and no self-weight, which has a closed form: with `P = (X'X + l2 I)^-1`,
  `S_ij = -P_ij / P_jj` (S_ii = 0). Unlike a cosine it discounts what a pair shares with the rest
  of the history, so items that come with everything stop looking like everyone's neighbour.
  One Cholesky factorisation and inverse of the `[I, I]` Gram matrix in float32: 6-6.4 s for
  5,714 items, 18-27 s for 12,101 (2 BLAS threads, a development script). Each row keeps its
  entries largest in absolute value (negative weights are information too). Development
  figures, NDCG@10 of S alone, seed 0: ml-latest-small order-free variant, items with 2+ users,
  0.3179 (top 100 by |S|; the full matrix 0.3098, top 100 by value 0.2862; full matrix at l2 20 /
  100: 0.2990 / 0.3080), where implicit ALS tuned on validation scored 0.27 (5-seed mean);
  full matrices over every item: amazon-beauty order-free 0.0829 at l2 50 (20: 0.0812, 200:
  0.0797) against 0.0686 for tuned ALS; the original MovieLens order preferred 200 (0.0765
  against 0.0736 at 50), where the network carries the order anyway.
- Shrunk cosines above that size, where the cubic solve would not fit a training's budget:
  `c_ij / (sqrt(n_i n_j) + NEIGHBOUR_SHRINK)`, `c_ij` the number of users who have both, `n_i`
  the users who have i (amazon-beauty order-free seed 0: shrink 0 0.0653, shrink 10 0.0736).
Counting pairs costs the sum over users of their squared number of items; beyond `MAX_PAIRS`
the component is left out (None), as on data where a few users hold most events.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import scipy.linalg.lapack as lapack
import scipy.sparse as sp

NEIGHBOURS = 100
NEIGHBOUR_SHRINK = 10.0
MAX_PAIRS = 200_000_000
REGRESSION_MAX_ITEMS = 12_500     # the float32 Gram matrix: 625 MB
REGRESSION_MIN_USERS = 2
REGRESSION_L2 = 50.0
_ROWS_PER_CUT = 1024              # rows ranked at once when cutting S to k per row


def presence(x) -> sp.csr_matrix:
    """`x` (users x items) as a float32 0/1 csr matrix."""
    x = sp.csr_matrix(x, dtype=np.float32)
    x.sum_duplicates()
    x.data[:] = 1.0
    return x


def item_neighbours(x, k: int = NEIGHBOURS, shrink: float = NEIGHBOUR_SHRINK,
                    max_regression_items: int = REGRESSION_MAX_ITEMS) -> Optional[sp.csr_matrix]:
    """`[I, I]` csr S of presence matrix `x` (users x items), each row cut to its `k` largest
    (module docstring): item regression when at most `max_regression_items` items have
    `REGRESSION_MIN_USERS` users, else shrunk cosines; None when counting the pairs would exceed
    `MAX_PAIRS`."""
    x = presence(x)
    lens = np.diff(x.indptr).astype(np.int64)
    if int((lens * lens).sum()) > MAX_PAIRS:
        return None
    users = np.asarray(x.sum(axis=0)).ravel()
    kept = np.flatnonzero(users >= REGRESSION_MIN_USERS)
    if kept.shape[0] <= max_regression_items:
        return item_regression(x, kept, k)
    return cosine_neighbours(x, users.astype(np.float64), k, shrink)


def item_regression(x: sp.csr_matrix, kept: np.ndarray, k: int = NEIGHBOURS,
                    l2: float = REGRESSION_L2) -> sp.csr_matrix:
    """S over the `kept` columns of presence matrix `x` (module docstring, "Item regression");
    the other items' rows and columns are empty."""
    n_items = x.shape[1]
    if kept.shape[0] < 2:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    xk = x[:, kept].tocsc()
    g = np.empty((kept.shape[0], kept.shape[0]), np.float32)
    xt = xk.T.tocsr()
    for c0 in range(0, kept.shape[0], _ROWS_PER_CUT):   # dense a block at a time: no sparse [K, K]
        g[:, c0:c0 + _ROWS_PER_CUT] = xt @ xk[:, c0:c0 + _ROWS_PER_CUT].toarray()
    g[np.diag_indices_from(g)] += np.float32(l2)
    c, info = lapack.spotrf(g, lower=1, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"item regression: Gram matrix not positive definite ({info})")
    p, info = lapack.spotri(c, lower=1, overwrite_c=1)    # the lower triangle of the inverse
    if info != 0:
        raise np.linalg.LinAlgError(f"item regression: inverse failed ({info})")
    for r0 in range(0, p.shape[0], _ROWS_PER_CUT):        # mirror it, a block at a time
        r1 = r0 + _ROWS_PER_CUT
        p[r0:r1, r1:] = p[r1:, r0:r1].T
        d = p[r0:r1, r0:r1]
        d[:] = np.tril(d) + np.tril(d, -1).T
    p /= -np.diag(p).copy()[None, :]
    np.fill_diagonal(p, 0.0)
    return _cut_rows(p, kept, n_items, k)


def _cut_rows(w: np.ndarray, kept: np.ndarray, n_items: int, k: int) -> sp.csr_matrix:
    """Dense `[K, K]` weights over `kept`, each row cut to its `k` entries largest in absolute
    value, as an `[n_items, n_items]` csr matrix."""
    k = min(k, w.shape[0] - 1)
    rows, cols, vals = [], [], []
    for r0 in range(0, w.shape[0], _ROWS_PER_CUT):
        block = w[r0:r0 + _ROWS_PER_CUT]
        top = np.argpartition(-np.abs(block), k - 1, axis=1)[:, :k]
        vals.append(np.take_along_axis(block, top, 1).ravel())
        rows.append(np.repeat(kept[r0:r0 + block.shape[0]], k))
        cols.append(kept[top].ravel())
    vals = np.concatenate(vals)
    nz = vals != 0
    return sp.csr_matrix((vals[nz], (np.concatenate(rows)[nz], np.concatenate(cols)[nz])),
                         shape=(n_items, n_items), dtype=np.float32)


def cosine_neighbours(x: sp.csr_matrix, n: np.ndarray, k: int = NEIGHBOURS,
                      shrink: float = NEIGHBOUR_SHRINK) -> sp.csr_matrix:
    """S of shrunk cosines (module docstring) of presence matrix `x`, `n` its column sums."""
    c = (x.T @ x).tocoo()
    off = c.row != c.col
    rows, cols = c.row[off], c.col[off]
    sim = c.data[off] / (np.sqrt(n[rows] * n[cols]) + shrink)
    order = np.lexsort((-sim, rows))             # by row, most similar first
    rows, cols, sim = rows[order], cols[order], sim[order]
    starts = np.searchsorted(rows, np.arange(x.shape[1]))
    keep = np.arange(rows.shape[0]) - starts[rows] < k
    return sp.csr_matrix((sim[keep].astype(np.float32), (rows[keep], cols[keep])),
                         shape=(x.shape[1], x.shape[1]))


def neighbour_scores(s: sp.csr_matrix, histories: Sequence) -> np.ndarray:
    """`[B, I]`: each history's summed similarities to every item: the rows of `s` of its
    distinct items added up in `s`'s dtype, item by item in index order (what the sparse
    product of a 0/1 history matrix with `s` adds, bitwise), without building that product:
    a served request is one history (issue 15, 10,000 items with 100 neighbours each: 0.23 ->
    0.04 ms for a 10-event history, 0.52 -> 0.27 ms for 2,500 events)."""
    out = np.zeros((len(histories), s.shape[1]), s.dtype)
    for r, h in enumerate(histories):
        items = np.asarray(h.items, np.int64)
        # its distinct items in index order, by a mask over the catalogue (as large as the
        # answer; np.unique of a 2,500-event history costs 5x more)
        present = np.zeros(s.shape[0], bool)
        present[items[(items >= 0) & (items < s.shape[0])]] = True
        items = np.flatnonzero(present)
        starts = s.indptr[items]
        lengths = s.indptr[items + 1] - starts
        # positions in s.data of every entry of those rows, row after row
        at = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))
        np.add.at(out[r], s.indices[at], s.data[at])
    return out.astype(np.float64)
