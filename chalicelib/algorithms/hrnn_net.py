"""The hierarchical recurrent network behind the HRNN recipes, forward and backward by hand.

Seed: "HRNN Recipe" (a hierarchical RNN over each user's time-ordered
interactions; hyperparameters `model.num_layers`, `model.num_hidden`,
`model.dropout`, `model.skip_connection`) and "HRNN-metadata" (item and user
metadata features). The idea follows the hierarchical RNN for personalised
session-based recommendation (a session-level GRU that reads the items of a
session, a user-level GRU that is updated once per finished session and
initialises the next session), written from that description:

- item representation `rep(i) = E[i] + F_item[i] @ A` (the second term only
  with item metadata; `F_item` is the sparse matrix of `features.py`);
- session level: `num_layers` stacked GRUs of width `num_hidden`, input the
  item representation (inverted dropout on the input and after every layer);
- user level: one GRU whose input is the top session state when a session
  ends; each session starts from `tanh(h_user @ Wi_l + bi_l)` in every layer;
  a user's first session starts from `h_user0 = tanh(F_user[u] @ C)` (zero
  without user metadata);
- output `o_t = h_top + rep(x_t)` when `skip_connection`, else `h_top`;
  the score of item `j` is `o_t . rep_out(j) + b_out[j]`, trained with a
  sampled softmax over the batch's targets plus popularity-sampled negatives.

Every step of a batch carries a per-row mode: 0 continue the session,
1 start a new session of the same user, 2 start a new user. Rows are
independent, so mini-batches hold many users' sequences side by side.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms.gru import gru_step, gru_step_backward, init_gru
from chalicelib.algorithms.optim import add_dense, scatter_rows
from chalicelib.algorithms.softmax import softmax_cross_entropy

CONTINUE, NEW_SESSION, NEW_USER = 0, 1, 2


class HrnnNet:
    """Parameters plus the structure they fill. `params` maps names to arrays:

    `E_in`, `E_out` (absent when tied), `b_out`, `A_in`/`A_out` (item metadata),
    `C` (user metadata), `s{l}.W|U|b` (session GRU layer l), `u.W|U|b` (user GRU),
    `i{l}.W|b` (session initialisation from the user state).
    """

    def __init__(self, params: Dict[str, np.ndarray], *, num_layers: int, num_hidden: int,
                 skip_connection: bool, tied: bool,
                 item_features: Optional[sp.csr_matrix] = None,
                 user_features: Optional[sp.csr_matrix] = None):
        self.params = params
        self.num_layers = num_layers
        self.num_hidden = num_hidden
        self.skip_connection = skip_connection
        self.tied = tied
        self.dtype = params["b_out"].dtype
        cast = lambda m: None if m is None else sp.csr_matrix(m, dtype=self.dtype)
        self.item_features = cast(item_features)
        self.user_features = cast(user_features)

    @classmethod
    def create(cls, rng, n_items, *, num_layers, num_hidden, skip_connection, tied=True,
               item_features=None, user_features=None, dtype=np.float32, init_scale=0.05):
        h = num_hidden
        p = {"E_in": rng.normal(0, init_scale, (n_items, h)), "b_out": np.zeros(n_items)}
        if not tied:
            p["E_out"] = rng.normal(0, init_scale, (n_items, h))
        if item_features is not None:
            nf = item_features.shape[1]
            p["A_in"] = rng.normal(0, init_scale, (nf, h))
            if not tied:
                p["A_out"] = rng.normal(0, init_scale, (nf, h))
        if user_features is not None:
            p["C"] = rng.normal(0, init_scale, (user_features.shape[1], h))
        for name, g in [("u", init_gru(rng, h, h, np.float64))] + \
                [(f"s{l}", init_gru(rng, h, h, np.float64)) for l in range(num_layers)]:
            for k, v in g.items():
                p[f"{name}.{k}"] = v
        lim = np.sqrt(3.0 / h)
        for l in range(num_layers):
            p[f"i{l}.W"] = rng.uniform(-lim, lim, (h, h))
            p[f"i{l}.b"] = np.zeros(h)
        p = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in p.items()}
        return cls(p, num_layers=num_layers, num_hidden=num_hidden, skip_connection=skip_connection,
                   tied=tied, item_features=item_features, user_features=user_features)

    # --- pieces ------------------------------------------------------------
    def _names(self, side):
        e = "E_in" if side == "in" or self.tied else "E_out"
        a = "A_in" if side == "in" or self.tied else "A_out"
        return e, a

    def item_rep(self, side, idx):
        """Representations of items `idx` on the input or output side, `[len(idx), H]`."""
        e, a = self._names(side)
        rep = self.params[e][idx]
        if self.item_features is not None:
            rep = rep + (self.item_features[idx] @ self.params[a]).astype(self.dtype, copy=False)
        return rep

    def item_rep_backward(self, side, idx, d, grads):
        e, a = self._names(side)
        grads.setdefault(e, []).append((idx, d))
        if self.item_features is not None:
            add_dense(grads, a, self.item_features[idx].T @ d)

    def user_init(self, users):
        """Initial user-level state for user indices (`-1` or no metadata -> zeros)."""
        h = np.zeros((len(users), self.num_hidden), self.dtype)
        if self.user_features is None:
            return h, None
        users = np.asarray(users)
        ok = (users >= 0) & (users < self.user_features.shape[0])
        if not ok.any():
            return h, None
        f = self.user_features[users[ok]]
        h[ok] = np.tanh(f @ self.params["C"])
        return h, (ok, f, h[ok])

    def zero_state(self, b):
        z = lambda: np.zeros((b, self.num_hidden), self.dtype)
        return [z() for _ in range(self.num_layers)], z()

    # --- forward / backward over a window of steps ---------------------------
    def forward(self, X, M, U, state, *, dropout=0.0, rng=None):
        """Run `T` steps for `B` rows. `X [T, B]` item indices, `M [T, B]` modes,
        `U [T, B]` user indices (read where the mode is NEW_USER), `state`
        `(hs list of [B, H], hu [B, H])`. Dropout applies when `dropout > 0`.
        Returns `(out [T, B, H], tape, final state)`."""
        t_len, b = X.shape
        hd, L = self.num_hidden, self.num_layers
        xu, xinv = np.unique(X, return_inverse=True)
        xinv = xinv.reshape(t_len, b)
        xe = self.item_rep("in", xu)[xinv]                          # [T, B, H]
        masks = [self._mask((t_len, b, hd), dropout, rng) for _ in range(L + 1)]
        xin = xe if masks[0] is None else xe * masks[0]
        ax0 = xin.reshape(-1, hd) @ self.params["s0.W"] + self.params["s0.b"]
        ax0 = ax0.reshape(t_len, b, 3 * hd)
        hs, hu = state
        out = np.empty((t_len, b, hd), self.dtype)
        steps = []
        for t in range(t_len):
            mt = [None if m is None else m[t] for m in masks]
            out[t], hs, hu, c = self._step(ax0[t], xe[t], M[t], U[t], hs, hu, mt)
            steps.append(c)
        return out, (steps, xu, xinv, xin, masks), (hs, hu)

    def _mask(self, shape, dropout, rng):
        if dropout <= 0.0:
            return None
        # one pass from the boolean draw (no float64 intermediate)
        return (rng.random(shape, dtype=np.float32) >= dropout) * self.dtype.type(1.0 / (1.0 - dropout))

    def _step(self, ax0, x, mode, users, hs_prev, hu_prev, masks):
        """One step. `ax0` is the first layer's input projection, `x` the item
        representation (for the skip connection), `masks` per-layer dropout or None."""
        L = self.num_layers
        p = self.params
        ir = np.flatnonzero(mode)
        i1 = i2 = ir[:0]
        hu, cu, c0, hur, inits = hu_prev, None, None, None, []
        hs_in = hs_prev
        if ir.size:
            i1 = ir[mode[ir] == NEW_SESSION]
            i2 = ir[mode[ir] == NEW_USER]
            hu = hu_prev.copy()
            if i1.size:
                xu_ = hs_prev[L - 1][i1]
                hu[i1], cu = gru_step(xu_ @ p["u.W"] + p["u.b"], hu_prev[i1], p["u.U"])
                cu = (xu_, cu)
            if i2.size:
                hu[i2], c0 = self.user_init(users[i2])
            hur = hu[ir]
            hs_in = []
            for l in range(L):
                hi = np.tanh(hur @ p[f"i{l}.W"] + p[f"i{l}.b"])
                h = hs_prev[l].copy()
                h[ir] = hi
                inits.append(hi)
                hs_in.append(h)
        hs, gcs, inps = [], [], []
        inp = None
        for l in range(L):
            ax = ax0 if l == 0 else inp @ p[f"s{l}.W"] + p[f"s{l}.b"]
            h, gc = gru_step(ax, hs_in[l], p[f"s{l}.U"])
            hs.append(h)
            gcs.append(gc)
            inps.append(inp)
            inp = h if masks[l + 1] is None else h * masks[l + 1]
        o = inp + x if self.skip_connection else inp
        return o, hs, hu, (i1, i2, ir, hur, inits, cu, c0, gcs, inps)

    def backward(self, dout, tape, grads):
        """Backward of `forward` (the window's initial state is a constant: truncated
        backprop). Adds dense arrays or lists of `(rows, values)` into `grads`."""
        steps, xu, xinv, xin, masks = tape
        t_len, b, hd = dout.shape
        L = self.num_layers
        p = self.params
        dxe = dout.copy() if self.skip_connection else np.zeros_like(dout)
        dax0 = np.empty((t_len, b, 3 * hd), self.dtype)
        hprev = [np.empty((t_len, b, hd), self.dtype) for _ in range(L)]
        dah = [np.empty((t_len, b, 3 * hd), self.dtype) for _ in range(L)]
        upper = [([], []) for _ in range(L)]             # layers > 0: inputs, dax
        user = ([], [], [], [])                          # user GRU: x, h, dax, dah
        init = ([], [[] for _ in range(L)])              # hur, da per layer
        dhs = [np.zeros((b, hd), self.dtype) for _ in range(L)]
        dhu = np.zeros((b, hd), self.dtype)
        for t in range(t_len - 1, -1, -1):
            i1, i2, ir, hur, inits, cu, c0, gcs, inps = steps[t]
            dinp = dout[t]
            for l in range(L - 1, -1, -1):
                dh = dhs[l] + (dinp if masks[l + 1] is None else dinp * masks[l + 1][t])
                dax, dah[l][t], dhs[l] = gru_step_backward(dh, gcs[l], p[f"s{l}.U"])
                hprev[l][t] = gcs[l][0]
                if l == 0:
                    dax0[t] = dax
                else:
                    upper[l][0].append(inps[l])
                    upper[l][1].append(dax)
                    dinp = dax @ p[f"s{l}.W"].T
            if ir.size:
                dhu = dhu.copy()
                dhur = np.zeros_like(hur)
                init[0].append(hur)
                for l in range(L):
                    da = dhs[l][ir] * (1.0 - inits[l] * inits[l])
                    dhs[l][ir] = 0.0
                    init[1][l].append(da)
                    dhur += da @ p[f"i{l}.W"].T
                dhu[ir] += dhur
                dnext = dhu
                dhu = dhu.copy()
                if i2.size:
                    dhu[i2] = 0.0
                    if c0 is not None:
                        ok, f, h0 = c0
                        add_dense(grads, "C", f.T @ (dnext[i2][ok] * (1.0 - h0 * h0)))
                if i1.size:
                    xu_, gc = cu
                    dax_u, dah_u, dhp = gru_step_backward(dnext[i1], gc, p["u.U"])
                    dhu[i1] = dhp
                    dhs[L - 1][i1] += dax_u @ p["u.W"].T
                    for lst, v in zip(user, (xu_, gc[0], dax_u, dah_u)):
                        lst.append(v)
        # weight gradients of the whole window, one product each
        flat = lambda a: a.reshape(-1, a.shape[-1])
        add_dense(grads, "s0.W", flat(xin).T @ flat(dax0))
        add_dense(grads, "s0.b", flat(dax0).sum(axis=0))
        for l in range(L):
            add_dense(grads, f"s{l}.U", flat(hprev[l]).T @ flat(dah[l]))
            if l > 0:
                x_, d_ = np.concatenate(upper[l][0]), np.concatenate(upper[l][1])
                add_dense(grads, f"s{l}.W", x_.T @ d_)
                add_dense(grads, f"s{l}.b", d_.sum(axis=0))
        if user[0]:
            x_, h_, dx_, dh_ = (np.concatenate(v) for v in user)
            add_dense(grads, "u.W", x_.T @ dx_)
            add_dense(grads, "u.U", h_.T @ dh_)
            add_dense(grads, "u.b", dx_.sum(axis=0))
        if init[0]:
            hur_all = np.concatenate(init[0])
            for l in range(L):
                da = np.concatenate(init[1][l])
                add_dense(grads, f"i{l}.W", hur_all.T @ da)
                add_dense(grads, f"i{l}.b", da.sum(axis=0))
        dxin = (flat(dax0) @ p["s0.W"].T).reshape(dxe.shape)
        dxe += dxin if masks[0] is None else dxin * masks[0]
        drin = scatter_rows(xinv.ravel(), flat(dxe), xu.shape[0])
        self.item_rep_backward("in", xu, drin, grads)

    # --- output and loss ---------------------------------------------------
    def sampled_softmax(self, O, Y, negatives, grads, log_inclusion=None, target_weights=None,
                        row_weights=None):
        """Sampled-softmax cross-entropy of outputs `O [N, H]` against targets `Y`
        (`[N]`, or `[N, K]` padded with -1: then each row's loss is the average over
        its targets, weighted by `target_weights [K]` renormalised over the row's
        valid targets) with the candidates `unique(targets + negatives)`. Adds the
        gradients of the output side into `grads`; returns `(mean loss, dO)`.

        `log_inclusion(cand)` (optional) gives the log probability that each
        candidate was in the sampled set; subtracting it from the logits (the
        "logQ correction") makes the trained scores estimate the full softmax, so
        popular items, which are sampled often, are not scored down at inference.
        `row_weights [N]` (optional) scales each row's loss (User-Personalization's
        recency_mask)."""
        n = O.shape[0]
        Y = Y.reshape(n, -1)
        valid = Y >= 0
        cand, inv = np.unique(np.concatenate([Y[valid], negatives]), return_inverse=True)
        rows, cols = np.nonzero(valid)
        ty = inv[:rows.shape[0]]
        tw = np.ones(Y.shape[1]) if target_weights is None else np.asarray(target_weights, np.float64)
        wm = valid * tw
        w = (wm / wm.sum(axis=1, keepdims=True))[rows, cols]   # each row's targets share weight 1
        if row_weights is not None:
            w = w * np.asarray(row_weights, np.float64)[rows]
        r = self.item_rep("out", cand)
        logits = O @ r.T + self.params["b_out"][cand]
        if log_inclusion is not None:
            logits -= log_inclusion(cand).astype(logits.dtype)
        loss, p = softmax_cross_entropy(logits, rows, ty, w)
        dO = p @ r
        self.item_rep_backward("out", cand, p.T @ O, grads)
        grads.setdefault("b_out", []).append((cand, p.sum(axis=0)))
        return loss, dO

    def scores(self, O, items=None):
        """Scores `[B, len(items)]` (all items when `items` is None: a product with the
        output table itself, no per-request copy of it; with item metadata the full output
        representation is computed once per loaded network)."""
        if items is not None:
            return O @ self.item_rep("out", items).T + self.params["b_out"][items]
        return O @ self.output_table().T + self.params["b_out"]

    def output_table(self):
        """`rep_out` of every item, `[I, H]`: the embedding table as it is (a read-only
        memory map when loaded so), or with metadata `E + F_item @ A` (kept after the first
        call when the parameters are read-only, as a served model's are: they cannot change)."""
        e, a = self._names("out")
        if self.item_features is None:
            return self.params[e]
        table = getattr(self, "_output_table", None)
        if table is None:
            table = self.item_rep("out", np.arange(self.params[e].shape[0]))
            if not (self.params[e].flags.writeable or self.params[a].flags.writeable):
                self._output_table = table
        return table
