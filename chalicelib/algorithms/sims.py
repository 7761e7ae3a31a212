"""aws-sims: item-to-item similarities from co-occurrence in user histories (seed "SIMS Recipe").

"SIMS ... leverages user-item interaction data to recommend items similar to a given item. In the
absence of sufficient user behavior data for an item, this algorithm will return popular items."
The seed names the hyperparameters without formulas; this is how each one enters the score.
All times are in days; `t_ref` is the newest timestamp in the training data.

Decay. A half-life `h` turns an elapsed time `d` into `2 ** (-d / h)` (with `h = 0`: 1 if `d = 0`
else 0). Each decay has a fast and a slow half-life, mixed by `alpha`:
`decay(d) = alpha * 2**(-d/fast) + (1 - alpha) * 2**(-d/slow)`; a higher `alpha` gives the fast
half-life more say, i.e. "more importance to recent interactions".

Co-purchases. For every user, every two interactions with different items A and B at most
`copurchase_delta` days apart form a co-purchase. It adds to the directed pair (query A ->
candidate B) the weight `history(age) * order(gap)`:
- `history_decay_{fast,slow}_half_life`: `history(age)`, `age = t_ref - (time of the later of the
  two interactions)`, so old co-purchases count less;
- `in_order_decay_{fast,slow}_half_life`: `order(gap)` when A came before B (B followed A, the
  "people went on to" direction), `gap` the days between them;
- `out_of_order_decay_{fast,slow}_half_life`: `order(gap)` when B came before A.
`W[A, B]` is the sum of those weights; `C[A, B]` the number of distinct users with such a
co-purchase. An item's weight `N[X]` is the sum of `history(age)` over its interactions.

Score. Pairs with `C[A, B] < min_copurchase_count` are dropped (and pairs of weight 0). The rest
score `W[A, B] / ((N[A] + eps) * (N[B] + eps)) ** (beta / 2)` with `eps = epsilon_smoothing` and
`beta = exponentiation_parameter`: `beta = 1` is a (decayed, smoothed) cosine similarity, `beta = 0`
the raw co-purchase weight that favours popular items; `eps` keeps items with little co-purchase
data from scoring high on a handful of events. Each item keeps its `top_n` best candidates.

Fallback. An item with fewer neighbours than asked for (or unknown) is padded with the most
popular items by `N` (recency-weighted popularity; ties: more events, then lower index), never
repeating a neighbour or the item itself; padded items score 0.

Scale. Co-purchases are generated per position from sorted `(user, time)` arrays in chunks of at
most `CHUNK_PAIRS` (cut at user boundaries, so distinct-user counts are exact unless one user alone
exceeds a chunk and repeats items), each chunk summed into one sparse items x items matrix
(real part W, imaginary part C, so both share one pattern); nothing items x items is ever dense.
Everything is deterministic (no randomness; stable sorts). With a checkpoint
(`chalicelib.algorithms.checkpoint`) the chunks are the fit's epochs: after each one the sum so far
may be saved and the fit resumed from the next chunk, with the same matrix bit for bit.
"""
from __future__ import annotations

import time
from typing import Callable, Dict, List, Tuple

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms.base import RELATED_ITEMS, Model, Recipe, TrainingData
from chalicelib.algorithms.checkpoint import at_epoch_end
from chalicelib.domain.recipes import parse_hyperparameters

NAME = "aws-sims"
DAY = 86400.0
CHUNK_PAIRS = 2_000_000      # co-purchases materialised at once


def half_life_decay(days: np.ndarray, half_life: float) -> np.ndarray:
    days = np.asarray(days, np.float64)
    if half_life <= 0:
        return (days <= 0).astype(np.float64)
    return np.exp2(-days / half_life)


def mixed_decay(days: np.ndarray, fast: float, slow: float, alpha: float) -> np.ndarray:
    """alpha * fast-half-life decay + (1 - alpha) * slow-half-life decay."""
    return alpha * half_life_decay(days, fast) + (1.0 - alpha) * half_life_decay(days, slow)


