"""aws-popularity-count on a toy set (seed "Popularity-Count Recipe")."""
import numpy as np
import pytest

from chalicelib.algorithms.base import History, load_model
from chalicelib.algorithms.data import from_arrays
from chalicelib.algorithms.popularity import PopularityCount
from chalicelib.algorithms.registry import recipe_for


def toy():
    # counts: a 3, b 2, c 2 (c's last event is later than b's), d 1; e only in the catalogue
    rows = [("u1", "a", 1), ("u2", "a", 2), ("u3", "a", 3), ("u1", "b", 4), ("u2", "b", 5),
            ("u1", "c", 3), ("u3", "c", 9), ("u2", "d", 7)]
    u, i, t = zip(*rows)
    return from_arrays(u, i, t, catalogue=["e"])


def ids(data, idx):
    return [data.item_ids[j] if j >= 0 else None for j in idx]


def hist(data, *names):
    items = np.array([list(data.item_ids).index(n) for n in names], np.int32)
    return History(items, np.arange(items.size, dtype=np.int64))


def test_counts_and_order_with_recency_tie_break():
    data = toy()
    model = PopularityCount().fit(data, {})
    assert dict(zip(data.item_ids, model.counts.tolist())) == {"a": 3, "b": 2, "c": 2, "d": 1, "e": 0}
    assert ids(data, model.order) == ["a", "c", "b", "d", "e"]


def test_same_items_for_everyone_minus_their_history():
    data = toy()
    model = recipe_for("aws-popularity-count").fit(data, {})
    got, scores = model.recommend([History.empty(), hist(data, "a", "b"), hist(data, "c")], 3)
    assert [ids(data, r) for r in got] == [["a", "c", "b"], ["c", "d", "e"], ["a", "b", "d"]]
    assert scores[0].tolist() == [3.0, 2.0, 2.0]
    kept, _ = model.recommend([hist(data, "a", "b")], 2, exclude_history=False)
    assert ids(data, kept[0]) == ["a", "c"]


def test_pads_when_too_few_items_qualify():
    data = toy()
    model = PopularityCount().fit(data, {})
    got, scores = model.recommend([hist(data, "a", "b", "c", "d")], 5)
    assert ids(data, got[0]) == ["e", None, None, None, None]
    assert scores[0, 0] == 0.0 and np.all(np.isneginf(scores[0, 1:]))


def test_rank_follows_popularity():
    data = toy()
    model = PopularityCount().fit(data, {})
    cand = np.array([list(data.item_ids).index(n) for n in ["d", "a", "b", "c"]])
    order = cand[np.argsort(-model.rank(History.empty(), cand))]
    assert ids(data, order) == ["a", "c", "b", "d"]


def test_no_hyperparameters_accepted():
    with pytest.raises(ValueError, match="not a hyperparameter of aws-popularity-count"):
        PopularityCount().fit(toy(), {"top_n": "5"})


def test_save_load_round_trip_and_determinism(tmp_path):
    data = toy()
    model = PopularityCount().fit(data, {})
    model.save(str(tmp_path))
    again = load_model(str(tmp_path))
    assert type(again) is type(model) and again.item_ids.tolist() == data.item_ids.tolist()
    hs = [hist(data, "a"), History.empty()]
    assert all(np.array_equal(x, y) for x, y in zip(model.recommend(hs, 4), again.recommend(hs, 4)))
    assert np.array_equal(PopularityCount().fit(data, {}).order, model.order)
    with np.load(tmp_path / "arrays.npz", allow_pickle=False) as npz:
        assert set(npz.files) == {"counts", "order", "item_ids"}
