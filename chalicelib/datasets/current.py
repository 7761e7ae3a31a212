"""The data a Users or Items dataset holds now: its bulk data version plus the records put
one by one with PutItems / PutUsers. The one place both the training view and the runtime
read it from.

Today's API: PutItems "Adds one or more items to an Items dataset", PutUsers the same for
users; CreateDatasetImportJob importMode FULL: "Data you imported individually is not
replaced". So put records are kept apart from the bulk versions (in the events table,
`chalicelib.storage.events.put_records`) and laid over the current version when it is read.
Where both hold the same id, the newer write wins: a record put after the version was written
replaces its row; a version written after the put (an import bringing that id) replaces the
record. Interactions have no records of this kind (PutEvents events are read by
`chalicelib.runtime.recorded`).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from chalicelib.datasets import cells, records, versions
from chalicelib.datasets.importer import RECORD_ID
from chalicelib.datasets.schema import DatasetSchema, SchemaError
from chalicelib.domain import arns
from chalicelib.storage import events as store


def put_rows(dataset_arn: str) -> List[dict]:
    """The dataset's put records, {recordId, fields (name -> cell text), recordedAt}."""
    return list(store.dataset_records(dataset_arn))


def stamp(dataset_group_arn: str, dataset_type: str) -> Optional[float]:
    """Changes whenever a record is put into (or deleted from) the group's dataset of this type."""
    return store.records_stamp(arns.dataset(dataset_group_arn, dataset_type))


def rows_version(dataset_arn: str, schema: DatasetSchema, rows: List[dict]) -> versions.VersionData:
    """Put records as an in-memory version of `schema` (their cells were validated on put)."""
    n = len(rows)
    columns, nulls, dictionaries = {}, {}, {}
    for spec in schema.fields:
        id_field = spec.name == RECORD_ID[schema.dataset_type]
        texts = [r["recordId"] if id_field else str((r.get("fields") or {}).get(spec.name, ""))
                 for r in rows]
        empty = np.array([t == "" for t in texts], bool)
        if spec.type == "string":
            vocab, codes = np.unique(np.asarray(texts, dtype=str), return_inverse=True)
            codes = codes.reshape(-1).astype(np.int32)
            codes[empty] = -1
            columns[spec.name], dictionaries[spec.name] = codes, vocab
            continue
        data, _ = cells.convert(["0" if e else t for t, e in zip(texts, empty)], spec)
        columns[spec.name] = np.asarray(data, versions.STORAGE_DTYPES[spec.type])
        if spec.nullable:
            nulls[spec.name] = empty
    manifest = {"datasetArn": dataset_arn, "datasetType": schema.dataset_type, "rows": n,
                "fields": [{"name": f.name, "type": f.type, "nullable": f.nullable,
                            "categorical": f.categorical} for f in schema.fields],
                "parts": [], "sources": ["PutItems/PutUsers"]}
    return versions.VersionData(manifest, columns, nulls, dictionaries)


def _take(data: versions.VersionData, rows: np.ndarray, spec) -> tuple:
    """(codes or values, null mask, dictionary) of one field of `data` at `rows`, in `spec`'s
    type; a field the version lacks (or holds in another kind) is null."""
    have = data.field_type(spec.name)
    n = rows.shape[0]
    if spec.type == "string":
        if have != "string":
            return np.full(n, -1, np.int32), None, np.zeros(0, "<U1")
        return data.columns[spec.name][rows], None, data.dictionaries[spec.name]
    if have is None or have == "string":
        return np.zeros(n, versions.STORAGE_DTYPES[spec.type]), np.ones(n, bool), None
    null = data.nulls.get(spec.name)
    return (data.columns[spec.name][rows].astype(versions.STORAGE_DTYPES[spec.type]),
            null[rows] if null is not None else np.zeros(n, bool), None)


def overlay(bulk: Optional[versions.VersionData], put: versions.VersionData,
            put_times: np.ndarray, schema: DatasetSchema) -> versions.VersionData:
    """`bulk` rows and `put` rows in one version of `schema`, the newer write winning per id."""
    if bulk is None or not bulk.rows:
        return put
    id_field = RECORD_ID[schema.dataset_type]
    written = float(bulk.manifest.get("createdAt") or 0)
    bulk_ids, put_ids = bulk.strings(id_field), put.strings(id_field)
    newer = put_times > written
    keep_bulk = ~np.isin(bulk_ids, put_ids[newer])
    keep_put = newer | ~np.isin(put_ids, bulk_ids)
    parts = [(bulk, np.flatnonzero(keep_bulk)), (put, np.flatnonzero(keep_put))]
    columns, nulls, dictionaries = {}, {}, {}
    for spec in schema.fields:
        taken = [_take(d, r, spec) for d, r in parts]
        if spec.type == "string":
            vocab = np.unique(np.concatenate([t[2] for t in taken] + [np.zeros(0, "<U1")]))
            coded = []
            for codes, _, own in taken:  # each part's codes into the merged vocabulary
                lookup = np.append(np.searchsorted(vocab, own), -1).astype(np.int32)
                coded.append(lookup[np.where(codes < 0, own.shape[0], codes)])
            columns[spec.name], dictionaries[spec.name] = np.concatenate(coded), vocab
        else:
            columns[spec.name] = np.concatenate([t[0] for t in taken])
            if spec.nullable:
                nulls[spec.name] = np.concatenate([t[1] for t in taken])
    manifest = dict(put.manifest, rows=int(sum(r.shape[0] for _, r in parts)),
                    sources=list(bulk.manifest.get("sources") or []) + put.manifest["sources"],
                    versionId=bulk.manifest.get("versionId"))
    return versions.VersionData(manifest, columns, nulls, dictionaries)


def _version_of(record: Optional[dict]) -> Optional[Tuple[str, str]]:
    version_id = records.current_version(record)
    if not version_id:
        return None
    return record.get("datasetArn") or record["arn"], version_id


def _bulk_of(record: Optional[dict]) -> Optional[versions.VersionData]:
    found = _version_of(record)
    return bulk_version(*found) if found else None


def version_of(dataset_group_arn: str, dataset_type: str) -> Optional[Tuple[str, str]]:
    """(dataset ARN, current bulk version id) of the group's dataset of this type: what the
    bulk data is, without reading it (None: nothing imported)."""
    return _version_of(records.dataset_of_group(dataset_group_arn, dataset_type))


def bulk_version(dataset_arn: str, version_id: str) -> versions.VersionData:
    """One bulk data version (Interactions: what `load` gives for it)."""
    return versions.load(dataset_arn, version_id)


def bulk(dataset_group_arn: str, dataset_type: str) -> Optional[versions.VersionData]:
    """The group's current bulk data version of this type (None: nothing imported)."""
    return _bulk_of(records.dataset_of_group(dataset_group_arn, dataset_type))


def load(dataset_group_arn: str, dataset_type: str) -> Optional[versions.VersionData]:
    """What the group's dataset of this type holds now (see the module doc); None when it
    holds nothing. Interactions: the bulk version alone."""
    record = records.dataset_of_group(dataset_group_arn, dataset_type)  # read once
    data = _bulk_of(record)
    if dataset_type not in RECORD_ID or record is None:
        return data
    dataset_arn = record.get("datasetArn") or record["arn"]
    rows = put_rows(dataset_arn)
    if not rows:
        return data
    try:
        schema = records.dataset_schema_of(record)
    except SchemaError:
        return data
    put = rows_version(dataset_arn, schema, rows)
    times = np.array([float(r.get("recordedAt") or 0) for r in rows])
    return overlay(data, put, times, schema)

