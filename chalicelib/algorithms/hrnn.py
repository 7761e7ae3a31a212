"""The HRNN recipes: `aws-hrnn`, `aws-hrnn-metadata`, `aws-hrnn-coldstart`.

Seed: "Predefined Recipes" (HRNN, HRNN-metadata, HRNN-coldstart) and "HRNN
Recipe" (hyperparameter table). The network is in `hrnn_net.py`; this module
prepares the sequences, trains, validates and serves.

Sequences and sessions. Each user's interactions are sorted by timestamp
(ties keep their input order). A new session starts when two consecutive
interactions are more than the model's session gap apart: in MovieLens-like
data a user rates in bursts, and a burst is the natural "session" whose end
updates the user-level state. The gap adapts to the data's clock
(`session_gap`): `SESSION_GAP_SECONDS` (one hour), or the timestamps'
resolution where that is coarser (the greatest common divisor of the gaps
between a user's consecutive interactions: 86400 for day-level dates), since
one tick of the clock is no evidence of a break. With the one-hour rule every
day of day-level data was a session of its own and the user-level GRU read one
item per session (amazon-beauty, items one day apart, development seed 0:
NDCG@10 0.0425 with a session per item, 0.0530 with the gap at the
resolution; ml-latest-small, second-level times, is unchanged). Ties (equal
times) never start a session, so a tie group is read inside one session, in
its import order. The gap is saved with the model and used at inference.
Histories without timestamps are one session.

Training. Mini-batches are `training.batch_size` parallel streams; each
stream reads one user's sequence after another (users longest first, equal
lengths in seeded random order, each to the stream that frees up first), so
every row is busy until the last few steps of an epoch.
The network is unrolled over windows of `BPTT_STEPS` steps (truncated
backprop: the state is carried from window to window but gradients stop at
window borders); each window is one Adam step (lazy on embedding rows, global
gradient norm clipped at 5; the learning rate decays linearly from
`LEARNING_RATE` to `LR_FINAL_SHARE` of it over the maximum number of epochs)
on a sampled softmax: the window's targets
against each other plus `NUM_NEGATIVES` items drawn with probability
proportional to count**`NEGATIVE_ALPHA`, with the logQ correction (see
`HrnnNet.sampled_softmax`) so that scores estimate the full softmax.
The target of a step is not only the next item but the next `TARGET_SPAN`
items of the same user, weighted `TARGET_DECAY**k`: ratings within a burst
come in an arbitrary order, and what a user does next is a set of items
(the evaluation protocol's targets are the newest 10%, not one item).

Epochs, early stopping and time limits. A seeded `VALIDATION_SHARE` of the
training users (at most `MAX_VALIDATION_USERS`, only when at least
`MIN_VALIDATION_USERS` qualify) keeps its newest 10% of interactions out of
training; after every epoch the model recommends 25 items from each such
user's older 90% (its newest `VALIDATION_HISTORY` items: the cost of a
validation grows with the longest history, and the recurrent state has long
forgotten older items) and scores NDCG@25 against the held-out 10% (the
protocol of EVALUATION.md in miniature). The parameters of the best epoch are kept;
training stops after `PATIENCE` epochs without improvement, but not before
`MIN_EPOCHS` (validation can plateau for an epoch while the model still improves).
`training.epochs` is the maximum number of epochs. The seed's default (1) is
too few for a useful model, so when the caller does not set it the maximum is
`DEFAULT_MAX_EPOCHS` (`Hrnn.default_overrides`, which the trainer's reports list
too; the seed's range [1, 1000) still applies to any value given). `LR_FINAL_SHARE` below 1 decays the rate linearly over the maximum
number of epochs; the default keeps it constant.

Initialisation. With `SPECTRAL_INIT` the item embeddings start from the
factors of `spectral.item_factors` (mean row norm `INIT_ROW_NORM`). Items that are
bought together then start close, and the GRU only has to learn how to read a
sequence of them. From random embeddings the model needed 8 epochs (~48 s CPU
on ml-latest-small) and was still improving; from the spectral start 3 epochs
(~20 s) score higher (NDCG@10 on development splits 10-14: 0.082 after 8
random-start epochs, 0.102 / 0.113 / 0.126 after 3 spectral-start epochs with
row norm 0.6 / 1.2 / 2.0, start by ARPACK's svds; 5 epochs gained nothing
over 3). Reported seeds 0-4: bench/hrnn_quality.py. Metadata weights
(`A_in`, `A_out`, `C`) start at zero, so metadata begins as no change to that
representation, and learn at `METADATA_LR_SCALE` of the rate: Adam moves every
entry by about the rate per step, and a genre's vector, shared by thousands
of items and updated every window, would otherwise swamp the item's own.
`training.early_time` bounds the training wall time in seconds (checked after every window; 0 means no limit).
`training.eval_epoch_time` bounds the validation time of an epoch in seconds
(validation users are scored in a fixed order in batches of 64 until the
budget is spent, at least one batch; absent or 0 means no limit).
`model.dropout` is the inverted-dropout rate on the input and after every
layer; values above 0.95 act as 0.95 (dropping everything leaves nothing to
learn from).

Co-occurrence (issue 18). Where the order of a user's events says little (day-level
timestamps, events imported in batches, ties), a sequence model has little to read and falls
below matrix factorisation. So every HRNN model also holds what co-occurrence says, from the
training spans: a weighted implicit factorisation (`spectral.implicit_factors`: `CF_FACTORS`
factors, regularisation `CF_REG`, confidence `1 + alpha`, `CF_ITERATIONS` sweeps) and item
neighbours (`neighbours.item_neighbours`: 100 per item, from a closed-form item regression on
catalogues of up to 12,500 items, shrunk cosines above), and scores
`blend(network, factorisation, weight, neighbours, neighbour weight)`: every row divided by its
standard deviation, the factorisation's times `weight`, the neighbours' times the neighbour
weight. The confidence alpha (of `CF_ALPHAS`), the weight (of `CF_WEIGHTS`: 0 = none, inf = the
factorisation in the network's place) and the neighbour weight (of `KNN_WEIGHTS`) are chosen
together after training by the same validation users and NDCG@25 as the epochs, so the data
decides how much the order is worth, how much an observed pair outweighs an unobserved one and
whether neighbours or factors describe the catalogue better (sparse catalogues like
amazon-beauty, 9 interactions a user, favour the neighbours and a larger alpha; MovieLens 1).
A blend must beat the network alone by `CF_MARGIN` (relative) on validation, else both weights
are 0 (ml-latest-small, development seed 0: a weight of 0.25 was +2% on validation and -0.006
NDCG@10 held out). A user's factors are folded in from the history at request time
(`spectral.fold_in`, an exact solve), the neighbours summed over it, like the recurrent state.
Ties in time keep their import order (`data.user_sequences`, a stable sort) and stay in one
session (a gap of 0 never exceeds the session gap); the co-occurrence component ignores order.
(Shuffling the tied items anew every epoch was tried: ml-latest-small seed 0 fell from 0.087
to 0.074, since its same-second ratings come in movieId order, which says something.)

Warm start (today's trainingMode UPDATE; `warm_start.py` says what today's API documents).
`fit(data, hyperparameters, warm_start=previous_model)` re-indexes the data with the previous
model's items and users first (`warm_start.align`), takes the previous network's structure
(layers, hidden units, skip connection: any other value given is overridden), carries over its
parameters (`_carry_over`: item rows by id, metadata weights by feature name, the GRUs as they
are) in place of the spectral start, places the new items (metadata ridge map, else
co-occurrence with carried items, else the carried mean) and fine-tunes for
`warm_start.UPDATE_EPOCHS` epoch(s). The validation score of the carried parameters is
recorded but does not compete with the fine-tuned epochs (the previous model may have trained
on the validation users' held-out interactions). `info["warm_start"]` records what was carried
and placed.

Inference. The user state is computed from the `History` each time
(imported interactions plus PutEvents events), so new events change the
recommendations without retraining. `recommend` scores a list of histories
in one batched pass; the runtime's single user is a list of one. Items never
seen in training score -inf (HRNN-coldstart scores them from metadata, see
there); an empty history gets the most popular items.
"""
from __future__ import annotations

