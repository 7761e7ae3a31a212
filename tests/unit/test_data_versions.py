"""Data versions: the columnar parts a successful import writes, read back whole;
superseded versions cleaned up (seed: "Importing your Data", full refresh)."""
import numpy as np
import pytest

from chalicelib.datasets import schema, versions

ARN = "arn:aws:personalize:us-east-1:000000000000:dataset/shop/USERS"
USERS = schema.parse({"type": "record", "name": "Users", "fields": [
    {"name": "USER_ID", "type": "string"},
    {"name": "AGE", "type": ["null", "int"]},
    {"name": "SCORE", "type": "double"},
    {"name": "VIP", "type": ["null", "boolean"]},
    {"name": "SEGMENT", "type": ["null", "string"], "categorical": True}]}, "Users")


def batch(ids, ages, scores, vip, segments):
    n = len(ids)
    age_mask = np.array([a is None for a in ages])
    seg_mask = np.array([s == "" for s in segments])
    return {"USER_ID": (list(ids), None),
            "AGE": (np.array([a or 0 for a in ages], np.int64), age_mask if age_mask.any() else None),
            "SCORE": (np.array(scores, np.float64), None),
            "VIP": (np.array(vip, np.int8), None),
            "SEGMENT": (list(segments), seg_mask if seg_mask.any() else None)}, n


def test_parts_dictionaries_and_nulls_round_trip(aws):
    writer = versions.VersionWriter(ARN, USERS, part_rows=2)
    writer.append(*batch(["u1", "u2", "u3"], [30, None, 41], [0.5, 1.5, 2.5], [1, 0, 1],
                         ["a|b", "", "c"]))
    writer.append(*batch(["u2", "u4"], [None, 19], [3.5, 4.5], [0, 0], ["c", "a|b"]))
    manifest = writer.finish(["s3://src/users.csv"])
    assert manifest["rows"] == 5 and len(manifest["parts"]) == 2
    assert manifest["sources"] == ["s3://src/users.csv"]

    data = versions.load(ARN, writer.version_id)
    assert data.rows == 5
    assert data.strings("USER_ID").tolist() == ["u1", "u2", "u3", "u2", "u4"]
    assert data.dictionaries["USER_ID"].tolist() == ["u1", "u2", "u3", "u4"]  # shared across parts
    assert data.columns["AGE"].dtype == np.int32
    assert np.isnan(data.numbers("AGE")).tolist() == [False, True, False, True, False]
    assert data.numbers("SCORE").tolist() == [0.5, 1.5, 2.5, 3.5, 4.5]
    assert data.columns["VIP"].tolist() == [1, 0, 1, 0, 0]
    assert data.strings("SEGMENT").tolist() == ["a|b", "", "c", "c", "a|b"]
    assert "" not in data.dictionaries["SEGMENT"].tolist()  # a null is not a category
    # Loads without pickle: every array is a plain dtype.
    assert all(a.dtype != object for a in data.columns.values())


def test_string_event_value_reads_as_numbers(aws):
    # The seed's example schema types EVENT_VALUE as a string.
    sch = schema.parse({"type": "record", "name": "Interactions", "fields": [
        {"name": "USER_ID", "type": "string"}, {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"}, {"name": "EVENT_VALUE", "type": "string"}]},
        "Interactions")
    arn = ARN.replace("USERS", "INTERACTIONS")
    writer = versions.VersionWriter(arn, sch)
    writer.append({"USER_ID": (["1", "2", "3"], None), "ITEM_ID": (["a", "b", "c"], None),
                   "TIMESTAMP": (np.array([1, 2, 3]), None),
                   "EVENT_VALUE": (["15", "n/a", "2.5"], None)}, 3)
    writer.finish([])
    values = versions.load(arn, writer.version_id).numbers("EVENT_VALUE")
    assert values[0] == 15 and np.isnan(values[1]) and values[2] == 2.5


def test_a_version_without_manifest_is_not_readable(aws):
    writer = versions.VersionWriter(ARN, USERS, part_rows=1)
    writer.append(*batch(["u1"], [1], [1.0], [1], ["a"]))  # a part is written, no manifest yet
    assert writer.parts
    with pytest.raises(Exception):
        versions.load(ARN, writer.version_id)
    writer.discard()
    assert versions.list_versions(ARN) == []


def test_cleanup_deletes_older_versions_only(aws):
    ids = []
    for _ in range(3):
        writer = versions.VersionWriter(ARN, USERS)
        writer.append(*batch(["u1"], [1], [1.0], [1], ["a"]))
        writer.finish([])
        ids.append(writer.version_id)
    assert versions.list_versions(ARN) == sorted(ids) == ids  # ids sort by creation
    removed = versions.delete_older_versions(ARN, ids[1])
    assert removed == [ids[0]]
    assert versions.list_versions(ARN) == ids[1:]  # the newer one may be a run still writing


def test_delete_all_versions_of_one_dataset(aws):
    other = ARN.replace("shop", "shop2")
    for arn in (ARN, other):
        writer = versions.VersionWriter(arn, USERS)
        writer.append(*batch(["u1"], [1], [1.0], [1], ["a"]))
        writer.finish([])
    assert versions.delete_all_versions(ARN) == 3  # part, dictionaries, manifest
    assert versions.list_versions(ARN) == [] and len(versions.list_versions(other)) == 1


def test_version_paths():
    assert versions.dataset_path(ARN) == "dataset/shop/USERS"
    assert versions.version_prefix(ARN, "v1") == "data-versions/dataset/shop/USERS/v1/"
    with pytest.raises(ValueError):
        versions.dataset_path("not-an-arn")