class SimsModel(Model):
    recipe = NAME
    recipe_type = RELATED_ITEMS

    def __init__(self, item_ids, hyperparameters=None, *, indptr, indices, scores, popular, popularity):
        super().__init__(item_ids, hyperparameters)
        self.indptr = np.asarray(indptr, np.int64)        # CSR rows: query item -> neighbours, best first
        self.indices = np.asarray(indices, np.int32)
        self.scores = np.asarray(scores, np.float32)
        self.popular = np.asarray(popular, np.int32)      # all items, most popular first
        self.popularity = np.asarray(popularity, np.float32)

    def neighbours(self, item: int) -> Tuple[np.ndarray, np.ndarray]:
        """The stored similar items of one item (no popularity fill)."""
        s, e = self.indptr[item], self.indptr[item + 1]
        return self.indices[s:e], self.scores[s:e]

    def similar_items(self, items: np.ndarray, n: int) -> Tuple[np.ndarray, np.ndarray]:
        q = np.asarray(items, np.int64).reshape(-1)
        n_items, b = self.item_ids.size, q.size
        n = max(0, min(n, n_items))
        known = (q >= 0) & (q < n_items)
        qk = np.where(known, q, 0)
        lens = np.where(known, self.indptr[qk + 1] - self.indptr[qk], 0)
        width = int(min(n, lens.max(initial=0)))
        cols = np.arange(width)
        has = cols[None, :] < lens[:, None]
        pos = np.where(has, self.indptr[qk][:, None] + cols[None, :], 0)
        nb = np.where(has, self.indices[pos] if self.indices.size else -1, -1).astype(np.int64)
        nb_s = np.where(has, self.scores[pos] if self.scores.size else 0, -np.inf)
        # popular fill: n + width + 1 candidates always leave n after removing neighbours and self
        fill = np.broadcast_to(self.popular[: min(n_items, n + width + 1)].astype(np.int64), (b, min(n_items, n + width + 1)))
        cand = np.concatenate([nb, fill], axis=1)
        score = np.concatenate([nb_s, np.zeros(fill.shape)], axis=1)
        w = n_items + 1
        nb_keys = (np.arange(b)[:, None] * w + nb)[has]
        dup = np.zeros(cand.shape, bool)
        dup[:, width:] = np.isin(np.arange(b)[:, None] * w + fill, nb_keys) | (fill == np.where(known, q, -2)[:, None])
        bad = dup | (cand < 0)
        order = np.argsort(bad, axis=1, kind="stable")[:, :n]
        ids = np.take_along_axis(cand, order, axis=1)
        out_bad = np.take_along_axis(bad, order, axis=1)
        vals = np.take_along_axis(score, order, axis=1)
        if ids.shape[1] < n:
            pad = n - ids.shape[1]
            ids = np.concatenate([ids, np.full((b, pad), -1)], axis=1)
            out_bad = np.concatenate([out_bad, np.ones((b, pad), bool)], axis=1)
            vals = np.concatenate([vals, np.zeros((b, pad))], axis=1)
        return np.where(out_bad, -1, ids).astype(np.int32), np.where(out_bad, -np.inf, vals)

    def arrays(self) -> Dict[str, np.ndarray]:
        return {"indptr": self.indptr, "indices": self.indices, "scores": self.scores,
                "popular": self.popular, "popularity": self.popularity}

    @classmethod
    def from_artifacts(cls, item_ids, hyperparameters, arrays, meta):
        return cls(item_ids, hyperparameters, **{k: arrays[k] for k in
                                                 ("indptr", "indices", "scores", "popular", "popularity")})