import heapq
import time
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms import ann
from chalicelib.algorithms.base import (History, Model, Recipe, TrainingData, USER_PERSONALIZATION,
                                        UserState, candidate_scores, exclude_histories, in_catalogue,
                                        param_arrays, params_of, popularity_prior, state_vectors,
                                        top_n)
from chalicelib.algorithms.blas import single_threaded_blas
from chalicelib.algorithms.checkpoint import (at_epoch_end, pause_loop, report_epoch, resume_loop,
                                             unprefixed)
from chalicelib.algorithms.data import recency_weights, user_sequences
from chalicelib.algorithms.features import metadata_features
from chalicelib.algorithms.hrnn_net import CONTINUE, NEW_SESSION, NEW_USER, HrnnNet
from chalicelib.algorithms.neighbours import item_neighbours, neighbour_scores
from chalicelib.algorithms.optim import Adam, finish_grads
from chalicelib.algorithms.softmax import NegativeSampler
from chalicelib.algorithms.spectral import fold_in, fold_in_more, implicit_factors, start_embeddings
from chalicelib.algorithms.warm_start import (UPDATE_EPOCHS, align, carry_rows, cooccurrence_rows,
                                              feature_rows, ridge_predict)
from chalicelib.domain.recipes import parse_hyperparameters

SESSION_GAP_SECONDS = 3600
BPTT_STEPS = 10
NUM_NEGATIVES = 512
TARGET_SPAN = 5
TARGET_DECAY = 0.8
NEGATIVE_ALPHA = 0.5
LEARNING_RATE = 3e-3
LR_FINAL_SHARE = 1.0
TIED_EMBEDDINGS = True
DEFAULT_MAX_EPOCHS = 3
MIN_EPOCHS = 2
PATIENCE = 2
VALIDATION_SHARE = 0.3
MIN_VALIDATION_USERS = 20
MAX_VALIDATION_USERS = 500
VALIDATION_K = 25
VALIDATION_HISTORY = 200
MAX_DROPOUT = 0.95
INFERENCE_GROUP = 256
SPECTRAL_INIT = True
INIT_ROW_NORM = 2.0
METADATA_LR_SCALE = 0.1
METADATA_PARAMS = ("A_in", "A_out", "C")
# the co-occurrence component (module docstring, "Co-occurrence")
CF_FACTORS = 100
CF_REG = 0.1
CF_ALPHA = 1.0          # the confidence of models saved before CF_ALPHAS
CF_ALPHAS = (1.0, 10.0)
CF_ITERATIONS = 10
CF_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, np.inf)
CF_MARGIN = 0.05
KNN_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0)


# --- sequences ------------------------------------------------------------------
def session_modes(timestamps: Optional[np.ndarray], n: int, gap: int = SESSION_GAP_SECONDS) -> np.ndarray:
    """Per-step mode of one user's sequence: NEW_USER first, NEW_SESSION after more than `gap`
    seconds."""
    modes = np.full(n, CONTINUE, np.int8)
    if n == 0:
        return modes
    if timestamps is not None and len(timestamps) == n:
        gaps = np.diff(np.asarray(timestamps, np.int64))
        modes[1:][gaps > gap] = NEW_SESSION
    modes[0] = NEW_USER
    return modes


def session_gap(stamps: np.ndarray, bounds: np.ndarray) -> int:
    """The data's session gap (module docstring, "Sequences and sessions"): the larger of
    `SESSION_GAP_SECONDS` and the clock's resolution, the greatest common divisor of the positive
    gaps between a user's consecutive interactions (86400 for day-level timestamps)."""
    same = np.ones(max(stamps.shape[0] - 1, 0), bool)
    same[bounds[1:-1][(bounds[1:-1] > 0) & (bounds[1:-1] < stamps.shape[0])] - 1] = False
    gaps = np.diff(np.asarray(stamps, np.int64))[same]
    gaps = np.unique(gaps[gaps > 0])
    resolution = int(np.gcd.reduce(gaps)) if gaps.size else 0
    return max(SESSION_GAP_SECONDS, resolution)


def _layout(spans, rng, n_streams):
    """Place user spans `(user, start, end)` on parallel streams; returns
    `(positions, length)` with positions `(stream, offset, user, start, end)`.
    Longest users go first (ties in seeded random order), each to the stream that
    frees up first: the streams then end within about one short user of each other."""
    lens = np.array([b - a for _, a, b in spans])
    order = np.lexsort((rng.random(lens.shape[0]), -lens))
    heap = [(0, s) for s in range(n_streams)]
    placed = []
    for k in order:
        u, a, b = spans[k]
        off, s = heapq.heappop(heap)
        placed.append((s, off, u, a, b))
        heapq.heappush(heap, (off + b - a, s))
    return placed, max(h[0] for h in heap)


def _batch_arrays(placed, length, n_streams, items, modes, weights=None):
    """Inputs `X`, targets `Y [T, B, TARGET_SPAN]` (the next items of the same user,
    -1 past its end), modes `M` and user indices `U` of an epoch's streams; with per-interaction
    `weights`, also `W [T, B]`, the weight of each step's next item."""
    W = None if weights is None else np.zeros((length, n_streams))
    X = np.zeros((length, n_streams), np.int64)
    Y = np.full((length, n_streams, TARGET_SPAN), -1, np.int64)
    M = np.full((length, n_streams), CONTINUE, np.int8)
    U = np.full((length, n_streams), -1, np.int64)
    for s, off, u, a, b in placed:
        n = b - a
        X[off:off + n, s] = items[a:b]
        for k in range(1, min(TARGET_SPAN, n - 1) + 1):
            Y[off:off + n - k, s, k - 1] = items[a + k:b]
        M[off:off + n, s] = modes[a:b]
        U[off, s] = u
        if W is not None:
            W[off:off + n - 1, s] = weights[a + 1:b]
    return (X, Y, M, U) if W is None else (X, Y, M, U, W)


# --- inference shared by every HRNN model ------------------------------------------
def encode(net: HrnnNet, histories: Sequence[History], users=None,
           gap: int = SESSION_GAP_SECONDS) -> Tuple[np.ndarray, np.ndarray]:
    """Final output vector of each history, `[B, H]`, and a mask of non-empty histories;
    sessions split after more than `gap` seconds (the model's `session_gap`).

    Histories are right-aligned in groups of similar length so that all rows end on
    the last step; the leading padding is overwritten by the NEW_USER reset."""
    with single_threaded_blas():
        return _encode(net, histories, users, gap)


