"""Immutable data versions of a dataset, in the internal bucket.

Seed: "Importing your Data" - "Imports in Amazon Personalize are a full
refresh of the data"; CreateDatasetImportJob - "The dataset import job
replaces any previous data in the dataset". So every successful import run
writes a complete new version, and only after it is whole does the dataset's
record switch to it (a conditional write, see
`chalicelib.service.dataset_import_jobs`). A failed run leaves the previous
version current; superseded versions are deleted later by the garbage collector
(`chalicelib.workflows.collect`), once no record has pointed at them for a grace period.

Layout (`s3://<INTERNAL_BUCKET>/data-versions/<dataset path>/<version id>/`):

- `part-00000.npz`, ... columnar parts, one `.npy` per schema field: string
  fields as int32 codes into the version's dictionary (-1 = null), `int` as
  int32, `long` as int64, `float` and `double` as float64, `boolean`
  as int8; `<field>__null` (bool) beside a nullable numeric field.
- `dictionaries.npz`: one unicode array per string field (code -> value).
- `manifest.json`, written last: fields, parts, row count, sources.

`.npz` loads with `allow_pickle=False` straight into the arrays the
training view needs, which is why this format beats Avro rows here.
"""
from __future__ import annotations

import io
import json
import operator
import secrets
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from chalicelib import config
from chalicelib.datasets import columnar, objects
from chalicelib.datasets.schema import DatasetSchema

FORMAT = "personalize-data-version/1"
PART_ROWS = 1 << 18
ROOT = "data-versions/"
# `float` is kept as float64: the CSV's decimal text then compares exactly with
# an eventValueThreshold (3.1 as float32 is below 3.1).
STORAGE_DTYPES = {"int": np.int32, "long": np.int64, "float": np.float64,
                  "double": np.float64, "boolean": np.int8, "string": np.int32}


def dataset_path(dataset_arn: str) -> str:
    """`arn:aws:personalize:r:a:dataset/group/INTERACTIONS` -> `dataset/group/INTERACTIONS`."""
    parts = dataset_arn.split(":", 5)
    if len(parts) != 6 or not parts[5]:
        raise ValueError(f"not a dataset ARN: {dataset_arn!r}")
    return parts[5]


def version_prefix(dataset_arn: str, version_id: str) -> str:
    return f"{ROOT}{dataset_path(dataset_arn)}/{version_id}/"


def new_version_id() -> str:
    """Sortable by creation time (cleanup keeps newer versions), unique by a random tail."""
    now = time.time()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f"{int(now % 1 * 1e6):06d}Z"
    return f"{stamp}-{secrets.token_hex(4)}"


