"""aws-deepfm: a feed-forward generalisation of matrix factorisation (seed "DeepFM Recipe").

Seed: "DeepFM Recipe" ("The input is a vector representing what a user has
rated or consumed in the past. The output (the label) is a vector representing
what they will rate or consume in the next time period ... In training, the
label is the most recent past week") and "Predefined Recipes" (DeepFM "extends
a factorization machine using a deep autoencoder ... via nonlinear modeling of
user item interactions"; "provide recommendations for a short horizon into the
future"). The network is in `deepfm_net.py`.

Input. A user's history (time order) is a multi-hot vector over the
catalogue, each item weighted `RECENCY ** age` (age 0 for the newest
interaction, counted in interactions, including events for items the model
does not know), divided by the `NORM_POWER` power of its weight sum (1: a
weighted mean of the item embeddings, so long and short histories give user
vectors of the same scale). The seed's DeepFM reads "what a user has consumed
in the past" and predicts a short horizon ahead: the recency weighting lets
the recent past count more without a recurrent network.

Periods and training examples. A "period" is counted in interactions, not in
time: the next period after a history of `c` interactions is the next
`max(1, round(c * PERIOD_SHARE))` (the following ~10% when PERIOD_SHARE is
1/9, the share the evaluation protocol holds out). Weeks mean nothing to a
rating burst, and a count works the same with or without timestamps (without
them the input order is the time order). Each user's sequence is tiled from
its end: the last period is the label of the whole earlier history (the
seed's "the label is the most recent past week"), the period before it the
label of the history before that, and so on down to a history of one item.
Every interaction is a label once per epoch, so an epoch is one pass over the
dataset (seed: `epochs`). A label is a set: each of its items gets weight
1/|label| in the softmax cross-entropy.

Output and loss. The softmax runs over the whole catalogue when it has at
most `FULL_SOFTMAX_MAX_ITEMS` items (exact, and cheap at that size), else over
the batch's labels plus `NUM_NEGATIVES` items drawn with probability
proportional to count**`NEGATIVE_ALPHA`, with the logQ correction. The output
bias starts at log(1 + count) (the model starts as the popularity baseline) and
the item embeddings from the truncated SVD of the interactions
(`spectral.item_factors`, the scale HRNN uses). Input and output embeddings are tied
(`TIED`): the user vector is then a point in the item space, and the SVD start
serves both sides.

Hyperparameters (seed table, ranges enforced by `chalicelib.domain.recipes`):
`nHiddenLayers` residual relu layers after the factorisation layer (0 is plain
factorisation: the user vector is the weighted sum of item embeddings);
`embedding_size` the width of the embeddings and of every layer; `dropout` the
inverted-dropout rate on the factorisation layer and on every hidden layer's
units (so it acts with 0 hidden layers too; values above `MAX_DROPOUT` act as
it); `epochs` the number of passes; `mini_batch_size` examples per Adam step
(learning rate `LEARNING_RATE`, gradient norm clipped at 5, row-sparse updates
of the item tables when the softmax is sampled).

Inference. The user vector is computed from the `History` (imported
interactions plus PutEvents events) at every call, so new events change the
recommendations without retraining. Items never seen in training score -inf;
history indices outside the catalogue are ignored; an empty history gets the
most popular items.

Measured on ml-latest-small (EVALUATION.md protocol, history items excluded,
default hyperparameters; `bench/quality.py --methods aws-popularity-count
aws-deepfm --seeds 5`, seeds 0-4, one run): NDCG@10 0.0784 +- 0.0108 (popularity
0.0411 in the same run; for reference implicit ALS 0.0721, aws-hrnn 0.0852),
NDCG@5/25 0.0619 / 0.0998, P@10 0.0600, MRR@25 0.1530, coverage 0.055; fit
16.0 +- 1.4 s (CPU about the same: single-threaded BLAS), 15.5k examples per
epoch. With the shared randomized SVD start (`spectral.py`, replacing ARPACK's
svds) the same seeds gave 0.0736 +- 0.0086 in bench/hrnn_quality.py's run
(fit+score 8.1 s CPU): within the spread of seeds and training noise.
Choices made on development seeds 10-14 only (NDCG@10, mean of 5):
weight-sum normalisation power 0.5 -> 0.052, 1.0 -> 0.076; then recency 1.0 /
0.97 / 0.9 / 0.85 / 0.8 -> 0.076 / 0.085 / 0.090 / 0.090 / 0.092; untied output
embeddings 0.081 (tied 0.085, recency 0.97); no spectral start 0.056 (0.052
with it, power 0.5); nHiddenLayers 0 -> 0.084 against 0.090 with the default 2
(recency 0.9); learning rate 5e-3 tied with 3e-3 (0.086 / 0.085, recency
0.97), 1e-3 and 1e-2 were worse (power 0.5 and 1.0 runs). At recency 0.8:
PERIOD_SHARE 1/19 0.092 (no gain, 1.4x the CPU), 1/4 0.072; spectral row norm
0.5 / 1 / 2 / 4 -> 0.087 / 0.093 / 0.092 / 0.059 (HRNN's 2 kept).
"""
from __future__ import annotations