def _chunks(user: np.ndarray, counts: np.ndarray, budget: int) -> List[Tuple[int, int]]:
    """Position ranges with at most ~budget co-purchases, cut at user starts where possible."""
    n = counts.size
    if n == 0:
        return []
    before = np.concatenate([[0], np.cumsum(counts)[:-1]])
    group = before // max(1, budget)
    cuts = np.flatnonzero(np.diff(group)) + 1
    user_start = np.flatnonzero(np.concatenate([[True], user[1:] != user[:-1]]))
    bounds, prev = [0], 0
    for c in cuts:
        # snap back to the start of c's user unless that user alone is the whole chunk
        s = user_start[np.searchsorted(user_start, c, side="right") - 1]
        c = int(s) if s > prev else int(c)
        if c > prev:
            bounds.append(c)
            prev = c
    bounds.append(n)
    return list(zip(bounds[:-1], bounds[1:]))


class Sims(Recipe):
    name = NAME
    recipe_type = RELATED_ITEMS
    model_class = SimsModel
    supports_checkpoint = True   # the co-purchase chunks (module docstring)

    def fit(self, data: TrainingData, hyperparameters: Dict[str, str], *, seed: int = 0,
            log: Callable[[str], None] = lambda msg: None, checkpoint=None) -> SimsModel:
        p = parse_hyperparameters(NAME, hyperparameters)
        alpha = p["alpha"]
        n_items = data.n_items
        it = data.interactions
        order = np.lexsort((np.arange(len(it)), it.timestamp, it.user))
        user, item = it.user[order].astype(np.int64), it.item[order].astype(np.int64)
        t = it.timestamp[order].astype(np.int64)
        t_ref = int(t.max()) if t.size else 0

        item_w = mixed_decay((t_ref - t) / DAY, p["history_decay_fast_half_life"],
                             p["history_decay_slow_half_life"], alpha)
        popularity = np.bincount(item, item_w, minlength=n_items)
        counts = np.bincount(item, minlength=n_items)
        popular = np.lexsort((np.arange(n_items), -counts, -popularity)).astype(np.int32)

        # co-purchase partners of position s: s+1 .. right[s]-1 (same user, within delta)
        # a window wider than the data's time span pairs the same interactions as the span
        # itself: capping it keeps any copurchase_delta (no upper bound in the seed) in int64
        span = int(t.max() - t.min()) if t.size else 0
        delta = min(int(p["copurchase_delta"]) * 86400, span + 1)
        right = self._partner_end(user, t, delta)
        partners = right - np.arange(t.size) - 1
        log(f"{NAME}: {int(partners.sum())} co-purchases within {p['copurchase_delta']} days")

        # users who interact with some item more than once: only their pairs need de-duplicating
        uk = np.unique(user * n_items + item)
        per_user = np.bincount(user, minlength=data.n_users)
        distinct = np.bincount(uk // n_items, minlength=data.n_users)
        repeats = distinct < per_user

        shape = (n_items, n_items)
        # one complex matrix keeps both sums on one sparsity pattern: real part W (summed
        # co-purchase weights, query x candidate), imaginary part C (distinct co-purchasing users)
        WC = sp.csr_matrix(shape, dtype=np.complex128)
        chunks, first = _chunks(user, partners, CHUNK_PAIRS), 1
        saved = checkpoint.resume() if checkpoint is not None else None
        if saved is not None:
            arrays, state = saved
            WC = sp.csr_matrix((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)
            first = int(state["epoch"]) + 1
            log(f"{NAME}: resumed from the checkpoint after chunk {first - 1} of {len(chunks)}")
        for number, (a, b) in enumerate(chunks[first - 1:], start=first):
            t0 = time.monotonic()
            WC = self._add_chunk(WC, a, b, partners, user, item, t, t_ref, repeats, n_items, p, alpha)
            if at_epoch_end(checkpoint, number, len(chunks), time.monotonic() - t0):
                checkpoint.pause({"data": WC.data, "indices": WC.indices, "indptr": WC.indptr},
                                 {"epoch": number})
        return self._model(data, p, WC, popularity, popular, log)

    @staticmethod
    def _add_chunk(WC, a, b, partners, user, item, t, t_ref, repeats, n_items, p, alpha):
        """`WC` plus the co-purchases of positions a..b-1 (module docstring)."""
        shape = WC.shape
        cnt = partners[a:b]
        total = int(cnt.sum())
        if total == 0:
            return WC
        src = np.repeat(np.arange(a, b), cnt)
        first = np.repeat(np.cumsum(cnt) - cnt, cnt)
        dst = src + (np.arange(total) - first) + 1
        keep = item[src] != item[dst]
        src, dst = src[keep], dst[keep]
        ia, ib = item[src], item[dst]
        gap = (t[dst] - t[src]) / DAY
        wh = mixed_decay((t_ref - t[dst]) / DAY, p["history_decay_fast_half_life"],
                         p["history_decay_slow_half_life"], alpha)
        w_in = wh * mixed_decay(gap, p["in_order_decay_fast_half_life"],
                                p["in_order_decay_slow_half_life"], alpha)
        w_out = wh * mixed_decay(gap, p["out_of_order_decay_fast_half_life"],
                                 p["out_of_order_decay_slow_half_life"], alpha)
        # query ia -> candidate ib: ib came later (in order); query ib -> ia: out of order
        rows, cols = np.concatenate([ia, ib]), np.concatenate([ib, ia])
        ones = np.ones(rows.size)
        rep = repeats[np.concatenate([user[src], user[src]])]
        if rep.any():
            # a user's repeated co-purchases of one pair count once
            keys = rows[rep] * n_items + cols[rep]
            us = np.concatenate([user[src], user[src]])[rep]
            o = np.lexsort((keys, us))
            ks, uo = keys[o], us[o]
            again = np.concatenate([[False], (ks[1:] == ks[:-1]) & (uo[1:] == uo[:-1])])
            sub = np.ones(rep.sum())
            sub[o[again]] = 0.0
            ones[rep] = sub
        return WC + sp.csr_matrix((np.concatenate([w_in, w_out]) + 1j * ones, (rows, cols)), shape=shape)

    @staticmethod
    def _model(data, p, WC, popularity, popular, log):
        n_items = data.n_items
        # pairs with enough users and a positive weight
        S = WC.tocoo()
        w, c = S.data.real, S.data.imag
        keep = (c >= max(1, p["min_copurchase_count"]) - 1e-9) & (w > 0)
        rows, cols, w = S.row[keep].astype(np.int64), S.col[keep].astype(np.int64), w[keep]
        eps, beta = float(p["epsilon_smoothing"]), float(p["exponentiation_parameter"])
        den = ((popularity[rows] + eps) * (popularity[cols] + eps)) ** (beta / 2.0)
        score = w / np.maximum(den, 1e-12)
        # best top_n per row: row asc, score desc, candidate asc (deterministic ties)
        o = np.lexsort((cols, -score, rows))
        rows, cols, score = rows[o], cols[o], score[o]
        row_counts = np.bincount(rows, minlength=n_items)
        row_start = np.concatenate([[0], np.cumsum(row_counts)])
        rank = np.arange(rows.size) - row_start[rows]
        top = rank < p["top_n"]
        rows, cols, score = rows[top], cols[top], score[top]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_items))]).astype(np.int64)
        log(f"{NAME}: {cols.size} similar-item entries for {int(np.count_nonzero(np.diff(indptr)))} items")
        return SimsModel(data.item_ids, {k: str(v) for k, v in p.items()}, indptr=indptr,
                         indices=cols.astype(np.int32), scores=score.astype(np.float32),
                         popular=popular, popularity=popularity.astype(np.float32))

    @staticmethod
    def _partner_end(user: np.ndarray, t: np.ndarray, delta: int) -> np.ndarray:
        """For sorted (user, t): first position after s that is another user or > delta later."""
        if t.size == 0:
            return np.zeros(0, np.int64)
        t0 = t - t.min()
        stride = int(t0.max()) + delta + 1
        # users are dense ranks here so user * stride stays far below 2**63 for real data
        rank = np.concatenate([[0], np.cumsum(user[1:] != user[:-1])])
        if (int(rank[-1]) + 1) * stride >= 2 ** 62:
            raise ValueError("timestamps span too wide a range (are they Unix seconds?)")
        key = rank * stride + t0
        return np.searchsorted(key, key + delta, side="right").astype(np.int64)
