"""Generic request validation driven by the service model.

botocore's own ParamValidator checks types, required members and `min`, but a
server must also enforce `max`, `pattern`, `enum` and numeric ranges. Messages
follow the AWS form ("Value 'x' at 'name' failed to satisfy constraint: ...")
so that they name the field and the rule (seed: API Reference, "Errors" ->
InvalidInputException).
"""
import base64
import datetime as _dt
import functools
import re
import sys
import unicodedata

MAX_REPORTED = 10


class Problems:
    def __init__(self):
        self.items = []

    def add(self, path, value, rule):
        shown = _show(value)
        where = f" at '{path}'" if path else ""
        prefix = f"Value {shown}" if shown is not None else "Value"
        self.items.append(f"{prefix}{where} failed to satisfy constraint: {rule}")

    def missing(self, path):
        self.items.append(f"Value null at '{path}' failed to satisfy constraint: Member must not be null")

    def message(self):
        n = len(self.items)
        head = f"{n} validation error{'s' if n != 1 else ''} detected: "
        return head + "; ".join(self.items[:MAX_REPORTED]) + ("; ..." if n > MAX_REPORTED else "")


def _show(value):
    if isinstance(value, (dict, list)):
        return None
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "...'"


@functools.lru_cache(maxsize=None)
def _regex(pattern):
    """Compile an AWS (Java flavoured) pattern; None if Python cannot express it.

    Matched against the whole value, as the service's validator does (a name
    like "bad name!" fails `^[a-zA-Z0-9][a-zA-Z0-9\\-_]*`)."""
    try:
        return re.compile(_java_properties(pattern), re.DOTALL)
    except re.error:
        return None


_PROPERTY = re.compile(r"\\p\{(\w+)\}")


def _java_properties(pattern):
    """Java's `\\p{L}`-style classes (today's TagKey / TagValue, NextToken) spelled as the
    code point ranges Python's `re` understands; other patterns come back unchanged."""
    out, pos, depth = [], 0, 0
    for m in _PROPERTY.finditer(pattern):
        head = pattern[pos:m.start()]
        depth = _class_depth(head, depth)
        ranges = _property_ranges(m.group(1))
        out += [head, ranges if depth else f"[{ranges}]"]
        pos = m.end()
    return "".join(out) + pattern[pos:] if out else pattern


def _class_depth(text, depth):
    """Whether (1) or not (0) the end of `text` is inside a [...] class, starting at `depth`."""
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "[":
            depth = 1
        elif ch == "]":
            depth = 0
    return depth


@functools.lru_cache(maxsize=None)
def _property_ranges(name):
    """`a-b` ranges of the code points in Unicode general category `name` (a one- or
    two-letter category such as L, Z, Nd) or ASCII; re.error for any other name."""
    if name == "ASCII":
        return r"\x00-\x7f"
    found = [r for category, ranges in _category_ranges().items() if category.startswith(name)
             for r in ranges]
    if not found or not re.fullmatch(r"[A-Z][a-z]?", name):
        raise re.error(f"unsupported property {name}")
    merged = []
    for a, b in sorted(found):
        if merged and a == merged[-1][1] + 1:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    return "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in merged)


@functools.lru_cache(maxsize=1)
def _category_ranges():
    """Two-letter general category -> [(first, last) code point], in one pass over Unicode."""
    out, current, start = {}, None, 0
    for cp in range(sys.maxunicode + 2):
        category = unicodedata.category(chr(cp)) if cp <= sys.maxunicode else None
        if category != current:
            if current is not None:
                out.setdefault(current, []).append((start, cp - 1))
            current, start = category, cp
    return out


def validate(shape, value, path=""):
    """Return a list of problems (empty when `value` fits `shape`)."""
    problems = Problems()
    _check(shape, value, path, problems)
    return problems


def _check(shape, value, path, problems):
    kind = shape.type_name
    checker = _CHECKS.get(kind)
    if checker is not None:
        checker(shape, value, path, problems)


def _check_structure(shape, value, path, problems):
    if not isinstance(value, dict):
        problems.add(path, value, "Member must be a structure")
        return
    for name in shape.required_members:
        if value.get(name) is None:
            problems.missing(_join(path, name))
    for name, member in shape.members.items():
        if name in value and value[name] is not None:
            _check(member, value[name], _join(path, name), problems)


def _check_string(shape, value, path, problems):
    _string_rules(shape)(value, path, problems)


def shape_key(shape):
    """A key naming a shape for the life of its service model: (resolver, shape name). botocore
    builds a new Shape tree for every OperationModel, so the object itself would not do; the
    entry keeps the resolver, so its id is not reused while the entry lives."""
    resolver = getattr(shape, "_shape_resolver", None)
    return (id(resolver), shape.name), resolver