import time
from typing import Callable, Dict, Sequence

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms.base import (History, Model, Recipe, TrainingData, USER_PERSONALIZATION,
                                        UserState, state_vectors,
                                        candidate_scores, exclude_histories, param_arrays,
                                        params_of, popularity_prior, top_n)
from chalicelib.algorithms.blas import single_threaded_blas
from chalicelib.algorithms.checkpoint import at_epoch_end, pause_loop, resume_epochs
from chalicelib.algorithms.deepfm_net import DeepFmNet
from chalicelib.algorithms.data import user_sequences
from chalicelib.algorithms.optim import Adam, finish_grads
from chalicelib.algorithms.softmax import NegativeSampler
from chalicelib.algorithms.spectral import start_embeddings
from chalicelib.domain.recipes import parse_hyperparameters

NAME = "aws-deepfm"
PERIOD_SHARE = 1.0 / 9.0
RECENCY = 0.8
NORM_POWER = 1.0
LEARNING_RATE = 3e-3
TIED = True
SPECTRAL_INIT = True
INIT_ROW_NORM = 2.0
MAX_DROPOUT = 0.95
FULL_SOFTMAX_MAX_ITEMS = 20000
NUM_NEGATIVES = 1024
NEGATIVE_ALPHA = 0.5
INFERENCE_GROUP = 256


# --- examples ----------------------------------------------------------------------
def periods(n: int):
    """Cut points of a sequence of `n` interactions tiled from its end: pairs
    `(c, e)`, history `[0, c)`, label `[c, e)` (see "Periods")."""
    out, e = [], n
    while e >= 2:
        c = e - max(1, int(round((e - 1) * PERIOD_SHARE)))
        c = max(c, 1)
        out.append((c, e))
        e = c
    return out


def history_rows(seqs, n_items, dtype=np.float32, *, recency=None, norm_power=None) -> sp.csr_matrix:
    """Weighted multi-hot rows `[len(seqs), n_items]` of item sequences (oldest first);
    indices outside `[0, n_items)` are dropped. `recency` / `norm_power` default to
    the module's `RECENCY` / `NORM_POWER` (a model keeps the values it was trained with)."""
    recency = RECENCY if recency is None else recency
    norm_power = NORM_POWER if norm_power is None else norm_power
    lens = np.array([len(s) for s in seqs], np.int64)
    cols = np.concatenate([np.asarray(s, np.int64) for s in seqs]) if len(seqs) else np.zeros(0, np.int64)
    rows = np.repeat(np.arange(len(seqs)), lens)
    ends = np.repeat(np.cumsum(lens), lens)
    age = ends - 1 - np.arange(cols.shape[0])
    w = recency ** age.astype(np.float64)
    ok = (cols >= 0) & (cols < n_items)
    rows, cols, w = rows[ok], cols[ok], w[ok]
    tot = np.bincount(rows, weights=w, minlength=len(seqs))
    w = w / np.maximum(tot, 1e-30)[rows] ** norm_power
    m = sp.csr_matrix((w.astype(dtype), (rows, cols)), shape=(len(seqs), n_items))
    m.sum_duplicates()
    return m


def label_rows(seqs, n_items, dtype=np.float32) -> sp.csr_matrix:
    """Target rows: each label's items share weight 1."""
    lens = np.array([len(s) for s in seqs], np.int64)
    cols = np.concatenate([np.asarray(s, np.int64) for s in seqs])
    rows = np.repeat(np.arange(len(seqs)), lens)
    m = sp.csr_matrix(((1.0 / lens[rows]).astype(dtype), (rows, cols)), shape=(len(seqs), n_items))
    m.sum_duplicates()
    return m


