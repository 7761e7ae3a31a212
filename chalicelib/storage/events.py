"""The event store port: events recorded with PutEvents, in the DynamoDB events table.

Seed: "Recording Events" (the event-interactions dataset "stores the event data from the
PutEvents call"), data type Event. Key design (`chalicelib.storage.tables`, "EventsTable"):

- partition `datasetArn` (the group's EVENT_INTERACTIONS dataset), sort `eventKey` =
  zero-padded `sentAt` in milliseconds + "#" + `eventId`: one dataset's events in time order
  (the export for training reads them this way);
- index `byUser` on `userKey` + `eventKey`, queried newest first. `userKey` is
  "<dataset>|u|<userId>" for an event of a known user, "<dataset>|s|<sessionId>" for one
  sent before its session's user was known. `link_session` moves a session's anonymous events
  under the user's key (marking them `linkedUserId`) once an event names the user, so the
  runtime reads a user's whole history with one query. The rule itself is in
  `chalicelib.runtime.recorded`.

Two kinds of marker items sit beside the events (their `eventKey` starts with "~", event keys
with digits, so they sort after every event and the time-ordered reads skip them):
"~session#<sessionId>" says a session has events waiting for their user (linking then costs one
consistent GetItem when there is nothing to move); "~user#<sessionId>" names the session's user
once an event did, so later events sent without a user go straight to that user.

A third kind is the change log: every write of events (PutEvents, a session's events moved to
its user, a user's events deleted) adds one "~change#<ms>#<id>" item in the same write, saying
what changed: `written`, the (event key, item id) of the interactions written (whoever they
belong to); `events`, the interactions that now belong to a user, as (user, event key, item id,
event type, sentAt); `cleared`, users whose events were all deleted; `users`, every user whose
events changed (one not covered by `events` or `cleared`, e.g. a session of more than
`LISTED_MOVES` events moved at once, is read again by readers). The runtime's copy of a group's
events (`chalicelib.runtime.recorded`) reads these items since its last look, one query per
group every few seconds, and applies them without reading the users. Change-log items carry
`expiresAt` (epoch seconds, `CHANGE_LOG_SECONDS` after the write), the table's DynamoDB TTL
attribute (`storage.tables`, template.yaml): DynamoDB deletes them some time after, so readers
never rely on an item older than half that.

Writes are idempotent: an event's key is made only of what the caller sent (`sentAt`,
`eventId`), so a retried PutEvents request overwrites its own items instead of adding new ones.
"""
from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Dict, Iterator, List, Optional

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chalicelib import config
from chalicelib.storage.clients import client
from chalicelib.storage.tables import TABLES

USER_INDEX = "byUser"
SESSION_MARK = "~session#"    # the session has events waiting for their user
SESSION_USER = "~user#"        # the session's user, once an event named one
CHANGE = "~change#"            # the change log (module docstring)
LAST_EVENT_KEY = "9" * 16      # above every 15-digit time key, below the markers
TTL_ATTRIBUTE = TABLES["EventsTable"]["TimeToLiveSpecification"]["AttributeName"]   # expiresAt
CHANGE_LOG_SECONDS = 2 * 24 * 3600   # how long a change-log item is kept
LISTED_MOVES = 400             # a link moving more events names the user only (item size)
BATCH = 25               # BatchWriteItem's limit
_MAX_UNPROCESSED_ROUNDS = 8

_ser, _de = TypeSerializer(), TypeDeserializer()


def event_key(sent_at: float, event_id: str) -> str:
    """Time-ordered sort key: milliseconds since the epoch (15 digits) and the event id."""
    return f"{max(0, int(round(sent_at * 1000))):015d}#{event_id}"


def user_key(dataset_arn: str, user_id: str) -> str:
    return f"{dataset_arn}|u|{user_id}"


def session_key(dataset_arn: str, session_id: str) -> str:
    return f"{dataset_arn}|s|{session_id}"


