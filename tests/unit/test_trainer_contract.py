"""The trainer honours the SageMaker training contract (DESIGN.md; seed "Bring Your Own Recipe"
step 1): hyperparameters as strings in /opt/ml/input/config/hyperparameters.json, the data
channel in /opt/ml/input/data/train/, artifacts in /opt/ml/model/, the failure's reason in
/opt/ml/output/failure with a non-zero exit. Run as the container runs it: `training_container/train`
in a subprocess, over an /opt/ml-shaped folder."""
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from chalicelib.algorithms.base import load_model
from chalicelib.algorithms.data import from_arrays
from chalicelib.algorithms.base import Metadata
from chalicelib.training import artifacts, channel, contract, transform

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN = os.path.join(REPO, "training_container", "train")
FULL_METRICS = {
    "coverage", "mean_reciprocal_rank_at_25", "precision_at_5", "precision_at_10", "precision_at_25",
    "normalized_discounted_cumulative_gain_at_5", "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25", "_num_evaluation_users", "_num_unique_items",
    "_user_history_length_10_pct_quantile", "_user_history_length_50_pct_quantile",
    "_user_history_length_90_pct_quantile", "_user_history_length_mean"}


def tiny_data(n_users=40, n_items=30, per_user=12, seed=0, metadata=False):
    """Users who mostly follow a fixed item order, so co-occurrence has something to learn."""
    rng = np.random.default_rng(seed)
    users, items, times = [], [], []
    for u in range(n_users):
        start = rng.integers(n_items)
        for k in range(per_user):
            item = (start + k) % n_items if rng.random() < 0.8 else rng.integers(n_items)
            users.append(f"u{u}")
            items.append(f"i{item}")
            times.append(1_500_000_000 + u * 1000 + k * 60)
    data = from_arrays(users, items, times, event_types=["click"] * len(users),
                       event_values=rng.random(len(users)))
    if metadata:
        data.items = Metadata(fields={"GENRE": np.array([f"g{i % 3}|x" for i in range(data.n_items)]),
                                      "PRICE": np.arange(data.n_items, dtype=np.float64)},
                              categorical=("GENRE",))
    return data


def opt_ml(tmp_path, hyperparameters, data=None):
    layout = contract.Layout(str(tmp_path / "opt" / "ml"))
    layout.create(hyperparameters)
    if data is not None:
        channel.write_channel(data, layout.channel_dir())
    return layout


def run_train(layout, in_process=False):
    """Exit status and log of the container's program (or of `entry.run`, faster, in process)."""
    if in_process:
        from chalicelib.training import entry
        return entry.run(layout.root, log=lambda m: None), ""
    proc = subprocess.run([sys.executable, TRAIN, "--root", layout.root], capture_output=True,
                          text=True, timeout=120, cwd="/")
    return proc.returncode, proc.stderr


def recipes(*names):
    return json.dumps([{"recipe": n, "recipeArn": f"arn:aws:personalize:::recipe/{n}"} for n in names])


def test_train_writes_the_contract_outputs(tmp_path):
    layout = opt_ml(tmp_path, {"_recipes": recipes("aws-sims"), "_seed": "7", "min_copurchase_count": "1"},
                    tiny_data())
    code, err = run_train(layout)
    assert code == 0, err
    assert layout.read_failure() is None
    files = set(os.listdir(layout.model_dir))
    assert {"model.json", "arrays.npz", "metrics.json", "training.json"} <= files
    with np.load(os.path.join(layout.model_dir, "arrays.npz"), allow_pickle=False) as npz:
        assert "item_ids" in npz.files
    model = load_model(layout.model_dir)
    assert model.recipe == "aws-sims" and model.hyperparameters["min_copurchase_count"] == "1"
    ids, _ = model.similar_items(np.array([0]), 5)
    assert ids.shape == (1, 5) and 0 not in ids[0]
    with open(os.path.join(layout.model_dir, "metrics.json")) as f:
        metrics = json.load(f)
    assert set(metrics) == FULL_METRICS
    assert metrics["_num_evaluation_users"] == 4          # 10% of 40 users
    assert metrics["precision_at_5"] > 0                  # the item order is learnable
    with open(os.path.join(layout.model_dir, "training.json")) as f:
        report = json.load(f)
    assert report["recipe"] == "aws-sims" and report["seed"] == 7
    assert "hpo" not in report and "automl" not in report


def test_metrics_are_held_out_and_the_served_model_knows_everyone(tmp_path):
    from chalicelib.training import entry
    data = tiny_data()
    plan = entry.Plan({"_recipes": recipes("aws-popularity-count"), "_seed": "1"})
    model, metrics, report = entry.train(plan, data)
    # the served model was refit on all interactions, evaluation users included
    assert int(model.counts.sum()) == len(data.interactions)
    from chalicelib.algorithms.evaluation import evaluate, split_interactions
    held_out, _, _ = evaluate("aws-popularity-count", data, {}, 1, split=split_interactions(data, 1))
    assert metrics == held_out


