"""A large import split into byte ranges, read in parallel, merged into one data version.

Seed: "Preparing and Importing Data" (a full refresh; the first row of each file holds the
headers) and DatasetImportJobRun `failureReason`. The import workflow's Map state runs
`read_range` once per range (`import.parse_range`); `merge` then publishes nothing but a
whole version, exactly the one a one-range import (`importer.import_location`) writes: the
same rows in the same order, the same dictionaries (first-seen order), the same problems
with the same file, line and column, in the same order.

Where a range may start. `plan` cuts each file bigger than the range size just after a line
feed, past the header. A line feed ends a record unless it is inside a quoted cell, and a
range cannot know the quoting state at its start without reading everything before it. So
a cut is trusted only when no byte before it is a quote character: each range reports
whether it holds one, and `merge` reads a file again in one piece from the first range that
does (usually there is none: then every range counts). A file whose first megabyte (header
included) has a quote, a header that is not plain or does not map, or a size under the
range size is one range read as a whole, as before.

Line numbers. A range counts its physical lines (LF, CRLF, lone CR: csv's count) and
numbers its problems from 1; `merge` adds the header's and the earlier ranges' lines.
"""
from __future__ import annotations

import json
import time
from typing import Dict, Optional

import numpy as np

from chalicelib import config
from chalicelib.datasets import csv_stream, importer, objects, versions
from chalicelib.datasets.schema import DatasetSchema

HEAD_BYTES = 1 << 20       # read to find a file's header (and an early quote)
SEEK_BYTES = 1 << 16       # read at a nominal cut to find the next line start
RESULT = "result.json"
DICTIONARIES = "dictionaries.npz"


def plan(data_location: str, range_bytes: int, schema: DatasetSchema,
         head_bytes: int = HEAD_BYTES) -> dict:
    """`{"bucket", "files": [{"key", "header"?, "headerLines"?}], "ranges": [[file, start,
    end], ...]}`: every file in whole ranges of about `range_bytes`. ImportFailed when the
    location names nothing to import (the message `import_location` gives)."""
    bucket, keys = importer.resolve_sources(data_location)
    files, cuts = [], []
    for index, key in enumerate(keys):
        size = objects.head(bucket, key) or 0
        entry = {"key": key}
        files.append(entry)
        head = (_split_header(bucket, key, size, schema, head_bytes) if size > range_bytes
                else None)
        if head is None:
            cuts.append([index, 0, size])
            continue
        entry["header"], entry["headerLines"], data_start = head
        starts = [data_start]
        for nominal in range(data_start + range_bytes, size, range_bytes):
            start = _line_start(bucket, key, nominal, size)
            if start is not None and starts[-1] < start < size:
                starts.append(start)
        ends = starts[1:] + [size]
        cuts.extend([index, a, b] for a, b in zip(starts, ends))
    return {"bucket": bucket, "files": files, "ranges": cuts}


def _split_header(bucket, key, size, schema, head_bytes):
    """(header, its line, the byte where the data starts) when the file may be split."""
    prefix = objects.get_range(bucket, key, 0, min(size, head_bytes))
    if b'"' in prefix:
        return None
    plain = importer.plain_header(prefix)
    if plain is None:
        return None
    header, line, rest = plain
    problems = importer.Problems()
    importer.map_header(header, schema, "", problems, line=line)
    if problems.count:
        return None             # the one-range path reports the header's problems
    return header, line, len(prefix) - len(rest)


def _line_start(bucket, key, offset, size) -> Optional[int]:
    window = objects.get_range(bucket, key, offset, min(size, offset + SEEK_BYTES))
    at = window.find(b"\n")
    return None if at < 0 else offset + at + 1


def range_prefix(dataset_arn, version_id, name) -> str:
    """The key prefix of one range's objects: names right in the version's folder, not a
    folder below it - the garbage collector takes an object's folder for its version
    (workflows/collect.py), and the merged version keeps a range's parts where they are."""
    return f"{versions.version_prefix(dataset_arn, version_id)}range-{name}-"


def read_range(dataset_arn: str, schema: DatasetSchema, version_id: str, bucket: str,
               file: dict, start: int, end: int, name: str,
               store_bucket: Optional[str] = None) -> dict:
    """Validate bytes `start`..`end` of one file and write their rows as parts under the
    range's own key prefix (`range_prefix`), with its dictionaries and `result.json` (rows,
    lines, whether a quote occurs, problems numbered from the range's first line). Idempotent."""
    began = time.monotonic()
    store_bucket = store_bucket or config.internal_bucket()
    prefix = range_prefix(dataset_arn, version_id, name)
    objects.delete_prefix(store_bucket, prefix)
    writer = versions.VersionWriter(dataset_arn, schema, version_id=version_id,
                                    bucket=store_bucket, part_prefix=prefix)
    problems = importer.Problems()
    source = f"s3://{bucket}/{file['key']}"
    seen = _Seen()

    def chunks():
        return seen.watch(objects.iter_range(bucket, file["key"], start, end))
    header = file.get("header") if start > 0 else None
    rows = importer.read_csv(chunks, source, schema, writer, problems, header=header)
    writer.flush()
    result = {"source": source, "start": start, "end": end, "rows": rows,
              "lines": seen.lines, "quote": seen.quote, "parts": writer.parts,
              "problemCount": problems.count, "problems": [list(p) for p in problems.entries],
              "stopped": problems.stopped,
              "seconds": round(time.monotonic() - began, 3)}
    objects.put_bytes(store_bucket, prefix + DICTIONARIES, versions.npz_bytes(writer.dictionaries()))
    objects.put_bytes(store_bucket, prefix + RESULT, json.dumps(result).encode(), "application/json")
    return result