# --- the model ----------------------------------------------------------------------
class DeepFmModel(Model):
    recipe = NAME
    recipe_type = USER_PERSONALIZATION

    def __init__(self, item_ids, hyperparameters, net: DeepFmNet, item_counts, info=None, *,
                 recency=None, norm_power=None):
        super().__init__(item_ids, hyperparameters)
        self.recency = RECENCY if recency is None else float(recency)
        self.norm_power = NORM_POWER if norm_power is None else float(norm_power)
        self.net = net
        self.item_counts = np.asarray(item_counts, np.int64)
        self.info = dict(info or {})
        self._known, self._popularity = popularity_prior(self.item_counts)

    def fold(self, state, history, user=None):
        """The pooled history carried forward: `carry` = (the un-normalised sum of
        `recency**age * E_in[item]` in float64, the sum of the weights, whether a known item
        was read); a fold ages both by the number of new positions and adds the new items,
        so the vector equals `history_rows` pooled over the whole history, then the layers."""
        items = np.asarray(history.items, np.int64)
        start = 0 if state is None else state.folded
        if state is None:
            total, weight, seen = np.zeros(self.net.size), 0.0, False
        else:
            total, weight, seen = state.carry
        new = items[start:]
        if not new.size and state is not None:
            return state
        age = new.shape[0] - 1 - np.arange(new.shape[0])
        w = self.recency ** age.astype(np.float64)
        ok = (new >= 0) & (new < self.item_ids.shape[0])
        decay = self.recency ** float(new.shape[0])
        total = total * decay + w[ok] @ self.net.params["E_in"][new[ok]].astype(np.float64)
        weight = weight * decay + float(w[ok].sum())
        seen = seen or bool(ok.any())
        vector = None
        if seen:
            h0 = (total / max(weight, 1e-30) ** self.norm_power).astype(self.net.dtype)[None, :]
            with single_threaded_blas():
                vector = self.net.layers(h0)[0]
        return UserState(len(items), vector, (total, weight, seen))

    def item_scores(self, histories: Sequence[History], items=None, states=None) -> np.ndarray:
        n_items = self.item_ids.shape[0]
        cols = np.arange(n_items) if items is None else np.asarray(items, np.int64)
        out = np.empty((len(histories), cols.shape[0]))
        with single_threaded_blas():
            if states is not None:
                u, nonempty = state_vectors(states, self.net.size, self.net.dtype)
                out[:] = self.net.scores(u, items)
                out[~nonempty] = self._popularity[cols]
                out[:, ~self._known[cols]] = -np.inf
                return out
            for g0 in range(0, len(histories), INFERENCE_GROUP):
                hs = histories[g0:g0 + INFERENCE_GROUP]
                X = history_rows([h.items for h in hs], n_items, self.net.dtype,
                                 recency=self.recency, norm_power=self.norm_power)
                u, _ = self.net.forward(X)
                s = self.net.scores(u, cols).astype(np.float64)
                empty = np.diff(X.indptr) == 0
                s[empty] = self._popularity[cols]
                out[g0:g0 + len(hs)] = s
        out[:, ~self._known[cols]] = -np.inf
        return out

    def recommend(self, histories, n, *, users=None, exclude_history=True, states=None):
        s = self.item_scores(histories, states=states)
        return top_n(exclude_histories(s, histories) if exclude_history else s, n)

    def rank(self, history, candidates, *, user=None, state=None):
        states = None if state is None else [state]
        return candidate_scores(candidates, self.item_ids.shape[0],
                                lambda c: self.item_scores([history], c, states)[0])

    # --- artifacts ---
    def arrays(self):
        return dict(param_arrays(self.net.params), item_counts=self.item_counts)

    def meta(self):
        return {"num_layers": self.net.num_layers, "tied": self.net.tied,
                "recency": self.recency, "norm_power": self.norm_power, "training": self.info}

    @classmethod
    def from_artifacts(cls, item_ids, hyperparameters, arrays, meta):
        net = DeepFmNet(params_of(arrays), num_layers=int(meta["num_layers"]), tied=bool(meta["tied"]))
        return cls(item_ids, hyperparameters, net, arrays["item_counts"], meta.get("training"),
                   recency=meta["recency"], norm_power=meta["norm_power"])


