"""Shared shapes for every recipe: training data in, a model out.

Seed: "How It Works" (datasets, recipes, solutions) and "Creating a Solution".
This package imports only numpy, scipy and the standard library: the same code
runs in the trainer (SageMaker entry point or trainer Lambda), in the runtime
Lambda and in the offline evaluation command.

Conventions (shared by every recipe, the evaluation protocol and the runtime):

- Users and items are dense int32 indices into `TrainingData.user_ids` /
  `item_ids` (numpy unicode arrays, so artifacts load with
  `allow_pickle=False`).
- A user's *history* is a `History`: item indices in time order with their
  timestamps (Unix seconds). At inference the history is the imported
  interactions plus events recorded with PutEvents (fold-in, no retraining).
- `Model.recommend` answers a batch: arrays of shape `[B, n]`, best first,
  padded with index -1 / score -inf when fewer than `n` items qualify.
- Hyperparameters arrive as strings (the SageMaker contract); each recipe
  parses them against `chalicelib.domain.recipes` (defaults and ranges from
  the seed's recipe tables).
"""
from __future__ import annotations

import abc
import json
import os
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

USER_PERSONALIZATION = "USER_PERSONALIZATION"
RELATED_ITEMS = "RELATED_ITEMS"
SEARCH_PERSONALIZATION = "SEARCH_PERSONALIZATION"
USER_SEGMENTATION = "USER_SEGMENTATION"   # batch segments; evaluated row-wise like USER_PERSONALIZATION
# today's recipe types (chalicelib.domain.recipes)
PERSONALIZED_RANKING = "PERSONALIZED_RANKING"
POPULAR_ITEMS = "POPULAR_ITEMS"
RANKING_TYPES = (SEARCH_PERSONALIZATION, PERSONALIZED_RANKING)


@dataclass
class Interactions:
    """One row per interaction, all arrays of equal length."""

    user: np.ndarray                 # int32 user index
    item: np.ndarray                 # int32 item index
    timestamp: np.ndarray            # int64 Unix seconds
    event_type: Optional[np.ndarray] = None   # int16 codes into TrainingData.event_types
    event_value: Optional[np.ndarray] = None  # float32, NaN where absent

    def __len__(self):
        return int(self.user.shape[0])


@dataclass
class Metadata:
    """Users or Items dataset columns aligned to the entity index.

    `fields` maps a schema field name to an array of length n_entities
    (float64 with NaN for missing numeric values, unicode for strings).
    Names in `categorical` are `"categorical": true` string fields whose
    values hold several categories separated by `|` (seed: "Datasets and
    Schemas").
    """

    fields: Dict[str, np.ndarray] = field(default_factory=dict)
    categorical: Tuple[str, ...] = ()


@dataclass
class TrainingData:
    interactions: Interactions
    user_ids: np.ndarray             # unicode, index -> USER_ID
    item_ids: np.ndarray             # unicode, index -> ITEM_ID (catalogue incl. Items-only items)
    event_types: Tuple[str, ...] = ()
    users: Optional[Metadata] = None
    items: Optional[Metadata] = None

    @property
    def n_users(self):
        return int(self.user_ids.shape[0])

    @property
    def n_items(self):
        return int(self.item_ids.shape[0])


@dataclass
class History:
    """A user's interactions in time order (oldest first)."""

    items: np.ndarray                # int32 item indices
    timestamps: Optional[np.ndarray] = None  # int64 Unix seconds, same length

    @classmethod
    def empty(cls):
        return cls(np.zeros(0, np.int32), np.zeros(0, np.int64))


@dataclass
class UserState:
    """What a model read of a user's history, carried between requests (issue 15: a request
    folds in only the events recorded since). `folded` history positions were read (a prefix
    of the history); `vector` is what the model scores with (None: nothing it knows yet);
    `carry` holds the recipe's running sums or recurrent state."""

    folded: int = 0
    vector: Optional[np.ndarray] = None
    carry: tuple = ()


def state_vectors(states, width, dtype):
    """`[B, width]` vectors of carried states (zero where a state has none) and the mask of
    those that have one."""
    out = np.zeros((len(states), width), dtype)
    nonempty = np.array([st is not None and st.vector is not None for st in states], bool)
    for r in np.flatnonzero(nonempty):
        out[r] = states[r].vector
    return out, nonempty


