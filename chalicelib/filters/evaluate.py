"""A parsed filter + the request's filterValues + the data it reads -> the rows it allows
(numpy; no storage, no AWS SDK: the runtime hands over the arrays).

Today's developer guide, "Filter expressions":
- INCLUDE "limit[s] recommendations to only items that meet the filter criteria", EXCLUDE
  "remove[s] all items that meet the filter criteria";
- "Combining multiple expressions": `Include A | Include B` includes A or B, `Exclude A |
  Exclude B` excludes A or B, and with both kinds "the subtraction of the EXCLUDE expression
  result from the INCLUDE expression result"; the order of the expressions does not matter;
- filterValues: "For filter expressions that use an INCLUDE element ... you must provide
  values for all parameters"; for EXCLUDE "you can omit the filter-values. In this case,
  Amazon Personalize doesn't use that portion of the expression": here the condition with the
  unbound parameter is dropped from its AND/OR chain, an expression left with no condition is
  dropped, and an unbound IF condition is dropped (the expression then applies unconditionally);
- an IF CurrentUser condition that does not hold (or a user with no Users row) drops its
  expression for this request;
- IN matches exact strings; the cells of a categorical field hold several values separated
  by `|` and match when any of them is listed; a row without the field matches no IN and no
  comparison (so NOT IN, the negation of IN, keeps it);
- "Amazon Personalize ignores case only when matching event types"; `*` is every event type;
- CurrentItem.<field> is the item the request names (related items); an item without a
  value for it matches nothing.

`allowed(...)` gives a boolean mask over the rows (the model's items for ItemID filters,
users for UserID ones).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, FrozenSet, List, Optional, Union

import numpy as np

from chalicelib.filters import language as lang
from chalicelib.filters.language import FilterError


@dataclass
class StringColumn:
    """A string field over the rows: `codes` (int, -1 where the row has no value) into
    `tokens` (one frozenset of values per distinct cell; a categorical cell split on `|`)."""
    codes: np.ndarray
    tokens: List[FrozenSet[str]]


@dataclass
class NumberColumn:
    values: np.ndarray   # float64, NaN where the row has no value


Column = Union[StringColumn, NumberColumn]
Scalar = Union[FrozenSet[str], float, None]   # a current user's / item's field value


@dataclass
class Inputs:
    """What the evaluator reads, for one request.
    - `size`: rows (items of the model's index, or users);
    - `column(dataset, FIELD)`: a field of ITEMS (ItemID filters) or USERS (UserID) over the
      rows, None when no row has it;
    - `interacted(event_types)`: rows the current user interacted with by one of the
      (lower-case) event types, every type when None; for UserID filters, users who did;
    - `current_user(FIELD)` / `current_item(FIELD)`: that field's value, None when unknown."""
    size: int
    column: Callable[[str, str], Optional[Column]]
    interacted: Callable[[Optional[FrozenSet[str]]], np.ndarray]
    current_user: Callable[[str], Scalar] = lambda name: None
    current_item: Callable[[str], Scalar] = lambda name: None


Bound = Dict[str, List[Union[str, float]]]


def bind(f: lang.Filter, filter_values: Optional[Dict[str, str]], where: str = "filterValues") -> Bound:
    """filterValues -> parameter values. FilterError when a key names no parameter of the
    filter, or a parameter of an INCLUDE expression is not given."""
    given = dict(filter_values or {})
    params = f.parameters
    for key in given:
        if key not in params:
            known = ", ".join(f"${p}" for p in params) or "none"
            raise FilterError(f"{where}.{key}: the filter has no parameter ${key} "
                              f"(parameter names match in case; the filter's: {known})")
    for name, actions in params.items():
        if name not in given and lang.INCLUDE in actions:
            raise FilterError(f"{where}: ${name} is required (an INCLUDE expression uses it)")
    return {k: lang.parse_values(k, v) for k, v in given.items()}


def _text(v) -> str:
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v)


def _number(v, name) -> float:
    if isinstance(v, float):
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        raise FilterError(f"filterValues.{name}: {v!r} is not a number (the parameter is "
                          "compared with a numeric field)") from None


