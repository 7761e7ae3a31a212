"""Algorithms (seed: "Bring Your Own Recipe" step a, "Creating an Algorithm", "Hyperparameter
Optimization"; API Reference: CreateAlgorithm, DescribeAlgorithm, UpdateAlgorithm,
DeleteAlgorithm; data types Algorithm, AlgorithmImage, DefaultHyperParameterRanges).

The predefined algorithms (`arn:aws:personalize:::algorithm/<name>`, one per predefined recipe
that names one) are rendered from `chalicelib.domain.recipes`; custom ones are stored records.

Rules the service model cannot express (InvalidInputException naming the field):
- a hyperparameter appears in at most one of the three range lists, once; minValue <= maxValue;
  a categorical range has at least one value;
- each default value fits its range (integer, number within [min, max], one of the categories);
- `defaultResourceConfig` keys are the two the seed names (maxNumberOfTrainingJobs,
  maxParallelTrainingJobs), positive integers, parallel <= total;
- `trainingInputMode` is a SageMaker input mode (File or Pipe: the seed asks for an Amazon
  SageMaker compatible container);
- predefined algorithms cannot be updated or deleted (InvalidInputException, as for recipes);
  an algorithm used by a custom recipe cannot be deleted (ResourceInUseException).

`check_hyperparameters` and `check_hpo_ranges` apply an algorithm's ranges to a solution's
`algorithmHyperParameters` / `hpoConfig.algorithmHyperParameterRanges`.
"""
import math

from chalicelib import config
from chalicelib.domain import arns, lifecycle
from chalicelib.domain import recipes as catalog
from chalicelib.protocol.errors import (InvalidInputException, ResourceInUseException,
                                        ResourceNotFoundException)
from chalicelib.service.registry import operation
from chalicelib.storage import references
from chalicelib.storage.resources import ConditionFailed, now, store

TYPE = arns.ALGORITHM
RESOURCE_CONFIG_KEYS = ("maxNumberOfTrainingJobs", "maxParallelTrainingJobs")
TRAINING_INPUT_MODES = ("File", "Pipe")
# HPO budget of the predefined algorithms (our choice; the seed gives none): a handful of
# sequential jobs suits the small machines the emulators run on.
BUILTIN_RESOURCE_CONFIG = {"maxNumberOfTrainingJobs": "8", "maxParallelTrainingJobs": "1"}
RANGE_KINDS = ("integerHyperParameterRanges", "continuousHyperParameterRanges",
               "categoricalHyperParameterRanges")


def training_image():
    """The image the predefined algorithms run in (built from training_container/)."""
    return config.training_image_uri()


def custom_arn(name):
    return arns.build(TYPE, name, region="")


def builtin_recipe_of(arn):
    """The predefined recipe whose algorithm this ARN names, or None."""
    prefix = catalog.algorithm_arn("")
    if not arn.startswith(prefix):
        return None
    return catalog.recipe_for_algorithm(arn[len(prefix):])


def get(arn):
    """The Algorithm (wire shape) for a predefined or custom ARN, else ResourceNotFoundException."""
    recipe = builtin_recipe_of(arn)
    if recipe is not None:
        return {
            "name": recipe.algorithm, "algorithmArn": arn,
            "algorithmImage": {"name": recipe.algorithm, "dockerURI": training_image()},
            "defaultHyperParameters": recipe.default_hyperparameters(),
            "defaultHyperParameterRanges": catalog.default_hyperparameter_ranges(recipe.name),
            "defaultResourceConfig": dict(BUILTIN_RESOURCE_CONFIG),
            "trainingInputMode": "File",
            "creationDateTime": catalog.BUILTIN_CREATED, "lastUpdatedDateTime": catalog.BUILTIN_CREATED,
            "builtin": True, "recipeName": recipe.name,
        }
    return store().require(arn, TYPE, "algorithm")


# ---- validation ----------------------------------------------------------------------------

