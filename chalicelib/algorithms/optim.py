"""Adam over a dict of named numpy parameters (updated in place).

Embedding tables get gradients on a few rows per mini-batch. Such a gradient
is passed as a row-sparse pair `(rows, values)` (rows unique), and only those
rows move (lazy Adam): a step then costs in proportion to the batch, not to
the catalogue, and items absent from the batch keep their state.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def merge_rows(parts, dtype):
    """Sum a list of `(rows, values)` pairs, each with unique rows (as the network's
    gradients are: rows come from `np.unique`), into one pair with unique rows."""
    if len(parts) == 1:
        rows, vals = parts[0]
        return rows, np.asarray(vals, dtype)
    uniq = np.unique(np.concatenate([p[0] for p in parts]))
    out = np.zeros((uniq.shape[0],) + np.shape(parts[0][1])[1:], dtype)
    for rows, vals in parts:
        # rows are unique within a part, so a fancy-index add is exact (no np.add.at)
        out[np.searchsorted(uniq, rows)] += vals
    return uniq, out


def add_dense(grads, key, value):
    """Accumulate a dense gradient `value` for parameter `key` (a copy on first use)."""
    if key in grads:
        grads[key] += value
    else:
        grads[key] = np.array(value)


def finish_grads(grads, dtype):
    """Turn each gradient into what `Adam.step` takes: a dense array, or one
    `(rows, values)` pair for row-sparse parts (dense and sparse parts of one
    parameter, as a tied table gets with the full softmax, add into the dense one)."""
    out = {}
    for k, g in grads.items():
        if isinstance(g, list):
            dense = [v for v in g if not isinstance(v, tuple)]
            parts = [v for v in g if isinstance(v, tuple)]
            if dense:
                acc = dense[0]
                for rows, vals in parts:
                    acc[rows] += vals
                out[k] = acc
            else:
                out[k] = merge_rows(parts, dtype)
        else:
            out[k] = g
    return out


def scatter_rows(inv, vals, n_rows):
    """`out[inv[k]] += vals[k]` for a 2-d `vals`, as one sparse product (np.add.at is
    several times slower for thousands of rows)."""
    m = sp.csr_matrix((np.ones(inv.shape[0], vals.dtype), (inv, np.arange(inv.shape[0]))),
                      shape=(n_rows, inv.shape[0]))
    return np.asarray(m @ vals, dtype=vals.dtype)


class Adam:
    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, clip=5.0, lr_scale=None):
        self.lr, self.b1, self.b2, self.eps, self.clip = lr, beta1, beta2, eps, clip
        self.lr_scale = dict(lr_scale or {})   # per-parameter multiplier of the rate
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.t = 0

    def step(self, params, grads):
        """Apply one update; `grads[name]` is a dense array or a `(rows, values)` pair.
        Returns the gradient norm before clipping."""
        self.t += 1
        vals = [g[1] if isinstance(g, tuple) else g for g in grads.values()]
        # clip the global norm: one long sequence must not blow up a step
        norm = float(np.sqrt(sum(float(np.vdot(v, v)) for v in vals)))
        scale = min(1.0, self.clip / (norm + 1e-12)) if self.clip else 1.0
        # a Python float: a numpy float64 scalar would promote float32 updates to float64
        lr_t = float(self.lr * np.sqrt(1.0 - self.b2 ** self.t) / (1.0 - self.b1 ** self.t))
        for k, g in grads.items():
            p, m, v = params[k], self.m[k], self.v[k]
            lr_k = lr_t * self.lr_scale.get(k, 1.0)
            # in place where possible: the update runs once per window on every parameter
            if isinstance(g, tuple):
                idx, gk = g
                mk, vk = m[idx], v[idx]             # copies: written back below
                upd = self._advance(mk, vk, gk * scale, lr_k)
                m[idx], v[idx] = mk, vk
                p[idx] -= upd.astype(p.dtype, copy=False)
            else:
                p -= self._advance(m, v, g * scale, lr_k).astype(p.dtype, copy=False)
        return norm

    def _advance(self, m, v, g, lr):
        """Move the moments `m`, `v` in place by the gradient `g` (overwritten); return the step."""
        m *= self.b1
        m += (1.0 - self.b1) * g
        g *= g
        g *= 1.0 - self.b2
        v *= self.b2
        v += g
        upd = np.sqrt(v)
        upd += self.eps
        np.divide(m, upd, out=upd)
        upd *= lr
        return upd
