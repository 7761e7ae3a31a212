"""The two-tower feed-forward network behind `aws-ffnn`, forward and backward by hand.

Seed: "FFNN Recipe" (hyperparameters `dsize`, "Number of hidden units per
layer", and `dropout`, "Dropout rate at each hidden layer") and "Predefined
Recipes" ("a feed-forward neural network that utilizes a built-in K-nearest
neighbors search"). Written for this project from that description:

- user tower: the history's item embeddings `E_in[i]` (width `embed`) are
  pooled with per-item weights that sum to 1 (`ffnn.py` chooses them: a
  recency-weighted mean), `x = pool * mask0`; one hidden layer of `dsize`
  units `h = tanh(x @ W1 + b1) * mask1`; the user vector is
  `u = h @ W2 + b2`, plus `x` when `residual` (the hidden layer then learns a
  correction to the pooled embedding instead of squeezing it through `dsize`
  numbers);
- item tower: an output vector `E_out[j]` and bias `b_out[j]` per item;
  the score of item `j` is `u . E_out[j] + b_out[j]`, so inference is a
  maximum-inner-product (K-nearest-neighbour) search of `u` over `E_out`;
- training loss: sampled softmax over the batch's targets plus sampled
  negatives, with the logQ correction (see `sampled_softmax`).

`mask0`/`mask1` are inverted-dropout masks in training and absent at
inference. Embedding gradients are row-sparse `(rows, values)` pairs for the
lazy Adam of `optim.py`.
"""
from __future__ import annotations

from typing import Dict

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms.optim import add_dense
from chalicelib.algorithms.softmax import softmax_cross_entropy


