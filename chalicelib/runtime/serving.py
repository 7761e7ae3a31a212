"""A loaded solution version and what the runtime asks of it (seed: GetRecommendations,
PersonalizeRanking; "Recording Events").

`resolve_campaign` remembers what a campaign serves for `RUNTIME_CAMPAIGN_TTL_SECONDS` (default
2; 0 turns it off), so most requests read neither the campaign nor its version.
`served(version_arn, model_key, dataset_group_arn)` returns the `ServedModel` from the
container's cache, loading it on first use. Its answers are item ids (and scores), computed
with the model's vectorised scoring (`base.top_n`, argpartition); the runtime adds:

- a user's History = imported interactions + recorded events (`histories.merge`);
- popular items for unknown users and items, and to fill an answer a model left short
  (counts of the imported interactions; the model's own popularity when nothing is imported);
- the ranking rule: known items by score, best first; items the model cannot score keep their
  input order after them.
"""
from __future__ import annotations

import inspect
import os
import threading
import time
from collections import OrderedDict
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from chalicelib.algorithms.base import History, Model, UserState
from chalicelib.runtime import artifacts, histories, recorded
from chalicelib.runtime.cache import ModelCache

_READ = object()           # `item_text`'s default: read the Items stamp there
MAX_USER_STATES = 20_000   # carried user states per loaded model (least recently used go first)


