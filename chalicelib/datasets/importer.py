"""One import run's data path: dataLocation -> validated rows -> a new data version.

Seed: "Preparing and Importing Data" ("Formatting your Input Data": CSV, the
first row holds column headers that map to the schema; "Importing your
Data": a full refresh), DataSource (`dataLocation`), DatasetImportJobRun
(`failureReason`).

Decisions the seed leaves open, taken here:

- `dataLocation` names one object, or a folder ending in '/' (today's DataSource):
  every `.csv` object under it is imported (each with its own header). A bare
  bucket, or a prefix without its '/', is refused: it would take other uploads too.
- Header names are matched to schema fields ignoring surrounding spaces and
  case (the Getting Started header is written "USER_ID, ITEM_ID, TIMESTAMP").
- A column that is not a schema field fails the run: the seed says the
  headers "need to map to the schema", and silently dropping data hides
  mistakes such as a misspelt EVENT_TYPE.
- A schema field may be left out of the header only when it is optional
  (a union with null, or has a default) and not required for the dataset type.
- A file whose data does not fit fails the run; `failureReason` names the
  file, line, column and rule of the first few problems and counts them all.

Today's API, CreateDatasetImportJob `importMode`: FULL "overwrite[s] all existing bulk
data"; INCREMENTAL "append[s] the new records to the existing data in your dataset.
Amazon Personalize replaces any record with the same ID with the new one". An incremental
run is given the current version (`base`) and writes a complete new version: the files'
rows, then the base rows it keeps - every interaction, and the Users / Items rows whose id
the files do not bring (`RECORD_ID`). Either way the new version is whole before it is
published, so a failed run leaves the previous data as it was.
"""
from __future__ import annotations

import codecs
import gc
import itertools
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from chalicelib.datasets import cells, columnar, csv_stream, objects, versions
from chalicelib.datasets.csv_stream import BadCsv, NotUtf8, RowBatches, first_bad_line
from chalicelib.datasets.schema import ITEMS, USERS, DatasetSchema
from chalicelib.datasets.versions import VersionWriter

BATCH_ROWS = 1 << 13  # rows per batch: small enough to stay in cache, large enough for numpy
SHOWN_PROBLEMS = 5
# The field that identifies a record, per dataset type: an incremental import replaces the
# base rows with an id its files bring; Interactions have none (every row is added).
RECORD_ID = {USERS: "USER_ID", ITEMS: "ITEM_ID"}


class ImportFailed(Exception):
    """The data cannot be imported; `str(e)` is the run's failureReason."""


@dataclass
class Problems:
    """Every problem is counted; the first few are kept to be shown."""

    limit: int = SHOWN_PROBLEMS
    count: int = 0
    entries: List[tuple] = field(default_factory=list)   # (source, line, column, message)
    stopped: bool = False   # a read error (not UTF-8, not CSV) ended a file: the rest is unread

    def add(self, source: str, line: Optional[int], column: Optional[str], message: str):
        self.count += 1
        if len(self.entries) < self.limit:
            self.entries.append((source, line, column, message))

    @property
    def shown(self) -> List[str]:
        out = []
        for source, line, column, message in self.entries:
            where = source + (f" line {line}" if line else "")
            where += f", column {column}" if column else ""
            out.append(f"{where}: {message}")
        return out

    def reason(self) -> str:
        shown = self.shown
        noun = "problem" if self.count == 1 else "problems"
        text = f"The data does not match the dataset's schema ({self.count} {noun}). "
        text += "; ".join(shown)
        if self.count > len(shown):
            text += f"; and {self.count - len(shown)} more"
        return text + "."


@dataclass
class ImportResult:
    version_id: str
    rows: int
    sources: List[str]
    manifest: dict
    kept_rows: int = 0      # rows carried over from the base version (incremental)


def resolve_sources(data_location: str) -> Tuple[str, List[str]]:
    """(bucket, keys) for `dataLocation`; ImportFailed with a clear reason if nothing is there."""
    try:
        bucket, key = objects.parse_location(data_location)
    except ValueError as e:
        raise ImportFailed(str(e)) from None
    try:
        size = objects.head(bucket, key)
        if size is not None:
            if size == 0:
                raise ImportFailed(f"{data_location} is empty: the first row must hold "
                                   "the column headers")
            return bucket, [key]
        listed = [(k, s) for k, s in objects.list_objects(bucket, key) if not k.endswith("/")]
    except objects.SourceMissing as e:
        raise ImportFailed(f"Cannot read {data_location}: {e}") from None
    csvs = [k for k, _ in listed if k.lower().endswith(".csv")]
    if not listed:
        raise ImportFailed(f"Cannot read {data_location}: no object has that key and "
                           "no object starts with that prefix")
    if not key.endswith("/"):
        # today's DataSource: a folder is named with its trailing '/'; a bare prefix
        # would also take s3://b/ratings-old.csv for s3://b/ratings
        raise ImportFailed(f"Cannot read {data_location}: no object has that key; to import "
                           f"every .csv file of a folder, end the location with '/' "
                           f"({len(listed)} object(s) start with it)")
    if not csvs:
        raise ImportFailed(f"No .csv file under {data_location} "
                           f"({len(listed)} other object(s) found)")
    return bucket, csvs


