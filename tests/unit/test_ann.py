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


def clustered(n=3000, dim=16, seed=0, n_users=50):
    """Item rows, biases and user vectors around 40 cluster centres (trained embeddings are
    clustered), and each item's cluster."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim)).astype(np.float32)
    which = rng.integers(0, 40, n)
    table = centres[which] + 0.5 * rng.standard_normal((n, dim)).astype(np.float32)
    bias = (0.3 * rng.standard_normal(n)).astype(np.float32)
    users = (centres[rng.integers(0, 40, n_users)]
             + 0.5 * rng.standard_normal((n_users, dim))).astype(np.float32)
    return table, bias, users, which


def check_answers(index, table, bias, users, allowed=None, exclude=lambda r: None, n=25):
    """Every user's `ann.top` is full, allowed, without the excluded, with exact scores best
    first; returns recall@n against exact scoring."""
    hits = 0
    for r, q in enumerate(users):
        exact = (table @ q + bias).astype(np.float64)
        exclude_r = exclude(r)
        if exclude_r is not None:
            exact[exclude_r] = -np.inf
        if allowed is not None:
            exact[~allowed] = -np.inf
        truth = np.argsort(-exact)[:n]
        found, scores = ann.top(index, table, bias, q, n, allowed=allowed, exclude=exclude_r)
        assert len(found) == n
        assert allowed is None or allowed[found].all()
        assert exclude_r is None or not np.isin(found, exclude_r).any()
        np.testing.assert_allclose(scores, exact[found], rtol=1e-5, atol=1e-5)   # exact scores
        assert list(scores) == sorted(scores, reverse=True)
        hits += len(set(found.tolist()) & set(truth.tolist()))
    return hits / (n * len(users))


def test_recall_against_exact_with_filters_and_exclusions():
    table, bias, users, _ = clustered()
    assert ann.build(table, bias) is None                 # below the threshold: exact scoring
    index = ann.build(table, bias, min_items=100)
    allowed = np.arange(table.shape[0]) % 7 != 0
    exclude = lambda r: np.arange(r, table.shape[0], 97)    # noqa: E731
    assert check_answers(index, table, bias, users, allowed, exclude) >= 0.95
    assert check_answers(index, table, bias, users, None, exclude) >= 0.95
    # a float64 table (scored in its own dtype) answers the same
    wide = table.astype(np.float64), bias.astype(np.float64)
    for q in users[:5]:
        for mask in (None, allowed):
            got, want = ann.top(index, *wide, q, 25, mask), ann.top(index, table, bias, q, 25, mask)
            assert got[0].tolist() == want[0].tolist()
    # a graph saved before the Euclidean form is not read: the model scores exactly
    assert ann.Index.from_array(index.to_array()[ann.FORMAT.size:], *table.shape) is None
    # a filter that keeps almost nothing: asked for more until full, or exact
    rare = np.zeros(table.shape[0], bool)
    rare[[5, 900, 2999]] = True
    found, _ = ann.top(index, table, bias, users[0], 25, allowed=rare)
    assert sorted(found.tolist()) == [5, 900, 2999]


@pytest.fixture(scope="module")
def large():
    table, bias, users, which = clustered(n=20000, n_users=30, seed=1)
    return table, bias, users, which, ann.build(table, bias, min_items=0)


FILTERS = {   # allowed masks over the large catalogue
    "1%": lambda which: np.random.default_rng(3).random(which.size) < 0.01,
    "10%": lambda which: np.random.default_rng(4).random(which.size) < 0.1,
    "50%": lambda which: np.random.default_rng(5).random(which.size) < 0.5,
    "4 of 40 clusters": lambda which: which < 4,   # most users want items far from these
}


@pytest.mark.parametrize("limits", ["default", "graph"])   # graph: no filter scored exactly
@pytest.mark.parametrize("kind", FILTERS)
def test_filtered_answers_are_allowed_and_near_exact(large, monkeypatch, kind, limits):
    """Each of `ann.top`'s filtered paths (allowed rows scored exactly; the graph's neighbours,
    then the allowed; the graph walked with the mask) keeps recall@25 against exact filtered
    scoring, with exclusions."""
    table, bias, users, which, index = large
    if limits == "graph":
        monkeypatch.setattr(ann, "EXACT_CELLS", 0)
        monkeypatch.setattr(ann, "WALK_CELLS", 0)
    allowed = FILTERS[kind](which)
    exclude = lambda r: np.flatnonzero(allowed)[r:r + 40:2]    # noqa: E731 (allowed ones)
    assert check_answers(index, table, bias, users, allowed, exclude) >= 0.95


def test_hrnn_builds_saves_and_serves_through_the_index(tmp_path, monkeypatch):
    monkeypatch.setattr(ann, "MIN_ITEMS", 5)
    monkeypatch.setattr(ann, "MAX_SHARE", 4.0)   # 12 items: the graph answers, not exact scoring
    data = cyclic_data()
    model = recipe_for("aws-hrnn").fit(data, dict(FAST, **{"training.epochs": "2"}), seed=0)
    assert model.ann is not None
    assert model.cooccurrence is not None
    model.cooccurrence["weight"] = 1.0           # a blend is scored exactly: its index is not read
    model.save(str(tmp_path / "blend"))
    assert load_model(str(tmp_path / "blend")).ann is None
    model.cooccurrence["weight"], model.cooccurrence["knn_weight"] = 0.0, 0.0   # the network alone
    model.save(str(tmp_path))
    loaded = load_model(str(tmp_path))
    assert isinstance(loaded.ann, ann.Index)
    # 4 events: 8 items left, more than the 5 asked for (8 left 4, which only exact scoring gave)
    histories = [History(np.asarray(data.interactions.item[data.interactions.user == u][:4], np.int32))
                 for u in range(6)]
    got_idx, got_scores = loaded.recommend(histories, 5)
    loaded.ann = None
    want_idx, want_scores = loaded.recommend(histories, 5)      # exact scoring
    for r, h in enumerate(histories):
        assert not np.isin(got_idx[r], h.items).any()
        assert set(got_idx[r].tolist()) == set(want_idx[r].tolist())
        np.testing.assert_allclose(got_scores[r], want_scores[r], rtol=1e-4, atol=1e-5)
    assert hrnn.HrnnModel.ann is None
