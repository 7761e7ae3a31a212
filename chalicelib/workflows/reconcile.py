"""The reconciler (issue 16, item 2): nothing stays in flight without a workflow running it.

A resource in a *_PENDING / *_IN_PROGRESS / *_STOPPING status is moved by its workflow; when
that execution is gone (the stack was stopped during a training, a worker was killed, the
execution was aborted or timed out before its Catch ran), nothing else would move it, and
the API refuses to delete or retry it. `reconcile()` - the `maintenance.reconcile` step of
the scheduled maintenance workflow (template.yaml), also started by scripts/stack.py after
every deploy - finds every such resource whose execution is not RUNNING and moves it to its
failed status (STOPPED for a training being stopped) with a failureReason saying it was
interrupted, through the family's own status function, so the locks it held (the dataset's
import lock, the solution's training lock) are released and the parent follows (an import
job its first run, a solution its first version).

Liveness: the record's `executionArn` (stored when its workflow started), checked with
DescribeExecution; a record without one (just created, or started by a schedule) is alive
while a RUNNING execution of its workflow names it or its parent in its input, and dead once
it has not changed for the grace period (`config.reconcile_grace_seconds`).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, FrozenSet, Optional

from chalicelib import config
from chalicelib.domain import arns, lifecycle
from chalicelib.storage.resources import store
from chalicelib.workflows.tasks import task

log = logging.getLogger(__name__)


def _fail_run(arn, reason):
    from chalicelib.service import dataset_import_jobs
    dataset_import_jobs.fail_run(arn, reason)       # releases the dataset's import lock


def _fail_version(arn, reason):
    from chalicelib.service import solution_versions
    solution_versions.mark_solution_version(arn, lifecycle.CREATE_FAILED, failure_reason=reason)


def _stop_version(arn, reason):
    from chalicelib.service import solution_versions
    solution_versions.finish_stopping(arn)          # releases the solution's training lock


def _fail_campaign(arn, reason):
    from chalicelib.service import campaigns
    campaigns.mark_campaign(arn, lifecycle.CREATE_FAILED, failure_reason=reason)


def _transition(target):
    def move(arn, reason):
        store().transition(arn, target, failure_reason=reason)
    return move


@dataclass(frozen=True)
class Family:
    resource_type: str
    workflow: str
    noun: str                         # "The <noun> was interrupted ..."
    retry: str                        # what the user does next
    in_flight: FrozenSet[str]
    fail: Callable[[str, str], None]
    stopping: FrozenSet[str] = frozenset()
    stop: Optional[Callable[[str, str], None]] = None
    parent_member: Optional[str] = None  # the member a scheduled execution's input names


_JOB = lifecycle.IN_FLIGHT
FAMILIES = (
    Family(arns.DATASET_IMPORT_JOB_RUN, "import", "import", "run it again with UpdateDatasetImportJob",
           _JOB, _fail_run, parent_member="datasetImportJobArn"),
    Family(arns.SOLUTION_VERSION, "training", "training", "create a new version",
           _JOB, _fail_version, frozenset({lifecycle.CREATE_STOPPING}), _stop_version,
           parent_member="solutionArn"),
    Family(arns.CAMPAIGN, "campaign", "deployment", "update the campaign again",
           _JOB, _fail_campaign),
    Family(arns.BATCH_INFERENCE_JOB, "batch-inference", "batch inference job", "create a new job",
           _JOB, _transition(lifecycle.CREATE_FAILED)),
    Family(arns.BATCH_SEGMENT_JOB, "batch-inference", "batch segment job", "create a new job",
           _JOB, _transition(lifecycle.CREATE_FAILED)),
    Family(arns.DATASET_EXPORT_JOB, "dataset-export", "export", "create a new export job",
           _JOB, _transition(lifecycle.CREATE_FAILED)),
    Family(arns.FEATURE_EXPORT_JOB, "feature-export", "export", "create a new export job",
           _JOB, _transition(lifecycle.CREATE_FAILED)),
    Family(arns.DATA_DELETION_JOB, "data-deletion", "deletion", "create a new deletion job",
           frozenset({lifecycle.PENDING, lifecycle.IN_PROGRESS}), _transition(lifecycle.FAILED)),
)


def _status(record, family):
    """The status that decides: a campaign's update in flight counts as the campaign's."""
    status = record.get("status")
    update = record.get("latestCampaignUpdate") or {}
    if family.resource_type == arns.CAMPAIGN and status not in family.in_flight \
            and update.get("status") in family.in_flight:
        return update["status"]
    return status


def as_datetime(value):
    """A record's timestamp member (datetime or epoch seconds) as an aware datetime, else None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    return None