def per_shape(cache, shape, make):
    """`make(shape)`, made once per shape of a service model and kept in `cache`."""
    key, resolver = shape_key(shape)
    found = cache.get(key)
    if found is not None and found[0] is resolver:
        return found[1]
    made = make(shape)
    cache[key] = (resolver, made)
    return made


# string shape -> its check with the shape's rules read once (a 500-item inputList checks
# 500 strings of one shape; issue 15: fixed costs per request)
_string_checks = {}


def _string_rules(shape):
    return per_shape(_string_checks, shape, _make_string_check)


def _make_string_check(shape):
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    enum = shape.enum
    pattern = shape.metadata.get("pattern")
    rx = _regex(pattern) if pattern else None

    def violations(value):
        """The rules `value` breaks, in the order they are reported; `()` when none (a list's
        items are tried by this first: a valid item costs no path text)."""
        if not isinstance(value, str):
            return ("Member must be a string",)
        size, broken = len(value), ()
        if lo is not None and size < lo:
            broken += (f"Member must have length greater than or equal to {lo}",)
        if hi is not None and size > hi:
            broken += (f"Member must have length less than or equal to {hi}",)
        if enum and value not in enum:
            broken += (f"Member must satisfy enum value set: [{', '.join(enum)}]",)
        if rx is not None and value and rx.fullmatch(value) is None:
            broken += (f"Member must satisfy regular expression pattern: {pattern}",)
        return broken

    def check(value, path, problems):
        for rule in violations(value):
            problems.add(path, value, rule)
    check.violations = violations
    return check


def _length(shape, size, value, path, problems, unit="length"):
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is not None and size < lo:
        problems.add(path, value, f"Member must have {unit} greater than or equal to {lo}")
    if hi is not None and size > hi:
        problems.add(path, value, f"Member must have {unit} less than or equal to {hi}")


def _check_integer(shape, value, path, problems):
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            problems.add(path, value, "Member must be an integer")
            return
    _range(shape, value, path, problems)


def _check_float(shape, value, path, problems):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems.add(path, value, "Member must be a number")
        return
    if value != value or value in (float("inf"), float("-inf")):
        problems.add(path, value, "Member must be a finite number")
        return
    _range(shape, value, path, problems)


def _range(shape, value, path, problems):
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is not None and value < lo:
        problems.add(path, value, f"Member must have value greater than or equal to {lo}")
    if hi is not None and value > hi:
        problems.add(path, value, f"Member must have value less than or equal to {hi}")


def _check_boolean(shape, value, path, problems):
    if not isinstance(value, bool):
        problems.add(path, value, "Member must be a boolean")


def _check_list(shape, value, path, problems):
    if not isinstance(value, list):
        problems.add(path, value, "Member must be a list")
        return
    _length(shape, len(value), None, path, problems, unit="length")
    member = shape.member
    if member.type_name == "string":
        check = _string_rules(member)
        if not any(map(check.violations, value)):   # the usual request: no per-item paths
            return
    else:
        check = lambda item, where, problems: _check(member, item, where, problems)  # noqa: E731
    for i, item in enumerate(value):
        if item is None:
            problems.missing(f"{path}.{i + 1}")
        else:
            check(item, f"{path}.{i + 1}", problems)


def _check_map(shape, value, path, problems):
    if not isinstance(value, dict):
        problems.add(path, value, "Member must be a map")
        return
    _length(shape, len(value), None, path, problems, unit="length")
    for key, item in value.items():
        _check(shape.key, key, f"{path}.key", problems)
        if item is None:
            problems.missing(f"{path}.{key}")
        else:
            _check(shape.value, item, f"{path}.{key}", problems)


def _check_timestamp(shape, value, path, problems):
    if parse_timestamp(value) is None:
        problems.add(path, value, "Member must be a timestamp (epoch seconds or ISO 8601)")


def _check_blob(shape, value, path, problems):
    if not isinstance(value, str):
        problems.add(path, value, "Member must be a base64-encoded string")
        return
    try:
        base64.b64decode(value, validate=True)
    except ValueError:
        problems.add(path, value, "Member must be a base64-encoded string")


def parse_timestamp(value):
    """Epoch seconds (number) or ISO 8601 string -> aware datetime, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return _dt.datetime.fromtimestamp(value, _dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                return parse_timestamp(float(value))
            except ValueError:
                return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.timezone.utc)
    return None


def _join(path, name):
    return f"{path}.{name}" if path else name


_CHECKS = {
    "structure": _check_structure,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "float": _check_float,
    "double": _check_float,
    "boolean": _check_boolean,
    "list": _check_list,
    "map": _check_map,
    "timestamp": _check_timestamp,
    "blob": _check_blob,
}
