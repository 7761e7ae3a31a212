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
- `user_ids`: the users with at least one kept interaction, sorted;
- `item_ids`: the items of the kept interactions plus every item of the
  Items dataset (the catalogue), sorted;
- `users` / `items`: Users and Items metadata aligned to those indices
  (NaN / "" where an entity has no row); `categorical` names the fields
  whose values hold several categories separated by `|`.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from chalicelib.algorithms.base import Interactions, Metadata, TrainingData
from chalicelib.datasets import records, versions
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
    record = records.dataset_of_group(dataset_group_arn, dataset_type)
    version_id = records.current_version(record)
    if not version_id:
        return None
    return versions.load(record.get("datasetArn") or record["arn"], version_id)


def _interaction_columns(data: Optional[versions.VersionData]) -> Dict[str, np.ndarray]:
    """The imported interactions as plain arrays, in the events hook's shape."""
    if data is None:
        return {}
    names = set(data.field_names())
    n = data.rows
    return {
        "USER_ID": data.strings("USER_ID"),
        "ITEM_ID": data.strings("ITEM_ID"),
        "TIMESTAMP": data.columns["TIMESTAMP"].astype(np.int64),
        "EVENT_TYPE": data.strings("EVENT_TYPE") if "EVENT_TYPE" in names
        else np.full(n, "", dtype="<U1"),
        "EVENT_VALUE": data.numbers("EVENT_VALUE") if "EVENT_VALUE" in names
        else np.full(n, np.nan),
    }


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
    imported = _interaction_columns(_version(dataset_group_arn, INTERACTIONS))
    events = recorded_events(dataset_group_arn)
    parts = [p for p in (imported, events) if p and len(p["USER_ID"])]
    if not parts:
        raise NoTrainingData(f"dataset group {dataset_group_arn} has no interactions: import "
                             "an Interactions dataset or record events first")
    cols = {name: np.concatenate([np.asarray(p[name]) for p in parts]) for name in EVENT_COLUMNS}
    has_type = any(bool((p["EVENT_TYPE"] != "").any()) for p in parts)
    has_value = any(bool((~np.isnan(np.asarray(p["EVENT_VALUE"], float))).any()) for p in parts)

    keep = np.ones(len(cols["USER_ID"]), dtype=bool)
    if event_type:
        keep &= cols["EVENT_TYPE"] == event_type
    if event_value_threshold not in (None, ""):
        try:
            threshold = float(event_value_threshold)
        except (TypeError, ValueError):
            raise NoTrainingData(f"eventValueThreshold {event_value_threshold!r} "
                                 "is not a number") from None
        with np.errstate(invalid="ignore"):
            keep &= cols["EVENT_VALUE"].astype(float) >= threshold  # NaN never passes
    if not keep.any():
        raise NoTrainingData(f"no interactions of dataset group {dataset_group_arn} pass the "
                             f"filters (eventType={event_type!r}, "
                             f"eventValueThreshold={event_value_threshold!r})")
    cols = {name: values[keep] for name, values in cols.items()}

    items_data = _version(dataset_group_arn, ITEMS)
    users_data = _version(dataset_group_arn, USERS)
    user_ids, user_index = np.unique(cols["USER_ID"], return_inverse=True)
    catalogue = cols["ITEM_ID"]
    if items_data is not None:
        catalogue = np.concatenate([catalogue, items_data.strings("ITEM_ID")])
    item_ids = np.unique(catalogue)
    item_index = np.searchsorted(item_ids, cols["ITEM_ID"])

    timestamps = cols["TIMESTAMP"].astype(np.int64)
    order = np.lexsort((timestamps, user_index))
    event_types, type_codes = (), None
    if has_type:
        names, codes = np.unique(cols["EVENT_TYPE"], return_inverse=True)
        event_types = tuple(str(n) for n in names)
        type_codes = codes.astype(np.int16)[order]
    interactions = Interactions(
        user=user_index.astype(np.int32)[order],
        item=item_index.astype(np.int32)[order],
        timestamp=timestamps[order],
        event_type=type_codes,
        event_value=cols["EVENT_VALUE"].astype(np.float32)[order] if has_value else None,
    )
    return TrainingData(
        interactions=interactions,
        user_ids=user_ids.astype(str),
        item_ids=item_ids.astype(str),
        event_types=event_types,
        users=_metadata(users_data, "USER_ID", user_ids),
        items=_metadata(items_data, "ITEM_ID", item_ids),
    )
