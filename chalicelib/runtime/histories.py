"""Per-user histories for inference, and item metadata for searchQuery (the Items dataset
as it is now: imported rows and items put with PutItems, `chalicelib.datasets.current`).

Seed: "Recording Events" (recorded events join the historical interactions); EVALUATION.md:
a user's History at inference is the imported interactions plus events recorded with
PutEvents (fold-in, no retraining). The models keep no per-user state, so the runtime indexes
the dataset group's current INTERACTIONS data version once per (data version, model item
space): users -> CSR rows of (item index in the model's item space, timestamp), oldest first.
Items the model does not know are dropped (it could not score them anyway). The index is
arrays only, published once per machine and mapped by every worker (`mapped`, issue 15 item
3): `bench/serving_memory.py` measured 100,000 users x 10 interactions at 100 MB of private
heap per worker with a dict per user, 3.8x the memory of one worker at 4 workers.

`merge` adds recorded events (newest first from the events store) to that imported history.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np

from chalicelib.algorithms.base import History
from chalicelib.datasets import current
from chalicelib.datasets.schema import INTERACTIONS, ITEMS
from chalicelib.runtime import shared

MAX_HISTORY = 1000   # most recent interactions kept per request; older ones barely move a model


class ItemIndex:
    """Item id -> the model's item index, vectorised (sorted ids + searchsorted)."""

    def __init__(self, item_ids: np.ndarray):
        ids = np.asarray(item_ids, dtype=str)
        self.order = np.argsort(ids, kind="stable").astype(np.int64)
        self.sorted = ids[self.order]
        self.size = ids.shape[0]
        self._ids = ids
        self._fingerprint = None

    def lookup(self, ids) -> np.ndarray:
        """Indices of `ids` (int64), -1 where unknown."""
        q = np.asarray(ids, dtype=str).reshape(-1)
        if not self.size or not q.size:
            return np.full(q.shape[0], -1, np.int64)
        pos = np.searchsorted(self.sorted, q)
        pos_c = np.minimum(pos, self.size - 1)
        hit = self.sorted[pos_c] == q
        return np.where(hit, self.order[pos_c], -1)

    @property
    def fingerprint(self) -> str:
        """Names this item space (the ids in the model's order): what an index over it is for."""
        if self._fingerprint is None:
            ids = np.ascontiguousarray(self._ids)
            self._fingerprint = hashlib.sha256(ids.tobytes() + str(ids.dtype).encode()).hexdigest()[:32]
        return self._fingerprint

    @property
    def nbytes(self):
        return int(self.order.nbytes + self.sorted.nbytes)


_NO_USERS = shared.Strings.of([], indexed=True)


@dataclass
class UserHistories:
    """Imported interactions per user in one model's item space: user `users.find(id)`'s rows
    are `indptr[r]:indptr[r + 1]`, oldest first. Arrays only (no per-user Python objects), so
    the index is published once per machine and mapped by every worker (`load_user_histories`)."""

    users: shared.Strings = _NO_USERS                       # sorted user ids
    indptr: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    items: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    timestamps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    item_counts: Optional[np.ndarray] = None     # interactions per model item (popular fallback)
    # EVENT_TYPE of each interaction (codes into `event_vocab`, -1: none), for event filters
    event_codes: Optional[np.ndarray] = None
    event_vocab: np.ndarray = field(default_factory=lambda: np.zeros(0, "<U1"))

    def row(self, user_id: Optional[str]) -> Optional[int]:
        row = self.users.find(user_id) if user_id is not None else -1
        return row if row >= 0 else None

    @property
    def user_count(self) -> int:
        return len(self.users)

    def history(self, user_id: Optional[str]) -> History:
        row = self.row(user_id)
        if row is None:
            return History.empty()
        s, e = self.indptr[row], self.indptr[row + 1]
        return History(self.items[s:e], self.timestamps[s:e])

    def events(self, user_id: Optional[str]):
        """The user's imported interactions as (item indices, lower-case event types,
        timestamps), oldest first ("" where the dataset has no EVENT_TYPE)."""
        row = self.row(user_id)
        if row is None:
            return np.zeros(0, np.int32), np.zeros(0, "<U1"), np.zeros(0, np.int64)
        s, e = self.indptr[row], self.indptr[row + 1]
        if self.event_codes is None or not self.event_vocab.size:
            types = np.full(e - s, "", "<U1")
        else:
            codes = self.event_codes[s:e]
            types = np.char.lower(self.event_vocab[np.maximum(codes, 0)])
            types[codes < 0] = ""
        return self.items[s:e], types, self.timestamps[s:e]

    def arrays(self) -> Dict[str, np.ndarray]:
        out = dict(self.users.arrays("users"), indptr=self.indptr, items=self.items,
                   timestamps=self.timestamps, event_vocab=self.event_vocab)
        if self.item_counts is not None:
            out["item_counts"] = self.item_counts
        if self.event_codes is not None:
            out["event_codes"] = self.event_codes
        return out

    @classmethod
    def of_arrays(cls, arrays: Dict[str, np.ndarray]) -> "UserHistories":
        return cls(shared.Strings.of_arrays(arrays, "users"), arrays["indptr"], arrays["items"],
                   arrays["timestamps"], arrays.get("item_counts"), arrays.get("event_codes"),
                   arrays["event_vocab"])

    @property
    def nbytes(self):
        return int(sum(a.nbytes for a in self.arrays().values()))