def map_header(header: List[str], schema: DatasetSchema, source: str,
               problems: Problems, line: int = 1) -> Dict[int, str]:
    """Column index -> schema field name. Adds header problems (on the header's `line`)."""
    by_exact = {f.name: f.name for f in schema.fields}
    by_upper = {f.name.upper(): f.name for f in schema.fields}
    columns, seen = {}, {}
    for index, raw in enumerate(header):
        name = raw.strip()
        if not name:
            problems.add(source, line, None, f"column {index + 1} of the header has no name")
            continue
        target = by_exact.get(name) or by_upper.get(name.upper())
        if target is None:
            problems.add(source, line, name, "is not a field of the schema (fields: "
                         + ", ".join(schema.names) + ")")
            continue
        if target in seen:
            problems.add(source, line, name, f"appears twice in the header "
                         f"(columns {seen[target] + 1} and {index + 1})")
            continue
        seen[target] = index
        columns[index] = target
    for spec in schema.fields:
        if spec.name in seen:
            continue
        if spec.name in schema.required:
            problems.add(source, line, spec.name, "required column is missing from the header "
                         f"(a {schema.dataset_type.title()} dataset needs "
                         + ", ".join(schema.required) + ")")
        elif not schema.may_be_absent(spec):
            problems.add(source, line, spec.name, "column is missing from the header, and its "
                         f"type {spec.type} does not allow null")
    return columns


def _read_file(bucket, key, schema, writer, problems, batch_rows) -> int:
    """Validate one CSV object; append its rows to `writer` while no problem is known."""
    return read_csv(lambda: objects.iter_bytes(bucket, key), f"s3://{bucket}/{key}",
                    schema, writer, problems, batch_rows)


def read_csv(open_chunks, source, schema, writer, problems, batch_rows=BATCH_ROWS, *,
             header: Optional[List[str]] = None, lines_before: int = 0) -> int:
    """Validate the CSV bytes `open_chunks()` yields (a whole file, or with `header` given
    the lines of one byte range after `lines_before` lines); returns the rows read.

    Blocks of whole lines take the columnar path (`columnar.parse_block`); a block it
    declines is read again by csv + `cells.convert`, which names every problem as they
    always have, and from the first block holding a quote (a quoted cell may hold line
    breaks, so lines are no longer records) csv reads the rest of the bytes."""
    blocks = csv_stream.blocks(open_chunks())
    first_lines = lines_before
    try:
        if header is None:
            first = next(blocks, b"")
            plain = plain_header(first)
            if plain is None:   # csv reads the whole file
                stream = RowBatches(itertools.chain([first], blocks))
                header = _exact_header(stream, source, problems)
                if header is None:
                    return 0
                lines_before, blocks = stream.line_num, None
            else:
                header, lines_before, rest = plain
                blocks = itertools.chain([rest], blocks)
        before = problems.count
        columns = map_header(header, schema, source, problems, line=lines_before)
        if problems.count > before:
            return 0  # rows cannot be read against a header that does not map
        width = len(header)
        specs = [(index, schema.field(name)) for index, name in columns.items()]
        if blocks is None:
            return _exact_rows(stream, width, specs, source, writer, problems, batch_rows)
        rows = 0
        for block in blocks:
            if b'"' in block:
                stream = RowBatches(itertools.chain([block], blocks), lines_before, bom=False)
                return rows + _exact_rows(stream, width, specs, source, writer, problems,
                                          batch_rows)
            parsed = columnar.parse_block(block, width, specs)
            if parsed is None:
                stream = RowBatches([block], lines_before, bom=False)
                rows += _exact_rows(stream, width, specs, source, writer, problems, batch_rows)
            else:
                n, typed = parsed
                rows += n
                if problems.count == 0:
                    writer.append(typed, n)
                lines_before += n     # one record per line, none blank
                continue
            lines_before += csv_stream.count_lines(block)
        return rows
    except NotUtf8 as e:
        # Rare: read the bytes again to name the exact line (the text layer decodes ahead).
        line = first_bad_line(open_chunks())
        problems.add(source, line + first_lines if line else e.line, None,
                     "the file is not UTF-8 text")
        problems.stopped = True
    except BadCsv as e:
        problems.add(source, e.line, None, f"not readable as CSV ({e.message})")
        problems.stopped = True
    return 0


