"""Softmax cross-entropy and negative sampling shared by the networks (algorithms/softmax.py)."""
import numpy as np

from chalicelib.algorithms.softmax import NegativeSampler, softmax_cross_entropy


def test_cross_entropy_and_its_gradient_match_the_definition():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 5))
    rows, cols, w = np.array([0, 1, 1, 2]), np.array([4, 0, 2, 3]), np.array([1.0, 0.5, 0.5, 1.0])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.sum(w * np.log(p[rows, cols])) / 3
    target = np.zeros_like(p)
    np.add.at(target, (rows, cols), w)
    loss, grad = softmax_cross_entropy(logits.copy(), rows, cols, w)
    assert np.isclose(loss, expected) and np.allclose(grad, (p - target) / 3)


def test_negatives_follow_count_to_the_alpha_and_inclusion_matches_sampling():
    counts = np.array([0.0, 1.0, 4.0, 16.0, 64.0])
    sampler = NegativeSampler(counts, 0.5, k=3)
    rng = np.random.default_rng(1)
    draws = np.concatenate([sampler.draw(rng) for _ in range(20_000)])
    share = np.bincount(draws, minlength=5) / draws.size
    assert share[0] == 0 and np.allclose(share, np.sqrt(counts) / np.sqrt(counts).sum(), atol=0.01)
    # with no targets, P(item among 3 draws) = 1 - (1 - q)^3, which 1 - exp(-3 q) approximates
    # for the rare items (the many whose correction matters)
    q = sampler.q[1:]
    est = np.exp(sampler.log_inclusion(0)(np.arange(1, 5)))
    assert np.allclose(est, 1 - np.exp(-3 * q))
    rare = q < 0.15
    assert rare.sum() == 2 and np.allclose(est[rare], 1 - (1 - q[rare]) ** 3, atol=0.02)
