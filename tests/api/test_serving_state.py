"""Issue 15 items 1 and 3 in the runtime: the user's carried state, this worker's copy of the
recorded events (refreshed by PutEvents), and PutEvents in one DynamoDB write."""
import time

import numpy as np
import pytest

from chalicelib.algorithms.base import History
from chalicelib.algorithms.registry import recipe_for
from chalicelib.runtime import histories, recorded, serving
from chalicelib.storage.clients import client
from tests.api.test_put_events import T0, click, tracker  # noqa: F401
from tests.unit.test_hrnn import FAST, cyclic_data

WRITES = {"PutItem", "BatchWriteItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}


@pytest.fixture
def calls():
    """Names of the DynamoDB operations the app makes while the test runs."""
    seen = []
    ddb = client("dynamodb")

    def hook(model, **kw):
        seen.append(model.name)
    ddb.meta.events.register("before-call.dynamodb", hook)
    yield seen
    ddb.meta.events.unregister("before-call.dynamodb", hook)


def test_put_events_is_one_dynamodb_write(tracker, events, calls):  # noqa: F811
    group, tracking_id = tracker
    for user in ("u1", None, "u2"):
        del calls[:]
        extra = {"userId": user} if user else {}
        events.put_events(trackingId=tracking_id, sessionId=f"s-{user}", **extra,
                          eventList=[click(f"e{k}-{user}", f"i{k}", T0 + k) for k in range(3)])
        assert [c for c in calls if c in WRITES] == ["BatchWriteItem"], calls


def u1_clicked(tracker, events, calls):  # noqa: F811
    """A fresh worker copy after u1's one click (i0), with the calls so far forgotten."""
    group, tracking_id = tracker
    recorded.forget()
    events.put_events(trackingId=tracking_id, userId="u1", sessionId="s1",
                      eventList=[click("e0", "i0", T0)])
    assert [e["itemId"] for e in recorded.user_events(group, "u1")] == ["i0"]
    del calls[:]
    return group, tracking_id


def test_recorded_events_are_read_once_and_refreshed_by_put_events(tracker, events, calls):  # noqa: F811
    group, tracking_id = u1_clicked(tracker, events, calls)
    assert [e["itemId"] for e in recorded.user_events(group, "u1")] == ["i0"]
    assert "Query" not in calls                       # nothing changed: no read
    events.put_events(trackingId=tracking_id, userId="u1", sessionId="s1",
                      eventList=[click("e1", "i1", T0 + 5)])
    del calls[:]
    assert [e["itemId"] for e in recorded.user_events(group, "u1")] == ["i1", "i0"]
    assert "Query" not in calls                       # this worker's PutEvents updated the copy
    recorded.forget()
    assert [e["eventId"] for e in recorded.user_events(group, "u1")] == ["e1", "e0"]   # as stored


def test_a_user_without_events_costs_no_query_and_other_workers_events_show_through_the_change_log(
        tracker, events, calls, monkeypatch):  # noqa: F811
    """The worker copies the group's events once; then it reads the store's change log at most
    once per TTL, and applies what it says without reading the users: other workers' PutEvents
    (written straight to the store here, past this worker's copy) show after the TTL."""
    from chalicelib.storage import events as store
    group, _ = u1_clicked(tracker, events, calls)
    for user in ("u2", "u3", "nobody"):
        assert recorded.user_events(group, user) == []
    assert "Query" not in calls and "GetItem" not in calls       # no read per user
    dataset = recorded.dataset_arn_of_group(group)
    store.put_events(dataset, [{"eventId": "x1", "eventType": "click", "sentAt": T0 + 9,
                                "itemId": "i9", "userId": "u2", "sessionId": "s2"}])
    assert recorded.user_events(group, "u2") == []               # within the TTL: the copy
    monkeypatch.setenv("RUNTIME_EVENTS_TTL_SECONDS", "0.01")
    time.sleep(0.02)
    del calls[:]
    assert [e["itemId"] for e in recorded.user_events(group, "u2")] == ["i9"]
    assert calls == ["Query"]                 # the change log alone: it carries u2's event
    time.sleep(0.02)
    del calls[:]
    assert [e["itemId"] for e in recorded.user_events(group, "u1")] == ["i0"]
    assert calls == ["Query"]                 # nothing new: the change log alone
    items = recorded.dataset_group_items(group)["ITEM_ID"].tolist()
    assert sorted(items) == ["i0", "i9"]      # Trending-Now's counts see both workers' events


def other_worker_clicks(group, user, items, at):
    """PutEvents of another worker: written to the store, past this worker's copy."""
    from chalicelib.storage import events as store
    dataset = recorded.dataset_arn_of_group(group)
    return store.put_events(dataset, [{"eventId": f"x{at}-{k}", "eventType": "click", "sentAt": at + k,
                                       "itemId": item, "userId": user, "sessionId": f"s-{user}"}
                                      for k, item in enumerate(items)])


@pytest.fixture
def look_every_time(monkeypatch):
    monkeypatch.setenv("RUNTIME_EVENTS_TTL_SECONDS", "0.001")


def test_this_workers_put_events_is_not_read_again_through_the_change_log(
        tracker, events, calls, look_every_time):  # noqa: F811
    group, tracking_id = u1_clicked(tracker, events, calls)
    events.put_events(trackingId=tracking_id, userId="u1", sessionId="s1",
                      eventList=[click("e1", "i1", T0 + 5)])
    for _ in range(2):
        time.sleep(0.002)
        del calls[:]
        assert [e["eventId"] for e in recorded.user_events(group, "u1")] == ["e1", "e0"]
        assert calls == ["Query"]            # the change log only: no read of u1's events


def test_a_new_worker_starts_from_the_machines_copy(tracker, events, calls):  # noqa: F811
    """The first worker scans the group's events and publishes them on the machine; another
    worker maps that copy and reads only the change log since (no scan of the events)."""
    group, tracking_id = u1_clicked(tracker, events, calls)
    other_worker_clicks(group, "u2", ["i7", "i8"], T0 + 10)
    recorded.forget()                        # another worker of the machine
    del calls[:]
    assert [e["itemId"] for e in recorded.user_events(group, "u2")] == ["i8", "i7"]
    assert [e["itemId"] for e in recorded.user_events(group, "u1")] == ["i0"]
    assert calls == ["Query"]                # the change log since the copy's head
    assert sorted(recorded.dataset_group_items(group)["ITEM_ID"].tolist()) == ["i0", "i7", "i8"]


def test_a_retried_put_events_is_counted_once_by_trending_now(tracker, events, calls,
                                                              look_every_time):  # noqa: F811
    """Another worker's retry of an event the machine's copy holds already (same sentAt and
    eventId: the store overwrites it) comes back through the change log; Trending-Now's
    counts and the user's events keep it once."""
    group, tracking_id = u1_clicked(tracker, events, calls)
    from chalicelib.storage import events as store
    store.put_events(recorded.dataset_arn_of_group(group), [{
        "eventId": "e0", "eventType": "click", "sentAt": T0, "itemId": "i0", "userId": "u1",
        "sessionId": "s1"}])
    time.sleep(0.002)
    assert recorded.dataset_group_items(group)["ITEM_ID"].tolist() == ["i0"]
    assert [e["eventId"] for e in recorded.user_events(group, "u1")] == ["e0"]


def test_a_worker_with_many_changes_publishes_a_newer_copy(tracker, events, calls, monkeypatch,
                                                           look_every_time):  # noqa: F811
    from chalicelib.runtime import feed, snapshots
    monkeypatch.setattr(feed, "PUBLISH_AFTER", 3)
    group, tracking_id = u1_clicked(tracker, events, calls)
    dataset = recorded.dataset_arn_of_group(group)
    first = snapshots.newest(dataset).head
    change = other_worker_clicks(group, "u3", ["i1", "i2", "i3"], T0 + 20)
    time.sleep(0.002)
    assert [e["itemId"] for e in recorded.user_events(group, "u3")] == ["i3", "i2", "i1"]
    published = snapshots.newest(dataset)
    assert published.head == change["eventKey"] and published.head > first
    assert [r[1] for r in published.rows("u3")] == ["i3", "i2", "i1"]   # no read of the store
    worker = recorded.feed(group)
    assert worker.applied == 0 and not worker.delta      # its changes are in the copy now
    recorded.forget()
    del calls[:]
    assert [e["itemId"] for e in recorded.user_events(group, "u3")] == ["i3", "i2", "i1"]
    assert [e["itemId"] for e in recorded.user_events(group, "u1")] == ["i0"]
    assert calls == ["Query"]


def test_a_copy_the_change_log_does_not_hold_is_not_served(tracker, events, calls):  # noqa: F811
    """A snapshot left on the machine by a deleted dataset of the same name (its head is not
    in this dataset's change log) is not taken up."""
    from chalicelib.runtime import snapshots
    from chalicelib.storage import events as store
    group, tracking_id = u1_clicked(tracker, events, calls)
    dataset = recorded.dataset_arn_of_group(group)
    ghost = store.change_key_at(time.time() + 60) + "#gone"
    snapshots.publish(dataset, *snapshots.build(
        snapshots.Snapshot.empty(), {"ghost": [(store.event_key(T0, "g"), "i9", "click", T0)]},
        {store.event_key(T0, "g"): "i9"}, ghost, {ghost}))
    for fresh_worker in (False, True):
        if fresh_worker:
            recorded.forget()
        recorded.feed(group).checked = float("-inf")
        assert recorded.user_events(group, "ghost") == []
        assert [e["itemId"] for e in recorded.user_events(group, "u1")] == ["i0"]
        assert recorded.dataset_group_items(group)["ITEM_ID"].tolist() == ["i0"]


def test_a_session_link_too_long_to_list_is_read_again(tracker, events, calls, monkeypatch,
                                                       look_every_time):  # noqa: F811
    from chalicelib.storage import events as store
    monkeypatch.setattr(store, "LISTED_MOVES", 1)
    group, tracking_id = u1_clicked(tracker, events, calls)
    events.put_events(trackingId=tracking_id, sessionId="visit", eventList=[
        click("a1", "i4", T0 + 1), click("a2", "i5", T0 + 2)])
    events.put_events(trackingId=tracking_id, sessionId="visit", userId="u4",
                      eventList=[click("login", "i6", T0 + 3)])
    time.sleep(0.002)
    del calls[:]
    assert [e["eventId"] for e in recorded.user_events(group, "u4")] == ["login", "a2", "a1"]
    assert calls == ["Query", "Query"]      # the change log, then u4 (the link named only them)
    time.sleep(0.002)
    del calls[:]
    assert [e["eventId"] for e in recorded.user_events(group, "u4")] == ["login", "a2", "a1"]
    assert calls == ["Query"]


def test_changes_applied_while_a_user_is_read_again_are_kept(tracker, events, calls, monkeypatch,
                                                              look_every_time):  # noqa: F811
    """A user the log named without saying how is read from the store outside the lock; a
    change applied meanwhile (this worker's PutEvents) is kept on top of that read, also one
    whose change-log key comes before the naming one (written late: out of order)."""
    import types
    from chalicelib.storage import events as store
    monkeypatch.setattr(store, "LISTED_MOVES", 1)
    group, tracking_id = u1_clicked(tracker, events, calls)
    dataset = recorded.dataset_arn_of_group(group)
    events.put_events(trackingId=tracking_id, sessionId="visit", eventList=[
        click("a1", "i4", T0 + 1), click("a2", "i5", T0 + 2)])
    events.put_events(trackingId=tracking_id, sessionId="visit", userId="u4",
                      eventList=[click("login", "i6", T0 + 3)])
    worker = recorded.feed(group)
    real_read, late = store.user_events, []

    def read_meanwhile(*args, **kwargs):
        found = real_read(*args, **kwargs)
        named = store.change_time(worker.stale["u4"])
        for event_id, sent, at in (("late-old", T0 + 4, named - 5), ("late-new", T0 + 5, None)):
            if at is not None:    # its change-log key comes before the one naming u4
                monkeypatch.setattr(store, "time", types.SimpleNamespace(time=lambda: at, sleep=time.sleep))
            change = store.put_events(dataset, [{"eventId": event_id, "eventType": "click", "sentAt": sent,
                                                 "itemId": "i7", "userId": "u4", "sessionId": "visit"}])
            monkeypatch.setattr(store, "time", time)
            late.append(change["eventKey"])
            worker.apply(change)
        return found
    time.sleep(0.002)
    monkeypatch.setattr(store, "user_events", read_meanwhile)
    want = ["late-new", "late-old", "login", "a2", "a1"]
    assert [e["eventId"] for e in recorded.user_events(group, "u4")] == want
    assert late[0] < worker.delta["u4"].cleared < late[1]
    monkeypatch.setattr(store, "user_events", real_read)
    time.sleep(0.002)
    del calls[:]
    assert [e["eventId"] for e in recorded.user_events(group, "u4")] == want
    assert calls == ["Query"]


def test_change_log_items_expire(tracker, events):  # noqa: F811
    from chalicelib import config
    from chalicelib.storage import events as store
    group, tracking_id = tracker
    described = client("dynamodb").describe_time_to_live(TableName=config.events_table())
    assert described["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED",
                                                  "AttributeName": store.TTL_ATTRIBUTE}
    before = time.time()
    events.put_events(trackingId=tracking_id, userId="u1", sessionId="s1", eventList=[click("e0", "i0", T0)])
    item = client("dynamodb").query(
        TableName=config.events_table(), KeyConditionExpression="datasetArn = :d AND begins_with(eventKey, :c)",
        ExpressionAttributeValues={":d": {"S": recorded.dataset_arn_of_group(group)},
                                   ":c": {"S": store.CHANGE}})["Items"][0]
    expires = int(item[store.TTL_ATTRIBUTE]["N"])
    assert before + store.CHANGE_LOG_SECONDS - 1 <= expires <= time.time() + store.CHANGE_LOG_SECONDS


class Events:
    """A user's recorded events as the store gives them (newest first)."""

    def __init__(self):
        self.rows = []

    def add(self, item, at, k):
        self.rows.insert(0, {"itemId": item, "sentAt": at, "eventId": f"e{k}",
                             "eventKey": f"{int(at * 1000):015d}#e{k}"})


def served_with(model, version, data, log):
    users = np.asarray(data.user_ids)[data.interactions.user]
    index = histories.ItemIndex(model.item_ids)
    h = histories.build(users, data.interactions.item.astype(np.int64), data.interactions.timestamp,
                        index.size)
    sm = serving.ServedModel(version, model, "arn:aws:personalize:us-east-1:1:dataset-group/g", h)
    sm.recorded_events = lambda user_id: log.rows
    return sm


@pytest.mark.parametrize("recipe", ["aws-hrnn", "aws-hrnn+blend", "aws-ffnn", "aws-deepfm"])
def test_carried_state_answers_as_a_fresh_worker(recipe):
    """`+blend`: HRNN with its co-occurrence component on (weight 1): the user's factors are
    carried too (folded in from the new items only) and score as a full fold-in."""
    data = cyclic_data()
    recipe, _, blended = recipe.partition("+")
    hp = {"aws-hrnn": dict(FAST, **{"training.epochs": "1"}), "aws-deepfm": {"epochs": "1"},
          "aws-ffnn": {"dsize": "8", "batch_size": "16", "min_hist_length": "1"}}[recipe]
    model = recipe_for(recipe).fit(data, hp, seed=0)
    if blended:
        model.cooccurrence["weight"] = 1.0
        solves = []
        real_solve = np.linalg.solve
        monkey = pytest.MonkeyPatch()
        monkey.setattr(np.linalg, "solve", lambda a, b: solves.append(1) or real_solve(a, b))
    log = Events()
    warm = served_with(model, "v1", data, log)
    folds = []
    fold = model.fold
    model.fold = lambda state, history, user=None: folds.append(
        (None if state is None else state.folded, len(history.items))) or fold(state, history, user)
    t = 2_000_000
    for k in range(30):
        t += 7200 if k % 7 == 0 else 100          # some events start a session
        log.add(f"i{k % 12:02d}", t, k)
        got = warm.recommend("u3", 10)
        fresh = served_with(model, "v1", data, log)    # another worker: reads the whole history
        assert [i for i, _ in got] == [i for i, _ in fresh.recommend("u3", 10)]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in fresh.recommend("u3", 10)],
                                   rtol=1e-4)
        items = [f"i{j:02d}" for j in range(12)]
        a, b = dict(warm.rank("u3", items)), dict(fresh.rank("u3", items))
        np.testing.assert_allclose([a[i] for i in items], [b[i] for i in items], rtol=1e-4, atol=1e-6)
    # the warm worker read each new event once: its folds continue from the previous state
    # (the fresh workers' folds start from None)
    assert sum(1 for start, end in folds if start is not None and end - start == 1) >= 29
    if blended:   # nothing new: the carried factors answer, no solve per request
        del solves[:]
        warm.recommend("u3", 10)
        warm.rank("u3", items)
        monkey.undo()
        assert solves == []
    # a new solution version (another ServedModel) starts from nothing
    other = recipe_for(recipe).fit(data, hp, seed=1)
    v2 = served_with(other, "v2", data, log)
    assert not v2._states
    whole = histories.merge(v2.histories.history("u3"), log.rows, v2.index, limit=None)
    want = other.rank(whole, np.arange(12))
    got = dict(v2.rank("u3", items))
    np.testing.assert_allclose([got[str(other.item_ids[j])] for j in range(12)], want, rtol=1e-4)
    assert not np.allclose(want, model.rank(whole, np.arange(12)))   # the versions differ
