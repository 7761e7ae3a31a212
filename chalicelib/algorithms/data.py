"""Build `TrainingData` from arrays or an interactions CSV, for the offline command and tests.

Seed: "Datasets and Schemas" (the Interactions dataset's USER_ID, ITEM_ID, TIMESTAMP and the
optional EVENT_TYPE, EVENT_VALUE fields) and "Getting Started", which prepares MovieLens
`ratings.csv` (`userId,movieId,rating,timestamp`) by renaming its header to
`USER_ID,ITEM_ID,TIMESTAMP`. Both headers are read here; MovieLens' `rating` becomes EVENT_VALUE.

Indices follow `base`: users and items are numbered in sorted order of their IDs (so the same
input always gives the same indices), and the item catalogue is the interactions' items plus any
`catalogue` items (an Items dataset).
"""
from __future__ import annotations

import csv
from typing import Iterable, Optional

import numpy as np

from chalicelib.algorithms.base import Interactions, TrainingData

# header spelling (lower case) -> field
_COLUMNS = {
    "user_id": "user", "userid": "user",
    "item_id": "item", "itemid": "item", "movieid": "item",
    "timestamp": "timestamp",
    "event_type": "event_type", "eventtype": "event_type",
    "event_value": "event_value", "eventvalue": "event_value", "rating": "event_value",
}


def from_arrays(users, items, timestamps, *, event_types=None, event_values=None,
                catalogue: Optional[Iterable] = None) -> TrainingData:
    """TrainingData from parallel arrays of raw IDs (any type; compared as strings).

    `event_types` are strings (coded into `TrainingData.event_types`), `event_values` floats
    (NaN where absent). `catalogue` adds items that have no interactions.
    """
    users = np.asarray(users).astype(str)
    items = np.asarray(items).astype(str)
    ts = np.asarray(timestamps, dtype=np.float64).astype(np.int64)
    if not (users.shape == items.shape == ts.shape) or users.ndim != 1:
        raise ValueError("users, items and timestamps must be 1-d arrays of equal length")
    user_ids, uidx = np.unique(users, return_inverse=True)
    all_items = items if catalogue is None else np.concatenate([items, np.asarray(list(catalogue)).astype(str)])
    item_ids, iidx = np.unique(all_items, return_inverse=True)
    iidx = iidx[: items.shape[0]]
    et_codes, et_names = None, ()
    if event_types is not None:
        names, et_codes = np.unique(np.asarray(event_types).astype(str), return_inverse=True)
        et_names, et_codes = tuple(str(n) for n in names), et_codes.astype(np.int16)
    ev = None if event_values is None else np.asarray(event_values, dtype=np.float32)
    return TrainingData(
        interactions=Interactions(uidx.astype(np.int32), iidx.astype(np.int32), ts, et_codes, ev),
        user_ids=user_ids, item_ids=item_ids, event_types=et_names)


def read_interactions_csv(path: str, *, catalogue: Optional[Iterable] = None) -> TrainingData:
    """Read `USER_ID,ITEM_ID,TIMESTAMP[,EVENT_TYPE][,EVENT_VALUE]` or MovieLens ratings (CRLF ok)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: empty file")
        cols = {}
        for pos, name in enumerate(header):
            fld = _COLUMNS.get(name.strip().lower())
            if fld and fld not in cols:
                cols[fld] = pos
        missing = [f for f in ("user", "item", "timestamp") if f not in cols]
        if missing:
            raise ValueError(f"{path}: header {header} lacks {', '.join(missing)} "
                             "(expected USER_ID,ITEM_ID,TIMESTAMP or userId,movieId,rating,timestamp)")
        rows = [r for r in reader if r]
    col = {f: [r[p] for r in rows] for f, p in cols.items()}
    values = None
    if "event_value" in col:
        values = np.array([float(v) if v.strip() else np.nan for v in col["event_value"]], np.float32)
    return from_arrays(col["user"], col["item"], col["timestamp"],
                       event_types=col.get("event_type"), event_values=values, catalogue=catalogue)


def subset(data: TrainingData, rows: np.ndarray) -> TrainingData:
    """The same users, items and metadata with only the interactions at `rows` (indices or mask)."""
    it = data.interactions
    pick = (lambda a: None if a is None else a[rows])
    return TrainingData(
        interactions=Interactions(it.user[rows], it.item[rows], it.timestamp[rows],
                                  pick(it.event_type), pick(it.event_value)),
        user_ids=data.user_ids, item_ids=data.item_ids, event_types=data.event_types,
        users=data.users, items=data.items)


def user_sequences(data: TrainingData):
    """Interactions grouped by user in time order (ties keep their input order, `lexsort`
    being stable): `(items, timestamps, bounds)`, user u's sequence at `[bounds[u]:bounds[u+1]]`."""
    it = data.interactions
    order = np.lexsort((it.timestamp, it.user))
    bounds = np.searchsorted(it.user[order], np.arange(data.n_users + 1))
    return it.item[order].astype(np.int64), it.timestamp[order].astype(np.int64), bounds


def history_length_filter(data: TrainingData, lo_pct: float, hi_pct: float) -> TrainingData:
    """Only the interactions of users whose history length lies between the `lo_pct` and
    `hi_pct` percentiles of all users' lengths (inclusive, numpy's linear interpolation); 0 and
    1 keep everyone. ValueError when no user is left."""
    if lo_pct <= 0.0 and hi_pct >= 1.0:
        return data
    counts = np.bincount(data.interactions.user, minlength=data.n_users)
    active = counts[counts > 0]
    if active.size == 0:
        return data
    lo, hi = np.quantile(active, [lo_pct, hi_pct])
    keep_user = (counts >= lo) & (counts <= hi) & (counts > 0)
    rows = np.flatnonzero(keep_user[data.interactions.user])
    if rows.size == 0:
        raise ValueError(f"the history-length percentiles [{lo_pct}, {hi_pct}] keep no user")
    return subset(data, rows)


def recency_weights(timestamps: np.ndarray, half_life_share: float) -> np.ndarray:
    """`2 ** (-(t_max - t) / h)` per timestamp, with the half-life `h` a share of the data's time
    span (all ones when the span is 0): what "more weight to recent interactions" means in
    the recipes that offer it."""
    t = np.asarray(timestamps, np.float64)
    if t.size == 0:
        return np.ones(0)
    span = float(t.max() - t.min())
    if span <= 0:
        return np.ones(t.shape[0])
    return np.exp2(-(t.max() - t) / (half_life_share * span))