def _dynamo(v):
    """Floats (at any depth) as the Decimals DynamoDB's serializer takes."""
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, (list, tuple)):
        return [_dynamo(x) for x in v]
    if isinstance(v, dict):
        return {k: _dynamo(x) for k, x in v.items()}
    return v


def _plain(v):
    """The Decimals (at any depth) of a read item as floats."""
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _encode(item: dict) -> dict:
    return {k: _ser.serialize(_dynamo(v)) for k, v in item.items() if v is not None}


def _decode(item: dict) -> dict:
    return {k: _plain(_de.deserialize(v)) for k, v in item.items()}


def owner(event: dict) -> Optional[str]:
    """The user an event belongs to: the one sent with it, else its session's user."""
    return event.get("userId") or event.get("linkedUserId")


def put_events(dataset_arn: str, events: List[dict]) -> dict:
    """Store events (dicts with sessionId, eventId, eventType, sentAt (epoch seconds), and
    optional userId, linkedUserId (the session's user, for an event sent without one), itemId,
    eventValue, properties, context), with their change-log item, in one BatchWriteItem (up to
    `BATCH` items: one PutEvents request). An event with a userId also records its session's
    user. Returns the change (`_change`).

    A later event with the same key (same sentAt and eventId) replaces the earlier one, within
    a request and across retries."""
    recorded_at = time.time()
    items: Dict[str, dict] = {}
    for e in events:
        key = event_key(e["sentAt"], e["eventId"])
        gsi = user_key(dataset_arn, owner(e)) if owner(e) else session_key(dataset_arn, e["sessionId"])
        items[key] = _encode({**e, "datasetArn": dataset_arn, "eventKey": key, "userKey": gsi,
                              "recordedAt": recorded_at})
        if e.get("userId"):
            items[SESSION_USER + e["sessionId"]] = _encode({
                "datasetArn": dataset_arn, "eventKey": SESSION_USER + e["sessionId"],
                "sessionId": e["sessionId"], "userId": e["userId"]})
    marks = {e["sessionId"] for e in events if not owner(e)}
    for sid in marks:  # a session with events waiting for their user
        items[SESSION_MARK + sid] = _encode({"datasetArn": dataset_arn,
                                             "eventKey": SESSION_MARK + sid, "sessionId": sid})
    interactions = {event_key(e["sentAt"], e["eventId"]): e for e in events if e.get("itemId")}
    change, item = _change(dataset_arn, recorded_at, written=[
        [k, e["itemId"]] for k, e in interactions.items()], events=[
        _owned(owner(e), k, e) for k, e in interactions.items() if owner(e)])
    _write([{"PutRequest": {"Item": item}} for item in list(items.values()) + [item]])
    return change


def _owned(user: str, key: str, event: dict) -> list:
    """One entry of a change's `events`: what a reader keeps of an interaction of a user."""
    return [user, key, event["itemId"], event.get("eventType") or "", float(event["sentAt"])]


def _change(dataset_arn: str, at: Optional[float] = None, *, users=(), written=(), events=(),
            cleared=()) -> tuple:
    """(change, its item): a change-log entry {eventKey, users, written, events, cleared}
    (module docstring; `users` includes those of `events` and `cleared`)."""
    at = time.time() if at is None else at
    key = f"{change_key_at(at)}#{uuid.uuid4().hex[:12]}"
    change = {"eventKey": key, "written": list(written), "events": list(events),
              "cleared": sorted(set(cleared)),
              "users": sorted(set(users) | {e[0] for e in events} | set(cleared))}
    item = _encode({"datasetArn": dataset_arn, **change, "recordedAt": at,
                    TTL_ATTRIBUTE: int(at + CHANGE_LOG_SECONDS)})
    return change, item


def anchor(dataset_arn: str) -> str:
    """Write an empty change-log item (a dataset whose log expired gets a head to start
    from); returns its key."""
    change, item = _change(dataset_arn)
    client("dynamodb").put_item(TableName=config.events_table(), Item=item)
    return change["eventKey"]


