"""What every job family shares (feature export, dataset export, data deletion, ...):
the job record is stored under a parent that must be ACTIVE (filters are stored the same
way), then its workflow starts;
a workflow that cannot start fails the job with the reason, so no job waits in
CREATE PENDING for a run that never comes (seed, "Creating a Solution": a failed job
"says why in failureReason").

Sits in `service/` below the families that use it; imports only `domain`, `storage`
and `workflows.starter`.
"""
import logging

from chalicelib.domain import lifecycle
from chalicelib.protocol.errors import InvalidInputException, ResourceAlreadyExistsException
from chalicelib.storage import objects
from chalicelib.storage.resources import ConditionFailed, TransactionFailed, store

log = logging.getLogger(__name__)


def require_s3_location(location, label, shape="s3://bucket/key"):
    """`location` if it is an `s3://bucket/...` URI naming a bucket; otherwise
    InvalidInputException "<label> '<location>' must be an S3 location, <shape>"."""
    if not location.startswith("s3://") or not objects.split(location)[0]:
        raise InvalidInputException(f"{label} {location!r} must be an S3 location, {shape}")
    return location


def put_under_active_parent(job, job_type, parent_arn, label, parent_refused):
    """Store `job` (a new record) as a child of `parent_arn` in one transaction with the
    check that the parent is ACTIVE. A duplicate name -> ResourceAlreadyExistsException
    naming `label`; a parent no longer ACTIVE -> `parent_refused()` raises the family's error."""
    s = store()
    try:
        s.transact([s.op_put_new(job, job_type, parent_arn=parent_arn),
                    s.op_check(parent_arn, expect_status=[lifecycle.ACTIVE])])
    except TransactionFailed as e:
        if e.failed(0):
            raise ResourceAlreadyExistsException(f"{label} {job['arn']} already exists") from None
        parent_refused()
        raise


def start(job_arn, workflow, payload, failed_status, what, execution_name=None):
    """Start `workflow` for the job (`execution_name`: a readable prefix of the execution's
    name) and remember its execution ARN; when it cannot start, move the job to
    `failed_status` with "The <what> could not be started: <why>"."""
    from chalicelib.workflows import starter  # looked up per call: tests replace start_workflow
    named = {"execution_name": execution_name} if execution_name else {}
    try:
        execution = starter.start_workflow(workflow, payload, **named)
    except Exception as e:
        log.exception("could not start %s %s", what, job_arn)
        store().transition(job_arn, failed_status,
                           failure_reason=f"The {what} could not be started: {e}")
        return None
    try:
        store().update(job_arn, {"executionArn": execution})
    except ConditionFailed:
        pass  # the job moved on (or was deleted) meanwhile
    return execution
