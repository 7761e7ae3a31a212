"""aws-sims on tiny datasets whose similar items are known (seed "SIMS Recipe")."""
import math

import numpy as np
import pytest

from chalicelib.algorithms import sims as S
from chalicelib.algorithms.base import load_model
from chalicelib.algorithms.data import from_arrays
from chalicelib.algorithms.sims import Sims
from chalicelib.domain.recipes import BUILTIN_RECIPES

DAY = 86400
T0 = 1_500_000_000


class Rows:
    """Build interactions by day number; the newest row fixes t_ref."""

    def __init__(self):
        self.rows = []

    def add(self, user, item, day):
        self.rows.append((user, item, T0 + int(round(day * DAY))))
        return self

    def data(self, catalogue=()):
        u, i, t = zip(*self.rows)
        return from_arrays(u, i, t, catalogue=list(catalogue))


def idx(data, name):
    return list(data.item_ids).index(name)


def neighbours(model, data, name):
    items, scores = model.neighbours(idx(data, name))
    return [data.item_ids[j] for j in items], scores.tolist()


def pairs_world():
    """A-B bought together by 6 users, C-D by 5; E bought by everyone, 100 days from anything."""
    r = Rows()
    for k in range(6):
        r.add(f"p{k}", "A", 1000).add(f"p{k}", "B", 1001)
    for k in range(5):
        r.add(f"q{k}", "C", 1000).add(f"q{k}", "D", 1002)
    for k in range(6):
        r.add(f"p{k}", "E", 1200)
    for k in range(5):
        r.add(f"q{k}", "E", 1200)
    return r.data(catalogue=["F"])


def test_known_similar_items_and_popular_fallback():
    data = pairs_world()
    model = Sims().fit(data, {})
    assert neighbours(model, data, "A")[0] == ["B"] and neighbours(model, data, "B")[0] == ["A"]
    assert neighbours(model, data, "C")[0] == ["D"] and neighbours(model, data, "E")[0] == []
    got, scores = model.similar_items(np.array([idx(data, "A"), idx(data, "E"), -1]), 3)
    names = [[data.item_ids[j] for j in row] for row in got]
    assert names[0][:2] == ["B", "E"]            # its neighbour, then the most popular item
    assert names[1][0] != "E" and "E" not in names[1]
    assert names[2][0] == "E"                    # unknown item: popular items
    assert scores[0, 0] > 0 and scores[0, 1] == 0.0
    assert all(len(set(r)) == len(r) for r in got.tolist())


def test_never_returns_the_item_itself_and_pads_past_the_catalogue():
    data = pairs_world()
    model = Sims().fit(data, {})
    got, scores = model.similar_items(np.array([idx(data, "A")]), 10)
    real = got[0][got[0] >= 0]
    assert idx(data, "A") not in real and real.size == data.n_items - 1 == 5
    assert np.all(got[0][5:] == -1) and np.all(np.isneginf(scores[0][5:]))


def test_copurchase_delta_in_days():
    data = pairs_world()                       # C and D are 2 days apart, A and B 1 day
    model = Sims().fit(data, {"copurchase_delta": "1"})
    assert neighbours(model, data, "A")[0] == ["B"] and neighbours(model, data, "C")[0] == []
    model = Sims().fit(data, {"copurchase_delta": "200"})    # now E co-occurs with everything
    assert "E" in neighbours(model, data, "A")[0]


def test_min_copurchase_count_counts_distinct_users():
    data = pairs_world()
    assert neighbours(Sims().fit(data, {"min_copurchase_count": "6"}), data, "C")[0] == []
    assert neighbours(Sims().fit(data, {"min_copurchase_count": "6"}), data, "A")[0] == ["B"]
    # one user buying X and Y again and again is still one user
    r = Rows()
    for d in range(5):
        r.add("solo", "X", d).add("solo", "Y", d + 0.5)
    assert neighbours(Sims().fit(r.data(), {"min_copurchase_count": "2"}), r.data(), "X")[0] == []
    r.add("other", "X", 3).add("other", "Y", 3)
    assert neighbours(Sims().fit(r.data(), {"min_copurchase_count": "2"}), r.data(), "X")[0] == ["Y"]