class DeepFm(Recipe):
    name = NAME
    recipe_type = USER_PERSONALIZATION
    model_class = DeepFmModel
    supports_checkpoint = True   # train_deepfm's epoch loop (checkpoint.pause_loop)

    def fit(self, data: TrainingData, hyperparameters: Dict[str, str], *, seed: int = 0,
            log: Callable[[str], None] = lambda msg: None, checkpoint=None) -> DeepFmModel:
        hp = parse_hyperparameters(NAME, hyperparameters)
        if len(data.interactions) == 0:
            raise ValueError("no interactions to train on")
        with single_threaded_blas():
            net, counts, info = train_deepfm(data, hp, seed=seed, log=log, checkpoint=checkpoint)
        return DeepFmModel(data.item_ids, dict(hyperparameters or {}), net, counts, info)


def train_deepfm(data: TrainingData, hp: dict, *, seed=0, log=lambda m: None, dtype=np.float32,
                 checkpoint=None):
    """Train on `data` with typed hyperparameters `hp`; returns `(net, item_counts, info)`.
    `checkpoint`: pause at an epoch end and resume there (`chalicelib.algorithms.checkpoint`)."""
    t_start = time.monotonic()
    rng = np.random.default_rng(seed)
    items, _, bounds = user_sequences(data)
    n_items = data.n_items
    counts = np.bincount(data.interactions.item, minlength=n_items).astype(np.int64)
    examples = [(int(bounds[u]), c, e) for u in range(data.n_users)
                for c, e in periods(int(bounds[u + 1] - bounds[u]))]
    if not examples:
        raise ValueError("no user has two or more interactions: DeepFM learns what a user "
                         "consumes next from what they consumed before")
    examples = np.array(examples, np.int64)
    size, layers = int(hp["embedding_size"]), int(hp["nHiddenLayers"])
    dropout = min(float(hp["dropout"]), MAX_DROPOUT)
    epochs, batch = int(hp["epochs"]), int(hp["mini_batch_size"])

    net = DeepFmNet.create(rng, n_items, num_layers=layers, size=size, tied=TIED, dtype=dtype)
    net.params["b"][:] = np.log1p(counts)
    if SPECTRAL_INIT:
        start_embeddings(net.params, ["E_in"], items, bounds[:-1], bounds[1:], rng,
                         INIT_ROW_NORM)
    sampled = n_items > FULL_SOFTMAX_MAX_ITEMS
    if sampled:
        # the periods tile every sequence but its first interaction: those are the labels
        is_label = np.ones(items.shape[0], bool)
        is_label[bounds[:-1][np.diff(bounds) > 0]] = False
        label_counts = np.bincount(items[is_label], minlength=n_items).astype(np.float64)
        sampler = NegativeSampler(label_counts, NEGATIVE_ALPHA, NUM_NEGATIVES)
    opt = Adam(net.params, lr=LEARNING_RATE)
    first, history, earlier = resume_epochs(checkpoint, net.params, opt, rng, log)
    t_start -= earlier
    for epoch in range(first, epochs + 1):
        t0, w0 = time.process_time(), time.monotonic()
        order = rng.permutation(examples.shape[0])
        losses = []
        for b0 in range(0, order.shape[0], batch):
            ex = examples[order[b0:b0 + batch]]
            X = history_rows([items[a:a + c] for a, c, _ in ex], n_items, dtype)
            T = label_rows([items[a + c:a + e] for a, c, e in ex], n_items, dtype)
            out, tape = net.forward(X, dropout=dropout, rng=rng)
            grads = {}
            if sampled:
                neg = sampler.draw(rng)
                cand = np.unique(np.concatenate([T.indices, neg]))
                n_t = T.indices.shape[0]
                loss, dout = net.softmax_loss(
                    out, T, grads, cand,
                    log_inclusion=sampler.log_inclusion(n_t))
            else:
                loss, dout = net.softmax_loss(out, T, grads)
            net.backward(dout, tape, grads)
            opt.step(net.params, finish_grads(grads, dtype))
            losses.append(loss)
        cpu = time.process_time() - t0
        history.append({"epoch": epoch, "loss": float(np.mean(losses))})
        log(f"epoch {epoch}: loss {np.mean(losses):.4f} on {examples.shape[0]} examples (cpu {cpu:.1f}s)")
        if at_epoch_end(checkpoint, epoch, epochs, time.monotonic() - w0):
            pause_loop(checkpoint, epoch=epoch, params=net.params, opt=opt, rng=rng,
                       seconds=time.monotonic() - t_start, history=history)
    info = {"epochs": epochs, "examples": int(examples.shape[0]), "sampled_softmax": bool(sampled),
            "history": history, "seconds": round(time.monotonic() - t_start, 3)}
    return net, counts, info
