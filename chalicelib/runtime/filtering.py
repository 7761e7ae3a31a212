"""Filters, promotions and item metadata at serving time: the data a filter reads, for one
loaded model (today's API: GetRecommendations / GetPersonalizedRanking `filterArn`,
`filterValues`, `promotions`, `metadataColumns`).

The evaluator (`chalicelib.filters.evaluate`) reads plain arrays; this module builds them:
- `ItemTable`: the group's Items dataset as it is now (imported rows and items put with
  PutItems, `datasets.current`) over the model's item index, one column per field a filter
  names, built on first use and kept with the loaded model until the Items dataset's put-records
  stamp changes (one consistent read per request that needs it, however many parts of the
  request do: `Tables`): a PutItems is seen by the next request;
- `UserTable`: the Users dataset, for `IF CurrentUser.<field>`;
- `interacted`: the user's imported interactions (with their EVENT_TYPE) plus the events
  recorded with PutEvents (passed in, read once per request), the most recent
  `MAX_INTERACTIONS_PER_EVENT_TYPE` per event type ("Amazon Personalize considers up to 100 of
  the most recent interactions per user per event type"): exclude-what-I-just-bought works on
  the next call;
- `promote`: promoted items "positioned randomly relative to other recommended items, but in
  sorted order relative to other promoted items" (the developer guide, "Promoting items").
"""
from __future__ import annotations

import random
import threading
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy as np

from chalicelib.datasets import current
from chalicelib.datasets.schema import ITEMS, USERS
from chalicelib.filters import evaluate, language
from chalicelib.runtime import histories

_lock = threading.Lock()


class _Table:
    """One Users or Items dataset version: ids, their rows, columns by field name."""

    def __init__(self, data, id_field: str):
        self.data = data
        self.fields = {f["name"].upper(): f for f in (data.manifest["fields"] if data else [])}
        ids = data.strings(id_field) if data is not None and data.rows else np.zeros(0, "<U1")
        self.ids = histories.ItemIndex(ids)
        self._tokens: Dict[str, List[FrozenSet[str]]] = {}

    def spec(self, name: str) -> Optional[dict]:
        return self.fields.get(name.upper())

    def tokens(self, name: str) -> List[FrozenSet[str]]:
        """Per dictionary entry of a string field, its values (a categorical cell split on |)."""
        if name not in self._tokens:
            spec = self.fields[name]
            vocab = self.data.dictionaries[spec["name"]].tolist()
            split = spec.get("categorical")
            self._tokens[name] = [frozenset(v.split("|")) if split else frozenset([v]) for v in vocab]
        return self._tokens[name]

    def value(self, row_id: Optional[str], name: str) -> evaluate.Scalar:
        """One row's field (CurrentUser / CurrentItem): a set of strings or a number; None
        when the row or its value is missing."""
        spec = self.spec(name)
        if row_id is None or spec is None:
            return None
        row = int(self.ids.lookup([row_id])[0])
        if row < 0:
            return None
        if spec["type"] == "string":
            code = int(self.data.columns[spec["name"]][row])
            return self.tokens(name.upper())[code] if code >= 0 else None
        if spec["type"] == "boolean":
            return None
        number = float(self.data.numbers(spec["name"])[row])
        return None if np.isnan(number) else number

    def text(self, rows: np.ndarray, name: str) -> List[Optional[str]]:
        """Cell text of `rows` (-1: no row) for metadataColumns; None where missing."""
        spec = self.spec(name)
        if spec is None:
            return [None] * rows.shape[0]
        real = spec["name"]
        out: List[Optional[str]] = []
        if spec["type"] == "string":
            codes, vocab = self.data.columns[real], self.data.dictionaries[real]
            for r in rows.tolist():
                code = int(codes[r]) if r >= 0 else -1
                out.append(str(vocab[code]) if code >= 0 else None)
            return out
        values, nulls = self.data.columns[real], self.data.nulls.get(real)
        for r in rows.tolist():
            if r < 0 or (nulls is not None and nulls[r]):
                out.append(None)
            else:
                v = values[r].item()
                out.append(str(int(v)) if isinstance(v, float) and v.is_integer() and
                           spec["type"] in ("int", "long") else str(v))
        return out