def test_top_n_limits_stored_neighbours():
    r = Rows()
    for k in range(5):
        for j, item in enumerate("ABCD"):
            r.add(f"u{k}", item, j * 0.1)
    data = r.data()
    assert len(neighbours(Sims().fit(data, {}), data, "A")[0]) == 3
    assert len(neighbours(Sims().fit(data, {"top_n": "2"}), data, "A")[0]) == 2


def directional_world(gap_days=5):
    """Query A: 'After' follows A by gap_days for 5 users, 'Before' precedes A by as much for 5."""
    r = Rows()
    for k in range(5):
        r.add(f"a{k}", "A", 100).add(f"a{k}", "After", 100 + gap_days)
        r.add(f"b{k}", "Before", 100 - gap_days).add(f"b{k}", "A", 100)
    return r.data()


def decay(d, fast, slow, alpha):
    h = lambda x, hl: (1.0 if x <= 0 else 0.0) if hl <= 0 else 2 ** (-x / hl)
    return alpha * h(d, fast) + (1 - alpha) * h(d, slow)


def test_score_formula_matches_the_module_docstring():
    data = directional_world(5)
    hp = {"exponentiation_parameter": "1", "epsilon_smoothing": "3", "alpha": "0.25"}
    model = Sims().fit(data, hp)
    names, scores = neighbours(model, data, "A")
    t_ref_age = lambda day: 105 - day                 # newest interaction is day 105
    hist = lambda day: decay(t_ref_age(day), 90, 360, 0.25)
    w_after = 5 * hist(105) * decay(5, 60, 360, 0.25)           # in order: A then After
    w_before = 5 * hist(100) * decay(5, 30, 180, 0.25)          # out of order: Before then A
    n_a = 5 * hist(100) + 5 * hist(100)
    n_after, n_before = 5 * hist(105), 5 * hist(95)
    expect = {"After": w_after / math.sqrt((n_a + 3) * (n_after + 3)),
              "Before": w_before / math.sqrt((n_a + 3) * (n_before + 3))}
    assert dict(zip(names, scores)) == pytest.approx(expect, rel=1e-5)


def score(model, data, query, cand):
    names, scores = neighbours(model, data, query)
    return dict(zip(names, scores)).get(cand, 0.0)


@pytest.mark.parametrize("name,value,cand,direction", [
    ("in_order_decay_fast_half_life", "1", "After", -1),
    ("in_order_decay_slow_half_life", "1", "After", -1),
    ("out_of_order_decay_fast_half_life", "1000", "Before", +1),
    ("out_of_order_decay_slow_half_life", "1000", "Before", +1),
])
def test_order_half_lives_act_in_their_direction(name, value, cand, direction):
    data = directional_world(5)
    base = {"exponentiation_parameter": "0"}
    before = score(Sims().fit(data, base), data, "A", cand)
    after = score(Sims().fit(data, {**base, name: value}), data, "A", cand)
    assert (after - before) * direction > 0
    other = "Before" if cand == "After" else "After"
    assert score(Sims().fit(data, {**base, name: value}), data, "A", other) == pytest.approx(
        score(Sims().fit(data, base), data, "A", other))


def test_default_prefers_items_bought_after_the_query():
    data = directional_world(5)
    assert neighbours(Sims().fit(data, {}), data, "A")[0] == ["After", "Before"]
    assert neighbours(Sims().fit(data, {"in_order_decay_fast_half_life": "1"}), data, "A")[0] == ["Before", "After"]


def recency_world():
    """Query A: 'New' co-bought by 5 users today, 'Old' by 8 users 200 days ago."""
    r = Rows()
    for k in range(5):
        r.add(f"n{k}", "A", 1000).add(f"n{k}", "New", 1000)
    for k in range(8):
        r.add(f"o{k}", "A", 800).add(f"o{k}", "Old", 800)
    return r.data()


@pytest.mark.parametrize("hp,first", [
    ({"alpha": "1"}, "New"),                    # fast half-life (90 days) only
    ({"alpha": "0"}, "Old"),                    # slow half-life (360 days) only
    ({"alpha": "1", "history_decay_fast_half_life": "2000"}, "Old"),
    ({"alpha": "0", "history_decay_slow_half_life": "30"}, "New"),
])
def test_alpha_and_history_half_lives_weigh_recency(hp, first):
    data = recency_world()
    model = Sims().fit(data, {"exponentiation_parameter": "0", **hp})
    assert neighbours(model, data, "A")[0][0] == first


