"""The evaluation protocol: split invariants, determinism, the three recipe types, the CLI."""
import numpy as np
import pytest

from chalicelib.algorithms import evaluate as cli
from chalicelib.algorithms.base import (RELATED_ITEMS, SEARCH_PERSONALIZATION, USER_PERSONALIZATION,
                                        Model)
from chalicelib.algorithms.data import from_arrays, read_interactions_csv
from chalicelib.algorithms.evaluation import (evaluate, evaluate_model, recommendation_lists,
                                              split_interactions)


def synthetic(n_users=50, n_items=40, seed=0, min_len=1, max_len=30):
    rng = np.random.default_rng(seed)
    users, items, ts = [], [], []
    for u in range(n_users):
        m = int(rng.integers(min_len, max_len + 1))
        users += [f"u{u}"] * m
        items += [f"i{x}" for x in rng.choice(n_items, size=m, replace=False)]
        ts += list(1_500_000_000 + rng.integers(0, 10_000_000, size=m))
    return from_arrays(users, items, ts, catalogue=[f"extra{j}" for j in range(3)])


def test_split_invariants():
    data = synthetic()
    counts = np.bincount(data.interactions.user, minlength=data.n_users)
    s = split_interactions(data, seed=3)
    assert s.users.size == round(0.1 * np.count_nonzero(counts)) == 5
    assert np.all(counts[s.users] >= 2)
    assert list(s.users) == sorted(s.users)
    it = data.interactions
    for u, h, t in zip(s.users, s.histories, s.targets):
        n = counts[u]
        n_t = max(1, n // 10)
        assert h.items.size == n - n_t and h.items.size >= 1 and t.size >= 1
        assert np.all(np.diff(h.timestamps) >= 0)
        own = it.item[it.user == u]
        assert set(h.items) | set(t) == set(own) and not (set(h.items) & set(t))
        newest = it.timestamp[it.user == u]
        assert h.timestamps.max() <= np.sort(newest)[-n_t:].min()
    # training data: every other user's interactions, nothing of the evaluation users
    assert not np.isin(s.train.interactions.user, s.users).any()
    assert len(s.train.interactions) == len(it) - counts[s.users].sum()
    assert s.train.n_items == data.n_items == 43 and s.train.n_users == data.n_users


def test_split_is_deterministic_under_a_seed():
    data = synthetic()
    a, b, c = (split_interactions(data, seed=k) for k in (7, 7, 8))
    assert np.array_equal(a.users, b.users)
    assert all(np.array_equal(x, y) for x, y in zip(a.targets, b.targets))
    assert not np.array_equal(a.users, c.users)


def test_single_interaction_users_are_never_evaluation_users_and_one_is_minimum():
    data = from_arrays(["a", "b", "c", "c"], ["x", "y", "x", "y"], [1, 2, 3, 4])
    s = split_interactions(data, seed=0)
    assert s.users.tolist() == [2]
    assert s.histories[0].items.tolist() == [0] and s.targets[0].tolist() == [1]
    with pytest.raises(ValueError, match="2 or more interactions"):
        split_interactions(from_arrays(["a", "b"], ["x", "y"], [1, 2]), seed=0)


class Cheater(Model):
    """Recommends history first, then targets (if it knows them), then everything else."""

    def __init__(self, item_ids, kind, known_targets=None):
        super().__init__(item_ids)
        self.recipe_type = kind
        self.known = known_targets or {}

    def _list(self, hist_items, user):
        front = list(hist_items[::-1]) + list(self.known.get(user, []))
        rest = [i for i in range(self.item_ids.size) if i not in front]
        return front + rest

    def recommend(self, histories, n, *, users=None, exclude_history=True):
        rows = [self._list(h.items, int(u))[:n] for h, u in zip(histories, users)]
        return np.array(rows), np.zeros((len(rows), n))

    def similar_items(self, items, n):
        rows = [[(q + k) % self.item_ids.size for k in range(1, n + 1)] for q in items]
        return np.array(rows), np.zeros((len(rows), n))

    def rank(self, history, candidates, *, user=None):
        if not self.known:
            return np.zeros(len(candidates))     # ties: the protocol must not favour targets
        return np.isin(candidates, self.known[user]).astype(float)


def test_user_personalization_lists_exclude_history_unless_repeats():
    data = synthetic()
    s = split_interactions(data, seed=1)
    model = Cheater(data.item_ids, USER_PERSONALIZATION)
    lists = recommendation_lists(model, s)
    for row, h, u in zip(lists, s.histories, s.users):
        # this model ignores exclude_history: the protocol removes the history items itself
        expect = [i for i in model._list(h.items, int(u))[:25] if i not in set(h.items)]
        assert row.size == 25 and row[: len(expect)].tolist() == expect
        assert not np.isin(row, h.items).any() and np.all(row[len(expect):] == -1)
    repeats = recommendation_lists(model, s, allow_repeats=True)
    assert all(np.isin(h.items[-1], row) for row, h in zip(repeats, s.histories))


def test_oracle_gets_perfect_ranking_metrics():
    data = synthetic()
    s = split_interactions(data, seed=2)
    known = {int(u): t for u, t in zip(s.users, s.targets)}
    m = evaluate_model(Cheater(data.item_ids, USER_PERSONALIZATION, known), s)
    assert m["normalized_discounted_cumulative_gain_at_25"] == pytest.approx(1.0)
    assert m["mean_reciprocal_rank_at_25"] == 1.0
    assert m["_num_evaluation_users"] == 5 and m["_num_unique_items"] == 43


def test_related_items_queries_last_history_item_and_overfetches():
    data = synthetic(max_len=30)
    s = split_interactions(data, seed=4)
    lists = recommendation_lists(Cheater(data.item_ids, RELATED_ITEMS), s)
    for row, h in zip(lists, s.histories):
        expect = [(h.items[-1] + k) % data.n_items for k in range(1, data.n_items)]
        expect = [i for i in expect if i not in set(h.items)][:25]
        assert row[: len(expect)].tolist() == expect


def test_search_personalization_ranks_targets_plus_100_sampled_items():
    data = synthetic(n_users=40, n_items=400, max_len=60)
    s = split_interactions(data, seed=5)
    known = {int(u): t for u, t in zip(s.users, s.targets)}
    seen = []

    class Spy(Cheater):
        def rank(self, history, candidates, *, user=None):
            seen.append((user, np.array(candidates)))
            return super().rank(history, candidates, user=user)

    oracle = evaluate_model(Spy(data.item_ids, SEARCH_PERSONALIZATION, known), s)
    for (user, cand), t, h in zip(seen, s.targets, s.histories):
        assert len(set(cand.tolist())) == len(cand) == t.size + 100
        assert set(t) <= set(cand.tolist()) and not (set(cand.tolist()) - set(t)) & set(h.items)
    assert oracle["mean_reciprocal_rank_at_25"] == 1.0
    flat = evaluate_model(Cheater(data.item_ids, SEARCH_PERSONALIZATION), s)
    assert flat["mean_reciprocal_rank_at_25"] < 0.5     # shuffled ties, not targets first


def test_evaluate_fits_on_training_part_only_and_is_deterministic():
    data = synthetic()
    m1, fit1, model = evaluate("aws-popularity-count", data, {}, seed=0)
    m2, _, _ = evaluate("aws-popularity-count", data, {}, seed=0)
    assert m1 == m2 and fit1 >= 0
    s = split_interactions(data, seed=0)
    expected = np.bincount(s.train.interactions.item, minlength=data.n_items)
    assert np.array_equal(model.counts, expected)
    for key in ("precision_at_5", "normalized_discounted_cumulative_gain_at_10",
                "mean_reciprocal_rank_at_25", "coverage", "_user_history_length_50_pct_quantile"):
        assert key in m1


def test_csv_reader_both_headers_and_crlf(tmp_path):
    ml = tmp_path / "ratings.csv"
    ml.write_bytes(b"userId,movieId,rating,timestamp\r\n1,10,4.0,100\r\n1,20,3.5,200\r\n2,10,5.0,150\r\n")
    d = read_interactions_csv(str(ml))
    assert d.user_ids.tolist() == ["1", "2"] and d.item_ids.tolist() == ["10", "20"]
    assert d.interactions.timestamp.tolist() == [100, 200, 150]
    assert d.interactions.event_value.tolist() == [4.0, 3.5, 5.0]
    ours = tmp_path / "interactions.csv"
    ours.write_text("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu,a,1,click\nu,b,2,buy\n")
    d = read_interactions_csv(str(ours))
    assert d.event_types == ("buy", "click") and d.interactions.event_type.tolist() == [1, 0]
    bad = tmp_path / "bad.csv"
    bad.write_text("who,what\n1,2\n")
    with pytest.raises(ValueError, match="lacks"):
        read_interactions_csv(str(bad))


def test_cli_prints_a_table(tmp_path, capsys):
    data_rows = ["USER_ID,ITEM_ID,TIMESTAMP"]
    rng = np.random.default_rng(0)
    for u in range(30):
        for i in rng.choice(25, size=12, replace=False):
            data_rows.append(f"u{u},i{i},{1_500_000_000 + int(rng.integers(0, 10**6))}")
    path = tmp_path / "ratings.csv"
    path.write_text("\r\n".join(data_rows) + "\r\n")
    rc = cli.main(["--recipe", "aws-popularity-count", "--recipe", "aws-sims", "--data", str(path),
                   "--seeds", "2", "--hyperparameters", "min_copurchase_count=1"])
    out = capsys.readouterr()
    assert rc == 2 and "min_copurchase_count: not a hyperparameter of aws-popularity-count" in out.err
    rc = cli.main(["--recipe", "aws-sims", "--data", str(path), "--seeds", "2",
                   "--hyperparameters", "min_copurchase_count=1", "top_n=10"])
    out = capsys.readouterr().out
    assert rc == 0 and "aws-sims" in out and "NDCG@10" in out and "±" in out
    assert "evaluation users per seed: 3" in out
