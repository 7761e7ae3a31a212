"""Recorded events as interactions: one place for the session rule.

Seed: "Recording Events" and PutEvents: `sessionId` is required, `userId` optional; the
service "uses the sessionId to associate events with the user before they log in". Our rule:

- an event sent with a `userId` belongs to that user;
- an event sent without one belongs to the user of its session once any event of that session
  has been sent with a `userId` (the first user named at or after the event, if a session saw
  several); until then it belongs to nobody (it cannot be trained on or served);
- only events with an item (`itemId`, or `id`/`itemId` in `properties`) are interactions.

At serving time the link is made when it happens (`record`): PutEvents with a `userId` moves
the session's anonymous events under the user and remembers the session's user, so events sent
later in that session without a `userId` are the user's at once. `user_events` serves the
runtime (newest first, bounded) from this worker's copy (`chalicelib.runtime.feed`), which
takes every change this worker writes at once; `dataset_group_events` feeds the training view
(`chalicelib.datasets.training_view.recorded_events` delegates here) with the same owners.
"""
from __future__ import annotations

import threading
from typing import Dict, List, Optional

import numpy as np

from chalicelib.domain import arns, schemas
from chalicelib.runtime.feed import Feed
from chalicelib.runtime.snapshots import MAX_EVENTS_PER_USER
from chalicelib.storage import events as store


def dataset_arn_of_group(dataset_group_arn: str) -> str:
    """Where a group's events live: its EVENT_INTERACTIONS dataset (seed, "Event-Interactions
    Dataset")."""
    return arns.dataset(dataset_group_arn, schemas.EVENT_INTERACTIONS)


def event_key(event: dict) -> str:
    """The store's time-ordered key of an event (its identity). Events read in bulk (a batch
    job reads the group's events as columns) carry no eventId: their item and type stand in."""
    return event.get("eventKey") or store.event_key(
        event["sentAt"], event.get("eventId") or f"{event.get('itemId')}|{event.get('eventType')}")


# events dataset ARN -> Feed: this worker's copies (`chalicelib.runtime.feed`)
_feeds: Dict[str, Feed] = {}
_feeds_lock = threading.Lock()


def feed(dataset_group_arn: str) -> Feed:
    """This worker's copy of the group's recorded events (made on first use)."""
    dataset = dataset_arn_of_group(dataset_group_arn)
    found = _feeds.get(dataset)
    if found is None:
        with _feeds_lock:
            found = _feeds.get(dataset)
            if found is None:
                found = _feeds[dataset] = Feed(dataset)
    return found


def user_events(dataset_group_arn: str, user_id: str, limit: int = MAX_EVENTS_PER_USER) -> List[dict]:
    """The user's interaction events (sent with the user, or anonymous events of a session the
    user was later seen in: PutEvents links them), newest first, from this worker's copy:
    {eventKey, eventId, itemId, eventType (when sent), sentAt}."""
    return feed(dataset_group_arn).user_events(user_id)[:limit]


def _applied(dataset_arn: str, change: Optional[dict]) -> None:
    """This worker's copy (if it has one) takes a change it wrote at once."""
    found = _feeds.get(dataset_arn)
    if found is not None:
        found.apply(change)


def forget() -> None:
    """Drop this worker's copies of recorded events (tests; a container's settings changed)."""
    with _feeds_lock:
        _feeds.clear()


def record(dataset_arn: str, session_id: str, user_id, events: List[dict]) -> None:
    """Store one PutEvents request's events under the session rule."""
    if not user_id:
        known = store.session_user(dataset_arn, session_id)
        if known:   # the session's user is known already: the events are theirs
            events = [dict(e, linkedUserId=known) for e in events]
    _applied(dataset_arn, store.put_events(dataset_arn, events))
    if user_id:   # the session's earlier anonymous events now count for this user
        _applied(dataset_arn, store.link_session(dataset_arn, session_id, user_id))


def delete_user_events(dataset_group_arn: str, user_ids) -> int:
    """Delete these users' recorded events (a data deletion job, `storage.events`); this
    worker's copy drops them at once, other workers' through the change log."""
    dataset = dataset_arn_of_group(dataset_group_arn)
    deleted, change = store.delete_user_events(dataset, user_ids)
    _applied(dataset, change)
    return deleted


def _columns(rows: List[tuple]) -> Dict[str, np.ndarray]:
    if not rows:
        return {"USER_ID": np.zeros(0, dtype="<U1"), "ITEM_ID": np.zeros(0, dtype="<U1"),
                "TIMESTAMP": np.zeros(0, dtype=np.int64), "EVENT_TYPE": np.zeros(0, dtype="<U1"),
                "EVENT_VALUE": np.zeros(0, dtype=np.float64)}
    users, items, times, types, values = zip(*rows)
    return {"USER_ID": np.asarray(users, dtype=str), "ITEM_ID": np.asarray(items, dtype=str),
            "TIMESTAMP": np.asarray(times, dtype=np.int64),
            "EVENT_TYPE": np.asarray(types, dtype=str),
            "EVENT_VALUE": np.asarray(values, dtype=np.float64)}


def dataset_group_items(dataset_group_arn: str, since=None) -> Dict[str, np.ndarray]:
    """ITEM_ID and TIMESTAMP of every interaction event of a group sent at or after `since`
    (seconds; None: all), whoever sent it: what Trending-Now counts at request time (from
    this worker's copy, `Feed.interactions`)."""
    low = max(0, int(round(since * 1000))) if since is not None else 0
    items, ms = feed(dataset_group_arn).interactions(low)
    return {"ITEM_ID": np.asarray(items, dtype=str), "TIMESTAMP": ms // 1000}


def dataset_group_events(dataset_group_arn: str) -> Dict[str, np.ndarray]:
    """Every attributable interaction event of a group, in the training view's hook shape:
    USER_ID, ITEM_ID (unicode), TIMESTAMP (int64 seconds), EVENT_TYPE ("" if absent),
    EVENT_VALUE (float64, NaN if absent)."""
    dataset = dataset_arn_of_group(dataset_group_arn)
    session_user: Dict[str, str] = {}
    pending = []
    for e in store.dataset_events(dataset):       # oldest first: later links overwrite
        if e.get("userId"):
            session_user[e["sessionId"]] = e["userId"]
        if e.get("itemId"):
            pending.append(e)
    rows = []
    for e in pending:
        # the owner the runtime gave it; an event still unlinked goes to its session's user
        user = e.get("userId") or e.get("linkedUserId") or session_user.get(e["sessionId"])
        if not user:
            continue  # a session whose user never became known
        value = e.get("eventValue")
        rows.append((user, e["itemId"], int(e["sentAt"]), e.get("eventType") or "",
                     float("nan") if value is None else float(value)))
    return _columns(rows)
