"""What the workers of one machine share (issue 15 item 3): published folders mapped
read-only, strings as arrays, the per-user histories index and the recorded-events snapshot
built over an older one."""
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

from chalicelib.runtime import histories, shared, snapshots
from chalicelib.storage import events as store


@pytest.fixture(autouse=True)
def machine(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNTIME_MODEL_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("indexed", [False, True])
def test_strings_find_take_and_join_any_ids(indexed):
    ids = sorted(["", "a", "ab", "b", "é", "日本", "z" * 300, "user|1"])
    s = shared.Strings.of(ids, indexed=indexed)
    assert s.tolist() == ids and len(s) == len(ids)
    assert [s.find(i) for i in ids] == list(range(len(ids)))
    assert s.find("aa") == s.find("c") == s.find("日") == -1
    taken = s.take(np.array([6, 0, 3]))
    assert taken.tolist() == [ids[6], ids[0], ids[3]] and taken.find(ids[3]) == 2
    joined = shared.Strings.join(s.take([1]), shared.Strings.of(["q"], indexed=indexed))
    assert joined.tolist() == ["a", "q"] and joined.find("q") == 1
    assert shared.Strings.of([], indexed=indexed).find("a") == -1
    again = shared.Strings.of_arrays(s.arrays("ids"), "ids")
    assert [again.find(i) for i in ids] == list(range(len(ids)))


def test_a_folder_is_built_once_and_mapped_read_only(machine):
    built = []

    def build():
        built.append(1)
        return {"x": np.arange(5)}, {"what": "five"}
    path = shared.folder("things", "one")
    found = []
    threads = [threading.Thread(target=lambda: found.append(shared.saved(path, build)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert built == [1]                  # one builder, the others waited and mapped its folder
    for arrays, meta in found:
        assert arrays["x"].tolist() == [0, 1, 2, 3, 4] and meta == {"what": "five"}
        assert not arrays["x"].flags.writeable and isinstance(arrays["x"].base, np.memmap)


def test_a_folder_being_pruned_is_never_loaded_in_part(machine, monkeypatch):
    parent = str(machine / "things")
    old = shared.save(f"{parent}/1", {"x": np.arange(3), "y": np.arange(2)})
    shared.save(f"{parent}/2", {"x": np.arange(3), "y": np.arange(2)})
    seen = []
    remove = shared.shutil.rmtree

    def rmtree_one_file_at_a_time(path, ignore_errors=False):
        os.unlink(os.path.join(path, "y.npy"))
        seen.append(shared.load(old))          # another worker loading it meanwhile
        remove(path, ignore_errors=ignore_errors)
    monkeypatch.setattr(shared.shutil, "rmtree", rmtree_one_file_at_a_time)
    shared.prune(parent, keep=1)
    assert seen == [None] and shared.load(old) is None
    assert sorted(os.listdir(parent)) == ["2"]


def test_a_lock_held_by_a_killed_worker_is_free_at_once(machine):
    path = str(machine / ".build.lock")
    held = shared.Lock(path)
    assert held.acquire() and not shared.Lock(path).acquire()     # one holder at a time
    held.release()
    killed = subprocess.run(
        [sys.executable, "-c", "import os, signal, sys; from chalicelib.runtime import shared; "
         "assert shared.Lock(sys.argv[1]).acquire(); os.kill(os.getpid(), signal.SIGKILL)", path],
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert killed.returncode == -signal.SIGKILL
    assert shared.Lock(path).acquire()      # not held up by the dead worker's lock file


def test_mapped_histories_answer_as_built():
    users = np.array(["u2", "u1", "u2", "é", "u1"])
    items = np.array([3, 1, -1, 0, 2])
    stamps = np.array([5, 1, 2, 9, 3])
    index = histories.ItemIndex(np.array(["a", "b", "c", "d"]))
    direct = histories.build(users, items, stamps, index.size)
    mapped = histories.mapped("version-1", index, lambda: direct)
    again = histories.mapped("version-1", index, lambda: pytest.fail("built twice"))
    for h in (mapped, again):
        assert h.user_count == 3 and h.history("nobody").items.size == 0
        for user in ("u1", "u2", "é"):
            assert h.history(user).items.tolist() == direct.history(user).items.tolist()
            assert h.history(user).timestamps.tolist() == direct.history(user).timestamps.tolist()
        assert h.item_counts.tolist() == [1, 1, 1, 1]
    other = histories.mapped("version-2", index, lambda: histories.build(
        np.array(["u9"]), np.array([0]), np.array([1]), index.size))   # a new data version
    assert other.history("u1").items.size == 0 and other.history("u9").items.tolist() == [0]


def _random_state(rng, users, events_per_user, stamp=0):
    rows, written = {}, {}
    for u in users:
        found = []
        for k in range(int(rng.integers(1, events_per_user + 1))):
            key = store.event_key(1_700_000_000 + stamp + int(rng.integers(0, 10 ** 6)), f"e{u}-{stamp}-{k}")
            item = f"i{int(rng.integers(0, 30))}"
            found.append((key, item, ["", "click", "buy"][int(rng.integers(0, 3))], float(key[:15]) / 1000))
            written[key] = item
        rows[u] = sorted(found, reverse=True)[:snapshots.MAX_EVENTS_PER_USER]
    return rows, written


def test_a_snapshot_built_over_an_older_one_equals_one_built_whole():
    rng = np.random.default_rng(3)
    head = store.change_key_at(1_700_000_000) + "#h"
    rows, written = _random_state(rng, [f"user{k}" for k in range(40)], 6)
    base = snapshots.Snapshot(*snapshots.build(snapshots.Snapshot.empty(), rows, written, head, {head}))
    # users replaced, dropped and added; interactions added, one of them again
    changed, more = _random_state(rng, ["user3", "user7", "new-b", "new-a", "日本"], 4, stamp=5)
    changed["user11"] = []
    more[next(iter(written))] = written[next(iter(written))]
    later = store.change_key_at(1_700_000_500) + "#later"
    merged = snapshots.Snapshot(*snapshots.build(base, changed, more, later, {later}))
    final = dict(rows, **changed)
    whole = snapshots.Snapshot(*snapshots.build(
        snapshots.Snapshot.empty(), {u: r for u, r in final.items() if r}, dict(written, **more), later, {later}))
    assert merged.users.tolist() == whole.users.tolist() == sorted(u for u, r in final.items() if r)
    for user in list(final) + ["nobody"]:
        assert merged.rows(user) == whole.rows(user) == final.get(user, [])
    low = int(min(k[:15] for k in written))
    for got, want in zip(merged.interactions(low), whole.interactions(low)):
        assert sorted(np.asarray(got).tolist()) == sorted(np.asarray(want).tolist())
    items, ms, _ = merged.interactions(low)
    assert items.shape[0] == len(dict(written, **more)) and np.all(np.diff(ms) >= 0)
    assert merged.head == later and merged.seen == {later}


def test_a_published_snapshot_is_the_newest_after_a_head():
    dataset = "arn:aws:personalize:us-east-1:1:dataset/g/EVENT_INTERACTIONS"
    heads = [store.change_key_at(1_700_000_000 + k) + f"#{k}" for k in range(3)]
    for head in heads:
        snapshots.publish(dataset, *snapshots.build(snapshots.Snapshot.empty(), {}, {}, head, {head}))
    assert snapshots.newest(dataset).head == heads[-1]
    assert snapshots.newest(dataset, after=heads[-1]) is None
    assert snapshots.newest("arn:other") is None