class ServedModel:
    def __init__(self, version_arn: str, model: Model, dataset_group_arn: Optional[str],
                 user_histories: Optional[histories.UserHistories] = None):
        self.version_arn = version_arn
        self.model = model
        self.dataset_group_arn = dataset_group_arn
        self.index = histories.ItemIndex(model.item_ids)
        self.histories = user_histories if user_histories is not None else \
            histories.load_user_histories(dataset_group_arn, self.index)
        counts = self.histories.item_counts
        if counts is None or not counts.any():
            counts = _model_popularity(model)
        # every item, most popular first (ties by index): the fallback answer
        self.popular = np.lexsort((np.arange(counts.shape[0]), -counts)).astype(np.int32)
        self._item_text = None
        self._item_stamp = None
        self._text_lock = threading.Lock()
        self._trend = None   # (events version, trending's order), `_trend_now`
        self._imported = None   # `_imported_trend`
        # user id -> (whole history, key of the newest recorded event read, Model.fold state):
        # this worker's carried states for this solution version (a new version is a new
        # ServedModel, so its states start empty)
        self._states: "OrderedDict[str, tuple]" = OrderedDict()
        self._states_lock = threading.Lock()
        self.carries_state = type(model).fold is not Model.fold
        # a model whose recommend takes `allowed=` answers among a filter's items itself
        self.recommends_among = "allowed" in inspect.signature(model.recommend).parameters

    @property
    def nbytes(self) -> int:
        return (artifacts.model_nbytes(self.model) + self.histories.nbytes + self.index.nbytes
                + self.popular.nbytes)

    @property
    def can_rank(self) -> bool:
        return type(self.model).rank is not Model.rank

    # --- histories --------------------------------------------------------------------------
    def recorded_events(self, user_id: Optional[str]) -> List[dict]:
        """The user's recorded events (newest first), [] without a user or a group: read once
        per request when both the history and a filter need them."""
        if not user_id or not self.dataset_group_arn:
            return []
        return recorded.user_events(self.dataset_group_arn, user_id)

    def history(self, user_id: Optional[str], with_events: bool = True,
                events: Optional[List[dict]] = None) -> History:
        imported = self.histories.history(user_id)
        if not with_events or not user_id or not self.dataset_group_arn:
            return imported
        if events is None:
            events = self.recorded_events(user_id)
        return histories.merge(imported, events, self.index)

    def user_state(self, user_id: Optional[str], with_events: bool = True,
                   events: Optional[List[dict]] = None) -> Tuple[History, Optional[UserState]]:
        """The user's whole history and the model's carried state after it (issue 15 item 1).
        Recorded events are time-ordered per user (newest first): the entry remembers the
        newest one it read, so the events before it in the list are the new ones; they are
        appended and folded in (`Model.fold` reads only them) when they come after the
        history's last time, else the history is rebuilt and read again. Models that carry no
        state get `history()` and None."""
        if not self.carries_state or not user_id:
            return self.history(user_id, with_events, events), None
        if not with_events or not self.dataset_group_arn:
            events = []
        elif events is None:
            events = self.recorded_events(user_id)
        newest = recorded.event_key(events[0]) if events else None
        with self._states_lock:
            entry = self._states.get(user_id)
        history = state = None
        if entry is not None:
            known, seen, state = entry
            if seen == newest:
                return known, state
            new = len(events) if seen is None else \
                next((k for k, e in enumerate(events) if recorded.event_key(e) == seen), None)
            if new is not None:
                fresh = histories.merge(History.empty(), events[:new], self.index, limit=None)
                if not fresh.items.size:
                    history = known
                elif not known.items.size or fresh.timestamps[0] >= known.timestamps[-1]:
                    history = History(np.concatenate([known.items, fresh.items]),
                                      np.concatenate([known.timestamps, fresh.timestamps]))
        if history is None:
            history = histories.merge(self.histories.history(user_id), events, self.index, limit=None)
            state = None
        state = self.model.fold(state, history, self.user_index(user_id))
        with self._states_lock:
            self._states[user_id] = (history, newest, state)
            self._states.move_to_end(user_id)
            while len(self._states) > MAX_USER_STATES:
                self._states.popitem(last=False)
        return history, state

    def user_index(self, user_id: Optional[str]) -> Optional[int]:
        """The model's own index of a user (models with user metadata keep one), else None."""
        lookup = getattr(self.model, "user_index", None)
        if lookup is None or user_id is None:
            return None
        return int(lookup(user_id))

    # --- answers ----------------------------------------------------------------------------
    def _ids(self, idx: np.ndarray, scores: np.ndarray, n: int,
             exclude: np.ndarray = None, allowed: Optional[np.ndarray] = None
             ) -> List[Tuple[str, Optional[float]]]:
        """Model output row -> up to n (item id, score) pairs, filled with popular items;
        `allowed` (a filter's mask over the items) drops the others, from both."""
        keep = idx >= 0
        if allowed is not None:
            keep[keep] = allowed[idx[keep]]
        idx, scores = idx[keep][:n], scores[keep][:n]
        # Python numbers once: converting numpy scalars one by one costs more than the answer
        out = [(i, s if finite else None) for i, s, finite in
               zip(idx.tolist(), scores.tolist(), np.isfinite(scores).tolist())]
        if len(out) < n:
            taken = set(i for i, _ in out)
            if exclude is not None:
                taken.update(np.asarray(exclude).tolist())
            popular = self.popular if allowed is None else self.popular[allowed[self.popular]]
            for i in popular[: n + len(taken)].tolist():
                if len(out) >= n:
                    break
                if i not in taken:
                    out.append((i, None))
        names = self.model.item_ids[np.array([i for i, _ in out], np.int64)].tolist()
        return [(name, s) for name, (_, s) in zip(names, out)]

    def _candidates(self, fetch: Callable[[int], Tuple[np.ndarray, np.ndarray]], n: int,
                    allowed: Optional[np.ndarray]) -> Tuple[np.ndarray, np.ndarray]:
        """`fetch(k)` (the model's top k, one row) for n answers. With a filter's `allowed`
        mask the model is asked for more candidates than n, as many as the allowed share
        suggests, and again for four times more while the filter leaves fewer than n and the
        model had more to give (issue 14: the filter does not empty a list the catalogue fills)."""
        if allowed is None:
            return fetch(n)
        size = self.index.size
        share = max(float(allowed.mean()), 1.0 / max(size, 1))
        k = min(size, int(n / share * 1.5) + n)
        while True:
            idx, scores = fetch(k)
            found = idx >= 0
            if found.sum() < k or k >= size or int(allowed[idx[found]].sum()) >= n:
                return idx, scores
            k = min(size, k * 4)

    def recommend(self, user_id: str, n: int, with_events: bool = True,
                  campaign_config: Optional[dict] = None, allowed: Optional[np.ndarray] = None,
                  events: Optional[List[dict]] = None) -> List[Tuple[str, Optional[float]]]:
        """USER_PERSONALIZATION: the user's top n (items in their history are not repeated).
        `campaign_config` is the campaign's today's `campaignConfig`; what a recipe reads of it
        (User-Personalization: itemExplorationConfig) comes from `Model.serving_options`
        (ValueError for a bad setting). `allowed`: a filter's mask over the model's items;
        `events`: the user's recorded events when the caller read them already."""
        if n <= 0:
            return []
        options = self.model.serving_options(campaign_config)
        history, state = self.user_state(user_id, with_events, events)
        user = self.user_index(user_id)
        users = None if user is None else np.array([user])
        if state is not None:
            options = dict(options, states=[state])
        among = allowed is not None and self.recommends_among
        if among:       # the model answers among the allowed items itself
            options = dict(options, allowed=allowed)

        def fetch(k):
            idx, scores = self.model.recommend([history], k, users=users, **options)
            return idx[0], scores[0]
        idx, scores = fetch(n) if among else self._candidates(fetch, n, allowed)
        return self._ids(idx, scores, n, exclude=history.items, allowed=allowed)

    def trending(self, n: int, allowed_ids: Optional[Callable[[np.ndarray], np.ndarray]] = None
                 ) -> List[Tuple[str, Optional[float]]]:
        """POPULAR_ITEMS models that read recent events (Trending-Now): the order recomputed now
        from the imported interactions plus the group's recorded events, over the model's items
        and any new item the events name (`trending.trend_order`'s rule, counted by `_trend_now`
        and ranked by `trending.rank`); other models answer their
        `recommend` for nobody. `allowed_ids(ids)`: a filter's mask over those item ids."""
        if n <= 0:
            return []
        if not getattr(self.model, "reads_recent_events", False):
            allowed = allowed_ids(self.model.item_ids) if allowed_ids is not None else None
            return self.recommend(None, n, allowed=allowed)
        ids, order, trend = self._trend_now()
        if allowed_ids is not None:
            order = order[allowed_ids(ids)[order]]
        return [(str(ids[i]), float(trend[i])) for i in order[:n]]

    def _trend_now(self):
        """(item ids, order, trend) of `trending`, kept until this worker's copy of the group's
        events has new interactions (`recorded.Feed.version`): a request with nothing new
        counts nothing. The imported interactions are counted and put in time order once per
        loaded model (`_imported_trend`); a change counts the recorded ones and the two
        intervals' window, then ranks the items (`trending.rank`)."""
        from chalicelib.algorithms.trending import rank
        version = recorded.feed(self.dataset_group_arn).current_version() \
            if self.dataset_group_arn else None
        kept = self._trend
        if kept is not None and kept[0] == version:
            return kept[1]
        interval = self.model.interval
        times, by_time, imported_total = self._imported_trend()
        # events older than two intervals before the newest import can never be in the window
        since = float(times[-1]) - 2 * interval if times.size else None
        recent = recorded.dataset_group_items(self.dataset_group_arn, since) if self.dataset_group_arn \
            else {"ITEM_ID": np.zeros(0, str), "TIMESTAMP": np.zeros(0, np.int64)}
        known = self.model.item_ids
        events = self.index.lookup(recent["ITEM_ID"])
        unknown = events < 0
        new = np.unique(recent["ITEM_ID"][unknown])     # items only the events name
        ids = np.concatenate([known, new]) if new.size else known
        events[unknown] = known.shape[0] + np.searchsorted(new, recent["ITEM_ID"][unknown])
        n = ids.shape[0]
        total = np.bincount(events, minlength=n)
        total[:known.shape[0]] += imported_total
        stamps = recent["TIMESTAMP"].astype(np.float64)
        current = previous = np.zeros(n, np.int64)
        if times.size or stamps.size:
            t = max(float(times[-1]) if times.size else -np.inf, stamps.max() if stamps.size else -np.inf)

            def window(lo, hi):   # interactions with lo < time <= hi, per item
                a, b = np.searchsorted(times, [lo, hi], side="right")
                inside = (stamps > lo) & (stamps <= hi)
                return np.bincount(by_time[a:b], minlength=n) + np.bincount(events[inside], minlength=n)
            current, previous = window(t - interval, t), window(t - 2 * interval, t - interval)
        order, trend = rank(total, current, previous)
        self._trend = (version, (ids, order, trend))
        return ids, order, trend

    def _imported_trend(self):
        """(times ascending, their items, interactions per model item) of the imported data."""
        if self._imported is None:
            ts = self.histories.timestamps
            by_time = np.argsort(ts, kind="stable")
            self._imported = (np.asarray(ts)[by_time], np.asarray(self.histories.items, np.int64)[by_time],
                              np.bincount(self.histories.items, minlength=self.index.size))
        return self._imported

    def related(self, item_id: str, n: int,
                allowed: Optional[np.ndarray] = None) -> List[Tuple[str, Optional[float]]]:
        """RELATED_ITEMS: items like `item_id` (popular ones for an unknown item); `allowed`
        as in `recommend`."""
        if n <= 0:
            return []
        q = self.index.lookup([item_id])

        def fetch(k):
            idx, scores = self.model.similar_items(q, k)
            return idx[0], scores[0]
        idx, scores = self._candidates(fetch, n, allowed)
        return self._ids(idx, scores, n, exclude=q[q >= 0], allowed=allowed)

    # --- many at once (batch inference jobs) ---------------------------------------------------
    def recommend_many(self, user_ids: Sequence[str], n: int, events: Optional[dict] = None,
                       options: Optional[dict] = None) -> List[List[Tuple[str, Optional[float]]]]:
        """`recommend` for many users in one model call; `events` maps a user id to its recorded
        events (newest first, as `recorded.user_events` gives them), read once per batch
        instead of once per user; `options` are the model's serving options (a batch job's
        itemExplorationConfig). Each answer equals `recommend(user_id, n)`."""
        if n <= 0 or not user_ids:
            return [[] for _ in user_ids]
        histories_ = []
        for user_id in user_ids:
            history = self.histories.history(user_id)
            if events and events.get(user_id):
                history = histories.merge(history, events[user_id], self.index)
            histories_.append(history)
        users = [self.user_index(u) for u in user_ids]
        known = None if any(u is None for u in users) else np.array(users)
        idx, scores = self.model.recommend(histories_, n, users=known, **(options or {}))
        return [self._ids(idx[r], scores[r], n, exclude=h.items) for r, h in enumerate(histories_)]

    def related_many(self, item_ids: Sequence[str], n: int) -> List[List[Tuple[str, Optional[float]]]]:
        """`related` for many items in one model call."""
        if n <= 0 or not item_ids:
            return [[] for _ in item_ids]
        q = self.index.lookup(item_ids)
        idx, scores = self.model.similar_items(q, n)
        return [self._ids(idx[r], scores[r], n, exclude=q[r:r + 1][q[r:r + 1] >= 0])
                for r in range(len(item_ids))]

    def scores_for(self, user_id: str, items: np.ndarray, with_events: bool = True,
                   events: Optional[List[dict]] = None) -> np.ndarray:
        """Scores of item indices for the user (the model's rank); -inf where unknown."""
        history, state = self.user_state(user_id, with_events, events)
        extra = {} if state is None else {"state": state}
        return np.asarray(self.model.rank(history, items, user=self.user_index(user_id), **extra),
                          np.float64)

    def rank(self, user_id: str, item_ids: Sequence[str], with_events: bool = True,
             events: Optional[List[dict]] = None) -> List[Tuple[str, Optional[float]]]:
        """Re-rank `item_ids` (distinct, in input order) for the user."""
        if not item_ids:
            return []
        idx = self.index.lookup(item_ids)
        scores = np.full(idx.shape[0], -np.inf)
        known = idx >= 0
        if known.any():
            scores[known] = self.scores_for(user_id, idx[known], with_events, events)
        scorable = np.isfinite(scores)
        # best first among scorable (stable: equal scores keep input order), then the rest
        order = np.concatenate([np.flatnonzero(scorable)[np.argsort(-scores[scorable], kind="stable")],
                                np.flatnonzero(~scorable)])
        # Python numbers once (indexing numpy arrays item by item costs more than the ranking)
        values, scorable = scores.tolist(), scorable.tolist()
        return [(item_ids[i], values[i] if scorable[i] else None) for i in order.tolist()]

    def item_text(self, stamp=_READ) -> Optional[np.ndarray]:
        # Items put with PutItems since the text was read show at once, as recorded events
        # do in `history`: one read of the Items dataset's put-records stamp per request
        # (`stamp`, when the request read it already: `filtering.Tables`).
        if stamp is _READ:
            stamp = histories.item_records_stamp(self.dataset_group_arn)
        with self._text_lock:
            if self._item_text is None or stamp != self._item_stamp:
                text = histories.load_item_text(self.dataset_group_arn, self.index)
                self._item_text = text if text is not None else False
                self._item_stamp = stamp
        return self._item_text if self._item_text is not False else None


