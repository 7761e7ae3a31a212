"""Solution metrics (seed: "Evaluating Solutions", GetMetrics and the Getting Started
`get-metrics` output; the stock GetSolutionMetrics).

Both read what the training workflow recorded on a solution version
(`solution_versions.record_training_result`), computed as ../shared/EVALUATION.md defines.

- GetMetrics (seed): `solutionArn`, optional `solutionVersionArn` ("When the solution ARN is
  specified and the solution version ARN isn't specified, the metrics for the latest solution
  version are returned"). The answer maps the ARN of the model that produced the metrics to
  them, as the seed's example shows (`arn:...:model/awspersonalizehrnnmodel-7923fda9`): ours is
  `model/<recipe name without "aws-" and dashes, prefixed "awspersonalize">model-<version id>`.
  A version that is not ACTIVE has no metrics yet: ResourceNotFoundException (of the two errors
  the seed lists, the one that says so); a version of another solution: InvalidInputException.
- GetSolutionMetrics (stock): `{"solutionVersionArn", "metrics": name -> number}`; a version
  not ACTIVE gives ResourceInUseException, as the stock model lists for a version in training.

What differs between the two (answer shape, metric names, the not-trained error) is a row of
`chalicelib.service.dialects`, which both handlers ask.
"""
import re

from chalicelib import config
from chalicelib.domain import arns, lifecycle
from chalicelib.protocol import errors
from chalicelib.protocol.errors import InvalidInputException, ResourceNotFoundException
from chalicelib.service import dialects
from chalicelib.service.registry import operation
from chalicelib.storage.resources import store

# Metrics a solution can be optimised for (AutoML metricName, HPO objective): EVALUATION.md.
OPTIMIZABLE_METRICS = (
    "precision_at_5", "precision_at_10", "precision_at_25",
    "normalized_discounted_cumulative_gain_at_5", "normalized_discounted_cumulative_gain_at_10",
    "normalized_discounted_cumulative_gain_at_25",
    "mean_reciprocal_rank_at_25", "coverage",
)


def model_arn(version):
    """The seed's model ARN for the model a version trained."""
    recipe_arn = (version.get("autoMLResult") or {}).get("bestRecipeArn") \
        or version.get("trainedRecipeArn") or version.get("recipeArn") or ""
    name = recipe_arn.rsplit("/", 1)[-1].lower()
    if name.startswith("aws-"):
        name = "awspersonalize" + name[len("aws-"):]
    compact = re.sub(r"[^a-z0-9]", "", name)
    version_id = version["solutionVersionArn"].rsplit("/", 1)[-1]
    return f"arn:aws:personalize:{config.region()}:{config.account_id()}:model/{compact}model-{version_id}"


def _version(arn):
    return store().require(arn, arns.SOLUTION_VERSION, "solution version")


def _trained_metrics(operation, version):
    """The metrics a version recorded, named and refused as the operation's dialect says
    (`service.dialects`, rows GetMetrics / GetSolutionMetrics)."""
    arn = version["solutionVersionArn"]
    if version.get("status") != lifecycle.ACTIVE:
        error = getattr(errors, dialects.setting(operation, "not_trained_error", {}))
        raise error(f"Solution version {arn} is {version.get('status')}; metrics exist once it is ACTIVE")
    metrics = dict(version.get("metrics") or {})
    for alias, name in dialects.setting(operation, "metric_aliases", {}).items():
        if name in metrics:
            metrics.setdefault(alias, metrics[name])
    if dialects.setting(operation, "metrics_answer", {}) == "by_model":
        return {"metrics": {model_arn(version): metrics}}
    return {"solutionVersionArn": arn, "metrics": metrics}


@operation("GetMetrics")
def get_metrics(params):
    solution_arn = params["solutionArn"]
    solution = store().require(solution_arn, arns.SOLUTION, "solution")
    version_arn = params.get("solutionVersionArn") or solution.get("latestSolutionVersionArn")
    if not version_arn:
        raise ResourceNotFoundException(f"Solution {solution_arn} has no solution version")
    version = _version(version_arn)
    if version.get("solutionArn") != solution_arn:
        raise InvalidInputException(
            f"Solution version {version_arn} is not a version of solution {solution_arn}")
    return _trained_metrics("GetMetrics", version)


@operation("GetSolutionMetrics")
def get_solution_metrics(params):
    return _trained_metrics("GetSolutionMetrics", _version(params["solutionVersionArn"]))
