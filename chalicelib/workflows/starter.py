"""Starting workflow executions (imports, training, campaign deployment,
feature export, ...): `start_workflow(name, payload)` returns the execution ARN.

Step Functions `StartExecution` on `config.state_machine_arn(name)` (template.yaml
sets `<NAME>_STATE_MACHINE_ARN` for each machine), through the process-wide
client of `storage.clients`. The fast tests hand this
module an in-process Step Functions (tests/support/stepfunctions.py) that runs
the same ASL files.
"""
import json
import re
import uuid

from chalicelib import config
from chalicelib.storage import clients

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
MAX_EXECUTION_NAME = 80


def _stepfunctions():
    """The process-wide client; endpoint and credentials from the environment."""
    return clients.client("stepfunctions")


def make_execution_name(prefix=None):
    """A valid name, unique per state machine: `<prefix>-<32 hex>`.

    Step Functions allows 1-80 characters without whitespace, brackets,
    wildcards, control characters or `"#%\\^|~`$&,;:/`; we keep to
    `[A-Za-z0-9_-]`, which CloudWatch logging also accepts. The random suffix
    makes every start unique (an import job runs many times), while a retried
    HTTP call of the same start reuses the name and so stays idempotent.
    """
    suffix = uuid.uuid4().hex
    clean = _NAME_UNSAFE.sub("-", prefix or "").strip("-")
    clean = clean[:MAX_EXECUTION_NAME - len(suffix) - 1].rstrip("-")
    return f"{clean}-{suffix}" if clean else suffix


def start_workflow(name: str, payload: dict, execution_name: str | None = None) -> str:
    """Start workflow `name` ("import", "training", "campaign", "feature-export")
    with `payload` as its input; returns the execution ARN. `execution_name`
    is a readable prefix of the (always unique) execution name."""
    text = json.dumps(payload)  # Step Functions takes JSON only
    arn = config.state_machine_arn(name)
    if not arn:
        raise RuntimeError(f"no state machine ARN for workflow {name!r}: set "
                           f"{name.upper().replace('-', '_')}_STATE_MACHINE_ARN")
    response = _stepfunctions().start_execution(
        stateMachineArn=arn, name=make_execution_name(execution_name), input=text)
    return response["executionArn"]
