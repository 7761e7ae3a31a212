"""Warm start (today's trainingMode UPDATE): chalicelib/algorithms/warm_start.py, the HRNN family's
`fit(..., warm_start=previous)` and the trainer's `model` channel, on small synthetic data."""
import json
import os

import numpy as np
import pytest

from chalicelib.algorithms import hrnn, warm_start
from chalicelib.algorithms.base import Metadata, TrainingData, load_model
from chalicelib.algorithms.data import from_arrays
from chalicelib.algorithms.registry import recipe_for
from chalicelib.service.solution_versions import UPDATABLE_RECIPES
from chalicelib.training import artifacts, contract, entry
from tests.unit.synthetic import group_data

FAST = {"model.num_hidden": "32", "training.batch_size": "8", "training.epochs": "6",
        "model.dropout": "0.0"}
GROUPS = 4


def merged(*parts):
    """One TrainingData of several (later parts a day later each), ids as strings."""
    users, items, stamps = [], [], []
    for k, d in enumerate(parts):
        it = d.interactions
        users.append(d.user_ids[it.user])
        items.append(d.item_ids[it.item])
        stamps.append(it.timestamp + k * 86400)
    return from_arrays(np.concatenate(users), np.concatenate(items), np.concatenate(stamps))


@pytest.fixture(scope="module")
def before():
    return group_data(80, GROUPS, 10, item_name="g{g}-{k:02d}", seed=0)


@pytest.fixture(scope="module")
def after(before):
    """The same users again, new users, and two new items per group (k = 10, 11)."""
    return merged(before, group_data(60, GROUPS, 12, item_name="g{g}-{k:02d}", seed=1, user_name="v{u}"))


@pytest.fixture(scope="module")
def previous(before):
    return recipe_for("aws-hrnn").fit(before, FAST, seed=0)


@pytest.fixture(scope="module")
def updated(after, previous):
    return recipe_for("aws-hrnn").fit(after, FAST, seed=0, warm_start=previous)


def rows_of(model, ids):
    where = {i: k for k, i in enumerate(model.item_ids.tolist())}
    return np.array([where[i] for i in ids])


# ---- the index --------------------------------------------------------------------------

def test_align_puts_the_previous_ids_first_in_their_order():
    data = from_arrays(["a", "b", "c", "a"], ["x", "y", "z", "w"], [1, 2, 3, 4])
    data.items = Metadata(fields={"GENRE": np.array(["gw", "gx", "gy", "gz"])})
    aligned, item_rows, user_rows = warm_start.align(data, np.array(["z", "gone", "x"]), np.array(["c", "a"]))
    assert aligned.item_ids.tolist() == ["z", "x", "w", "y"]
    assert item_rows.tolist() == [0, 2, -1, -1]          # "gone" left the catalogue
    assert aligned.user_ids.tolist() == ["c", "a", "b"] and user_rows.tolist() == [0, 1, -1]
    it = aligned.interactions
    assert list(zip(aligned.user_ids[it.user], aligned.item_ids[it.item])) == \
        [("a", "x"), ("b", "y"), ("c", "z"), ("a", "w")]
    assert aligned.items.fields["GENRE"].tolist() == ["gz", "gx", "gw", "gy"]
    same, rows, _ = warm_start.align(aligned, aligned.item_ids)
    assert same.item_ids.tolist() == aligned.item_ids.tolist() and rows.tolist() == [0, 1, 2, 3]


def test_feature_columns_map_by_name():
    assert warm_start.feature_rows(["g=a", "g=b"], ["g=b", "g=c", "g=a"], 2).tolist() == [1, -1, 0]
    assert warm_start.feature_rows(None, ["x", "y"], 2).tolist() == [0, 1]
    assert warm_start.feature_rows(None, ["x", "y"], 3).tolist() == [-1, -1]


# ---- the HRNN warm start ----------------------------------------------------------------

