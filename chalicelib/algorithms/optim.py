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
                gk = gk * scale
                mk, vk = m[idx], v[idx]
                mk *= self.b1
                mk += (1.0 - self.b1) * gk
                gk *= gk
                gk *= 1.0 - self.b2
                vk *= self.b2
                vk += gk
                m[idx], v[idx] = mk, vk
                upd = np.sqrt(vk)
                upd += self.eps
                np.divide(mk, upd, out=upd)
                upd *= lr_k
                p[idx] -= upd.astype(p.dtype, copy=False)
            else:
                gk = g * scale
                m *= self.b1
                m += (1.0 - self.b1) * gk
                gk *= gk
                gk *= 1.0 - self.b2
                v *= self.b2
                v += gk
                upd = np.sqrt(v)
                upd += self.eps
                np.divide(m, upd, out=upd)
                upd *= lr_k
                p -= upd.astype(p.dtype, copy=False)
        return norm