BOM = codecs.BOM_UTF8


def plain_header(data: bytes):
    """(header, its line, the bytes after it) when the file's first non-blank line is
    plain (no quote, NUL or lone CR, UTF-8) and ends with a line feed, else None."""
    if data.startswith(BOM):
        data = data[len(BOM):]
    pos, line = 0, 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            return None
        line += 1
        body = data[pos:end]
        if body.endswith(b"\r"):
            body = body[:-1]
        if b"\r" in body or b'"' in body or b"\x00" in body:
            return None
        if body:
            break
        pos = end + 1
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text.split(","), line, data[end + 1:]


def _exact_header(stream, source, problems):
    """The header row read by csv, or None after adding the problem that stops the file."""
    try:
        header = stream.header()
    except BadCsv as e:
        problems.add(source, e.line, None, f"not readable as CSV ({e.message})")
        return None
    if header is None:
        raise ImportFailed(f"{source} is empty: the first row must hold the column headers")
    return header


def _exact_rows(stream, width, specs, source, writer, problems, batch_rows) -> int:
    """csv + `cells.convert` over `stream`'s rows: every problem with its line."""
    rows_read = 0
    for batch in stream.batches(batch_rows):
        rows = batch.rows
        keep, found = None, []  # this batch's problems, reported in line order
        if any(n != width for n in set(map(len, rows))):
            keep = []
            for i, row in enumerate(rows):
                if len(row) == width:
                    keep.append(i)
                else:
                    values = "1 value" if len(row) == 1 else f"{len(row)} values"
                    found.append((batch.line(i), "", None,
                                  f"{values}, but the header has {width} columns"))
            rows = [rows[i] for i in keep]
        rows_read += len(rows)
        cols = list(zip(*rows))
        typed = {}
        for index, spec in specs if rows else ():
            try:
                typed[spec.name] = cells.convert(cols[index], spec)
            except cells.CellProblems as e:
                for row_index, message in e.problems:
                    original = keep[row_index] if keep is not None else row_index
                    found.append((batch.line(original), spec.name, spec.name, message))
        for line, _, column, message in sorted(found, key=lambda p: p[:2]):
            problems.add(source, line, column, message)
        if problems.count == 0 and rows:
            writer.append(typed, len(rows))
    return rows_read


def import_location(data_location: str, dataset_arn: str, schema: DatasetSchema, *,
                    version_id: Optional[str] = None, bucket: Optional[str] = None,
                    batch_rows: int = BATCH_ROWS,
                    base: Optional[versions.VersionData] = None) -> ImportResult:
    """Validate every row at `data_location` and write them as a new data version
    (with the rows of `base` it keeps, for an incremental import: see the module doc).

    Returns the finished version (not yet current: the caller switches the
    dataset to it). Raises ImportFailed with the failureReason when the data
    does not fit; then nothing of the new version is left behind. Other
    exceptions (S3 errors) propagate for the workflow to retry.
    """
    source_bucket, keys = resolve_sources(data_location)
    writer = VersionWriter(dataset_arn, schema, version_id=version_id, bucket=bucket)
    problems = Problems()
    rows = 0
    collecting = gc.isenabled()
    gc.disable()  # millions of short-lived lists, no cycles: the collector only costs time
    try:
        for key in keys:
            try:
                rows += _read_file(source_bucket, key, schema, writer, problems, batch_rows)
            except objects.SourceMissing as e:  # gone or denied since it was listed
                raise ImportFailed(f"Cannot read s3://{source_bucket}/{key}: {e}") from None
        if problems.count:
            raise ImportFailed(problems.reason())
        if rows == 0:
            raise ImportFailed(f"{data_location} holds column headers but no data rows")
        kept = carry_over(base, schema, writer) if base is not None else 0
        sources = [f"s3://{source_bucket}/{k}" for k in keys]
        manifest = writer.finish(sources)
    except BaseException:
        if collecting:
            gc.enable()
        try:
            writer.discard()
        except Exception:  # the workflow's failure step deletes the version again
            pass
        raise
    if collecting:
        gc.enable()
    return ImportResult(writer.version_id, rows, sources, manifest, kept)


def carry_over(base: versions.VersionData, schema: DatasetSchema, writer: VersionWriter) -> int:
    """Append the base rows an incremental import keeps; returns how many."""
    id_field = RECORD_ID.get(schema.dataset_type)
    keep = None
    if id_field and base.rows:
        replaced = np.array(sorted(writer.values_of(id_field)), dtype=str)
        keep = ~np.isin(base.strings(id_field), replaced)
    try:
        for columns, n in versions.batches(base, schema, keep):
            writer.append(columns, n)
    except ValueError as e:
        raise ImportFailed(str(e)) from None
    return int(keep.sum()) if keep is not None else base.rows
