"""The evaluation protocol: split, score, metrics (../shared/EVALUATION.md, seed "Evaluating Solutions").

Split (`split_interactions`)
    A seeded random 10% of the users (rounded half up, at least 1) become evaluation users; all
    interactions of the other users are the training data. Each evaluation user's interactions are
    sorted by time (ties keep input order); the newest `n // 10` (at least 1) are the targets and
    the rest (at least 1) the history. The model sees the history only at inference (fold-in, as
    events recorded with PutEvents), never in training.
    Decision: a user with a single interaction cannot have both a history and a target, so only
    users with 2 or more interactions are drawn; the 10% is taken of all users with interactions.
    Targets are the distinct target items; one also present in the history stays a target (the
    data says the user came back to it) even though history items are not recommended again.
    The training data keeps the full user and item index spaces (evaluation users simply have no
    training interactions), so indices mean the same thing in training, inference and metrics.

Scoring (`recommendation_lists`)
    USER_PERSONALIZATION (and POPULAR_ITEMS): `model.recommend(histories, 25, users=..., exclude_history=...)`, batched.
    USER_SEGMENTATION (the affinity recipes): the same, reading their user-item affinities by row.
    RELATED_ITEMS: `model.similar_items(last history item, ...)`, over-fetched by the history length
    so that 25 remain after history items are removed.
    SEARCH_PERSONALIZATION and PERSONALIZED_RANKING: the list to rank is the targets plus 100 items drawn uniformly without
    replacement from the rest of the catalogue (not targets; not history unless repeats are
    allowed), shuffled so that ties cannot favour targets; the top 25 of `model.rank` is the list.
    History items are removed from every list unless `allow_repeats`.

Metrics (`ranking_metrics`, K = 5, 10, 25)
    precision_at_K = hits in top K / K; normalized_discounted_cumulative_gain_at_K = DCG with weight
    1/log2(1 + position) over hits / ideal DCG of min(|targets|, K) hits;
    mean_reciprocal_rank_at_25 = 1 / rank of the first hit in the top 25 (0 if none); all averaged
    over evaluation users. coverage = distinct items recommended over all evaluation users /
    distinct items of the interactions and items datasets (the catalogue, `data.n_items`).
    (The seed's table defines MRR as the mean of 1/position over all hits; EVALUATION.md's
    first-hit definition is the one used, and the one its 25-cut key names.)
    Diagnostics: `_num_evaluation_users`; `_num_unique_items` = the coverage denominator;
    `_user_history_length_{10,50,90}_pct_quantile` and `_mean` over the evaluation users' history
    lengths (what the model saw at inference), quantiles with numpy's default linear interpolation.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from chalicelib.algorithms.base import (POPULAR_ITEMS, RANKING_TYPES, RELATED_ITEMS,
                                        USER_PERSONALIZATION, USER_SEGMENTATION, History, Model,
                                        Recipe, TrainingData)
from chalicelib.algorithms.data import subset

KS = (5, 10, 25)
LIST_LENGTH = 25
SEARCH_NEGATIVES = 100
USER_FRACTION = 0.1
TARGET_FRACTION = 0.1


@dataclass
class Split:
    """One seeded split: training data and, per evaluation user, a history and targets."""

    train: TrainingData
    users: np.ndarray               # int32 evaluation user indices, ascending
    histories: List[History]        # per evaluation user, oldest first
    targets: List[np.ndarray]       # per evaluation user, distinct int32 item indices
    seed: int

    @property
    def n_catalogue(self) -> int:
        return self.train.n_items


def split_interactions(data: TrainingData, seed: int, *, user_fraction: float = USER_FRACTION,
                       target_fraction: float = TARGET_FRACTION) -> Split:
    """Split `data` for evaluation (see module docstring). ValueError if no user has 2 interactions."""
    it = data.interactions
    n = len(it)
    order = np.lexsort((np.arange(n), it.timestamp, it.user))
    counts = np.bincount(it.user, minlength=data.n_users)
    n_active = int(np.count_nonzero(counts))
    eligible = np.flatnonzero(counts >= 2)
    if eligible.size == 0:
        raise ValueError("evaluation needs at least one user with 2 or more interactions")
    n_eval = min(eligible.size, max(1, int(math.floor(user_fraction * n_active + 0.5))))
    rng = np.random.default_rng(seed)
    users = np.sort(rng.choice(eligible, size=n_eval, replace=False)).astype(np.int32)

    starts = np.concatenate([[0], np.cumsum(counts)])   # user u's rows are order[starts[u]:starts[u+1]]
    histories, targets = [], []
    for u in users:
        rows = order[starts[u]:starts[u + 1]]
        m = rows.size
        n_t = min(m - 1, max(1, int(math.floor(target_fraction * m + 1e-9))))
        h, t = rows[: m - n_t], rows[m - n_t:]
        histories.append(History(it.item[h].astype(np.int32), it.timestamp[h].astype(np.int64)))
        titems = it.item[t]
        _, first = np.unique(titems, return_index=True)
        targets.append(titems[np.sort(first)].astype(np.int32))
    train_rows = ~np.isin(it.user, users)
    return Split(subset(data, np.flatnonzero(train_rows)), users, histories, targets, seed)


# --- metrics -----------------------------------------------------------------------------------
def hit_matrix(recommended: np.ndarray, targets: Sequence[np.ndarray]) -> np.ndarray:
    """Boolean `[B, L]`: recommended[b, j] is one of targets[b] (padding -1 never hits)."""
    rec = np.asarray(recommended, dtype=np.int64)
    b = rec.shape[0]
    if b != len(targets):
        raise ValueError("one target list per recommendation list")
    width = int(max(rec.max(initial=-1), max((int(t.max()) for t in targets if t.size), default=-1))) + 1
    lens = np.array([t.size for t in targets], np.int64)
    tkeys = np.repeat(np.arange(b, dtype=np.int64), lens) * width + (
        np.concatenate(targets).astype(np.int64) if lens.sum() else np.zeros(0, np.int64))
    rkeys = np.arange(b, dtype=np.int64)[:, None] * width + rec
    return np.isin(rkeys, tkeys) & (rec >= 0)


def ranking_metrics(recommended: np.ndarray, targets: Sequence[np.ndarray], n_catalogue: int,
                    ks: Sequence[int] = KS) -> Dict[str, float]:
    """precision@K, NDCG@K, MRR@25 and coverage of `[B, L]` lists (best first, -1 padded)."""
    rec = np.asarray(recommended, dtype=np.int64)
    if rec.ndim != 2:
        raise ValueError("recommended must be a [users, positions] array")
    kmax = max(max(ks), LIST_LENGTH)
    if rec.shape[1] < kmax:   # short catalogue: pad so every K is defined
        rec = np.concatenate([rec, np.full((rec.shape[0], kmax - rec.shape[1]), -1, np.int64)], axis=1)
    rec = rec[:, :kmax]
    hits = hit_matrix(rec, targets).astype(np.float64)
    lens = np.array([t.size for t in targets], np.int64)
    discount = 1.0 / np.log2(np.arange(2, kmax + 2))
    ideal = np.concatenate([[0.0], np.cumsum(discount)])     # ideal[m]: DCG of m hits at the top
    out: Dict[str, float] = {}
    for k in ks:
        out[f"precision_at_{k}"] = float(np.mean(hits[:, :k].sum(axis=1) / k))
        dcg = hits[:, :k] @ discount[:k]
        idcg = ideal[np.minimum(lens, k)]
        out[f"normalized_discounted_cumulative_gain_at_{k}"] = float(
            np.mean(np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)))
    top = hits[:, :LIST_LENGTH]
    first = np.argmax(top, axis=1)
    out[f"mean_reciprocal_rank_at_{LIST_LENGTH}"] = float(np.mean(np.where(top.any(axis=1), 1.0 / (first + 1), 0.0)))
    shown = rec[:, :LIST_LENGTH]
    out["coverage"] = float(np.unique(shown[shown >= 0]).size / n_catalogue) if n_catalogue else 0.0
    return out


def diagnostics(split: Split) -> Dict[str, float]:
    """The 2019 service's underscore-prefixed figures (see module docstring)."""
    lengths = np.array([h.items.size for h in split.histories], np.float64)
    q10, q50, q90 = np.quantile(lengths, [0.1, 0.5, 0.9])
    return {"_num_evaluation_users": float(split.users.size),
            "_num_unique_items": float(split.n_catalogue),
            "_user_history_length_10_pct_quantile": float(q10),
            "_user_history_length_50_pct_quantile": float(q50),
            "_user_history_length_90_pct_quantile": float(q90),
            "_user_history_length_mean": float(lengths.mean())}