def change_head(dataset_arn: str) -> str:
    """The newest change-log key of a dataset ("" when none): where a reader starts."""
    out = client("dynamodb").query(
        TableName=config.events_table(), ConsistentRead=True, ScanIndexForward=False, Limit=1,
        KeyConditionExpression="datasetArn = :d AND begins_with(eventKey, :c)",
        ExpressionAttributeValues={":d": {"S": dataset_arn}, ":c": {"S": CHANGE}})
    items = out.get("Items") or []
    return items[0]["eventKey"]["S"] if items else ""


def changes(dataset_arn: str, since: str) -> Iterator[dict]:
    """Change-log items with keys at or after `since` (a key or its prefix), oldest first:
    {eventKey, users, written, events, cleared} (an item written before `events` existed has
    users and written only)."""
    yield from _query(ConsistentRead=True, ScanIndexForward=True,
                      KeyConditionExpression="datasetArn = :d AND eventKey BETWEEN :lo AND :hi",
                      ExpressionAttributeValues={":d": {"S": dataset_arn},
                                                 ":lo": {"S": max(since, CHANGE)},
                                                 ":hi": {"S": CHANGE + "~"}})


def change_key_at(at: float) -> str:
    """The change-log key prefix of time `at` (seconds)."""
    return f"{CHANGE}{max(0, int(at * 1000)):015d}"


def change_time(key: str) -> float:
    """The time (seconds) a change-log key was written at."""
    return int(key[len(CHANGE):][:15]) / 1000


def session_user(dataset_arn: str, session_id: str) -> Optional[str]:
    """The user an event of this session last named, or None."""
    out = client("dynamodb").get_item(
        TableName=config.events_table(), ConsistentRead=True,
        Key={"datasetArn": {"S": dataset_arn}, "eventKey": {"S": SESSION_USER + session_id}})
    item = out.get("Item")
    return item["userId"]["S"] if item else None


def link_session(dataset_arn: str, session_id: str, user_id: str) -> Optional[dict]:
    """Give a session's anonymous events to `user_id` (same items, user's index key).
    Returns the change (None when nothing was moved). The marker goes first, so an anonymous
    event written meanwhile puts it back and is moved by the next linking call."""
    ddb, table = client("dynamodb"), config.events_table()
    mark = {"datasetArn": {"S": dataset_arn}, "eventKey": {"S": SESSION_MARK + session_id}}
    if "Item" not in ddb.get_item(TableName=table, Key=mark, ConsistentRead=True):
        return None
    ddb.delete_item(TableName=table, Key=mark)
    moved = [dict(e, userKey=user_key(dataset_arn, user_id), linkedUserId=user_id)
             for e in _query(IndexName=USER_INDEX, KeyConditionExpression="userKey = :k",
                             ExpressionAttributeValues={":k": {"S": session_key(dataset_arn, session_id)}})]
    if not moved:
        return None
    listed = [_owned(user_id, e["eventKey"], e) for e in moved if e.get("itemId")]
    change, item = _change(dataset_arn, users=[user_id],
                           events=listed if len(listed) <= LISTED_MOVES else ())
    _write([{"PutRequest": {"Item": _encode(e)}} for e in moved] + [{"PutRequest": {"Item": item}}])
    return change


def _write(requests: List[dict]) -> None:
    ddb, table = client("dynamodb"), config.events_table()
    for start in range(0, len(requests), BATCH):
        pending = {table: requests[start:start + BATCH]}
        for attempt in range(_MAX_UNPROCESSED_ROUNDS):
            out = ddb.batch_write_item(RequestItems=pending)
            pending = out.get("UnprocessedItems") or {}
            if not pending:
                break
            time.sleep(min(1.0, 0.05 * 2 ** attempt))  # throttled: back off, then resend the rest
        else:
            raise RuntimeError(f"DynamoDB left {len(pending.get(table, []))} events unwritten")


