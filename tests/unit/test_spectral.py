"""Starting item embeddings from a truncated SVD (chalicelib/algorithms/spectral.py)."""
import numpy as np
import pytest
import scipy.sparse as sp

from chalicelib.algorithms import spectral


def _two_communities(n_items=40, n_users=60):
    """Users of community 0 interact with items 0-19 only, community 1 with 20-39."""
    rng = np.random.default_rng(3)
    seqs = [rng.choice(n_items // 2, 8, replace=False) + (u % 2) * (n_items // 2) for u in range(n_users)]
    starts = np.arange(n_users) * 8
    return np.concatenate(seqs).astype(np.int64), starts, starts + 8


def test_co_occurring_items_start_close_at_the_documented_norm():
    items, starts, ends = _two_communities()
    v = spectral.item_factors(items, starts, ends, 40, 8, np.random.default_rng(0), row_norm=2.0)
    assert v.shape == (40, 8)
    assert np.linalg.norm(v, axis=1).mean() == pytest.approx(2.0)
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    cos = unit @ unit.T
    group = np.arange(40) >= 20
    same = group[:, None] == group[None, :]
    other = ~same
    np.fill_diagonal(same, False)
    assert cos[same].mean() > cos[other].mean() + 0.3


def test_dense_and_randomized_paths_agree_up_to_rotation(monkeypatch):
    items, starts, ends = _two_communities()
    dense = spectral.item_factors(items, starts, ends, 40, 2, np.random.default_rng(0), 1.0)
    monkeypatch.setattr(spectral, "DENSE_SVD_MAX_CELLS", 0)
    fast = spectral.item_factors(items, starts, ends, 40, 2, np.random.default_rng(0), 1.0)
    # the two leading directions (one per community, tied singular values) span a unique
    # subspace, so item-item products agree whatever basis a solver returns
    assert np.allclose(dense @ dense.T, fast @ fast.T, atol=1e-2)


def test_randomized_svd_finds_the_leading_subspace():
    x = sp.random(60, 40, density=0.2, random_state=1, format="csr")
    s, vt = spectral.randomized_svd(x, 5, np.random.default_rng(2), n_iter=6)
    _, s_ref, vt_ref = np.linalg.svd(x.toarray(), full_matrices=False)
    assert np.allclose(s, s_ref[:5], rtol=1e-3)
    # same subspace: the projection of each reference vector onto vt keeps its length
    assert np.allclose(np.linalg.norm(vt_ref[:3] @ vt.T, axis=1), 1.0, atol=1e-3)


def test_start_embeddings_fills_the_leading_columns_of_every_table():
    items, starts, ends = _two_communities()
    params = {"E_in": np.zeros((40, 12), np.float32), "E_out": np.ones((40, 12), np.float32)}
    assert spectral.start_embeddings(params, ["E_in", "E_out"], items, starts, ends,
                                     np.random.default_rng(0), 2.0)
    assert np.array_equal(params["E_in"][:, :8], params["E_out"][:, :8]) and np.any(params["E_in"])
    # 60 sequences of rank <= 59: all 12 columns can be filled
    assert np.any(params["E_in"][:, 11])


def test_nothing_to_factor_leaves_the_random_start():
    params = {"E_in": np.full((5, 4), 0.5, np.float32)}
    one_user = spectral.start_embeddings(params, ["E_in"], np.array([0, 1, 2]), [0], [3],
                                         np.random.default_rng(0), 2.0)
    empty = spectral.start_embeddings(params, ["E_in"], np.array([], np.int64), [0], [0],
                                      np.random.default_rng(0), 2.0)
    assert not one_user and not empty and np.all(params["E_in"] == 0.5)
