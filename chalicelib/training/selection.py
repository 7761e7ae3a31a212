"""AutoML and HPO as mechanisms over any registered recipe.

Seed: "Creating a Solution" (performAutoML: "chooses a recipe from the list to optimize the
metric"; CreateSolution.performHPO: "performs hyperparameter optimization (HPO) on the specified
or selected recipe"), "Hyperparameter Optimization", data types AutoMLConfig, HPOConfig,
HPOObjective, HPOResourceConfig, HyperParameterRanges.

Both choose on a *validation split of the training users* (EVALUATION.md's protocol applied to
the training part only), never on the held-out evaluation users whose metrics GetMetrics
reports, so those metrics stay an honest estimate of the chosen model. `validation_split` makes
it: the evaluation share of the training users, raised so that about `VALIDATION_USERS`
users are scored where the data has few users (at most `MAX_VALIDATION_SHARE` of them). A
ranking of candidates is only as good as its noise: on ml-latest-small 10% is 55 users, whose
precision@25 differs between seeds by more than the candidates differ from each other (issue 18).

AutoML: every candidate recipe is trained with its hyperparameters (the recipe's defaults under
AutoML) and scored; the best by `metricName` (higher is better for every metric we report;
ties keep the earlier recipe of the list) wins. A candidate that fails is reported and skipped.

HPO: random search, then refinement. The space is the hpoConfig's
`algorithmHyperParameterRanges` when given, otherwise the recipe's tunable hyperparameters
(`chalicelib.domain.recipes`: the seed's "HPO tuning" column, with its "Yes [a - b]" ranges where
it gives them). Time limits the seed marks "Yes, if time is a constraint" (`TIME_LIMITS`) are
tuned only when hpoConfig names them. `maxNumberOfTrainingJobs` trials in all (default
`DEFAULT_MAX_JOBS`), run in rounds of `maxParallelTrainingJobs` at once (default
`DEFAULT_MAX_PARALLEL`, this machine's cores), each a fit on the validation split's training users.
Trial 0 is the given hyperparameters, so tuning never picks something worse than them on
validation. Until half of the budget is spent the trials draw integers and continuous values
uniformly in their ranges and categories uniformly (exploration); the later rounds draw around
the best trial so far, within `REFINE_WIDTH` of each range's width, keeping its category half of
the time (refinement). Everything is seeded, so a version always tunes the same way. `hpoObjective`: metricName (default: AutoML's
metric, else precision_at_25), type Maximize (default) or Minimize; metricRegex is for logs of
custom containers and unused here (our trainer computes the metrics itself).

A new recipe needs only its entry in `chalicelib.algorithms.registry` (and its table in
`chalicelib.domain.recipes` for default HPO ranges).
"""
from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import numpy as np

from chalicelib.algorithms.evaluation import Split, evaluate, split_interactions
from chalicelib.algorithms.checkpoint import Paused
from chalicelib.training.contract import TrainingStopped

DEFAULT_METRIC = "precision_at_25"
DEFAULT_MAX_JOBS = 4
DEFAULT_MAX_PARALLEL = 2
VALIDATION_USERS = 300
MAX_VALIDATION_SHARE = 0.3
TIME_LIMITS = frozenset({"training.early_time", "training.eval_epoch_time"})
MAXIMIZE, MINIMIZE = "Maximize", "Minimize"
REFINE_WIDTH = 0.25


def effective_hyperparameters(recipe: str, given: Dict[str, str]) -> Dict[str, str]:
    """Every hyperparameter a run of `recipe` uses, as text: the seed table's defaults
    (`chalicelib.domain.recipes`), then the implementation's own where it departs from them
    (`Recipe.default_overrides`, e.g. HRNN's epochs), then `given`. Trials, the chosen values
    and tunedHPOParams then list what the model was trained with. Recipes outside the
    catalogue (bring your own) keep `given` as it is."""
    from chalicelib.algorithms.registry import recipe_for
    from chalicelib.domain import recipes as catalog
    try:
        out = catalog.builtin_recipe(recipe).default_hyperparameters()
        out.update(getattr(recipe_for(recipe), "default_overrides", dict)())
    except (KeyError, ValueError):
        return dict(given)
    out.update(given)
    return out


@dataclass
class Candidate:
    recipe: str                          # implementation name in the recipe registry
    recipe_arn: str
    hyperparameters: Dict[str, str] = field(default_factory=dict)


