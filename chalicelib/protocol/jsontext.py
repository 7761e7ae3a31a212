"""Request JSON as the protocol layer accepts it: decoded once, with its limits.

Every JSON text a client sends (the request body; the JSON inside PutEvents `properties`)
is read by `load_json`, so nesting depth and Unicode validity are checked in one place
before anything else touches the value (issue 16: a body nested 1,000 levels deep or a
lone surrogate used to escape as a 500). Imports only `protocol.errors`, so the service
modules and `observability` may use it too.
"""
import itertools
import json
import re
import threading

from chalicelib.protocol import errors

# No input shape of the three models nests deeper than a dozen levels; JSON text nested
# deeper than this is refused before it is parsed (json.loads recurses once per level).
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


# this thread's last decoded request body: (the bytes object, what, value). The logging
# middleware (`observability`) and the dispatcher both read a request's body; the second read
# is the same bytes object (Chalice keeps `raw_body`), so it is decoded once per request. Only
# valid bodies are kept; neither reader changes the value (parse_input builds a new one).
_last = threading.local()


class JsonTooDeep(errors.SerializationException):
    """JSON text nested deeper than MAX_JSON_DEPTH."""


def load_json(raw, what="Request body"):
    """The one decoder of request JSON: strict UTF-8, at most MAX_JSON_DEPTH levels of
    nesting, and every string (member or key) valid Unicode - a `\\ud800` escape without
    its pair decodes to a lone surrogate, which no UTF-8 store or client can carry.
    SerializationException for text that is not such JSON, InvalidInputException naming the
    member that holds a lone surrogate."""
    kept = getattr(_last, "body", None)
    if kept is not None and kept[0] is raw and kept[1] == what:
        return kept[2]
    body = _decode(raw, what)
    if isinstance(raw, (bytes, bytearray)):
        _last.body = (raw, what, body)
    return body


def _decode(raw, what):
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
    except UnicodeDecodeError as e:
        raise errors.SerializationException(f"{what} is not valid UTF-8: {e}") from None
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH:
        brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
        depth = max(itertools.accumulate(_DEPTH_STEP[c] for c in brackets), default=0)
        if depth > MAX_JSON_DEPTH:
            raise JsonTooDeep(
                f"{what} nests JSON {depth} levels deep; at most {MAX_JSON_DEPTH} are allowed")
    try:
        body = json.loads(text)
    except ValueError as e:
        raise errors.SerializationException(f"{what} is not valid JSON: {e}") from None
    if _SURROGATE_ESCAPE.search(text):
        where = _lone_surrogate(body, "")
        if where is not None:
            raise errors.InvalidInputException(
                f"Value at '{where or '(body)'}' failed to satisfy constraint: Member must be valid "
                "Unicode text (it holds a lone UTF-16 surrogate, such as \\ud800 without its pair)")
    return body


def member_json(text, where):
    """The JSON value inside a string member (a schema, a record's `properties`), under
    `load_json`'s limits; every problem is an InvalidInputException naming `where`."""
    try:
        return load_json(text, what=where)
    except errors.SerializationException as e:
        raise errors.InvalidInputException(e.message) from None


def _lone_surrogate(value, path):
    """The path of the first string (or map key) that is not encodable as UTF-8, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            where = _lone_surrogate(key, f"{path}.key" if path else "key")
            if where is None:
                where = _lone_surrogate(item, f"{path}.{key}" if path else key)
            if where is not None:
                return where.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        for i, item in enumerate(value):
            where = _lone_surrogate(item, f"{path}.{i + 1}")
            if where is not None:
                return where
    return None
