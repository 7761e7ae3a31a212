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
runtime (newest first, bounded); `dataset_group_events` feeds the training view
(`chalicelib.datasets.training_view.recorded_events` delegates here) with the same owners.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Dict, List

import numpy as np

from chalicelib.domain import arns, schemas
from chalicelib.storage import events as store

MAX_EVENTS_PER_USER = 500     # a history longer than this adds nothing a sequence model keeps


def dataset_arn_of_group(dataset_group_arn: str) -> str:
    """Where a group's events live: its EVENT_INTERACTIONS dataset (seed, "Event-Interactions
    Dataset")."""
    return arns.dataset(dataset_group_arn, schemas.EVENT_INTERACTIONS)


# (events dataset ARN, user id) -> (monotonic expiry, the user's events newest first): this
# worker's copy (issue 15 item 3), so a request reads nothing when the user did nothing within
# the TTL; PutEvents in this worker updates it at once (what a user just clicked is excluded
# on their next request), other workers' events show within the TTL
_recent: Dict[tuple, tuple] = {}
_recent_lock = threading.Lock()
MAX_CACHED_USERS = 100_000


def events_ttl() -> float:
    """`RUNTIME_EVENTS_TTL_SECONDS` (default 2; 0 reads the events store every request)."""
    try:
        return float(os.environ.get("RUNTIME_EVENTS_TTL_SECONDS") or 2.0)
    except ValueError:
        return 2.0


def event_key(event: dict) -> str:
    """The store's time-ordered key of an event (its identity). Events read in bulk (a batch
    job reads the group's events as columns) carry no eventId: their item and type stand in."""
    return event.get("eventKey") or store.event_key(
        event["sentAt"], event.get("eventId") or f"{event.get('itemId')}|{event.get('eventType')}")


def user_events(dataset_group_arn: str, user_id: str, limit: int = MAX_EVENTS_PER_USER) -> List[dict]:
    """The user's interaction events (sent with the user, or anonymous events of a session the
    user was later seen in: PutEvents links them), newest first; this worker's copy when it
    is younger than `events_ttl()`."""
    dataset = dataset_arn_of_group(dataset_group_arn)
    now, key = time.monotonic(), (dataset, user_id)
    found = _recent.get(key)
    if found is not None and found[0] > now and found[2] == limit:
        return found[1]
    events = [e for e in store.user_events(dataset, user_id, limit) if e.get("itemId")]
    ttl = events_ttl()
    if ttl > 0:
        with _recent_lock:
            if len(_recent) > MAX_CACHED_USERS:
                _recent.clear()
            _recent[key] = (now + ttl, events, limit)
    return events


def _remember(dataset_arn: str, user_id: str, events: List[dict]) -> None:
    """Add events just written for `user_id` to this worker's copy of their events (if it
    holds one): same order, same limit, a rewritten event (same key) replaced."""
    key = (dataset_arn, user_id)
    with _recent_lock:
        found = _recent.get(key)
        if found is None:
            return
        expiry, cached, limit = found
        merged = {event_key(e): e for e in cached}
        for e in events:
            if e.get("itemId"):
                merged[event_key(e)] = {k: v for k, v in dict(e, eventKey=event_key(e)).items()
                                        if v is not None}
        ordered = [merged[k] for k in sorted(merged, reverse=True)][:limit]
        _recent[key] = (expiry, ordered, limit)


def forget() -> None:
    """Drop this worker's copies of recorded events (tests; a container's settings changed)."""
    with _recent_lock:
        _recent.clear()


def record(dataset_arn: str, session_id: str, user_id, events: List[dict]) -> int:
    """Store one PutEvents request's events under the session rule; returns how many."""
    if user_id:
        written = store.put_events(dataset_arn, events)
        # the session's earlier anonymous events now count for this user
        if store.link_session(dataset_arn, session_id, user_id):
            with _recent_lock:
                _recent.pop((dataset_arn, user_id), None)
        else:
            _remember(dataset_arn, user_id, events)
        return written
    known = store.session_user(dataset_arn, session_id)
    if known:   # the session's user is known already: the events are theirs
        events = [dict(e, linkedUserId=known) for e in events]
    written = store.put_events(dataset_arn, events)
    if known:
        _remember(dataset_arn, known, events)
    return written


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
    (seconds; None: all), whoever sent it: what Trending-Now counts at request time."""
    rows = [(e["itemId"], int(e["sentAt"])) for e in store.dataset_events(
        dataset_arn_of_group(dataset_group_arn), since) if e.get("itemId")]
    items, times = zip(*rows) if rows else ((), ())
    return {"ITEM_ID": np.asarray(items, dtype=str), "TIMESTAMP": np.asarray(times, dtype=np.int64)}


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
