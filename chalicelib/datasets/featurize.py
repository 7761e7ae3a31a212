"""Featurized data: what a feature export job writes (pure: numpy and the standard library).

Seed: CreateFeatureExportJob ("Featurizes training data using the information from the
specified feature transformation object. The results are stored in an Amazon S3 bucket."),
"Bring Your Own Recipe" step 1a ("You are able to export featurized data from Amazon Personalize
to help you test and build your training logic") and step b (the supported keys
`max_hist_length_percentile`, `min_hist_length_percentile`, train ratio, test ratio), and
"Feature Transformation" ("reads the input data, replaces each key with its corresponding
value, and then exports the modified data to be used in model training").

Decisions (the seed names the keys, not the files):

- The input data is the dataset group's training view
  (`chalicelib.datasets.training_view.load_training_data`): imported Interactions plus events
  recorded with PutEvents, and the Users / Items metadata aligned to it. No event type or value
  threshold applies (those belong to a solution, not to a feature transformation).
- "Featurized" means the view after the transformation's parameters, the same step the trainer
  takes before its evaluation split (`chalicelib.training.transform.filter_history_lengths`):
  a user is kept when their history length lies between the `min_` and `max_` percentiles of
  all users' history lengths. `train_ratio` / `test_ratio` govern the evaluation split that
  each solution version draws with its own seed, so they are recorded in the manifest, not
  applied to the rows.
- Files (UTF-8 CSV with a header row, `\\n` line ends, RFC 4180 quoting):
  `interactions.csv` USER_ID,ITEM_ID,TIMESTAMP[,EVENT_TYPE][,EVENT_VALUE] (the optional columns
  when the data has them), sorted by user then time, as the trainer sees them;
  `users.csv` USER_ID plus the Users fields, one row per kept user that has a Users row;
  `items.csv` ITEM_ID plus the Items fields, one row per catalogue item that has an Items row;
  `manifest.json` (written last) the parameters, the history-length bounds and the counts.
  Missing values are empty cells; numbers are written in their shortest form (`3`, `4.5`);
  categorical values keep their `|` separators.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from chalicelib.algorithms.base import Metadata, TrainingData
from chalicelib.training.transform import filter_history_lengths

INTERACTIONS_FILE = "interactions.csv"
USERS_FILE = "users.csv"
ITEMS_FILE = "items.csv"
MANIFEST_FILE = "manifest.json"


@dataclass
class Table:
    """One CSV file: its name, header and rows (lists of strings)."""

    name: str
    header: List[str]
    rows: List[List[str]]

    def csv_bytes(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows(self.rows)
        return out.getvalue().encode("utf-8")


@dataclass
class Featurized:
    """The featurized data and what the manifest says about it."""

    tables: List[Table]
    parameters: Dict[str, float]
    history_length: Dict[str, float]          # bounds the percentiles came to ("min", "max")
    counts: Dict[str, int] = field(default_factory=dict)

    def manifest(self, **extra) -> dict:
        return {**extra, "parameters": self.parameters, "historyLength": self.history_length,
                "counts": self.counts,
                "files": {t.name: {"rows": len(t.rows), "columns": t.header} for t in self.tables}}

    @staticmethod
    def manifest_bytes(manifest: dict) -> bytes:
        return json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")


def number_text(value) -> str:
    """Shortest text that reads back as the same number; '' for NaN (a missing value)."""
    v = float(value)
    if np.isnan(v):
        return ""
    if isinstance(value, np.float32):  # EVENT_VALUE is float32: print what was imported
        return np.format_float_positional(value, unique=True, trim="-")
    return np.format_float_positional(v, unique=True, trim="-")


def _history_bounds(data: TrainingData, params: Dict[str, float]) -> Dict[str, float]:
    """The history lengths the percentiles stand for (what `filter_history_lengths` keeps)."""
    counts = np.bincount(data.interactions.user, minlength=data.n_users)
    active = counts[counts > 0]
    lo, hi = np.quantile(active, [params.get("min_hist_length_percentile", 0.0),
                                  params.get("max_hist_length_percentile", 1.0)])
    return {"min": float(lo), "max": float(hi)}


def _interactions_table(data: TrainingData) -> Table:
    it = data.interactions
    columns = [data.user_ids[it.user].tolist(), data.item_ids[it.item].tolist(),
               [str(int(t)) for t in it.timestamp]]
    header = ["USER_ID", "ITEM_ID", "TIMESTAMP"]
    if it.event_type is not None:
        names = np.asarray(list(data.event_types) or [""], dtype=str)
        header.append("EVENT_TYPE")
        columns.append(names[it.event_type].tolist())
    if it.event_value is not None:
        header.append("EVENT_VALUE")
        columns.append([number_text(v) for v in it.event_value])
    return Table(INTERACTIONS_FILE, header, [list(r) for r in zip(*columns)])


def _metadata_table(name: str, id_field: str, ids: np.ndarray, meta: Optional[Metadata],
                    keep: np.ndarray) -> Optional[Table]:
    """Rows of the entities in `keep` (a mask over `ids`) that have any metadata value."""
    if meta is None:
        return None
    names = list(meta.fields)
    present = np.zeros(len(ids), dtype=bool)
    texts = []
    for n in names:
        values = meta.fields[n]
        if values.dtype.kind == "U":
            present |= values != ""
            texts.append(values.tolist())
        else:
            present |= ~np.isnan(values)
            texts.append([number_text(v) for v in values])
    rows = [[str(ids[i])] + [t[i] for t in texts] for i in np.flatnonzero(keep & present)]
    return Table(name, [id_field] + names, rows)


def featurize(data: TrainingData, params: Dict[str, float]) -> Featurized:
    """The featurized data of `data` under validated transformation `params` (floats).

    Raises ValueError when the percentiles keep no user (the message names them)."""
    bounds = _history_bounds(data, params)
    kept = filter_history_lengths(data, params)
    users_kept = np.bincount(kept.interactions.user, minlength=kept.n_users) > 0
    users_before = int(np.count_nonzero(np.bincount(data.interactions.user,
                                                    minlength=data.n_users)))
    tables = [_interactions_table(kept)]
    for table in (_metadata_table(USERS_FILE, "USER_ID", kept.user_ids, kept.users, users_kept),
                  _metadata_table(ITEMS_FILE, "ITEM_ID", kept.item_ids, kept.items,
                                  np.ones(kept.n_items, dtype=bool))):
        if table is not None:
            tables.append(table)
    counts = {"interactions": len(kept.interactions), "users": int(users_kept.sum()),
              "items": kept.n_items,
              "droppedInteractions": len(data.interactions) - len(kept.interactions),
              "droppedUsers": users_before - int(users_kept.sum())}
    return Featurized(tables, dict(params), bounds, counts)
