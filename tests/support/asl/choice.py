"""Choice rules of the Amazon States Language (JSONPath flavour).

A rule is a boolean expression (`And`, `Or`, `Not`) or a data-test
expression: `Variable` plus one comparison operator. Comparing values of the
wrong type is false, not an error (a StringEquals on a number does not
match); a `Variable` that does not resolve is a `States.Runtime` error except
for `IsPresent`.
"""
from datetime import datetime

from .paths import PathError, evaluate, is_present


class ChoiceRuntimeError(Exception):
    """A Variable or *Path operand that does not resolve (States.Runtime)."""


def parse_timestamp(value):
    """RFC 3339 timestamp as Step Functions takes it (`2016-08-18T17:33:00Z`),
    or None if `value` is not one."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _string_matches(value, pattern):
    """`*` matches any run of characters; `\\*` and `\\\\` are literal."""
    tokens, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            tokens.append(("lit", pattern[i + 1]))
            i += 2
        elif c == "*":
            tokens.append(("star", None))
            i += 1
        else:
            tokens.append(("lit", c))
            i += 1

    def match(ti, vi):
        while ti < len(tokens):
            kind, ch = tokens[ti]
            if kind == "star":
                return any(match(ti + 1, k) for k in range(vi, len(value) + 1))
            if vi >= len(value) or value[vi] != ch:
                return False
            ti, vi = ti + 1, vi + 1
        return vi == len(value)

    return match(0, 0)


def _cmp(kind, op):
    """Comparison of two values of one type; False if either has another type."""
    def compare(a, b):
        if kind == "String":
            ok = isinstance(a, str) and isinstance(b, str)
        elif kind == "Numeric":
            ok = _is_number(a) and _is_number(b)
        elif kind == "Boolean":
            ok = isinstance(a, bool) and isinstance(b, bool)
        else:  # Timestamp
            a, b = parse_timestamp(a), parse_timestamp(b)
            ok = a is not None and b is not None
        return ok and op(a, b)
    return compare


_OPS = {
    "Equals": lambda a, b: a == b,
    "LessThan": lambda a, b: a < b,
    "GreaterThan": lambda a, b: a > b,
    "LessThanEquals": lambda a, b: a <= b,
    "GreaterThanEquals": lambda a, b: a >= b,
}

COMPARATORS = {}
for _kind in ("String", "Numeric", "Timestamp"):
    for _name, _op in _OPS.items():
        COMPARATORS[_kind + _name] = _cmp(_kind, _op)
COMPARATORS["BooleanEquals"] = _cmp("Boolean", _OPS["Equals"])
COMPARATORS["StringMatches"] = lambda a, b: isinstance(a, str) and isinstance(b, str) and _string_matches(a, b)

TYPE_TESTS = {
    "IsNull": lambda v: v is None,
    "IsNumeric": _is_number,
    "IsString": lambda v: isinstance(v, str),
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsTimestamp": lambda v: parse_timestamp(v) is not None,
}


def evaluate_rule(rule, data, context):
    """True if the choice rule matches the state's effective input `data`."""
    if "And" in rule:
        return all(evaluate_rule(r, data, context) for r in rule["And"])
    if "Or" in rule:
        return any(evaluate_rule(r, data, context) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate_rule(rule["Not"], data, context)
    variable = rule.get("Variable")
    if variable is None:
        raise ChoiceRuntimeError(f"choice rule without Variable: {rule}")
    if "IsPresent" in rule:
        return is_present(variable, data, context) == rule["IsPresent"]
    try:
        value = evaluate(variable, data, context)
    except PathError:
        raise ChoiceRuntimeError(f"Invalid path {variable!r}: the choice state's condition "
                                 "path references an invalid value.") from None
    for name, test in TYPE_TESTS.items():
        if name in rule:
            return test(value) == rule[name]
    for name, compare in COMPARATORS.items():
        if name in rule:
            return compare(value, rule[name])
        if name + "Path" in rule:
            try:
                other = evaluate(rule[name + "Path"], data, context)
            except PathError:
                raise ChoiceRuntimeError(f"Invalid path {rule[name + 'Path']!r} in {name}Path") from None
            return compare(value, other)
    raise ChoiceRuntimeError(f"choice rule without a comparison operator: {rule}")
