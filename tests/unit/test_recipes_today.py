"""Today's recipes (issue 12 item 3) as units: their tables, the exploration settings a campaign
passes, and each implementation's own behaviour on small synthetic data."""
import numpy as np
import pytest

from chalicelib.algorithms.base import History, Metadata
from chalicelib.algorithms.data import from_arrays
from chalicelib.algorithms.registry import recipe_for
from chalicelib.algorithms.trending import trend_order
from chalicelib.domain import recipes as R


def test_todays_tables_follow_the_guide():
    up = R.parse_hyperparameters("aws-user-personalization")
    assert up == {"hidden_dimension": 149, "bptt": 32, "recency_mask": True,
                  "min_user_history_length_percentile": 0.0,
                  "max_user_history_length_percentile": 0.99,
                  "exploration_weight": 0.3, "exploration_item_age_cut_off": 30.0}
    assert R.parse_hyperparameters("aws-user-personalization-v2") == {"apply_recency_bias": True}
    assert R.parse_hyperparameters("aws-similar-items")["popularity_discount_factor"] == 0.0
    assert R.parse_hyperparameters("aws-trending-now") == {"trend_discovery_frequency": "2 hours"}
    for bad in ({"bptt": "33"}, {"exploration_item_age_cut_off": "0.5"}, {"recency_mask": "maybe"}):
        with pytest.raises(ValueError):
            R.parse_hyperparameters("aws-user-personalization", bad)
    with pytest.raises(ValueError, match="trend_discovery_frequency"):
        R.parse_hyperparameters("aws-trending-now", {"trend_discovery_frequency": "5 minutes"})
    assert R.BUILTIN_RECIPES["aws-trending-now"].algorithm == "aws-trending-now-custom"


def test_item_exploration_campaign_over_trained_over_defaults():
    assert R.item_exploration("aws-user-personalization") == {
        "exploration_weight": 0.3, "exploration_item_age_cut_off": 30.0}
    trained = {"exploration_weight": "0.1"}
    got = R.item_exploration("aws-user-personalization",
                             {"itemExplorationConfig": {"explorationItemAgeCutOff": "7"}}, trained)
    assert got == {"exploration_weight": 0.1, "exploration_item_age_cut_off": 7.0}
    with pytest.raises(ValueError, match="explorationWeight"):
        R.item_exploration("aws-user-personalization", {"itemExplorationConfig": {"explorationWeight": "x"}})
    with pytest.raises(ValueError, match="explorationSpeed"):
        R.item_exploration("aws-user-personalization", {"itemExplorationConfig": {"explorationSpeed": "1"}})
    assert R.item_exploration("aws-hrnn", {"itemExplorationConfig": {"explorationWeight": "1"}}) == {}


def two_tastes(n_users=40, n_items=20, per_user=15, seed=0, extra=()):
    rng = np.random.default_rng(seed)
    users, items, ts = [], [], []
    for u in range(n_users):
        base = 0 if u % 2 == 0 else n_items // 2
        for k in range(per_user):
            users.append(f"u{u}")
            items.append(f"i{base + min(int(rng.exponential(3)), n_items // 2 - 1)}")
            ts.append(1_000_000 + u * 1000 + k)
    return from_arrays(users, items, ts, catalogue=list(extra))


def test_trend_order_rises_first_then_popularity():
    items = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    ts = np.array([0, 0, 0, 0, 0, 10_000, 10_000, 10_000, 9_000])    # item 2 bursts at the end
    order, trend = trend_order(items, ts, 4, interval=3600)
    assert order[0] == 2 and trend[2] == 4
    assert list(order[1:]) == [0, 1, 3]                             # then by total count
    quiet, _ = trend_order(items[:5], ts[:5], 4, interval=3600)     # nothing rising: popularity
    assert list(quiet[:2]) == [0, 1]


def test_user_personalization_exploration_weight_drives_cold_share():
    data = two_tastes(extra=[f"new{k}" for k in range(8)])
    model = recipe_for("aws-user-personalization").fit(data, {"hidden_dimension": "32"})
    hist = [History(np.array([0, 1, 2], np.int32), np.array([1, 2, 3], np.int64))]
    new = set(np.flatnonzero(np.char.startswith(model.item_ids.astype(str), "new")).tolist())

    def cold_count(**kw):
        idx, _ = model.recommend(hist, 10, **kw)
        return len(new & set(idx[0].tolist()))
    assert cold_count(exploration_weight=0.0) == 0
    assert cold_count(exploration_weight=1.0) >= 4
    # an age cut-off below every candidate's age leaves nothing to explore
    model.age_days[:] = 100.0
    assert cold_count(exploration_weight=1.0, exploration_item_age_cut_off=30.0) == 0


def test_similar_items_cold_item_by_metadata():
    data = two_tastes(extra=["cold-a", "cold-b"])
    genre = np.array(["even" if (i.startswith("i") and int(i[1:]) < 10) or i == "cold-a" else "odd"
                      for i in data.item_ids.astype(str)])
    data.items = Metadata({"GENRE": genre}, ("GENRE",))
    model = recipe_for("aws-similar-items").fit(data, {})
    q = np.flatnonzero(data.item_ids == "cold-a")
    idx, _ = model.similar_items(q, 5)
    names = data.item_ids[idx[0][idx[0] >= 0]].astype(str)
    assert len(names) == 5 and all(genre[list(data.item_ids).index(n)] == "even" for n in names)


@pytest.mark.parametrize("recency", ["true", "false"])
def test_v2_trains_and_reads_the_history(recency):
    data = two_tastes()
    model = recipe_for("aws-user-personalization-v2").fit(data, {"apply_recency_bias": recency})
    assert model.info["apply_recency_bias"] is (recency == "true")
    ids = list(data.item_ids.astype(str))
    index = lambda *names: np.array([ids.index(n) for n in names], np.int32)
    odd_taste = lambda i: int(ids[i][1:]) >= 10
    odd = [History(index("i10", "i11", "i12"), np.array([1, 2, 3], np.int64))]
    idx, _ = model.recommend(odd, 5)
    assert sum(odd_taste(i) for i in idx[0]) >= 4
    ranking = recipe_for("aws-personalized-ranking-v2").fit(data, {})
    scores = ranking.rank(odd[0], index("i1", "i15", "i2", "i16"))
    assert scores[1] > scores[0] and scores[3] > scores[2]
