"""Finite-difference gradient checks (float64) for every layer of the HRNN network:
GRU cell, item representations (embeddings + item metadata), user metadata initialisation,
session/user hierarchy, dropout, skip connection, and the sampled-softmax output."""
import numpy as np
import pytest
import scipy.sparse as sp

from chalicelib.algorithms.gru import gru_cell, gru_step_backward, init_gru
from chalicelib.algorithms.hrnn_net import CONTINUE, NEW_SESSION, NEW_USER, HrnnNet
from chalicelib.algorithms.optim import merge_rows
from tests.unit.synthetic import assert_close, numeric


def test_gru_cell_gradients():
    rng = np.random.default_rng(0)
    p = init_gru(rng, 4, 3, np.float64)
    p["b"] = rng.normal(size=p["b"].shape)
    x, h = rng.normal(size=(2, 4)), rng.normal(size=(2, 3))
    w = rng.normal(size=(2, 3))                      # loss = sum(w * h_new)
    f = lambda: float((w * gru_cell(x, h, p)[0]).sum())
    _, cache = gru_cell(x, h, p)
    dax, dah, dh = gru_step_backward(w, cache, p["U"])
    grads = {"W": x.T @ dax, "U": h.T @ dah, "b": dax.sum(0), "x": dax @ p["W"].T, "h": dh}
    arrays = dict(p, x=x, h=h)
    for name, g in grads.items():
        for idx in np.ndindex(*arrays[name].shape):
            assert_close(numeric(f, arrays[name], idx), g[idx], f"{name}{idx}")


def test_gru_step_keeps_state_when_update_gate_saturates():
    rng = np.random.default_rng(1)
    p = init_gru(rng, 2, 2, np.float64)
    p["b"][:2] = 50.0                                 # z ~ 1: h' ~ h
    h = rng.normal(size=(1, 2))
    assert np.allclose(gru_cell(rng.normal(size=(1, 2)), h, p)[0], h, atol=1e-8)


def _net(rng, *, layers, skip, tied, meta, n_items=11, hidden=4):
    fi = sp.random(n_items, 5, density=0.5, random_state=3, format="csr") if meta else None
    fu = sp.random(4, 3, density=0.7, random_state=4, format="csr") if meta else None
    return HrnnNet.create(rng, n_items, num_layers=layers, num_hidden=hidden, skip_connection=skip,
                          tied=tied, item_features=fi, user_features=fu, dtype=np.float64, init_scale=0.5)


def _check_net(net, rng, *, dropout, t_len=5, b=3, span=2, checks=8):
    n_items, hd = net.params["b_out"].shape[0], net.num_hidden
    X = rng.integers(0, n_items, (t_len, b))
    # every mode at least once, including session changes right after a user change
    M = np.array([[NEW_USER, CONTINUE, NEW_SESSION]] + [[CONTINUE, NEW_SESSION, NEW_USER]]
                 + [list(rng.choice([0, 0, 1, 2], b)) for _ in range(t_len - 2)], np.int8)
    U = rng.integers(-1, 4, (t_len, b))
    Y = rng.integers(-1, n_items, (t_len * b, span))
    Y[:, 0] = np.abs(Y[:, 0])
    state = ([rng.normal(size=(b, hd)) for _ in range(net.num_layers)], rng.normal(size=(b, hd)))
    negatives = rng.integers(0, n_items, 4)
    log_q = rng.normal(size=n_items)

    def run():
        out, tape, _ = net.forward(X, M, U, state, dropout=dropout, rng=np.random.default_rng(7))
        grads = {}
        loss, do = net.sampled_softmax(out.reshape(-1, hd), Y, negatives, grads, target_weights=[1.0, 0.5],
                                       log_inclusion=lambda c: log_q[c])
        return loss, out, tape, grads, do

    loss, out, tape, grads, do = run()
    net.backward(do.reshape(out.shape), tape, grads)
    checked = 0
    for name, arr in net.params.items():
        g = grads.get(name)
        if isinstance(g, list):
            rows, vals = merge_rows(g, np.float64)
            dense = np.zeros_like(arr)
            dense[rows] = vals
            g = dense
        g = np.zeros_like(arr) if g is None else g
        for _ in range(checks):
            idx = tuple(int(rng.integers(0, s)) for s in arr.shape)
            assert_close(numeric(lambda: run()[0], arr, idx), g[idx], f"{name}{idx}")
            checked += 1
    return checked


@pytest.mark.parametrize("layers,skip,tied", [(1, False, True), (1, True, False), (2, False, False),
                                              (3, True, True)])
def test_network_gradients(layers, skip, tied):
    rng = np.random.default_rng(layers * 10 + skip)
    net = _net(rng, layers=layers, skip=skip, tied=tied, meta=False)
    assert _check_net(net, rng, dropout=0.0) > 0


@pytest.mark.parametrize("tied", [True, False])
def test_metadata_layer_gradients_with_dropout(tied):
    rng = np.random.default_rng(5)
    net = _net(rng, layers=2, skip=True, tied=tied, meta=True)
    assert "A_in" in net.params and "C" in net.params
    _check_net(net, rng, dropout=0.3, checks=3)


def test_sampled_softmax_matches_full_softmax_when_all_items_are_candidates():
    rng = np.random.default_rng(2)
    net = _net(rng, layers=1, skip=False, tied=True, meta=False, n_items=6)
    O = rng.normal(size=(3, 4))
    Y = np.array([1, 4, 4])
    loss, _ = net.sampled_softmax(O, Y, np.arange(6), {})
    s = net.scores(O)
    ref = np.mean(np.log(np.exp(s).sum(1)) - s[np.arange(3), Y])
    assert np.isclose(loss, ref)
