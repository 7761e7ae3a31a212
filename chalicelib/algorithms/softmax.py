"""The softmax cross-entropy shared by the networks' output layers."""
from __future__ import annotations

import numpy as np


def softmax_cross_entropy(logits: np.ndarray, rows: np.ndarray, cols: np.ndarray, w: np.ndarray):
    """Mean over the `N` rows of `-sum_k w_k log softmax(logits)[rows_k, cols_k]` (a row may
    have several weighted targets). Returns `(loss, dlogits)`; `logits` is overwritten (its
    buffer becomes the gradient)."""
    n = logits.shape[0]
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits, out=logits)
    p /= p.sum(axis=1, keepdims=True)
    loss = float(-np.sum(w * np.log(p[rows, cols] + 1e-30)) / n)
    np.add.at(p, (rows, cols), -np.asarray(w, p.dtype))
    p /= n
    return loss, p


class NegativeSampler:
    """Negatives for a sampled softmax, drawn with probability proportional to
    `count ** alpha` (`k` per step, with replacement), and the logQ correction.

    A step's candidates are its targets (which follow the data, `p_target`) plus the `k`
    negatives (`q`), so an item is among them with probability about
    `1 - exp(-(n_targets p_target + k q))`. Subtracting the log of that from the logits makes
    the trained scores estimate the full softmax: popular items, sampled often, are not
    pushed down at inference."""

    def __init__(self, target_counts, alpha: float, k: int):
        counts = np.asarray(target_counts, np.float64)
        self.p_target = counts / max(counts.sum(), 1.0)
        q = counts ** alpha
        self.q = q / max(q.sum(), 1e-300)
        self.cdf = np.cumsum(self.q)
        self.k = k

    def draw(self, rng) -> np.ndarray:
        return np.minimum(np.searchsorted(self.cdf, rng.random(self.k)), self.cdf.shape[0] - 1)

    def log_inclusion(self, n_targets: int):
        """`f(candidates) -> log P(candidate in the step's set)` for a step with `n_targets` targets."""
        return lambda c: np.log(-np.expm1(-(n_targets * self.p_target[c] + self.k * self.q[c])))
