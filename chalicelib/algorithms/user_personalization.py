"""`aws-user-personalization` (today's "User-Personalization recipe"): the HRNN-metadata network
over the user's history, plus exploration of new and rarely seen items at serving time.

The network, its training and its batched scoring are HRNN's (`hrnn.py`: `train_hrnn`,
`encode`, the metadata features of HRNN-metadata); this module maps today's hyperparameters onto
them and adds exploration. What each hyperparameter drives:

- `hidden_dimension`: the GRU's hidden units (HRNN's `model.num_hidden`).
- `bptt`: the truncated back-propagation window, in steps (HRNN's fixed `BPTT_STEPS` = 10).
- `recency_mask`: true weights each training step's loss by `2 ** (-age / h)` of its next
  interaction, `h` = `RECENCY_HALF_LIFE_SHARE` of the data's time span (`data.recency_weights`);
  false weighs all interactions equally.
- `min_user_history_length_percentile` / `max_user_history_length_percentile`: users whose
  history length lies outside these percentiles are left out of training
  (`data.history_length_filter`); they are still served from their history.
- `exploration_weight` / `exploration_item_age_cut_off`: the defaults of the exploration below;
  a campaign's `campaignConfig.itemExplorationConfig` (`explorationWeight`,
  `explorationItemAgeCutOff`) overrides them per request (`serving_options`).
The HRNN settings today's recipe does not expose keep the HRNN table's defaults (1 layer,
dropout 0.2, 31 streams, at most `hrnn.DEFAULT_MAX_EPOCHS` epochs with early stopping).

Exploration. Candidates are the items with fewer than `COLD_MAX_INTERACTIONS` training
interactions (today's guide calls an item with fewer than five interactions cold) whose age is
at most the cut-off. An item's age is in days before the latest training interaction ("since the
latest interaction across all items"), from its `CREATION_TIMESTAMP` in the Items dataset, else
its first interaction; an item with neither (in the Items dataset only) is new (age 0). A
candidate scores for a user by the user's output vector against a predicted output
representation: from its metadata by HRNN-coldstart's ridge map
(`hrnn.output_side_from_metadata`), from the network's own where it has interactions and no
metadata, the warm items' mean otherwise. A top-n list gives every
`1 / (weight * MAX_EXPLORATION_SHARE)`-th position (`hrnn.cold_positions`) to the best such
candidate not already listed, the others to the best items by relevance; weight 0 is relevance
only (today: "At zero, no exploration occurs"), weight 1 gives half the positions.
Decided here: the share `MAX_EXPLORATION_SHARE` and the recency half-life; today's guide
gives neither. On development seed 10 (NDCG@10, ml-latest-small, exploration off): recency
half-life 0.25 of the span 0.027, 1.0 of the span 0.077, no recency mask 0.066 (bptt 32) and
0.084 (bptt 10); MovieLens' evaluation users are not the most recent ones, so the mask's
default costs here. With the default exploration (0.3) the same model scored 0.070.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import numpy as np

from chalicelib.algorithms.base import (Recipe, TrainingData, USER_PERSONALIZATION, exclude_histories,
                                        top_n)
from chalicelib.algorithms.blas import single_threaded_blas
from chalicelib.algorithms.data import history_length_filter
from chalicelib.algorithms.features import metadata_features
from chalicelib.algorithms.hrnn import (COLD_MAX_INTERACTIONS, DEFAULT_MAX_EPOCHS, HrnnModel, _interleave,
                                        output_side_from_metadata, prepare_warm_start, train_hrnn,
                                        warm_hyperparameters)
from chalicelib.domain.recipes import item_exploration, parse_hyperparameters

NAME = "aws-user-personalization"
RECENCY_HALF_LIFE_SHARE = 1.0
MAX_EXPLORATION_SHARE = 0.5
DAY = 86400.0
CREATION_FIELD = "CREATION_TIMESTAMP"


def item_ages(data: TrainingData) -> np.ndarray:
    """Days before the latest interaction, per item (see the module docstring)."""
    it = data.interactions
    t_ref = float(it.timestamp.max()) if len(it) else 0.0
    first = np.full(data.n_items, np.nan)
    if len(it):
        lo = np.full(data.n_items, np.iinfo(np.int64).max)
        np.minimum.at(lo, it.item, it.timestamp.astype(np.int64))
        seen = lo < np.iinfo(np.int64).max
        first[seen] = lo[seen]
    created = None if data.items is None else data.items.fields.get(CREATION_FIELD)
    if created is not None and np.asarray(created).dtype.kind in "fiu":
        created = np.asarray(created, np.float64)
        first = np.where(np.isfinite(created), created, first)
    return np.where(np.isfinite(first), np.maximum(t_ref - first, 0.0) / DAY, 0.0)


class UserPersonalizationModel(HrnnModel):
    recipe = NAME
    recipe_type = USER_PERSONALIZATION

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        n = self.item_ids.shape[0]
        self.cold = np.zeros(n, bool)            # fewer than COLD_MAX_INTERACTIONS interactions
        self.age_days = np.zeros(n)
        self.explore_rep = np.zeros((n, self.net.num_hidden), self.net.dtype)
        self.explore_bias = np.zeros(n, self.net.dtype)

    def fit_exploration(self, data: TrainingData, item_features):
        """Cold items, their ages and predicted output side (module docstring)."""
        counts = np.bincount(data.interactions.item, minlength=data.n_items)
        self.cold = counts < COLD_MAX_INTERACTIONS
        self.age_days = item_ages(data)
        if not self.cold.any():
            return
        has_meta = np.zeros(data.n_items, bool) if item_features is None else np.diff(item_features.indptr) > 0
        warm = ~self.cold & self._known & (has_meta if has_meta.any() else True)
        features = item_features if has_meta.any() else None
        if warm.sum() >= 2:
            pred = output_side_from_metadata(self.net, features, warm, self.cold)
            self.explore_rep[self.cold] = pred[:, :-1]
            self.explore_bias[self.cold] = pred[:, -1]
        own = self.cold & self._known & ~has_meta   # no metadata: what the network learned
        if own.any():
            self.explore_rep[own] = self.net.item_rep("out", np.flatnonzero(own))
            self.explore_bias[own] = self.net.params["b_out"][own]

    def serving_options(self, campaign_config):
        return item_exploration(self.recipe, campaign_config, self.hyperparameters)

    def recommend(self, histories, n, *, users=None, exclude_history=True,
                  exploration_weight=None, exploration_item_age_cut_off=None, states=None):
        defaults = item_exploration(self.recipe, None, self.hyperparameters)
        weight = defaults["exploration_weight"] if exploration_weight is None else float(exploration_weight)
        cut_off = defaults["exploration_item_age_cut_off"] if exploration_item_age_cut_off is None \
            else float(exploration_item_age_cut_off)
        out, nonempty = self._outputs(histories, users, states)
        with single_threaded_blas():
            s = self.net.scores(out).astype(np.float64)
        s[~nonempty] = self._popularity
        s[:, ~self._known] = -np.inf
        if exclude_history:
            exclude_histories(s, histories)
        wi, wv = top_n(s, n)
        explore = np.flatnonzero(self.cold & (self.age_days <= cut_off))
        share = weight * MAX_EXPLORATION_SHARE
        if share <= 0 or explore.size == 0:
            return wi, wv
        c = np.full_like(s, -np.inf)
        c[:, explore] = out @ self.explore_rep[explore].T + self.explore_bias[explore]
        if exclude_history:
            exclude_histories(c, histories)
        for r in range(c.shape[0]):                     # each item once per list
            c[r, wi[r][wi[r] >= 0]] = -np.inf
        ci, cv = top_n(c, n)
        return _interleave(wi, wv, ci, cv, n, share)

    def arrays(self):
        a = super().arrays()
        a.update(x_cold=self.cold, x_age=self.age_days, x_rep=self.explore_rep, x_bias=self.explore_bias)
        return a

    def _load_extra(self, arrays, meta):
        self.cold, self.age_days = arrays["x_cold"].astype(bool), arrays["x_age"]
        self.explore_rep, self.explore_bias = arrays["x_rep"], arrays["x_bias"]


class UserPersonalization(Recipe):
    name = NAME
    recipe_type = USER_PERSONALIZATION
    model_class = UserPersonalizationModel
    supports_warm_start = True
    supports_checkpoint = True   # train_hrnn's epoch loop

    def fit(self, data: TrainingData, hyperparameters: Dict[str, str], *, seed: int = 0,
            log: Callable[[str], None] = lambda msg: None,
            warm_start: Optional[HrnnModel] = None, checkpoint=None) -> UserPersonalizationModel:
        """Train; `warm_start` (today's trainingMode UPDATE: "update the model to consider new
        items for recommendations", see `warm_start.py`) is the previous version's model: its
        network is fine-tuned (`hrnn.py`, "Warm start") and the new items become exploration
        candidates like any cold item."""
        hp = parse_hyperparameters(NAME, hyperparameters or {})
        if len(data.interactions) == 0:
            raise ValueError("no interactions to train on")
        data, warm = prepare_warm_start(NAME, data, warm_start)
        train = history_length_filter(data, hp["min_user_history_length_percentile"],
                                      hp["max_user_history_length_percentile"])
        net_hp = parse_hyperparameters("aws-hrnn", dict(
            {"model.num_hidden": str(hp["hidden_dimension"]), "training.epochs": str(DEFAULT_MAX_EPOCHS)},
            **warm_hyperparameters(warm_start)))
        item_f, item_names = metadata_features(data.items, data.n_items)
        user_f, user_names = metadata_features(data.users, data.n_users)
        names = {"items": item_names, "users": user_names}
        with single_threaded_blas():
            net, counts, info = train_hrnn(
                train, net_hp, seed=seed, log=log, item_features=item_f, user_features=user_f,
                bptt=int(hp["bptt"]),
                recency_half_life_share=RECENCY_HALF_LIFE_SHARE if hp["recency_mask"] else None,
                warm_start=warm and dict(warm, feature_names=names), checkpoint=checkpoint)
        model = UserPersonalizationModel(data.item_ids, dict(hyperparameters or {}), net, counts,
                                         data.user_ids if user_f is not None else None, info)
        model.feature_names = names
        model.fit_exploration(data, item_f)
        log(f"{NAME}: {int(model.cold.sum())} cold items can be explored")
        return model
