"""CSV cells -> typed column arrays, per the field's Avro type.

Seed: "Datasets and Schemas" (Avro schemas; optional fields) and "Formatting
your Input Data" (TIMESTAMP is the Unix time). Rules:

- `string`: any text, but no NUL character in an id field (USER_ID, ITEM_ID,
  ACTION_ID); `int` / `long`: a base-10 integer within 32 / 64 bits;
  `float` / `double`: a finite number; `boolean`: true/false (or 1/0).
- An empty cell is null, allowed only when the type is a union with "null".
- TIMESTAMP holds Unix time in *seconds*: not negative, and below 10^10
  (values that large are almost always milliseconds).

`convert` takes the vectorised numpy path and, only when that fails or a
check trips, walks the column cell by cell to say which cells break which
rule (`explain`).
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import numpy as np

from chalicelib.datasets.schema import FieldSpec

INT32 = (-(1 << 31), (1 << 31) - 1)
INT64 = (-(1 << 63), (1 << 63) - 1)
MAX_TIMESTAMP = 10 ** 10
TRUE, FALSE = ("true", "1"), ("false", "0")

# Record ids are what users, recommendations and filters name: a NUL in one is a broken
# file (or a binary one), not an id; no client can send it back. Other characters, quoted
# line breaks included, are the file's own business.
ID_FIELDS = frozenset({"USER_ID", "ITEM_ID", "ACTION_ID"})

NUMERIC_DTYPES = {"int": np.int64, "long": np.int64, "float": np.float64, "double": np.float64}


class CellProblems(Exception):
    """(row index, message) pairs for the cells of one column that break a rule."""

    def __init__(self, problems: List[Tuple[int, str]]):
        super().__init__(f"{len(problems)} bad cells")
        self.problems = problems


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:37] + "...")


def cell_problem(value: str, spec: FieldSpec) -> Optional[str]:
    """Why `value` cannot be a `spec` value, or None if it can."""
    if value == "":
        if spec.nullable:
            return None
        return f"empty value, but type {spec.type} does not allow null"
    kind = spec.type
    if kind in ("int", "long"):
        try:
            number = int(value)
        except ValueError:
            return f"{_show(value)} is not an integer ({kind})"
        low, high = INT32 if kind == "int" else INT64
        if not low <= number <= high:
            return f"{_show(value)} is out of range for {kind}"
        if spec.name == "TIMESTAMP":
            if number < 0:
                return f"{_show(value)} is negative; TIMESTAMP is Unix time in seconds"
            if number >= MAX_TIMESTAMP:
                return (f"{_show(value)} is too large for Unix time in seconds "
                        "(milliseconds?)")
        return None
    if kind in ("float", "double"):
        try:
            number = float(value)
        except ValueError:
            return f"{_show(value)} is not a number ({kind})"
        if not math.isfinite(number):
            return f"{_show(value)} is not a finite number ({kind})"
        return None
    if kind == "boolean":
        if value.strip().lower() in TRUE + FALSE:
            return None
        return f"{_show(value)} is not a boolean (true or false)"
    if spec.name in ID_FIELDS:
        at = value.find("\x00")
        if at >= 0:
            return (f"{_show(value)} holds a NUL character (U+0000) at position "
                    f"{at + 1}; an id is text without NUL")
    return None  # string: any text


def explain(values: Sequence[str], spec: FieldSpec) -> List[Tuple[int, str]]:
    out = []
    for i, value in enumerate(values):
        message = cell_problem(value, spec)
        if message:
            out.append((i, message))
    return out


def convert(values: Sequence[str], spec: FieldSpec) -> Tuple[object, Optional[np.ndarray]]:
    """Return `(data, null_mask)` for one column of a batch.

    `data` is the list of strings itself for `string` fields (the version
    writer dictionary-encodes them), int64 / float64 / int8 arrays otherwise;
    `null_mask` is a bool array (True = null) or None when no cell is null.
    Raises CellProblems listing every bad cell.
    """
    has_empty = "" in values
    if has_empty and not spec.nullable:
        raise CellProblems(explain(values, spec))
    mask = None
    if has_empty:
        mask = np.fromiter((v == "" for v in values), dtype=bool, count=len(values))
    if spec.type == "string":
        if spec.name in ID_FIELDS and any("\x00" in v for v in values):
            raise CellProblems(explain(values, spec))
        return values, mask
    if mask is not None:
        values = ["0" if m else v for v, m in zip(values, mask)]
    if spec.type == "boolean":
        lowered = [v.strip().lower() for v in values]
        bad = [i for i, v in enumerate(lowered) if v not in TRUE + FALSE]
        if bad:
            raise CellProblems(explain(values, spec))
        data = np.fromiter((v in TRUE for v in lowered), dtype=np.int8, count=len(values))
        return data, mask
    try:
        data = np.array(values, dtype=NUMERIC_DTYPES[spec.type])
    except (ValueError, OverflowError):
        raise CellProblems(explain(values, spec)) from None
    if spec.type in ("float", "double"):
        ok = bool(np.isfinite(data).all())
    elif spec.type == "int":
        ok = bool(((data >= INT32[0]) & (data <= INT32[1])).all())
    else:
        ok = True
    if ok and spec.name == "TIMESTAMP":
        ok = bool(((data >= 0) & (data < MAX_TIMESTAMP)).all())
    if not ok:
        problems = explain(values, spec)
        if mask is not None:  # placeholders "0" stand for nulls, never a problem
            problems = [(i, m) for i, m in problems if not mask[i]]
        raise CellProblems(problems)
    if spec.type == "int":
        data = data.astype(np.int32)
    return data, mask
