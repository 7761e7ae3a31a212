"""aws-item-affinity and aws-item-attribute-affinity: USER_SEGMENTATION recipes (today's
developer guide, "Item-Affinity recipe" and "Item-Attribute-Affinity recipe"; CreateBatchSegmentJob).

"Item-Affinity ... predicts the users most likely to interact with each item";
"Item-Attribute-Affinity ... users most likely to interact with items that have a particular
attribute value". Neither has hyperparameters a caller sets. Ours (numpy/scipy only):

- The model is a low-rank reconstruction of the presence matrix A (users x items): with
  du, di the users' and items' interaction counts, X = Du^-1/2 A Di^-1/2 is factored by a
  truncated SVD X ~ P S Q^T (rank `RANK`, at most a quarter of the smaller side), and A_hat = Du^1/2 P S Q^T Di^1/2 is stored as
  user factors `U = Du^1/2 P S` and item factors `V = Di^1/2 Q`, so `U[u] . V[i] = A_hat[u, i]`:
  how strongly the interactions say user u engages with item i. The normalisation keeps
  popular items and heavy users out of the leading directions (as in `spectral`); the
  reconstruction puts the users' activity back, since an active user is the more likely one to
  engage.
- A segment for an item is the users with the highest `A_hat[:, i]`; for an attribute query it
  is the users with the highest sum of `A_hat[u, i]` over the items that match (the expected
  engagement with that part of the catalogue). Users who already interacted with the item are
  kept: a marketing segment wants the engaged users too, and the guide says nothing of
  excluding them.
- Attribute queries are the guide's form, `ITEMS.GENRES = "Comedy" AND ITEMS.GENRES = "Action"`
  (`ITEMS.` optional, field names case-insensitive, `AND` binding tighter than `OR`,
  parentheses, string or number values). A categorical field (`|`-separated categories)
  matches when one of its categories equals the value. `parse_attributes` is a small
  recursive-descent parser; errors name the position.
- Training metrics read the same matrix row-wise: `recommend` gives a user's top items from
  `U[u] . V`, so the evaluation protocol of the USER_PERSONALIZATION recipes applies.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp

from chalicelib.algorithms.base import (USER_SEGMENTATION, History, Metadata, Model, Recipe,
                                        TrainingData, exclude_histories, in_catalogue, top_n)
from chalicelib.algorithms.spectral import DENSE_SVD_MAX_CELLS, randomized_svd
from chalicelib.domain.recipes import parse_hyperparameters

ITEM_AFFINITY = "aws-item-affinity"
ITEM_ATTRIBUTE_AFFINITY = "aws-item-attribute-affinity"
RANK = 64


class QueryError(ValueError):
    """An itemAttributes expression that cannot be read or does not fit the Items data."""


# --- the model ---------------------------------------------------------------------------------
class AffinityModel(Model):
    recipe = ITEM_AFFINITY
    recipe_type = USER_SEGMENTATION

    def __init__(self, item_ids, hyperparameters=None, *, user_ids, user_factors, item_factors,
                 item_counts, item_fields: Optional[Dict[str, np.ndarray]] = None,
                 categorical=()):
        super().__init__(item_ids, hyperparameters)
        self.user_ids = np.asarray(user_ids, dtype=str)
        self.user_factors = np.asarray(user_factors, np.float32)
        self.item_factors = np.asarray(item_factors, np.float32)
        self.item_counts = np.asarray(item_counts, np.float32)   # users per item (fold-in)
        self.item_fields = dict(item_fields or {})
        self.categorical = tuple(categorical)
        self._user_pos = None

    def user_index(self, user_id) -> int:
        """The model's index of a user id, -1 when unknown (the runtime asks models for it)."""
        if self._user_pos is None:
            self._user_pos = {u: i for i, u in enumerate(self.user_ids.tolist())}
        return self._user_pos.get(str(user_id), -1)

    # --- segments ------------------------------------------------------------------------------
    def segment(self, weights: np.ndarray, n: int) -> Tuple[np.ndarray, np.ndarray]:
        """Top-n users for each row of `weights` ([Q, n_items], one weight per item): scores
        `U @ (V^T w)`; `[Q, n]` user indices and scores, best first (-1 / -inf padding)."""
        weights = np.atleast_2d(np.asarray(weights, np.float32))
        scores = (self.user_factors @ (self.item_factors.T @ weights.T)).T
        return top_n(scores.astype(np.float64), n)

    def item_weights(self, items: np.ndarray) -> np.ndarray:
        """One-hot rows for item indices (an item-affinity query per row)."""
        w = np.zeros((len(items), self.item_ids.shape[0]), np.float32)
        w[np.arange(len(items)), np.asarray(items, np.int64)] = 1.0
        return w

    def attribute_weights(self, expression: str) -> np.ndarray:
        """The items an itemAttributes expression selects, as a 0/1 row (QueryError when it
        cannot be read or names a field the Items data lacks)."""
        if not self.item_fields:
            raise QueryError("this solution version was trained without an Items dataset: "
                             "there are no item attributes to match")
        return parse_attributes(expression).mask(self).astype(np.float32)

    # --- the row-wise reading (training metrics) -----------------------------------------------
    def recommend(self, histories: Sequence[History], n: int, *, users=None,
                  exclude_history: bool = True) -> Tuple[np.ndarray, np.ndarray]:
        if users is not None:
            users = np.asarray(users, np.int64)
            known = (users >= 0) & (users < self.user_factors.shape[0])
            rows = np.where(known[:, None], self.user_factors[np.where(known, users, 0)], 0.0)
        else:
            rows = np.zeros((len(histories), self.item_factors.shape[1]), np.float32)
        # a user without a trained row (unknown, or no interactions at training time) is folded
        # in from the history: U[u] = sum over its items of V[i] / d_i is exactly what
        # `factorize` gives a user with those interactions
        empty = ~rows.any(axis=1)
        for r in np.flatnonzero(empty):
            items = np.unique(in_catalogue(histories[r].items, self.item_ids.shape[0]))
            if items.size:
                weights = 1.0 / np.maximum(self.item_counts[items], 1.0)
                rows[r] = (self.item_factors[items] * weights[:, None]).sum(axis=0)
        scores = (rows @ self.item_factors.T).astype(np.float64)
        if exclude_history:
            exclude_histories(scores, histories)
        return top_n(scores, n)

    # --- artifacts -----------------------------------------------------------------------------
    def arrays(self) -> Dict[str, np.ndarray]:
        out = {"user_ids": self.user_ids, "user_factors": self.user_factors,
               "item_factors": self.item_factors, "item_counts": self.item_counts}
        out.update({f"field.{k}": v for k, v in self.item_fields.items()})
        return out

    def meta(self) -> dict:
        return {"categorical": list(self.categorical)}

    @classmethod
    def from_artifacts(cls, item_ids, hyperparameters, arrays, meta):
        fields = {k[len("field."):]: v for k, v in arrays.items() if k.startswith("field.")}
        return cls(item_ids, hyperparameters, user_ids=arrays["user_ids"],
                   user_factors=arrays["user_factors"], item_factors=arrays["item_factors"],
                   item_counts=arrays["item_counts"],
                   item_fields=fields, categorical=meta.get("categorical") or ())