class Model(abc.ABC):
    """A trained solution version. Subclasses implement what their recipe type needs.

    Recipes whose user vector comes from the history alone may implement `fold`; their
    `recommend` and `rank` then take `states` / `state` (from `fold`) instead of re-reading
    the histories, with the same scores."""

    recipe: str = ""
    recipe_type: str = USER_PERSONALIZATION

    def __init__(self, item_ids: np.ndarray, hyperparameters: Optional[dict] = None):
        self.item_ids = np.asarray(item_ids, dtype=str)
        self.hyperparameters = dict(hyperparameters or {})

    # --- inference -------------------------------------------------------
    def recommend(self, histories: Sequence[History], n: int, *,
                  users: Optional[np.ndarray] = None,
                  exclude_history: bool = True) -> Tuple[np.ndarray, np.ndarray]:
        """USER_PERSONALIZATION: top-n items per history, `[B, n]` arrays. A model whose
        `recommend` also takes `allowed=` (a mask over the items, a request filter's) answers
        only those: the runtime then passes the mask instead of asking for more candidates
        than wanted and dropping the others (a model with an ANN index finds the allowed ones
        it would otherwise miss: `algorithms.ann`)."""
        raise NotImplementedError(f"{self.recipe} does not recommend for users")

    def similar_items(self, items: np.ndarray, n: int) -> Tuple[np.ndarray, np.ndarray]:
        """RELATED_ITEMS: top-n items per query item (never the item itself)."""
        raise NotImplementedError(f"{self.recipe} does not answer related items")

    def rank(self, history: History, candidates: np.ndarray, *,
             user: Optional[int] = None) -> np.ndarray:
        """SEARCH_PERSONALIZATION / PERSONALIZED_RANKING: one score per candidate item index
        (higher is better)."""
        raise NotImplementedError(f"{self.recipe} does not rank")

    def fold(self, state: Optional[UserState], history: History,
             user: Optional[int] = None) -> Optional[UserState]:
        """The user's state after `history`, given `state` after a prefix of it (None: nothing
        read yet), reading only `history[state.folded:]`; None when the recipe carries none."""
        return None

    def serving_options(self, campaign_config: Optional[dict]) -> dict:
        """Keyword arguments for `recommend` from a campaign's `campaignConfig` (today's API);
        recipes that read none of it return {}. ValueError names a bad setting."""
        return {}

    # --- artifacts -------------------------------------------------------
    def arrays(self) -> Dict[str, np.ndarray]:
        """Arrays that make up the model, besides `item_ids`."""
        return {}

    def meta(self) -> dict:
        """JSON-safe extra state, besides recipe and hyperparameters."""
        return {}

    @classmethod
    def from_artifacts(cls, item_ids, hyperparameters, arrays, meta):
        raise NotImplementedError

    def save(self, directory: str) -> None:
        """Write `model.json` and `arrays.npz` (loadable with allow_pickle=False)."""
        os.makedirs(directory, exist_ok=True)
        arrays = dict(self.arrays())
        arrays["item_ids"] = self.item_ids
        save_arrays(os.path.join(directory, "arrays.npz"), arrays)
        with open(os.path.join(directory, "model.json"), "w") as f:
            json.dump({"recipe": self.recipe, "recipeType": self.recipe_type,
                       "hyperparameters": self.hyperparameters,
                       "meta": self.meta()}, f)


class Recipe(abc.ABC):
    """A training algorithm: `fit` turns TrainingData into a Model."""

    name: str = ""
    recipe_type: str = USER_PERSONALIZATION
    model_class: type = Model
    # True when `fit` accepts `warm_start=previous_model` (today's trainingMode UPDATE,
    # `chalicelib.algorithms.warm_start`): the previous version's parameters are carried over,
    # new items placed and the model fine-tuned for a short schedule instead of trained anew.
    supports_warm_start: bool = False
    # True when `fit` accepts `checkpoint=` (`chalicelib.algorithms.checkpoint`): a long fit
    # pauses at an epoch end and a later call resumes it with the same result.
    supports_checkpoint: bool = False

    @abc.abstractmethod
    def fit(self, data: TrainingData, hyperparameters: Dict[str, str], *,
            seed: int = 0, log: Callable[[str], None] = lambda msg: None) -> Model:
        """Train. Raise ValueError with a readable reason for bad hyperparameters or data.
        Recipes with `supports_warm_start` also take `warm_start` (a Model of the same recipe
        or None)."""

    def default_overrides(self) -> Dict[str, str]:
        """Defaults this implementation uses instead of the seed table's (where the seed's
        default makes no useful model), so that reports list the values actually used."""
        return {}


