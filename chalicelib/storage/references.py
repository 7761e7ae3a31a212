"""What uses what: every reference between resources, in one table.

A family that deletes a resource asks `users_of(arn)` which records still
point at it, instead of importing the family that owns those records (seed:
each Delete* operation lists ResourceInUseException for a resource that is
still used). A new resource that points at another one adds a row here, and
every family's delete guard sees it.

Sits in `storage/`: it reads the resources table through `resources.store()`
and imports nothing from `service/`.
"""
from dataclasses import dataclass

from chalicelib.domain import arns
from chalicelib.storage.resources import store


@dataclass(frozen=True)
class Reference:
    """Records of type `user` point at a resource of type `target` through `members`
    (dotted paths; a list value refers to each of its items). `by_parent`: the user
    records are stored as children of the target (a cheaper query than a scan)."""
    user: str
    members: tuple
    target: str
    by_parent: bool = False


REFERENCES = (
    Reference(arns.DATASET, ("schemaArn",), arns.SCHEMA),
    Reference(arns.RECIPE, ("algorithmArn",), arns.ALGORITHM),
    Reference(arns.RECIPE, ("featureTransformationArn",), arns.FEATURE_TRANSFORMATION),
    Reference(arns.SOLUTION, ("recipeArn", "solutionConfig.autoMLConfig.recipeList"), arns.RECIPE),
    Reference(arns.CAMPAIGN, ("solutionArn",), arns.SOLUTION, by_parent=True),
    Reference(arns.FILTER, ("datasetGroupArn",), arns.DATASET_GROUP, by_parent=True),
    Reference(arns.RECOMMENDER, ("datasetGroupArn",), arns.DATASET_GROUP, by_parent=True),
)


def _values(record, member):
    value = record
    for part in member.split("."):
        value = (value or {}).get(part) if isinstance(value, dict) else None
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _target_type(arn):
    parsed = arns.parse(arn)
    return parsed.type if parsed else None


def users_of(arn, user_types=None):
    """ARNs of the records that refer to `arn` (optionally only of `user_types`), in table order."""
    kind = _target_type(arn)
    found = []
    for ref in REFERENCES:
        if ref.target != kind or (user_types and ref.user not in user_types):
            continue
        records = store().iterate(ref.user, arn if ref.by_parent else None)
        for record in records:
            refers = ref.by_parent or any(arn in _values(record, m) for m in ref.members)
            if refers and record["arn"] not in found:
                found.append(record["arn"])
    return found
