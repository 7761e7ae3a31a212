"""Every recipe trained in epochs pauses at a checkpoint and resumes to the same model
(issue 16 item 4: no 15-minute wall on the lambda backend; `chalicelib.algorithms.checkpoint`).
The others are the single-pass recipes named in `stepwise.SINGLE_PASS`."""
import numpy as np
import pytest

from chalicelib.algorithms import sims
from chalicelib.algorithms.checkpoint import Checkpoint, Paused
from chalicelib.algorithms.registry import RECIPES, recipe_for
from chalicelib.training import stepwise
from tests.unit.test_trainer_contract import tiny_data

# small and short, so that each fit takes a fraction of a second
HYPERPARAMETERS = {
    "aws-hrnn": {"training.epochs": "3", "model.num_hidden": "32"},
    "aws-hrnn-metadata": {"training.epochs": "3", "model.num_hidden": "32"},
    "aws-hrnn-coldstart": {"training.epochs": "3", "model.num_hidden": "32"},
    "aws-personalized-ranking": {"training.epochs": "3", "model.num_hidden": "32"},
    "aws-user-personalization": {"hidden_dimension": "32"},
    "aws-deepfm": {"epochs": "3", "embedding_size": "8"},
}
CHECKPOINTED = sorted(n for n in RECIPES if recipe_for(n).supports_checkpoint)


def test_each_recipe_either_checkpoints_or_is_a_named_single_pass_fit():
    assert set(RECIPES) - set(CHECKPOINTED) == set(stepwise.SINGLE_PASS)
    assert {"aws-ffnn", "aws-deepfm", "aws-user-personalization-v2", "aws-personalized-ranking-v2",
            "aws-hrnn", "aws-user-personalization", "aws-sims"} <= set(CHECKPOINTED)


@pytest.mark.parametrize("name", CHECKPOINTED)
def test_a_fit_paused_at_every_epoch_resumes_to_the_same_model_bit_for_bit(name, tmp_path, monkeypatch):
    monkeypatch.setattr(sims, "CHUNK_PAIRS", 500)   # several co-purchase chunks even on tiny data
    data = tiny_data(n_users=50, n_items=30, metadata=True)
    hps, recipe = HYPERPARAMETERS.get(name, {}), recipe_for(name)
    epochs_whole, epochs_seen = [], []
    whole = recipe.fit(data, dict(hps), seed=5, checkpoint=Checkpoint(
        str(tmp_path / "whole"), budget_seconds=None, on_epoch=lambda e, n: epochs_whole.append((e, n))))
    pauses = 0
    while True:
        checkpoint = Checkpoint(str(tmp_path / "paused"), budget_seconds=0.0,
                                on_epoch=lambda e, n: epochs_seen.append((e, n)))
        try:
            resumed = recipe.fit(data, dict(hps), seed=5, checkpoint=checkpoint)
            break
        except Paused as paused:
            pauses += 1
            assert paused.state["epoch"] == pauses
    epochs = len(epochs_whole)
    assert pauses == epochs - 1 >= 1
    # every epoch reported once, in order, against the same planned total
    assert epochs_seen == epochs_whole and [e for e, _ in epochs_seen] == list(range(1, epochs + 1))
    assert len({n for _, n in epochs_seen}) == 1 and epochs_seen[0][1] >= epochs
    a, b = whole.arrays(), resumed.arrays()
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a), [k for k in a if not np.array_equal(a[k], b[k])]
    history = (getattr(whole, "info", None) or {}).get("history")
    assert (getattr(resumed, "info", None) or {}).get("history") == history
    assert history is None or len(history) == epochs   # every epoch run is reported, the last too


def test_an_early_stopped_fit_reports_the_epoch_it_stopped_on(tmp_path, monkeypatch):
    from chalicelib.algorithms import hrnn
    monkeypatch.setattr(hrnn, "PATIENCE", 1)
    monkeypatch.setattr(hrnn, "MIN_EPOCHS", 1)
    monkeypatch.setattr(hrnn, "MIN_VALIDATION_USERS", 1)
    scores = iter([0.5, 0.4] + [0.3] * 20)      # worse after epoch 1: stops at epoch 2
    monkeypatch.setattr(hrnn, "_validate", lambda *a, **k: next(scores))
    seen = []
    model = recipe_for("aws-hrnn").fit(
        tiny_data(n_users=60, n_items=30), {"training.epochs": "12", "model.num_hidden": "32"}, seed=2,
        checkpoint=Checkpoint(str(tmp_path), None, on_epoch=lambda e, n: seen.append(e)))
    assert model.info["stopped_by"] == "early stopping" and len(model.info["history"]) == 2
    assert seen == [1, 2]


def test_a_fit_with_a_generous_budget_never_pauses(tmp_path):
    data = tiny_data(n_users=30, n_items=20)
    model = recipe_for("aws-deepfm").fit(data, {"epochs": "2", "embedding_size": "8"}, seed=1,
                                         checkpoint=Checkpoint(str(tmp_path), budget_seconds=3600.0))
    assert len(model.info["history"]) == 2 and not (tmp_path / "state.json").exists()
