"""PutEvents through boto3 (seed: "Recording Events", PutEvents, data type Event): validation,
durable and idempotent storage, the session rule, the training export, and the effect of new
events on the next recommendations."""
import base64
import json
import threading

import pytest
from botocore.exceptions import ClientError

from tests.api.test_recommendations import (HRNN, ROLE, code, deployed, ids, message,  # noqa: F401
                                            movie_group, played_training)
from tests.api.test_solutions import make_group

T0 = 1_600_000_000


@pytest.fixture
def tracker(personalize):
    """(group ARN, trackingId) of an empty group with an event tracker."""
    group = make_group(personalize, "clicks", with_dataset=False)
    out = personalize.create_event_tracker(name="MovieClickTracker", datasetGroupArn=group, roleArn=ROLE)
    return group, out["trackingId"]


def click(event_id, item, at, **extra):
    return {"eventId": event_id, "eventType": "click", "sentAt": at,
            "properties": json.dumps({"id": item, **extra})}


def stored(group):
    from chalicelib.runtime.recorded import dataset_arn_of_group
    from chalicelib.storage import events as store
    return list(store.dataset_events(dataset_arn_of_group(group)))


def test_events_are_stored_once_even_when_retried(tracker, events):
    group, tracking_id = tracker
    batch = [click(f"e{k}", f"i{k}", T0 + k) for k in range(5)]
    for _ in range(2):   # a client retrying the same request
        out = events.put_events(trackingId=tracking_id, userId="u1", sessionId="s1", eventList=batch)
        assert out["ResponseMetadata"]["HTTPStatusCode"] == 200
    rows = stored(group)
    assert [r["eventId"] for r in rows] == [f"e{k}" for k in range(5)]     # time order
    assert rows[0]["userId"] == "u1" and rows[0]["sessionId"] == "s1" and rows[0]["itemId"] == "i0"
    from chalicelib.runtime.recorded import user_events
    assert [e["eventId"] for e in user_events(group, "u1")] == [f"e{k}" for k in reversed(range(5))]


def test_deleting_the_event_dataset_deletes_its_events(tracker, events, personalize):
    """DeleteEventTracker keeps the event-interactions dataset (seed); deleting that
    dataset removes its events, so a later tracker on the group starts empty."""
    group, tracking_id = tracker
    events.put_events(trackingId=tracking_id, userId="u1", sessionId="s1",
                      eventList=[click(f"e{k}", "i1", T0 + k) for k in range(3)])
    events.put_events(trackingId=tracking_id, sessionId="anon", eventList=[click("a", "i2", T0)])
    tracker_arn = personalize.list_event_trackers(datasetGroupArn=group)["eventTrackers"][0]["eventTrackerArn"]
    personalize.delete_event_tracker(eventTrackerArn=tracker_arn)
    assert len(stored(group)) == 4
    dataset = personalize.list_datasets(datasetGroupArn=group)["datasets"][0]["datasetArn"]
    personalize.delete_dataset(datasetArn=dataset)
    from chalicelib.storage import events as store
    assert list(store._keys_of(dataset)) == []


def test_properties_map_to_item_and_value(tracker, events):
    """"The id and value keys correspond to the item_id and event_value fields"; today's
    itemId / eventValue members win; base64 (the seed's blob) is accepted."""
    group, tracking_id = tracker
    events.put_events(trackingId=tracking_id, userId="u1", sessionId="s1", eventList=[
        {"eventId": "a", "eventType": "rating", "sentAt": T0, "properties": '{"id": "101", "value": "4"}'},
        {"eventId": "b", "eventType": "Click", "sentAt": T0 + 1,
         "properties": '{"id": "102", "value": "itemNameClickedOn"}'},
        {"eventId": "c", "eventType": "rating", "sentAt": T0 + 2, "itemId": "103", "eventValue": 2.5,
         "properties": '{"id": "999", "value": 1}'},
        {"eventId": "d", "eventType": "rating", "sentAt": T0 + 3,
         "properties": base64.b64encode(b'{"itemId": "104", "eventValue": 3}').decode()},
        {"eventId": "e", "eventType": "ListView", "sentAt": T0 + 4,
         "properties": '{"items": [{"id": "105"}, {"id": "106"}]}'},
    ])
    rows = {r["eventId"]: r for r in stored(group)}
    assert (rows["a"]["itemId"], rows["a"]["eventValue"]) == ("101", 4.0)
    assert rows["b"]["itemId"] == "102" and "eventValue" not in rows["b"]
    assert (rows["c"]["itemId"], rows["c"]["eventValue"]) == ("103", 2.5)
    assert (rows["d"]["itemId"], rows["d"]["eventValue"]) == ("104", 3.0)
    assert "itemId" not in rows["e"] and "105" in rows["e"]["properties"]
    from chalicelib.datasets.training_view import recorded_events
    exported = recorded_events(group)
    assert list(exported["ITEM_ID"]) == ["101", "102", "103", "104"]   # ListView is no interaction
    assert list(exported["EVENT_TYPE"]) == ["rating", "Click", "rating", "rating"]
    assert exported["EVENT_VALUE"][0] == 4.0 and str(exported["EVENT_VALUE"][1]) == "nan"