def _query(**kwargs) -> Iterator[dict]:
    ddb = client("dynamodb")
    kwargs["TableName"] = config.events_table()
    while True:
        out = ddb.query(**kwargs)
        for item in out.get("Items", []):
            yield _decode(item)
        if not out.get("LastEvaluatedKey"):
            return
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def _recent(key: str, limit: int) -> List[dict]:
    found = []
    for item in _query(IndexName=USER_INDEX, KeyConditionExpression="userKey = :k",
                       ExpressionAttributeValues={":k": {"S": key}}, ScanIndexForward=False,
                       Limit=max(1, min(limit, 1000))):
        found.append(item)
        if len(found) >= limit:
            break
    return found


def user_events(dataset_arn: str, user_id: str, limit: int = 500) -> List[dict]:
    """The newest `limit` events of this user (sent with it or linked to it), newest first."""
    return _recent(user_key(dataset_arn, user_id), limit)


def session_events(dataset_arn: str, session_id: str, limit: int = 500) -> List[dict]:
    """The newest `limit` events of a session whose user is not known yet, newest first."""
    return _recent(session_key(dataset_arn, session_id), limit)


def _events_of(dataset_arn: str, since: Optional[float] = None) -> dict:
    low = event_key(since, "") if since is not None else "0"
    return {"KeyConditionExpression": "datasetArn = :d AND eventKey BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":d": {"S": dataset_arn}, ":lo": {"S": low},
                                          ":hi": {"S": LAST_EVENT_KEY}}}


def dataset_events(dataset_arn: str, since: Optional[float] = None) -> Iterator[dict]:
    """Every event of a dataset in time order (oldest first), optionally from `since` on."""
    yield from _query(ScanIndexForward=True, ConsistentRead=True, **_events_of(dataset_arn, since))


_INTERACTION_FIELDS = ("eventKey", "itemId", "eventType", "sentAt", "userId", "linkedUserId")


def dataset_interactions(dataset_arn: str) -> Iterator[dict]:
    """`dataset_events` with only what the runtime's copy keeps (key, item, type, sentAt,
    owner), so a large dataset is read with less."""
    names = {f"#{k}": k for k in _INTERACTION_FIELDS}
    yield from _query(ScanIndexForward=True, ConsistentRead=True, ProjectionExpression=",".join(names),
                      ExpressionAttributeNames=names, **_events_of(dataset_arn))


def has_events(dataset_arn: str) -> bool:
    """True when the dataset holds any event."""
    out = client("dynamodb").query(TableName=config.events_table(), Limit=1, ConsistentRead=True,
                                   Select="COUNT", **_events_of(dataset_arn))
    return bool(out.get("Count"))


def count_events(dataset_arn: str) -> int:
    """How many events a dataset holds (a consistent count; tests and diagnostics)."""
    ddb, total = client("dynamodb"), 0
    kwargs = {"TableName": config.events_table(), "Select": "COUNT", "ConsistentRead": True,
              **_events_of(dataset_arn)}
    while True:
        out = ddb.query(**kwargs)
        total += out.get("Count", 0)
        if not out.get("LastEvaluatedKey"):
            return total
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def delete_dataset_events(dataset_arn: str) -> int:
    """Delete every item of a dataset, events and markers (DeleteDataset of an
    EVENT_INTERACTIONS dataset: a later tracker must not see the old events)."""
    keys = [{"DeleteRequest": {"Key": {"datasetArn": {"S": dataset_arn}, "eventKey": {"S": k}}}}
            for k in _keys_of(dataset_arn)]
    _write(keys)   # the change log too: its readers start over (chalicelib.runtime.feed.Feed)
    return len(keys)


def _keys_of(dataset_arn: str) -> Iterator[str]:
    ddb = client("dynamodb")
    kwargs = {"TableName": config.events_table(), "KeyConditionExpression": "datasetArn = :d",
              "ExpressionAttributeValues": {":d": {"S": dataset_arn}},
              "ProjectionExpression": "eventKey"}
    while True:
        out = ddb.query(**kwargs)
        for item in out.get("Items", []):
            yield item["eventKey"]["S"]
        if not out.get("LastEvaluatedKey"):
            return
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


