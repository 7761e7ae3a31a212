"""Adam over named parameters (chalicelib/algorithms/optim.py)."""
import numpy as np

from chalicelib.algorithms.optim import Adam, merge_rows


def test_first_step_moves_each_entry_by_the_rate_times_its_scale():
    params = {"a": np.zeros(3, np.float32), "b": np.zeros(3, np.float32), "c": np.zeros(3, np.float32)}
    opt = Adam(params, lr=0.01, lr_scale={"b": 0.1, "c": 0.0})
    g = np.array([1.0, -2.0, 0.5], np.float32)
    opt.step(params, {"a": g, "b": g, "c": g})
    # bias-corrected first Adam step: m / sqrt(v) = sign(g)
    assert np.allclose(params["a"], -0.01 * np.sign(g), atol=1e-6)
    assert np.allclose(params["b"], -0.001 * np.sign(g), atol=1e-6)
    assert not np.any(params["c"])


def test_row_sparse_gradients_move_only_their_rows():
    params = {"E": np.ones((4, 2), np.float32)}
    opt = Adam(params, lr=0.1, lr_scale={"E": 0.5})
    opt.step(params, {"E": (np.array([1, 3]), np.ones((2, 2), np.float32))})
    assert np.allclose(params["E"][[0, 2]], 1.0)
    assert np.allclose(params["E"][[1, 3]], 1.0 - 0.05, atol=1e-6)


def test_merge_rows_sums_pairs_with_shared_rows():
    rows, vals = merge_rows([(np.array([0, 2]), np.ones((2, 1))), (np.array([2, 5]), np.ones((2, 1)))],
                            np.float32)
    assert rows.tolist() == [0, 2, 5] and vals.ravel().tolist() == [1.0, 2.0, 1.0]