def npz_bytes(arrays: Dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


class VersionWriter:
    """Accumulates typed column batches and writes them as parts of a new version."""

    def __init__(self, dataset_arn: str, schema: DatasetSchema, *,
                 version_id: Optional[str] = None, bucket: Optional[str] = None,
                 part_rows: int = PART_ROWS, part_prefix: Optional[str] = None):
        self.dataset_arn = dataset_arn
        self.schema = schema
        self.version_id = version_id or new_version_id()
        self.bucket = bucket or config.internal_bucket()
        self.prefix = version_prefix(dataset_arn, self.version_id)
        self.part_prefix = part_prefix or self.prefix   # a byte range's parts: its own names
        self.part_rows = part_rows
        self.rows = 0
        self.parts: List[dict] = []
        self._dicts = {f.name: {} for f in schema.fields if f.type == "string"}
        self._key_codes = {name: columnar.KeyCodes(values) for name, values in self._dicts.items()}
        self._pending: Dict[str, list] = {f.name: [] for f in schema.fields}
        self._pending_nulls: Dict[str, list] = {f.name: [] for f in schema.fields}
        self._pending_rows = 0

    def _encode(self, name, values, mask) -> np.ndarray:
        """Dictionary codes of a batch. The batch's own small dict of distinct
        values is looked up per cell (fast, cache-friendly); only the distinct
        values touch the version-wide dictionary, in first-seen order."""
        known = self._dicts[name]
        local = dict.fromkeys(values)
        nullable = mask is not None
        for value in local:
            if nullable and value == "":
                local[value] = -1  # an empty cell of a nullable field is null, not a value
                continue
            code = known.get(value)
            if code is None:
                code = known[value] = len(known)
            local[value] = code
        if len(values) <= 1:  # itemgetter of one key returns a scalar, of none fails
            return np.array([local[v] for v in values], dtype=np.int32)
        return np.array(operator.itemgetter(*values)(local), dtype=np.int32)

    def append(self, columns: Dict[str, tuple], n_rows: int) -> None:
        """Add a batch: `columns[name] = (data, null_mask)` from `cells.convert` (or
        `columnar.parse_block`, whose string data are `columnar.Keys`). Schema fields
        absent from `columns` (left out of the file) are null."""
        for spec in self.schema.fields:
            data, mask = columns.get(spec.name, (None, None))
            if data is None:
                mask = np.ones(n_rows, dtype=bool)
                data = ([""] * n_rows if spec.type == "string"
                        else np.zeros(n_rows, STORAGE_DTYPES[spec.type]))
            if isinstance(data, columnar.Keys):
                data = self._key_codes[spec.name].encode(data, mask)
                mask = None
            elif spec.type == "string":
                data = self._encode(spec.name, data, mask)
                mask = None  # nulls are code -1
            self._pending[spec.name].append(np.asarray(data, STORAGE_DTYPES[spec.type]))
            if spec.nullable and spec.type != "string":
                self._pending_nulls[spec.name].append(
                    mask if mask is not None else np.zeros(n_rows, dtype=bool))
        self._pending_rows += n_rows
        self.rows += n_rows
        if self._pending_rows >= self.part_rows:
            self._flush()

    def _flush(self):
        if not self._pending_rows:
            return
        arrays = {}
        for name, chunks in self._pending.items():
            arrays[name] = np.concatenate(chunks)
            if self._pending_nulls[name]:
                arrays[f"{name}__null"] = np.concatenate(self._pending_nulls[name])
        key = f"{self.part_prefix}part-{len(self.parts):05d}.npz"
        objects.put_bytes(self.bucket, key, npz_bytes(arrays))
        self.parts.append({"key": key, "rows": self._pending_rows})
        self._pending = {name: [] for name in self._pending}
        self._pending_nulls = {name: [] for name in self._pending_nulls}
        self._pending_rows = 0

    def flush(self) -> None:
        """Write the rows not yet in a part."""
        self._flush()

    def codes_for(self, name: str, values: np.ndarray) -> np.ndarray:
        """This version's codes for `values` of a string field (new ones added in order),
        with -1 appended: indexing it with codes into `values` maps -1 (null) to -1."""
        known = self._dicts[name]
        return np.array([known.setdefault(v, len(known)) for v in values.tolist()] + [-1],
                        dtype=np.int32)

    def adopt(self, parts: List[dict]) -> None:
        """Continue from parts already written (a merged import's byte ranges) whose string
        codes are this writer's (`codes_for`)."""
        self.parts.extend(parts)
        self.rows += sum(p["rows"] for p in parts)

    def dictionaries(self) -> Dict[str, np.ndarray]:
        return {name: np.array(list(values), dtype=str) if values else np.zeros(0, dtype="<U1")
                for name, values in self._dicts.items()}

    def finish(self, sources: List[str]) -> dict:
        """Write the last part, the dictionaries and the manifest; return the manifest."""
        self._flush()
        objects.put_bytes(self.bucket, f"{self.prefix}dictionaries.npz",
                          npz_bytes(self.dictionaries()))
        manifest = {
            "format": FORMAT,
            "datasetArn": self.dataset_arn,
            "datasetType": self.schema.dataset_type,
            "versionId": self.version_id,
            "rows": self.rows,
            "fields": [{"name": f.name, "type": f.type, "nullable": f.nullable,
                        "categorical": f.categorical} for f in self.schema.fields],
            "parts": self.parts,
            "sources": list(sources),
            "createdAt": time.time(),
        }
        objects.put_bytes(self.bucket, f"{self.prefix}manifest.json",
                          json.dumps(manifest).encode(), "application/json")
        return manifest

    def discard(self) -> None:
        delete_version(self.dataset_arn, self.version_id, bucket=self.bucket)

    def values_of(self, name: str) -> set:
        """The distinct values of a string field appended so far (e.g. the record ids a run
        brings, which an incremental import replaces in the previous version)."""
        return set(self._dicts[name])


@dataclass
class VersionData:
    """A loaded data version: `columns` (codes for strings), `nulls`, `dictionaries`."""

    manifest: dict
    columns: Dict[str, np.ndarray]
    nulls: Dict[str, np.ndarray]
    dictionaries: Dict[str, np.ndarray]

    @property
    def rows(self) -> int:
        return int(self.manifest["rows"])

    def field_names(self) -> List[str]:
        return [f["name"] for f in self.manifest["fields"]]

    def field_type(self, name) -> Optional[str]:
        for f in self.manifest["fields"]:
            if f["name"] == name:
                return f["type"]
        return None

    def strings(self, name) -> np.ndarray:
        """Decoded string column ('' where null)."""
        codes = self.columns[name]
        values = self.dictionaries[name]
        if not len(values):
            return np.full(codes.shape, "", dtype="<U1")
        out = values[np.maximum(codes, 0)]
        if (codes < 0).any():
            out = out.copy()
            out[codes < 0] = ""
        return out

    def numbers(self, name) -> np.ndarray:
        """Numeric column as float64 with NaN where null; strings parsed, NaN if not numeric."""
        kind = self.field_type(name)
        if kind == "string":
            values = self.dictionaries[name]
            parsed = np.full(len(values) + 1, np.nan)
            for i, text in enumerate(values.tolist()):
                try:
                    parsed[i] = float(text)
                except ValueError:
                    pass
            codes = self.columns[name]
            return parsed[np.where(codes < 0, len(values), codes)]
        out = self.columns[name].astype(np.float64)
        if name in self.nulls:
            out[self.nulls[name]] = np.nan
        return out


def batches(data: VersionData, schema: DatasetSchema, keep: Optional[np.ndarray] = None,
            batch_rows: int = PART_ROWS):
    """A loaded version's rows (those where `keep` is True) as `VersionWriter.append`
    batches for `schema`: how an incremental import carries the previous data into the new
    version. Fields of `schema` the version lacks come out null; a field whose type changed
    between numeric types is cast. ValueError names a field that cannot be carried over."""
    rows = np.flatnonzero(keep) if keep is not None else np.arange(data.rows)
    old_types = {f["name"]: f["type"] for f in data.manifest["fields"]}
    for spec in schema.fields:
        old = old_types.get(spec.name)
        if old is not None and old != spec.type and "string" in (old, spec.type):
            raise ValueError(f"field {spec.name} was {old} and is now {spec.type}: the previous "
                             "data cannot be carried over; import it again with importMode FULL")
    for start in range(0, rows.shape[0], batch_rows):
        chunk = rows[start:start + batch_rows]
        columns = {}
        for spec in schema.fields:
            if spec.name not in old_types:
                continue  # absent: VersionWriter.append makes it null
            if spec.type == "string":
                codes = data.columns[spec.name][chunk]
                null = codes < 0
                columns[spec.name] = (data.strings(spec.name)[chunk].tolist(),
                                      null if null.any() else None)
            else:
                null = data.nulls.get(spec.name)
                null = null[chunk] if null is not None else None
                columns[spec.name] = (data.columns[spec.name][chunk],
                                      null if null is not None and null.any() else None)
        yield columns, int(chunk.shape[0])


def read_manifest(dataset_arn: str, version_id: str, bucket: Optional[str] = None) -> dict:
    bucket = bucket or config.internal_bucket()
    key = f"{version_prefix(dataset_arn, version_id)}manifest.json"
    return json.loads(objects.get_bytes(bucket, key))


def load_npz(bucket, key) -> Dict[str, np.ndarray]:
    with np.load(io.BytesIO(objects.get_bytes(bucket, key)), allow_pickle=False) as npz:
        return {name: npz[name] for name in npz.files}


def load(dataset_arn: str, version_id: str, bucket: Optional[str] = None) -> VersionData:
    """Load a whole version (all parts concatenated)."""
    bucket = bucket or config.internal_bucket()
    manifest = read_manifest(dataset_arn, version_id, bucket)
    parts = [load_npz(bucket, p["key"]) for p in manifest["parts"]]
    columns, nulls = {}, {}
    for f in manifest["fields"]:
        name = f["name"]
        dtype = STORAGE_DTYPES[f["type"]]
        columns[name] = (np.concatenate([p[name] for p in parts]) if parts
                         else np.zeros(0, dtype))
        if f["nullable"] and f["type"] != "string":
            nulls[name] = (np.concatenate([p[f"{name}__null"] for p in parts]) if parts
                           else np.zeros(0, bool))
    dictionaries = load_npz(bucket, f"{version_prefix(dataset_arn, version_id)}dictionaries.npz")
    return VersionData(manifest, columns, nulls, dictionaries)


def delete_version(dataset_arn: str, version_id: str, bucket: Optional[str] = None) -> int:
    return objects.delete_prefix(bucket or config.internal_bucket(),
                                 version_prefix(dataset_arn, version_id))


def list_versions(dataset_arn: str, bucket: Optional[str] = None) -> List[str]:
    """Version ids with any object stored (complete or not), oldest first."""
    bucket = bucket or config.internal_bucket()
    root = f"{ROOT}{dataset_path(dataset_arn)}/"
    ids = {key[len(root):].split("/", 1)[0] for key, _ in objects.list_objects(bucket, root)}
    return sorted(ids)


def delete_older_versions(dataset_arn: str, current: str, bucket: Optional[str] = None) -> List[str]:
    """Delete versions older than `current`. Newer ones may belong to a run still
    writing, so they are left alone; a failed run deletes its own."""
    removed = [v for v in list_versions(dataset_arn, bucket) if v < current]
    for version_id in removed:
        delete_version(dataset_arn, version_id, bucket)
    return removed


def delete_all_versions(dataset_arn: str, bucket: Optional[str] = None) -> int:
    """Delete every version of a dataset (for DeleteDataset); returns objects deleted."""
    return objects.delete_prefix(bucket or config.internal_bucket(),
                                 f"{ROOT}{dataset_path(dataset_arn)}/")