def _encode(net, histories, users, gap):
    b = len(histories)
    out = np.zeros((b, net.num_hidden), net.dtype)
    histories = [_known_part(h, net.params["b_out"].shape[0]) for h in histories]
    lens = np.array([len(h.items) for h in histories], np.int64)
    users = np.full(b, -1, np.int64) if users is None else np.asarray(users, np.int64)
    todo = np.flatnonzero(lens > 0)
    todo = todo[np.argsort(lens[todo], kind="stable")]
    for g0 in range(0, todo.shape[0], INFERENCE_GROUP):
        rows = todo[g0:g0 + INFERENCE_GROUP]
        t_len = int(lens[rows].max())
        X = np.zeros((t_len, rows.shape[0]), np.int64)
        M = np.full((t_len, rows.shape[0]), CONTINUE, np.int8)
        U = np.full((t_len, rows.shape[0]), -1, np.int64)
        for j, r in enumerate(rows):
            h = histories[r]
            n = int(lens[r])
            X[t_len - n:, j] = h.items
            M[t_len - n:, j] = session_modes(h.timestamps, n, gap)
            U[t_len - n, j] = users[r]
        hs, hu = net.zero_state(rows.shape[0])
        xu, xinv = np.unique(X, return_inverse=True)
        rin = net.item_rep("in", xu)
        xinv = xinv.reshape(X.shape)
        o = None
        w0, b0 = net.params["s0.W"], net.params["s0.b"]
        nomask = [None] * (net.num_layers + 1)
        for t in range(t_len):
            x = rin[xinv[t]]
            o, hs, hu, _ = net._step(x @ w0 + b0, x, M[t], U[t], hs, hu, nomask)
        out[rows] = o
    return out, lens > 0


def _known_part(h: History, n_items: int) -> History:
    """The history without indices outside the catalogue (the model cannot read them)."""
    items = np.asarray(h.items, np.int64)
    ok = (items >= 0) & (items < n_items)
    if ok.all():
        return h
    ts = None if h.timestamps is None or len(h.timestamps) != len(items) else np.asarray(h.timestamps)[ok]
    return History(items[ok].astype(np.int32), ts)


