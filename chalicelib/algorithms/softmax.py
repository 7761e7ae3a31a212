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
