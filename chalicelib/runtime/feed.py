"""This worker's copy of one events dataset (issue 15 item 3: event history cached per worker,
refreshed by PutEvents, no DynamoDB read when nothing changed).

A `Feed` answers "the user's interaction events, newest first" and "the interactions since t"
(Trending-Now) from memory; the store's change log (`chalicelib.storage.events`: one item per
write saying what it wrote) is read at most once per `events_ttl()` and applied as it says, so
a request reads nothing, a user with no events included; a user is read from the store only
when a change names them without saying what changed (a large session link, an older item).
PutEvents in this worker applies its own change at once (the user's next request sees the
click) and skips it when it comes back through the log; other workers' events show within the
TTL.

Memory (measured with `bench/serving_memory.py`, see its table in the README): the copy is a
`snapshots.Snapshot` at one change-log key, published once per machine and mapped read-only by
every worker, plus this worker's changes since (`_Delta` per user, `added` interactions) and a
small LRU of decoded lists (`HELD_EVENTS`). The first copy (one dict per event, a whole
group's events in every worker, no cap) was the alternative measured: its private heap grows
with the group (about 1 KB per event per worker), so N workers cost N times it; a per-worker
cap would keep the ratio only while the cap is small against the model, and would read the
store again for every user past it. Here the private part is bounded: once `PUBLISH_AFTER`
changes are applied since the snapshot, the worker folds them into a newer snapshot
(`snapshots.build`, no read of the store) and every worker takes it up on its next look.

Who writes a snapshot: the first worker of the machine to need one scans the dataset
(`scan` lock file: the others wait up to `SNAPSHOT_WAIT_SECONDS` for it, then map it); later
ones by whoever passes `PUBLISH_AFTER` (`publish` lock: one at a time, the others go on with
their changes). A snapshot is named by its head, written whole and renamed into place
(`shared.publish`), never changed. A worker taking one up keeps only its changes the snapshot
does not hold (keys after the snapshot's reading slack, not in its `seen`). The change log is
the invalidation: a head it no longer holds (the dataset was deleted, or its items expired
with their TTL) makes the worker start over from a newer snapshot or a scan; so does a copy
that has not read the log for half its lifetime (what it would read next may have expired), and
a scan whose log head is that old writes a fresh one (`store.anchor`).

Locks: `lock` guards the state and is never held over a DynamoDB call or a file write; `_busy`
lets one thread at a time catch up, start over or publish, the others answer from the copy.
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import numpy as np

from chalicelib.runtime import shared, snapshots
from chalicelib.runtime.snapshots import MAX_EVENTS_PER_USER, Row, Snapshot
from chalicelib.storage import events as store

HELD_EVENTS = 5_000         # decoded events kept per feed (LRU of users' lists)
PUBLISH_AFTER = 10_000      # events applied since the snapshot before this worker publishes one
SNAPSHOT_WAIT_SECONDS = 30.0


def events_ttl() -> float:
    """`RUNTIME_EVENTS_TTL_SECONDS` (default 2; 0 looks at the change log every request)."""
    try:
        return float(os.environ.get("RUNTIME_EVENTS_TTL_SECONDS") or 2.0)
    except ValueError:
        return 2.0


def as_event(row: Row) -> dict:
    """A row as the runtime reads recorded events (`serving`, `filtering`)."""
    key, item, kind, sent = row
    event = {"eventKey": key, "eventId": key.partition("#")[2], "itemId": item, "sentAt": sent}
    if kind:
        event["eventType"] = kind
    return event


def _row(event: dict) -> Row:
    return event["eventKey"], event["itemId"], event.get("eventType") or "", float(event["sentAt"])


def _trusted(read_at: float) -> bool:
    """A copy whose last look at the change log is this recent can go on reading it: the
    items written since have not expired (`store.CHANGE_LOG_SECONDS`)."""
    return time.time() - read_at < store.CHANGE_LOG_SECONDS / 2


class _Delta:
    """One user's changes since the snapshot: `cleared` (the change key that emptied or read
    the user whole: the snapshot's rows no longer count) and rows by event key, each with the
    change key that brought it."""
    __slots__ = ("cleared", "rows")

    def __init__(self, cleared: Optional[str] = None):
        self.cleared = cleared
        self.rows: Dict[str, Tuple[str, Row]] = {}


class Feed:
    def __init__(self, dataset_arn: str):
        self.dataset_arn = dataset_arn
        self.lock = threading.Lock()
        self._busy = threading.Lock()
        self.version = 0            # rises when the interactions may have changed (Trending-Now)
        self.rejected = ""          # a snapshot head the log does not hold (another dataset's)
        with self._busy:
            self._start(self._snapshot(""))
            self._look()

    # --- the state ------------------------------------------------------------------------------
    def _start(self, base: Snapshot) -> None:
        with self.lock:
            self.base = base
            self.head = base.head                     # the newest change-log key read
            self.read_at = base.built_at              # when that was (wall clock)
            self.seen = set(base.seen)                # change keys applied (within the slack)
            self.delta: Dict[str, _Delta] = {}
            self.stale: Dict[str, str] = {}           # user -> change key: read the user again
            self.added: List[Tuple[str, str, str]] = []   # (change key, event key, item id)
            self.applied = 0                          # events in delta and added
            self.held: "OrderedDict[str, List[dict]]" = OrderedDict()
            self.held_events = 0
            self.checked = float("-inf")
            self.version += 1

    def _rows(self, user_id: str) -> List[Row]:
        """The user's events now (the snapshot's, then the changes), newest first; under lock."""
        d = self.delta.get(user_id)
        rows = {} if d is not None and d.cleared else {r[0]: r for r in self.base.rows(user_id)}
        if d is not None:
            rows.update((k, row) for k, (_change, row) in d.rows.items())
        return [rows[k] for k in sorted(rows, reverse=True)[:MAX_EVENTS_PER_USER]]

    def _hold(self, user_id: str, events: List[dict]) -> None:
        self.held[user_id] = events
        self.held_events += len(events) + 1
        while self.held_events > HELD_EVENTS and len(self.held) > 1:
            _user, dropped = self.held.popitem(last=False)
            self.held_events -= len(dropped) + 1

    def _unhold(self, user_id: str) -> None:
        dropped = self.held.pop(user_id, None)
        if dropped is not None:
            self.held_events -= len(dropped) + 1

    def _apply(self, change: dict) -> None:
        """One change-log entry (`storage.events._change`), once; under lock."""
        key = change["eventKey"]
        if key in self.seen:
            return
        self.seen.add(key)
        named = set(change.get("users") or ())
        for user in change.get("cleared") or ():
            self.delta[user] = _Delta(cleared=key)
            self.stale.pop(user, None)
        for user, event_key, item, kind, sent in change.get("events") or ():
            d = self.delta.get(user) or self.delta.setdefault(user, _Delta())
            d.rows[event_key] = (key, (event_key, item, kind or "", float(sent)))
            self.applied += 1
            if len(d.rows) > 2 * MAX_EVENTS_PER_USER:
                d.rows = dict(sorted(d.rows.items())[-MAX_EVENTS_PER_USER:])
        covered = set(change.get("cleared") or ()) | {e[0] for e in change.get("events") or ()}
        for user in named - covered:      # changed, not said how: read them again
            self.stale[user] = key
        for user in named:
            self._unhold(user)
        written = change.get("written") or ()
        self.added.extend((key, event_key, item) for event_key, item in written)
        if written:
            self.applied += len(written)
            self.version += 1

    def apply(self, change: Optional[dict]) -> None:
        """A change this worker just wrote (PutEvents, a session link, a deletion)."""
        if change is not None:
            with self.lock:
                self._apply(change)

    # --- reads ------------------------------------------------------------------------------------
    def user_events(self, user_id: str) -> List[dict]:
        self._catch_up()
        with self.lock:
            found = self.held.get(user_id)
            if found is not None:
                self.held.move_to_end(user_id)
                return found
            stale = self.stale.get(user_id)
            if stale is None:
                found = [as_event(r) for r in self._rows(user_id)]
                self._hold(user_id, found)
                return found
        return self._read(user_id, stale)

    def _read(self, user_id: str, stale: str) -> List[dict]:
        """Read a user the log named without saying how (outside the lock); kept as a delta
        that replaces the snapshot's rows, with any change applied meanwhile on top: one after
        the naming change, or one the read did not find (applied during the read, its log key
        possibly before the naming one: written late)."""
        rows = [_row(e) for e in store.user_events(self.dataset_arn, user_id, MAX_EVENTS_PER_USER)
                if e.get("itemId")]
        with self.lock:
            if self.stale.get(user_id) != stale:    # cleared or named again meanwhile
                return [as_event(r) for r in rows]
            del self.stale[user_id]
            d = self.delta.get(user_id)
            fresh = _Delta(cleared=stale)
            fresh.rows = {r[0]: (stale, r) for r in rows}
            if d is not None:
                fresh.rows.update((k, v) for k, v in d.rows.items()
                                  if v[0] > stale or k not in fresh.rows)
            self.delta[user_id] = fresh
            self.applied += len(rows)
            found = [as_event(r) for r in self._rows(user_id)]
            self._hold(user_id, found)
            return found

    def current_version(self) -> int:
        self._catch_up()
        return self.version

    def interactions(self, low_ms: int) -> Tuple[np.ndarray, np.ndarray]:
        """(item ids, sentAt ms) of every interaction at or after `low_ms`, whoever sent it."""
        self._catch_up()
        with self.lock:
            base, added = self.base, list(self.added)
        items, ms, hashes = base.interactions(low_ms)
        recent = {event_key: item for _change, event_key, item in added if int(event_key[:15]) >= low_ms}
        if recent:
            new = ~np.isin(snapshots.key_hash(recent), hashes)
            items = np.concatenate([items, np.asarray(list(recent.values()), str)[new]])
            ms = np.concatenate([ms, np.asarray([int(k[:15]) for k in recent], np.int64)[new]])
        return items, ms

    # --- the change log ---------------------------------------------------------------------------
    def _catch_up(self) -> None:
        if time.monotonic() < self.checked + events_ttl():
            return
        if not self._busy.acquire(blocking=False):
            return               # another thread is at it: answer from the copy meanwhile
        try:
            if time.monotonic() >= self.checked + events_ttl():
                self._look()
        finally:
            self._busy.release()

    def _look(self) -> None:
        """Read the change log since the copy's head and apply it (with `_busy` held). A newer
        snapshot on the machine is taken up when the log holds its head; when the log does not
        hold the copy's own head (or the copy is too old to trust it), start over."""
        for _attempt in range(3):
            newer = snapshots.newest(self.dataset_arn, after=self.base.head)
            if newer is not None and newer.head == self.rejected:
                newer = None
            with self.lock:
                head, read_at = self.head, self.read_at
            if head and not _trusted(read_at):
                self._start(self._snapshot(head))
                continue
            start = min(head, newer.head) if newer is not None and head else \
                (newer.head if newer is not None else head)
            read_at = time.time()
            found = list(store.changes(self.dataset_arn, snapshots.low_key(start)))
            keys = {c["eventKey"] for c in found}
            if newer is not None:
                if newer.head in keys:
                    self._take_up(newer)
                else:
                    self.rejected = newer.head
            if head and head not in keys:
                # the log no longer holds our head: the dataset was deleted (or it expired)
                self._start(self._snapshot(head))
                continue
            with self.lock:
                included = snapshots.low_key(self.base.head)    # older ones are in the snapshot
                for change in found:
                    if change["eventKey"] >= included:
                        self._apply(change)
                if found:
                    self.head = max(self.head, found[-1]["eventKey"])
                low = snapshots.low_key(self.head)
                self.seen = {k for k in self.seen if k >= low}
                self.read_at = read_at
                self.checked = time.monotonic()
                full = self.applied >= PUBLISH_AFTER
            if full:
                self._publish()
            return

    def _take_up(self, newer: Snapshot) -> None:
        """Serve from a newer snapshot, keeping only the changes it does not hold."""
        low = snapshots.low_key(newer.head)

        def kept(change_key):
            return change_key >= low and change_key not in newer.seen
        with self.lock:
            for user, d in list(self.delta.items()):
                if d.cleared and not kept(d.cleared):
                    d.cleared = None
                d.rows = {k: v for k, v in d.rows.items() if kept(v[0])}
                if not d.rows and not d.cleared:
                    del self.delta[user]
            self.stale = {u: k for u, k in self.stale.items() if kept(k)}
            self.added = [a for a in self.added if kept(a[0])]
            self.applied = sum(len(d.rows) for d in self.delta.values()) + len(self.added)
            self.base = newer
            self.head = max(self.head, newer.head)
            self.read_at = max(self.read_at, newer.built_at)
            self.seen |= newer.seen
            self.held.clear()
            self.held_events = 0
            self.version += 1

    def _publish(self) -> None:
        """Fold this worker's changes into a newer snapshot for the machine (one worker at a
        time; skipped while a user the log named is unread)."""
        lock = shared.Lock(snapshots.lock_path(self.dataset_arn, "publish"))
        if not lock.acquire():
            return
        try:
            for user, stale in list(self.stale.items()):
                self._read(user, stale)
            with self.lock:
                if self.stale or not self.head:
                    return
                base, head, seen = self.base, self.head, set(self.seen)
                changed = {user: self._rows(user) for user in self.delta}
                added = {event_key: item for _change, event_key, item in self.added}
            self._take_up(snapshots.publish(self.dataset_arn,
                                            *snapshots.build(base, changed, added, head, seen)))
        finally:
            lock.release()

    def _snapshot(self, failed: str) -> Snapshot:
        """A snapshot to start from: the machine's newest one after `failed` (a head the log
        lost: "" at first use) if recent enough to trust, else one scanned from the store by
        one worker of the machine while the others wait for it (`shared.once`)."""
        def ready():
            found = snapshots.newest(self.dataset_arn, after=failed)
            return found if found is not None and _trusted(found.built_at) else None
        return shared.once(snapshots.lock_path(self.dataset_arn, "scan"), ready, self._scan,
                           SNAPSHOT_WAIT_SECONDS)

    def _scan(self) -> Snapshot:
        """Read the whole dataset (the change head first: what is written meanwhile comes
        through the log) and publish it."""
        head = store.change_head(self.dataset_arn)
        if not head or not _trusted(store.change_time(head)):
            if not store.has_events(self.dataset_arn):
                return Snapshot.empty()     # nothing recorded: nothing to share
            head = store.anchor(self.dataset_arn)      # a quiet log: give it a fresh start
        users: Dict[str, List[Row]] = {}
        written: Dict[str, str] = {}
        for e in store.dataset_interactions(self.dataset_arn):      # oldest first
            if not e.get("itemId"):
                continue
            written[e["eventKey"]] = e["itemId"]
            if store.owner(e):
                users.setdefault(store.owner(e), []).append(_row(e))
        for user, rows in users.items():
            users[user] = rows[::-1][:MAX_EVENTS_PER_USER]
        return snapshots.publish(self.dataset_arn, *snapshots.build(
            Snapshot.empty(), users, written, head, {head}))
