"""Plain Python values <-> DynamoDB attribute values.

Records are plain dicts of JSON-like values plus `datetime`s. DynamoDB has no
timestamp or float type, so:
- a `datetime` is stored as epoch seconds (number, microsecond precision) and
  every member whose name ends in "DateTime" is read back as an aware UTC
  `datetime` (the seed's timestamp members all end so);
- floats are stored as exact decimals and read back as floats, integral
  numbers as ints;
- top-level members that are None are not stored (absent = not set).
"""
from datetime import datetime, timezone
from decimal import Decimal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_ser = TypeSerializer()
_de = TypeDeserializer()


def to_epoch(value):
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def _prepare(value):
    if isinstance(value, datetime):
        return Decimal(f"{to_epoch(value):.6f}")
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes)):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, dict):
        return {str(k): _prepare(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_prepare(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [_prepare(v) for v in sorted(value)]
    raise TypeError(f"cannot store a {type(value).__name__}")


def _restore(value, name=""):
    if isinstance(value, Decimal):
        if name.endswith("DateTime"):
            return datetime.fromtimestamp(float(value), tz=timezone.utc)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _restore(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_restore(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if hasattr(value, "value") and type(value).__name__ == "Binary":
        return bytes(value.value)
    return value


def encode_value(value):
    """One Python value -> a DynamoDB AttributeValue."""
    return _ser.serialize(_prepare(value))


def encode(record):
    """A record (dict) -> a DynamoDB item; None members are dropped."""
    return {k: encode_value(v) for k, v in record.items() if v is not None}


def decode(item):
    """A DynamoDB item -> a record (dict)."""
    return {k: _restore(_de.deserialize(v), k) for k, v in item.items()}