def test_validation_errors(tracker, events, raw):
    group, tracking_id = tracker

    def refused(**kwargs):
        args = {"trackingId": tracking_id, "userId": "u1", "sessionId": "s1",
                "eventList": [click("e1", "i1", T0)]}
        args.update(kwargs)
        with pytest.raises(ClientError) as e:
            events.put_events(**args)
        assert code(e) == "InvalidInputException"
        return message(e)

    assert "trackingId" in refused(trackingId="not-a-tracking-id")
    assert "sessionId" in refused(sessionId="")
    assert "properties" in refused(eventList=[dict(click("e1", "i1", T0), properties="not json")])
    assert "properties" in refused(eventList=[dict(click("e1", "i1", T0), properties="[1, 2]")])
    assert "item id" in refused(eventList=[dict(click("e1", "x" * 257, T0))])
    refused(eventList=[click(f"e{k}", "i1", T0 + k) for k in range(101)])   # at most 100
    # what boto3 would refuse before sending: checked by the service too
    for body in ({"trackingId": tracking_id, "sessionId": "s1", "eventList": []},
                 {"trackingId": tracking_id, "eventList": [{"eventId": "e", "eventType": "c", "sentAt": T0}]},
                 {"trackingId": tracking_id, "sessionId": "s1", "eventList": [{"eventId": "e", "sentAt": T0}]}):
        status, headers, answer = raw("/events", body, content_type="application/json")
        assert status == 400 and headers["x-amzn-errortype"].startswith("InvalidInputException"), answer
    assert stored(group) == []          # nothing half-written


def test_event_id_is_generated_stably(tracker, events):
    group, tracking_id = tracker
    event = {"eventType": "click", "sentAt": T0, "properties": '{"id": "i1"}'}
    for _ in range(2):
        events.put_events(trackingId=tracking_id, sessionId="s1", eventList=[event])
    rows = stored(group)
    assert len(rows) == 1 and rows[0]["eventId"].startswith("generated-")


def test_session_events_count_for_the_user_once_linked(tracker, events):
    """Seed: sessionId associates events with the user before they log in."""
    group, tracking_id = tracker
    from chalicelib.runtime.recorded import user_events
    events.put_events(trackingId=tracking_id, sessionId="visit-1",
                      eventList=[click("anon-1", "i1", T0), click("anon-2", "i2", T0 + 1)])
    assert user_events(group, "alice") == []
    from chalicelib.datasets.training_view import recorded_events
    assert len(recorded_events(group)["USER_ID"]) == 0      # nobody to train them for yet
    events.put_events(trackingId=tracking_id, sessionId="visit-1", userId="alice",
                      eventList=[click("login", "i3", T0 + 2)])
    assert [e["eventId"] for e in user_events(group, "alice")] == ["login", "anon-2", "anon-1"]
    exported = recorded_events(group)
    assert list(exported["USER_ID"]) == ["alice"] * 3 and list(exported["ITEM_ID"]) == ["i1", "i2", "i3"]
    # later events of the linked session are hers at once, another session stays apart
    events.put_events(trackingId=tracking_id, sessionId="visit-1", eventList=[click("more", "i5", T0 + 4)])
    events.put_events(trackingId=tracking_id, sessionId="visit-2", eventList=[click("other", "i4", T0 + 3)])
    assert [e["eventId"] for e in user_events(group, "alice")] == ["more", "login", "anon-2", "anon-1"]
    assert list(recorded_events(group)["USER_ID"]) == ["alice"] * 4


