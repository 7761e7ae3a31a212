"""aws-popularity-count: the most frequent items (seed "Popularity-Count Recipe").

"Popularity-count counts the popularity of items in a dataset. It returns the top popular items
defined by the number of times each item occurs in the dataset. The recipe returns the same
popular items for different users." It has no exposed hyperparameters.

- The count is the number of interactions (events) per item in the training data it is given.
  Which events count is the solution's business, applied before training: `eventType` and
  `eventValueThreshold` filter the interactions (seed: CreateSolution), so the model counts
  whatever survives.
- Ties break deterministically: more recent last interaction first, then lower item index.
- At inference every user gets the same order, minus the items in the user's history when
  `exclude_history` (the evaluation protocol and the runtime ask for that).
- `rank` (used when a list must be reordered) scores by the same order.
"""
from __future__ import annotations

from typing import Callable, Dict, Sequence, Tuple

import numpy as np

from chalicelib.algorithms.base import USER_PERSONALIZATION, History, Model, Recipe, TrainingData
from chalicelib.domain.recipes import parse_hyperparameters

NAME = "aws-popularity-count"


class PopularityModel(Model):
    recipe = NAME
    recipe_type = USER_PERSONALIZATION

    def __init__(self, item_ids, hyperparameters=None, *, counts: np.ndarray, order: np.ndarray):
        super().__init__(item_ids, hyperparameters)
        self.counts = np.asarray(counts, np.int64)
        self.order = np.asarray(order, np.int32)         # all items, most popular first
        self.position = np.empty_like(self.order)
        self.position[self.order] = np.arange(self.order.size, dtype=np.int32)

    # --- inference -------------------------------------------------------
    def recommend(self, histories: Sequence[History], n: int, *, users=None,
                  exclude_history: bool = True) -> Tuple[np.ndarray, np.ndarray]:
        b, n_items = len(histories), self.order.size
        n = min(n, n_items)
        longest = max((h.items.size for h in histories), default=0) if exclude_history else 0
        # the answer lies in the first n + |history| popular items: take that prefix for everyone
        prefix = self.order[: min(n_items, n + longest)]
        cand = np.broadcast_to(prefix, (b, prefix.size)).astype(np.int64)
        if exclude_history and longest:
            lens = np.array([h.items.size for h in histories], np.int64)
            hist_keys = np.repeat(np.arange(b, dtype=np.int64), lens) * n_items + np.concatenate(
                [h.items for h in histories]).astype(np.int64)
            seen = np.isin(np.arange(b, dtype=np.int64)[:, None] * n_items + cand, hist_keys)
        else:
            seen = np.zeros(cand.shape, bool)
        order = np.argsort(seen, axis=1, kind="stable")[:, :n]
        ids = np.take_along_axis(cand, order, axis=1)
        bad = np.take_along_axis(seen, order, axis=1)
        ids = np.where(bad, -1, ids).astype(np.int32)
        scores = np.where(bad, -np.inf, self.counts[np.maximum(ids, 0)].astype(np.float64))
        return ids, scores

    def rank(self, history: History, candidates: np.ndarray, *, user=None) -> np.ndarray:
        cand = np.asarray(candidates, np.int64)
        known = (cand >= 0) & (cand < self.order.size)
        # higher is better: the negated popularity position (unknown items last)
        return np.where(known, -self.position[np.where(known, cand, 0)].astype(np.float64), -np.inf)

    # --- artifacts -------------------------------------------------------
    def arrays(self) -> Dict[str, np.ndarray]:
        return {"counts": self.counts, "order": self.order}

    @classmethod
    def from_artifacts(cls, item_ids, hyperparameters, arrays, meta):
        return cls(item_ids, hyperparameters, counts=arrays["counts"], order=arrays["order"])


class PopularityCount(Recipe):
    name = NAME
    recipe_type = USER_PERSONALIZATION
    model_class = PopularityModel

    def fit(self, data: TrainingData, hyperparameters: Dict[str, str], *, seed: int = 0,
            log: Callable[[str], None] = lambda msg: None) -> PopularityModel:
        params = parse_hyperparameters(NAME, hyperparameters)   # none exist: rejects any given
        it = data.interactions
        counts = np.bincount(it.item, minlength=data.n_items).astype(np.int64)
        last = np.full(data.n_items, -np.iinfo(np.int64).max, np.int64)  # negatable
        if len(it):
            np.maximum.at(last, it.item, it.timestamp.astype(np.int64))
        # lexsort: last key is primary -> count desc, then latest interaction desc, then index
        order = np.lexsort((np.arange(data.n_items), -last, -counts)).astype(np.int32)
        log(f"{NAME}: {int(np.count_nonzero(counts))} items with events out of {data.n_items}")
        return PopularityModel(data.item_ids, {k: str(v) for k, v in params.items()},
                               counts=counts, order=order)
