"""The runtime's answers (`ServedModel.recommend` / `rank`: carried state, vectorised id
mapping, popular fill, filter mask) equal a straightforward computation from the model's
scores of the whole history (issue 15: the fast paths change costs, not answers)."""
import numpy as np
import pytest

from chalicelib.algorithms import ann
from chalicelib.algorithms.registry import recipe_for
from chalicelib.runtime import histories, serving
from tests.unit.test_hrnn import FAST, N_ITEMS, cyclic_data

USERS = [f"u{k}" for k in range(0, 24, 3)] + ["nobody"]


@pytest.fixture(scope="module", params=["network", "blend", "index"])
def served(request):
    # 6 of the 12 items per user (a longer walk holds them all, and only popular items would be
    # compared); "zz-new" is an Items-only item: never seen in training
    data = cyclic_data(length=6, extra_items=["zz-new"])
    model = recipe_for("aws-hrnn").fit(data, dict(FAST, **{"training.epochs": "2"}), seed=0)
    if request.param == "blend":
        model.cooccurrence["weight"] = 1.0
    index = histories.ItemIndex(model.item_ids)
    users = np.asarray(data.user_ids)[data.interactions.user]
    h = histories.build(users, data.interactions.item.astype(np.int64),
                        data.interactions.timestamp, index.size)
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "index":              # the network's scores through an ANN index
            if not ann.available():
                pytest.skip("hnswlib is not installed")
            if model.cooccurrence is not None:
                model.cooccurrence["weight"], model.cooccurrence["knn_weight"] = 0.0, 0.0
            model.ann = ann.build(model.net.output_table(), model.net.params["b_out"], min_items=0)
            # a catalogue this small is scored exactly by ann.top: let the graph answer
            for name, value in (("MAX_SHARE", 1.0), ("EXACT_CELLS", 0), ("WALK_CELLS", 0)):
                patch.setattr(ann, name, value)
        yield serving.ServedModel("v", model, None, user_histories=h)


def reference_recommend(served, user, n, allowed=None):
    """Scores of the whole history, history and disallowed items out, best first (stable),
    then popular items not yet taken."""
    history = served.history(user, with_events=False)
    s = served.model.item_scores([history])[0]
    s[history.items] = -np.inf
    ok = np.isfinite(s) if allowed is None else np.isfinite(s) & allowed
    order = [i for i in np.argsort(-s, kind="stable") if ok[i]][:n]
    out = [(int(i), float(s[i])) for i in order]
    taken = set(order) | set(history.items.tolist())
    for i in served.popular.tolist():
        if len(out) >= n:
            break
        if i not in taken and (allowed is None or allowed[i]):
            out.append((i, None))
            taken.add(i)
    return [(str(served.model.item_ids[i]), s_) for i, s_ in out]


def same(got, want):
    """Equal answers; items of equal score (an empty history's popularity ties) in any order,
    and where the list is cut any of the items that tie with its last score."""
    def ties_sorted(pairs):
        scored = sorted(((-round(s, 5), i) for i, s in pairs if s is not None))
        last = max((-round(s, 5) for _, s in want if s is not None), default=None)
        return [i if s != last else s for s, i in scored] + [i for i, s in pairs if s is None]
    assert ties_sorted(got) == ties_sorted(want)
    assert [s is None for _, s in got] == [s is None for _, s in want]
    np.testing.assert_allclose([s for _, s in got if s is not None],
                               [s for _, s in want if s is not None], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("n", [3, N_ITEMS + 1])   # N_ITEMS + 1: the popular fill is needed
def test_recommend_equals_the_whole_history_computation(served, n):
    for user in USERS:
        for _ in range(2):                       # the second answer comes from the carried state
            same(served.recommend(user, n, with_events=False), reference_recommend(served, user, n))


def test_recommend_with_a_filter_mask_equals_the_reference(served):
    allowed = np.arange(served.index.size) % 3 != 0
    ids = served.model.item_ids
    for user in USERS:
        got = served.recommend(user, 6, with_events=False, allowed=allowed)
        assert all(allowed[np.flatnonzero(ids == i)[0]] for i, _ in got)
        same(got, reference_recommend(served, user, 6, allowed))


def test_rank_equals_sorting_the_model_scores(served):
    """Known items by score (stable), then the ones the model cannot score (never seen in
    training, not in the catalogue) in input order, without a score."""
    ids = [str(i) for i in served.model.item_ids]
    candidates = ["not-an-item", ids[5], "zz-new", ids[0], ids[7], ids[2], ids[11]]
    for user in USERS:
        history = served.history(user, with_events=False)
        idx = served.index.lookup(candidates)
        known = np.flatnonzero(idx >= 0)
        scores = np.full(len(candidates), -np.inf)
        scores[known] = served.model.rank(history, idx[known])
        finite = [k for k in np.argsort(-scores, kind="stable") if np.isfinite(scores[k])]
        want = [(candidates[k], float(scores[k])) for k in finite] + \
            [(candidates[k], None) for k in range(len(candidates)) if not np.isfinite(scores[k])]
        for _ in range(2):
            same(served.rank(user, candidates, with_events=False), want)


def test_neighbour_scores_equal_the_sparse_product_bitwise():
    """`neighbours.neighbour_scores` adds rows of the neighbour matrix one history at a time;
    the answer is the product of the 0/1 history matrix with it, to the bit (duplicates,
    empty histories and indices outside the catalogue included)."""
    import scipy.sparse as sp
    from chalicelib.algorithms.base import History
    from chalicelib.algorithms.neighbours import neighbour_scores
    rng = np.random.default_rng(4)
    n = 300
    s = sp.random(n, n, density=0.3, format="csr", random_state=5, dtype=np.float32)
    s.data -= 0.5                                            # weights of both signs
    hs = [History(rng.integers(0, n, k).astype(np.int32)) for k in (1, 3, 40, 700)]
    hs += [History(np.zeros(0, np.int32)), History(np.array([-1, n, 7, 7], np.int64))]
    rows = [np.unique(h.items[(h.items >= 0) & (h.items < n)]) for h in hs]
    onehot = sp.csr_matrix((np.ones(sum(r.size for r in rows), np.float32),
                            (np.repeat(np.arange(len(hs)), [r.size for r in rows]), np.concatenate(rows))),
                           shape=(len(hs), n))
    want = np.asarray((onehot @ s).todense(), np.float64)
    got = neighbour_scores(s, hs)
    assert got.dtype == np.float64 and np.array_equal(got, want)
