"""The failureReason a workflow records when it ends in its Catch state.

Every workflow's Catch puts the Step Functions error at `$.error`
(`{"Error": name, "Cause": text}`); a Lambda task's Cause is its error
document (`{"errorMessage", "errorType", ...}`), a SageMaker `.sync` task's
the DescribeTrainingJob answer. Steps that decide a job cannot go on answer
with their own `failureReason` instead of raising, so they are not retried.
"""
import json

REASON_LIMIT = 1000


def failure_reason(state, *, answered_by, activity, timeout_reason):
    """The reason to record: the first answer in `answered_by` steps that carries one,
    else a readable form of the caught error. `activity` is what the workflow was
    doing ("importing", "training", ...)."""
    for step in answered_by:
        reason = (state.get(step) or {}).get("failureReason")
        if reason:
            return reason
    error = state.get("error") or {}
    name, cause = error.get("Error") or "Error", error.get("Cause") or ""
    if name == "States.Timeout":
        return timeout_reason
    try:
        document = json.loads(cause)
    except (TypeError, ValueError):
        document = None
    if isinstance(document, dict) and document.get("FailureReason"):
        # a failed createTrainingJob.sync: its FailureReason carries the failure file's text
        return str(document["FailureReason"])[:REASON_LIMIT]
    message = (document.get("errorMessage") or cause) if isinstance(document, dict) else cause
    return f"Internal error while {activity} ({name}): {message}".rstrip(": ")[:REASON_LIMIT]
