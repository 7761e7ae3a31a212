"""The S3 calls the data path needs: stream a source object, list a prefix,
put / get / delete the objects of a data version.

Seed: "Uploading to an Amazon S3 Bucket" and DataSource (`dataLocation`:
`s3://bucket-name/training-data.csv`). Reading goes through boto3's
`StreamingBody.iter_chunks`, so a source file of any size is never held in
memory whole.

Everything goes through the storage engineer's S3 object port
(`chalicelib.storage.objects`); this module adds what the importer needs
on top: `dataLocation` checks, chunked reads, and telling a missing bucket
from a missing key (the port's `head` answers None for both).
"""
from __future__ import annotations

from typing import Iterator, List, Optional, Tuple

from chalicelib.storage import client
from chalicelib.storage import objects as port

CHUNK_BYTES = 1 << 20


class SourceMissing(Exception):
    """The bucket, key or prefix named by dataLocation does not exist, or may not be read."""


DENIED = ("AccessDenied", "403", "AllAccessDisabled")


def _denied(location):
    # Seed, "Uploading to an Amazon S3 Bucket": the bucket policy must allow
    # s3:GetObject and s3:ListBucket to Amazon Personalize.
    return SourceMissing(f"access to {location} is denied (allow s3:GetObject and "
                         "s3:ListBucket on the bucket)")


def _code(error) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


def parse_location(location: str) -> Tuple[str, str]:
    """`s3://bucket/key-or-prefix` -> (bucket, key); ValueError when not that shape."""
    if not isinstance(location, str) or not location.startswith("s3://"):
        raise ValueError(f"dataLocation {location!r} is not an s3://bucket/key location")
    bucket, _, key = location[len("s3://"):].partition("/")
    if not bucket:
        raise ValueError(f"dataLocation {location!r} names no bucket")
    if not key:
        # a whole bucket would import every upload in it, other dataset groups' too
        raise ValueError(f"dataLocation {location!r} names a bucket but no file or folder: "
                         "give s3://bucket/file.csv, or s3://bucket/folder/ for every .csv "
                         "file in a folder")
    return bucket, key


def bucket_exists(bucket: str) -> bool:
    try:
        client("s3").head_bucket(Bucket=bucket)
    except Exception as e:
        if _code(e) in ("404", "NoSuchBucket", "NotFound"):
            return False
        if _code(e) in DENIED:
            raise _denied(f"s3://{bucket}") from None
        raise
    return True


def head(bucket: str, key: str) -> Optional[int]:
    """Size of the object, or None if there is no such key; SourceMissing if no bucket."""
    try:
        found = port.head(port.uri(bucket, key)) if key else None
    except Exception as e:
        if _code(e) in DENIED:
            raise _denied(port.uri(bucket, key)) from None
        raise
    if found is None and not bucket_exists(bucket):
        raise SourceMissing(f"S3 bucket {bucket} does not exist")
    return None if found is None else int(found["size"])


def list_objects(bucket: str, prefix: str) -> List[Tuple[str, int]]:
    """(key, size) of every object under `prefix`, in key order."""
    try:
        found = port.list_prefix(port.uri(bucket, prefix))
    except Exception as e:
        if _code(e) in ("NoSuchBucket", "404"):
            raise SourceMissing(f"S3 bucket {bucket} does not exist") from None
        if _code(e) in DENIED:
            raise _denied(port.uri(bucket, prefix)) from None
        raise
    return [(o["key"], int(o["size"])) for o in found]


def _read_error(error, bucket: str, key: str) -> Optional[SourceMissing]:
    """The SourceMissing a failed read of s3://bucket/key means, or None (another error)."""
    if _code(error) in ("NoSuchKey", "404"):
        return SourceMissing(f"s3://{bucket}/{key} does not exist")
    if _code(error) == "NoSuchBucket":
        return SourceMissing(f"S3 bucket {bucket} does not exist")
    if _code(error) in DENIED:
        return _denied(port.uri(bucket, key))
    return None


def iter_bytes(bucket: str, key: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The object's body in chunks (bounded memory)."""
    try:
        body = port.open_stream(port.uri(bucket, key))
    except Exception as e:
        missing = _read_error(e, bucket, key)
        if missing is None:
            raise
        raise missing from None
    try:
        yield from body.iter_chunks(chunk_bytes)
    finally:
        body.close()


def get_range(bucket: str, key: str, start: int, end: int) -> bytes:
    """Bytes `start` .. `end` (exclusive) of a source object (one Range read)."""
    try:
        return port.get_range(port.uri(bucket, key), start, end)
    except Exception as e:
        missing = _read_error(e, bucket, key)
        if missing is None:
            raise
        raise missing from None


def iter_range(bucket: str, key: str, start: int, end: int,
               chunk_bytes: int = 8 * CHUNK_BYTES) -> Iterator[bytes]:
    """Bytes `start` .. `end` of the object in Range reads of `chunk_bytes` (bounded memory)."""
    for offset in range(start, end, chunk_bytes):
        yield get_range(bucket, key, offset, min(end, offset + chunk_bytes))


def put_bytes(bucket: str, key: str, data: bytes, content_type="application/octet-stream"):
    port.put_bytes(port.uri(bucket, key), data, content_type)


def get_bytes(bucket: str, key: str) -> bytes:
    return port.get_bytes(port.uri(bucket, key))


def delete_prefix(bucket: str, prefix: str) -> int:
    """Delete every object under `prefix` (a data version); returns how many."""
    return port.delete_prefix(port.uri(bucket, prefix))