@dataclass
class SearchSpace:
    integer: List[tuple] = field(default_factory=list)      # (name, lo, hi)
    continuous: List[tuple] = field(default_factory=list)   # (name, lo, hi)
    categorical: List[tuple] = field(default_factory=list)  # (name, [values])

    def __bool__(self):
        return bool(self.integer or self.continuous or self.categorical)

    def names(self):
        return [r[0] for r in self.integer + self.continuous + self.categorical]


@dataclass
class HpoSettings:
    space: SearchSpace
    metric: str = DEFAULT_METRIC
    direction: str = MAXIMIZE
    max_jobs: int = DEFAULT_MAX_JOBS
    max_parallel: int = DEFAULT_MAX_PARALLEL


def validation_share(train, share: float) -> float:
    """The share of `train`'s users that validates candidates (module docstring): `share`, or
    more where that is under `VALIDATION_USERS` users, up to `MAX_VALIDATION_SHARE`."""
    active = int(np.count_nonzero(np.bincount(train.interactions.user, minlength=train.n_users)))
    wanted = VALIDATION_USERS / max(active, 1)
    return max(share, min(MAX_VALIDATION_SHARE, wanted))


def validation_split(train, seed: int, share: float) -> Split:
    """The validation split of the training data `train` (an outer split's `train`) that AutoML
    and HPO choose on: `validation_share` of its users, drawn with `seed`."""
    return split_interactions(train, seed, user_fraction=validation_share(train, share))


def _score(candidate: Candidate, hyperparameters, split: Split, seed: int, log, checkpoint=None) -> Dict[str, float]:
    """`checkpoint`: the trial's fit may pause (`Paused` passes through to the caller)."""
    metrics, _, _ = evaluate(candidate.recipe, split.train, hyperparameters, seed, split=split, log=log,
                             checkpoint=checkpoint)
    return metrics


# --- AutoML ----------------------------------------------------------------------------------
def automl_entry(c: Candidate, split: Split, metric: str, seed: int,
                 log: Callable[[str], None] = lambda m: None, checkpoint=None) -> dict:
    """One AutoML candidate scored on the validation `split` (a workflow step of its own on the
    lambda backend): `{"recipeArn", "recipe", "validation"}` or `{..., "error"}` when it failed."""
    entry = {"recipeArn": c.recipe_arn, "recipe": c.recipe}
    try:
        metrics = _score(c, c.hyperparameters, split, seed, log, checkpoint)
    except (TrainingStopped, Paused):
        raise
    except Exception as e:  # noqa: BLE001 - one failing recipe does not end AutoML
        entry["error"] = f"{type(e).__name__}: {e}"
        log(f"AutoML: {c.recipe} failed: {entry['error']}")
        return entry
    if metric not in metrics:
        raise ValueError(f"autoMLConfig.metricName: {metric!r} is not a metric the trainer reports")
    entry["validation"] = metrics
    log(f"AutoML: {c.recipe} {metric}={metrics[metric]:.5f}")
    return entry


def automl_choice(candidates: List[Candidate], entries: List[dict], metric: str):
    """(best candidate, report) from the candidates' entries, in the list's order."""
    best, best_value = None, -math.inf
    for c, entry in zip(candidates, entries):
        if "error" not in entry and entry["validation"][metric] > best_value:
            best, best_value = c, entry["validation"][metric]
    if best is None:
        raise ValueError("AutoML: no recipe of the list could be trained: " +
                         "; ".join(e["error"] for e in entries if "error" in e))
    return best, list(entries)


def automl(candidates: List[Candidate], split: Split, metric: str, seed: int,
           log: Callable[[str], None] = lambda m: None):
    """(best candidate, report) choosing by `metric` on the validation `split`."""
    return automl_choice(candidates, [automl_entry(c, split, metric, seed, log) for c in candidates], metric)


# --- HPO -------------------------------------------------------------------------------------
def default_space(recipe: str) -> SearchSpace:
    """The recipe's tunable hyperparameters (seed's recipe tables), time limits excepted."""
    from chalicelib.domain import recipes as catalog
    try:
        table = catalog.builtin_recipe(recipe).hyperparameters
    except KeyError:
        return SearchSpace()
    space = SearchSpace()
    for hp in table:
        if not hp.tunable or hp.name in TIME_LIMITS:
            continue
        if hp.type in (catalog.CATEGORICAL, catalog.BOOLEAN):
            space.categorical.append((hp.name, list(hp.values or ("true", "false"))))
            continue
        lo, hi = hp.tuning_range or (hp.min, hp.max)
        if lo is None or hi is None:
            continue  # no finite range to search
        if hp.type == catalog.INTEGER:
            if not hp.tuning_range:
                lo = lo + (0 if hp.min_inclusive else 1)
                hi = hi - (0 if hp.max_inclusive else 1)
            space.integer.append((hp.name, int(lo), int(hi)))
        else:
            space.continuous.append((hp.name, float(lo), float(hi)))
    return space


