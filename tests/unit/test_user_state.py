"""Issue 15 item 1: a user's state carried forward (`Model.fold`) scores exactly as the model
reading the whole history again, for every recipe that carries one."""
import numpy as np
import pytest

from chalicelib.algorithms.base import History
from chalicelib.algorithms.registry import recipe_for
from tests.unit.test_hrnn import cyclic_data

HP = {
    "aws-hrnn": {"model.num_hidden": "32", "training.epochs": "1", "training.batch_size": "4"},
    "aws-hrnn-coldstart": {"model.num_hidden": "32", "training.epochs": "1", "training.batch_size": "4"},
    "aws-user-personalization": {"hidden_dimension": "32", "exploration_weight": "0.5"},
    "aws-ffnn": {"dsize": "8", "batch_size": "16", "min_hist_length": "1", "max_hist_length": "100"},
    "aws-deepfm": {"epochs": "1"},
}


@pytest.fixture(scope="module")
def data():
    return cyclic_data()


def long_history(n_items, length=400, seed=1):
    """Random items (a few outside the catalogue, as recorded events of new items are) with
    gaps over and under the session gap."""
    rng = np.random.default_rng(seed)
    items = rng.integers(0, n_items, length).astype(np.int32)
    items[rng.random(length) < 0.05] = n_items + 3
    stamps = 1_000_000 + np.cumsum(rng.choice([30, 60, 7200], length))
    return History(items, stamps.astype(np.int64))


@pytest.mark.parametrize("recipe", sorted(HP))
def test_carried_state_scores_as_the_whole_history(data, recipe):
    model = recipe_for(recipe).fit(data, HP[recipe], seed=0)
    full = long_history(model.item_ids.shape[0])
    every = np.arange(model.item_ids.shape[0])
    state = None
    for end in (0, 1, 5, 6, 60, 61, 250, 400):   # folds of 0, 1, 4, 1, 54, ... new positions
        prefix = History(full.items[:end], full.timestamps[:end])
        state = model.fold(state, prefix)
        assert state.folded == end
        want = model.rank(prefix, every)
        got = model.rank(prefix, every, state=state)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
        wi, wv = model.recommend([prefix], 10)
        gi, gv = model.recommend([prefix], 10, states=[state])
        np.testing.assert_allclose(gv, wv, rtol=1e-4, atol=1e-5)
        assert (gi == wi).mean() >= 0.9   # near-equal scores may swap places


def test_models_without_state_say_so(data):
    model = recipe_for("aws-popularity-count").fit(data, {}, seed=0)
    assert model.fold(None, History(np.arange(3, dtype=np.int32))) is None


def test_a_loaded_model_maps_its_arrays_read_only(data, tmp_path):
    from chalicelib.algorithms.base import load_model
    model = recipe_for("aws-hrnn").fit(data, HP["aws-hrnn"], seed=0)
    model.save(str(tmp_path))
    loaded = load_model(str(tmp_path))
    table = loaded.net.params["E_in"]
    assert isinstance(table.base if not isinstance(table, np.memmap) else table, np.memmap) \
        or isinstance(table, np.memmap)
    assert not table.flags.writeable
    with pytest.raises(ValueError):
        table[0, 0] = 1.0
    h = long_history(model.item_ids.shape[0], 50)
    np.testing.assert_allclose(loaded.rank(h, np.arange(12)), model.rank(h, np.arange(12)), rtol=1e-6)