# --- records put with PutItems / PutUsers ---------------------------------------------------
# Today's personalize-events PutItems / PutUsers upsert single records into an Items or Users
# dataset. They live in the same table, partition = that dataset's ARN, key RECORD + the id:
# a later put of the same id replaces the item (an upsert, and a retried request is harmless).
# `stamp` is the newest put's time, one consistent GetItem for the runtime to see a change.
RECORD = "record#"
RECORDS_STAMP = "~records"


def put_records(dataset_arn: str, records: Dict[str, dict]) -> int:
    """Store records: id -> {field name: cell text} (the schema's fields, validated by the
    caller). Returns how many were written."""
    recorded_at = time.time()
    requests = [{"PutRequest": {"Item": _encode({
        "datasetArn": dataset_arn, "eventKey": RECORD + record_id, "recordId": record_id,
        "fields": fields, "recordedAt": recorded_at})}} for record_id, fields in records.items()]
    requests.append({"PutRequest": {"Item": _encode({
        "datasetArn": dataset_arn, "eventKey": RECORDS_STAMP, "recordedAt": recorded_at})}})
    _write(requests)
    return len(records)


def dataset_records(dataset_arn: str) -> Iterator[dict]:
    """Every put record of a dataset: {recordId, fields, recordedAt}, by id."""
    yield from _query(ConsistentRead=True,
                      KeyConditionExpression="datasetArn = :d AND begins_with(eventKey, :r)",
                      ExpressionAttributeValues={":d": {"S": dataset_arn}, ":r": {"S": RECORD}})


def records_stamp(dataset_arn: str) -> Optional[float]:
    """When a record was last put into the dataset (None: never)."""
    out = client("dynamodb").get_item(
        TableName=config.events_table(), ConsistentRead=True,
        Key={"datasetArn": {"S": dataset_arn}, "eventKey": {"S": RECORDS_STAMP}})
    item = out.get("Item")
    return float(item["recordedAt"]["N"]) if item else None


def delete_records(dataset_arn: str, record_ids) -> int:
    """Delete the put records with these ids (a data deletion job); returns how many existed."""
    wanted = set(record_ids)
    found = [r["recordId"] for r in dataset_records(dataset_arn) if r["recordId"] in wanted]
    _write([{"DeleteRequest": {"Key": {"datasetArn": {"S": dataset_arn},
                                       "eventKey": {"S": RECORD + rid}}}} for rid in found])
    if found:  # the runtime's cached view of the records is stale now
        put_stamp = _encode({"datasetArn": dataset_arn, "eventKey": RECORDS_STAMP,
                             "recordedAt": time.time()})
        _write([{"PutRequest": {"Item": put_stamp}}])
    return len(found)


def delete_user_events(dataset_arn: str, user_ids) -> tuple:
    """Delete every event of these users from an EVENT_INTERACTIONS dataset (sent with the
    user, or linked to them from their sessions) and the session markers naming them, so
    later anonymous events of those sessions are not theirs either. Returns (events deleted,
    the change)."""
    wanted = set(user_ids)
    keys = []
    for user in wanted:
        keys += [e["eventKey"] for e in _query(
            IndexName=USER_INDEX, KeyConditionExpression="userKey = :k",
            ExpressionAttributeValues={":k": {"S": user_key(dataset_arn, user)}})]
    deleted = len(keys)
    keys += [m["eventKey"] for m in _query(
        KeyConditionExpression="datasetArn = :d AND begins_with(eventKey, :m)",
        ExpressionAttributeValues={":d": {"S": dataset_arn}, ":m": {"S": SESSION_USER}})
        if m.get("userId") in wanted]
    change, item = _change(dataset_arn, cleared=wanted)
    _write([{"DeleteRequest": {"Key": {"datasetArn": {"S": dataset_arn}, "eventKey": {"S": k}}}}
            for k in keys] + [{"PutRequest": {"Item": item}}])
    return deleted, change


def dataset_events_users(dataset_arn: str) -> Iterator[str]:
    """The users an event of the dataset belongs to (sent with or linked to), repeats included."""
    for e in dataset_events(dataset_arn):
        if owner(e):
            yield owner(e)