# --- the model ----------------------------------------------------------------------
class HrnnModel(Model):
    """A trained HRNN solution version (also the base of the metadata, coldstart and
    personalized-ranking models)."""

    recipe = "aws-hrnn"
    recipe_type = USER_PERSONALIZATION
    ann = None        # the catalogue's ANN index (`algorithms.ann`), large catalogues only

    def __init__(self, item_ids, hyperparameters, net: HrnnNet, item_counts: np.ndarray,
                 user_ids: Optional[np.ndarray] = None, info: Optional[dict] = None):
        super().__init__(item_ids, hyperparameters)
        self.net = net
        self.item_counts = np.asarray(item_counts, np.int64)
        self.user_ids = None if user_ids is None else np.asarray(user_ids, dtype=str)
        self.info = dict(info or {})
        # metadata feature column names ({"items": [...], "users": [...]}): a warm start maps
        # the metadata weights by name
        self.feature_names = {}
        # the co-occurrence component ({"V", "gram", "weight"}), None without one
        self.cooccurrence = None
        # sessions split after more than this many seconds (`session_gap`, from the training data)
        self.session_gap = int(self.info.get("session_gap_seconds", SESSION_GAP_SECONDS))
        self._known, self._popularity = popularity_prior(self.item_counts)
        # never-seen items once, not a mask per request (None when there are none)
        unknown = np.flatnonzero(~self._known)
        self._unknown = unknown if unknown.size else None
        self._user_index = None

    # --- scoring ---
    def user_index(self, user_id: str) -> int:
        """Training index of a USER_ID (for user metadata), -1 if unknown."""
        if self.user_ids is None:
            return -1
        if self._user_index is None:
            self._user_index = {u: i for i, u in enumerate(self.user_ids.tolist())}
        return self._user_index.get(user_id, -1)

    def fold(self, state, history, user=None):
        """The recurrent state carried forward: the GRU steps over `history[state.folded:]`
        only, from the saved layer states, with the same session rule as `encode` (a gap of
        more than `session_gap` after the last item read starts a session), so the
        vector equals `encode` of the whole history. `carry` = (layer states, user state,
        timestamp of the last item read, user index, the co-occurrence component's folded-in
        factors: `spectral.fold_in_more`, None without a blend)."""
        items = np.asarray(history.items, np.int64)
        start = 0 if state is None else state.folded
        ts = history.timestamps if history.timestamps is not None and \
            len(history.timestamps) == len(items) else None
        new = items[start:]
        ok = (new >= 0) & (new < self.item_ids.shape[0])
        known = new[ok]
        if state is not None and state.vector is not None:
            hs, hu, last, user, factors = state.carry
            out = state.vector[None, :]
        else:
            (hs, hu), last, out, factors = self.net.zero_state(1), None, None, None
            user = -1 if user is None else int(user)
        cf = self.cooccurrence
        if cf is not None and cf["weight"] > 0:
            with single_threaded_blas():   # a 100 x 100 solve: a second thread only adds waiting
                factors = fold_in_more(cf["V"], cf["gram"], cf.get("alpha", CF_ALPHA), factors, known)
        if known.size:
            kts = None if ts is None else np.asarray(ts, np.int64)[start:][ok]
            modes = np.full(known.size, CONTINUE, np.int8)
            if kts is not None:
                if last is None:
                    modes[1:][np.diff(kts) > self.session_gap] = NEW_SESSION
                else:
                    modes[np.diff(np.concatenate([[last], kts])) > self.session_gap] = NEW_SESSION
                last = int(kts[-1])
            if out is None:
                modes[0] = NEW_USER
            users = np.full(known.size, user, np.int64)
            net, nomask = self.net, [None] * (self.net.num_layers + 1)
            w0, b0 = net.params["s0.W"], net.params["s0.b"]
            with single_threaded_blas():
                rin = net.item_rep("in", known)
                for t in range(known.size):
                    x = rin[t:t + 1]
                    out, hs, hu, _ = net._step(x @ w0 + b0, x, modes[t:t + 1], users[t:t + 1],
                                               hs, hu, nomask)
        vector = None if out is None else out[0]
        return UserState(len(items), vector, (hs, hu, last, user, factors))

    def _outputs(self, histories, users=None, states=None):
        """`encode` of the histories, or the vectors of their carried `states`."""
        if states is None:
            return encode(self.net, histories, users, self.session_gap)
        return state_vectors(states, self.net.num_hidden, self.net.dtype)

    def item_scores(self, histories: Sequence[History], users=None, items=None,
                    states=None) -> np.ndarray:
        """Scores `[B, I]` (or `[B, len(items)]`): items never seen in training -inf,
        an empty history scores by popularity."""
        out, nonempty = self._outputs(histories, users, states)
        with single_threaded_blas():
            s = self.net.scores(out, items).astype(np.float64)
        cols = slice(None) if items is None else np.asarray(items)
        cf = self.cooccurrence
        wk = 0.0 if cf is None else cf.get("knn_weight", 0.0)
        if cf is not None and (cf["weight"] > 0 or wk > 0) and nonempty.any():
            s_cf = None
            if cf["weight"] > 0:
                factors = None if states is None else [None if st is None else st.carry[4] for st in states]
                s_cf = cooccurrence_scores(cf, histories, items, factors)
            s_knn = neighbour_scores(cf["S"], histories)[:, cols] if wk > 0 else None
            s = blend(s, s_cf, cf["weight"], s_knn, wk)
        s[~nonempty] = self._popularity[cols]
        if items is not None:
            s[:, ~self._known[cols]] = -np.inf
        elif self._unknown is not None:
            s[:, self._unknown] = -np.inf
        return s

    def recommend(self, histories, n, *, users=None, exclude_history=True, states=None,
                  allowed=None):
        if self.ann is not None and exclude_history and not self._blended():
            out, nonempty = self._outputs(histories, users, states)
            if nonempty.all():
                return self._ann_top(out, histories, n, allowed)
        s = self.item_scores(histories, users, states=states)
        if allowed is not None:
            s[:, ~allowed] = -np.inf
        return top_n(exclude_histories(s, histories) if exclude_history else s, n)

    def _blended(self):
        cf = self.cooccurrence
        return cf is not None and (cf["weight"] > 0 or cf.get("knn_weight", 0.0) > 0)

    def _ann_top(self, out, histories, n, allowed=None):
        """`recommend` through the catalogue's ANN index (`algorithms.ann`): the network's
        scores among `allowed`, history and never-seen items excluded."""
        table, bias = self.net.output_table(), self.net.params["b_out"]
        if allowed is None:
            allowed = None if self._unknown is None else self._known
        elif self._unknown is not None:
            allowed = allowed & self._known
        idx = np.full((len(histories), n), -1, np.int32)
        vals = np.full((len(histories), n), -np.inf)
        for r, h in enumerate(histories):
            found, scores = ann.top(self.ann, table, bias, out[r], n,
                                    allowed=allowed,
                                    exclude=in_catalogue(h.items, table.shape[0]))
            idx[r, :found.size], vals[r, :found.size] = found, scores
        return idx, vals

    def rank(self, history, candidates, *, user=None, state=None):
        """One score per candidate; unknown or never-seen items score -inf."""
        users = None if user is None else [user]
        states = None if state is None else [state]
        return candidate_scores(candidates, self.item_ids.shape[0],
                                lambda c: self.item_scores([history], users, c, states)[0])

    # --- artifacts ---
    def arrays(self):
        a = dict(param_arrays(self.net.params), item_counts=self.item_counts)
        for tag, m in (("fi", self.net.item_features), ("fu", self.net.user_features)):
            if m is not None:
                a[f"{tag}.data"], a[f"{tag}.indices"], a[f"{tag}.indptr"] = m.data, m.indices, m.indptr
                a[f"{tag}.shape"] = np.asarray(m.shape, np.int64)
        if self.user_ids is not None:
            a["user_ids"] = self.user_ids
        if self.ann is not None:
            a["ann.index"] = self.ann.to_array()
        cf = self.cooccurrence
        if cf is not None:
            a["cf.V"], a["cf.gram"] = cf["V"], cf["gram"]
            a["cf.weight"] = np.asarray(cf["weight"], np.float64)
            a["cf.alpha"] = np.asarray(cf["alpha"], np.float64)
            a["cf.knn_weight"] = np.asarray(cf.get("knn_weight", 0.0), np.float64)
            if cf.get("S") is not None:
                m = cf["S"]
                a["knn.data"], a["knn.indices"], a["knn.indptr"] = m.data, m.indices, m.indptr
                a["knn.shape"] = np.asarray(m.shape, np.int64)
        return a

    def meta(self):
        n = self.net
        return {"num_layers": n.num_layers, "num_hidden": n.num_hidden,
                "skip_connection": n.skip_connection, "tied": n.tied,
                "session_gap_seconds": self.session_gap, "training": self.info,
                "features": self.feature_names}

    @classmethod
    def from_artifacts(cls, item_ids, hyperparameters, arrays, meta):
        params = params_of(arrays)
        feats = {}
        for tag in ("fi", "fu", "knn"):
            if f"{tag}.data" in arrays:
                feats[tag] = sp.csr_matrix((arrays[f"{tag}.data"], arrays[f"{tag}.indices"],
                                            arrays[f"{tag}.indptr"]),
                                           shape=tuple(int(x) for x in arrays[f"{tag}.shape"]))
        net = HrnnNet(params, num_layers=meta["num_layers"], num_hidden=meta["num_hidden"],
                      skip_connection=meta["skip_connection"], tied=meta["tied"],
                      item_features=feats.get("fi"), user_features=feats.get("fu"))
        model = cls(item_ids, hyperparameters, net, arrays["item_counts"],
                    arrays.get("user_ids"), meta.get("training"))
        model.feature_names = dict(meta.get("features") or {})
        model.session_gap = int(meta.get("session_gap_seconds", SESSION_GAP_SECONDS))
        if "cf.V" in arrays:
            model.cooccurrence = {"V": arrays["cf.V"], "gram": arrays["cf.gram"],
                                  "weight": float(arrays["cf.weight"]),
                                  "alpha": float(arrays["cf.alpha"]) if "cf.alpha" in arrays else CF_ALPHA,
                                  "knn_weight": float(arrays["cf.knn_weight"]) if "cf.knn_weight" in arrays
                                  else 0.0, "S": feats.get("knn")}
        if "ann.index" in arrays and not model._blended():   # a blend is scored exactly
            model.ann = ann.Index.from_array(arrays["ann.index"], len(item_ids), net.num_hidden)
        model._load_extra(arrays, meta)
        return model

    def _load_extra(self, arrays, meta):
        pass


# --- training -----------------------------------------------------------------------
class Hrnn(Recipe):
    """`aws-hrnn` (seed: "HRNN Recipe")."""

    name = "aws-hrnn"
    recipe_type = USER_PERSONALIZATION
    model_class = HrnnModel
    use_metadata = False
    supports_warm_start = True
    supports_checkpoint = True
    cooccurrence = True     # module docstring, "Co-occurrence"

    def fit(self, data: TrainingData, hyperparameters: Dict[str, str], *, seed: int = 0,
            log: Callable[[str], None] = lambda msg: None, warm_start: Optional[HrnnModel] = None,
            checkpoint=None) -> Model:
        """Train (module docstring); `warm_start`: the previous version's model (trainingMode UPDATE);
        `checkpoint`: pause and resume the epoch loop (`chalicelib.algorithms.checkpoint`)."""
        given = dict(self.default_overrides(), **(hyperparameters or {}))
        data, warm = prepare_warm_start(self.name, data, warm_start)
        hp = parse_hyperparameters(self.name, dict(given, **warm_hyperparameters(warm_start)))
        if len(data.interactions) == 0:
            raise ValueError("no interactions to train on")
        item_f = user_f = None
        names = {}
        if self.use_metadata:
            item_f, names["items"] = metadata_features(data.items, data.n_items)
            user_f, names["users"] = metadata_features(data.users, data.n_users)
        with single_threaded_blas():
            net, counts, info = train_hrnn(data, hp, seed=seed, log=log,
                                           item_features=item_f, user_features=user_f,
                                           warm_start=warm and dict(warm, feature_names=names),
                                           checkpoint=checkpoint, cooccurrence=self.cooccurrence)
        cf = info.pop("_cooccurrence", None)
        if cf is not None:
            info["cooccurrence_weight"], info["cooccurrence_alpha"] = cf["weight"], cf["alpha"]
            info["neighbour_weight"] = cf["knn_weight"]
        model = self.model_class(data.item_ids, dict(hyperparameters or {}), net, counts,
                                 data.user_ids if user_f is not None else None, info)
        model.feature_names = names
        model.cooccurrence = cf
        model.ann = ann.build(net.output_table(), net.params["b_out"])   # large catalogues only
        self.finish(model, data)
        return model

    def finish(self, model, data):
        """Hook for recipes that post-process the trained model."""

    def default_overrides(self):
        return {"training.epochs": str(DEFAULT_MAX_EPOCHS)}


