"""A gated recurrent unit layer with hand-written, batched forward and backward steps.

Used by the HRNN family (seed: "HRNN Recipe": "HRNN uses a gating mechanism ...").
The cell is the GRU with the reset gate applied after the recurrent product
(so the recurrent weights of all three gates are one matrix product):

    z  = sigmoid(x Wz + h Uz + bz)          update gate
    r  = sigmoid(x Wr + h Ur + br)          reset gate
    n  = tanh(x Wn + r * (h Un) + bn)       candidate
    h' = (1 - z) * n + z * h

`W` is `[in, 3H]`, `U` is `[H, 3H]`, `b` is `[3H]`, gate blocks in the order z, r, n.
Arrays keep the dtype of the parameters (float32 in training, float64 in the
gradient checks).
"""
from __future__ import annotations

import numpy as np


def sigmoid(a):
    # tanh form: one ufunc call, no overflow for large |a|
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def init_gru(rng, n_in, n_hidden, dtype=np.float32):
    """Glorot-uniform input weights, orthogonal recurrent blocks, zero biases."""
    lim = np.sqrt(6.0 / (n_in + n_hidden))
    w = rng.uniform(-lim, lim, size=(n_in, 3 * n_hidden))
    u = np.concatenate([_orthogonal(rng, n_hidden) for _ in range(3)], axis=1)
    return {"W": w.astype(dtype), "U": u.astype(dtype), "b": np.zeros(3 * n_hidden, dtype)}


def _orthogonal(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def gru_step(ax, h, U):
    """One step for a batch given the input projection `ax = x W + b` (`[B, 3H]`, so a
    caller can project a whole window at once) and `h [B, H]`.
    Returns `(h_new [B, H], cache)`."""
    hd = h.shape[1]
    ah = h @ U
    # the gate pre-activations overwrite their block of `ah` (only the candidate block,
    # `h Un`, is needed again)
    zr = ah[:, :2 * hd]
    zr += ax[:, :2 * hd]
    # sigmoid of both gates at once, in place (the step loop is overhead-bound)
    zr *= 0.5
    np.tanh(zr, out=zr)
    zr += 1.0
    zr *= 0.5
    z, r = zr[:, :hd], zr[:, hd:]
    hn = ah[:, 2 * hd:]
    n = r * hn
    n += ax[:, 2 * hd:]
    np.tanh(n, out=n)
    h_new = h - n
    h_new *= z
    h_new += n
    return h_new, (h, z, r, n, hn)


def gru_step_backward(dh_new, cache, U):
    """Backward of `gru_step`: returns `(dax, dah, dh)` where `dax` is the gradient of
    the input projection (so `dW = x.T @ dax`, `db = dax.sum(0)`, `dx = dax @ W.T`),
    `dah` that of `h @ U` (so `dU = h.T @ dah`) and `dh` that of the previous state."""
    h, z, r, n, hn = cache
    hd = h.shape[1]
    dax = np.empty((h.shape[0], 3 * hd), h.dtype)
    daz, dar, dan = dax[:, :hd], dax[:, hd:2 * hd], dax[:, 2 * hd:]
    np.multiply(dh_new, 1.0 - z, out=dan)
    dan *= 1.0 - n * n                                   # through tanh
    np.multiply(dh_new, h - n, out=daz)
    daz *= z * (1.0 - z)                                 # through the update gate
    np.multiply(dan, hn, out=dar)
    dar *= r * (1.0 - r)                                 # through the reset gate
    dah = np.empty_like(dax)
    dah[:, :2 * hd] = dax[:, :2 * hd]
    np.multiply(dan, r, out=dah[:, 2 * hd:])
    dh = dh_new * z
    dh += dah @ U.T
    return dax, dah, dh


def gru_cell(x, h, p):
    """Convenience: one step from the raw input, `p = {"W", "U", "b"}`."""
    return gru_step(x @ p["W"] + p["b"], h, p["U"])
