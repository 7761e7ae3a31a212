"""One service, two dialects: the 2019 preview's API and today's, told apart per request.

Issue 12 item 1; DESIGN.md "The second wave" ("Two dialects, one service"). A request in the
preview's shape gets the seed's behaviour, a request in today's shape today's (the installed
botocore's stock model and its documentation strings). What tells them apart is what the
request carries, never who sends it: both kinds of client speak the same wire protocol.

`SHAPES` says, per operation, which members only one dialect sends (dotted paths into the
request). A request carrying a preview-only member is the preview's; one carrying only
today-only members, or none, is `Shape.otherwise` (today's, except for the operations only the
preview has). Mixing both kinds in one request is refused, naming one member of each, where the
two would ask for contradicting behaviour (`Shape.exclusive`); elsewhere the preview's member
wins and its consistency with today's is the handler's check.

`RULES` is the table of what differs: one row per (operation, topic) with the value each
dialect gets and a sentence saying what it means. Handlers ask `setting(operation, topic,
params)` (or `dialect_of`) and never test request members themselves to decide a dialect. The
README's "Two dialects" table is `markdown_table()` (a unit test keeps them equal).
No I/O here (it is in `service` because it raises the seed's InvalidInputException).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Tuple

from chalicelib.protocol.errors import InvalidInputException

PREVIEW, TODAY = "preview", "today"
DIALECTS = (PREVIEW, TODAY)

AUTO_TRAINING_SCHEDULE = "rate(7 days)"   # today's AutoTrainingConfig: "The default is every 7 days"


@dataclass(frozen=True)
class Shape:
    operation: str
    preview: Tuple[str, ...] = ()     # members only a preview-era request carries
    today: Tuple[str, ...] = ()       # members only a request of today's API carries
    otherwise: str = TODAY            # the dialect of a request carrying neither
    exclusive: bool = True            # a request with both kinds is refused


@dataclass(frozen=True)
class Rule:
    operation: str
    topic: str
    preview: Any
    today: Any
    preview_says: str
    today_says: str


SHAPES = {s.operation: s for s in (
    # seed CreateSolution: minProvisionedTPS "Required: Yes"; retrainingMode / retrainSchedule
    # are its SolutionConfig members. Today: performAutoTraining, SolutionConfig.autoTrainingConfig.
    Shape("CreateSolution",
          preview=("minProvisionedTPS", "solutionConfig.retrainingMode", "solutionConfig.retrainSchedule"),
          today=("performAutoTraining", "solutionConfig.autoTrainingConfig")),
    # seed UpdateSolution takes solutionConfig; today's solutionUpdateConfig / performAutoTraining
    Shape("UpdateSolution", preview=("solutionConfig",),
          today=("performAutoTraining", "solutionUpdateConfig")),
    # seed CreateCampaign / UpdateCampaign: updateMode; today: campaignConfig.syncWithLatestSolutionVersion.
    # Both may be sent when they agree (a shipped-model client filling both).
    Shape("CreateCampaign", preview=("updateMode",), today=("campaignConfig.syncWithLatestSolutionVersion",),
          exclusive=False),
    Shape("UpdateCampaign", preview=("updateMode",), today=("campaignConfig.syncWithLatestSolutionVersion",),
          exclusive=False),
    # operations that exist in one dialect only: the operation is the shape
    Shape("GetMetrics", otherwise=PREVIEW),
    Shape("GetSolutionMetrics"),
)}

RULES = (
    Rule("CreateSolution", "trains_on_create", True, False,
         "stores the solution and its first version and trains it at once; the solution's status "
         "follows its versions (seed, CreateSolution)",
         "the solution is ACTIVE at once and nothing trains; CreateSolutionVersion trains "
         "(today's CreateSolution)"),
    Rule("CreateSolution", "performHPO_default", True, False,
         "performHPO defaults to true (seed)", "performHPO defaults to false (today's CreateSolution)"),
    Rule("CreateSolution", "automatic_training", "retrainSchedule", "autoTrainingConfig",
         "solutionConfig.retrainingMode / retrainSchedule: MANUAL with a cron or rate schedule, AUTO "
         "(the default) every 7 days",
         "performAutoTraining (default true) with solutionConfig.autoTrainingConfig."
         "schedulingExpression rate(N days) (default rate(7 days)); each run trains a FULL version "
         "with trainingType AUTOMATIC"),
    Rule("UpdateSolution", "automatic_training", "retrainSchedule", "autoTrainingConfig",
         "replaces the solutionConfig members it names; an empty retrainSchedule stops scheduled "
         "training",
         "performAutoTraining and solutionUpdateConfig.autoTrainingConfig change the automatic "
         "training; latestSolutionUpdate records the update and its status"),
    Rule("CreateCampaign", "auto_update", "updateMode", "syncWithLatestSolutionVersion",
         "updateMode AUTO deploys every new ACTIVE version, MANUAL waits for UpdateCampaign",
         "campaignConfig.syncWithLatestSolutionVersion true is AUTO, false (the default) MANUAL"),
    Rule("GetMetrics", "metrics_answer", "by_model", "by_version",
         "metrics: {model ARN: {metric: value}} for the solution's latest or the named version",
         "{solutionVersionArn, metrics: {metric: value}} (GetSolutionMetrics)"),
    Rule("GetMetrics", "metric_aliases", {"mean_reciprocal_rank": "mean_reciprocal_rank_at_25"}, {},
         "EVALUATION.md's names plus the seed example's mean_reciprocal_rank",
         "EVALUATION.md's names (coverage, mean_reciprocal_rank_at_25, "
         "normalized_discounted_cumulative_gain_at_5/10/25, precision_at_5/10/25)"),
    Rule("GetMetrics", "not_trained_error", "ResourceNotFoundException", "ResourceInUseException",
         "a version not ACTIVE has no metrics: ResourceNotFoundException (of the seed's two errors)",
         "a version still training: ResourceInUseException (today's errors)"),
)
_RULES = {(r.operation, r.topic): r for r in RULES}
# GetSolutionMetrics is GetMetrics' today's half: the same rows answer it.
_SAME_ROWS = {"GetSolutionMetrics": "GetMetrics", "UpdateCampaign": "CreateCampaign"}


def _given(params, path):
    value = params
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return False
        value = value[part]
    return value is not None


def dialect_of(operation, params):
    """PREVIEW or TODAY for a request of `operation` with `params` (see the module docstring).
    InvalidInputException when an exclusive shape gets members of both dialects."""
    shape = SHAPES.get(operation)
    if shape is None:
        return TODAY
    preview = [m for m in shape.preview if _given(params, m)]
    today = [m for m in shape.today if _given(params, m)]
    if preview and today and shape.exclusive:
        raise InvalidInputException(
            f"{today[0]}: today's member cannot be combined with the 2019 preview's {preview[0]} "
            f"in one {operation} request; send one API's members")
    if preview:
        return PREVIEW
    return TODAY if today else shape.otherwise


def setting(operation, topic, params):
    """The value of row (operation, topic) for the dialect of this request."""
    row = _RULES[(_SAME_ROWS.get(operation, operation), topic)]
    return row.preview if dialect_of(operation, params) == PREVIEW else row.today


def value(operation, topic, dialect):
    """The value of row (operation, topic) for a dialect already decided (e.g. stored)."""
    row = _RULES[(_SAME_ROWS.get(operation, operation), topic)]
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}")
    return row.preview if dialect == PREVIEW else row.today


def _shape_cells(operations):
    """README cells: what a preview-shaped and a today-shaped request of these operations carry."""
    preview, today = [], []
    for op in operations:
        shape = SHAPES.get(op)
        if shape is None:
            continue
        if not shape.preview and not shape.today:      # the operation is the shape
            (preview if shape.otherwise == PREVIEW else today).append(f"{op} itself")
            continue
        preview += [f"`{m}`" for m in shape.preview if f"`{m}`" not in preview]
        today += [f"`{m}`" for m in shape.today if f"`{m}`" not in today]
        if shape.otherwise == TODAY and "or neither" not in today:
            today.append("or neither")
    return ", ".join(preview) or "-", ", ".join(today) or "-"


def table_rows():
    """(operations, preview's shape, today's shape, preview behaviour, today's behaviour)."""
    out = []
    for r in RULES:
        ops = [r.operation] + [o for o, same in _SAME_ROWS.items() if same == r.operation]
        out.append((" / ".join(ops), *_shape_cells(ops), r.preview_says, r.today_says))
    return out


def markdown_table():
    lines = ["| Operation | Preview's request carries | Today's request carries | Preview (seed) | Today |",
             "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows()]
    return "\n".join(lines)
