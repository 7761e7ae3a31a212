"""aws-hrnn, aws-hrnn-metadata and aws-hrnn-coldstart on tiny synthetic data (seconds)."""
import numpy as np
import pytest

from chalicelib.algorithms import hrnn
from chalicelib.algorithms.base import History, Metadata, load_model
from chalicelib.algorithms.data import from_arrays
from chalicelib.algorithms.features import metadata_features
from chalicelib.algorithms.hrnn_net import CONTINUE, NEW_SESSION, NEW_USER
from chalicelib.algorithms.registry import recipe_for
from tests.unit.synthetic import idx

N_ITEMS = 12
FAST = {"model.num_hidden": "32", "training.epochs": "20", "training.batch_size": "4",
        "model.dropout": "0.0"}


def cyclic_data(n_users=24, length=20, seed=0, extra_items=()):
    """Each user walks the items in a cycle (i -> i + 1), starting anywhere: the next
    item is fully determined by the last one. Ratings an hour and a half apart every
    5 items, so users have several sessions."""
    rng = np.random.default_rng(seed)
    users, items, stamps = [], [], []
    for u in range(n_users):
        start, t = int(rng.integers(0, N_ITEMS)), 1_000_000 + u
        for k in range(length):
            users.append(f"u{u}")
            items.append(f"i{(start + k) % N_ITEMS:02d}")
            t += 5400 if k % 5 == 0 else 60
            stamps.append(t)
    return from_arrays(users, items, stamps, catalogue=list(extra_items))


def assert_follows(data, ids, last):
    """Trained on the next TARGET_SPAN (5) items with decaying weights: the top 3 come
    from the 5 items after `last` (i{last}), and the very next one is in the top 4."""
    shown = [int(data.item_ids[i][1:]) for i in ids[:4]]
    ahead = [(last + k) % N_ITEMS for k in range(1, 6)]
    assert set(shown[:3]) <= set(ahead), (shown, ahead)
    assert ahead[0] in shown, (shown, ahead)


@pytest.fixture(scope="module")
def data():
    return cyclic_data()


@pytest.fixture(scope="module")
def model(data):
    return recipe_for("aws-hrnn").fit(data, FAST, seed=0)


def test_learns_the_next_item_from_the_history(data, model):
    hist = [History(idx(data, "i03", "i04", "i05"), np.array([0, 60, 120])),
            History(idx(data, "i09", "i10"), np.array([0, 60]))]
    ids, scores = model.recommend(hist, 4)
    assert ids.shape == (2, 4) and np.all(np.diff(scores, axis=1) <= 0)
    assert_follows(data, ids[0], 5)
    assert_follows(data, ids[1], 10)


def test_appending_events_changes_recommendations_without_retraining(data, model):
    h = History(idx(data, "i01", "i02"), np.array([0, 60]))
    before = model.recommend([h], 5)[0][0]
    assert_follows(data, before, 2)
    longer = History(np.concatenate([h.items, idx(data, "i07", "i08")]), np.array([0, 60, 120, 180]))
    after = model.recommend([longer], 5)[0][0]
    assert_follows(data, after, 8)


def test_history_is_excluded_unless_asked(data, model):
    h = History(idx(data, *[f"i{k:02d}" for k in range(8)]), np.arange(8) * 60)
    ids, _ = model.recommend([h], N_ITEMS)
    shown = ids[0][ids[0] >= 0]
    assert not np.isin(shown, h.items).any() and shown.size == N_ITEMS - 8
    ids, _ = model.recommend([h], N_ITEMS, exclude_history=False)
    assert np.sort(ids[0]).tolist() == list(range(N_ITEMS))


def test_batch_and_single_user_paths_agree(data, model):
    hs = [History(idx(data, "i01"), np.array([5])),
          History(idx(data, "i02", "i03", "i04", "i05", "i06"), np.arange(5) * 4000),
          History.empty()]
    ids, vals = model.recommend(hs, 4)
    for r, h in enumerate(hs):
        one_ids, one_vals = model.recommend([h], 4)
        assert np.array_equal(one_ids[0], ids[r])
        assert np.allclose(one_vals[0], vals[r], rtol=1e-5)


