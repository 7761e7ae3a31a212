"""Item factors from a truncated SVD of the interactions: the starting embeddings of the
neural recipes (HRNN family, DeepFM, FFNN).

The matrix is the presence of each (sequence, item) pair, each entry divided by the square
roots of its row's and its item's counts (so that popular items and heavy users do not fill
the leading directions). The item factors are the leading right singular vectors times the
square roots of their singular values, scaled to a mean row norm of `row_norm` over the items
that occur. Items that the same users interact with then start close, and a network only has
to learn how to read a history of them: HRNN on ml-latest-small needed 8 epochs from random
embeddings and 3 from these (chalicelib/algorithms/hrnn.py, "Initialisation").

Small matrices use LAPACK's full SVD; larger ones a seeded randomized range finder with power
iterations, which uses only sparse products and numpy's LAPACK, so the result does not depend
on the BLAS thread count (ARPACK's `svds` did: the same seed gave different models with and
without OPENBLAS_NUM_THREADS=1).
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import scipy.sparse as sp

DENSE_SVD_MAX_CELLS = 1_000_000
POWER_ITERATIONS = 4
OVERSAMPLE = 10


def randomized_svd(x, k, rng, n_iter=POWER_ITERATIONS, oversample=OVERSAMPLE):
    """Leading `k` singular values and right vectors `(s [k], vt [k, n])` of sparse `x`."""
    q, _ = np.linalg.qr(x @ rng.standard_normal((x.shape[1], min(k + oversample, min(x.shape)))))
    for _ in range(n_iter):
        q, _ = np.linalg.qr(x.T @ q)
        q, _ = np.linalg.qr(x @ q)
    _, s, vt = np.linalg.svd(np.asarray((x.T @ q).T), full_matrices=False)
    return s[:k], vt[:k]


def item_factors(items: np.ndarray, starts: np.ndarray, ends: np.ndarray, n_items: int, k: int,
                 rng, row_norm: float) -> Optional[np.ndarray]:
    """`[n_items, k']` factors (k' = min(k, rank bound)) of the sequences
    `items[starts[j]:ends[j]]`, or None when there is nothing to factor or the solver fails
    (the caller keeps its random start)."""
    starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    lens = np.maximum(ends - starts, 0)
    if lens.sum() == 0:
        return None
    rows = np.repeat(np.arange(starts.shape[0]), lens)
    cols = np.concatenate([items[a:b] for a, b in zip(starts, ends) if b > a])
    x = sp.csr_matrix((np.ones(rows.shape[0]), (rows, cols)), shape=(starts.shape[0], n_items))
    x.data[:] = 1.0                       # presence, not repeat counts
    du = np.asarray(x.sum(axis=1)).ravel()
    di = np.asarray(x.sum(axis=0)).ravel()
    x = sp.diags(1.0 / np.sqrt(np.maximum(du, 1))) @ x @ sp.diags(1.0 / np.sqrt(np.maximum(di, 1)))
    k = min(k, min(x.shape) - 1)
    if k < 1:
        return None
    try:
        if x.shape[0] * x.shape[1] <= DENSE_SVD_MAX_CELLS:
            _, s, vt = np.linalg.svd(x.toarray(), full_matrices=False)
            s, vt = s[:k], vt[:k]
        else:
            s, vt = randomized_svd(x, k, rng)
    except np.linalg.LinAlgError:
        return None
    v = vt.T * np.sqrt(s)
    norms = np.linalg.norm(v, axis=1)[di > 0]
    if norms.size == 0 or not np.isfinite(norms.mean()) or norms.mean() <= 0:
        return None
    return v * (row_norm / norms.mean())


def start_embeddings(params: dict, names, items, starts, ends, rng, row_norm: float) -> bool:
    """Overwrite the leading columns of each embedding table `params[name]` (all `[n_items, d]`)
    with `item_factors`; False (tables untouched) when there are none."""
    first = params[names[0]]
    v = item_factors(items, starts, ends, first.shape[0], first.shape[1], rng, row_norm)
    if v is None:
        return False
    for name in names:
        params[name][:, :v.shape[1]] = v.astype(params[name].dtype)
    return True


# --- the co-occurrence component: weighted implicit factorisation -----------------------------
def implicit_factors(x, factors: int, reg: float, alpha: float, iterations: int, rng,
                     cg_steps: int = 3):
    """`(user factors, item factors)` of presence matrix `x` (csr, users x items) minimising
    sum_ui c_ui (p_ui - u.v)^2 + reg (|U|^2 + |V|^2), with p = 1 on present pairs, 0 elsewhere,
    and confidence c = 1 + alpha on present pairs, 1 elsewhere (Hu, Koren, Volinsky 2008).
    Alternating, each side by `cg_steps` of conjugate gradient warm-started from the last
    solution, vectorised over all rows: the cost is (nnz + rows) * factors per step."""
    x = sp.csr_matrix(x, dtype=np.float64)
    x.data[:] = 1.0
    u = rng.standard_normal((x.shape[0], factors)) * 0.01
    v = rng.standard_normal((x.shape[1], factors)) * 0.01
    xt = x.T.tocsr()
    for _ in range(iterations):
        u = _cg_side(x, u, v, reg, alpha, cg_steps)
        v = _cg_side(xt, v, u, reg, alpha, cg_steps)
    return u, v


def _cg_side(x, a, b, reg, alpha, steps):
    """Rows of `a` solving (B^T B + reg I + alpha B_r^T B_r) a_r = (1 + alpha) sum_{i in r} b_i."""
    coo = x.tocoo()
    rows, cols = coo.row, coo.col
    gram = b.T @ b + reg * np.eye(b.shape[1])

    def apply(z):
        d = np.einsum("nf,nf->n", z[rows], b[cols])
        return z @ gram + alpha * (sp.csr_matrix((d, (rows, cols)), shape=x.shape) @ b)

    rhs = (1.0 + alpha) * (x @ b)
    r = rhs - apply(a)
    p = r.copy()
    rs = np.einsum("nf,nf->n", r, r)
    for _ in range(steps):
        ap = apply(p)
        step = rs / np.maximum(np.einsum("nf,nf->n", p, ap), 1e-12)
        a = a + step[:, None] * p
        r = r - step[:, None] * ap
        rs_new = np.einsum("nf,nf->n", r, r)
        p = r + (rs_new / np.maximum(rs, 1e-12))[:, None] * p
        rs = rs_new
    return a


def fold_in_more(v: np.ndarray, gram: np.ndarray, alpha: float, carried, items: np.ndarray):
    """`fold_in` carried forward (issue 15: a request reads only the new events): `carried` =
    (items read, sum of their v_i^T v_i, sum of their v_i, factors) or None; the items of
    `items` not read yet are added and the factors solved again only when there are any.
    The factors equal `fold_in` of every item read so far."""
    seen, a, b, u = carried if carried is not None else \
        (np.zeros(0, np.int64), np.zeros((v.shape[1], v.shape[1])), np.zeros(v.shape[1]),
         np.zeros(v.shape[1]))
    items = np.unique(np.asarray(items, np.int64))
    items = items[(items >= 0) & (items < v.shape[0])]
    new = np.setdiff1d(items, seen, assume_unique=True)
    if new.size == 0:
        return seen, a, b, u
    vi = np.asarray(v[new], np.float64)
    a, b = a + vi.T @ vi, b + vi.sum(axis=0)
    u = np.linalg.solve(gram + alpha * a, (1.0 + alpha) * b)
    return np.union1d(seen, new), a, b, u


def fold_in(v: np.ndarray, gram: np.ndarray, items: np.ndarray, alpha: float) -> np.ndarray:
    """A new user's factors from the items of their history (exact solve of `_cg_side`'s system;
    `gram` = V^T V + reg I); zeros for an empty history."""
    items = np.unique(np.asarray(items, np.int64))
    items = items[(items >= 0) & (items < v.shape[0])]
    if items.size == 0:
        return np.zeros(v.shape[1])
    vi = v[items]
    return np.linalg.solve(gram + alpha * vi.T @ vi, (1.0 + alpha) * vi.sum(axis=0))