class ItemTable(_Table):
    """The Items dataset over one model's item index."""

    def __init__(self, data, index: histories.ItemIndex):
        super().__init__(data, "ITEM_ID")
        self.size = index.size
        self.row_of_item = np.full(index.size, -1, np.int64)
        if data is not None and data.rows:
            idx = index.lookup(data.strings("ITEM_ID"))
            ok = idx >= 0
            self.row_of_item[idx[ok]] = np.flatnonzero(ok)
        self._columns: Dict[str, Optional[evaluate.Column]] = {}

    def column(self, name: str) -> Optional[evaluate.Column]:
        """A field over the model's items (None: the dataset has no such field)."""
        name = name.upper()
        if name not in self._columns:
            self._columns[name] = self._build(name)
        return self._columns[name]

    def _build(self, name):
        spec = self.spec(name)
        if spec is None or spec["type"] == "boolean":
            return None
        rows, missing = np.maximum(self.row_of_item, 0), self.row_of_item < 0
        if spec["type"] == "string":
            codes = self.data.columns[spec["name"]][rows].astype(np.int64)
            codes[missing] = -1
            return evaluate.StringColumn(codes, self.tokens(name))
        values = self.data.numbers(spec["name"])[rows]
        values[missing] = np.nan
        return evaluate.NumberColumn(values)

    def metadata(self, item_ids: Sequence[str], names: Sequence[str]) -> List[Dict[str, str]]:
        """metadataColumns: per item, {column: cell text} for the columns it has a value for."""
        rows = self.ids.lookup(list(item_ids))
        cells = {name: self.text(rows, name) for name in names}
        return [{name: cells[name][k] for name in names if cells[name][k] is not None}
                for k in range(len(item_ids))]


_READ = object()   # `_cached`'s default: read the stamp there


def _cached(served, key: str, dataset_type: str, build, stamp=_READ):
    """A table kept on the loaded model until the dataset's put-records stamp changes
    (`stamp`: the one the request read, `Tables`; else read here)."""
    group = served.dataset_group_arn
    if stamp is _READ:
        stamp = current.stamp(group, dataset_type) if group else None
    with _lock:
        tables = served.__dict__.setdefault("_filter_tables", {})
        found = tables.get(key)
        if found is not None and found[0] == stamp:
            return found[1]
    data = current.load(group, dataset_type) if group else None
    table = build(data)
    with _lock:
        tables[key] = (stamp, table)
    return table


def item_table(served, stamp=_READ) -> ItemTable:
    return _cached(served, "items", ITEMS, lambda data: ItemTable(data, served.index), stamp)


def user_table(served, stamp=_READ) -> _Table:
    return _cached(served, "users", USERS, lambda data: _Table(data, "USER_ID"), stamp)


class Tables:
    """The Items and Users tables one request sees: each dataset's put-records stamp read once
    per request, however many filters, promotions, metadataColumns and searchQuery ask (a
    PutItems is still seen by the next request). Built lazily: a request that needs no table
    reads no stamp."""

    def __init__(self, served):
        self.served = served
        self._stamps: Dict[str, Optional[float]] = {}

    def stamp(self, dataset_type: str) -> Optional[float]:
        if dataset_type not in self._stamps:
            group = self.served.dataset_group_arn
            self._stamps[dataset_type] = current.stamp(group, dataset_type) if group else None
        return self._stamps[dataset_type]

    def items(self) -> ItemTable:
        return item_table(self.served, self.stamp(ITEMS))

    def users(self) -> _Table:
        return user_table(self.served, self.stamp(USERS))


def interacted(served, user_id: Optional[str], events: Optional[List[dict]],
               types: Optional[FrozenSet[str]],
               limit: int = language.MAX_INTERACTIONS_PER_EVENT_TYPE) -> np.ndarray:
    """Mask over the model's items: what the user interacted with by one of `types` (lower
    case; None: any), within the most recent `limit` interactions of each event type."""
    items, kinds, stamps = served.histories.events(user_id)
    if events:
        ev_items = served.index.lookup([e["itemId"] for e in events])
        ok = ev_items >= 0
        items = np.concatenate([items.astype(np.int64), ev_items[ok]])
        kinds = np.concatenate([kinds.astype(str), np.char.lower(np.asarray(
            [str(e.get("eventType") or "") for e in events], str))[ok]])
        stamps = np.concatenate([stamps.astype(np.int64),
                                 np.asarray([int(e["sentAt"]) for e in events], np.int64)[ok]])
    mask = np.zeros(served.index.size, bool)
    if not items.shape[0]:
        return mask
    keep = np.ones(items.shape[0], bool) if types is None else np.isin(kinds, list(types))
    items, kinds, stamps = items[keep], kinds[keep], stamps[keep]
    # newest first within each event type; keep the first `limit` of each
    order = np.lexsort((-stamps, kinds))
    kinds_sorted = kinds[order]
    starts = np.r_[0, np.flatnonzero(kinds_sorted[1:] != kinds_sorted[:-1]) + 1]
    rank = np.arange(order.shape[0]) - np.repeat(starts, np.diff(np.r_[starts, order.shape[0]]))
    mask[items[order[rank < limit]]] = True
    return mask


def inputs(served, user_id: Optional[str], item_id: Optional[str],
           events: Optional[List[dict]], tables: Optional[Tables] = None) -> evaluate.Inputs:
    """What a filter reads for this request (each table only when the filter asks)."""
    tables = tables or Tables(served)
    return evaluate.Inputs(
        size=served.index.size,
        column=lambda dataset, name: tables.items().column(name) if dataset == language.ITEMS else None,
        interacted=lambda types: interacted(served, user_id, events, types),
        current_user=lambda name: tables.users().value(user_id, name),
        current_item=lambda name: tables.items().value(item_id, name))