def test_empty_history_gets_popular_items(data):
    d = cyclic_data()
    it = d.interactions
    # make i00 clearly the most popular
    extra = np.flatnonzero(it.item == idx(d, "i00")[0])[:1]
    m = recipe_for("aws-hrnn").fit(d, dict(FAST, **{"training.epochs": "1"}), seed=0)
    m.item_counts[idx(d, "i05")[0]] += 100
    m2 = hrnn.HrnnModel(d.item_ids, {}, m.net, m.item_counts)
    ids, _ = m2.recommend([History.empty()], 1)
    assert d.item_ids[ids[0, 0]] == "i05" and extra.size == 1


def test_deterministic_under_a_seed(data):
    hp = dict(FAST, **{"model.dropout": "0.3", "training.epochs": "3"})
    a = recipe_for("aws-hrnn").fit(data, hp, seed=3)
    b = recipe_for("aws-hrnn").fit(data, hp, seed=3)
    c = recipe_for("aws-hrnn").fit(data, hp, seed=4)
    for k in a.net.params:
        assert np.array_equal(a.net.params[k], b.net.params[k]), k
    assert not np.array_equal(a.net.params["E_in"], c.net.params["E_in"])


def _fit(data, **hp):
    return recipe_for("aws-hrnn").fit(data, dict(FAST, **{"training.epochs": "1"}, **hp), seed=0)


def test_num_layers_builds_stacked_session_layers(data):
    one, three = _fit(data), _fit(data, **{"model.num_layers": "3"})
    assert "s1.W" not in one.net.params
    assert {"s1.W", "s2.U", "i2.W"} <= set(three.net.params) and three.net.num_layers == 3
    assert three.meta()["num_layers"] == 3


def test_num_hidden_sets_the_width(data):
    m = _fit(data, **{"model.num_hidden": "40"})
    assert m.net.params["E_in"].shape == (N_ITEMS, 40) and m.net.params["s0.U"].shape == (40, 120)


def test_skip_connection_adds_the_input_to_the_output(data):
    a, b = _fit(data), _fit(data, **{"model.skip_connection": "true"})
    assert b.net.skip_connection and not a.net.skip_connection
    # same initial weights, different outputs: the skip path changes the forward pass
    a.net.params = {k: v.copy() for k, v in b.net.params.items()}
    h = [History(idx(data, "i01", "i02"), np.array([0, 60]))]
    oa, _ = hrnn.encode(a.net, h)
    ob, _ = hrnn.encode(b.net, h)
    x = b.net.item_rep("in", idx(data, "i02"))
    assert np.allclose(ob, oa + x, atol=1e-5)


def test_dropout_changes_training_not_inference(data):
    a, b = _fit(data), _fit(data, **{"model.dropout": "0.5"})
    assert not np.allclose(a.net.params["s0.W"], b.net.params["s0.W"])
    h = [History(idx(data, "i01", "i02"), np.array([0, 60]))]
    assert np.array_equal(b.recommend(h, 5)[1], b.recommend(h, 5)[1])


def test_epochs_and_batch_size(data):
    m = recipe_for("aws-hrnn").fit(data, dict(FAST, **{"training.epochs": "2",
                                                         "training.batch_size": "1"}), seed=0)
    assert m.info["epochs"] == 2 and m.info["stopped_by"] == "epochs"


def test_default_epochs_is_the_documented_maximum(data, monkeypatch):
    monkeypatch.setattr(hrnn, "DEFAULT_MAX_EPOCHS", 3)
    hp = {k: v for k, v in FAST.items() if k != "training.epochs"}
    m = recipe_for("aws-hrnn").fit(data, hp, seed=0)
    assert m.info["epochs"] == 3


def _recorded_learning_rates(data, monkeypatch, final_share, epochs):
    seen = []

    class Recording(hrnn.Adam):
        def step(self, params, grads):
            seen.append(self.lr)
            return super().step(params, grads)

    monkeypatch.setattr(hrnn, "Adam", Recording)
    monkeypatch.setattr(hrnn, "LR_FINAL_SHARE", final_share)
    recipe_for("aws-hrnn").fit(data, dict(FAST, **{"training.epochs": str(epochs)}), seed=0)
    return np.array(seen)