class _Evaluator:
    def __init__(self, bound: Bound, inputs: Inputs):
        self.bound, self.inputs = bound, inputs

    # values of a condition: a list, "all" (*), or None (unbound parameter: drop the condition)
    def values(self, c: lang.Condition):
        out: list = []
        for v in c.values:
            if isinstance(v, lang.Star):
                return "all"
            if isinstance(v, lang.Literal):
                out.append(v.value)
            elif isinstance(v, lang.Param):
                if v.name not in self.bound:
                    return None
                out.extend(self.bound[v.name])
            else:   # CurrentItem.<field>
                value = self.inputs.current_item(v.name.upper())
                if value is None:
                    return []
                out.extend(sorted(value) if isinstance(value, frozenset) else [value])
        return out

    def condition(self, c: lang.Condition) -> Optional[np.ndarray]:
        values = self.values(c)
        if values is None:
            return None
        n = self.inputs.size
        if c.field.dataset == lang.INTERACTIONS:
            types = None if values == "all" else frozenset(_text(v).lower() for v in values)
            return np.asarray(self.inputs.interacted(types), bool)
        column = self.inputs.column(lang._dataset_of(c.field.dataset), c.field.name.upper())
        if c.op in (lang.IN, lang.NOT_IN):
            hit = np.zeros(n, bool)
            if isinstance(column, StringColumn):
                wanted = {_text(v) for v in values}
                per_code = np.fromiter((bool(t & wanted) for t in column.tokens), bool,
                                       len(column.tokens))
                per_code = np.append(per_code, False)     # code -1: no value
                hit = per_code[np.where(column.codes < 0, len(column.tokens), column.codes)]
            elif isinstance(column, NumberColumn):
                wanted = [_number(v, c.field.name) for v in values if not isinstance(v, str)
                          or _is_number(v)]
                hit = np.isin(column.values, np.asarray(wanted, np.float64))
            return ~hit if c.op == lang.NOT_IN else hit
        if not values:       # CurrentItem without the field
            return np.zeros(n, bool)
        param = next((v.name for v in c.values if isinstance(v, lang.Param)), c.field.name)
        if len(values) != 1:
            raise FilterError(f"filterValues.{param}: a comparison takes one number, "
                              f"not {len(values)}")
        x = _number(values[0], param)
        if not isinstance(column, NumberColumn):
            return np.zeros(n, bool)
        with np.errstate(invalid="ignore"):
            return _COMPARE[c.op](column.values, x) & ~np.isnan(column.values)

    def node(self, node) -> Optional[np.ndarray]:
        if isinstance(node, lang.Condition):
            return self.condition(node)
        parts = [m for m in (self.node(p) for p in node.parts) if m is not None]
        if not parts:
            return None
        out = parts[0].copy()
        for m in parts[1:]:
            out = (out & m) if node.op == "AND" else (out | m)
        return out

    def user_condition(self, c: lang.Condition) -> Optional[bool]:
        values = self.values(c)
        if values is None:
            return None
        value = self.inputs.current_user(c.field.name.upper())
        if value is None:
            return False
        if c.op in (lang.IN, lang.NOT_IN):
            if isinstance(value, frozenset):
                hit = bool(value & {_text(v) for v in values})
            else:
                hit = any(_is_number(v) and _number(v, c.field.name) == value for v in values)
            return not hit if c.op == lang.NOT_IN else hit
        param = next((v.name for v in c.values if isinstance(v, lang.Param)), c.field.name)
        if len(values) != 1:
            raise FilterError(f"filterValues.{param}: a comparison takes one number")
        if isinstance(value, frozenset):
            return False
        return bool(_COMPARE[c.op](np.float64(value), _number(values[0], param)))

    def applies(self, e: lang.Expression) -> bool:
        if e.condition_if is None:
            return True
        parts = [e.condition_if] if isinstance(e.condition_if, lang.Condition) else e.condition_if.parts
        held = [self.user_condition(c) for c in parts]
        return all(h for h in held if h is not None)


def _is_number(v) -> bool:
    if isinstance(v, float):
        return True
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


_COMPARE = {"=": np.equal, "<": np.less, "<=": np.less_equal, ">": np.greater,
            ">=": np.greater_equal}


def matches(f: lang.Filter, bound: Bound, inputs: Inputs) -> Dict[str, Optional[np.ndarray]]:
    """{INCLUDE: union of the applying INCLUDE expressions' rows (None: none applies),
    EXCLUDE: likewise}."""
    ev = _Evaluator(bound, inputs)
    out: Dict[str, Optional[np.ndarray]] = {lang.INCLUDE: None, lang.EXCLUDE: None}
    for e in f.expressions:
        if not ev.applies(e):
            continue
        rows = ev.node(e.where)
        if rows is None:
            continue
        out[e.action] = rows if out[e.action] is None else (out[e.action] | rows)
    return out


def allowed(f: lang.Filter, bound: Bound, inputs: Inputs) -> np.ndarray:
    """Boolean mask over the rows: what the filter lets through (Include - Exclude)."""
    m = matches(f, bound, inputs)
    keep = np.ones(inputs.size, bool) if m[lang.INCLUDE] is None else m[lang.INCLUDE].copy()
    if m[lang.EXCLUDE] is not None:
        keep &= ~m[lang.EXCLUDE]
    return keep