def prepare_warm_start(recipe: str, data: TrainingData, previous):
    """`(data, warm)` for a fit: with a previous model, the data re-indexed old ids first
    (`warm_start.align`) and the facts `train_hrnn(warm_start=...)` needs; else `(data, None)`."""
    if previous is None:
        return data, None
    if not isinstance(previous, HrnnModel):
        raise ValueError(f"{recipe}: trainingMode UPDATE needs a previous model of the HRNN family, "
                         f"not of {getattr(previous, 'recipe', None) or type(previous).__name__}")
    data, item_rows, _ = align(data, previous.item_ids, previous.user_ids)
    return data, {"previous": previous, "item_rows": item_rows}


def warm_hyperparameters(previous) -> Dict[str, str]:
    """What a warm start fixes: the previous network's structure and the short schedule."""
    if previous is None:
        return {}
    n = previous.net
    return {"model.num_layers": str(n.num_layers), "model.num_hidden": str(n.num_hidden),
            "model.skip_connection": "true" if n.skip_connection else "false",
            "training.epochs": str(UPDATE_EPOCHS)}


ITEM_TABLES = ("E_in", "E_out")


def _carry_over(net: HrnnNet, warm: dict, items, starts, ends, log) -> dict:
    """Overwrite `net`'s fresh parameters with the previous model's (module docstring, "Warm
    start") and place the new items; returns the facts for `info["warm_start"]`."""
    previous = warm["previous"]
    p, q, rows = net.params, previous.net.params, warm["item_rows"]
    names, old_names = warm.get("feature_names") or {}, previous.feature_names or {}
    for name, value in p.items():
        if name in ITEM_TABLES + ("b_out",) + METADATA_PARAMS:
            continue
        if name not in q or q[name].shape != value.shape:
            raise ValueError(f"trainingMode UPDATE: the previous model's parameter {name} does not "
                             "fit this network; train a FULL version")
        value[:] = q[name]
    carried = None
    for name in ITEM_TABLES + ("b_out",):
        if name in p and name in q:
            carried = carry_rows(p[name], q[name], rows)
    features_carried = 0
    for name, side in (("A_in", "items"), ("A_out", "items"), ("C", "users")):
        if name in p:
            p[name][:] = 0.0     # a feature the previous model did not have starts at zero
            if name in q:
                cols = feature_rows(old_names.get(side), names.get(side) or [], q[name].shape[0])
                features_carried += int(carry_rows(p[name], q[name], cols).sum())
    learnt = np.zeros(rows.shape[0], bool)   # carried items the previous model had trained on
    learnt[carried] = previous.item_counts[rows[carried]] > 0
    new = np.flatnonzero(~carried)
    facts = {"previousItems": int(previous.item_ids.shape[0]), "carriedItems": int(carried.sum()),
             "droppedItems": int(previous.item_ids.shape[0] - carried.sum()), "newItems": int(new.size),
             "placedByMetadata": 0, "placedByCooccurrence": 0, "placedAtMean": 0,
             "carriedFeatureRows": features_carried}
    if new.size == 0 or not learnt.any():
        return facts
    tables = [t for t in ITEM_TABLES if t in p]
    fi = net.item_features
    left = np.ones(new.size, bool)
    has_meta = np.zeros(rows.shape[0], bool) if fi is None else np.diff(fi.indptr) > 0
    meta_new = has_meta[new]
    if meta_new.any() and (learnt & has_meta).sum() >= 2:
        # HRNN-coldstart's ridge map over the carried items' full representations
        warm_idx, cold_idx = np.flatnonzero(learnt & has_meta), new[meta_new]
        sides = ["in" if t == "E_in" else "out" for t in tables]
        target = np.hstack([net.item_rep(s, warm_idx) for s in sides] + [p["b_out"][warm_idx][:, None]])
        cold_mask = np.zeros(rows.shape[0], bool)
        cold_mask[cold_idx] = True
        pred = ridge_predict(fi, learnt & has_meta, cold_mask, target)
        h = net.num_hidden
        for k, (t, s) in enumerate(zip(tables, sides)):
            own = fi[cold_idx] @ p["A_in" if s == "in" or net.tied else "A_out"]
            p[t][cold_idx] = (pred[:, k * h:(k + 1) * h] - own).astype(p[t].dtype)
        p["b_out"][cold_idx] = pred[:, -1].astype(p["b_out"].dtype)
        left[meta_new] = False
        facts["placedByMetadata"] = int(cold_idx.size)
    stacked = np.hstack([p[t] for t in tables] + [p["b_out"][:, None]])
    rest = new[left]
    values, found = cooccurrence_rows(items, starts, ends, rows.shape[0], learnt, rest, stacked)
    mean = stacked[learnt].mean(axis=0)
    values[~found] = mean
    h = net.num_hidden
    for k, t in enumerate(tables):
        p[t][rest] = values[:, k * h:(k + 1) * h].astype(p[t].dtype)
    p["b_out"][rest] = values[:, -1].astype(p["b_out"].dtype)
    facts["placedByCooccurrence"], facts["placedAtMean"] = int(found.sum()), int((~found).sum())
    log(f"warm start: {facts['carriedItems']} items carried over, {facts['newItems']} new "
        f"({facts['placedByMetadata']} from metadata, {facts['placedByCooccurrence']} from "
        f"co-occurrence, {facts['placedAtMean']} at the mean)")
    return facts


