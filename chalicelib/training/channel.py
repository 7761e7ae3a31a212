"""The `train` data channel: a dataset group's TrainingData as files (seed: "How It Works" /
"Preparing and Importing Data": the Interactions, Users and Items datasets of a group).

Two files, written by the workflow's prepare step and read by the trainer:

- `training-data.npz`: interaction columns (`user`, `item`, `timestamp`, optional `event_type`,
  `event_value`), the index spaces (`user_ids`, `item_ids`, `event_types`), and metadata columns
  `users.<n>` / `items.<n>` (numbered; names in the manifest). numpy unicode and numeric arrays
  only, so the trainer loads it with `allow_pickle=False`.
- `channel.json`: format version, counts, metadata field names and which are categorical.
"""
from __future__ import annotations

import json
import os

import numpy as np

from chalicelib.algorithms.base import Interactions, Metadata, TrainingData

DATA_FILE = "training-data.npz"
MANIFEST_FILE = "channel.json"
FORMAT = 1


def _metadata_arrays(prefix, meta):
    if meta is None:
        return {}, None
    names = list(meta.fields)
    arrays = {f"{prefix}.{i}": np.asarray(meta.fields[n]) for i, n in enumerate(names)}
    return arrays, {"fields": names, "categorical": list(meta.categorical)}


def write_channel(data: TrainingData, directory: str) -> list:
    """Write `data` into `directory`; returns the file paths."""
    os.makedirs(directory, exist_ok=True)
    it = data.interactions
    arrays = {"user": it.user.astype(np.int32), "item": it.item.astype(np.int32),
              "timestamp": it.timestamp.astype(np.int64),
              "user_ids": np.asarray(data.user_ids, dtype=str),
              "item_ids": np.asarray(data.item_ids, dtype=str),
              "event_types": np.asarray(list(data.event_types), dtype=str)}
    if it.event_type is not None:
        arrays["event_type"] = it.event_type.astype(np.int16)
    if it.event_value is not None:
        arrays["event_value"] = it.event_value.astype(np.float32)
    user_arrays, users = _metadata_arrays("users", data.users)
    item_arrays, items = _metadata_arrays("items", data.items)
    arrays.update(user_arrays)
    arrays.update(item_arrays)
    data_path = os.path.join(directory, DATA_FILE)
    np.savez_compressed(data_path, **arrays)
    manifest = {"format": FORMAT, "interactions": len(it), "users": data.n_users,
                "items": data.n_items, "usersMetadata": users, "itemsMetadata": items}
    manifest_path = os.path.join(directory, MANIFEST_FILE)
    with open(manifest_path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    return [data_path, manifest_path]


def _metadata(npz, prefix, spec):
    if not spec:
        return None
    fields = {name: npz[f"{prefix}.{i}"] for i, name in enumerate(spec["fields"])}
    return Metadata(fields=fields, categorical=tuple(spec.get("categorical") or ()))


def read_channel(directory: str) -> TrainingData:
    """The TrainingData in `directory`; ValueError if the channel is missing or malformed."""
    manifest_path = os.path.join(directory, MANIFEST_FILE)
    data_path = os.path.join(directory, DATA_FILE)
    if not (os.path.isfile(manifest_path) and os.path.isfile(data_path)):
        raise ValueError(f"the training channel has no {MANIFEST_FILE} and {DATA_FILE}")
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise ValueError(f"training channel format {manifest.get('format')!r} is not {FORMAT}")
    with np.load(data_path, allow_pickle=False) as npz:
        files = set(npz.files)
        interactions = Interactions(
            user=npz["user"], item=npz["item"], timestamp=npz["timestamp"],
            event_type=npz["event_type"] if "event_type" in files else None,
            event_value=npz["event_value"] if "event_value" in files else None)
        return TrainingData(
            interactions=interactions, user_ids=npz["user_ids"], item_ids=npz["item_ids"],
            event_types=tuple(str(t) for t in npz["event_types"]),
            users=_metadata(npz, "users", manifest.get("usersMetadata")),
            items=_metadata(npz, "items", manifest.get("itemsMetadata")))