def test_carry_over_copies_the_previous_rows_and_places_new_items(after, previous):
    aligned, warm = hrnn.prepare_warm_start("aws-hrnn", after, previous)
    hp = hrnn.parse_hyperparameters("aws-hrnn", dict(FAST, **hrnn.warm_hyperparameters(previous)))
    net = hrnn.HrnnNet.create(np.random.default_rng(0), aligned.n_items, num_layers=hp["model.num_layers"],
                              num_hidden=hp["model.num_hidden"], skip_connection=hp["model.skip_connection"])
    items, _, bounds = hrnn.user_sequences(aligned)
    facts = hrnn._carry_over(net, warm, items, bounds[:-1], bounds[1:], lambda m: None)
    n_old = previous.item_ids.shape[0]
    assert np.array_equal(net.params["E_in"][:n_old], previous.net.params["E_in"])
    assert np.array_equal(net.params["s0.U"], previous.net.params["s0.U"])
    assert facts["carriedItems"] == n_old and facts["newItems"] == 2 * GROUPS
    assert facts["placedByCooccurrence"] == 2 * GROUPS
    # a new item starts near its own group's items (the users who chose it chose those)
    emb = net.params["E_in"]
    for g in range(GROUPS):
        new = rows_of(aligned, [f"g{g}-10"])[0]
        centres = [emb[rows_of(aligned, [f"g{h}-{k:02d}" for k in range(10)])].mean(axis=0) for h in range(GROUPS)]
        assert int(np.argmax([c @ emb[new] for c in centres])) == g


def test_an_update_keeps_what_the_previous_model_learnt(previous, updated):
    n_old = previous.item_ids.shape[0]
    assert updated.item_ids[:n_old].tolist() == previous.item_ids.tolist()
    old, new = previous.net.params["E_in"], updated.net.params["E_in"][:n_old]
    cosine = (old * new).sum(axis=1) / (np.linalg.norm(old, axis=1) * np.linalg.norm(new, axis=1))
    assert cosine.mean() > 0.9, cosine.mean()
    facts = updated.info["warm_start"]
    assert facts["newItems"] == 2 * GROUPS and facts["startValidation"] is not None


def test_new_items_get_rows_and_are_recommended_to_their_group(after, previous, updated):
    assert updated.item_ids.shape[0] == after.n_items
    new = rows_of(updated, [f"g0-{k}" for k in (10, 11)])
    assert (new >= previous.item_ids.shape[0]).all()        # after the carried items
    history = [f"g0-{k:02d}" for k in range(5)]
    from chalicelib.algorithms.base import History
    ids, _ = updated.recommend([History(rows_of(updated, history).astype(np.int32))], 7)
    assert set(new.tolist()) & set(ids[0].tolist())


def test_an_update_costs_fewer_epochs_than_a_full_training(after, previous, updated):
    full = recipe_for("aws-hrnn").fit(after, FAST, seed=0)
    assert updated.info["epochs"] == warm_start.UPDATE_EPOCHS < full.info["epochs"]


def test_structure_comes_from_the_previous_model(after, previous):
    given = dict(FAST, **{"model.num_hidden": "64"})
    model = recipe_for("aws-hrnn").fit(after, given, seed=0, warm_start=previous)
    assert model.net.num_hidden == previous.net.num_hidden == 32


def test_metadata_places_new_items_and_keeps_known_feature_weights(before, after):
    def with_genres(data):
        genre = np.array([f"G{int(i[1])}" for i in data.item_ids.tolist()], dtype="<U16")
        genre[data.item_ids == "g3-11"] = "G3|NEW"    # a genre the previous model never saw
        data.items = Metadata(fields={"GENRE": genre}, categorical=("GENRE",))
        return data
    cold = recipe_for("aws-hrnn-coldstart")
    first = cold.fit(with_genres(TrainingData(**vars(before))), FAST, seed=0)
    second = cold.fit(with_genres(TrainingData(**vars(after))), FAST, seed=0, warm_start=first)
    facts = second.info["warm_start"]
    assert facts["placedByMetadata"] == 2 * GROUPS and facts["carriedFeatureRows"] == GROUPS
    names = second.feature_names["items"]
    assert "GENRE=NEW" in names and "GENRE=NEW" not in first.feature_names["items"]
    saved = second.meta()["features"]["items"]
    assert saved == names


