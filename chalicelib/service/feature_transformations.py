"""Feature transformations (seed: "Bring Your Own Recipe" step b, "Feature Transformation";
API Reference: CreateFeatureTransformation, DescribeFeatureTransformation,
UpdateFeatureTransformation, DeleteFeatureTransformation; data type FeatureTransformation).

The predefined transformations (`arn:aws:personalize:::feature-transformation/<name>`, from
`chalicelib.domain.recipes.FEATURE_TRANSFORMATIONS`) are served next to the ones a user creates.

Rules the service model cannot express:
- `defaultParameters` keys are the ones the seed lists as "currently supported parameter
  overrides" (max/min_hist_length_percentile, train ratio, test ratio), each a number in [0, 1],
  min <= max percentile and train + test ratio <= 1 (InvalidInputException naming the key);
- predefined transformations cannot be updated or deleted: InvalidInputException, the only
  error both operations list that fits ("Provide a valid value for the field or parameter");
- a transformation used by a custom recipe cannot be deleted (ResourceInUseException).
A transformation needs no work to create and is stored ACTIVE at once.

Custom ARNs follow the seed's example, `arn:aws:personalize::<acct>:feature-transformation/<name>`
(no region: recipes, algorithms and transformations belong to the account).
"""
import math

from chalicelib.domain import arns, lifecycle
from chalicelib.domain import recipes as catalog
from chalicelib.protocol.errors import (InvalidInputException, ResourceInUseException,
                                        ResourceNotFoundException)
from chalicelib.service.registry import operation
from chalicelib.storage import references
from chalicelib.storage.resources import ConditionFailed, now, store

TYPE = arns.FEATURE_TRANSFORMATION
# The predefined catalogue has no creation time of its own; we show the preview's launch day.
# Seed, "Bring Your Own Recipe" step b: the supported keys (spelled as the catalogue spells them).
SUPPORTED_PARAMETERS = tuple(catalog.FEATURE_TRANSFORMATIONS[catalog.JSON_PERCENTILE_FILTERING])


def custom_arn(name):
    return arns.build(TYPE, name, region="")


def builtin_name(arn):
    """The predefined transformation an ARN names, or None."""
    prefix = catalog.feature_transformation_arn("")
    if arn.startswith(prefix) and arn[len(prefix):] in catalog.FEATURE_TRANSFORMATIONS:
        return arn[len(prefix):]
    return None


def get(arn):
    """The FeatureTransformation (wire shape) for a predefined or custom ARN, else
    ResourceNotFoundException."""
    name = builtin_name(arn)
    if name:
        return {"name": name, "featureTransformationArn": arn,
                "defaultParameters": dict(catalog.FEATURE_TRANSFORMATIONS[name]),
                "status": lifecycle.ACTIVE, "creationDateTime": catalog.BUILTIN_CREATED,
                "lastUpdatedDateTime": catalog.BUILTIN_CREATED, "builtin": True}
    return store().require(arn, TYPE, "feature transformation")


def check_parameters(parameters, allowed=SUPPORTED_PARAMETERS):
    """Validate a featurization parameter map; InvalidInputException names the key and rule.

    Returns the parameters as floats. Used for CreateFeatureTransformation's defaults and for a
    solution's `featureTransformationParameters` overrides.
    """
    out = {}
    for key, raw in parameters.items():
        if key not in allowed:
            raise InvalidInputException(
                f"featureTransformationParameters: {key!r} is not a supported parameter "
                f"(supported: {', '.join(allowed)})")
        try:
            value = float(str(raw).strip())
        except ValueError:
            raise InvalidInputException(f"{key}: {raw!r} is not a number") from None
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise InvalidInputException(f"{key}: {raw} is outside [0, 1]")
        out[key] = value
    lo, hi = out.get("min_hist_length_percentile"), out.get("max_hist_length_percentile")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidInputException(
            f"min_hist_length_percentile: {lo} exceeds max_hist_length_percentile {hi}")
    if out.get("train_ratio", 0.0) + out.get("test_ratio", 0.0) > 1.0 + 1e-9:
        raise InvalidInputException("train_ratio: train_ratio + test_ratio must not exceed 1")
    return out


def effective_parameters(arn, overrides=None):
    """A transformation's defaults with a solution's overrides applied, validated (floats)."""
    ft = get(arn)
    merged = dict(ft.get("defaultParameters") or {})
    merged.update(overrides or {})
    return check_parameters(merged)


def _refuse_builtin(arn, verb):
    if builtin_name(arn):
        raise InvalidInputException(
            f"{arn} is a predefined feature transformation; it cannot be {verb}")


@operation("CreateFeatureTransformation")
def create_feature_transformation(params):
    name = params["name"]
    check_parameters(params["defaultParameters"])
    arn = custom_arn(name)
    created = now()
    store().put_new({
        "arn": arn, "name": name, "featureTransformationArn": arn,
        "defaultParameters": dict(params["defaultParameters"]), "status": lifecycle.ACTIVE,
        "creationDateTime": created, "lastUpdatedDateTime": created,
    }, TYPE, exists_message=f"Feature transformation {arn} already exists")
    return {"featureTransformationArn": arn}


@operation("DescribeFeatureTransformation")
def describe_feature_transformation(params):
    return {"featureTransformation": get(params["featureTransformationArn"])}


@operation("UpdateFeatureTransformation")
def update_feature_transformation(params):
    arn = params["featureTransformationArn"]
    _refuse_builtin(arn, "updated")
    store().require(arn, TYPE, "feature transformation")
    if "defaultParameters" in params:
        check_parameters(params["defaultParameters"])
        store().update(arn, {"defaultParameters": dict(params["defaultParameters"]),
                             "lastUpdatedDateTime": now()})
    return {"featureTransformationArn": arn}


@operation("DeleteFeatureTransformation")
def delete_feature_transformation(params):
    arn = params["featureTransformationArn"]
    _refuse_builtin(arn, "deleted")
    store().require(arn, TYPE, "feature transformation")
    users = references.users_of(arn)
    if users:
        raise ResourceInUseException(
            f"Feature transformation {arn} is used by recipes {', '.join(users)}; delete them first")
    try:
        store().delete(arn)
    except ConditionFailed:  # deleted in between
        raise ResourceNotFoundException.for_arn(arn) from None
    return {}