def build(user_ids: np.ndarray, item_idx: np.ndarray, timestamps: np.ndarray,
          n_items: int, event_codes: Optional[np.ndarray] = None,
          event_vocab: Optional[np.ndarray] = None) -> UserHistories:
    """Index interactions (user id strings, model item indices or -1, seconds; optionally
    EVENT_TYPE codes into `event_vocab`) per user."""
    keep = item_idx >= 0
    users, items, ts = np.asarray(user_ids, dtype=str)[keep], item_idx[keep], timestamps[keep]
    kinds = event_codes[keep] if event_codes is not None else None
    vocab = event_vocab if event_vocab is not None else np.zeros(0, "<U1")
    counts = np.bincount(items, minlength=n_items).astype(np.int64) if n_items else np.zeros(0, np.int64)
    if not users.size:
        return UserHistories(item_counts=counts, event_vocab=vocab)
    uniq, codes = np.unique(users, return_inverse=True)
    order = np.lexsort((ts, codes))      # by user, then time (stable for equal times)
    codes = codes[order]
    indptr = np.zeros(uniq.shape[0] + 1, np.int64)
    indptr[1:] = np.cumsum(np.bincount(codes, minlength=uniq.shape[0]))
    return UserHistories(shared.Strings.of(uniq.tolist(), indexed=True), indptr,
                         items[order].astype(np.int32), ts[order].astype(np.int64), counts,
                         kinds[order].astype(np.int32) if kinds is not None else None, vocab)


def mapped(identity: str, index: ItemIndex, build_: Callable[[], UserHistories]) -> UserHistories:
    """The histories built from `identity` (what they index: a data version) in `index`'s item
    space, as this machine's shared copy (`shared.saved`): the first worker builds and publishes
    them, every worker maps the one copy."""
    path = shared.folder("histories", shared.digest(f"{identity}|{index.fingerprint}"))
    arrays, _meta = shared.saved(path, lambda: (build_().arrays(), {"identity": identity}))
    return UserHistories.of_arrays(arrays)


def load_user_histories(dataset_group_arn: Optional[str], index: ItemIndex) -> UserHistories:
    """The group's imported interactions per user (empty when nothing was imported): the
    current INTERACTIONS data version, read and indexed by the machine's first worker."""
    found = current.version_of(dataset_group_arn, INTERACTIONS) if dataset_group_arn else None
    if found is None:
        return UserHistories(item_counts=np.zeros(index.size, np.int64))
    dataset_arn, version_id = found
    return mapped(f"{dataset_arn}|{version_id}", index,
                  lambda: _index(current.bulk_version(dataset_arn, version_id), index))


def _index(data, index: ItemIndex) -> UserHistories:
    if not data.rows:
        return UserHistories(item_counts=np.zeros(index.size, np.int64))
    # map the version's item dictionary once, then every row through its code
    item_dict = data.dictionaries["ITEM_ID"]
    dict_idx = np.append(index.lookup(item_dict), -1)
    codes = data.columns["ITEM_ID"]
    item_idx = dict_idx[np.where(codes < 0, len(item_dict), codes)]
    typed = data.field_type("EVENT_TYPE") == "string"
    return build(data.strings("USER_ID"), item_idx, data.columns["TIMESTAMP"].astype(np.int64),
                 index.size, data.columns["EVENT_TYPE"] if typed else None,
                 data.dictionaries["EVENT_TYPE"] if typed else None)


def merge(imported: History, events: List[dict], index: ItemIndex,
          limit: Optional[int] = MAX_HISTORY) -> History:
    """Imported history plus recorded events (newest first, as the events store gives them;
    items unknown to the model dropped), in time order, at most `limit` of the most recent
    (None: all). Among equal times imported rows come first, then the events oldest first, so
    the events recorded later append to the history this gives (the runtime's carried state,
    `serving.ServedModel.user_state`, relies on it)."""
    if events:
        events = events[::-1]
        ev_items = index.lookup([e["itemId"] for e in events])
        ev_ts = np.asarray([int(e["sentAt"]) for e in events], np.int64)
        ok = ev_items >= 0
        items = np.concatenate([imported.items.astype(np.int64), ev_items[ok]])
        ts = np.concatenate([imported.timestamps if imported.timestamps is not None
                             else np.zeros(imported.items.shape[0], np.int64), ev_ts[ok]])
        order = np.argsort(ts, kind="stable")   # imported rows first among equal times
        imported = History(items[order].astype(np.int32), ts[order])
    if limit is not None and imported.items.shape[0] > limit:
        imported = History(imported.items[-limit:], imported.timestamps[-limit:])
    return imported


def item_records_stamp(dataset_group_arn: Optional[str]) -> Optional[float]:
    """Changes when items are put into the group's Items dataset (PutItems), so a loaded
    model's item text is read again; None when none ever were."""
    return current.stamp(dataset_group_arn, ITEMS) if dataset_group_arn else None


def load_item_text(dataset_group_arn: Optional[str], index: ItemIndex) -> Optional[np.ndarray]:
    """One lower-case text per model item: the string metadata fields of its Items dataset row
    joined by spaces ("" without a row); None when the group has no Items data."""
    data = current.load(dataset_group_arn, ITEMS) if dataset_group_arn else None
    if data is None:
        return None
    idx = index.lookup(data.strings("ITEM_ID"))
    ok = idx >= 0
    parts = [data.strings(f["name"])[ok] for f in data.manifest["fields"]
             if f["type"] == "string" and f["name"] != "ITEM_ID"]
    text = np.full(index.size, "", dtype=object)
    if parts:
        joined = parts[0].astype(object)
        for p in parts[1:]:
            joined = joined + " " + p.astype(object)
        text[idx[ok]] = [s.lower() for s in joined]
    return text