def space_from_ranges(ranges: Optional[dict]) -> SearchSpace:
    """An hpoConfig's algorithmHyperParameterRanges (data type HyperParameterRanges)."""
    ranges = ranges or {}
    space = SearchSpace()
    for r in ranges.get("integerHyperParameterRanges") or []:
        lo, hi = int(math.ceil(float(r["minValue"]))), int(math.floor(float(r["maxValue"])))
        if lo > hi:
            raise ValueError(f"hpoConfig: integer range of {r['name']} is empty")
        space.integer.append((r["name"], lo, hi))
    for r in ranges.get("continuousHyperParameterRanges") or []:
        lo, hi = float(r["minValue"]), float(r["maxValue"])
        if lo > hi:
            raise ValueError(f"hpoConfig: continuous range of {r['name']} is empty")
        space.continuous.append((r["name"], lo, hi))
    for r in ranges.get("categoricalHyperParameterRanges") or []:
        if not r.get("values"):
            raise ValueError(f"hpoConfig: categorical range of {r['name']} has no values")
        space.categorical.append((r["name"], [str(v) for v in r["values"]]))
    return space


def _positive_int(value, name, default):
    if value in (None, ""):
        return default
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"hpoConfig.hpoResourceConfig.{name}: {value!r} is not a positive integer")
    return int(text)


def hpo_settings(recipe: str, hpo_config: Optional[dict], default_metric: Optional[str] = None) -> HpoSettings:
    """What to search and within which budget, from a solution's hpoConfig (may be None)."""
    config = hpo_config or {}
    ranges = config.get("algorithmHyperParameterRanges")
    space = space_from_ranges(ranges) if ranges and any(ranges.values()) else default_space(recipe)
    objective = config.get("hpoObjective") or {}
    direction = objective.get("type") or MAXIMIZE
    if direction not in (MAXIMIZE, MINIMIZE):
        raise ValueError(f"hpoConfig.hpoObjective.type: {direction!r} is not Maximize or Minimize")
    resources = config.get("hpoResourceConfig") or {}
    jobs = _positive_int(resources.get("maxNumberOfTrainingJobs"), "maxNumberOfTrainingJobs", DEFAULT_MAX_JOBS)
    parallel = _positive_int(resources.get("maxParallelTrainingJobs"), "maxParallelTrainingJobs",
                             DEFAULT_MAX_PARALLEL)
    return HpoSettings(space=space, metric=objective.get("metricName") or default_metric or DEFAULT_METRIC,
                       direction=direction, max_jobs=jobs, max_parallel=min(parallel, jobs))


def _text(value):
    if isinstance(value, (float, np.floating)):
        return repr(round(float(value), 6))
    return str(value)


def sample(space: SearchSpace, rng: np.random.Generator) -> Dict[str, str]:
    """One random point of the space, as hyperparameter strings."""
    out = {}
    for name, lo, hi in space.integer:
        out[name] = str(int(rng.integers(lo, hi + 1)))
    for name, lo, hi in space.continuous:
        out[name] = _text(rng.uniform(lo, hi))
    for name, values in space.categorical:
        out[name] = str(values[int(rng.integers(len(values)))])
    return out


def sample_near(space: SearchSpace, center: Dict[str, str], rng: np.random.Generator,
                width: float = REFINE_WIDTH) -> Dict[str, str]:
    """A random point within `width` of each range around `center` (uniform where it has none)."""
    out = sample(space, rng)
    for name, lo, hi in space.integer:
        try:
            c = float(center[name])
        except (KeyError, ValueError):
            continue
        half = max(1.0, width * (hi - lo))
        a, b = max(lo, int(math.floor(c - half))), min(hi, int(math.ceil(c + half)))
        if a <= b:
            out[name] = str(int(rng.integers(a, b + 1)))
    for name, lo, hi in space.continuous:
        try:
            c = float(center[name])
        except (KeyError, ValueError):
            continue
        half = width * (hi - lo)
        out[name] = _text(rng.uniform(max(lo, c - half), min(hi, c + half)))
    for name, values in space.categorical:
        if center.get(name) in values and rng.random() < 0.5:
            out[name] = center[name]
    return out


