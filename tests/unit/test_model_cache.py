"""The runtime's model cache (bounded LRU, one load per key under concurrency), item index,
per-user histories with recorded events, and artifact reading."""
import io
import os
import tarfile
import threading
import time

import numpy as np
import pytest

from chalicelib.algorithms.base import History
from chalicelib.runtime import histories
from chalicelib.runtime.cache import ModelCache


class Blob:
    def __init__(self, name, nbytes=10):
        self.name, self.nbytes = name, nbytes


def test_lru_by_count():
    cache = ModelCache(max_models=2, max_bytes=10**9)
    for key in ("a", "b"):
        cache.get(key, lambda k=key: Blob(k))
    cache.get("a", lambda: pytest.fail("a is cached"))     # a becomes most recent
    cache.get("c", lambda: Blob("c"))
    assert cache.keys() == ["a", "c"] and cache.evictions == 1 and cache.loads == 3


def test_lru_by_bytes_keeps_the_newest_even_if_too_big():
    cache = ModelCache(max_models=10, max_bytes=100)
    cache.get("a", lambda: Blob("a", 60))
    cache.get("b", lambda: Blob("b", 30))
    cache.get("c", lambda: Blob("c", 30))                  # 120 > 100: a goes
    assert cache.keys() == ["b", "c"] and cache.nbytes == 60
    cache.get("huge", lambda: Blob("huge", 500))            # alone over budget, still served
    assert cache.keys() == ["huge"]


def test_concurrent_requests_load_once():
    cache = ModelCache(max_models=2, max_bytes=10**9)
    loads, started = [], threading.Event()

    def slow():
        loads.append(1)
        started.set()
        time.sleep(0.05)
        return Blob("m")

    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("m", slow))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len(got) == 8 and all(g is got[0] for g in got)


def test_a_failed_load_is_not_cached():
    cache = ModelCache(max_models=2, max_bytes=10**9)

    def boom():
        raise OSError("S3 unavailable")

    with pytest.raises(OSError):
        cache.get("m", boom)
    assert cache.keys() == [] and cache.get("m", lambda: Blob("m")).name == "m"


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("RUNTIME_MODEL_CACHE_MODELS", "7")
    monkeypatch.setenv("RUNTIME_MODEL_CACHE_MB", "3")
    cache = ModelCache()
    assert cache.max_models == 7 and cache.max_bytes == 3 * 1024 * 1024


def test_item_index_lookup():
    index = histories.ItemIndex(np.array(["b", "a", "c"]))
    assert index.lookup(["a", "c", "zz", "b"]).tolist() == [1, 2, -1, 0]
    assert histories.ItemIndex(np.array([], dtype=str)).lookup(["a"]).tolist() == [-1]


def test_user_histories_are_time_ordered_in_the_model_item_space():
    users = np.array(["u2", "u1", "u1", "u2", "u1"])
    items = np.array([0, 2, -1, 1, 1])             # -1: an item the model does not know
    ts = np.array([50, 30, 5, 10, 20])
    h = histories.build(users, items, ts, n_items=3)
    assert h.history("u1").items.tolist() == [1, 2] and h.history("u1").timestamps.tolist() == [20, 30]
    assert h.history("u2").items.tolist() == [1, 0]
    assert h.history("nobody").items.size == 0 and h.history(None).items.size == 0
    assert h.item_counts.tolist() == [1, 2, 1]


def test_merge_adds_recorded_events_in_time_order():
    index = histories.ItemIndex(np.array(["i0", "i1", "i2", "i3"]))
    imported = History(np.array([0, 1], np.int32), np.array([100, 200], np.int64))
    events = [{"itemId": "i3", "sentAt": 300.0}, {"itemId": "new", "sentAt": 250.0},
              {"itemId": "i2", "sentAt": 150.0}]            # newest first, as stored
    merged = histories.merge(imported, events, index)
    assert merged.items.tolist() == [0, 2, 1, 3] and merged.timestamps.tolist() == [100, 150, 200, 300]
    assert histories.merge(imported, events, index, limit=2).items.tolist() == [1, 3]


def test_archives_cannot_write_outside_their_folder(tmp_path):
    from chalicelib.runtime.artifacts import _extract
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("model.json", b"{}"), ("../escape.txt", b"x"), ("/abs.txt", b"y")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    target = tmp_path / "model"
    target.mkdir()
    _extract(buf.getvalue(), str(target))
    assert sorted(os.listdir(target)) == ["model.json"]
    assert not (tmp_path / "escape.txt").exists()


def test_served_model_loads_from_s3_and_answers(aws, tmp_path):
    """A popularity model (counts b 3, a 2, c 1) archived to S3 and loaded by the runtime:
    popular-first answers and ranking with unknown items last in input order."""
    from chalicelib.algorithms.base import Interactions, TrainingData
    from chalicelib.algorithms.popularity import PopularityCount
    from chalicelib.runtime import serving
    from chalicelib.storage import objects
    data = TrainingData(Interactions(np.array([0, 0, 1, 1, 1, 1], np.int32),
                                     np.array([0, 1, 1, 2, 1, 0], np.int32), np.arange(6, dtype=np.int64)),
                        np.array(["u0", "u1"]), np.array(["a", "b", "c"]))
    model = PopularityCount().fit(data, {})
    model.save(str(tmp_path / "m"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(str(tmp_path / "m"), arcname="model")     # files in a sub-folder are found too
    key = objects.put_bytes("s3://personalize-data/models/x/model.tar.gz", buf.getvalue())
    served = serving.load("version-x", key, None)
    assert served.nbytes > 0 and served.can_rank
    assert [i for i, _ in served.recommend("someone", 3)] == ["b", "a", "c"]
    ranked = served.rank("someone", ["zz", "c", "b", "yy"])
    assert [i for i, _ in ranked] == ["b", "c", "zz", "yy"] and ranked[2][1] is None


def test_campaign_resolution_is_remembered_for_the_ttl_only(monkeypatch):
    from chalicelib.protocol.errors import ResourceNotFoundException
    from chalicelib.runtime import serving
    serving.reset_cache()
    calls = []

    def resolve(arn):
        calls.append(arn)
        if arn == "missing":
            raise ResourceNotFoundException("no such campaign")
        return {"solutionVersionArn": f"{arn}/v1"}

    monkeypatch.setenv("RUNTIME_CAMPAIGN_TTL_SECONDS", "600")
    for _ in range(3):
        assert serving.resolve_campaign("c", resolve) == {"solutionVersionArn": "c/v1"}
        with pytest.raises(ResourceNotFoundException):    # errors are not remembered
            serving.resolve_campaign("missing", resolve)
    assert calls == ["c"] + ["missing"] * 3
    monkeypatch.setenv("RUNTIME_CAMPAIGN_TTL_SECONDS", "0")
    serving.reset_cache()
    serving.resolve_campaign("c", resolve)
    serving.resolve_campaign("c", resolve)
    assert calls[-2:] == ["c", "c"]