def test_user_personalization_recommends_the_new_items(after, before):
    up = recipe_for("aws-user-personalization")
    hps = {"hidden_dimension": "32"}
    first = up.fit(before, hps, seed=0)
    second = up.fit(after, hps, seed=0, warm_start=first)
    assert second.info["epochs"] == warm_start.UPDATE_EPOCHS
    new = rows_of(second, [f"g{g}-{k}" for g in range(GROUPS) for k in (10, 11)])
    from chalicelib.algorithms.base import History
    h = History(rows_of(second, [f"g1-{k:02d}" for k in range(4)]).astype(np.int32))
    ids, _ = second.recommend([h], 10, exploration_weight=1.0)
    assert set(ids[0].tolist()) & set(new.tolist())


def test_every_updatable_recipe_warm_starts():
    for name in UPDATABLE_RECIPES:
        assert recipe_for(name).supports_warm_start, name
    assert not recipe_for("aws-user-personalization-v2").supports_warm_start


def test_a_warm_start_from_another_family_is_refused(after):
    pop = recipe_for("aws-popularity-count").fit(after, {}, seed=0)
    with pytest.raises(ValueError, match="HRNN family"):
        recipe_for("aws-hrnn").fit(after, FAST, seed=0, warm_start=pop)


# ---- the trainer's model channel --------------------------------------------------------

def run_trainer(root, data, mode, previous_archive=None, recipe="aws-hrnn"):
    from chalicelib.training import channel
    layout = contract.Layout(root)
    channels = (contract.TRAIN_CHANNEL,) + ((contract.MODEL_CHANNEL,) if previous_archive else ())
    hps = dict(FAST, _recipes=json.dumps([{"recipe": recipe, "recipeArn": recipe}]), _seed="3",
               _training_mode=mode)
    layout.create(hps, channels=channels)
    channel.write_channel(data, layout.channel_dir())
    if previous_archive:
        artifacts.pack(previous_archive, os.path.join(layout.channel_dir(contract.MODEL_CHANNEL), artifacts.ARCHIVE))
    code = entry.run(root, log=lambda m: None)
    assert code == 0, layout.read_failure()
    with open(os.path.join(layout.model_dir, entry.REPORT_FILE)) as f:
        return layout.model_dir, json.load(f)


def test_the_trainer_warm_starts_from_the_model_channel(tmp_path, before, after):
    full_dir, full = run_trainer(str(tmp_path / "full"), before, "FULL")
    assert full["trainingMode"] == "FULL" and "warmStart" not in full
    update_dir, update = run_trainer(str(tmp_path / "update"), after, "UPDATE", previous_archive=full_dir)
    assert update["trainingMode"] == "UPDATE"
    assert update["warmStart"]["previousRecipe"] == "aws-hrnn"
    assert update["warmStart"]["newItems"] == 2 * GROUPS and update["warmStart"]["epochs"] == 1
    model = load_model(update_dir)
    previous = load_model(full_dir)
    assert model.item_ids[:previous.item_ids.shape[0]].tolist() == previous.item_ids.tolist()


def test_an_update_without_the_model_channel_fails_saying_so(tmp_path, after):
    from chalicelib.training import channel
    layout = contract.Layout(str(tmp_path))
    layout.create(dict(FAST, _recipes=json.dumps([{"recipe": "aws-hrnn"}]), _training_mode="UPDATE"))
    channel.write_channel(after, layout.channel_dir())
    assert entry.run(str(tmp_path), log=lambda m: None) == 1
    assert "model channel has no model.tar.gz" in layout.read_failure()
