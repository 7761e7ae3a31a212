"""Helpers shared by the algorithm tests: finite differences, item lookup, grouped data."""
import numpy as np

from chalicelib.algorithms.data import from_arrays

EPS = 1e-6


def numeric(f, arr, idx):
    """Central finite difference of the scalar `f()` with respect to `arr[idx]`."""
    old = arr[idx]
    arr[idx] = old + EPS
    up = f()
    arr[idx] = old - EPS
    down = f()
    arr[idx] = old
    return (up - down) / (2 * EPS)


def assert_close(num, ana, what):
    assert abs(num - ana) <= 1e-5 * max(1.0, abs(num) + abs(ana)), f"{what}: numeric {num} vs analytic {ana}"


def idx(data, *names):
    """Item indices of item IDs."""
    return np.array([int(np.flatnonzero(data.item_ids == n)[0]) for n in names], np.int32)


def group_data(n_users, groups, per_group, *, item_name, user_name="u{u}", seed=0, extra_items=()):
    """User u consumes every item of group `u % groups` once, in a seeded random order, a
    minute apart: the history says which group, the rest of that group comes next.
    `item_name` formats the IDs from `g` and `k` (the item's place in its group)."""
    rng = np.random.default_rng(seed)
    users, items, stamps = [], [], []
    for u in range(n_users):
        g = u % groups
        for t, k in enumerate(rng.permutation(per_group)):
            users.append(user_name.format(u=u))
            items.append(item_name.format(g=g, k=k))
            stamps.append(1_000_000 + 60 * t)
    return from_arrays(users, items, stamps, catalogue=list(extra_items))
