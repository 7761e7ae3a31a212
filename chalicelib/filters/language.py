"""The filter expression language of today's Amazon Personalize, parsed by one tokenizer and
one recursive-descent parser (standard library only).

Today's developer guide, "Filter expressions" and "Filter expression structure and elements":
`EXCLUDE/INCLUDE ItemID/UserID WHERE dataset type.field IN/NOT IN (value/parameter)`, chained
with `|`. The grammar this module implements (keywords and dataset names case-insensitive,
field names as written; `<x>?` optional, `{x}` zero or more):

    filter       := expression { "|" expression } END
    expression   := action target "WHERE" or_chain [ "IF" if_chain ]
    action       := "INCLUDE" | "EXCLUDE"
    target       := "ItemID" | "UserID"
    or_chain     := and_chain { "OR" and_chain }          AND binds tighter than OR
    and_chain    := condition { "AND" condition }
    condition    := field predicate
    if_chain     := user_condition { "AND" user_condition }   "extend an IF condition using AND"
    user_condition := "CurrentUser" "." NAME predicate
    field        := ("Items" | "Users" | "Interactions") "." NAME
    predicate    := ["NOT"] "IN" value_set | compare scalar
    compare      := "=" | "<" | "<=" | ">" | ">="
    value_set    := "(" value { "," value } ")" | current
    value        := STRING | NUMBER | PARAM | "*" | current
    scalar       := NUMBER | PARAM | current
    current      := ("CurrentItem" | "CurrentUser") "." NAME
    STRING       := '"' chars '"'   (\\" and \\\\ escapes)      PARAM := "$" NAME
    NUMBER       := ["-"] digits ["." digits]                  NAME  := [A-Za-z_][A-Za-z0-9_]*

The documented rules checked after parsing (each error names the rule and the position):
- `Interactions` filters only on EVENT_TYPE, with IN ("you can filter only based on event
  type"); `*` ("interactions of all types") only there;
- "You can't use Item Interaction and Item datasets in one expression"; "Conditions chained
  together using AND or OR can only affect fields of the dataset used in the first condition";
- `IF` "only to check conditions for the CurrentUser and only once at the end of an
  expression"; CurrentUser appears nowhere else; `CurrentItem` only on the value side of an
  Items condition, and only in ItemID filters (related-items recommendations);
- ItemID filters condition on Items or Interactions; UserID filters (user segments) on Users
  or Interactions;
- "You can't use placeholder parameters in a filter expression that uses the NOT_IN operator";
- comparison operators "test numerical data" (a string literal there is an error).
Field types (numeric for comparisons, string for IN, no boolean) are checked against the
dataset group's schemas by `check_fields`, which the CreateFilter handler calls.
Positions are 1-based character offsets into the expression text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple, Union

# --- limits (today's API model and "Amazon Personalize endpoints and quotas") ----------------
MAX_EXPRESSION_LENGTH = 2500          # FilterExpression max length (the model)
MAX_FIELDS_PER_FILTER = 10            # "distinct dataset fields for a filter", one or chained expressions
MAX_FIELDS_PER_DATASET_GROUP = 20     # "distinct dataset fields across all filters in a dataset group"
MAX_FILTERS_PER_DATASET_GROUP = 30    # "Total number of filters per dataset group" (adjustable)
MAX_INTERACTIONS_PER_EVENT_TYPE = 100  # "item interactions per user per event type considered by a filter"
# The quotas name no count of parameters; each needs a key in filterValues, a map of at most
# 25 entries (FilterValues in the runtime model), so a filter with more could never be bound.
MAX_PARAMETERS = 25
MAX_VALUE_LENGTH = 1000               # FilterAttributeValue max length (one filterValues entry)

KEYWORDS = {"INCLUDE", "EXCLUDE", "ITEMID", "USERID", "WHERE", "AND", "OR", "IN", "NOT", "IF"}
ITEMS, USERS, INTERACTIONS = "Items", "Users", "Interactions"
CURRENT_ITEM, CURRENT_USER = "CurrentItem", "CurrentUser"
DATASETS = {d.upper(): d for d in (ITEMS, USERS, INTERACTIONS, CURRENT_ITEM, CURRENT_USER)}
ITEM_ID, USER_ID = "ItemID", "UserID"
INCLUDE, EXCLUDE = "INCLUDE", "EXCLUDE"
IN, NOT_IN = "IN", "NOT IN"
COMPARISONS = ("=", "<", "<=", ">", ">=")
EVENT_TYPE = "EVENT_TYPE"


class FilterError(ValueError):
    """An expression (or a bound value) that breaks the language: `position` is 1-based, or
    None when the error is not at one place."""

    def __init__(self, message: str, position: Optional[int] = None):
        text = f"Invalid filter expression at position {position}: {message}" \
            if position is not None else f"Invalid filter expression: {message}"
        super().__init__(text)
        self.rule, self.position = message, position


# --- tokens -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str        # NAME, STRING, NUMBER, PARAM, SYMBOL, END
    text: str        # the source text of the token
    value: object    # the NAME upper-cased, the STRING unescaped, the NUMBER as float
    position: int    # 1-based

    def shown(self) -> str:
        return "end of expression" if self.kind == "END" else f"'{self.text}'"


_SPACE = re.compile(r"\s+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_SYMBOLS = ("<=", ">=", "(", ")", ",", ".", "|", "*", "<", ">", "=")


def tokenize(text: str) -> List[Token]:
    """Tokens of `text`, ending with END; FilterError at the first character no token starts with."""
    tokens, i, n = [], 0, len(text)
    while i < n:
        space = _SPACE.match(text, i)
        if space:
            i = space.end()
            continue
        ch = text[i]
        if ch == '"':
            j, chars = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                chars.append(text[j])
                j += 1
            if j >= n:
                raise FilterError("a string opened here is never closed (missing '\"')", i + 1)
            tokens.append(Token("STRING", text[i:j + 1], "".join(chars), i + 1))
            i = j + 1
            continue
        if ch == "$":
            name = _NAME.match(text, i + 1)
            if not name:
                raise FilterError("'$' must be followed by a parameter name such as $GENRE", i + 1)
            tokens.append(Token("PARAM", text[i:name.end()], name.group(), i + 1))
            i = name.end()
            continue
        number = _NUMBER.match(text, i)
        if number:
            tokens.append(Token("NUMBER", number.group(), float(number.group()), i + 1))
            i = number.end()
            continue
        name = _NAME.match(text, i)
        if name:
            tokens.append(Token("NAME", name.group(), name.group().upper(), i + 1))
            i = name.end()
            continue
        symbol = next((s for s in _SYMBOLS if text.startswith(s, i)), None)
        if symbol is None:
            hint = " (strings are written in double quotes)" if ch == "'" else ""
            raise FilterError(f"unexpected character '{ch}'{hint}", i + 1)
        tokens.append(Token("SYMBOL", symbol, symbol, i + 1))
        i += len(symbol)
    tokens.append(Token("END", "", None, n + 1))
    return tokens


# --- syntax tree ------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldRef:
    dataset: str     # one of ITEMS, USERS, INTERACTIONS, CURRENT_ITEM, CURRENT_USER
    name: str        # as written
    position: int

    def __str__(self):
        return f"{self.dataset}.{self.name}"


@dataclass(frozen=True)
class Literal:
    value: Union[str, float]
    position: int


@dataclass(frozen=True)
class Param:
    name: str
    position: int


@dataclass(frozen=True)
class Star:
    position: int


Value = Union[Literal, Param, Star, FieldRef]


@dataclass(frozen=True)
class Condition:
    field: FieldRef
    op: str                  # IN, NOT IN, or one of COMPARISONS
    values: Tuple[Value, ...]   # IN / NOT IN: the set; a comparison: one scalar
    position: int


@dataclass(frozen=True)
class Chain:
    op: str                  # AND / OR
    parts: Tuple["Node", ...]


Node = Union[Condition, Chain]


@dataclass(frozen=True)
class Expression:
    action: str              # INCLUDE / EXCLUDE
    target: str              # ItemID / UserID
    where: Node
    condition_if: Optional[Node]   # CurrentUser conditions (AND only), or None
    position: int


@dataclass(frozen=True)
class Filter:
    text: str
    expressions: Tuple[Expression, ...]
    target: str = field(default=ITEM_ID)

    def conditions(self) -> Iterable[Condition]:
        for e in self.expressions:
            for node in (e.where, e.condition_if):
                yield from _conditions(node)

    @property
    def parameters(self) -> Dict[str, List[str]]:
        """Parameter name -> the actions of the expressions that use it."""
        out: Dict[str, List[str]] = {}
        for e in self.expressions:
            for c in _conditions(e.where) + _conditions(e.condition_if):
                for v in c.values:
                    if isinstance(v, Param):
                        out.setdefault(v.name, [])
                        if e.action not in out[v.name]:
                            out[v.name].append(e.action)
        return out

    @property
    def fields(self) -> List[Tuple[str, str]]:
        """Distinct (dataset, field) pairs the filter reads, CurrentItem/CurrentUser as the
        Items/Users fields they are, in order of appearance."""
        seen: List[Tuple[str, str]] = []
        for c in self.conditions():
            for ref in [c.field] + [v for v in c.values if isinstance(v, FieldRef)]:
                key = (_dataset_of(ref.dataset), ref.name.upper())
                if key not in seen:
                    seen.append(key)
        return seen

    @property
    def uses_current_item(self) -> bool:
        return any(isinstance(v, FieldRef) and v.dataset == CURRENT_ITEM
                   for c in self.conditions() for v in c.values)


def _dataset_of(name):
    return {CURRENT_ITEM: ITEMS, CURRENT_USER: USERS}.get(name, name)


def _conditions(node) -> List[Condition]:
    if node is None:
        return []
    if isinstance(node, Condition):
        return [node]
    return [c for part in node.parts for c in _conditions(part)]


# --- parser -----------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def expected(self, what: str):
        raise FilterError(f"expected {what}, found {self.tok.shown()}", self.tok.position)

    def keyword(self, *words) -> Optional[Token]:
        """Consume the NAME token if it is one of `words` (upper case)."""
        if self.tok.kind == "NAME" and self.tok.value in words:
            self.i += 1
            return self.tokens[self.i - 1]
        return None

    def symbol(self, *symbols) -> Optional[Token]:
        if self.tok.kind == "SYMBOL" and self.tok.value in symbols:
            self.i += 1
            return self.tokens[self.i - 1]
        return None

    def parse(self) -> Filter:
        expressions = [self.expression()]
        while self.symbol("|"):
            expressions.append(self.expression())
        if self.tok.kind != "END":
            self.expected("AND, OR, IF, '|' or the end of the expression")
        return Filter(self.text, tuple(expressions), expressions[0].target)

    def expression(self) -> Expression:
        start = self.tok
        action = self.keyword(INCLUDE, EXCLUDE) or self.expected("INCLUDE or EXCLUDE")
        target = self.keyword("ITEMID", "USERID") or self.expected("ItemID or UserID")
        self.keyword("WHERE") or self.expected("WHERE")
        where = self.or_chain()
        condition_if = None
        if self.keyword("IF"):
            parts = [self.user_condition()]
            while self.keyword("AND"):
                parts.append(self.user_condition())
            if self.tok.kind == "NAME" and self.tok.value == "OR":
                raise FilterError("an IF condition can be extended with AND only", self.tok.position)
            condition_if = parts[0] if len(parts) == 1 else Chain("AND", tuple(parts))
        return Expression(action.value, ITEM_ID if target.value == "ITEMID" else USER_ID,
                          where, condition_if, start.position)

    def or_chain(self) -> Node:
        parts = [self.and_chain()]
        while self.keyword("OR"):
            parts.append(self.and_chain())
        return parts[0] if len(parts) == 1 else Chain("OR", tuple(parts))

    def and_chain(self) -> Node:
        parts = [self.condition()]
        while self.keyword("AND"):
            parts.append(self.condition())
        return parts[0] if len(parts) == 1 else Chain("AND", tuple(parts))

    def field(self, allowed: Tuple[str, ...], what: str) -> FieldRef:
        tok = self.tok
        if tok.kind != "NAME" or DATASETS.get(tok.value) not in allowed:
            self.expected(what)
        self.i += 1
        self.symbol(".") or self.expected(f"'.' and a field name after {tok.text}")
        name = self.tok
        if name.kind != "NAME":
            self.expected(f"a field name after {tok.text}.")
        self.i += 1
        return FieldRef(DATASETS[tok.value], name.text, tok.position)

    def condition(self) -> Condition:
        if self.tok.kind == "NAME" and self.tok.value == "IF":
            self.expected("a condition")
        ref = self.field((ITEMS, USERS, INTERACTIONS, CURRENT_ITEM, CURRENT_USER),
                         "a dataset field such as Items.GENRE or Interactions.EVENT_TYPE")
        return self.predicate(ref)

    def user_condition(self) -> Condition:
        ref = self.field((CURRENT_USER,), "CurrentUser.<field> (IF checks the current user only)")
        return self.predicate(ref)

    def predicate(self, ref: FieldRef) -> Condition:
        at = self.tok
        if self.keyword("NOT"):
            self.keyword("IN") or self.expected("IN after NOT")
            return Condition(ref, NOT_IN, self.value_set(), at.position)
        if self.keyword("IN"):
            return Condition(ref, IN, self.value_set(), at.position)
        op = self.symbol(*COMPARISONS)
        if op:
            return Condition(ref, op.value, (self.scalar(),), at.position)
        self.expected("IN, NOT IN or a comparison (=, <, <=, >, >=)")

    def current(self) -> FieldRef:
        return self.field((CURRENT_ITEM, CURRENT_USER), "CurrentItem.<field> or CurrentUser.<field>")

    def value_set(self) -> Tuple[Value, ...]:
        if self.tok.kind == "NAME":      # `IN CurrentItem.GENRE`, as the guide writes it
            return (self.current(),)
        self.symbol("(") or self.expected("'(' and a list of values")
        values = [self.value()]
        while self.symbol(","):
            values.append(self.value())
        self.symbol(")") or self.expected("',' or ')'")
        return tuple(values)

    def value(self) -> Value:
        tok = self.tok
        if tok.kind in ("STRING", "NUMBER"):
            self.i += 1
            return Literal(tok.value, tok.position)
        if tok.kind == "PARAM":
            self.i += 1
            return Param(tok.value, tok.position)
        if self.symbol("*"):
            return Star(tok.position)
        if tok.kind == "NAME":
            return self.current()
        self.expected("a value (a \"string\", a number, a $PARAMETER, * or CurrentItem.<field>)")

    def scalar(self) -> Value:
        tok = self.tok
        if tok.kind == "NUMBER":
            self.i += 1
            return Literal(tok.value, tok.position)
        if tok.kind == "PARAM":
            self.i += 1
            return Param(tok.value, tok.position)
        if tok.kind == "STRING":
            raise FilterError(f"comparison operators test numerical data; {tok.text} is a "
                              "string (use IN for strings)", tok.position)
        if tok.kind == "NAME":
            return self.current()
        self.expected("a number, a $PARAMETER or CurrentItem.<field>")


def _check_rules(f: Filter) -> None:
    """The documented rules that are not grammar (see the module docstring)."""
    targets = {e.target for e in f.expressions}
    if len(targets) > 1:
        raise FilterError("expressions joined with '|' must all filter ItemID or all UserID",
                          f.expressions[1].position)
    for e in f.expressions:
        where = _conditions(e.where)
        first = where[0].field.dataset
        for c in where:
            ds = c.field.dataset
            if ds == CURRENT_USER:
                raise FilterError("CurrentUser can be checked only in an IF condition at the end "
                                  "of an expression", c.field.position)
            if ds == CURRENT_ITEM:
                raise FilterError("CurrentItem can only be the value an Items field is compared "
                                  "with (Items.GENRE IN CurrentItem.GENRE)", c.field.position)
            if ds != first:
                rule = ("you can't use Item interaction and Item datasets in one expression; "
                        "chain two expressions with '|'") if INTERACTIONS in (ds, first) else \
                    f"conditions chained with AND or OR can only use fields of {first}"
                raise FilterError(rule, c.field.position)
            allowed = (ITEMS, INTERACTIONS) if e.target == ITEM_ID else (USERS, INTERACTIONS)
            if ds not in allowed:
                raise FilterError(f"a {e.target} filter conditions on {' or '.join(allowed)}, "
                                  f"not {ds}", c.field.position)
            _check_condition(c, e)
        for c in _conditions(e.condition_if):
            if e.target != ITEM_ID:
                raise FilterError("IF CurrentUser applies to ItemID filters only", c.field.position)
            _check_condition(c, e)


def _check_condition(c: Condition, e: Expression) -> None:
    interactions = c.field.dataset == INTERACTIONS
    if interactions and c.field.name.upper() != EVENT_TYPE:
        raise FilterError(f"interactions can be filtered on EVENT_TYPE only, not "
                          f"{c.field.name}", c.field.position)
    if interactions and c.op != IN:
        raise FilterError("Interactions.EVENT_TYPE takes IN (a list of event types, or *)",
                          c.position)
    for v in c.values:
        if isinstance(v, Star) and not interactions:
            raise FilterError("* (all values) can be used only with Interactions.EVENT_TYPE",
                              v.position)
        if isinstance(v, Star) and len(c.values) > 1:
            raise FilterError("* stands for every event type and cannot be listed with others",
                              v.position)
        if isinstance(v, Param) and c.op == NOT_IN:
            raise FilterError(f"placeholder parameters (${v.name}) "
                              "can't be used with NOT IN; use IN with the opposite action "
                              "(INCLUDE instead of EXCLUDE, or the reverse)", v.position)
        if isinstance(v, FieldRef):
            if v.dataset == CURRENT_USER:
                raise FilterError("CurrentUser can be checked only in an IF condition",
                                  v.position)
            if c.field.dataset != ITEMS or e.target != ITEM_ID:
                raise FilterError("CurrentItem can be compared with Items fields of an ItemID "
                                  "filter only", v.position)
            if len(c.values) > 1:
                raise FilterError("CurrentItem.<field> stands alone as the value list",
                                  v.position)


def parse(text: str) -> Filter:
    """Parse and check one filter expression; FilterError naming the position and the rule."""
    if text is None or not text.strip():
        raise FilterError("the expression is empty", 1)
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise FilterError(f"the expression is {len(text)} characters long; at most "
                          f"{MAX_EXPRESSION_LENGTH} are allowed")
    f = _Parser(text).parse()
    _check_rules(f)
    params = f.parameters
    if len(params) > MAX_PARAMETERS:
        raise FilterError(f"{len(params)} placeholder parameters; at most {MAX_PARAMETERS} "
                          "(filterValues holds at most that many)")
    if len(f.fields) > MAX_FIELDS_PER_FILTER:
        raise FilterError(f"{len(f.fields)} distinct dataset fields; a filter can use at most "
                          f"{MAX_FIELDS_PER_FILTER}")
    return f


# --- schema checks (CreateFilter) -------------------------------------------------------------
NUMERIC = ("int", "long", "float", "double")


def check_fields(f: Filter, field_types: Dict[str, Dict[str, str]]) -> None:
    """Every field the filter names exists in the dataset group with a type its operator can
    use. `field_types`: dataset (ITEMS, USERS, INTERACTIONS) -> {FIELD NAME upper: avro type};
    a dataset the group lacks is absent. FilterError naming the field and its position."""
    for c in f.conditions():
        refs = [c.field] + [v for v in c.values if isinstance(v, FieldRef)]
        for ref in refs:
            dataset = _dataset_of(ref.dataset)
            if dataset == INTERACTIONS:
                if INTERACTIONS not in field_types:
                    raise FilterError("the dataset group has no Interactions dataset for "
                                      f"{ref}", ref.position)
                continue   # EVENT_TYPE: recorded events carry one even when the schema has none
            types = field_types.get(dataset)
            if types is None:
                raise FilterError(f"the dataset group has no {dataset} dataset for {ref}",
                                  ref.position)
            kind = types.get(ref.name.upper())
            if kind is None:
                raise FilterError(f"field {ref.name} is not in the {dataset} dataset's schema",
                                  ref.position)
            if kind == "boolean":
                raise FilterError(f"field {ref} is boolean; filters can't use boolean fields "
                                  "(use a string field with \"True\"/\"False\" or 0/1)", ref.position)
            if c.op in COMPARISONS and kind not in NUMERIC:
                raise FilterError(f"comparison operators test numerical data; {ref} is a "
                                  f"{kind} field", ref.position)


# --- filterValues -----------------------------------------------------------------------------
def parse_values(name: str, text: str) -> List[Union[str, float]]:
    """One filterValues entry -> its values. Today's API: "Separate multiple values for one
    parameter with a comma"; strings are written in double quotes (`"\\"Comedy\\",\\"Drama\\""`),
    numbers bare. A value without any quote is taken as comma-separated bare words."""
    where = f"filterValues.{name}"
    if text is None or not str(text).strip():
        raise FilterError(f"{where}: no value given")
    text = str(text)
    if len(text) > MAX_VALUE_LENGTH:
        raise FilterError(f"{where}: {len(text)} characters; at most {MAX_VALUE_LENGTH}")
    if '"' not in text:
        words = [w.strip() for w in text.split(",")]
        if any(not w for w in words):
            raise FilterError(f"{where}: an empty value in {text!r}")
        out: List[Union[str, float]] = []
        for w in words:
            try:
                out.append(float(w))
            except ValueError:
                out.append(w)
        return out
    try:
        tokens = tokenize(text)
    except FilterError as e:
        raise FilterError(f"{where}: {e.rule} (character {e.position})") from None
    out, expect_value = [], True
    for tok in tokens[:-1]:
        if expect_value and tok.kind in ("STRING", "NUMBER"):
            out.append(tok.value)
        elif not expect_value and tok.kind == "SYMBOL" and tok.value == ",":
            pass
        else:
            raise FilterError(f"{where}: expected {'a quoted value' if expect_value else 'a comma'} "
                              f"at character {tok.position}, found {tok.shown()}")
        expect_value = not expect_value
    if expect_value:
        raise FilterError(f"{where}: a value must follow the last comma")
    return out