def test_the_same_seed_trains_the_same_way(tmp_path):
    from chalicelib.training import entry
    plan = entry.Plan({"_recipes": recipes("aws-sims"), "_seed": "3", "_perform_hpo": "true",
                       "_hpo_config": json.dumps({"hpoResourceConfig": {"maxNumberOfTrainingJobs": "3"}})})
    first = entry.train(plan, tiny_data())
    second = entry.train(plan, tiny_data())
    assert first[1] == second[1]
    assert first[2]["hyperparameters"] == second[2]["hyperparameters"]


@pytest.mark.parametrize("hyperparameters,reason", [
    ({"_recipes": recipes("aws-sims"), "alpha": "2.5"}, "alpha: 2.5 is above the maximum 1"),
    ({"_recipes": recipes("aws-sims"), "top_n": "many"}, "top_n: 'many' is not an integer"),
    ({"_recipes": recipes("aws-popularity-count"), "alpha": "0.5"}, "alpha: not a hyperparameter"),
    ({"_recipes": recipes("no-such-recipe")}, "unknown recipe 'no-such-recipe'"),
    ({"alpha": "0.5"}, "_recipes"),
    ({"_recipes": recipes("aws-sims"), "_feature_transformation": json.dumps({"test_ratio": 0})},
     "test_ratio"),
])
def test_failure_is_written_and_exit_is_non_zero(tmp_path, hyperparameters, reason):
    layout = opt_ml(tmp_path, hyperparameters, tiny_data())
    code, err = run_train(layout, in_process=True)
    assert code == 1
    assert reason in layout.read_failure()
    assert not os.path.exists(os.path.join(layout.model_dir, "model.json"))


def test_missing_channel_and_non_string_hyperparameters_fail(tmp_path):
    layout = opt_ml(tmp_path, {"_recipes": recipes("aws-sims")})
    assert run_train(layout)[0] == 1
    assert "training channel" in layout.read_failure()
    with open(layout.hyperparameters_file, "w") as f:
        json.dump({"_recipes": recipes("aws-sims"), "top_n": 5}, f)
    channel.write_channel(tiny_data(), layout.channel_dir())
    assert run_train(layout, in_process=True)[0] == 1
    assert "strings" in layout.read_failure()


def test_failure_text_is_cut_to_what_sagemaker_keeps(tmp_path):
    layout = contract.Layout(str(tmp_path))
    layout.write_failure("x" * 5000)
    assert len(layout.read_failure()) == contract.FAILURE_LIMIT


def test_channel_round_trip_keeps_everything(tmp_path):
    data = tiny_data(metadata=True)
    channel.write_channel(data, str(tmp_path))
    back = channel.read_channel(str(tmp_path))
    for name in ("user", "item", "timestamp", "event_type", "event_value"):
        np.testing.assert_array_equal(getattr(back.interactions, name), getattr(data.interactions, name))
    np.testing.assert_array_equal(back.user_ids, data.user_ids)
    np.testing.assert_array_equal(back.item_ids, data.item_ids)
    assert back.event_types == data.event_types and back.users is None
    assert back.items.categorical == ("GENRE",)
    np.testing.assert_array_equal(back.items.fields["GENRE"], data.items.fields["GENRE"])
    np.testing.assert_array_equal(back.items.fields["PRICE"], data.items.fields["PRICE"])


def test_history_length_percentiles_filter_users():
    data = from_arrays(["a"] * 1 + ["b"] * 5 + ["c"] * 10 + ["d"] * 50,
                       [str(i) for i in range(66)], list(range(66)))
    assert transform.filter_history_lengths(data, {}) is data
    kept = transform.filter_history_lengths(data, {"min_hist_length_percentile": 0.3,
                                                   "max_hist_length_percentile": 0.7})
    counts = np.bincount(kept.interactions.user, minlength=kept.n_users)
    assert counts.tolist() == [0, 5, 10, 0] and kept.n_users == 4
    with pytest.raises(ValueError, match="keep no user"):
        transform.filter_history_lengths(data, {"min_hist_length_percentile": 0.99,
                                                "max_hist_length_percentile": 0.99})


def test_archive_holds_the_model_folder_at_its_root(tmp_path):
    layout = opt_ml(tmp_path, {"_recipes": recipes("aws-popularity-count")}, tiny_data())
    assert run_train(layout, in_process=True)[0] == 0
    path = artifacts.pack(layout.model_dir, str(tmp_path / "model.tar.gz"))
    with tarfile.open(path) as tar:
        assert sorted(tar.getnames()) == ["arrays.npz", "metrics.json", "model.json", "training.json"]
    assert artifacts.read_json_member(path, "metrics.json")["_num_evaluation_users"] == 4
    assert artifacts.read_json_member(path, "absent.json") is None
    model = load_model(artifacts.unpack(path, str(tmp_path / "unpacked")))
    assert model.recipe == "aws-popularity-count"
    assert artifacts.archive_key("s3://b/models/s/v/output/", "job-1") == \
        "s3://b/models/s/v/output/job-1/output/model.tar.gz"
