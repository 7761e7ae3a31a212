"""The data deletion workflow's steps (`infrastructure/statemachines/data-deletion.asl.json`).

Today's API: CreateDataDeletionJob (PENDING > IN_PROGRESS > COMPLETED -or- FAILED,
`numDeleted`, `failureReason`). What is removed, and where: `chalicelib.datasets.deletion`.

Execution input: `{"dataDeletionJobArn"}` (from `service.data_deletion_jobs`). Steps:

1. `data-deletion.begin`    job -> IN_PROGRESS (a job that is gone or ended is skipped).
2. `data-deletion.delete`   read the listed user ids; count those with data in the group;
                            write and publish Interactions / Users versions without them;
                            delete their PutUsers records and recorded events. A list that
                            cannot be read is an *answer* (`failureReason`, not retried); a
                            dataset that changed meanwhile raises DataChanged, retried.
3. `data-deletion.complete` job -> COMPLETED with numDeleted.
4. `data-deletion.fail`     (Choice on a failureReason, or Catch) job -> FAILED with the reason.

The delete step is idempotent: users already gone leave nothing to write, and the count is
taken before anything is deleted and kept in the job record for a retried attempt.
"""
from __future__ import annotations

import logging

from chalicelib.datasets import current, deletion, records, versions
from chalicelib.datasets.importer import ImportFailed
from chalicelib.datasets.schema import INTERACTIONS, USERS, SchemaError
from chalicelib.domain import arns, lifecycle, schemas
from chalicelib.protocol.errors import ResourceNotFoundException
from chalicelib.runtime import recorded
from chalicelib.storage import events as event_store
from chalicelib.workflows import failures
from chalicelib.workflows.tasks import task

log = logging.getLogger(__name__)


def _jobs():
    from chalicelib.service import data_deletion_jobs
    return data_deletion_jobs


@task("data-deletion.begin")
def begin(state):
    arn = state["dataDeletionJobArn"]
    try:
        _jobs().mark_job(arn, lifecycle.IN_PROGRESS)
    except ResourceNotFoundException:
        return {"skipped": f"data deletion job {arn} no longer exists"}
    except lifecycle.TransitionRefused as e:
        return {"skipped": str(e)}
    job = _jobs().job(arn)
    return {"datasetGroupArn": job["datasetGroupArn"],
            "dataLocation": job["dataSource"]["dataLocation"]}


def _found(group, users):
    """The listed users with any trace in the group (counted before anything is deleted)."""
    found = set()
    for kind in (INTERACTIONS, USERS):
        found |= deletion.users_in(current.load(group, kind), users)
    recorded = set(event_store.dataset_events_users(
        arns.dataset(group, schemas.EVENT_INTERACTIONS))) if users else set()
    return found | (users & recorded)


@task("data-deletion.delete")
def delete(state):
    job_state, arn = state["job"], state["dataDeletionJobArn"]
    group = job_state["datasetGroupArn"]
    try:
        users = deletion.read_user_ids(job_state["dataLocation"])
    except ImportFailed as e:
        return {"failureReason": f"The list of users cannot be read: {e}"}
    record = _jobs().job(arn)
    counted = record.get("usersFound")
    if counted is None:  # a retried attempt keeps the first attempt's count
        counted = len(_found(group, users))
        _jobs().remember(arn, usersFound=counted)
    removed = {}
    for kind in (INTERACTIONS, USERS):
        dataset = records.dataset_of_group(group, kind)
        version = records.current_version(dataset)
        if not version:
            continue
        dataset_arn = dataset.get("datasetArn") or dataset["arn"]
        try:
            schema = records.dataset_schema_of(dataset)
            new_version, rows = deletion.without_users(
                dataset_arn, schema, versions.load(dataset_arn, version), users)
        except (SchemaError, ValueError) as e:
            return {"failureReason": f"Dataset {dataset_arn} cannot be rewritten: {e}"}
        if new_version:
            try:
                _jobs().publish_version(dataset_arn, new_version, version, arn)
            except Exception:
                versions.delete_version(dataset_arn, new_version)
                raise
            # the superseded version is the garbage collector's (workflows/collect.py)
        removed[kind] = rows
    users_dataset = arns.dataset(group, USERS)
    removed["putUsers"] = event_store.delete_records(users_dataset, users)
    removed["events"] = recorded.delete_user_events(group, users)
    return {"numDeleted": counted, "removed": removed}


@task("data-deletion.complete")
def complete(state):
    done = state["delete"]
    record = _jobs().mark_job(state["dataDeletionJobArn"], lifecycle.COMPLETED,
                              numDeleted=done["numDeleted"], removedRecords=done["removed"])
    return {"status": record.get("status")}


def failure_reason(state) -> str:
    return failures.failure_reason(
        state, answered_by=("delete",), activity="deleting users",
        timeout_reason="The deletion did not finish in time (a step timed out)")


@task("data-deletion.fail")
def fail(state):
    reason = failure_reason(state)
    arn = state["dataDeletionJobArn"]
    try:
        _jobs().mark_job(arn, lifecycle.FAILED, failure_reason=reason[:failures.REASON_LIMIT])
    except ResourceNotFoundException:
        log.warning("data deletion job %s is gone; it failed: %s", arn, reason)
    return {"failureReason": reason}
