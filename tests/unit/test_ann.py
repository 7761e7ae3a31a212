"""The ANN index of large catalogues (issue 15 item 2), on a small catalogue with the threshold
lowered: built at training time, saved and loaded with the model, recall against exact
scoring, and exclusions and filters still give full answers."""
import numpy as np
import pytest

from chalicelib.algorithms import ann, hrnn
from chalicelib.algorithms.base import History, load_model
from chalicelib.algorithms.registry import recipe_for
from tests.unit.test_hrnn import FAST, cyclic_data

pytestmark = pytest.mark.skipif(not ann.available(), reason="hnswlib is not installed")


def clustered(n=3000, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim)).astype(np.float32)
    table = centres[rng.integers(0, 40, n)] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    bias = (0.3 * rng.standard_normal(n)).astype(np.float32)
    users = (centres[rng.integers(0, 40, 50)] + 0.5 * rng.standard_normal((50, dim))).astype(np.float32)
    return table, bias, users


def test_recall_against_exact_with_filters_and_exclusions():
    table, bias, users = clustered()
    assert ann.build(table, bias) is None                 # below the threshold: exact scoring
    index = ann.build(table, bias, min_items=100)
    allowed = np.arange(table.shape[0]) % 7 != 0
    hits = total = 0
    for r, q in enumerate(users):
        exclude = np.arange(r, table.shape[0], 97)
        exact = table @ q + bias
        exact[exclude] = -np.inf
        exact[~allowed] = -np.inf
        truth = np.argsort(-exact)[:25]
        found, scores = ann.top(index, table, bias, q, 25, allowed=allowed, exclude=exclude)
        assert len(found) == 25 and allowed[found].all() and not np.isin(found, exclude).any()
        np.testing.assert_allclose(scores, exact[found], rtol=1e-5, atol=1e-5)   # exact scores
        assert list(scores) == sorted(scores, reverse=True)
        hits += len(set(found.tolist()) & set(truth.tolist()))
        total += 25
    assert hits / total >= 0.95
    # a filter that keeps almost nothing: asked for more until full, or exact
    rare = np.zeros(table.shape[0], bool)
    rare[[5, 900, 2999]] = True
    found, _ = ann.top(index, table, bias, users[0], 25, allowed=rare)
    assert sorted(found.tolist()) == [5, 900, 2999]


def test_hrnn_builds_saves_and_serves_through_the_index(tmp_path, monkeypatch):
    monkeypatch.setattr(ann, "MIN_ITEMS", 5)
    data = cyclic_data()
    model = recipe_for("aws-hrnn").fit(data, dict(FAST, **{"training.epochs": "2"}), seed=0)
    assert model.ann is not None
    if model.cooccurrence is not None:   # the index serves the network's scores alone
        model.cooccurrence["weight"], model.cooccurrence["knn_weight"] = 0.0, 0.0
    model.save(str(tmp_path))
    loaded = load_model(str(tmp_path))
    assert isinstance(loaded.ann, ann.Index)
    histories = [History(np.asarray(data.interactions.item[data.interactions.user == u][:8], np.int32))
                 for u in range(6)]
    got_idx, got_scores = loaded.recommend(histories, 5)
    loaded.ann = None
    want_idx, want_scores = loaded.recommend(histories, 5)      # exact scoring
    for r, h in enumerate(histories):
        assert not np.isin(got_idx[r], h.items).any()
        assert set(got_idx[r].tolist()) == set(want_idx[r].tolist())
        np.testing.assert_allclose(got_scores[r], want_scores[r], rtol=1e-4, atol=1e-5)
    assert hrnn.HrnnModel.ann is None