class AttributeAffinityModel(AffinityModel):
    recipe = ITEM_ATTRIBUTE_AFFINITY


def factorize(data: TrainingData, rank: int, seed: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(U [n_users, k], V [n_items, k], users per item)` with `U @ V.T` the low-rank A_hat
    (module docstring)."""
    it = data.interactions
    a = sp.csr_matrix((np.ones(len(it)), (it.user, it.item)), shape=(data.n_users, data.n_items))
    a.data[:] = 1.0                                      # presence, not repeat counts
    du = np.asarray(a.sum(axis=1)).ravel()
    di = np.asarray(a.sum(axis=0)).ravel()
    x = sp.diags(1.0 / np.sqrt(np.maximum(du, 1))) @ a @ sp.diags(1.0 / np.sqrt(np.maximum(di, 1)))
    # a rank near the matrix's own would give back A itself (every seen pair 1, nothing learnt)
    k = max(1, min(rank, min(x.shape) // 4))
    if x.shape[0] * x.shape[1] <= DENSE_SVD_MAX_CELLS or k >= min(x.shape) - 1:
        _, s, vt = np.linalg.svd(x.toarray(), full_matrices=False)
        s, vt = s[:k], vt[:k]
    else:
        s, vt = randomized_svd(x.tocsr(), k, np.random.default_rng(seed))
    ps = np.asarray(x @ vt.T)                            # = P S
    users = np.sqrt(du)[:, None] * ps
    items = np.sqrt(di)[:, None] * vt.T
    return users.astype(np.float32), items.astype(np.float32), di


class ItemAffinity(Recipe):
    name = ITEM_AFFINITY
    recipe_type = USER_SEGMENTATION
    model_class = AffinityModel

    def fit(self, data: TrainingData, hyperparameters: Dict[str, str], *, seed: int = 0,
            log: Callable[[str], None] = lambda msg: None) -> AffinityModel:
        params = parse_hyperparameters(self.name, hyperparameters)   # none exist: rejects any
        if not len(data.interactions):
            raise ValueError(f"{self.name}: there are no interactions to learn affinities from")
        users, items, counts = factorize(data, RANK, seed)
        fields, categorical = self.item_fields(data.items)
        log(f"{self.name}: rank-{users.shape[1]} affinities of {data.n_users} users and "
            f"{data.n_items} items")
        return self.model_class(data.item_ids, {k: str(v) for k, v in params.items()},
                                user_ids=data.user_ids, user_factors=users, item_factors=items,
                                item_counts=counts,
                                item_fields=fields, categorical=categorical)

    def item_fields(self, items: Optional[Metadata]):
        return {}, ()


class ItemAttributeAffinity(ItemAffinity):
    name = ITEM_ATTRIBUTE_AFFINITY
    model_class = AttributeAffinityModel

    def item_fields(self, items: Optional[Metadata]):
        """The Items dataset's fields, kept with the model: queries are answered from them."""
        if items is None or not items.fields:
            raise ValueError(f"{self.name} needs an Items dataset with at least one attribute "
                             "(queries select items by their attribute values)")
        return dict(items.fields), tuple(items.categorical)


# --- itemAttributes expressions ----------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:(?P<str>\"(?:[^\"\\]|\\.)*\")|(?P<num>-?\d+(?:\.\d+)?)|"
                    r"(?P<op>=|\(|\))|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))")


@dataclass(frozen=True)
class Compare:
    field: str
    value: Union[str, float]

    def mask(self, model: AffinityModel) -> np.ndarray:
        names = {k.upper(): k for k in model.item_fields}
        key = names.get(self.field.upper())
        if key is None:
            raise QueryError(f"{self.field} is not a field of the Items dataset "
                             f"(fields: {', '.join(sorted(model.item_fields))})")
        column = model.item_fields[key]
        if column.dtype.kind in "fiu":
            try:
                return column == float(self.value)
            except ValueError:
                raise QueryError(f"{key} is numeric; {self.value!r} is not a number") from None
        value = str(self.value if not isinstance(self.value, float) else _num(self.value))
        if key in model.categorical:
            return np.array([value in str(v).split("|") for v in column], bool)
        return column.astype(str) == value


@dataclass(frozen=True)
class Logical:
    op: str                 # AND | OR
    parts: Tuple

    def mask(self, model: AffinityModel) -> np.ndarray:
        masks = [p.mask(model) for p in self.parts]
        out = masks[0]
        for m in masks[1:]:
            out = (out & m) if self.op == "AND" else (out | m)
        return out


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def _tokens(text: str) -> List[Tuple[str, object, int]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QueryError(f"unexpected character {text[pos:].lstrip()[:1]!r} at position "
                             f"{len(text) - len(text[pos:].lstrip()) + 1}")
        start = m.start(m.lastgroup)
        kind, raw = m.lastgroup, m.group(m.lastgroup)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif kind == "num":
            value = float(raw)
        elif kind == "word" and raw.upper() in ("AND", "OR"):
            kind, value = "op", raw.upper()
        else:
            value = raw
        out.append((kind, value, start + 1))
        pos = m.end()
    return out


def parse_attributes(text: str):
    """`ITEMS.F = "v" [AND|OR ...]` -> an expression tree with `.mask(model)`; QueryError names
    the position (1-based) of what it cannot read."""
    if not isinstance(text, str) or not text.strip():
        raise QueryError("itemAttributes must be a non-empty expression such as "
                         'ITEMS.GENRES = "Comedy"')
    tokens = _tokens(text)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else ("end", None, len(text) + 1)

    def take(kind, value=None, what=""):
        nonlocal pos
        tok = peek()
        if tok[0] != kind or (value is not None and tok[1] != value):
            shown = "the end" if tok[0] == "end" else repr(tok[1] if tok[0] != "str" else f'"{tok[1]}"')
            raise QueryError(f"expected {what} at position {tok[2]}, found {shown}")
        pos += 1
        return tok

    def disjunction():
        parts = [conjunction()]
        while peek()[:2] == ("op", "OR"):
            take("op", "OR")
            parts.append(conjunction())
        return parts[0] if len(parts) == 1 else Logical("OR", tuple(parts))

    def conjunction():
        parts = [primary()]
        while peek()[:2] == ("op", "AND"):
            take("op", "AND")
            parts.append(primary())
        return parts[0] if len(parts) == 1 else Logical("AND", tuple(parts))

    def primary():
        if peek()[:2] == ("op", "("):
            take("op", "(")
            inner = disjunction()
            take("op", ")", "')'")
            return inner
        name = take("word", what="a field such as ITEMS.GENRES")[1]
        field_name = name[len("ITEMS."):] if name.upper().startswith("ITEMS.") else name
        if not field_name or "." in field_name:
            raise QueryError(f"{name}: only fields of the Items dataset (ITEMS.<field>) can be matched")
        take("op", "=", "'='")
        tok = peek()
        if tok[0] not in ("str", "num"):
            take("str", what="a quoted value")
        pos_value = take(tok[0])
        return Compare(field_name, pos_value[1])

    tree = disjunction()
    if pos != len(tokens):
        take("end", what="AND, OR or the end")
    return tree