def popularity_world():
    """Query A: 'Pop' co-bought by 6 users but bought by 30; 'Niche' co-bought by 5, bought by 5."""
    r = Rows()
    for k in range(6):
        r.add(f"p{k}", "A", 10).add(f"p{k}", "Pop", 10)
    for k in range(24):
        r.add(f"x{k}", "Pop", 10)
    for k in range(5):
        r.add(f"n{k}", "A", 10).add(f"n{k}", "Niche", 10)
    return r.data()


@pytest.mark.parametrize("hp,order", [
    ({"exponentiation_parameter": "0"}, ["Pop", "Niche"]),
    ({"exponentiation_parameter": "1"}, ["Niche", "Pop"]),
    ({"exponentiation_parameter": "1", "epsilon_smoothing": "0"}, ["Niche", "Pop"]),
    ({"exponentiation_parameter": "1", "epsilon_smoothing": "1000"}, ["Pop", "Niche"]),
])
def test_exponentiation_and_smoothing_trade_popularity(hp, order):
    data = popularity_world()
    assert neighbours(Sims().fit(data, hp), data, "A")[0] == order


def busy_world(seed=0):
    rng = np.random.default_rng(seed)
    r = Rows()
    for u in range(80):
        start = rng.uniform(0, 700)
        for item in rng.choice(25, size=int(rng.integers(3, 12)), replace=False):
            r.add(f"u{u}", f"i{item:02d}", start + rng.exponential(6))
    return r.data()


def changed(hp):
    data = busy_world()
    a, b = Sims().fit(data, {}), Sims().fit(data, hp)
    return not all(np.array_equal(x, y) for x, y in zip(a.arrays().values(), b.arrays().values()))


@pytest.mark.parametrize("name,value", [
    ("alpha", "0.9"), ("copurchase_delta", "3"), ("min_copurchase_count", "2"),
    ("exponentiation_parameter", "0.3"), ("epsilon_smoothing", "0"),
    ("history_decay_fast_half_life", "30"), ("history_decay_slow_half_life", "120"),
    ("in_order_decay_fast_half_life", "5"), ("in_order_decay_slow_half_life", "20"),
    ("out_of_order_decay_fast_half_life", "5"), ("out_of_order_decay_slow_half_life", "20"),
    ("top_n", "2"),
])
def test_every_hyperparameter_has_an_effect(name, value):
    assert name in {hp.name for hp in BUILTIN_RECIPES["aws-sims"].hyperparameters}
    assert changed({name: value})


def test_every_hyperparameter_is_covered_above():
    covered = {"alpha", "copurchase_delta", "min_copurchase_count", "exponentiation_parameter",
               "epsilon_smoothing", "history_decay_fast_half_life", "history_decay_slow_half_life",
               "in_order_decay_fast_half_life", "in_order_decay_slow_half_life",
               "out_of_order_decay_fast_half_life", "out_of_order_decay_slow_half_life", "top_n"}
    assert covered == {hp.name for hp in BUILTIN_RECIPES["aws-sims"].hyperparameters}


def test_chunking_does_not_change_the_model(monkeypatch):
    data = busy_world(1)
    whole = Sims().fit(data, {"min_copurchase_count": "2"})
    monkeypatch.setattr(S, "CHUNK_PAIRS", 7)
    pieces = Sims().fit(data, {"min_copurchase_count": "2"})
    for k, v in whole.arrays().items():
        np.testing.assert_allclose(pieces.arrays()[k], v, rtol=1e-6, err_msg=k)


def test_deterministic_and_save_load_round_trip(tmp_path):
    data = busy_world(2)
    model = Sims().fit(data, {"min_copurchase_count": "2"})
    again = Sims().fit(data, {"min_copurchase_count": "2"}, seed=99)
    assert all(np.array_equal(x, y) for x, y in zip(model.arrays().values(), again.arrays().values()))
    model.save(str(tmp_path))
    loaded = load_model(str(tmp_path))
    q = np.arange(data.n_items)
    for x, y in zip(model.similar_items(q, 12), loaded.similar_items(q, 12)):
        np.testing.assert_array_equal(x, y)
    assert loaded.hyperparameters["min_copurchase_count"] == "2"
    assert loaded.recipe_type == "RELATED_ITEMS"


def test_bad_hyperparameter_is_rejected():
    with pytest.raises(ValueError, match="alpha: 2 is above the maximum 1"):
        Sims().fit(pairs_world(), {"alpha": "2"})