def allowed(served, parsed: language.Filter, bound: evaluate.Bound, user_id: Optional[str],
            item_id: Optional[str] = None, events: Optional[List[dict]] = None,
            tables: Optional[Tables] = None) -> np.ndarray:
    """The model items the filter lets through for this request (FilterError on bad values)."""
    return evaluate.allowed(parsed, bound, inputs(served, user_id, item_id, events, tables))


def allowed_ids(served, parsed: language.Filter, bound: evaluate.Bound, ids: Sequence[str],
                user_id: Optional[str] = None, events: Optional[List[dict]] = None,
                tables: Optional[Tables] = None) -> np.ndarray:
    """The filter over arbitrary item ids (items the model does not know: Trending-Now's new
    items); `interacted` is then matched by id."""
    tables = tables or Tables(served)
    table = tables.items()
    rows = table.ids.lookup(list(ids))
    index = histories.ItemIndex(np.asarray(ids, str))

    def column(dataset, name):
        base = table.column(name) if dataset == language.ITEMS else None
        spec = table.spec(name)
        if base is None or spec is None:
            return None
        if isinstance(base, evaluate.StringColumn):
            codes = table.data.columns[spec["name"]][np.maximum(rows, 0)].astype(np.int64)
            codes[rows < 0] = -1
            return evaluate.StringColumn(codes, base.tokens)
        values = table.data.numbers(spec["name"])[np.maximum(rows, 0)]
        values[rows < 0] = np.nan
        return evaluate.NumberColumn(values)

    def touched(types):
        known = interacted(served, user_id, events, types)
        mask = np.isin(np.asarray(ids, str), served.model.item_ids[known])
        for e in events or []:   # new items the model cannot index
            if types is None or str(e.get("eventType") or "").lower() in types:
                pos = int(index.lookup([e["itemId"]])[0])
                if pos >= 0:
                    mask[pos] = True
        return mask

    return evaluate.allowed(parsed, bound, evaluate.Inputs(
        size=len(ids), column=column, interacted=touched,
        current_user=lambda name: tables.users().value(user_id, name)))


def promoted_count(n: int, percent: int) -> int:
    """How many of n places a promotion of `percent` takes (rounded to the nearest, half up)."""
    return min(n, int(n * percent / 100 + 0.5))


def promote(regular: List[Tuple[str, Optional[float]]], promoted: List[Tuple[str, Optional[float]]],
            seed: str) -> List[Tuple[Tuple[str, Optional[float]], bool]]:
    """Regular and promoted answers in one list: promoted items at random places (seeded by
    the recommendation id, so one answer is reproducible), in their own order; regular items
    keep theirs. Returns [((item id, score), promoted?)]."""
    total = len(regular) + len(promoted)
    places = set(random.Random(seed).sample(range(total), len(promoted)))
    out, r, p = [], iter(regular), iter(promoted)
    for k in range(total):
        out.append((next(p), True) if k in places else (next(r), False))
    return out


class Gate:
    """What one request lets through, for one loaded model: a filter with its bound values
    (or none), less the item ids `block`ed (a promotion's items, so no item shows twice).
    `mask()` is over the model's items, `for_ids(ids)` over any ids (Trending-Now)."""

    def __init__(self, served, parsed: Optional[language.Filter] = None,
                 bound: Optional[evaluate.Bound] = None, user_id: Optional[str] = None,
                 item_id: Optional[str] = None, events: Optional[List[dict]] = None,
                 blocked: Sequence[str] = (), tables: Optional[Tables] = None):
        self.served, self.parsed, self.bound = served, parsed, bound or {}
        self.user_id, self.item_id, self.events = user_id, item_id, events
        self.blocked = list(blocked)
        self.tables = tables or Tables(served)
        self._mask = None

    def block(self, item_ids: Sequence[str]) -> "Gate":
        return Gate(self.served, self.parsed, self.bound, self.user_id, self.item_id,
                    self.events, self.blocked + list(item_ids), self.tables)

    @property
    def active(self) -> bool:
        return self.parsed is not None or bool(self.blocked)

    def mask(self) -> Optional[np.ndarray]:
        if not self.active:
            return None
        if self._mask is None:
            mask = allowed(self.served, self.parsed, self.bound, self.user_id, self.item_id,
                           self.events, self.tables) if self.parsed is not None \
                else np.ones(self.served.index.size, bool)
            if self.blocked:
                idx = self.served.index.lookup(self.blocked)
                mask[idx[idx >= 0]] = False
            self._mask = mask
        return self._mask

    def for_ids(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, str)
        mask = allowed_ids(self.served, self.parsed, self.bound, ids, self.user_id, self.events,
                           self.tables) \
            if self.parsed is not None else np.ones(ids.shape[0], bool)
        if self.blocked:
            mask &= ~np.isin(ids, np.asarray(self.blocked, str))
        return mask