# --- scoring -----------------------------------------------------------------------------------
def _drop(lists: np.ndarray, banned: Sequence[np.ndarray], n: int) -> np.ndarray:
    """Remove each row's banned items (and -1), keep order, cut/pad to n."""
    lists = np.asarray(lists, dtype=np.int64)
    bad = hit_matrix(lists, banned) | (lists < 0)
    # stable sort puts kept entries first, in their order
    order = np.argsort(bad, axis=1, kind="stable")
    kept = np.where(np.take_along_axis(bad, order, axis=1), -1, np.take_along_axis(lists, order, axis=1))
    if kept.shape[1] < n:
        kept = np.concatenate([kept, np.full((kept.shape[0], n - kept.shape[1]), -1, np.int64)], axis=1)
    return kept[:, :n].astype(np.int32)


def recommendation_lists(model: Model, split: Split, *, allow_repeats: bool = False,
                         batch_size: int = 256, n: int = LIST_LENGTH) -> np.ndarray:
    """`[B, n]` lists for the evaluation users, by the model's recipe type (module docstring)."""
    kind = model.recipe_type
    b = split.users.size
    none = [np.zeros(0, np.int32)] * b
    banned = none if allow_repeats else [h.items for h in split.histories]
    if kind in RANKING_TYPES:
        return _search_lists(model, split, allow_repeats=allow_repeats, n=n)
    out = []
    for s in range(0, b, batch_size):
        e = min(b, s + batch_size)
        hist = split.histories[s:e]
        if kind in (USER_PERSONALIZATION, USER_SEGMENTATION, POPULAR_ITEMS):
            # the model excludes history itself; _drop below only enforces the protocol
            ids, _ = model.recommend(hist, n, users=split.users[s:e], exclude_history=not allow_repeats)
        elif kind == RELATED_ITEMS:
            queries = np.array([h.items[-1] for h in hist], np.int32)
            extra = 0 if allow_repeats else max(np.unique(h.items).size for h in hist)
            ids, _ = model.similar_items(queries, min(split.n_catalogue, n + extra))
        else:
            raise ValueError(f"unknown recipe type {kind!r}")
        out.append(_drop(ids, banned[s:e], n))
    return np.concatenate(out, axis=0) if out else np.zeros((0, n), np.int32)


