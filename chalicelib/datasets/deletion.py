"""Removing users from a dataset group's data, for data deletion jobs.

Today's API, CreateDataDeletionJob: "deletes all references to specific users from an Amazon
Personalize dataset group ... Your input file must be a CSV file with a single USER_ID column
that lists the users IDs"; with a folder, "Amazon Personalize uses all files in the folder
and any sub folder". "After a job completes, Amazon Personalize no longer trains on the users'
data"; models trained before keep them until the next training.

Where a user's traces are, and how each goes:

- the Interactions and Users bulk data: a new data version without the user's rows, written
  whole and then published like an import's (`without_users`);
- Users records put with PutUsers: deleted (`chalicelib.storage.events.delete_records`);
- events recorded with PutEvents: the user's events and the session markers naming the user
  (`chalicelib.storage.events.delete_user_events`).
"""
from __future__ import annotations

from typing import Optional, Set, Tuple

import numpy as np

from chalicelib.datasets import objects, versions
from chalicelib.datasets.csv_stream import BadCsv, NotUtf8, RowBatches
from chalicelib.datasets.importer import ImportFailed, resolve_sources
from chalicelib.datasets.schema import DatasetSchema

USER_COLUMN = "USER_ID"


def read_user_ids(data_location: str) -> Set[str]:
    """The user ids listed at `data_location` (one object or every .csv under a prefix).
    ImportFailed (its text is the failureReason) when a file cannot be read or has no
    USER_ID column."""
    bucket, keys = resolve_sources(data_location)
    users: Set[str] = set()
    for key in keys:
        source = f"s3://{bucket}/{key}"
        stream = RowBatches(objects.iter_bytes(bucket, key))
        try:
            header = [h.strip().upper() for h in (stream.header() or [])]
            if USER_COLUMN not in header:
                raise ImportFailed(f"{source} has no USER_ID column (header: "
                                   f"{', '.join(header) or 'empty'})")
            column = header.index(USER_COLUMN)
            for batch in stream.batches(1 << 13):
                users.update(row[column].strip() for row in batch.rows
                             if len(row) > column and row[column].strip())
        except (NotUtf8, BadCsv) as e:
            raise ImportFailed(f"{source} is not readable as UTF-8 CSV ({e})") from None
    return users


def users_in(data: Optional[versions.VersionData], users: Set[str]) -> Set[str]:
    """The listed users that have rows in a version."""
    if data is None or not data.rows or not users:
        return set()
    present = set(data.dictionaries[USER_COLUMN].tolist())
    return users & present


def without_users(dataset_arn: str, schema: DatasetSchema, data: versions.VersionData,
                  users: Set[str]) -> Tuple[Optional[str], int]:
    """Write a new version of `data` without the rows of `users`: (version id, rows removed),
    or (None, 0) when no row is theirs (nothing to write)."""
    listed = np.array(sorted(users), dtype=str)
    drop = np.isin(data.strings(USER_COLUMN), listed)
    removed = int(drop.sum())
    if not removed:
        return None, 0
    writer = versions.VersionWriter(dataset_arn, schema)
    try:
        for columns, n in versions.batches(data, schema, ~drop):
            writer.append(columns, n)
        writer.finish(list(data.manifest.get("sources") or []))
    except BaseException:
        writer.discard()
        raise
    return writer.version_id, removed

