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


CHANGE_SLACK_SECONDS = 30    # change-log items written this late (clock skew) are still read


def events_ttl() -> float:
    """`RUNTIME_EVENTS_TTL_SECONDS` (default 2; 0 looks at the change log every request)."""
    try:
        return float(os.environ.get("RUNTIME_EVENTS_TTL_SECONDS") or 2.0)
    except ValueError:
        return 2.0


def event_key(event: dict) -> str:
    """The store's time-ordered key of an event (its identity). Events read in bulk (a batch
    job reads the group's events as columns) carry no eventId: their item and type stand in."""
    return event.get("eventKey") or store.event_key(
        event["sentAt"], event.get("eventId") or f"{event.get('itemId')}|{event.get('eventType')}")


def _owner(event: dict):
    return event.get("userId") or event.get("linkedUserId")


class Feed:
    """This worker's copy of one events dataset (issue 15 item 3): every user's interaction
    events (newest first, at most `MAX_EVENTS_PER_USER`) and every interaction's (key, item)
    whoever sent it (Trending-Now). Read whole on first use; then the store's change log
    (`storage.events.changes`) is read at most once per `events_ttl()`: users it names are
    read again, the interactions it lists are added. A request reads nothing else: a user
    with no events costs no query. PutEvents in this worker updates the copy at once, so what
    a user just clicked is excluded on their next request; other workers' events show within
    the TTL. `version` changes whenever the copy does (what Trending-Now's order is kept by)."""

    def __init__(self, dataset_arn: str):
        self.dataset_arn = dataset_arn
        self.lock = threading.Lock()
        self.version = 0
        self._load()

    def _load(self) -> None:
        self.head = store.change_head(self.dataset_arn)     # read before the events: nothing is lost
        self.users: Dict[str, List[dict]] = {}
        self.written: Dict[str, str] = {}                # event key -> item id
        for e in store.dataset_events(self.dataset_arn):     # oldest first
            if not e.get("itemId"):
                continue
            self.written[e["eventKey"]] = e["itemId"]
            if _owner(e):
                self.users.setdefault(_owner(e), []).append(e)
        for user, found in self.users.items():
            self.users[user] = found[::-1][:MAX_EVENTS_PER_USER]
        # change keys applied (within the slack window of `head`); the newest one is in the read
        self.seen = {self.head} if self.head else set()
        self.checked = time.monotonic()
        self.version += 1

    def user_events(self, user_id: str) -> List[dict]:
        self._catch_up()
        return self.users.get(user_id, [])

    def current_version(self) -> int:
        self._catch_up()
        return self.version

    def interactions(self):
        """Every interaction's (event key, item id) in key (time) order."""
        self._catch_up()
        with self.lock:
            return sorted(self.written.items())

    def _catch_up(self) -> None:
        now = time.monotonic()
        if now < self.checked + events_ttl():
            return
        with self.lock:
            if now < self.checked + events_ttl():
                return
            self.checked = now
            since = self.head
            if since:   # the change-log key's time, less the slack
                since = store.change_key_at(int(since[len(store.CHANGE):][:15]) / 1000
                                            - CHANGE_SLACK_SECONDS)
            changed, applied = set(), 0
            found = list(store.changes(self.dataset_arn, since))
            if self.head and self.head not in {c["eventKey"] for c in found}:
                self._load()     # the change log is gone: the dataset was deleted, read anew
                return
            for change in found:
                key = change["eventKey"]
                if key in self.seen:
                    continue
                applied += 1
                self.seen.add(key)
                self.head = max(self.head, key)
                changed.update(change.get("users") or ())
                for event_key_, item in change.get("written") or ():
                    self.written[event_key_] = item
            for user in changed:
                self.users[user] = [e for e in store.user_events(self.dataset_arn, user,
                                                                 MAX_EVENTS_PER_USER)
                                    if e.get("itemId")]
            if applied:
                self.version += 1
            self.seen = {k for k in self.seen if k >= since}   # the next look starts later

    def remember(self, user_id, events: List[dict]) -> None:
        """Add events just written (`user_id`: their owner, None for none yet): same order,
        same bound, a rewritten event (same key) replaced."""
        with self.lock:
            self.version += 1
            for e in events:
                if e.get("itemId"):
                    self.written[event_key(e)] = e["itemId"]
            if not user_id:
                return
            merged = {event_key(e): e for e in self.users.get(user_id, [])}
            for e in events:
                if e.get("itemId"):
                    merged[event_key(e)] = {k: v for k, v in dict(e, eventKey=event_key(e)).items()
                                            if v is not None}
            self.users[user_id] = [merged[k] for k in sorted(merged, reverse=True)][:MAX_EVENTS_PER_USER]

    def reread(self, user_id: str) -> None:
        """Read one user's events again (their session's events were just moved to them)."""
        found = [e for e in store.user_events(self.dataset_arn, user_id, MAX_EVENTS_PER_USER)
                 if e.get("itemId")]
        with self.lock:
            self.version += 1
            self.users[user_id] = found


# events dataset ARN -> Feed: this worker's copies
_feeds: Dict[str, Feed] = {}
_feeds_lock = threading.Lock()


def feed(dataset_group_arn: str) -> Feed:
    """This worker's copy of the group's recorded events (read on first use)."""
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
    user was later seen in: PutEvents links them), newest first, from this worker's copy."""
    return feed(dataset_group_arn).user_events(user_id)[:limit]


def _remember(dataset_arn: str, user_id, events: List[dict]) -> None:
    found = _feeds.get(dataset_arn)
    if found is not None:
        found.remember(user_id, events)


def forget() -> None:
    """Drop this worker's copies of recorded events (tests; a container's settings changed)."""
    with _feeds_lock:
        _feeds.clear()


def record(dataset_arn: str, session_id: str, user_id, events: List[dict]) -> int:
    """Store one PutEvents request's events under the session rule; returns how many."""
    if user_id:
        written = store.put_events(dataset_arn, events)
        _remember(dataset_arn, user_id, events)
        # the session's earlier anonymous events now count for this user
        if store.link_session(dataset_arn, session_id, user_id) and dataset_arn in _feeds:
            _feeds[dataset_arn].reread(user_id)
        return written
    known = store.session_user(dataset_arn, session_id)
    if known:   # the session's user is known already: the events are theirs
        events = [dict(e, linkedUserId=known) for e in events]
    written = store.put_events(dataset_arn, events)
    _remember(dataset_arn, known, events)
    return written


def delete_user_events(dataset_group_arn: str, user_ids) -> int:
    """Delete these users' recorded events (a data deletion job, `storage.events`); this
    worker's copy drops them at once, other workers' through the change log."""
    dataset = dataset_arn_of_group(dataset_group_arn)
    deleted = store.delete_user_events(dataset, user_ids)
    found = _feeds.get(dataset)
    if found is not None:
        for user in set(user_ids):
            found.reread(user)
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
    this worker's copy, `Feed`)."""
    low = store.event_key(since, "") if since is not None else ""
    rows = [(item, int(key[:15]) // 1000) for key, item in feed(dataset_group_arn).interactions()
            if key >= low]
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
