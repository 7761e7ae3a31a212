"""`aws-trending-now` (POPULAR_ITEMS; today's "Trending-Now recipe"): the items whose
interactions increase fastest, recomputed from the interactions as they arrive.

Today's guide: Trending-Now "identifies the top trending items by calculating the increase in
interactions that each item has over configurable intervals of time ... based on timestamp data";
"you don't have to manually create a new solution version ... to consider new items"; "if you
imported zero interactions over the past two intervals, Amazon Personalize recommends only
popular items"; `trend_discovery_frequency` (30 minutes, 1 hour, 2 hours, 3 hours, 1 day;
default 2 hours) sets the interval.

`trend_order(items, timestamps, n_items, interval)`: with `t` the newest timestamp, the current
interval is `(t - interval, t]` and the previous one the interval before it. An item's trend is
its count in the current interval minus its count in the previous one. Items with a positive
trend come first (larger increase first, then more current interactions), then every other item
by its count over the whole log (ties: lower index). With no interaction in the two intervals
the order is plain popularity.

The model keeps the interval and the order computed from its training data (what `recommend`
answers offline). The runtime (`chalicelib.runtime.serving`) counts the imported interactions
plus the events recorded with PutEvents at request time, on the union of the model's items and
the events' items, and orders them with `rank` (`trend_order`'s ranking from those counts), so
a burst of events moves an item up (or brings in a new one) without a new solution version. Users are not personalised: a userId only removes the
user's history when the protocol asks for it (`exclude_history`, the offline evaluation).
"""
from __future__ import annotations

from typing import Callable, Dict

import numpy as np

from chalicelib.algorithms.base import POPULAR_ITEMS, Model, Recipe, TrainingData
from chalicelib.domain.recipes import TREND_FREQUENCIES, parse_hyperparameters

NAME = "aws-trending-now"


def trend_order(items: np.ndarray, timestamps: np.ndarray, n_items: int, interval: float):
    """`(order, trend)`: every item index, trending first (module docstring), and each item's
    increase (current minus previous interval count)."""
    items = np.asarray(items, np.int64)
    ts = np.asarray(timestamps, np.float64)
    total = np.bincount(items, minlength=n_items)
    current = previous = np.zeros(n_items, np.int64)
    if ts.size:
        t = ts.max()
        in_current = ts > t - interval
        in_previous = ~in_current & (ts > t - 2 * interval)
        current = np.bincount(items[in_current], minlength=n_items)
        previous = np.bincount(items[in_previous], minlength=n_items)
    return rank(total, current, previous)


def rank(total: np.ndarray, current: np.ndarray, previous: np.ndarray):
    """`trend_order` from the counts per item: over the whole log, in the current interval and
    in the one before (what the runtime counts apart: `serving.ServedModel._trend_now`)."""
    n_items = total.shape[0]
    trend = (current - previous).astype(np.int64)
    rising = trend > 0
    # lexsort: last key first -> rising, then increase, then current count, then total, index
    order = np.lexsort((np.arange(n_items), -total, -np.where(rising, current, 0),
                        -np.where(rising, trend, 0), ~rising))
    return order.astype(np.int64), trend


class TrendingModel(Model):
    recipe = NAME
    recipe_type = POPULAR_ITEMS
    reads_recent_events = True          # the runtime recomputes the order at request time

    def __init__(self, item_ids, hyperparameters=None, *, order, trend):
        super().__init__(item_ids, hyperparameters)
        self.order = np.asarray(order, np.int64)
        self.trend = np.asarray(trend, np.int64)

    @property
    def interval(self) -> int:
        hp = parse_hyperparameters(NAME, self.hyperparameters)
        return TREND_FREQUENCIES[hp["trend_discovery_frequency"]]

    def recommend(self, histories, n, *, users=None, exclude_history=True):
        b = len(histories)
        ids = np.full((b, n), -1, np.int32)
        scores = np.full((b, n), -np.inf)
        for r, h in enumerate(histories):
            cand = self.order if not exclude_history else self.order[~np.isin(self.order, h.items)]
            top = cand[:n]
            ids[r, :top.size] = top
            scores[r, :top.size] = self.trend[top]
        return ids, scores

    def arrays(self) -> Dict[str, np.ndarray]:
        return {"order": self.order, "trend": self.trend}

    @classmethod
    def from_artifacts(cls, item_ids, hyperparameters, arrays, meta):
        return cls(item_ids, hyperparameters, order=arrays["order"], trend=arrays["trend"])


class TrendingNow(Recipe):
    name = NAME
    recipe_type = POPULAR_ITEMS
    model_class = TrendingModel

    def fit(self, data: TrainingData, hyperparameters: Dict[str, str], *, seed: int = 0,
            log: Callable[[str], None] = lambda msg: None) -> TrendingModel:
        hp = parse_hyperparameters(NAME, hyperparameters or {})
        interval = TREND_FREQUENCIES[hp["trend_discovery_frequency"]]
        it = data.interactions
        order, trend = trend_order(it.item, it.timestamp, data.n_items, interval)
        log(f"{NAME}: {int((trend > 0).sum())} items rising over the last "
            f"{hp['trend_discovery_frequency']} of the training data")
        return TrendingModel(data.item_ids, {k: str(v) for k, v in hp.items()}, order=order, trend=trend)
