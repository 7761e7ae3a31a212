"""`aws-similar-items` (RELATED_ITEMS; today's "Similar-Items recipe"): items similar to a given
item by co-occurrence in user histories and by item metadata, so cold items (fewer than five
interactions, today's definition) get similar items too.

Each item gets two unit vectors, compared by cosine:

- co-occurrence: the item's row of the truncated SVD of the normalised users x items presence
  matrix (`spectral.item_factors`, the factorised co-occurrence that SIMS counts pairwise),
  `item_id_hidden_dim` columns;
- metadata: the item's row of the Items dataset features (`features.metadata_features`:
  categorical values, short strings, numbers) reduced by a truncated SVD to
  `item_metadata_hidden_dim` columns.
A cold item's co-occurrence vector is predicted from its metadata vector by a ridge map fitted on
the warm items (`RIDGE_LAMBDA`), so cold items take part on both sides. An item's vector is the
two parts side by side, scaled by `sqrt(1 - METADATA_WEIGHT)` and `sqrt(METADATA_WEIGHT)` (a
part it lacks is zero), so similarity is the weighted mean of the two cosines. Decided here:
`METADATA_WEIGHT` 0.25 (coarse metadata such as a handful of genres ties many items at cosine 1;
with equal weights it outvoted co-occurrence for items that have plenty of it). A predicted
co-occurrence part counts `PREDICTED_SHARE` (its norm): it is the mean of the items with the
same metadata, close to every item of that metadata, and would otherwise crowd out the items
that really co-occur.

`popularity_discount_factor` p: a candidate's score is its similarity minus
`p * log1p(count) / log1p(max count)` ("closer to zero includes more popular items, closer to one
puts less emphasis on popularity"; 0, the default, leaves similarity alone). `item_theme` is not
served. An item the model cannot place (unknown, or neither interactions nor metadata) gets no
list here; the runtime answers popular items (today: "If Amazon Personalize can't find the item
ID ..., the recipe returns popular items").
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import numpy as np

from chalicelib.algorithms.base import RELATED_ITEMS, Model, Recipe, TrainingData, top_n
from chalicelib.algorithms.data import user_sequences
from chalicelib.algorithms.features import metadata_features
from chalicelib.algorithms.spectral import item_factors, randomized_svd
from chalicelib.domain.recipes import parse_hyperparameters

NAME = "aws-similar-items"
COLD_MAX_INTERACTIONS = 5
RIDGE_LAMBDA = 1.0
METADATA_WEIGHT = 0.25
PREDICTED_SHARE = 0.5


def _unit(v: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norms, out=np.zeros_like(v), where=norms > 0)


class SimilarItemsModel(Model):
    recipe = NAME
    recipe_type = RELATED_ITEMS

    def __init__(self, item_ids, hyperparameters=None, *, vectors, counts):
        super().__init__(item_ids, hyperparameters)
        self.vectors = np.asarray(vectors, np.float32)      # [I, k + m], rows of norm 0 or ~1
        self.counts = np.asarray(counts, np.int64)
        p = float(parse_hyperparameters(NAME, self.hyperparameters)["popularity_discount_factor"])
        top = np.log1p(max(int(self.counts.max(initial=0)), 1))
        self._discount = p * np.log1p(self.counts) / top
        self._placed = np.linalg.norm(self.vectors, axis=1) > 0

    def similar_items(self, items: np.ndarray, n: int) -> Tuple[np.ndarray, np.ndarray]:
        q = np.asarray(items, np.int64).reshape(-1)
        ok = (q >= 0) & (q < self.item_ids.shape[0])
        ok[ok] = self._placed[q[ok]]
        s = np.full((q.shape[0], self.item_ids.shape[0]), -np.inf)
        if ok.any():
            s[ok] = self.vectors[q[ok]] @ self.vectors.T - self._discount
            s[:, ~self._placed] = -np.inf
            s[np.flatnonzero(ok), q[ok]] = -np.inf          # never the item itself
        return top_n(s, n)

    def arrays(self) -> Dict[str, np.ndarray]:
        return {"vectors": self.vectors, "counts": self.counts}

    @classmethod
    def from_artifacts(cls, item_ids, hyperparameters, arrays, meta):
        return cls(item_ids, hyperparameters, vectors=arrays["vectors"], counts=arrays["counts"])


def metadata_vectors(data: TrainingData, k: int, rng) -> np.ndarray:
    """`[I, <=k]` truncated-SVD coordinates of the items' metadata features (zeros without)."""
    f, _ = metadata_features(data.items, data.n_items)
    if f is None or f.nnz == 0:
        return np.zeros((data.n_items, 0))
    k = min(k, min(f.shape) - 1)
    if k < 1:
        return f.toarray()
    s, vt = randomized_svd(f.tocsr(), k, rng)
    return np.asarray(f @ vt.T)


class SimilarItems(Recipe):
    name = NAME
    recipe_type = RELATED_ITEMS
    model_class = SimilarItemsModel

    def fit(self, data: TrainingData, hyperparameters: Dict[str, str], *, seed: int = 0,
            log: Callable[[str], None] = lambda msg: None) -> SimilarItemsModel:
        p = parse_hyperparameters(NAME, hyperparameters or {})
        if len(data.interactions) == 0:
            raise ValueError("no interactions to train on")
        rng = np.random.default_rng(seed)
        items, _, bounds = user_sequences(data)
        counts = np.bincount(data.interactions.item, minlength=data.n_items).astype(np.int64)
        inter = item_factors(items, bounds[:-1], bounds[1:], data.n_items, int(p["item_id_hidden_dim"]),
                             rng, 1.0)
        inter = np.zeros((data.n_items, 0)) if inter is None else inter
        meta = _unit(metadata_vectors(data, int(p["item_metadata_hidden_dim"]), rng))
        warm = counts >= COLD_MAX_INTERACTIONS
        cold = ~warm & (np.linalg.norm(meta, axis=1) > 0)
        if inter.shape[1] and meta.shape[1] and warm.sum() >= 2 and cold.any():
            xw = np.hstack([meta[warm], np.ones((int(warm.sum()), 1))])
            coef = np.linalg.solve(xw.T @ xw + RIDGE_LAMBDA * np.eye(xw.shape[1]), xw.T @ inter[warm])
            inter = inter.copy()
            inter[cold] = np.hstack([meta[cold], np.ones((int(cold.sum()), 1))]) @ coef
        inter = _unit(inter)
        inter[cold] *= PREDICTED_SHARE
        vectors = np.hstack([inter * np.sqrt(1.0 - METADATA_WEIGHT), meta * np.sqrt(METADATA_WEIGHT)])
        log(f"{NAME}: {inter.shape[1]} co-occurrence and {meta.shape[1]} metadata dimensions, "
            f"{int(cold.sum())} cold items placed by metadata")
        return SimilarItemsModel(data.item_ids, dict(hyperparameters or {}), vectors=vectors, counts=counts)