class _Executions:
    """DescribeExecution / ListExecutions, each answer asked once per pass."""

    def __init__(self):
        from chalicelib.workflows import starter
        self.sfn = starter._stepfunctions()
        self._running = {}

    def ended(self, execution_arn):
        """None while RUNNING (or unknown: an error is not a verdict), else how it ended."""
        try:
            status = self.sfn.describe_execution(executionArn=execution_arn)["status"]
        except KeyError:   # the in-process Step Functions of the tests forgets on reset
            return "gone"
        except Exception as e:  # noqa: BLE001 - ExecutionDoesNotExist or a transient error
            code = getattr(e, "response", {}).get("Error", {}).get("Code")
            if code == "ExecutionDoesNotExist":
                return "gone"
            log.warning("DescribeExecution %s: %s", execution_arn, e)
            return None
        return None if status == "RUNNING" else status

    def running_inputs(self, workflow):
        """Inputs of the workflow's RUNNING executions, or None when they cannot be listed."""
        if workflow not in self._running:
            machine = config.state_machine_arn(workflow)
            try:
                found = []
                for page in self.sfn.get_paginator("list_executions").paginate(
                        stateMachineArn=machine, statusFilter="RUNNING"):
                    for e in page.get("executions", []):
                        found.append(self.sfn.describe_execution(
                            executionArn=e["executionArn"]).get("input") or "")
            except Exception as e:  # noqa: BLE001 - no listing: the grace period decides
                log.info("ListExecutions %s: %s", workflow, e)
                found = None
            self._running[workflow] = found
        return self._running[workflow]


def _verdict(record, family, executions, cutoff):
    """Why the record is dead ("ended ABORTED", ...), or None while it may be alive."""
    execution = record.get("executionArn")
    if execution:
        ended = executions.ended(execution)
        if ended is None:
            return None
        return (f"its workflow execution {execution} ended {ended}" if ended != "gone"
                else f"its workflow execution {execution} no longer exists")
    inputs = executions.running_inputs(family.workflow)
    names = [record["arn"]] + ([record[family.parent_member]]
                               if family.parent_member and record.get(family.parent_member) else [])
    if inputs and any(json.dumps(n)[1:-1] in text for n in names for text in inputs):
        return None
    changed = as_datetime(record.get("lastUpdatedDateTime") or record.get("creationDateTime"))
    if changed is not None and changed > cutoff:
        return None
    return "no workflow execution is running it"


def _import_job_follows(run):
    from chalicelib.service import dataset_import_jobs
    dataset_import_jobs.job_follows_run(run)


def _solution_follows(version):
    from chalicelib.service import solution_versions
    solution_versions.solution_follows_version(version)


# Parents whose status (and lock) follows their newest child in a write of its own, after the
# child's: a kill between the two writes leaves the parent in flight with its newest child
# ended, which no workflow would ever move. (parent type, child type, follow)
FOLLOWERS = ((arns.DATASET_IMPORT_JOB, arns.DATASET_IMPORT_JOB_RUN, _import_job_follows),
             (arns.SOLUTION, arns.SOLUTION_VERSION, _solution_follows))


def _resync_parents():
    """Each in-flight parent of FOLLOWERS whose newest child has ended follows that child;
    returns [{"arn", "from", "reason"}] of the parents moved."""
    moved = []
    for parent_type, child_type, follow in FOLLOWERS:
        for parent in list(store().iterate(parent_type)):
            if parent.get("status") not in lifecycle.IN_FLIGHT:
                continue
            newest = next(iter(store().iterate(child_type, parent["arn"])), None)
            if newest is None or newest.get("status") not in lifecycle.TERMINAL:
                continue   # its child's workflow (or the pass above) moves it
            try:
                follow(newest)
            except Exception:  # noqa: BLE001 - one stuck record must not stop the others
                log.exception("could not bring %s in step with %s", parent["arn"], newest["arn"])
                continue
            log.warning("brought %s (%s) in step with %s (%s)", parent["arn"], parent.get("status"),
                        newest["arn"], newest.get("status"))
            moved.append({"arn": parent["arn"], "from": parent.get("status"),
                          "reason": f"follows {newest['arn']} ({newest.get('status')})"})
    return moved


def reconcile(grace_seconds=None, now=None):
    """Move every in-flight resource without a live execution to its failed (or stopped)
    status; returns [{"arn", "from", "reason"}] of what it moved."""
    grace = config.reconcile_grace_seconds() if grace_seconds is None else grace_seconds
    cutoff = (now or datetime.now(timezone.utc)) - timedelta(seconds=grace)
    executions, moved = _Executions(), []
    for family in FAMILIES:
        for record in list(store().iterate(family.resource_type)):
            status = _status(record, family)
            if status not in family.in_flight | family.stopping:
                continue
            why = _verdict(record, family, executions, cutoff)
            if why is None:
                continue
            reason = (f"The {family.noun} was interrupted ({why}); {family.retry}")
            move = family.stop if status in family.stopping else family.fail
            try:
                move(record["arn"], reason)
            except lifecycle.TransitionRefused:
                continue   # it moved on meanwhile: its workflow was alive after all
            except Exception:  # noqa: BLE001 - one stuck record must not stop the others
                log.exception("could not reconcile %s", record["arn"])
                continue
            log.warning("reconciled %s (%s): %s", record["arn"], status, reason)
            moved.append({"arn": record["arn"], "from": status, "reason": reason})
    return moved + _resync_parents()


@task("maintenance.reconcile")
def reconcile_task(state):
    moved = reconcile()
    return {"reconciled": len(moved), "arns": [m["arn"] for m in moved[:20]]}
