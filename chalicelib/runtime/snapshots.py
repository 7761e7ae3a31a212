"""A dataset's recorded interaction events as arrays, one copy per machine (issue 15 item 3).

The runtime's copy of a group's recorded events (`chalicelib.runtime.feed.Feed`) starts
from a `Snapshot`: the events as they were at one change-log key (`head`), published once by
a worker into the machine's shared folder (`chalicelib.runtime.shared`, named by the dataset
and `head`) and mapped read-only by every worker; each worker keeps only what changed since.
A worker whose changes since grow past `feed.PUBLISH_AFTER` publishes a newer snapshot
(`build` over the old one: no read of the store), which the others take up on their next look
at the change log, so no worker's private part grows without bound.

What one holds (`arrays`):
- per user (sorted `users`, rows `indptr[r]:indptr[r + 1]`, newest first, at most
  `MAX_EVENTS_PER_USER`): `keys` (the store's event key), `items` and `types` (codes into the
  sorted `item_vocab` and `type_vocab`; type "" is none), `sent` (sentAt, seconds);
- every interaction whoever sent it (Trending-Now's counts), oldest first: `inter_ms` (sentAt in
  milliseconds, from the key), `inter_items` (codes into `item_vocab`), `inter_hash` (a 64-bit
  hash of the event key, so a later copy of the same event is not counted twice);
- `meta`: `head`, `seen` (the change keys applied within the reading slack before `head`, so a
  worker taking the snapshot up skips them), `builtAt`.
"""
from __future__ import annotations

import os
import time
from typing import Dict, Iterable, List, Optional, Set, Tuple

import numpy as np

from chalicelib import config
from chalicelib.runtime import shared
from chalicelib.storage import events as store

MAX_EVENTS_PER_USER = 500     # a history longer than this adds nothing a sequence model keeps
CHANGE_SLACK_SECONDS = 30     # change-log items written this late (clock skew) are still read

Row = Tuple[str, str, str, float]      # (event key, item id, event type or "", sentAt)


key_hash = shared.hash64     # the identity of an interaction in `inter_hash`


