"""Warm start from the previous solution version's model: the pieces of today's trainingMode UPDATE.

Today's API (stock CreateSolutionVersion.trainingMode): "UPDATE ... processes only the data that
has changed since the latest training"; it "can only be used when you already have an active
solution version ... trained with the User-Personalization recipe or the legacy HRNN-Coldstart
recipe", and today's guide adds that an update brings new items into recommendations (item
exploration) without a full retraining. A recipe that supports it takes
`fit(data, hyperparameters, warm_start=previous_model)` (`Recipe.supports_warm_start`) and:

1. re-indexes the current data so that the previous model's ids come first, in its order,
   then the ids that are new (`align`): previous item `k` keeps row `k` unless items of the
   previous catalogue have gone since (a FULL import, a data deletion), and `previous_rows`
   says, per new index, which row of the previous model it was (-1 for a new id);
2. carries over every parameter of the previous model: item rows by `previous_rows`, metadata
   weights by feature-column name (`feature_rows`; a genre that is new starts at zero, as every
   metadata weight does in a full training), the rest as they are;
3. places each new item: from its metadata by the ridge map the cold-start recipes use (fitted
   on the carried items' learned rows), else from the items it co-occurs with in users'
   histories (`cooccurrence_rows`: the mean row of the carried items its users also chose), else
   at the mean of the carried rows;
4. fine-tunes for `UPDATE_EPOCHS` on all current data, with no AutoML and no HPO (the trainer
   keeps the previous version's recipe and tuned hyperparameters).

No I/O here, and no boto3: the trainer hands the previous model in (the `model` input channel
of the training job, `chalicelib.training.contract.MODEL_CHANNEL`).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms.base import Metadata, TrainingData

UPDATE_EPOCHS = 1
RIDGE_LAMBDA = 1.0


def _order(current: np.ndarray, previous: Optional[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
    """(permutation of `current` ids: previous ids present first in previous order, then the
    others in current order; the previous row of each, -1 for new)."""
    current = np.asarray(current, dtype=str)
    n = current.shape[0]
    if previous is None:
        return np.arange(n), np.full(n, -1, np.int64)
    previous = np.asarray(previous, dtype=str)
    where = {u: i for i, u in enumerate(current.tolist())}
    kept = [(where[p], k) for k, p in enumerate(previous.tolist()) if p in where]
    kept_cur = np.array([c for c, _ in kept], np.int64)
    is_kept = np.zeros(n, bool)
    is_kept[kept_cur] = True
    perm = np.concatenate([kept_cur, np.flatnonzero(~is_kept)]).astype(np.int64)
    rows = np.concatenate([np.array([k for _, k in kept], np.int64),
                           np.full(int((~is_kept).sum()), -1, np.int64)])
    return perm, rows


def _reindexed_metadata(meta: Optional[Metadata], perm: np.ndarray) -> Optional[Metadata]:
    if meta is None:
        return None
    return Metadata(fields={k: np.asarray(v)[perm] for k, v in meta.fields.items()},
                    categorical=meta.categorical)


def align(data: TrainingData, previous_item_ids, previous_user_ids=None):
    """`(data re-indexed old ids first, previous item row per item, previous user row per user)`
    (step 1 of the module docstring). Interactions keep their order; only indices change."""
    item_perm, item_rows = _order(data.item_ids, previous_item_ids)
    user_perm, user_rows = _order(data.user_ids, previous_user_ids)
    item_new = np.empty_like(item_perm)
    item_new[item_perm] = np.arange(item_perm.shape[0])
    user_new = np.empty_like(user_perm)
    user_new[user_perm] = np.arange(user_perm.shape[0])
    it = data.interactions
    interactions = replace(it, user=user_new[it.user].astype(np.int32),
                           item=item_new[it.item].astype(np.int32))
    aligned = TrainingData(interactions=interactions, user_ids=np.asarray(data.user_ids)[user_perm],
                           item_ids=np.asarray(data.item_ids)[item_perm], event_types=data.event_types,
                           users=_reindexed_metadata(data.users, user_perm),
                           items=_reindexed_metadata(data.items, item_perm))
    return aligned, item_rows, user_rows


def feature_rows(previous_names: Optional[Sequence[str]], names: Sequence[str],
                 previous_count: int) -> np.ndarray:
    """Per feature column of the new encoding, its column in the previous one (-1: new).
    A model saved without its column names maps one to one when the counts agree."""
    if previous_names is None:
        if previous_count == len(names):
            return np.arange(len(names), dtype=np.int64)
        return np.full(len(names), -1, np.int64)
    where = {n: i for i, n in enumerate(previous_names)}
    return np.array([where.get(n, -1) for n in names], np.int64)


def carry_rows(target: np.ndarray, source: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`target[i] = source[rows[i]]` where `rows[i] >= 0`; returns the mask of carried rows."""
    ok = rows >= 0
    target[ok] = source[rows[ok]].astype(target.dtype, copy=False)
    return ok


def ridge_predict(features: Optional[sp.csr_matrix], warm: np.ndarray, cold: np.ndarray,
                  target: np.ndarray, lam: float = RIDGE_LAMBDA) -> np.ndarray:
    """`[cold rows, D]`: `target` (the warm rows' values, `[warm rows, D]`) predicted for the cold
    rows from their metadata (`features`, or None: the intercept alone, i.e. the warm mean) by a
    ridge map with intercept fitted on the warm rows."""
    def design(mask):
        ones = np.ones((int(mask.sum()), 1))
        return sp.csr_matrix(ones) if features is None else sp.hstack([features[mask], ones]).tocsr()
    xw = design(warm)
    gram = (xw.T @ xw).toarray() + lam * np.eye(xw.shape[1])
    coef = np.linalg.solve(gram, xw.T @ np.asarray(target, np.float64))
    return np.asarray(design(cold) @ coef)


def cooccurrence_rows(items: np.ndarray, starts, ends, n_items: int, known: np.ndarray,
                      new: np.ndarray, table: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """`(rows [len(new), D], found [len(new)])`: for each new item, the mean of `table`'s rows of
    the `known` items chosen by the users who chose it, each user weighted by 1/its history
    length (`found` False where no such user exists)."""
    starts, ends = np.asarray(starts, np.int64), np.asarray(ends, np.int64)
    lens = np.maximum(ends - starts, 0)
    d = table.shape[1] if table.ndim > 1 else 1
    if lens.sum() == 0 or new.size == 0:
        return np.zeros((new.size, d)), np.zeros(new.size, bool)
    rows = np.repeat(np.arange(starts.shape[0]), lens)
    cols = np.concatenate([items[a:b] for a, b in zip(starts, ends) if b > a])
    x = sp.csr_matrix((np.ones(rows.shape[0]), (rows, cols)), shape=(starts.shape[0], n_items))
    x.data[:] = 1.0
    x = sp.diags(1.0 / np.maximum(np.asarray(x.sum(axis=1)).ravel(), 1.0)) @ x
    known_idx = np.flatnonzero(known)
    co = (x[:, new].T @ x[:, known_idx]).tocsr()          # [new, known]
    mass = np.asarray(co.sum(axis=1)).ravel()
    found = mass > 0
    values = np.asarray(co @ table[known_idx].reshape(known_idx.shape[0], -1), np.float64)
    values[found] /= mass[found, None]
    return values, found