def load_model(directory: str) -> Model:
    """Load any saved model; the recipe registry picks the class."""
    from chalicelib.algorithms.registry import recipe_for
    with open(os.path.join(directory, "model.json")) as f:
        doc = json.load(f)
    arrays = load_arrays(os.path.join(directory, "arrays.npz"))
    item_ids = arrays.pop("item_ids")
    cls = recipe_for(doc["recipe"]).model_class
    return cls.from_artifacts(item_ids, doc.get("hyperparameters", {}), arrays, doc.get("meta", {}))


ALIGN = 64


def save_arrays(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """An `.npz` (what `np.load` reads) whose members are stored uncompressed with their data
    at `ALIGN`-byte offsets in the file (a padding extra field in each local header; the .npy
    header itself is padded to 64 bytes), so that `load_arrays` maps them aligned and BLAS
    computes on a mapped table exactly as on one in memory."""
    import io
    import struct
    import zipfile
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(value), allow_pickle=False)
            data = buf.getvalue()
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            zip64 = 20 if len(data) > zipfile.ZIP64_LIMIT else 0
            start = zf.fp.tell() + 30 + len(info.filename.encode()) + zip64 + 4
            pad = (-start) % ALIGN
            info.extra = struct.pack("<HH", 0xD935, pad) + b"\0" * pad
            zf.writestr(info, data)


def load_arrays(path: str) -> Dict[str, np.ndarray]:
    """The arrays of an `.npz`: members stored uncompressed (what `np.savez` writes) as
    read-only memory maps into the file itself (issue 15 item 3: processes that load the same
    file share its pages, and a load reads only the pages used), others read into memory."""
    import zipfile
    out = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
        for info in zf.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if info.compress_type != zipfile.ZIP_STORED:
                with zf.open(info) as member:
                    out[name] = np.lib.format.read_array(member, allow_pickle=False)
                continue
            f.seek(info.header_offset)
            local = f.read(30)               # the local file header: name and extra lengths
            start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + \
                int.from_bytes(local[28:30], "little")
            f.seek(start)
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(f)
            if dtype.hasobject:
                raise ValueError(f"{name}: object arrays are not loaded (allow_pickle=False)")
            if int(np.prod(shape)) == 0 or dtype.itemsize == 0:
                out[name] = np.zeros(shape, dtype)
                continue
            out[name] = np.memmap(path, dtype=dtype, mode="r", offset=f.tell(), shape=shape,
                                  order="F" if fortran else "C")
    return out


def popularity_prior(item_counts: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """`(known, scores)`: items seen in training, and `log(1 + count)` with -inf for the
    others, what the neural recipes answer for an empty history."""
    known = np.asarray(item_counts) > 0
    return known, np.where(known, np.log1p(item_counts), -np.inf)


def in_catalogue(items, n_items: int) -> np.ndarray:
    """The indices of `items` inside `[0, n_items)`: a history may hold items recorded with
    PutEvents after training, which a model cannot read."""
    items = np.asarray(items, np.int64)
    return items[(items >= 0) & (items < n_items)]


def exclude_histories(scores: np.ndarray, histories: Sequence[History]) -> np.ndarray:
    """Set each row's history items to -inf, in place (items are not recommended again)."""
    for r, h in enumerate(histories):
        scores[r, in_catalogue(h.items, scores.shape[1])] = -np.inf
    return scores


def candidate_scores(candidates, n_items: int, score: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """One score per candidate for `Model.rank`: `score(indices)` for the candidates inside the
    catalogue, -inf for the others."""
    cand = np.asarray(candidates, np.int64)
    ok = (cand >= 0) & (cand < n_items)
    out = np.full(cand.shape[0], -np.inf)
    if ok.any():
        out[ok] = score(cand[ok])
    return out


def param_arrays(params: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """A network's named parameters as artifact arrays (`p.<name>`); `params_of` reverses it."""
    return {f"p.{k}": v for k, v in params.items()}


def params_of(arrays: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    return {k[2:]: np.ascontiguousarray(v) for k, v in arrays.items() if k.startswith("p.")}


def top_n(scores: np.ndarray, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """Row-wise top-n of a `[B, I]` score matrix with argpartition; -inf never wins.

    Returns `(idx, vals)` of shape `[B, min(n, I)]`, best first, idx -1 where the
    score is -inf (excluded or unknown).
    """
    scores = np.atleast_2d(scores)
    b, i = scores.shape
    k = min(n, i)
    if k <= 0:
        return np.full((b, 0), -1, np.int32), np.zeros((b, 0), scores.dtype)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1).astype(np.int32)
    vals = np.take_along_axis(vals, order, axis=1)
    idx[~np.isfinite(vals) & (vals < 0)] = -1
    return idx, vals