def _ranges_by_name(ranges):
    """name -> (kind, range dict); InvalidInputException on duplicates or bad bounds."""
    found = {}
    for kind in RANGE_KINDS:
        for r in (ranges or {}).get(kind) or []:
            name = r.get("name")
            if not name:
                raise InvalidInputException(f"{kind}: every range needs a name")
            if name in found:
                raise InvalidInputException(f"{kind}: hyperparameter {name!r} has more than one range")
            if kind == "categoricalHyperParameterRanges":
                values = r.get("values") or []
                if not values:
                    raise InvalidInputException(f"{kind}: {name} needs at least one value")
                if len(set(values)) != len(values):
                    raise InvalidInputException(f"{kind}: {name} lists a value twice")
            else:
                lo, hi = r.get("minValue"), r.get("maxValue")
                if lo is None or hi is None:
                    raise InvalidInputException(f"{kind}: {name} needs minValue and maxValue")
                if lo > hi:
                    raise InvalidInputException(f"{kind}: {name} has minValue {lo} above maxValue {hi}")
            found[name] = (kind, r)
    return found


def _check_value(name, raw, kind, r):
    """One hyperparameter value against its range; returns it unchanged (a string)."""
    text = str(raw).strip()
    if kind == "categoricalHyperParameterRanges":
        if text not in r["values"]:
            raise InvalidInputException(f"{name}: {text!r} is not one of {', '.join(r['values'])}")
        return raw
    try:
        value = float(text)
    except ValueError:
        raise InvalidInputException(f"{name}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InvalidInputException(f"{name}: {text!r} is not a finite number")
    if kind == "integerHyperParameterRanges" and not value.is_integer():
        raise InvalidInputException(f"{name}: {text!r} is not an integer")
    if not r["minValue"] <= value <= r["maxValue"]:
        raise InvalidInputException(
            f"{name}: {text} is outside its range [{r['minValue']}, {r['maxValue']}]")
    return raw


def check_definition(defaults, ranges):
    """CreateAlgorithm/UpdateAlgorithm: ranges are consistent and defaults fit them."""
    by_name = _ranges_by_name(ranges)
    for name, raw in (defaults or {}).items():
        if name in by_name:
            _check_value(name, raw, *by_name[name])


def check_resource_config(config):
    values = {}
    for key, raw in (config or {}).items():
        if key not in RESOURCE_CONFIG_KEYS:
            raise InvalidInputException(
                f"defaultResourceConfig: {key!r} is not supported (supported: "
                f"{', '.join(RESOURCE_CONFIG_KEYS)})")
        text = str(raw).strip()
        if not text.isdigit() or int(text) < 1:
            raise InvalidInputException(f"defaultResourceConfig: {key} must be a positive integer, "
                                        f"not {raw!r}")
        values[key] = int(text)
    if values.get("maxParallelTrainingJobs", 0) > values.get("maxNumberOfTrainingJobs", math.inf):
        raise InvalidInputException(
            "defaultResourceConfig: maxParallelTrainingJobs exceeds maxNumberOfTrainingJobs")


def _check_mode(mode):
    if mode not in TRAINING_INPUT_MODES:
        raise InvalidInputException(
            f"trainingInputMode: {mode!r} is not one of {', '.join(TRAINING_INPUT_MODES)}")


def _check_image(image):
    uri = image.get("dockerURI") or ""
    if not uri.strip() or any(c.isspace() for c in uri):
        raise InvalidInputException(f"algorithmImage.dockerURI: {uri!r} is not an image URI")


def check_hyperparameters(algorithm, overrides):
    """A custom algorithm's defaults updated with a solution's overrides (strings, as the
    SageMaker contract passes them); unknown names and values outside the ranges refused."""
    by_name = _ranges_by_name(algorithm.get("defaultHyperParameterRanges"))
    known = set(algorithm.get("defaultHyperParameters") or {}) | set(by_name)
    out = dict(algorithm.get("defaultHyperParameters") or {})
    for name, raw in (overrides or {}).items():
        if name not in known:
            raise InvalidInputException(
                f"algorithmHyperParameters: {name!r} is not a hyperparameter of "
                f"{algorithm['algorithmArn']} (known: {', '.join(sorted(known)) or 'none'})")
        if name in by_name:
            _check_value(name, raw, *by_name[name])
        out[name] = raw
    return out


def check_hpo_ranges(algorithm, ranges):
    """hpoConfig.algorithmHyperParameterRanges: each names a tunable hyperparameter of the
    algorithm, of the same kind, within the algorithm's default range."""
    defaults = _ranges_by_name(algorithm.get("defaultHyperParameterRanges"))
    # The request's ranges have no isTunable; the same consistency rules apply to them.
    for name, (kind, r) in _ranges_by_name(ranges).items():
        if name not in defaults:
            raise InvalidInputException(
                f"hpoConfig: {name!r} is not a hyperparameter with a range in "
                f"{algorithm['algorithmArn']}")
        dkind, d = defaults[name]
        if dkind != kind:
            raise InvalidInputException(f"hpoConfig: {name} is in {dkind}, not {kind}")
        if not d.get("isTunable"):
            raise InvalidInputException(f"hpoConfig: {name} is not tunable")
        if kind == "categoricalHyperParameterRanges":
            extra = [v for v in r["values"] if v not in d["values"]]
            if extra:
                raise InvalidInputException(f"hpoConfig: {name} values {extra} are not among "
                                            f"{', '.join(d['values'])}")
        elif r["minValue"] < d["minValue"] or r["maxValue"] > d["maxValue"]:
            raise InvalidInputException(
                f"hpoConfig: {name} range [{r['minValue']}, {r['maxValue']}] is outside "
                f"[{d['minValue']}, {d['maxValue']}]")


def _refuse_builtin(arn, verb):
    if builtin_recipe_of(arn) is not None:
        raise InvalidInputException(f"{arn} is a predefined algorithm; it cannot be {verb}")


# ---- operations ----------------------------------------------------------------------------

@operation("CreateAlgorithm")
def create_algorithm(params):
    _check_image(params["algorithmImage"])
    check_definition(params["defaultHyperParameters"], params["defaultHyperParameterRanges"])
    check_resource_config(params["defaultResourceConfig"])
    _check_mode(params["trainingInputMode"])
    arn = custom_arn(params["name"])
    created = now()
    store().put_new({
        "arn": arn, "algorithmArn": arn, "name": params["name"],
        "algorithmImage": params["algorithmImage"],
        "defaultHyperParameters": params["defaultHyperParameters"],
        "defaultHyperParameterRanges": params["defaultHyperParameterRanges"],
        "defaultResourceConfig": params["defaultResourceConfig"],
        "roleArn": params["roleArn"], "trainingInputMode": params["trainingInputMode"],
        "status": lifecycle.ACTIVE, "creationDateTime": created, "lastUpdatedDateTime": created,
    }, TYPE, exists_message=f"Algorithm {arn} already exists")
    return {"algorithmArn": arn}


@operation("DescribeAlgorithm")
def describe_algorithm(params):
    return {"algorithm": get(params["algorithmArn"])}


@operation("UpdateAlgorithm")
def update_algorithm(params):
    """Seed: "Only the algorithm ARN is required"; given members replace the stored ones."""
    arn = params["algorithmArn"]
    _refuse_builtin(arn, "updated")
    current = store().require(arn, TYPE, "algorithm")
    members = ("algorithmImage", "defaultHyperParameters", "defaultHyperParameterRanges",
               "defaultResourceConfig", "trainingInputMode")
    changes = {m: params[m] for m in members if m in params}
    merged = dict(current, **changes)
    if "algorithmImage" in changes:
        _check_image(changes["algorithmImage"])
    check_definition(merged.get("defaultHyperParameters"), merged.get("defaultHyperParameterRanges"))
    if "defaultResourceConfig" in changes:
        check_resource_config(changes["defaultResourceConfig"])
    if "trainingInputMode" in changes:
        _check_mode(changes["trainingInputMode"])
    if changes:
        store().update(arn, dict(changes, lastUpdatedDateTime=now()))
    return {"algorithmArn": arn}


@operation("DeleteAlgorithm")
def delete_algorithm(params):
    arn = params["algorithmArn"]
    _refuse_builtin(arn, "deleted")
    store().require(arn, TYPE, "algorithm")
    users = references.users_of(arn)
    if users:
        raise ResourceInUseException(
            f"Algorithm {arn} is used by recipes {', '.join(users)}; delete them first")
    try:
        store().delete(arn)
    except ConditionFailed:  # deleted in between
        raise ResourceNotFoundException.for_arn(arn) from None
    return {}