def _model_popularity(model: Model) -> np.ndarray:
    """Popularity the model itself keeps (when no interactions were imported)."""
    for name in ("item_counts", "counts", "popularity"):
        value = getattr(model, name, None)
        if isinstance(value, np.ndarray) and value.shape == model.item_ids.shape:
            return value.astype(np.float64)
    return np.zeros(model.item_ids.shape[0])


_cache: ModelCache = ModelCache()
# campaign ARN -> (monotonic expiry, what the campaign serves): saves the campaign and version
# reads on most requests; a change (update, delete) is seen within the TTL
_campaigns: dict = {}
_filters: dict = {}   # filter ARN -> (monotonic expiry, (record, parsed expression))


def campaign_ttl() -> float:
    try:
        return float(os.environ.get("RUNTIME_CAMPAIGN_TTL_SECONDS") or 2.0)
    except ValueError:
        return 2.0


def _remember(table: dict, key: str, resolve: Callable[[str], object]):
    now = time.monotonic()
    found = table.get(key)
    if found is not None and found[0] > now:
        return found[1]
    value = resolve(key)
    ttl = campaign_ttl()
    if ttl > 0:
        if len(table) > 10_000:
            table.clear()
        table[key] = (now + ttl, value)
    return value


def resolve_campaign(campaign_arn: str, resolve: Callable[[str], dict]) -> dict:
    """`resolve(campaign_arn)` (the control plane's lookup), remembered for the TTL; errors
    (unknown, not ACTIVE) are never remembered."""
    return _remember(_campaigns, campaign_arn, resolve)


def resolve_filter(filter_arn: str, resolve: Callable[[str], object]):
    """`resolve(filter_arn)` (an ACTIVE filter and its parsed expression), remembered for the
    same TTL: a deleted filter stops applying within it."""
    return _remember(_filters, filter_arn, resolve)


def cache() -> ModelCache:
    return _cache


def reset_cache(max_models=None, max_bytes=None) -> ModelCache:
    """A fresh cache, and no remembered campaigns or filters (tests; a container's settings
    changed)."""
    global _cache
    _cache = ModelCache(max_models, max_bytes)
    _campaigns.clear()
    _filters.clear()
    recorded.forget()
    return _cache


def load(version_arn: str, model_key: str, dataset_group_arn: Optional[str]) -> ServedModel:
    """Load without the cache (the deployment workflow's check that the model loads)."""
    return ServedModel(version_arn, artifacts.load(model_key), dataset_group_arn)


def served(version_arn: str, model_key: str, dataset_group_arn: Optional[str]) -> ServedModel:
    """The container's loaded model for a solution version (loaded on first use)."""
    return _cache.get(version_arn, lambda: load(version_arn, model_key, dataset_group_arn))
