"""A seeded, realistic sample dataset in the seed's CSV formats, with schemas.

Seed: "Datasets and Schemas" (Interactions with USER_ID, ITEM_ID, TIMESTAMP
and the reserved EVENT_TYPE / EVENT_VALUE; Items with a categorical GENRE;
Users with metadata, strings categorical) and "Formatting your Input Data"
(header row, TIMESTAMP in Unix seconds). The project ships no third-party
data, so demos and tests generate this instead.

The data has structure a recommender can learn, and a popularity baseline
cannot fully explain:

- latent clusters: every item belongs to one primary genre (plus sometimes a
  second); every user prefers a few genres (sparse Dirichlet);
- popularity skew: within a genre, item weights follow a power law;
- sequential habits: items of a genre form series; after watching item k a
  user often goes on to item k+1 of the same series next;
- users' SEGMENT (categorical) follows their favourite genre, AGE is noise;
- event types `view` / `click` / `purchase`; EVENT_VALUE (0-5) is higher for
  items of a user's favourite genres, so eventValueThreshold keeps the
  stronger signal.

    generate("/tmp/sample", seed=0)   # or: python -m chalicelib.datasets.sample /tmp/sample
"""
from __future__ import annotations

import argparse
import csv
import json
import os
from typing import Dict

import numpy as np

GENRES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance",
          "Sci-Fi", "Thriller", "War", "Western")
SEGMENTS = ("explorer", "binger", "family", "critic", "casual")
EVENT_TYPES = ("view", "click", "purchase")
START, END = 1_420_070_400, 1_546_300_800  # 2015-01-01 .. 2019-01-01, Unix seconds
SERIES_LENGTH = 8
P_SEQUENTIAL = 0.35

