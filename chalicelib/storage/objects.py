"""S3 object port: the one place that reads and writes data objects.

Locations are `s3://bucket/key` URIs (seed: DataSource.dataLocation) or
(bucket, key) pairs; keys without a bucket use the deployment's data bucket
(`chalicelib.config.data_bucket`).
"""
from urllib.parse import urlsplit

from chalicelib import config
from chalicelib.storage.clients import client


def split(location):
    """`s3://bucket/key` -> (bucket, key); a bare key -> (data bucket, key)."""
    if location.startswith("s3://"):
        parts = urlsplit(location)
        return parts.netloc, parts.path.lstrip("/")
    return config.data_bucket(), location.lstrip("/")


def uri(bucket, key):
    return f"s3://{bucket}/{key}"


def data_uri(key):
    """The URI of `key` in the deployment's data bucket."""
    return uri(config.data_bucket(), key)


def internal_uri(key):
    """The URI of `key` in the deployment's internal bucket (`config.internal_bucket`)."""
    return uri(config.internal_bucket(), key)


def put_bytes(location, data, content_type=None):
    bucket, key = split(location)
    extra = {"ContentType": content_type} if content_type else {}
    client("s3").put_object(Bucket=bucket, Key=key, Body=data, **extra)
    return uri(bucket, key)


def get_bytes(location):
    bucket, key = split(location)
    return client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def get_range(location, start, end):
    """Bytes `start` .. `end` (exclusive) of one object (an HTTP Range read)."""
    if end <= start:
        return b""
    bucket, key = split(location)
    return client("s3").get_object(Bucket=bucket, Key=key,
                                   Range=f"bytes={start}-{end - 1}")["Body"].read()


def open_stream(location):
    """A streaming body (file-like, `.read()`, `.iter_lines()`) for large objects."""
    bucket, key = split(location)
    return client("s3").get_object(Bucket=bucket, Key=key)["Body"]


def put_file(location, path):
    bucket, key = split(location)
    client("s3").upload_file(path, bucket, key)
    return uri(bucket, key)


def get_file(location, path):
    bucket, key = split(location)
    client("s3").download_file(bucket, key, path)
    return path


def head(location):
    """{"size", "etag", "lastModified"} of one object, or None if it is missing."""
    bucket, key = split(location)
    s3 = client("s3")
    try:
        out = s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
            return None
        raise
    return {"size": out["ContentLength"], "etag": out.get("ETag"),
            "lastModified": out.get("LastModified")}


def list_prefix(location):
    """[{"key", "size", "location", "lastModified"}] of every object under a prefix, in key order."""
    bucket, prefix = split(location)
    s3 = client("s3")
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            found.append({"key": obj["Key"], "size": obj["Size"], "location": uri(bucket, obj["Key"]),
                          "lastModified": obj.get("LastModified")})
    return found


def delete_prefix(location):
    """Delete every object under a prefix; returns how many."""
    bucket, _ = split(location)
    keys = [o["key"] for o in list_prefix(location)]
    s3 = client("s3")
    for start in range(0, len(keys), 1000):
        chunk = keys[start:start + 1000]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
    return len(keys)


def delete(location):
    bucket, key = split(location)
    client("s3").delete_object(Bucket=bucket, Key=key)


def total_size(location):
    """Bytes at a location: the object itself, else everything under it as a prefix."""
    found = head(location)
    if found is not None:
        return found["size"]
    return sum(o["size"] for o in list_prefix(location))
