"""The pure parts of the feature export: `chalicelib.datasets.featurize` on in-memory training
data, and where a job's files go (`feature_exports.output_prefix`)."""
import numpy as np
import pytest

from chalicelib.algorithms.base import Metadata
from chalicelib.algorithms.data import from_arrays
from chalicelib.datasets import featurize
from chalicelib.workflows.feature_exports import output_prefix

ALL = {"min_hist_length_percentile": 0.0, "max_hist_length_percentile": 1.0,
       "train_ratio": 0.9, "test_ratio": 0.1}


def data(lengths, values=None):
    """User `u<k>` has `lengths[k]` interactions with items `i0`, `i1`, ... at times 0, 1, ..."""
    users, items, times = [], [], []
    for k, n in enumerate(lengths):
        users += [f"u{k}"] * n
        items += [f"i{j}" for j in range(n)]
        times += list(range(n))
    return from_arrays(users, items, times, event_values=values)


@pytest.mark.parametrize("value, text", [
    (3.0, "3"), (4.5, "4.5"), (0.1, "0.1"), (-2.0, "-2"), (1e21, "1000000000000000000000"),
    (np.float32(3.7), "3.7"), (np.float32(0.25), "0.25"), (float("nan"), ""),
])
def test_number_text(value, text):
    assert featurize.number_text(value) == text


def test_defaults_keep_every_row():
    out = featurize.featurize(data([1, 2, 3]), ALL)
    [table] = out.tables
    assert table.name == "interactions.csv" and len(table.rows) == 6
    assert out.counts == {"interactions": 6, "users": 3, "items": 3,
                          "droppedInteractions": 0, "droppedUsers": 0}
    assert out.history_length == {"min": 1.0, "max": 3.0}


def test_bounds_are_inclusive():
    # Lengths 1, 2, 2, 3, 10: the 25th percentile is 2 and the 75th 3, both kept.
    params = dict(ALL, min_hist_length_percentile=0.25, max_hist_length_percentile=0.75)
    out = featurize.featurize(data([1, 2, 2, 3, 10]), params)
    kept_users = sorted({r[0] for r in out.tables[0].rows})
    assert kept_users == ["u1", "u2", "u3"] and out.counts["droppedUsers"] == 2


def test_nobody_kept_is_a_value_error():
    params = dict(ALL, min_hist_length_percentile=0.5, max_hist_length_percentile=0.5)
    with pytest.raises(ValueError, match="keep no user"):
        featurize.featurize(data([1, 2]), params)   # median 1.5: no history that long


def test_missing_event_values_are_empty_cells_and_csv_quotes():
    d = data([2], values=[np.nan, 2.5])
    d.items = Metadata(fields={"TITLE": np.array(['Say "hi", then', ""]),
                               "YEAR": np.array([1999.0, np.nan])}, categorical=())
    out = featurize.featurize(d, ALL)
    interactions, items = out.tables
    assert interactions.header[-1] == "EVENT_VALUE"
    assert [r[-1] for r in interactions.rows] == ["", "2.5"]
    # i1 has neither a title nor a year: no Items row, so no line.
    assert items.csv_bytes() == b'ITEM_ID,TITLE,YEAR\ni0,"Say ""hi"", then",1999\n'


def test_manifest_names_the_files():
    out = featurize.featurize(data([1, 2]), ALL)
    manifest = out.manifest(featureExportJobArn="arn:x")
    assert manifest["featureExportJobArn"] == "arn:x"
    assert manifest["files"] == {"interactions.csv": {
        "rows": 3, "columns": ["USER_ID", "ITEM_ID", "TIMESTAMP"]}}
    assert b'"parameters"' in featurize.Featurized.manifest_bytes(manifest)


@pytest.mark.parametrize("destination, expected", [
    ("s3://b/exports/", "s3://b/exports/job/"),
    ("s3://b/exports", "s3://b/exports/job/"),
    ("s3://b", "s3://b/job/"),
    ("s3://b/", "s3://b/job/"),
    ("s3://b/a/b//", "s3://b/a/b/job/"),
])
def test_output_prefix(destination, expected):
    assert output_prefix(destination, "job") == expected
