"""A dataset's records as CSV, for dataset export jobs.

Today's API, CreateDatasetExportJob: "Creates a job that exports data from your dataset to an
Amazon S3 bucket"; `ingestionMode` picks "BULK data that you imported using a dataset import
job, only PUT data that you imported incrementally (using the console, PutEvents, PutUsers
and PutItems operations), or ALL for both types. The default value is PUT."

What each mode reads here:

- Items / Users: BULK the current data version, PUT the records put with PutItems / PutUsers,
  ALL the two laid over each other as training sees them (`chalicelib.datasets.current`).
- Interactions: BULK the current data version, PUT the group's events recorded with PutEvents
  (those with a user and an item, under the session rule of `chalicelib.runtime.recorded`),
  ALL both, bulk rows first.
- Event-interactions (the seed's PutEvents dataset): every recorded event, bulk is empty.

The files are written like the files an import reads: a header of the dataset's schema
fields, then one row per record (empty cell = null, booleans `true` / `false`, `|` inside a
categorical cell as stored), at most `PART_ROWS` rows per file.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Dict, Iterator, List, Optional

import numpy as np

from chalicelib.datasets import current, records, versions
from chalicelib.datasets.schema import EVENT_INTERACTIONS, INTERACTIONS

BULK, PUT, ALL = "BULK", "PUT", "ALL"
PART_ROWS = 1_000_000
# event-interactions schema field (upper case) -> member of a stored event
EVENT_MEMBERS = {"USER_ID": "userId", "SESSION_ID": "sessionId", "TIMESTAMP": "sentAt",
                 "EVENT_TYPE": "eventType", "ITEM_ID": "itemId", "EVENT_VALUE": "eventValue"}


class Columns:
    """Cell texts per schema field (upper-cased names), equal lengths."""

    def __init__(self, cells: Dict[str, List[str]], rows: int):
        self.cells, self.rows = cells, rows

    def column(self, name: str) -> List[str]:
        return self.cells.get(name.upper()) or [""] * self.rows


def _number_text(values: np.ndarray, kind: str) -> List[str]:
    if kind in ("int", "long"):
        return [str(int(v)) for v in values]
    if kind == "boolean":
        return ["true" if v else "false" for v in values]
    return [repr(float(v)) for v in values]


def version_columns(data: Optional[versions.VersionData]) -> Columns:
    """A (bulk or overlaid) version's rows as cell texts."""
    if data is None:
        return Columns({}, 0)
    out = {}
    for spec in data.manifest["fields"]:
        name, kind = spec["name"], spec["type"]
        if kind == "string":
            out[name.upper()] = data.strings(name).tolist()
            continue
        texts = _number_text(data.columns[name], kind)
        null = data.nulls.get(name)
        if null is not None:
            texts = ["" if n else t for t, n in zip(texts, null.tolist())]
        out[name.upper()] = texts
    return Columns(out, data.rows)


def _value_text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def recorded_interactions(dataset_group_arn: str) -> Columns:
    """The group's attributable recorded events as Interactions rows."""
    from chalicelib.runtime.recorded import dataset_group_events
    events = dataset_group_events(dataset_group_arn)
    n = len(events["USER_ID"])
    return Columns({"USER_ID": events["USER_ID"].tolist(), "ITEM_ID": events["ITEM_ID"].tolist(),
                    "TIMESTAMP": [str(int(t)) for t in events["TIMESTAMP"]],
                    "EVENT_TYPE": events["EVENT_TYPE"].tolist(),
                    "EVENT_VALUE": [_value_text(v) for v in events["EVENT_VALUE"].tolist()]}, n)


def raw_events(dataset_arn: str) -> Columns:
    """Every event of an event-interactions dataset, in its schema's terms."""
    from chalicelib.storage import events as store
    found = list(store.dataset_events(dataset_arn))
    cells = {field: [_value_text(e.get(member) if field != "USER_ID"
                                 else e.get("userId") or e.get("linkedUserId"))
                     if field != "TIMESTAMP" else str(int(e["sentAt"])) for e in found]
             for field, member in EVENT_MEMBERS.items()}
    return Columns(cells, len(found))


def _concat(parts: List[Columns]) -> Columns:
    names = set().union(*(p.cells for p in parts)) if parts else set()
    return Columns({n: sum((p.column(n) for p in parts), []) for n in names},
                   sum(p.rows for p in parts))


def dataset_columns(dataset: dict, mode: str) -> Columns:
    """The records of a dataset (its stored record) that `mode` exports."""
    arn, kind = dataset.get("datasetArn") or dataset["arn"], dataset["datasetType"]
    group = dataset["datasetGroupArn"]
    if kind == EVENT_INTERACTIONS:
        return raw_events(arn) if mode != BULK else Columns({}, 0)
    if kind == INTERACTIONS:
        parts = []
        if mode in (BULK, ALL):
            parts.append(version_columns(current.bulk(group, kind)))
        if mode in (PUT, ALL):
            parts.append(recorded_interactions(group))
        return _concat(parts)
    if mode == BULK:
        return version_columns(current.bulk(group, kind))
    if mode == PUT:
        rows = current.put_rows(arn)
        return version_columns(current.rows_version(arn, records.dataset_schema_of(dataset), rows)
                               if rows else None)
    return version_columns(current.load(group, kind))


def csv_parts(header: List[str], columns: Columns, part_rows: int = PART_ROWS) -> Iterator[bytes]:
    """CSV files (header, then rows) of at most `part_rows` rows; one file when there are none."""
    cols = [columns.column(name) for name in header]
    for start in range(0, max(columns.rows, 1), part_rows):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(zip(*(c[start:start + part_rows] for c in cols)))
        yield out.getvalue().encode("utf-8")


def header_of(dataset: dict) -> List[str]:
    """The export's header: the fields of the dataset's schema, in schema order (the
    event-interactions schema's lower-case names included). ValueError if it is gone."""
    from chalicelib.domain import arns
    from chalicelib.storage.resources import store
    schema = store().get(dataset.get("schemaArn"), arns.SCHEMA)
    if schema is None:
        raise ValueError(f"the schema {dataset.get('schemaArn')} of the dataset no longer exists")
    return [f["name"] for f in json.loads(schema["schema"]).get("fields", [])]