class Snapshot:
    """One dataset's events at change-log key `head` (module docstring), mapped or in memory."""

    def __init__(self, arrays: Dict[str, np.ndarray], meta: dict):
        self.arrays = arrays
        self.head: str = meta.get("head") or ""
        self.seen: Set[str] = set(meta.get("seen") or ())
        self.built_at: float = float(meta.get("builtAt") or time.time())   # its log was read then
        self.users = shared.Strings.of_arrays(arrays, "users")
        self.keys = shared.Strings.of_arrays(arrays, "keys")
        self.indptr, self.items, self.types, self.sent = (arrays[k] for k in ("indptr", "items", "types", "sent"))
        self.item_vocab, self.type_vocab = arrays["item_vocab"], arrays["type_vocab"]
        self.inter_ms, self.inter_items, self.inter_hash = (
            arrays[k] for k in ("inter_ms", "inter_items", "inter_hash"))

    @classmethod
    def empty(cls) -> "Snapshot":
        return cls(dict(shared.Strings.of([], indexed=True).arrays("users"),
                        **shared.Strings.of([]).arrays("keys"), indptr=np.zeros(1, np.int64),
                        items=np.zeros(0, np.int32), types=np.zeros(0, np.int32),
                        sent=np.zeros(0, np.float64), item_vocab=np.zeros(0, "<U1"),
                        type_vocab=np.array([""]), inter_ms=np.zeros(0, np.int64),
                        inter_items=np.zeros(0, np.int32), inter_hash=np.zeros(0, np.int64)),
                   {"head": ""})

    def rows(self, user_id: str) -> List[Row]:
        """The user's events, newest first ([] for a user without any)."""
        r = self.users.find(user_id)
        if r < 0:
            return []
        s, e = int(self.indptr[r]), int(self.indptr[r + 1])
        items = self.item_vocab[self.items[s:e]].tolist()
        types = self.type_vocab[self.types[s:e]].tolist()
        return [(self.keys[s + k], items[k], types[k], sent)
                for k, sent in enumerate(self.sent[s:e].tolist())]

    def interactions(self, low_ms: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(item ids, sentAt milliseconds, key hashes) of the interactions at or after `low_ms`."""
        start = int(np.searchsorted(self.inter_ms, low_ms, side="left"))
        return (self.item_vocab[self.inter_items[start:]], self.inter_ms[start:],
                self.inter_hash[start:])


def build(base: Snapshot, changed: Dict[str, List[Row]], added: Dict[str, str], head: str,
          seen: Iterable[str]) -> Tuple[Dict[str, np.ndarray], dict]:
    """The arrays and meta of `base` with the users in `changed` holding these rows instead
    (newest first; [] drops the user) and the interactions `added` (event key -> item id)
    counted unless `base` counts them already. Vectorised over `base`'s rows: only the
    changed users and added interactions go through Python."""
    names = sorted(u for u, rows in changed.items() if rows)
    replaced = np.zeros(len(base.users), bool)
    for name in changed:
        k = base.users.find(name)
        if k >= 0:
            replaced[k] = True
    kept = np.flatnonzero(~replaced)
    # where each new name goes among base's (sorted) names: before the first larger one
    at = np.fromiter((base.users.insertion(n) for n in names), np.int64, len(names))
    order = np.lexsort((np.r_[np.ones(kept.size, np.int8), np.zeros(len(names), np.int8)],
                        np.r_[kept, at]))
    users = shared.Strings.join(base.users.take(kept), shared.Strings.of(names, indexed=True)).take(order)

    new_rows = [row for n in names for row in changed[n][:MAX_EVENTS_PER_USER]]
    new_indptr = np.zeros(len(names) + 1, np.int64)
    np.cumsum([min(len(changed[n]), MAX_EVENTS_PER_USER) for n in names], out=new_indptr[1:])
    starts = np.r_[base.indptr[:-1][kept], base.indptr[-1] + new_indptr[:-1]][order]
    lengths = np.r_[np.diff(base.indptr)[kept], np.diff(new_indptr)][order]
    indptr = np.zeros(lengths.shape[0] + 1, np.int64)
    np.cumsum(lengths, out=indptr[1:])
    gather = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1], dtype=np.int64)

    new_items = [r[1] for r in new_rows]
    fresh = list(added.items())
    fresh_hash = key_hash(k for k, _ in fresh)
    if fresh:   # an interaction the base counts already (a copy of the same event) is not added
        fresh_keep = ~np.isin(fresh_hash, base.inter_hash)
        fresh = [f for f, keep in zip(fresh, fresh_keep) if keep]
        fresh_hash = fresh_hash[fresh_keep]
    item_vocab = np.union1d(base.item_vocab, np.asarray(new_items + [v for _, v in fresh], str))
    type_vocab = np.union1d(base.type_vocab, np.asarray([""] + [r[2] for r in new_rows], str))
    base_items = np.searchsorted(item_vocab, base.item_vocab).astype(np.int32)
    base_types = np.searchsorted(type_vocab, base.type_vocab).astype(np.int32)
    items = np.r_[base_items[base.items], _codes(item_vocab, new_items)][gather]
    types = np.r_[base_types[base.types], _codes(type_vocab, [r[2] for r in new_rows])][gather]
    sent = np.r_[base.sent, np.asarray([r[3] for r in new_rows], np.float64)][gather]
    keys = shared.Strings.join(base.keys, shared.Strings.of(r[0] for r in new_rows)).take(gather)

    inter_ms = np.r_[base.inter_ms, np.asarray([int(k[:15]) for k, _ in fresh], np.int64)]
    inter_items = np.r_[base_items[base.inter_items], _codes(item_vocab, [v for _, v in fresh])]
    inter_hash = np.r_[base.inter_hash, fresh_hash]
    by_time = np.argsort(inter_ms, kind="stable")
    arrays = dict(users.arrays("users"), **keys.arrays("keys"), indptr=indptr,
                  items=items.astype(np.int32), types=types.astype(np.int32), sent=sent,
                  item_vocab=item_vocab, type_vocab=type_vocab, inter_ms=inter_ms[by_time],
                  inter_items=inter_items[by_time].astype(np.int32), inter_hash=inter_hash[by_time])
    low = low_key(head)
    meta = {"head": head, "seen": sorted(k for k in seen if k >= low), "builtAt": time.time(),
            "users": len(users), "events": int(indptr[-1]), "interactions": int(inter_ms.shape[0])}
    return arrays, meta


def low_key(head: str) -> str:
    """Where a reader whose newest applied change is `head` reads the change log from: the
    slack before it ("" reads it all)."""
    return store.change_key_at(store.change_time(head) - CHANGE_SLACK_SECONDS) if head else ""


def _codes(vocab: np.ndarray, values: List[str]) -> np.ndarray:
    return np.searchsorted(vocab, np.asarray(values, str)).astype(np.int32) if values \
        else np.zeros(0, np.int32)


# --- on the machine ---------------------------------------------------------------------------
def _directory(dataset_arn: str) -> str:
    return shared.folder("events", shared.digest(f"{config.events_table()}|{dataset_arn}"))


def _name(head: str) -> str:
    """A snapshot's folder name: its head, in change-log (time) order."""
    return head[len(store.CHANGE):].replace("#", "-")


def publish(dataset_arn: str, arrays: Dict[str, np.ndarray], meta: dict) -> Snapshot:
    """Publish a built snapshot on this machine (older ones but one are removed: a worker
    still mapping one keeps its pages) and return it mapped."""
    directory = _directory(dataset_arn)
    path = shared.save(os.path.join(directory, _name(meta["head"])), arrays, meta)
    shared.prune(directory, keep=2)
    found = shared.load(path)
    return Snapshot(*found) if found else Snapshot(arrays, meta)


def newest(dataset_arn: str, after: str = "") -> Optional[Snapshot]:
    """The newest snapshot of the dataset on this machine whose head comes after `after`."""
    directory = _directory(dataset_arn)
    try:
        names = sorted((n for n in os.listdir(directory) if not n.startswith(".")), reverse=True)
    except FileNotFoundError:
        return None
    for name in names:
        if after and name <= _name(after):
            return None
        found = shared.load(os.path.join(directory, name))
        if found is not None:
            return Snapshot(*found)
    return None


def lock_path(dataset_arn: str, purpose: str) -> str:
    """The machine's lock file for building the dataset's snapshot (`purpose`: scan, publish)."""
    return os.path.join(_directory(dataset_arn), f".{purpose}.lock")