def train_hrnn(data: TrainingData, hp: dict, *, seed=0, log=lambda m: None,
               item_features=None, user_features=None, dtype=np.float32, bptt=BPTT_STEPS,
               recency_half_life_share=None, warm_start: Optional[dict] = None,
               cooccurrence: bool = False,
               checkpoint=None):
    """Train the network on `data` with typed hyperparameters `hp` (the HRNN table's names).
    Returns `(net, item_counts, info)`; see the module docstring for the schedule.
    `bptt` is the truncated-backprop window; `recency_half_life_share` (User-Personalization's
    recency_mask) weights each step's loss by `data.recency_weights` of its next item.
    `warm_start` (from `prepare_warm_start`, `data` aligned by it) starts from the previous
    model's parameters instead of the spectral start (module docstring, "Warm start").
    `checkpoint` (`chalicelib.algorithms.checkpoint.Checkpoint`, optional): the loop pauses
    at an epoch end when the next epoch would overrun its budget, and a run with the same
    arguments resumes from it; everything before the loop is rebuilt from the seed.
    `cooccurrence`: also fit the co-occurrence component and choose its weight on the validation
    users (module docstring, "Co-occurrence"); `info["_cooccurrence"]` then holds it."""
    t_start = time.monotonic()
    rng = np.random.default_rng(seed)
    items, stamps, bounds = user_sequences(data)
    step_weights = None if recency_half_life_share is None else \
        recency_weights(stamps, recency_half_life_share)
    n_items = data.n_items
    counts = np.bincount(data.interactions.item, minlength=n_items).astype(np.int64)

    max_epochs = int(hp["training.epochs"])
    streams = int(hp["training.batch_size"])
    dropout = min(float(hp["model.dropout"]), MAX_DROPOUT)
    early_time = int(hp.get("training.early_time") or 0)
    eval_time = int(hp.get("training.eval_epoch_time") or 0)

    lengths = np.diff(bounds)
    eligible = np.flatnonzero(lengths >= 3)
    n_val = min(int(round(VALIDATION_SHARE * eligible.shape[0])), MAX_VALIDATION_USERS)
    val_users = np.sort(rng.choice(eligible, n_val, replace=False)) if n_val >= MIN_VALIDATION_USERS \
        else np.zeros(0, np.int64)
    ends = bounds[1:].copy()
    val_hist, val_targets = [], []
    for u in val_users:
        a, b = bounds[u], bounds[u + 1]
        cut = b - max(1, int(round(0.1 * (b - a))))
        ends[u] = cut
        lo = max(a, cut - VALIDATION_HISTORY)
        val_hist.append(History(items[lo:cut].astype(np.int32), stamps[lo:cut]))
        val_targets.append(np.unique(items[cut:b]))
    spans = [(u, bounds[u], ends[u]) for u in range(data.n_users) if ends[u] - bounds[u] >= 2]
    if not spans:
        raise ValueError("no user has two or more interactions to learn a sequence from")
    gap = session_gap(stamps, bounds)
    modes = np.concatenate([session_modes(stamps[bounds[u]:bounds[u + 1]], bounds[u + 1] - bounds[u], gap)
                            for u in range(data.n_users)]) if items.shape[0] else np.zeros(0, np.int8)

    train_counts = np.zeros(n_items, np.float64)
    for u, a, b in spans:
        np.add.at(train_counts, items[a + 1:b], 1.0)
    sampler = NegativeSampler(train_counts, NEGATIVE_ALPHA, NUM_NEGATIVES)

    net = HrnnNet.create(rng, n_items, num_layers=int(hp["model.num_layers"]),
                         num_hidden=int(hp["model.num_hidden"]),
                         skip_connection=bool(hp["model.skip_connection"]), tied=TIED_EMBEDDINGS,
                         item_features=item_features, user_features=user_features, dtype=dtype)
    warm_facts = None
    if warm_start is not None:
        warm_facts = _carry_over(net, warm_start, items, [a for _, a, _ in spans],
                                 [b for _, _, b in spans], log)
    else:
        if SPECTRAL_INIT:
            start_embeddings(net.params, ["E_in"] + ([] if net.tied else ["E_out"]), items,
                             [a for _, a, _ in spans], [b for _, _, b in spans], rng, INIT_ROW_NORM)
        for name in METADATA_PARAMS:
            if name in net.params:
                net.params[name][:] = 0.0     # metadata starts as no change, then learns
    known = counts > 0
    span_weights = TARGET_DECAY ** np.arange(TARGET_SPAN)
    opt = Adam(net.params, lr=LEARNING_RATE,
               lr_scale={k: METADATA_LR_SCALE for k in METADATA_PARAMS})
    best, best_score, bad, history = None, -1.0, 0, []
    if warm_facts is not None and val_hist:
        # recorded, not competing with the fine-tuned epochs: the previous model may have been
        # trained on the validation users' held-out interactions, so this score flatters it
        warm_facts["startValidation"] = _validate(net, val_hist, val_targets, known, eval_time, gap)
        log(f"warm start: validation NDCG@{VALIDATION_K} {warm_facts['startValidation']:.4f} before "
            "fine-tuning")
    stopped = "epochs"
    first_epoch, earlier_seconds = 1, 0.0
    resumed = resume_loop(checkpoint, net.params, opt, rng)
    if resumed is not None:
        first_epoch, arrays, state = resumed
        best = unprefixed("best.", arrays) if state["hasBest"] else None
        stopped, best_score, bad = state["stopped"], float(state["bestScore"]), int(state["bad"])
        history, t_start = list(state["history"]), t_start - float(state["seconds"])
        log(f"resumed from the checkpoint after epoch {first_epoch - 1}")
    for epoch in range(first_epoch, max_epochs + 1):
        t0, c0_cpu = time.monotonic(), time.process_time()
        placed, length = _layout(spans, rng, streams)
        X, Y, M, U, *W = _batch_arrays(placed, length, streams, items, modes, step_weights)
        state = net.zero_state(streams)
        losses = []
        for c0 in range(0, length, bptt):
            # linear decay over the epoch budget, from LEARNING_RATE to LR_FINAL_SHARE of it
            done = (epoch - 1 + c0 / length) / max_epochs
            opt.lr = LEARNING_RATE * (1.0 - (1.0 - LR_FINAL_SHARE) * done)
            sl = slice(c0, c0 + bptt)
            out, tape, state = net.forward(X[sl], M[sl], U[sl], state, dropout=dropout, rng=rng)
            y = Y[sl].reshape(-1, TARGET_SPAN)
            v = np.flatnonzero(y[:, 0] >= 0)
            if v.size == 0:
                continue
            grads = {}
            neg = sampler.draw(rng)
            flat = out.reshape(-1, net.num_hidden)
            n_t = int((y[v] >= 0).sum())
            loss, dov = net.sampled_softmax(
                flat[v], y[v], neg, grads,
                log_inclusion=sampler.log_inclusion(n_t),
                target_weights=span_weights,
                row_weights=W[0][sl].reshape(-1)[v] if W else None)
            dout = np.zeros_like(flat)
            dout[v] = dov
            net.backward(dout.reshape(out.shape), tape, grads)
            opt.step(net.params, finish_grads(grads, net.dtype))
            losses.append(loss)
            if early_time and time.monotonic() - t_start > early_time:
                stopped = "training.early_time"
                break
        train_s = time.monotonic() - t0
        score = _validate(net, val_hist, val_targets, known, eval_time, gap) if val_hist else None
        msg = f"epoch {epoch}: loss {np.mean(losses):.4f} ({train_s:.1f}s, cpu {time.process_time() - c0_cpu:.1f}s)"
        if score is not None:
            msg += f", validation NDCG@{VALIDATION_K} {score:.4f} on {len(val_hist)} users"
        log(msg)
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "validation": score})
        report_epoch(checkpoint, epoch, max_epochs)   # also the epoch an early stop ends on
        if score is not None:
            if score > best_score:
                best_score, bad = score, 0
                best = {k: v.copy() for k, v in net.params.items()}
            else:
                bad += 1
                if bad >= PATIENCE and epoch >= MIN_EPOCHS:
                    stopped = "early stopping"
                    break
        if stopped == "training.early_time":
            break
        if at_epoch_end(checkpoint, epoch, max_epochs, time.monotonic() - t0, report=False):
            pause_loop(checkpoint, epoch=epoch, params=net.params, opt=opt, rng=rng,
                       seconds=time.monotonic() - t_start,
                       arrays={f"best.{k}": v for k, v in (best or {}).items()},
                       stopped=stopped, bestScore=best_score, hasBest=best is not None, bad=bad,
                       history=history)
    if best is not None:
        net.params.update(best)
    info = {"epochs": len(history), "stopped_by": stopped, "history": history,
            "session_gap_seconds": gap,
            "seconds": round(time.monotonic() - t_start, 3), "validation_users": len(val_hist),
            "best_validation": best_score if best is not None else None}
    if warm_facts is not None:
        info["warm_start"] = warm_facts
    if cooccurrence:
        info["_cooccurrence"] = _fit_cooccurrence(net, items, spans, n_items, known, val_hist,
                                                  val_targets, rng, log, gap)
    log(f"trained {len(history)} epochs in {info['seconds']:.1f}s, stopped by {stopped}")
    return net, counts, info