class FfnnNet:
    """`params`: `E_in [I, D]`, `E_out [I, D]`, `b_out [I]`, `W1 [D, H]`, `b1 [H]`,
    `W2 [H, D]`, `b2 [D]` with `D = embed`, `H = dsize`."""

    def __init__(self, params: Dict[str, np.ndarray], *, residual: bool):
        self.params = params
        self.residual = residual
        self.dtype = params["b_out"].dtype

    @property
    def embed(self):
        return self.params["E_in"].shape[1]

    @property
    def dsize(self):
        return self.params["W1"].shape[1]

    @property
    def n_items(self):
        return self.params["b_out"].shape[0]

    @classmethod
    def create(cls, rng, n_items, *, embed, dsize, residual=True, dtype=np.float32, init_scale=0.05):
        lim1, lim2 = np.sqrt(3.0 / embed), np.sqrt(3.0 / dsize)
        p = {"E_in": rng.normal(0, init_scale, (n_items, embed)),
             "E_out": rng.normal(0, init_scale, (n_items, embed)),
             "b_out": np.zeros(n_items),
             "W1": rng.uniform(-lim1, lim1, (embed, dsize)), "b1": np.zeros(dsize),
             # the correction starts small so that a residual tower starts as the pool itself
             "W2": rng.uniform(-lim2, lim2, (dsize, embed)) * (0.1 if residual else 1.0),
             "b2": np.zeros(embed)}
        return cls({k: np.ascontiguousarray(v, dtype=dtype) for k, v in p.items()}, residual=residual)

    # --- user tower ----------------------------------------------------------------
    def forward(self, rows, cols, weights, b, *, dropout=0.0, rng=None):
        """User vectors `[b, D]` of `b` pooled histories given as entries: example
        `rows[k]` holds item `cols[k]` with pooling weight `weights[k]` (each row's
        weights sum to 1; a row without entries pools to zero).
        Returns `(U, tape)`."""
        p = self.params
        rows = np.asarray(rows, np.int64)
        xu, inv = compact(np.asarray(cols, np.int64), self.n_items)
        # rows arrive grouped (ascending), so the CSR arrays are built directly, unsorted
        # within a row (products do not need sorted indices)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=b))])
        if rows.shape[0] and np.any(np.diff(rows) < 0):
            raise ValueError("pool entries must be grouped by ascending row")
        pool = sp.csr_matrix((np.asarray(weights, self.dtype), inv, indptr), shape=(b, xu.shape[0]))
        pooled = np.asarray(pool @ p["E_in"][xu], self.dtype)
        m0 = self._mask(pooled.shape, dropout, rng)
        x = pooled if m0 is None else pooled * m0
        h = np.tanh(x @ p["W1"] + p["b1"])
        m1 = self._mask(h.shape, dropout, rng)
        hd = h if m1 is None else h * m1
        u = hd @ p["W2"] + p["b2"]
        if self.residual:
            u = u + x
        return u, (xu, pool, x, m0, h, m1, hd)

    def _mask(self, shape, dropout, rng):
        if dropout <= 0.0:
            return None
        return (rng.random(shape, dtype=np.float32) >= dropout) * self.dtype.type(1.0 / (1.0 - dropout))

    def backward(self, dU, tape, grads):
        """Backward of `forward`: adds dense arrays or `(rows, values)` pairs into `grads`."""
        xu, pool, x, m0, h, m1, hd = tape
        p = self.params
        add_dense(grads, "W2", hd.T @ dU)
        add_dense(grads, "b2", dU.sum(axis=0))
        dh = dU @ p["W2"].T
        if m1 is not None:
            dh *= m1
        da = dh * (1.0 - h * h)
        add_dense(grads, "W1", x.T @ da)
        add_dense(grads, "b1", da.sum(axis=0))
        dx = da @ p["W1"].T
        if self.residual:
            dx += dU
        if m0 is not None:
            dx *= m0
        grads.setdefault("E_in", []).append((xu, np.asarray(pool.T @ dx, self.dtype)))

    # --- item tower and loss -------------------------------------------------------
    def sampled_softmax(self, U, Y, negatives, grads, log_inclusion=None):
        """Cross-entropy of user vectors `U [N, D]` against targets `Y [N, K]` (padded
        with -1; a row's valid targets share weight 1 equally) over the candidates
        `unique(targets + negatives)`. Adds the item tower's gradients into `grads`;
        returns `(mean loss, dU)`.

        `log_inclusion(cand)` (optional) is the log probability that each candidate
        was in the sampled set; subtracting it from the logits (the logQ correction)
        makes the scores estimate the full softmax, so frequently sampled (popular)
        items are not pushed down at inference."""
        n = U.shape[0]
        Y = Y.reshape(n, -1)
        valid = Y >= 0
        cand, inv = compact(np.concatenate([Y[valid], np.asarray(negatives, np.int64)]), self.n_items)
        rows = np.nonzero(valid)[0]
        ty = inv[:rows.shape[0]]
        w = (1.0 / valid.sum(axis=1))[rows]
        r = self.params["E_out"][cand]
        logits = U @ r.T + self.params["b_out"][cand]
        if log_inclusion is not None:
            logits -= log_inclusion(cand).astype(logits.dtype)
        loss, prob = softmax_cross_entropy(logits, rows, ty, w)
        grads.setdefault("E_out", []).append((cand, prob.T @ U))
        grads.setdefault("b_out", []).append((cand, prob.sum(axis=0)))
        return loss, prob @ r

    def scores(self, U, items=None):
        """Inner products `[B, len(items)]` (all items when `items` is None): the exact
        maximum-inner-product search is this one matrix product plus a top-n."""
        if items is None:
            return U @ self.params["E_out"].T + self.params["b_out"]
        return U @ self.params["E_out"][items].T + self.params["b_out"][items]


def compact(idx, n):
    """`np.unique(idx, return_inverse=True)` for indices in `[0, n)`, without a sort
    (a mark array of the catalogue's size instead: linear time)."""
    mark = np.zeros(n, bool)
    mark[idx] = True
    uniq = np.flatnonzero(mark)
    pos = np.empty(n, np.int64)
    pos[uniq] = np.arange(uniq.shape[0])
    return uniq, pos[idx]
