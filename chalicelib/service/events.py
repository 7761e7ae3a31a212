"""PutEvents (seed: "Recording Events" / "Calling the Record API"; API Reference PutEvents;
data type Event). Service `personalize-events`.

The service model has already checked the request's shape: `trackingId`, `sessionId` and
1-100 events, each with `eventType` and `sentAt`. Rules added here (InvalidInputException,
the only error the seed lists for PutEvents):

- `trackingId` must name an event tracker (CreateEventTracker); `sessionId` must not be empty;
- `properties` is "a string map of event-specific data": the JSON object text (the seed types
  it as a blob, so its base64 encoding is accepted too). Its `id` (or `itemId`) is the event's
  item and its `value` (or `eventValue`) the event's value ("The id and value keys correspond
  to the item_id and event_value fields"). Today's `itemId` / `eventValue` members of Event
  win when sent. A `value` that is not a number (the seed's Click example sends an item name)
  is kept in `properties` only. ListView `items` are stored but are not interactions.
- `eventId` "is custom to your application"; when a client omits it (today's API allows
  that) the id is derived from the event's content, so a retried request still stores each
  event once.
- `recommendationId` (today's API: "The ID of the list of recommendations that contains the
  item the user interacted with"): stored with the event, as GetRecommendations /
  GetPersonalizedRanking handed it out; no recipe here reads it (impressions are not served).

Events go to the group's EVENT_INTERACTIONS dataset in the events table
(`chalicelib.storage.events`) under the session rule of `chalicelib.runtime.recorded`; nothing
is written unless every event is valid.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math

from chalicelib.protocol.errors import InvalidInputException, SerializationException
from chalicelib.protocol.jsontext import JsonTooDeep, load_json
from chalicelib.runtime import recorded
from chalicelib.service import event_trackers
from chalicelib.service.registry import operation
from chalicelib.storage.codec import to_epoch

SERVICE = "personalize-events"
MAX_ITEM_ID = 256
MAX_PROPERTIES = 1024   # today's EventPropertiesJSON: "max": 1024


def _properties(text, where):
    """The JSON object in `properties` (JSON text or its base64 encoding), at most
    MAX_PROPERTIES characters of JSON text (today's EventPropertiesJSON limit)."""
    if text is None or text == "":
        return {}
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    doc = _json(text, where)
    if doc is _NOT_JSON:
        try:
            doc = _json(base64.b64decode(text, validate=True).decode("utf-8"), where)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            doc = _NOT_JSON
    if doc is _NOT_JSON:
        raise InvalidInputException(
            f"{where}.properties: must be a JSON object, such as {{\"id\": \"item1\", "
            "\"value\": \"4\"}")
    if not isinstance(doc, dict):
        raise InvalidInputException(f"{where}.properties: must be a JSON object, not "
                                    f"{type(doc).__name__}")
    return doc


_NOT_JSON = object()


def _json(text, where):
    """The JSON value of `text`, or _NOT_JSON; InvalidInputException naming the member for
    JSON that is too long, too deep or not valid Unicode (`protocol.jsontext`)."""
    try:
        doc = load_json(text, what=f"{where}.properties")
    except JsonTooDeep as e:
        raise InvalidInputException(e.message) from None
    except SerializationException:
        return _NOT_JSON
    if len(text) > MAX_PROPERTIES:
        raise InvalidInputException(
            f"{where}.properties: {len(text)} characters of JSON; at most {MAX_PROPERTIES} are "
            "allowed (EventPropertiesJSON)")
    return doc


def _number(value):
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _event(raw, index, session_id, user_id):
    where = f"eventList[{index}]"
    props = _properties(raw.get("properties"), where)
    item = raw.get("itemId")
    if item is None:
        item = props.get("itemId", props.get("id"))
    if item is not None:
        if isinstance(item, (dict, list, bool)):
            raise InvalidInputException(f"{where}.properties.id: the item id must be a string")
        item = str(item)
        if not item or len(item) > MAX_ITEM_ID:
            raise InvalidInputException(
                f"{where}: the item id must be 1 to {MAX_ITEM_ID} characters long")
    value = raw.get("eventValue")
    if value is None:
        value = _number(props.get("eventValue", props.get("value")))
    elif not math.isfinite(value):
        raise InvalidInputException(f"{where}.eventValue: must be a finite number")
    if not raw.get("eventType"):
        raise InvalidInputException(f"{where}.eventType: must not be empty")
    sent_at = to_epoch(raw["sentAt"])
    if sent_at < 0:
        raise InvalidInputException(f"{where}.sentAt: {sent_at} is before 1970")
    text = raw.get("properties")
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    event = {"sessionId": session_id, "userId": user_id, "eventType": raw["eventType"],
             "sentAt": sent_at, "itemId": item, "eventValue": value,
             "properties": text or None, "context": raw.get("context") or None,
             "recommendationId": raw.get("recommendationId") or None}
    event_id = raw.get("eventId")
    if not event_id:
        digest = hashlib.sha256(json.dumps(
            [session_id, user_id, raw["eventType"], sent_at, item, value, text or ""],
            sort_keys=True).encode()).hexdigest()
        event_id = f"generated-{digest[:32]}"
    event["eventId"] = event_id
    return event


@operation("PutEvents", service=SERVICE)
def put_events(params):
    tracker = event_trackers.tracker_for(params.get("trackingId"))
    if tracker is None:
        raise InvalidInputException(
            f"trackingId: no event tracker has the tracking ID {params.get('trackingId')!r}; "
            "use the trackingId that CreateEventTracker returned")
    session_id = params.get("sessionId") or ""
    if not session_id:
        raise InvalidInputException("sessionId: must not be empty")
    user_id = params.get("userId") or None
    events = [_event(raw, i, session_id, user_id) for i, raw in enumerate(params["eventList"])]
    recorded.record(event_trackers.event_interactions_dataset_arn(tracker), session_id, user_id, events)
    return {}
