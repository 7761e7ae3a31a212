"""The one training view: a dataset group's data as `TrainingData` for the recipes.

Seed: "How It Works" / "Preparing and Importing Data" (Interactions, Users,
Items datasets of a dataset group), "Recording Events" (events recorded with
PutEvents join the historical interactions), "Creating an Events Solution"
and CreateSolution / SolutionConfig: `eventType` picks the type of event
used for training; with `eventValueThreshold`, "only events with a value
greater than or equal to the threshold are used".

What it returns (see `chalicelib.algorithms.base`):

- interactions: the current INTERACTIONS data version plus recorded events,
  filtered by event type and value threshold, sorted by user then time;
  `event_types` lists the types present ("" stands for "no type" when only
  some interactions have one); `event_value` is None when no row has a value;
- `user_ids`: the users with at least one kept interaction, sorted;
- `item_ids`: the items of the kept interactions plus every item of the
  Items dataset (the catalogue), sorted;
- `users` / `items`: Users and Items metadata (imported, and put with PutUsers / PutItems:
  `chalicelib.datasets.current`) aligned to those indices
  (NaN / "" where an entity has no row); `categorical` names the fields
  whose values hold several categories separated by `|`.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

from chalicelib.algorithms.base import Interactions, Metadata, TrainingData
from chalicelib.datasets import current, versions
from chalicelib.datasets.schema import INTERACTIONS, ITEMS, USERS

EVENT_COLUMNS = ("USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE")


class NoTrainingData(ValueError):
    """The dataset group has nothing to train on (message says why)."""


def recorded_events(dataset_group_arn: str) -> Dict[str, np.ndarray]:
    """Events recorded with PutEvents for this group (the events store's export).

    Returns arrays of equal length keyed by EVENT_COLUMNS: USER_ID and
    ITEM_ID (unicode), TIMESTAMP (int64 Unix seconds), EVENT_TYPE (unicode,
    "" when absent), EVENT_VALUE (float64, NaN when absent). Delegates to
    `chalicelib.runtime.recorded.dataset_group_events` (the session rule
    lives there).
    """
    from chalicelib.runtime.recorded import dataset_group_events
    return dataset_group_events(dataset_group_arn)


def _version(dataset_group_arn, dataset_type) -> Optional[versions.VersionData]:
    """The dataset's data now: bulk version plus PutItems / PutUsers records (`current`)."""
    return current.load(dataset_group_arn, dataset_type)


class _Part:
    """Interactions from one source, string columns as (codes, vocabulary): the
    imported version keeps its dictionary codes, so a million rows never go
    through string sorting; recorded events (few) are coded here."""

    def __init__(self, strings: Dict[str, tuple], timestamp, event_value):
        self.strings = strings            # name -> (int codes >= 0, unicode vocabulary)
        self.timestamp = np.asarray(timestamp, dtype=np.int64)
        self.event_value = np.asarray(event_value, dtype=np.float64)

    def __len__(self):
        return int(self.timestamp.shape[0])

    @classmethod
    def from_version(cls, data: versions.VersionData) -> "_Part":
        names = set(data.field_names())
        strings = {}
        for name in ("USER_ID", "ITEM_ID", "EVENT_TYPE"):
            if name in names:
                codes, vocab = data.columns[name], data.dictionaries[name]
            else:
                codes, vocab = np.full(data.rows, -1, np.int32), np.zeros(0, "<U1")
            if (codes < 0).any():  # null is the value "" (no event type)
                vocab = np.append(vocab, np.array([""]))
                codes = np.where(codes < 0, len(vocab) - 1, codes)
            strings[name] = (codes, vocab)
        values = data.numbers("EVENT_VALUE") if "EVENT_VALUE" in names \
            else np.full(data.rows, np.nan)
        return cls(strings, data.columns["TIMESTAMP"], values)

    @classmethod
    def from_events(cls, events: Dict[str, np.ndarray]) -> "_Part":
        strings = {}
        for name in ("USER_ID", "ITEM_ID", "EVENT_TYPE"):
            vocab, codes = np.unique(np.asarray(events[name], dtype=str), return_inverse=True)
            strings[name] = (codes.reshape(-1), vocab)
        return cls(strings, events["TIMESTAMP"], events["EVENT_VALUE"])

    def has(self, name, value) -> np.ndarray:
        codes, vocab = self.strings[name]
        match = np.flatnonzero(vocab == value)
        return np.isin(codes, match) if len(match) else np.zeros(len(self), bool)

    def filtered(self, keep: np.ndarray) -> "_Part":
        return _Part({n: (c[keep], v) for n, (c, v) in self.strings.items()},
                     self.timestamp[keep], self.event_value[keep])


def _index(parts: List[_Part], name: str, extra=()) -> Tuple[np.ndarray, np.ndarray]:
    """(sorted vocabulary of the values used by `parts` plus `extra`, index of every row).
    Only used codes are looked up: integer work per row, string work per distinct value."""
    used = []
    for part in parts:
        codes, vocab = part.strings[name]
        present = np.flatnonzero(np.bincount(codes, minlength=len(vocab))) if len(codes) \
            else np.zeros(0, np.int64)
        used.append(present)
    vocabulary = np.unique(np.concatenate(
        [part.strings[name][1][u] for part, u in zip(parts, used)]
        + [np.asarray(e, dtype=str) for e in extra] + [np.zeros(0, "<U1")]))
    rows = []
    for part, present in zip(parts, used):
        codes, vocab = part.strings[name]
        lookup = np.zeros(len(vocab), np.int64)
        lookup[present] = np.searchsorted(vocabulary, vocab[present])
        rows.append(lookup[codes])
    return vocabulary, np.concatenate(rows) if rows else np.zeros(0, np.int64)


def _metadata(data: Optional[versions.VersionData], id_field: str,
              ids: np.ndarray) -> Optional[Metadata]:
    """Align a Users / Items version to `ids` (sorted); later rows win on duplicates."""
    if data is None:
        return None
    meta_ids = data.strings(id_field)
    pos = np.searchsorted(ids, meta_ids)
    pos_clipped = np.minimum(pos, max(len(ids) - 1, 0))
    found = (pos < len(ids)) & (ids[pos_clipped] == meta_ids) if len(ids) else \
        np.zeros(len(meta_ids), bool)
    target, rows = pos[found], np.flatnonzero(found)
    fields, categorical = {}, []
    for spec in data.manifest["fields"]:
        name = spec["name"]
        if name == id_field:
            continue
        if spec["type"] == "string":
            values = data.strings(name)
            out = np.full(len(ids), "", dtype=values.dtype if len(values) else "<U1")
            if spec.get("categorical"):
                categorical.append(name)
        else:
            values = data.numbers(name)
            out = np.full(len(ids), np.nan)
        out[target] = values[rows]  # numpy assigns in order: the last duplicate wins
        fields[name] = out
    return Metadata(fields=fields, categorical=tuple(categorical))


def load_training_data(dataset_group_arn: str, event_type: Optional[str] = None,
                       event_value_threshold=None) -> TrainingData:
    """The group's training data (see module doc). Raises NoTrainingData when
    no interactions remain (nothing imported, nothing recorded, or the filters
    keep nothing)."""
    imported = _version(dataset_group_arn, INTERACTIONS)
    parts = [_Part.from_version(imported)] if imported is not None else []
    events = recorded_events(dataset_group_arn)
    if len(events["USER_ID"]):
        parts.append(_Part.from_events(events))
    parts = [p for p in parts if len(p)]
    if not parts:
        raise NoTrainingData(f"dataset group {dataset_group_arn} has no interactions: import "
                             "an Interactions dataset or record events first")
    has_type = any(bool((p.strings["EVENT_TYPE"][1] != "").any()) for p in parts)
    has_value = any(bool((~np.isnan(p.event_value)).any()) for p in parts)

    threshold = None
    if event_value_threshold not in (None, ""):
        try:
            threshold = float(event_value_threshold)
        except (TypeError, ValueError):
            raise NoTrainingData(f"eventValueThreshold {event_value_threshold!r} "
                                 "is not a number") from None
    if event_type or threshold is not None:
        kept = []
        for part in parts:
            keep = np.ones(len(part), dtype=bool)
            if event_type:
                keep &= part.has("EVENT_TYPE", event_type)
            if threshold is not None:
                with np.errstate(invalid="ignore"):
                    keep &= part.event_value >= threshold  # NaN never passes
            kept.append(part.filtered(keep))
        parts = [p for p in kept if len(p)]
    if not parts:
        raise NoTrainingData(f"no interactions of dataset group {dataset_group_arn} pass the "
                             f"filters (eventType={event_type!r}, "
                             f"eventValueThreshold={event_value_threshold!r})")

    items_data = _version(dataset_group_arn, ITEMS)
    users_data = _version(dataset_group_arn, USERS)
    user_ids, user_index = _index(parts, "USER_ID")
    catalogue = [items_data.dictionaries["ITEM_ID"]] if items_data is not None else []
    item_ids, item_index = _index(parts, "ITEM_ID", extra=catalogue)

    timestamps = np.concatenate([p.timestamp for p in parts])
    order = np.lexsort((timestamps, user_index))
    event_types, type_codes = (), None
    if has_type:
        names, codes = _index(parts, "EVENT_TYPE")
        event_types = tuple(str(n) for n in names)
        type_codes = codes.astype(np.int16)[order]
    values = np.concatenate([p.event_value for p in parts])
    interactions = Interactions(
        user=user_index.astype(np.int32)[order],
        item=item_index.astype(np.int32)[order],
        timestamp=timestamps[order],
        event_type=type_codes,
        event_value=values.astype(np.float32)[order] if has_value else None,
    )
    return TrainingData(
        interactions=interactions,
        user_ids=user_ids.astype(str),
        item_ids=item_ids.astype(str),
        event_types=event_types,
        users=_metadata(users_data, "USER_ID", user_ids),
        items=_metadata(items_data, "ITEM_ID", item_ids),
    )