def test_learning_rate_decays_linearly_over_the_epoch_budget(data, monkeypatch):
    lr = _recorded_learning_rates(data, monkeypatch, 0.1, 2)
    assert lr[0] == pytest.approx(hrnn.LEARNING_RATE)
    assert np.all(np.diff(lr) < 0)
    # the last window of the second (last) epoch is near the end of the budget
    assert 0.1 * hrnn.LEARNING_RATE <= lr[-1] < 0.3 * hrnn.LEARNING_RATE


def test_learning_rate_is_constant_by_default(data, monkeypatch):
    lr = _recorded_learning_rates(data, monkeypatch, hrnn.LR_FINAL_SHARE, 2)
    assert hrnn.LR_FINAL_SHARE == 1.0 and np.allclose(lr, hrnn.LEARNING_RATE)


def test_early_time_stops_training(data, monkeypatch):
    clock = iter(range(0, 10**9, 1000))
    monkeypatch.setattr(hrnn.time, "monotonic", lambda: next(clock))
    m = recipe_for("aws-hrnn").fit(data, dict(FAST, **{"training.early_time": "1"}), seed=0)
    assert m.info["stopped_by"] == "training.early_time" and m.info["epochs"] == 1


def test_validation_and_early_stopping_keep_the_best_epoch(monkeypatch):
    monkeypatch.setattr(hrnn, "MIN_VALIDATION_USERS", 3)
    monkeypatch.setattr(hrnn, "PATIENCE", 1)
    d = cyclic_data(n_users=40, length=20)
    logs = []
    m = recipe_for("aws-hrnn").fit(d, dict(FAST, **{"training.epochs": "8"}), seed=0, log=logs.append)
    vals = [h["validation"] for h in m.info["history"]]
    assert m.info["validation_users"] == round(hrnn.VALIDATION_SHARE * 40) and all(v is not None for v in vals)
    assert m.info["best_validation"] == max(vals)
    assert any("validation NDCG@25" in line for line in logs)
    if m.info["stopped_by"] == "early stopping":
        assert vals[-1] <= max(vals[:-1])


def test_rejects_bad_hyperparameters(data):
    with pytest.raises(ValueError, match="model.num_layers"):
        recipe_for("aws-hrnn").fit(data, {"model.num_layers": "4"})
    with pytest.raises(ValueError, match="training.batch_size"):
        recipe_for("aws-hrnn").fit(data, {"training.batch_size": "128"})


def test_session_modes_split_on_the_gap():
    ts = np.array([0, 10, 10 + hrnn.SESSION_GAP_SECONDS + 1, 20 + hrnn.SESSION_GAP_SECONDS + 1])
    assert hrnn.session_modes(ts, 4).tolist() == [NEW_USER, CONTINUE, NEW_SESSION, CONTINUE]
    assert hrnn.session_modes(None, 3).tolist() == [NEW_USER, CONTINUE, CONTINUE]


def test_the_session_gap_is_at_least_the_clocks_resolution():
    bounds = np.array([0, 3, 5])
    days = np.array([0, 86400, 3 * 86400, 7 * 86400, 7 * 86400])   # day-level, one tie
    assert hrnn.session_gap(days, bounds) == 86400
    seconds = np.array([0, 60, 5460, 100, 107])
    assert hrnn.session_gap(seconds, bounds) == hrnn.SESSION_GAP_SECONDS
    assert hrnn.session_gap(np.zeros(5, np.int64), bounds) == hrnn.SESSION_GAP_SECONDS