class _Seen:
    """Counts the physical lines of a range's bytes and notes a quote, as they stream by."""

    def __init__(self):
        self.lines, self.quote = 0, False
        self._last = b""

    def watch(self, chunks):
        self.lines, self.quote, self._last = 0, False, b""
        for chunk in chunks:
            self.quote = self.quote or b'"' in chunk
            self.lines += csv_stream.count_lines(chunk)
            if self._last == b"\r" and chunk[:1] == b"\n":
                self.lines -= 1     # one CRLF across two reads
            self._last = chunk[-1:]
            yield chunk


def merge(dataset_arn: str, schema: DatasetSchema, version_id: str, data_location: str,
          split: dict, *, base: Optional[versions.VersionData] = None,
          store_bucket: Optional[str] = None) -> importer.ImportResult:
    """The ranges' results as one new version (see the module doc); ImportFailed with the
    failureReason a one-range import gives when the data does not fit."""
    store_bucket = store_bucket or config.internal_bucket()
    results = _results(dataset_arn, schema, version_id, split, store_bucket)
    problems, rows = importer.Problems(), 0
    for result, first_line in results:
        for _, line, column, message in result["problems"]:
            line = line + first_line - 1 if line else line
            problems.add(result["source"], line, column, message)
        problems.count += result["problemCount"] - len(result["problems"])
        rows += result["rows"]
    if problems.count:
        raise importer.ImportFailed(problems.reason())
    if rows == 0:
        raise importer.ImportFailed(f"{data_location} holds column headers but no data rows")
    writer = versions.VersionWriter(dataset_arn, schema, version_id=version_id,
                                    bucket=store_bucket)
    for index, (result, _) in enumerate(results):
        _adopt(writer, result, index, store_bucket)
    kept = importer.carry_over(base, schema, writer) if base is not None else 0
    sources = [f"s3://{split['bucket']}/{f['key']}" for f in split["files"]]
    manifest = writer.finish(sources)
    return importer.ImportResult(version_id, rows, sources, manifest, kept)


def _results(dataset_arn, schema, version_id, split, store_bucket):
    """[(result, the file line its line 1 is)] in file order; from a file's first range
    holding a quote on, that file is read again here in one range."""
    by_file: Dict[int, list] = {}
    for index, (file, start, end) in enumerate(split["ranges"]):
        prefix = range_prefix(dataset_arn, version_id, f"{index:05d}")
        result = json.loads(objects.get_bytes(store_bucket, prefix + RESULT))
        result["prefix"] = prefix
        by_file.setdefault(file, []).append(result)
    out = []
    for file, ranges in sorted(by_file.items()):
        entry = split["files"][file]
        first_line = entry.get("headerLines", 0) + 1 if "header" in entry else 1
        for k, result in enumerate(ranges):
            if result["quote"] and k + 1 < len(ranges):
                size = ranges[-1]["end"]
                tail = read_range(dataset_arn, schema, version_id, split["bucket"], entry,
                                  result["start"], size, f"tail-{file:05d}", store_bucket)
                tail["prefix"] = range_prefix(dataset_arn, version_id, f"tail-{file:05d}")
                out.append((tail, first_line if result["start"] > 0 else 1))
                break
            out.append((result, first_line if result["start"] > 0 else 1))
            if result["stopped"]:
                break           # a one-range read stops at a read error: the rest is unread
            first_line += result["lines"]
    return out


def _adopt(writer, result, index, store_bucket):
    """Add a range's parts to the version: its string codes re-numbered into the version's
    dictionaries (a part is rewritten only when its codes change)."""
    local = versions.load_npz(store_bucket, result["prefix"] + DICTIONARIES)
    remaps, changed = {}, False
    for name, values in local.items():
        remap = remaps[name] = writer.codes_for(name, values)
        changed = changed or not np.array_equal(remap[:-1], np.arange(len(values)))
    parts = []
    for part in result["parts"]:
        if not changed:
            parts.append(part)
            continue
        arrays = versions.load_npz(store_bucket, part["key"])
        for name, remap in remaps.items():
            arrays[name] = remap[arrays[name]]      # -1 (null) indexes the appended -1
        key = f"{writer.prefix}part-r{index:05d}-{len(parts):05d}.npz"
        objects.put_bytes(store_bucket, key, versions.npz_bytes(arrays))
        parts.append({"key": key, "rows": part["rows"]})
    writer.adopt(parts)
