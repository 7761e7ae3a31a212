"""`aws-personalized-ranking` (SEARCH_PERSONALIZATION): reorder a given list for a user.

Seed: "Personalized-Ranking Recipe" (name, ARNs, recipe type; no hyperparameter table of its
own) and GetPersonalizedRanking. The 2019 recipe reranks with the HRNN, so it trains the
same network as `aws-hrnn` (`hrnn.py`, the HRNN hyperparameter table as
`chalicelib.domain.recipes` assigns it) and scores a candidate list with the same user state
that `recommend` uses: the state is computed from the user's History (imported interactions
plus PutEvents events), so new events re-rank without retraining.

`Model.rank(history, candidates)` returns one score per candidate, higher first. Items the
model never saw in training (or indices outside the catalogue) score -inf; the runtime puts
them last, in input order. An empty history ranks by popularity.
"""
from __future__ import annotations

from chalicelib.algorithms.base import SEARCH_PERSONALIZATION
from chalicelib.algorithms.hrnn import Hrnn, HrnnModel


class PersonalizedRankingModel(HrnnModel):
    recipe = "aws-personalized-ranking"
    recipe_type = SEARCH_PERSONALIZATION


class PersonalizedRanking(Hrnn):
    name = "aws-personalized-ranking"
    recipe_type = SEARCH_PERSONALIZATION
    model_class = PersonalizedRankingModel
