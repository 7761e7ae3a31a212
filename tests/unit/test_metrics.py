"""Metrics of EVALUATION.md on hand-computed cases (and the seed's worked example)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from chalicelib.algorithms.evaluation import hit_matrix, ranking_metrics

NDCG = "normalized_discounted_cumulative_gain_at_"


def T(*items):
    return np.array(items, np.int32)


def test_seed_worked_example_relevance_0101():
    # Seed "Evaluating Solutions": 4 recommendations, the 2nd and 4th clicked.
    m = ranking_metrics(np.array([[10, 11, 12, 13]]), [T(11, 13)], n_catalogue=100, ks=(4,))
    assert m["precision_at_4"] == 0.5
    # (1/log2(3) + 1/log2(5)) / (1/log2(2) + 1/log2(3)) = 0.65 in the seed
    assert m[NDCG + "4"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    assert round(m[NDCG + "4"], 2) == 0.65
    # EVALUATION.md: 1 / rank of the first hit (the seed's table averages over all hits: 0.375)
    assert m["mean_reciprocal_rank_at_25"] == 0.5
    assert m["coverage"] == 4 / 100


def test_single_target_at_position_three():
    rec = np.array([[5, 6, 7, 8, 9, 1, 2, 3, 4, 0]])
    m = ranking_metrics(rec, [T(7)], n_catalogue=20)
    assert m["precision_at_5"] == pytest.approx(1 / 5)
    assert m["precision_at_10"] == pytest.approx(1 / 10)
    assert m["precision_at_25"] == pytest.approx(1 / 25)
    assert m[NDCG + "5"] == pytest.approx(1 / math.log2(4))     # ideal: 1 hit at the top
    assert m[NDCG + "25"] == pytest.approx(0.5)
    assert m["mean_reciprocal_rank_at_25"] == pytest.approx(1 / 3)
    assert m["coverage"] == 10 / 20


def test_ideal_dcg_counts_min_of_targets_and_k():
    rec = np.array([np.arange(25)])
    many = T(*range(10))            # 10 targets, the top 10 are all hits
    m = ranking_metrics(rec, [many], n_catalogue=25)
    assert m[NDCG + "5"] == pytest.approx(1.0)
    assert m[NDCG + "10"] == pytest.approx(1.0)
    assert m[NDCG + "25"] == pytest.approx(1.0)   # ideal at 25 has only 10 hits
    assert m["precision_at_5"] == 1.0 and m["precision_at_25"] == pytest.approx(10 / 25)


def test_averaged_over_users_and_misses_count_zero():
    rec = np.array([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5]])
    m = ranking_metrics(rec, [T(1), T(99)], n_catalogue=100)
    assert m["precision_at_5"] == pytest.approx((1 / 5 + 0) / 2)
    assert m[NDCG + "5"] == pytest.approx(0.5)
    assert m["mean_reciprocal_rank_at_25"] == pytest.approx(0.5)
    assert m["coverage"] == 5 / 100        # distinct over all users


def test_padding_never_hits_and_is_not_covered():
    rec = np.array([[3, -1, -1], [-1, -1, -1]])
    m = ranking_metrics(rec, [T(3), T(0)], n_catalogue=10)
    assert m["precision_at_5"] == pytest.approx(0.1)
    assert m["coverage"] == 0.1
    assert hit_matrix(rec, [T(3), T(0)]).tolist() == [[True, False, False], [False, False, False]]


def test_mrr_stops_at_25():
    rec = np.array([np.arange(100, 130)])
    m = ranking_metrics(rec, [T(127)], n_catalogue=200)   # position 28
    assert m["mean_reciprocal_rank_at_25"] == 0.0 and m["precision_at_25"] == 0.0


def reference(rec, targets, k):
    """Plain per-user loops, straight from the definitions."""
    prec, ndcg, mrr = [], [], []
    for row, t in zip(rec, targets):
        t = set(int(x) for x in t)
        hits = [1 if (x >= 0 and int(x) in t) else 0 for x in list(row)[:k]]
        prec.append(sum(hits) / k)
        dcg = sum(h / math.log2(1 + p) for p, h in enumerate(hits, start=1))
        idcg = sum(1 / math.log2(1 + p) for p in range(1, min(len(t), k) + 1))
        ndcg.append(dcg / idcg if idcg else 0.0)
        first = next((p for p, x in enumerate(list(row)[:25], start=1) if x >= 0 and int(x) in t), None)
        mrr.append(1 / first if first else 0.0)
    return np.mean(prec), np.mean(ndcg), np.mean(mrr)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_vectorised_metrics_match_reference_loops(data):
    n_items = data.draw(st.integers(5, 60))
    b = data.draw(st.integers(1, 6))
    rec, targets = [], []
    for _ in range(b):
        perm = data.draw(st.permutations(list(range(n_items))))
        length = data.draw(st.integers(0, min(n_items, 30)))
        row = list(perm[:length]) + [-1] * (30 - length)
        rec.append(row)
        targets.append(np.array(sorted(data.draw(st.sets(st.integers(0, n_items - 1), min_size=1, max_size=12))),
                                np.int32))
    rec = np.array(rec)
    m = ranking_metrics(rec, targets, n_catalogue=n_items)
    for k in (5, 10, 25):
        p, n, r = reference(rec, targets, k)
        assert m[f"precision_at_{k}"] == pytest.approx(p)
        assert m[NDCG + str(k)] == pytest.approx(n)
        assert 0.0 <= m[NDCG + str(k)] <= 1.0 + 1e-12
        assert m["mean_reciprocal_rank_at_25"] == pytest.approx(r)
    assert m["coverage"] == pytest.approx(len(set(rec[:, :25][rec[:, :25] >= 0].tolist())) / n_items)