def test_day_level_data_keeps_consecutive_days_in_one_session(tmp_path):
    base = cyclic_data(n_users=8, length=8)
    it = base.interactions
    daily = from_arrays(base.user_ids[it.user], base.item_ids[it.item], it.timestamp // 3600 * 86400)
    model = recipe_for("aws-hrnn").fit(daily, dict(FAST, **{"training.epochs": "1"}), seed=0)
    assert model.session_gap == 86400 and model.info["session_gap_seconds"] == 86400
    h = History(idx(daily, "i01", "i02", "i03"), np.array([0, 86400, 2 * 86400]))
    one = hrnn.encode(model.net, [History(h.items, np.zeros(3, np.int64))])[0]
    assert np.allclose(model._outputs([h])[0], one)          # a day apart: the same session
    model.save(str(tmp_path))
    loaded = load_model(str(tmp_path))
    assert loaded.session_gap == 86400
    assert np.array_equal(loaded.recommend([h], 5)[0], model.recommend([h], 5)[0])


def test_session_boundaries_change_the_user_state(data, model):
    items = idx(data, "i01", "i02", "i03")
    same = hrnn.encode(model.net, [History(items, np.array([0, 60, 120]))])[0]
    split = hrnn.encode(model.net, [History(items, np.array([0, 60, 60 + 10 * hrnn.SESSION_GAP_SECONDS]))])[0]
    assert not np.allclose(same, split)


def test_save_load_round_trip(tmp_path, data, model):
    model.save(str(tmp_path))
    with np.load(tmp_path / "arrays.npz", allow_pickle=False) as npz:
        assert "p.E_in" in npz.files
    loaded = load_model(str(tmp_path))
    assert type(loaded) is hrnn.HrnnModel
    h = [History(idx(data, "i04", "i05"), np.array([0, 60])), History.empty()]
    for a, b in zip(model.recommend(h, 6), loaded.recommend(h, 6)):
        assert np.array_equal(a, b)


def test_items_never_seen_score_minus_inf(model):
    d = cyclic_data(extra_items=["zz-new"])
    m = recipe_for("aws-hrnn").fit(d, dict(FAST, **{"training.epochs": "1"}), seed=0)
    new = idx(d, "zz-new")[0]
    s = m.item_scores([History(idx(d, "i01"), np.array([0]))])
    assert s[0, new] == -np.inf
    ids, _ = m.recommend([History(idx(d, "i01"), np.array([0]))], N_ITEMS + 1)
    assert new not in ids[0]


# --- metadata --------------------------------------------------------------------
def genre_data(extra_items=()):
    d = cyclic_data(extra_items=extra_items)
    # even items "A", odd items "B"; new items carry genres too
    genre = np.array(["A|X" if (int(i[-2:]) if i[-2:].isdigit() else 0) % 2 == 0 else "B" for i in d.item_ids])
    year = np.array([1990.0 + k for k in range(d.n_items)])
    year[0] = np.nan
    d.items = Metadata({"GENRES": genre, "YEAR": year}, categorical=("GENRES",))
    d.users = Metadata({"AGE": np.array([20.0 + k for k in range(d.n_users)])})
    return d


def test_metadata_features_encoding():
    meta = Metadata({"G": np.array(["a|b", "b", "", "c|a|a"]), "N": np.array([1.0, np.nan, 3.0, 5.0]),
                     "S": np.array(["x", "y", "x", "x"])}, categorical=("G",))
    m, names = metadata_features(meta, 4)
    assert names == ["G=a", "G=b", "G=c", "N", "S=x", "S=y"]
    dense = m.toarray()
    assert np.allclose(dense[0, :3], [1 / np.sqrt(2)] * 2 + [0])
    assert np.allclose(dense[2, :3], 0) and dense[1, 3] == 0          # missing numeric -> 0
    known = dense[[0, 2, 3], 3]
    assert np.isclose(known.mean(), 0) and np.isclose(known.std(), 1)
    assert dense[1, 5] == 1 and dense[0, 4] == 1
    assert metadata_features(None, 3) == (None, [])


def test_hrnn_metadata_uses_item_and_user_features(tmp_path):
    d = genre_data()
    m = recipe_for("aws-hrnn-metadata").fit(d, FAST, seed=0)
    assert {"A_in", "C"} <= set(m.net.params) and m.recipe == "aws-hrnn-metadata"
    h = [History(idx(d, "i03", "i04"), np.array([0, 60]))]
    assert_follows(d, m.recommend(h, 4)[0][0], 4)
    # user metadata feeds the user-level state: known users differ from anonymous ones
    o_anon, _ = hrnn.encode(m.net, h)
    o_user, _ = hrnn.encode(m.net, h, users=[m.user_index("u3")])
    assert m.user_index("u3") >= 0 and m.user_index("nobody") == -1
    assert not np.allclose(o_anon, o_user)
    m.save(str(tmp_path))
    loaded = load_model(str(tmp_path))
    assert np.array_equal(loaded.recommend(h, 4, users=[2])[0], m.recommend(h, 4, users=[2])[0])


def test_hrnn_coldstart_explores_new_items(tmp_path):
    d = genre_data(extra_items=["new-even-00", "new-odd-01"])
    m = recipe_for("aws-hrnn-coldstart").fit(d, FAST, seed=0)
    new = idx(d, "new-even-00", "new-odd-01")
    assert m.cold[new].all() and m.item_counts[new].sum() == 0
    h = [History(idx(d, "i03", "i04"), np.array([0, 60]))]
    ids, _ = m.recommend(h, 10)
    reserved = hrnn.cold_positions(10).tolist()
    assert reserved == [4, 9]
    assert set(ids[0, reserved].tolist()) <= set(np.flatnonzero(m.cold).tolist())
    assert set(new.tolist()) <= set(ids[0].tolist())
    warm = [i for k, i in enumerate(ids[0]) if k not in reserved]
    assert_follows(d, warm, 4)
    # cold items can be ranked too; the loaded model answers the same
    r = m.rank(h[0], new)
    assert np.isfinite(r).all()
    m.save(str(tmp_path))
    loaded = load_model(str(tmp_path))
    assert np.array_equal(loaded.recommend(h, 10)[0], ids)
    assert np.allclose(loaded.rank(h[0], new), r)


def test_history_indices_outside_the_catalogue_are_ignored(data, model):
    h = History(idx(data, "i02", "i03"), np.array([0, 60]))
    noisy = History(np.array([idx(data, "i02")[0], N_ITEMS + 7, idx(data, "i03")[0], -1], np.int32),
                    np.array([0, 30, 60, 90]))
    assert np.array_equal(model.recommend([noisy], 5)[0], model.recommend([h], 5)[0])


def test_eval_epoch_time_bounds_validation(monkeypatch):
    monkeypatch.setattr(hrnn, "MIN_VALIDATION_USERS", 3)
    d = cyclic_data(n_users=300, length=8)
    clock = iter(range(0, 10**9, 1000))
    real = hrnn.time.monotonic
    seen = []
    orig = hrnn._validate

    def spy(net, hist, targets, known, budget, gap):
        monkeypatch.setattr(hrnn.time, "monotonic", lambda: next(clock))
        try:
            seen.append((len(hist), budget))
            return orig(net, hist, targets, known, budget, gap)
        finally:
            monkeypatch.setattr(hrnn.time, "monotonic", real)

    monkeypatch.setattr(hrnn, "_validate", spy)
    calls = []
    encode = hrnn.encode
    monkeypatch.setattr(hrnn, "encode", lambda net, hs, users=None, gap=hrnn.SESSION_GAP_SECONDS:
                        calls.append(len(hs)) or encode(net, hs, users, gap))
    m = recipe_for("aws-hrnn").fit(d, dict(FAST, **{"training.epochs": "1",
                                                    "training.eval_epoch_time": "5"}), seed=0)
    assert seen == [(90, 5)] and m.info["history"][0]["validation"] is not None
    # the budget was spent after the first batch of 64 of 90 users; the co-occurrence weight
    # is chosen after training, on every validation user at once
    assert calls == [64, 90]


def test_metadata_weights_start_at_zero_and_learn_slower(data, monkeypatch):
    """Metadata begins as no change to the item representation and learns at
    METADATA_LR_SCALE of the rate (module docstring, "Initialisation")."""
    seen = {}

    class Recording(hrnn.Adam):
        def __init__(self, params, **kw):
            seen.update(scale=kw.get("lr_scale"), A_in=params["A_in"].copy())
            super().__init__(params, **kw)

    monkeypatch.setattr(hrnn, "Adam", Recording)
    d = from_arrays(data.user_ids[data.interactions.user], data.item_ids[data.interactions.item],
                    data.interactions.timestamp)
    d.items = Metadata({"GENRE": np.array(["a" if i % 2 else "b" for i in range(d.n_items)])},
                       categorical=("GENRE",))
    m = recipe_for("aws-hrnn-metadata").fit(d, dict(FAST, **{"training.epochs": "1"}), seed=0)
    assert seen["scale"] == {k: hrnn.METADATA_LR_SCALE for k in hrnn.METADATA_PARAMS}
    assert not np.any(seen["A_in"]) and np.any(m.net.params["A_in"])
