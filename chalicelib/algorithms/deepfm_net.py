"""The feed-forward network behind `aws-deepfm`, forward and backward by hand.

Seed: "DeepFM Recipe" (the input is a vector of what a user consumed in the
past, the output what they consume in the next period; with hidden layers the
network generalises matrix factorisation) and its hyperparameters
`nHiddenLayers`, `embedding_size`, `dropout`.

- input: a sparse row `x [I]` per example, the user's history as a weighted
  multi-hot vector (weights chosen by `deepfm.py`);
- factorisation layer: `h0 = x @ E_in` (`[B, D]`, D = embedding_size), the sum
  of the history's item embeddings (a user vector folded in from the items);
- `nHiddenLayers` residual layers `h_l = h_{l-1} + relu(h_{l-1} @ W_l + c_l)`;
  inverted dropout on `h0` and on every layer's `relu` output. The residual
  form makes zero hidden layers, and a layer whose units are all off, plain
  factorisation: the layers only add the non-linear part;
- output: the score of item `j` is `h_L . E_out[j] + b[j]` (`E_out` is `E_in`
  when tied), trained with a softmax over all items or over sampled candidates
  with the logQ correction.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms.optim import add_dense


class DeepFmNet:
    """`params`: `E_in`, `E_out` (absent when tied), `b`, `W{l}`, `c{l}` for each hidden layer."""

    def __init__(self, params: Dict[str, np.ndarray], *, num_layers: int, tied: bool):
        self.params = params
        self.num_layers = num_layers
        self.tied = tied
        self.dtype = params["b"].dtype
        self.size = params["E_in"].shape[1]

    @classmethod
    def create(cls, rng, n_items, *, num_layers, size, tied=True, dtype=np.float32,
               init_scale=0.05):
        p = {"E_in": rng.normal(0, init_scale, (n_items, size)), "b": np.zeros(n_items)}
        if not tied:
            p["E_out"] = rng.normal(0, init_scale, (n_items, size))
        for l in range(num_layers):
            # He initialisation for the relu layer
            p[f"W{l}"] = rng.normal(0, np.sqrt(2.0 / size), (size, size))
            p[f"c{l}"] = np.zeros(size)
        p = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in p.items()}
        return cls(p, num_layers=num_layers, tied=tied)

    @property
    def out_name(self):
        return "E_in" if self.tied else "E_out"

    # --- forward / backward --------------------------------------------------
    def forward(self, X: sp.csr_matrix, *, dropout=0.0, rng=None):
        """User vectors `[B, D]` for the weighted multi-hot rows `X [B, I]`, and a tape."""
        rows, inv = np.unique(X.indices, return_inverse=True)
        # the batch's columns only: the product and its gradient touch those rows
        xl = sp.csr_matrix((X.data.astype(self.dtype, copy=False), inv.ravel(), X.indptr),
                           shape=(X.shape[0], rows.shape[0]))
        h = np.asarray(xl @ self.params["E_in"][rows], dtype=self.dtype)
        masks = [self._mask(h.shape, dropout, rng)]
        if masks[0] is not None:
            h = h * masks[0]
        pre, hs = [], [h]
        for l in range(self.num_layers):
            a = h @ self.params[f"W{l}"] + self.params[f"c{l}"]
            r = np.maximum(a, 0)
            m = self._mask(r.shape, dropout, rng)
            if m is not None:
                r = r * m
            h = h + r
            pre.append(a)
            masks.append(m)
            hs.append(h)
        return h, (rows, xl, masks, pre, hs)

    def layers(self, h):
        """The residual layers of `forward` at inference (no dropout) from pooled `h [B, D]`."""
        for l in range(self.num_layers):
            h = h + np.maximum(h @ self.params[f"W{l}"] + self.params[f"c{l}"], 0)
        return h

    def _mask(self, shape, dropout, rng):
        if not dropout:
            return None
        keep = 1.0 - dropout
        return ((rng.random(shape) < keep) / keep).astype(self.dtype)

    def backward(self, dout, tape, grads):
        """Add the gradients of the input side and the layers, given `dL/dout`."""
        rows, xl, masks, pre, hs = tape
        dh = dout
        for l in reversed(range(self.num_layers)):
            dr = dh if masks[l + 1] is None else dh * masks[l + 1]
            da = dr * (pre[l] > 0)
            add_dense(grads, f"W{l}", hs[l].T @ da)
            add_dense(grads, f"c{l}", da.sum(axis=0))
            dh = dh + da @ self.params[f"W{l}"].T
        if masks[0] is not None:
            dh = dh * masks[0]
        grads.setdefault("E_in", []).append((rows, np.asarray(xl.T @ dh, dtype=self.dtype)))

    # --- output and loss -----------------------------------------------------
    def softmax_loss(self, out, T: sp.csr_matrix, grads, candidates: Optional[np.ndarray] = None,
                     log_inclusion=None):
        """Cross-entropy of the softmax of the scores of `out [B, D]` against target
        rows `T [B, I]` (each row's weights sum to 1), over all items or over
        `candidates` (which must hold every target). `log_inclusion(cand)` is the log
        probability that each candidate was sampled, subtracted from the logits (the
        logQ correction: the scores then estimate the full softmax). Adds the output
        side's gradients to `grads`; returns `(mean loss, dL/dout)`."""
        n = out.shape[0]
        E = self.params[self.out_name]
        if candidates is None:
            cand = None
            e, bias, t = E, self.params["b"], T
        else:
            cand = np.asarray(candidates)
            e, bias = E[cand], self.params["b"][cand]
            pos = np.searchsorted(cand, T.indices)
            t = sp.csr_matrix((T.data, pos, T.indptr), shape=(n, cand.shape[0]))
        logits = out @ e.T + bias
        if log_inclusion is not None:
            logits -= log_inclusion(cand).astype(logits.dtype)
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        td = t.toarray().astype(logits.dtype)
        loss = float(-(td * logp).sum() / n)
        d = (np.exp(logp) - td) / n
        dout = d @ e
        de, db = d.T @ out, d.sum(axis=0)
        # item tables collect parts in lists: dense here (full softmax) or rows
        grads.setdefault(self.out_name, []).append(de if cand is None else (cand, de))
        grads.setdefault("b", []).append(db if cand is None else (cand, db))
        return loss, dout

    def scores(self, out, items=None):
        """Scores `[B, len(items)]` (all items when `items` is None)."""
        E, b = self.params[self.out_name], self.params["b"]
        if items is None:
            return out @ E.T + b
        return out @ E[items].T + b[items]
