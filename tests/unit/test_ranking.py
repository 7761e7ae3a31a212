"""aws-personalized-ranking: one score per candidate from the HRNN user state."""
import numpy as np
import pytest

from chalicelib.algorithms.base import SEARCH_PERSONALIZATION, History, load_model
from chalicelib.algorithms.ranking import PersonalizedRankingModel
from chalicelib.algorithms.registry import recipe_for

from tests.unit.test_hrnn import FAST, N_ITEMS, cyclic_data, idx


@pytest.fixture(scope="module")
def trained():
    d = cyclic_data(extra_items=["never-seen"])
    return d, recipe_for("aws-personalized-ranking").fit(d, FAST, seed=0)


def test_recipe_type_and_model(trained):
    _, m = trained
    assert isinstance(m, PersonalizedRankingModel) and m.recipe_type == SEARCH_PERSONALIZATION


def test_scores_every_candidate_with_unseen_items_last(trained):
    d, m = trained
    h = History(idx(d, "i03", "i04"), np.array([0, 60]))
    cand = np.concatenate([idx(d, "never-seen", "i09", "i05", "i06"), [N_ITEMS + 50, -1]])
    s = m.rank(h, cand)
    assert s.shape == (6,)
    assert np.isfinite(s[1:4]).all() and np.isneginf(s[[0, 4, 5]]).all()
    # the items that follow the history rank above one far away
    assert min(s[2], s[3]) > s[1]
    order = cand[np.argsort(-s, kind="stable")]
    assert order[-3:].tolist() == cand[[0, 4, 5]].tolist()   # unseen last, in input order


def test_rank_uses_the_same_state_as_recommend(trained):
    d, m = trained
    h = History(idx(d, "i07", "i08"), np.array([0, 60]))
    ids, vals = m.recommend([h], 4)
    assert np.allclose(m.rank(h, ids[0]), vals[0], rtol=1e-5)


def test_new_events_rerank_without_retraining(trained):
    d, m = trained
    cand = idx(d, "i02", "i09")
    early = m.rank(History(idx(d, "i00", "i01"), np.array([0, 60])), cand)
    late = m.rank(History(idx(d, "i00", "i01", "i07", "i08"), np.arange(4) * 60), cand)
    assert early[0] > early[1] and late[1] > late[0]


def test_empty_history_ranks_by_popularity(trained):
    d, m = trained
    s = m.rank(History.empty(), idx(d, "i01", "i02", "never-seen"))
    assert np.isfinite(s[:2]).all() and np.isneginf(s[2])


def test_save_load_round_trip(tmp_path, trained):
    d, m = trained
    m.save(str(tmp_path))
    loaded = load_model(str(tmp_path))
    assert type(loaded) is PersonalizedRankingModel
    h = History(idx(d, "i03"), np.array([0]))
    cand = np.arange(d.n_items)
    assert np.array_equal(loaded.rank(h, cand), m.rank(h, cand))