def _sign(settings: HpoSettings) -> float:
    return 1.0 if settings.direction == MAXIMIZE else -1.0


def best_trial(results: List[dict], settings: HpoSettings) -> Optional[dict]:
    """The best scored trial by the objective (ties: the earlier trial), None if none scored."""
    sign = _sign(settings)
    scored = [r for r in results if "objective" in r]
    return max(scored, key=lambda r: (sign * r["objective"], -r["trial"])) if scored else None


def next_round(base: Dict[str, str], settings: HpoSettings, seed: int, results: List[dict]) -> List[dict]:
    """The hyperparameters of the trials of the next round, given the `results` of every earlier
    round ([] when the budget is spent). The generator is replayed from the seed over the earlier
    rounds, so a search driven one round per workflow step draws exactly what the in-process
    loop draws."""
    rng = np.random.default_rng([seed, 7])
    explore = (settings.max_jobs + 1) // 2
    done = 0
    while done < settings.max_jobs:
        incumbent = best_trial(results[:done], settings)
        batch = []
        for index in range(done, min(settings.max_jobs, done + settings.max_parallel)):
            if index == 0:
                batch.append(dict(base))
            elif index < explore or incumbent is None:
                batch.append(dict(base, **sample(settings.space, rng)))
            else:
                batch.append(dict(base, **sample_near(settings.space, incumbent["hyperparameters"], rng)))
        if done >= len(results):
            return batch
        done += len(batch)
    return []


def run_trial(candidate: Candidate, index: int, hyperparameters: Dict[str, str], split: Split,
              metric: str, seed: int, log: Callable[[str], None] = lambda m: None, checkpoint=None) -> dict:
    """One HPO trial on the validation `split`: `{"trial", "hyperparameters", "objective"}`, or
    `"error"` instead of the objective when the fit failed (the search goes on)."""
    try:
        metrics = _score(candidate, hyperparameters, split, seed, log, checkpoint)
        if metric not in metrics:
            raise ValueError(f"hpoConfig.hpoObjective.metricName: {metric!r} is not a "
                             "metric the trainer reports")
        return {"trial": index, "hyperparameters": hyperparameters, "objective": metrics[metric]}
    except (TrainingStopped, Paused):
        raise
    except Exception as e:  # noqa: BLE001 - a failing trial is reported, the search goes on
        return {"trial": index, "hyperparameters": hyperparameters, "error": f"{type(e).__name__}: {e}"}


def hpo_outcome(results: List[dict], settings: HpoSettings, peak: int,
                log: Callable[[str], None] = lambda m: None):
    """(best hyperparameters, report) of a finished search."""
    best = best_trial(results, settings)
    if best is None:
        raise ValueError("HPO: every training job failed: " + results[0]["error"])
    log(f"HPO: {len(results)} jobs, best {settings.metric}={best['objective']:.5f} (trial {best['trial']})")
    report = {"objective": {"metricName": settings.metric, "type": settings.direction},
              "maxNumberOfTrainingJobs": settings.max_jobs,
              "maxParallelTrainingJobs": settings.max_parallel,
              "searched": settings.space.names(), "trainingJobs": len(results),
              "peakParallelJobs": peak, "trials": results, "bestTrial": best["trial"]}
    return best["hyperparameters"], report


def hpo(candidate: Candidate, split: Split, settings: HpoSettings, seed: int,
        log: Callable[[str], None] = lambda m: None):
    """(best hyperparameters, report) of the search on the validation `split` (module docstring),
    its rounds run in process by a thread pool (the SageMaker training job)."""
    running, peak, lock = [0], [0], threading.Lock()

    def run(index, hyperparameters):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            return run_trial(candidate, index, hyperparameters, split, settings.metric, seed, log)
        finally:
            with lock:
                running[0] -= 1

    results = []
    with ThreadPoolExecutor(max_workers=settings.max_parallel, thread_name_prefix="hpo") as pool:
        while True:
            batch = next_round(candidate.hyperparameters, settings, seed, results)
            if not batch:
                break
            results += list(pool.map(run, range(len(results), len(results) + len(batch)), batch))
    return hpo_outcome(results, settings, peak[0], log)
