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
    """Sum a list of `(rows, values)` pairs into one pair with unique rows."""
    rows = np.concatenate([p[0] for p in parts])
    vals = np.concatenate([p[1] for p in parts]).astype(dtype, copy=False)
    uniq, inv = np.unique(rows, return_inverse=True)
    return uniq, scatter_rows(inv, vals, uniq.shape[0])


def scatter_rows(inv, vals, n_rows):
    """`out[inv[k]] += vals[k]` for a 2-d `vals`, as one sparse product (np.add.at is
    several times slower for thousands of rows)."""
    m = sp.csr_matrix((np.ones(inv.shape[0], vals.dtype), (inv, np.arange(inv.shape[0]))),
                      shape=(n_rows, inv.shape[0]))
    return np.asarray(m @ vals, dtype=vals.dtype)


class Adam:
    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, clip=5.0):
        self.lr, self.b1, self.b2, self.eps, self.clip = lr, beta1, beta2, eps, clip
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
        lr_t = self.lr * np.sqrt(1.0 - self.b2 ** self.t) / (1.0 - self.b1 ** self.t)
        for k, g in grads.items():
            p, m, v = params[k], self.m[k], self.v[k]
            if isinstance(g, tuple):
                idx, gk = g
                gk = gk * scale
                mk = self.b1 * m[idx] + (1.0 - self.b1) * gk
                vk = self.b2 * v[idx] + (1.0 - self.b2) * gk * gk
                m[idx], v[idx] = mk, vk
                p[idx] -= (lr_t * mk / (np.sqrt(vk) + self.eps)).astype(p.dtype)
            else:
                gk = g * scale
                m *= self.b1
                m += (1.0 - self.b1) * gk
                v *= self.b2
                v += (1.0 - self.b2) * gk * gk
                p -= (lr_t * m / (np.sqrt(v) + self.eps)).astype(p.dtype)
        return norm