def _search_lists(model: Model, split: Split, *, allow_repeats: bool, n: int) -> np.ndarray:
    rng = np.random.default_rng([split.seed, 2])   # its own stream: independent of the user draw
    n_items = split.n_catalogue
    rows = []
    for u, hist, tgt in zip(split.users, split.histories, split.targets):
        excluded = tgt if allow_repeats else np.union1d(tgt, hist.items)
        m = min(n_items, SEARCH_NEGATIVES + excluded.size)
        draw = rng.choice(n_items, size=m, replace=False)
        negatives = draw[~np.isin(draw, excluded)][:SEARCH_NEGATIVES]
        candidates = rng.permutation(np.concatenate([tgt, negatives]).astype(np.int32))
        scores = np.asarray(model.rank(hist, candidates, user=int(u)), dtype=np.float64)
        ranked = candidates[np.argsort(-scores, kind="stable")][:n]
        rows.append(np.concatenate([ranked, np.full(n - ranked.size, -1, np.int32)]))
    return np.stack(rows) if rows else np.zeros((0, n), np.int32)


def evaluate_model(model: Model, split: Split, *, allow_repeats: bool = False,
                   batch_size: int = 256) -> Dict[str, float]:
    """All metrics and diagnostics of a model trained on `split.train`."""
    lists = recommendation_lists(model, split, allow_repeats=allow_repeats, batch_size=batch_size)
    out = ranking_metrics(lists, split.targets, split.n_catalogue)
    out.update(diagnostics(split))
    return dict(sorted(out.items()))


def evaluate(recipe: Union[str, Recipe], data: TrainingData, hyperparameters: Optional[Dict[str, str]] = None,
             seed: int = 0, *, allow_repeats: bool = False, split: Optional[Split] = None,
             log: Callable[[str], None] = lambda msg: None,
             warm_start: Optional[Model] = None, checkpoint=None) -> Tuple[Dict[str, float], float, Model]:
    """Split `data` with `seed`, fit `recipe` on the training part, score the evaluation users.

    Returns `(metrics, fit_seconds, model)`; the model is the one trained on the training part
    (not on all data). Pass `split` to reuse a split made with `split_interactions`;
    `warm_start` is passed to a recipe that `supports_warm_start` (trainingMode UPDATE; the
    data must already be aligned to it, `warm_start.align`, so the split's indices hold).
    """
    if isinstance(recipe, str):
        from chalicelib.algorithms.registry import recipe_for
        recipe = recipe_for(recipe)
    split = split if split is not None else split_interactions(data, seed)
    t0 = time.perf_counter()
    extra = {} if warm_start is None else {"warm_start": warm_start}
    if checkpoint is not None and getattr(recipe, "supports_checkpoint", False):   # Recipe.supports_checkpoint
        extra["checkpoint"] = checkpoint
    model = recipe.fit(split.train, dict(hyperparameters or {}), seed=seed, log=log, **extra)
    fit_seconds = time.perf_counter() - t0
    log(f"{recipe.name}: fit in {fit_seconds:.2f}s on {len(split.train.interactions)} interactions; "
        f"scoring {split.users.size} evaluation users")
    return evaluate_model(model, split, allow_repeats=allow_repeats), fit_seconds, model