def _fit_cooccurrence(net, items, spans, n_items, known, val_hist, val_targets, rng, log, gap):
    """The co-occurrence component of the training spans (module docstring, "Co-occurrence"):
    the implicit factorisation with the confidence of `CF_ALPHAS`, the item neighbours
    (`neighbours.item_neighbours`), and the weights of `CF_WEIGHTS` and `KNN_WEIGHTS` that score
    best together on the validation users (the first confidence and weights 0 without them)."""
    rows = np.concatenate([np.full(b - a, k) for k, (_, a, b) in enumerate(spans)])
    cols = np.concatenate([items[a:b] for _, a, b in spans])
    x = sp.csr_matrix((np.ones(rows.shape[0]), (rows, cols)), shape=(len(spans), n_items))
    neighbours = item_neighbours(x)

    def factorisation(alpha):
        _, v = implicit_factors(x, CF_FACTORS, CF_REG, alpha, CF_ITERATIONS, rng)
        return {"V": v.astype(np.float32), "gram": v.T @ v + CF_REG * np.eye(v.shape[1]),
                "alpha": float(alpha), "weight": 0.0, "S": neighbours, "knn_weight": 0.0}

    if not val_hist:
        return factorisation(CF_ALPHAS[0])
    out, _ = encode(net, val_hist, gap=gap)
    s_net = net.scores(out).astype(np.float64)

    def score(s):
        s[:, ~known] = -np.inf
        return validation_ndcg(s, val_hist, val_targets)

    alone = score(s_net.copy())
    u_net = unit_rows(s_net)
    u_knn = None if neighbours is None else unit_rows(neighbour_scores(neighbours, val_hist))
    if u_knn is not None:
        log(f"co-occurrence: neighbours alone {score(u_knn.copy()):.4f}")
    knn_weights = KNN_WEIGHTS if u_knn is not None else (0.0,)
    best, best_score, scores = None, -1.0, {}
    for alpha in CF_ALPHAS:
        cf = factorisation(alpha)
        u_cf = unit_rows(cooccurrence_scores(cf, val_hist))
        for w in CF_WEIGHTS:
            for wk in knn_weights:
                if w == 0 and wk == 0:
                    continue
                scores[(alpha, w, wk)] = score(mix(s_net, u_net, u_cf, w, u_knn, wk))
                if scores[(alpha, w, wk)] > best_score:
                    best, best_score = dict(cf, weight=float(w), knn_weight=float(wk)), scores[(alpha, w, wk)]
    # a blend must beat the network alone clearly: a few hundred validation users cannot tell
    # a 2% difference from noise (ml-latest-small seed 0: +2% on validation, -7% held out)
    if not best_score > (1.0 + CF_MARGIN) * alone:
        best["weight"] = best["knn_weight"] = 0.0
    top = sorted(scores.items(), key=lambda kv: -kv[1])[:5]
    log(f"co-occurrence: network alone {alone:.4f}; best (alpha, weight, neighbour weight): "
        + ", ".join(f"{k}: {v:.4f}" for k, v in top)
        + f"; chosen alpha {best['alpha']:g}, weight {best['weight']}, neighbour weight {best['knn_weight']}")
    return best


def cooccurrence_scores(cf: dict, histories, items=None, factors=None) -> np.ndarray:
    """`[B, I]` (or `[B, len(items)]`) scores of the factorisation for each history (folded
    in, `spectral.fold_in`; or the carried `factors` of `HrnnModel.fold`, one per history:
    then against the item table as it is, without a float64 copy of it per request)."""
    v = cf["V"]
    cols = slice(None) if items is None else np.asarray(items)
    if factors is None:      # training's validation, batch jobs: in float64, as trained
        v64 = v.astype(np.float64)
        u = np.stack([fold_in(v64, cf["gram"], h.items, cf.get("alpha", CF_ALPHA)) for h in histories])
        return (u @ v64.T)[:, cols]
    u = np.stack([np.zeros(v.shape[1]) if f is None else f[3] for f in factors])
    with single_threaded_blas():
        return (u.astype(v.dtype) @ v[cols].T).astype(np.float64)


def unit_rows(s: np.ndarray) -> np.ndarray:
    """Each row of `s` divided by its standard deviation over finite entries (1 where that is 0)."""
    if np.isfinite(s).all():   # a served request's rows: `std` is nanstd's value at a third of its cost
        sd = s.std(axis=1, keepdims=True)
    else:
        sd = np.nanstd(np.where(np.isfinite(s), s, np.nan), axis=1, keepdims=True)
    return s / np.where(sd > 0, sd, 1.0)


def mix(s_net, u_net, u_cf, weight, u_knn=None, knn_weight=0.0):
    """`blend` of rows already divided by their deviation (`unit_rows`); `u_cf` is not read
    when `weight` is 0, nor `u_knn` when `knn_weight` is."""
    if weight == 0 and knn_weight == 0:
        return s_net
    if np.isinf(weight):
        out = np.where(np.isfinite(s_net), u_cf, s_net)
    else:
        out = u_net + weight * u_cf if weight else u_net
    return out + knn_weight * u_knn if knn_weight else out


def blend(s_net: np.ndarray, s_cf: Optional[np.ndarray], weight: float,
          s_knn: Optional[np.ndarray] = None, knn_weight: float = 0.0) -> np.ndarray:
    """The sequence model's scores plus `weight` times the factorisation's and `knn_weight` times
    the neighbours', each row of each divided by its standard deviation over finite entries (they
    live on different scales); weights 0 are the network alone, `weight` inf the factorisation in
    the network's place (what the network scores -inf stays -inf)."""
    if weight == 0 and knn_weight == 0:
        return s_net
    unit = lambda s: None if s is None else unit_rows(s)  # noqa: E731
    return mix(s_net, unit_rows(s_net), unit(s_cf) if weight else None, weight,
               unit(s_knn) if knn_weight else None, knn_weight)


def validation_ndcg(scores: np.ndarray, hist, targets, k: int = VALIDATION_K) -> float:
    """Mean NDCG@k of `scores` rows against `targets`, history items excluded."""
    return float(np.mean(_ndcg_gains(scores.copy(), hist, targets, k)))