def test_ten_thousand_events_from_eight_threads(tracker):
    """Concurrent clients, each request sent twice (a retry): every event stored exactly once."""
    from tests.conftest import make_client
    group, tracking_id = tracker
    client = make_client("personalize-events", threaded=True)
    errors = []

    def worker(t):
        try:
            for b in range(12 if t < 4 else 13):                  # 4*12 + 4*13 = 100 requests
                start = (t * 13 + b) * 100
                batch = [click(f"t{t}-{start + k}", f"i{k % 40}", T0 + start + k) for k in range(100)]
                for _ in range(2 if b % 6 == 0 else 1):
                    client.put_events(trackingId=tracking_id, userId=f"user{t}", sessionId=f"s{t}",
                                      eventList=batch)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[:3]
    from chalicelib.runtime.recorded import dataset_arn_of_group, user_events
    from chalicelib.storage.events import count_events
    # the key is (sentAt, eventId): a count of 10,000 means no event was lost or doubled
    assert count_events(dataset_arn_of_group(group)) == 10_000
    newest = user_events(group, "user7", limit=150)
    assert [e["eventId"] for e in newest] == [f"t7-{k}" for k in range(10_399, 10_249, -1)]


def test_new_events_change_the_next_recommendations(personalize, s3, played_training, runtime, events):
    """A sequence model (HRNN) folds new events into the user's history without retraining."""
    group = movie_group(personalize, s3)
    campaign = deployed(personalize, group, HRNN, "hrnn")
    tracking_id = personalize.create_event_tracker(name="t", datasetGroupArn=group,
                                                   roleArn=ROLE)["trackingId"]
    before = ids(runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=10))
    from chalicelib.runtime import serving
    served = serving.cache().peek(serving.cache().keys()[0])
    imported = served.history("u0")
    known = set(served.model.item_ids.tolist())
    clicked = [i for i in (f"i{k}" for k in range(39, 19, -1)) if i not in before and i in known][:6]
    events.put_events(trackingId=tracking_id, userId="u0", sessionId="late-night",
                      eventList=[click(f"n{k}", item, 2_000_000_000 + k) for k, item in enumerate(clicked)])
    history = served.history("u0")
    assert history.items.shape[0] == imported.items.shape[0] + len(clicked)
    assert [str(served.model.item_ids[i]) for i in history.items[-len(clicked):]] == clicked
    after = ids(runtime.get_recommendations(campaignArn=campaign, userId="u0", numResults=10))
    assert after != before and not set(clicked) & set(after)
    # another user's answer is unchanged
    assert ids(runtime.get_recommendations(campaignArn=campaign, userId="u2", numResults=10)) == \
        ids(runtime.get_recommendations(campaignArn=campaign, userId="u2", numResults=10))


def test_events_of_a_new_user_personalise_at_once(personalize, s3, played_training, runtime, events):
    """A user unknown to the imported data gets popular items, then items after their clicks."""
    group = movie_group(personalize, s3)
    campaign = deployed(personalize, group, HRNN, "hrnn")
    tracking_id = personalize.create_event_tracker(name="t", datasetGroupArn=group,
                                                   roleArn=ROLE)["trackingId"]
    cold = ids(runtime.get_recommendations(campaignArn=campaign, userId="newbie", numResults=10))
    events.put_events(trackingId=tracking_id, sessionId="first-visit",
                      eventList=[click(f"c{k}", f"i{20 + k}", T0 + k) for k in range(5)])
    assert ids(runtime.get_recommendations(campaignArn=campaign, userId="newbie", numResults=10)) == cold
    events.put_events(trackingId=tracking_id, sessionId="first-visit", userId="newbie",
                      eventList=[click("signed-in", "i25", T0 + 10)])
    warm = ids(runtime.get_recommendations(campaignArn=campaign, userId="newbie", numResults=10))
    assert warm != cold and not {f"i{20 + k}" for k in range(6)} & set(warm)