NAMESPACE = "com.amazonaws.personalize.schema"
SCHEMAS = {
    "interactions": {
        "type": "record", "name": "Interactions", "namespace": NAMESPACE,
        "fields": [
            {"name": "USER_ID", "type": "string"},
            {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"},
            {"name": "EVENT_TYPE", "type": "string"},
            {"name": "EVENT_VALUE", "type": ["null", "float"]},
        ],
        "version": "1.0",
    },
    "items": {
        "type": "record", "name": "Items", "namespace": NAMESPACE,
        "fields": [
            {"name": "ITEM_ID", "type": "string"},
            {"name": "GENRE", "type": "string", "categorical": True},
        ],
        "version": "1.0",
    },
    "users": {
        "type": "record", "name": "Users", "namespace": NAMESPACE,
        "fields": [
            {"name": "USER_ID", "type": "string"},
            {"name": "AGE", "type": ["null", "int"]},
            {"name": "SEGMENT", "type": "string", "categorical": True},
        ],
        "version": "1.0",
    },
}


def _activity(rng, n_users, n_interactions):
    """Interactions per user: heavy-tailed (lognormal), at least 1, summing exactly."""
    weights = rng.lognormal(0.0, 1.0, n_users)
    counts = np.floor(weights / weights.sum() * (n_interactions - n_users)).astype(np.int64) + 1
    short = n_interactions - int(counts.sum())
    if short > 0:
        np.add.at(counts, rng.choice(n_users, short, p=weights / weights.sum()), 1)
    return counts


def _items(rng, n_items, n_genres):
    """Primary genre, optional second genre, and within-genre popularity of each item."""
    primary = rng.integers(0, n_genres, n_items)
    second = np.where(rng.random(n_items) < 0.3, rng.integers(0, n_genres, n_items), -1)
    second[second == primary] = -1
    members = [np.flatnonzero(primary == g) for g in range(n_genres)]
    popularity = np.zeros(n_items)
    for g, ids in enumerate(members):
        ranks = rng.permutation(len(ids)) + 1
        popularity[ids] = ranks ** -1.1  # power law within the genre
    return primary, second, members, popularity


def generate(out_dir: str, seed: int = 0, n_users: int = 610, n_items: int = 9724,
             n_interactions: int = 100_000) -> Dict[str, str]:
    """Write interactions.csv, items.csv, users.csv and their `*.schema.json`
    into `out_dir`; return {name: path}. Same seed, same files."""
    if n_users < 1 or n_items < 2 or n_interactions < n_users:
        raise ValueError("need n_users >= 1, n_items >= 2 and n_interactions >= n_users")
    rng = np.random.default_rng(seed)
    n_genres = len(GENRES)
    primary, second, members, popularity = _items(rng, n_items, n_genres)
    genre_weights = np.array([popularity[ids].sum() for ids in members])
    preferences = rng.dirichlet(np.full(n_genres, 0.15), n_users) * 0.85 \
        + 0.15 * genre_weights / genre_weights.sum()
    counts = _activity(rng, n_users, n_interactions)
    item_probs = [popularity[ids] / popularity[ids].sum() if len(ids) else None for ids in members]

    interactions = _interactions(rng, counts, preferences, members, item_probs, primary)

    os.makedirs(out_dir, exist_ok=True)
    paths = {name: os.path.join(out_dir, f"{name}.csv") for name in SCHEMAS}
    with open(paths["interactions"], "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([field["name"] for field in SCHEMAS["interactions"]["fields"]])
        writer.writerows(interactions)
    with open(paths["items"], "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["ITEM_ID", "GENRE"])
        for item in range(n_items):
            genres = GENRES[primary[item]]
            if second[item] >= 0:
                genres += "|" + GENRES[second[item]]
            writer.writerow([str(item + 1), genres])
    with open(paths["users"], "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["USER_ID", "AGE", "SEGMENT"])
        ages = rng.integers(16, 80, n_users)
        for user in range(n_users):
            age = "" if rng.random() < 0.1 else str(ages[user])  # some users never said
            segment = SEGMENTS[int(np.argmax(preferences[user])) % len(SEGMENTS)]
            writer.writerow([str(user + 1), age, segment])
    for name, schema in SCHEMAS.items():
        path = os.path.join(out_dir, f"{name}.schema.json")
        with open(path, "w") as f:
            json.dump(schema, f, indent=2)
        paths[f"{name}.schema"] = path
    return paths


def _interactions(rng, counts, preferences, members, item_probs, primary):
    """Rows (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE, EVENT_VALUE), user by user in time order."""
    n = int(counts.sum())
    user_of = np.repeat(np.arange(len(counts)), counts)
    cumulative = np.cumsum(preferences, axis=1)
    genres = (rng.random(n)[:, None] > cumulative[user_of]).sum(axis=1)
    genres = np.minimum(genres, len(members) - 1)
    fresh = np.zeros(n, dtype=np.int64)
    for g, ids in enumerate(members):
        where = np.flatnonzero(genres == g)
        if len(where) and len(ids):
            fresh[where] = rng.choice(ids, len(where), p=item_probs[g])
    sequential = rng.random(n) < P_SEQUENTIAL
    first = np.zeros(n, dtype=bool)
    first[np.concatenate([[0], np.cumsum(counts)[:-1]])] = True
    # Sessions: minutes apart within a session, days apart between sessions.
    gaps = np.where(rng.random(n) < 0.2, rng.exponential(3 * 86_400, n), rng.exponential(600, n))
    gaps[first] = 0
    starts = rng.integers(START, END - 86_400, len(counts))
    offsets = np.cumsum(gaps)
    offsets -= np.repeat(offsets[first], counts)
    times = np.minimum(starts[user_of] + offsets.astype(np.int64), END)
    event_draw = rng.random(n)
    noise = rng.normal(0, 0.6, n)
    position = {int(item): pos for ids in members for pos, item in enumerate(ids)}

    items = fresh.tolist()
    for k in range(n):
        if sequential[k] and not first[k]:
            previous = items[k - 1]
            genre_items = members[primary[previous]]
            pos = position[previous] + 1
            if pos % SERIES_LENGTH and pos < len(genre_items):
                items[k] = int(genre_items[pos])  # next episode of the series
    items = np.array(items)
    affinity = preferences[user_of, primary[items]]
    values = np.clip(1.5 + 8.0 * affinity + noise, 0.0, 5.0)
    kinds = np.where(event_draw < 0.05 + 0.2 * affinity, 2, np.where(event_draw < 0.45, 1, 0))
    type_names = np.array(EVENT_TYPES)[kinds]
    return zip((user_of + 1).astype(str).tolist(), (items + 1).astype(str).tolist(),
               times.tolist(), type_names.tolist(), np.char.mod("%.1f", values).tolist())


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write a seeded sample dataset (CSV + Avro schemas).")
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=610)
    parser.add_argument("--items", type=int, default=9724)
    parser.add_argument("--interactions", type=int, default=100_000)
    args = parser.parse_args(argv)
    paths = generate(args.out_dir, seed=args.seed, n_users=args.users, n_items=args.items,
                     n_interactions=args.interactions)
    for name, path in sorted(paths.items()):
        print(f"{name}\t{path}")


if __name__ == "__main__":
    main()