def _ndcg_gains(s: np.ndarray, hist, targets, k: int):
    """NDCG@k per row of `s` (history items set to -inf in place) against `targets`."""
    for r, h in enumerate(hist):
        s[r, h.items] = -np.inf
    idx, _ = top_n(s, k)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    gains = []
    for r, t in enumerate(targets):
        hit = np.isin(idx[r], t) & (idx[r] >= 0)
        gains.append(float((hit * disc[:hit.shape[0]]).sum() / disc[:min(len(t), k)].sum()))
    return gains


def _validate(net, hist, targets, known, budget, gap=SESSION_GAP_SECONDS):
    """Mean NDCG@VALIDATION_K of the held-out suffixes, within `budget` seconds (0: none)."""
    t0 = time.monotonic()
    gains = []
    # the step loop costs the longest history of a batch: big batches unless a budget
    # needs places to stop
    step = 64 if budget else INFERENCE_GROUP
    for g0 in range(0, len(hist), step):
        hs = hist[g0:g0 + step]
        out, _ = encode(net, hs, gap=gap)
        s = net.scores(out).astype(np.float64)
        s[:, ~known] = -np.inf
        gains += _ndcg_gains(s, hs, targets[g0:g0 + step], VALIDATION_K)
        if budget and time.monotonic() - t0 > budget:
            break
    return float(np.mean(gains))


class HrnnMetadataModel(HrnnModel):
    recipe = "aws-hrnn-metadata"


class HrnnMetadata(Hrnn):
    """`aws-hrnn-metadata`: item metadata enters both item representations
    (`E[i] + F_item[i] @ A`), user metadata the initial user-level state."""

    name = "aws-hrnn-metadata"
    model_class = HrnnMetadataModel
    use_metadata = True


# --- coldstart ----------------------------------------------------------------------
COLD_MAX_INTERACTIONS = 5
COLD_SHARE = 0.2
RIDGE_LAMBDA = 1.0


class HrnnColdstartModel(HrnnMetadataModel):
    """HRNN-metadata plus personalised exploration of new items.

    Items with fewer than `COLD_MAX_INTERACTIONS` training interactions and a
    non-empty metadata row are *cold*: their output representation and bias are
    predicted from metadata by a ridge map fitted on the warm items' learned
    representations. A top-n list reserves every `1/COLD_SHARE`-th position
    (positions 5, 10, 15, ... for the default share 0.2) for the cold items the
    user scores highest; the other positions are the best warm items. When
    there are fewer cold candidates, warm items fill the positions.
    """

    recipe = "aws-hrnn-coldstart"

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.cold = np.zeros(self.item_ids.shape[0], bool)
        self.cold_rep = np.zeros((0, self.net.num_hidden), self.net.dtype)
        self.cold_bias = np.zeros(0, self.net.dtype)

    def fit_cold_map(self):
        fi = self.net.item_features
        if fi is None:
            return
        has_meta = np.diff(fi.indptr) > 0
        warm = (self.item_counts >= COLD_MAX_INTERACTIONS) & has_meta
        cold = (self.item_counts < COLD_MAX_INTERACTIONS) & has_meta
        if warm.sum() < 2 or not cold.any():
            return
        pred = output_side_from_metadata(self.net, fi, warm, cold)
        self.cold = cold
        self.cold_rep = pred[:, :-1].astype(self.net.dtype)
        self.cold_bias = pred[:, -1].astype(self.net.dtype)

    def recommend(self, histories, n, *, users=None, exclude_history=True, states=None):
        out, nonempty = self._outputs(histories, users, states)
        cold_items = np.flatnonzero(self.cold)
        with single_threaded_blas():
            s = self.net.scores(out).astype(np.float64)
        s[:, ~(self._known & ~self.cold)] = -np.inf
        s[~nonempty] = np.where(self.cold, -np.inf, self._popularity)
        c = np.full_like(s, -np.inf)
        if cold_items.size:
            c[:, cold_items] = out @ self.cold_rep.T + self.cold_bias
        if exclude_history:
            for r, h in enumerate(histories):
                seen = _known_part(h, s.shape[1]).items
                s[r, seen] = -np.inf
                c[r, seen] = -np.inf
        wi, wv = top_n(s, n)
        ci, cv = top_n(c, n)
        return _interleave(wi, wv, ci, cv, n)

    def rank(self, history, candidates, *, user=None, state=None):
        cand = np.asarray(candidates, np.int64)
        out = super().rank(history, cand, user=user, state=state)
        ok = (cand >= 0) & (cand < self.item_ids.shape[0])
        cold = np.zeros(cand.shape[0], bool)
        cold[ok] = self.cold[cand[ok]]
        if cold.any() and len(history.items):
            o, _ = self._outputs([history], None if user is None else [user],
                                 None if state is None else [state])
            pos = np.searchsorted(np.flatnonzero(self.cold), cand[cold])
            out[cold] = (o @ self.cold_rep[pos].T + self.cold_bias[pos])[0]
        return out

    def arrays(self):
        a = super().arrays()
        a["cold"], a["cold_rep"], a["cold_bias"] = self.cold, self.cold_rep, self.cold_bias
        return a

    def _load_extra(self, arrays, meta):
        self.cold = arrays["cold"].astype(bool)
        self.cold_rep, self.cold_bias = arrays["cold_rep"], arrays["cold_bias"]


def output_side_from_metadata(net: HrnnNet, features, warm: np.ndarray, cold: np.ndarray) -> np.ndarray:
    """`[cold items, H + 1]`: each cold item's output representation and bias predicted from
    its metadata row (`features`, csr, or None: the intercept alone, i.e. the warm mean) by a
    ridge map (`RIDGE_LAMBDA`) fitted on the warm items' learned ones."""
    target = np.hstack([net.item_rep("out", np.flatnonzero(warm)),
                        net.params["b_out"][warm][:, None]]).astype(np.float64)
    return ridge_predict(features, warm, cold, target, RIDGE_LAMBDA)


def cold_positions(n: int, share: float = COLD_SHARE) -> np.ndarray:
    """0-based positions of a top-n list reserved for cold items (every `1/share`-th)."""
    k = np.arange(n)
    return k[np.floor((k + 1) * share) > np.floor(k * share)]


def _interleave(wi, wv, ci, cv, n, share=COLD_SHARE):
    b = wi.shape[0]
    idx = np.full((b, n), -1, np.int32)
    val = np.full((b, n), -np.inf)
    reserved = set(cold_positions(n, share).tolist())
    for r in range(b):
        warm = [(i, v) for i, v in zip(wi[r], wv[r]) if i >= 0]
        cold = [(i, v) for i, v in zip(ci[r], cv[r]) if i >= 0]
        for pos in range(n):
            src = cold if (pos in reserved and cold) or not warm else warm
            if not src:
                break
            idx[r, pos], val[r, pos] = src.pop(0)
    return idx, val


class HrnnColdstart(HrnnMetadata):
    """`aws-hrnn-coldstart` (seed: "HRNN-coldstart": HRNN-metadata with personalised
    exploration of new items)."""

    name = "aws-hrnn-coldstart"
    model_class = HrnnColdstartModel

    def finish(self, model, data):
        model.fit_cold_map()
