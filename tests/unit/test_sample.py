"""The sample data generator: the seed's CSV formats, seeded, with learnable structure."""
import csv
import filecmp
import os
import subprocess
import sys
from collections import Counter, defaultdict

import numpy as np
import pytest

from chalicelib.datasets import sample, schema

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    return sample.generate(str(out), seed=0, n_users=200, n_items=2000, n_interactions=30_000)


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_formats_and_counts(files):
    interactions = read(files["interactions"])
    assert list(interactions[0]) == ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"]
    assert len(interactions) == 30_000
    assert len({r["USER_ID"] for r in interactions}) == 200  # every user has history
    assert {r["EVENT_TYPE"] for r in interactions} == set(sample.EVENT_TYPES)
    assert all(sample.START <= int(r["TIMESTAMP"]) <= sample.END for r in interactions)
    assert all(0.0 <= float(r["EVENT_VALUE"]) <= 5.0 for r in interactions)
    items = read(files["items"])
    assert [r["ITEM_ID"] for r in items] == [str(i) for i in range(1, 2001)]
    assert all(set(r["GENRE"].split("|")) <= set(sample.GENRES) for r in items)
    assert any("|" in r["GENRE"] for r in items)
    users = read(files["users"])
    assert len(users) == 200 and {r["SEGMENT"] for r in users} <= set(sample.SEGMENTS)
    assert any(r["AGE"] == "" for r in users)  # optional values exist


def test_schemas_match_the_seed_rules(files):
    for kind, dtype in (("interactions", "Interactions"), ("items", "Items"), ("users", "Users")):
        with open(files[f"{kind}.schema"]) as f:
            parsed = schema.parse(f.read(), dtype)
        with open(files[kind], newline="") as f:
            assert next(csv.reader(f)) == parsed.names


def test_same_seed_same_files_other_seed_other_files(files, tmp_path):
    again = sample.generate(str(tmp_path / "a"), seed=0, n_users=200, n_items=2000,
                            n_interactions=30_000)
    other = sample.generate(str(tmp_path / "b"), seed=1, n_users=200, n_items=2000,
                            n_interactions=30_000)
    for name in ("interactions", "items", "users"):
        assert filecmp.cmp(files[name], again[name], shallow=False)
    assert not filecmp.cmp(files["interactions"], other["interactions"], shallow=False)


def test_learnable_structure(files):
    interactions = read(files["interactions"])
    genre = {r["ITEM_ID"]: r["GENRE"].split("|")[0] for r in read(files["items"])}
    # Popularity skew: the top 1% of items take far more than 1% of interactions.
    counts = Counter(r["ITEM_ID"] for r in interactions)
    top = sum(c for _, c in counts.most_common(20))
    assert top / len(interactions) > 0.05
    # Latent clusters: a user's favourite genre takes far more than 1/19 of their history.
    by_user = defaultdict(list)
    for r in interactions:
        by_user[r["USER_ID"]].append(r)
    shares = [Counter(genre[r["ITEM_ID"]] for r in rs).most_common(1)[0][1] / len(rs)
              for rs in by_user.values() if len(rs) >= 20]
    assert np.mean(shares) > 0.3
    # Sequential habits: next item = next id of the same genre far more often than by chance.
    next_in_genre = {}
    by_genre = defaultdict(list)
    for item_id in sorted(genre, key=int):
        by_genre[genre[item_id]].append(item_id)
    for ids in by_genre.values():
        next_in_genre.update(zip(ids, ids[1:]))
    follows = sum(next_in_genre.get(a["ITEM_ID"]) == b["ITEM_ID"]
                  for rs in by_user.values() for a, b in zip(rs, rs[1:]))
    assert follows / (len(interactions) - len(by_user)) > 0.15
    # Values say something: purchases carry higher EVENT_VALUE than views on average.
    mean = {t: np.mean([float(r["EVENT_VALUE"]) for r in interactions if r["EVENT_TYPE"] == t])
            for t in sample.EVENT_TYPES}
    assert mean["purchase"] > mean["view"]


def test_cli(tmp_path):
    out = subprocess.run([sys.executable, "-m", "chalicelib.datasets.sample", str(tmp_path),
                          "--users", "3", "--items", "5", "--interactions", "12", "--seed", "7"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    assert "interactions\t" in out.stdout
    assert len(read(tmp_path / "interactions.csv")) == 12


def test_rejects_impossible_sizes(tmp_path):
    with pytest.raises(ValueError):
        sample.generate(str(tmp_path), n_users=10, n_interactions=5)
